//! The egress policy file (TOML): what may leave this endpoint.

use std::collections::BTreeSet;
use std::fmt;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PolicyError;

/// Default largest sample whose content may leave (10 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;

/// Largest policy file accepted (64 KiB).
pub const MAX_POLICY_SIZE: usize = 64 << 10;

/// The default policy: metadata only, paths redacted, consent asked.
pub const DEFAULT_POLICY: &str = r#"# Vitrine egress policy (docs/egress.md).
# Default: only metadata leaves this machine (file hash, size, detected type,
# detection names, rule bundle version); paths have the home directory and
# user name redacted; no file content ever leaves.

# Named in every receipt; a token (no spaces).
id = "default-metadata-only"

# How a file's path may leave: "none", "redacted" (home directory and user
# name replaced) or "full".
paths = "redacted"

[content]
# File kinds whose content may leave, detected by content, never by name:
# "elf", "pe", "macho", "script" (#!), and containers "zip", "7z", "tar",
# "gzip", "bzip2", "xz" (an archive leaves only if it holds no document and
# could be fully inspected). Documents never leave.
kinds = []
# Largest sample in bytes.
max-size = 10485760
# "ask" (prompt on a terminal, refuse otherwise), "auto" or "never".
consent = "ask"
# Globs of paths whose content never leaves.
exclude = []
"#;

/// How much of a path leaves with the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PathMode {
    /// No path at all.
    None,
    /// Home directory and user name replaced (`~`, `<user>`).
    #[default]
    Redacted,
    /// The path as it is.
    Full,
}

/// Whether the owner is asked before content leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Consent {
    /// Ask on a terminal; with no terminal, refuse.
    #[default]
    Ask,
    /// Send allowed content without asking.
    Auto,
    /// Never send content, whatever `kinds` says.
    Never,
}

impl Consent {
    /// The policy file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Ask => "ask",
            Consent::Auto => "auto",
            Consent::Never => "never",
        }
    }
}

/// A file kind whose content an owner may allow to leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SendableKind {
    /// ELF executable or library.
    Elf,
    /// Windows PE.
    Pe,
    /// Mach-O.
    MachO,
    /// A script starting with `#!`.
    Script,
    /// Zip archive (holding no document).
    Zip,
    /// 7-Zip archive (holding no document).
    SevenZ,
    /// Tar archive (holding no document).
    Tar,
    /// Gzip stream (holding no document).
    Gzip,
    /// Bzip2 stream (holding no document).
    Bzip2,
    /// Xz stream (holding no document).
    Xz,
}

impl SendableKind {
    /// Every kind, in policy-file spelling.
    pub const ALL: &'static [(&'static str, SendableKind)] = &[
        ("elf", SendableKind::Elf),
        ("pe", SendableKind::Pe),
        ("macho", SendableKind::MachO),
        ("script", SendableKind::Script),
        ("zip", SendableKind::Zip),
        ("7z", SendableKind::SevenZ),
        ("tar", SendableKind::Tar),
        ("gzip", SendableKind::Gzip),
        ("bzip2", SendableKind::Bzip2),
        ("xz", SendableKind::Xz),
    ];

    /// The policy file's spelling.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("invariant: every kind is in ALL")
    }

    /// Parses the policy file's spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// Whether this is a container that must be inspected before it leaves.
    pub fn is_container(self) -> bool {
        !matches!(
            self,
            SendableKind::Elf | SendableKind::Pe | SendableKind::MachO | SendableKind::Script
        )
    }
}

/// Names people might write for documents; each is refused with its own
/// error, because documents never leave.
const DOCUMENT_NAMES: &[&str] = &[
    "document",
    "documents",
    "ooxml",
    "opendocument",
    "odt",
    "docx",
    "xlsx",
    "pptx",
    "office",
    "ole",
    "doc",
    "xls",
    "ppt",
    "msi",
    "pdf",
    "rtf",
    "mail",
    "eml",
    "email",
    "image",
    "images",
    "text",
    "txt",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    id: String,
    #[serde(default)]
    paths: PathMode,
    #[serde(default)]
    content: RawContent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawContent {
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default = "default_max_size")]
    max_size: u64,
    #[serde(default)]
    consent: Consent,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Default for RawContent {
    fn default() -> Self {
        RawContent {
            kinds: Vec::new(),
            max_size: DEFAULT_MAX_SIZE,
            consent: Consent::Ask,
            exclude: Vec::new(),
        }
    }
}

fn default_max_size() -> u64 {
    DEFAULT_MAX_SIZE
}

/// A validated egress policy, with the SHA-256 of the bytes it came from
/// (named in every receipt).
#[derive(Clone)]
pub struct Policy {
    id: String,
    sha256: [u8; 32],
    paths: PathMode,
    kinds: BTreeSet<SendableKind>,
    max_size: u64,
    consent: Consent,
    exclude: Vec<String>,
    exclude_set: GlobSet,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("id", &self.id)
            .field("sha256", &hex::encode(self.sha256))
            .field("paths", &self.paths)
            .field("kinds", &self.kinds)
            .field("max_size", &self.max_size)
            .field("consent", &self.consent)
            .field("exclude", &self.exclude)
            .finish()
    }
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256
    }
}

/// The policy as shown by `vitrine egress policy show --format json`.
#[derive(Debug, Serialize)]
pub struct PolicySummary<'a> {
    /// The policy's identifier.
    pub id: &'a str,
    /// SHA-256 of the policy file, hex.
    pub sha256: String,
    /// How paths leave.
    pub paths: PathMode,
    /// Kinds whose content may leave.
    pub content_kinds: Vec<&'static str>,
    /// Largest sample in bytes.
    pub max_size: u64,
    /// Consent mode.
    pub consent: Consent,
    /// Excluded path globs.
    pub exclude: &'a [String],
}

impl Default for Policy {
    fn default() -> Self {
        Policy::parse(DEFAULT_POLICY.as_bytes()).expect("invariant: the default policy is valid")
    }
}

impl Policy {
    /// Parses and validates a policy file. Unknown keys, wrong types,
    /// unknown or document kinds, bad globs and a zero size limit are
    /// errors naming the field.
    pub fn parse(data: &[u8]) -> Result<Self, PolicyError> {
        if data.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge {
                size: data.len(),
                limit: MAX_POLICY_SIZE,
            });
        }
        let text = std::str::from_utf8(data).map_err(|_| PolicyError::NotUtf8)?;
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Toml {
            message: e.message().to_owned(),
            span: e.span().map(|s| line_col(text, s.start)),
        })?;
        let invalid = |field: &'static str, reason: String| PolicyError::Invalid { field, reason };
        if vitrine_statements::Token::new(raw.id.clone()).is_err() {
            return Err(invalid(
                "id",
                "must be 1-256 printable ASCII characters without spaces".into(),
            ));
        }
        let mut kinds = BTreeSet::new();
        for k in &raw.content.kinds {
            let lower = k.to_ascii_lowercase();
            if DOCUMENT_NAMES.contains(&lower.as_str()) {
                return Err(invalid(
                    "content.kinds",
                    format!("{k:?} is a document kind; documents never leave"),
                ));
            }
            let kind = SendableKind::from_name(k).ok_or_else(|| {
                invalid(
                    "content.kinds",
                    format!(
                        "unknown kind {k:?}; expected one of {}",
                        SendableKind::ALL
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            if !kinds.insert(kind) {
                return Err(invalid("content.kinds", format!("{k:?} is listed twice")));
            }
        }
        if raw.content.max_size == 0 {
            return Err(invalid("content.max-size", "must be greater than 0".into()));
        }
        let mut builder = GlobSetBuilder::new();
        for g in &raw.content.exclude {
            let glob = Glob::new(g)
                .map_err(|e| invalid("content.exclude", format!("bad glob {g:?}: {e}")))?;
            builder.add(glob);
        }
        let exclude_set = builder
            .build()
            .map_err(|e| invalid("content.exclude", e.to_string()))?;
        Ok(Policy {
            id: raw.id,
            sha256: Sha256::digest(data).into(),
            paths: raw.paths,
            kinds,
            max_size: raw.content.max_size,
            consent: raw.content.consent,
            exclude: raw.content.exclude,
            exclude_set,
        })
    }

    /// The policy's identifier (a statement token).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the policy file's bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// How paths leave.
    pub fn paths(&self) -> PathMode {
        self.paths
    }

    /// Kinds whose content may leave.
    pub fn kinds(&self) -> &BTreeSet<SendableKind> {
        &self.kinds
    }

    /// Largest sample whose content may leave.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Consent mode.
    pub fn consent(&self) -> Consent {
        self.consent
    }

    /// The first exclude glob `path` matches, if any.
    pub fn excluded_by(&self, path: &std::path::Path) -> Option<&str> {
        self.exclude_set
            .matches(path)
            .first()
            .map(|&i| self.exclude[i].as_str())
    }

    /// A serializable summary.
    pub fn summary(&self) -> PolicySummary<'_> {
        PolicySummary {
            id: &self.id,
            sha256: hex::encode(self.sha256),
            paths: self.paths,
            content_kinds: self.kinds.iter().map(|k| k.name()).collect(),
            max_size: self.max_size,
            consent: self.consent,
            exclude: &self.exclude,
        }
    }
}

/// 1-based (line, column) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_metadata_only() {
        let p = Policy::default();
        assert_eq!(p.id(), "default-metadata-only");
        assert!(p.kinds().is_empty());
        assert_eq!(p.paths(), PathMode::Redacted);
        assert_eq!(p.consent(), Consent::Ask);
        assert_eq!(p.sha256(), <[u8; 32]>::from(Sha256::digest(DEFAULT_POLICY)));
    }

    #[test]
    fn minimal_policy_gets_safe_defaults() {
        let p = Policy::parse(b"id = \"x\"\n").unwrap();
        assert!(p.kinds().is_empty());
        assert_eq!(p.paths(), PathMode::Redacted);
        assert_eq!(p.max_size(), DEFAULT_MAX_SIZE);
    }

    #[test]
    fn full_policy_parses() {
        let p = Policy::parse(
            br#"id = "exec-only"
paths = "none"
[content]
kinds = ["elf", "pe", "script", "zip"]
max-size = 1000
consent = "auto"
exclude = ["/srv/secret/**"]
"#,
        )
        .unwrap();
        assert_eq!(p.kinds().len(), 4);
        assert_eq!(p.consent(), Consent::Auto);
        assert_eq!(
            p.excluded_by(std::path::Path::new("/srv/secret/a/b")),
            Some("/srv/secret/**")
        );
        assert_eq!(p.excluded_by(std::path::Path::new("/srv/other")), None);
    }

    #[test]
    fn fuzz_bodies_hold_on_samples() {
        for text in [
            DEFAULT_POLICY,
            "id = \"x\"\n[content]\nkinds = [\"zip\", \"elf\"]\nconsent = \"auto\"\n",
        ] {
            crate::fuzz::policy(text.as_bytes());
        }
        crate::fuzz::receipt(b"{\"note\":\"x\",\"index\":1,\"tlog_proof\":\"y\"}");
        crate::fuzz::receipt(b"\xff");
    }

    fn err(text: &str) -> PolicyError {
        Policy::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("id = \"x\"\nkinds = []\n", "unknown field `kinds`"),
            (
                "id = \"x\"\n[content]\nkindz = []\n",
                "unknown field `kindz`",
            ),
            ("paths = \"full\"\n", "missing field `id`"),
            ("id = \"has space\"\n", "id:"),
            ("id = \"x\"\npaths = \"some\"\n", "unknown variant `some`"),
            (
                "id = \"x\"\n[content]\nconsent = \"yes\"\n",
                "unknown variant `yes`",
            ),
            (
                "id = \"x\"\n[content]\nkinds = [\"docx\"]\n",
                "content.kinds: \"docx\" is a document kind",
            ),
            (
                "id = \"x\"\n[content]\nkinds = [\"pdf\"]\n",
                "documents never leave",
            ),
            (
                "id = \"x\"\n[content]\nkinds = [\"exe\"]\n",
                "content.kinds: unknown kind \"exe\"",
            ),
            (
                "id = \"x\"\n[content]\nkinds = [\"elf\", \"elf\"]\n",
                "listed twice",
            ),
            ("id = \"x\"\n[content]\nmax-size = 0\n", "content.max-size"),
            ("id = \"x\"\n[content]\nmax-size = -1\n", "line 3"),
            (
                "id = \"x\"\n[content]\nexclude = [\"a[\"]\n",
                "content.exclude: bad glob",
            ),
        ];
        for (text, want) in cases {
            let e = err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e:?} lacks {want:?}");
        }
        assert!(matches!(
            Policy::parse(&[0xff, 0xfe]),
            Err(PolicyError::NotUtf8)
        ));
        assert!(matches!(
            Policy::parse(&vec![b'#'; MAX_POLICY_SIZE + 1]),
            Err(PolicyError::TooLarge { .. })
        ));
    }
}
