//! The pure decision: given a policy and the facts about one file, what
//! leaves. Facts come from [`inspect`], which looks at content only.

use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vitrine_archive::filetype::{sniff, FileKind};
use vitrine_archive::{walk, Event, Limits};

use crate::policy::{Consent, PathMode, Policy, SendableKind};

/// What an archive walk found, for the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveFacts {
    /// Every member was read within the limits and none is a document.
    Clean {
        /// Members seen (nested ones included).
        members: usize,
    },
    /// A member is a document.
    ContainsDocument {
        /// Path of the member inside the archive (nested archives joined by `/`).
        member: String,
        /// Its detected kind.
        kind: &'static str,
    },
    /// The walk stopped at a limit, so the archive cannot be vouched for.
    LimitExceeded {
        /// Where.
        member: String,
        /// Which limit.
        limit: String,
    },
    /// The archive or a member is corrupt, so it cannot be vouched for.
    Corrupt {
        /// Where.
        member: String,
        /// What the reader said.
        error: String,
    },
}

/// The facts about one file the decision needs. Built by [`inspect`].
#[derive(Clone, Debug)]
pub struct FileFacts {
    /// Where the file is on this machine (never sent unredacted by default).
    pub path: PathBuf,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// Kind detected from content.
    pub kind: FileKind,
    /// For containers: what walking them found.
    pub archive: Option<ArchiveFacts>,
    /// Detection names (rule names) that matched.
    pub detections: Vec<String>,
    /// Version of the rule bundle that matched, if known.
    pub bundle_version: Option<u64>,
}

/// The metadata that leaves for a file: always allowed, never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Kind detected from content.
    pub kind: String,
    /// Detection names.
    pub detections: Vec<String>,
    /// Rule bundle version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_version: Option<u64>,
    /// The path as the policy allows it (absent with `paths = "none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Why content does not leave. Every variant is a decision of the policy,
/// never a failure: metadata still leaves.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyReason {
    /// The file is a document; documents never leave.
    #[error("the file is a document ({kind}); documents never leave")]
    Document {
        /// Detected kind.
        kind: &'static str,
    },
    /// The archive holds a document.
    #[error("the archive holds a document ({kind}) at {member:?}")]
    ArchiveHoldsDocument {
        /// Member path.
        member: String,
        /// Detected kind.
        kind: &'static str,
    },
    /// The archive could not be fully inspected (limit or corruption), so it
    /// is treated as if it held a document.
    #[error("the archive could not be fully inspected at {member:?}: {reason}")]
    ArchiveUninspectable {
        /// Where inspection stopped.
        member: String,
        /// Why.
        reason: String,
    },
    /// A container whose walk result is missing (caller error; fail closed).
    #[error("the archive was not inspected")]
    ArchiveNotInspected,
    /// The path matches an `exclude` glob.
    #[error("the path matches the excluded pattern {pattern:?}")]
    Excluded {
        /// The glob.
        pattern: String,
    },
    /// The owner did not enable this kind.
    #[error("content of kind {kind} is not enabled in the policy")]
    KindNotEnabled {
        /// Detected kind.
        kind: &'static str,
    },
    /// Larger than `content.max-size`.
    #[error("the file is {size} bytes, over the policy's limit of {limit}")]
    TooLarge {
        /// File size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// `consent = "never"`.
    #[error("the policy's consent is \"never\"")]
    ConsentNever,
    /// `consent = "ask"` and the owner said no, or could not be asked.
    #[error("the owner did not consent{}", if *.asked { "" } else { " (no terminal to ask on)" })]
    ConsentRefused {
        /// Whether the owner was asked at all.
        asked: bool,
    },
}

/// Whether content may leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentDecision {
    /// The policy allows it; with `Consent::Ask` the owner must still say yes.
    Allowed {
        /// The consent mode that applies (`Ask` or `Auto`).
        consent: Consent,
    },
    /// Content stays; only metadata leaves.
    Denied(DenyReason),
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What leaves in any case.
    pub metadata: Metadata,
    /// Whether the content may leave too.
    pub content: ContentDecision,
}

/// Replaces the home directory and the user name in paths.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// The home directory, replaced by `~`.
    pub home: Option<PathBuf>,
    /// The user name, replaced by `<user>` wherever it is a path component.
    pub user: Option<String>,
}

impl Redactor {
    /// From `$HOME` and `$USER` (or `$USERNAME`).
    pub fn from_env() -> Self {
        Redactor {
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .ok()
                .filter(|u| !u.is_empty()),
        }
    }

    /// The redacted path text.
    pub fn redact(&self, path: &Path) -> String {
        let (prefix, rest) = match &self.home {
            Some(home) if home.components().count() > 1 => match path.strip_prefix(home) {
                Ok(rest) => (Some("~"), rest),
                Err(_) => (None, path),
            },
            _ => (None, path),
        };
        let mut parts: Vec<String> = prefix.map(|p| vec![p.to_owned()]).unwrap_or_default();
        for c in rest.components() {
            let s = match c {
                Component::RootDir => String::new(),
                other => other.as_os_str().to_string_lossy().into_owned(),
            };
            match &self.user {
                Some(u) if !s.is_empty() && s.contains(u.as_str()) => {
                    parts.push(s.replace(u.as_str(), "<user>"))
                }
                _ => parts.push(s),
            }
        }
        let joined = parts.join("/");
        if joined.is_empty() {
            "/".to_owned()
        } else {
            joined
        }
    }
}

/// The kind's policy name if its content could ever be sent.
fn sendable(kind: FileKind) -> Option<SendableKind> {
    Some(match kind {
        FileKind::Elf => SendableKind::Elf,
        FileKind::Pe => SendableKind::Pe,
        FileKind::MachO => SendableKind::MachO,
        FileKind::Script => SendableKind::Script,
        FileKind::Zip => SendableKind::Zip,
        FileKind::SevenZ => SendableKind::SevenZ,
        FileKind::Tar => SendableKind::Tar,
        FileKind::Gzip => SendableKind::Gzip,
        FileKind::Bzip2 => SendableKind::Bzip2,
        FileKind::Xz => SendableKind::Xz,
        // Documents, text, unknown and anything added later: never.
        _ => return None,
    })
}

/// Decides what leaves for one file. Pure: no I/O, no clock.
///
/// Content is denied, in this order, for: documents (by content), archives
/// holding a document or that could not be fully inspected, excluded
/// paths, kinds the owner did not enable, the size limit, and
/// `consent = "never"`.
pub fn decide(policy: &Policy, facts: &FileFacts, redactor: &Redactor) -> Decision {
    let path = match policy.paths() {
        PathMode::None => None,
        PathMode::Redacted => Some(redactor.redact(&facts.path)),
        PathMode::Full => Some(facts.path.to_string_lossy().into_owned()),
    };
    let metadata = Metadata {
        sha256: hex::encode(facts.sha256),
        size: facts.size,
        kind: facts.kind.name().to_owned(),
        detections: facts.detections.clone(),
        bundle_version: facts.bundle_version,
        path,
    };
    Decision {
        metadata,
        content: content_decision(policy, facts),
    }
}

fn content_decision(policy: &Policy, facts: &FileFacts) -> ContentDecision {
    use ContentDecision::Denied;
    let kind = facts.kind;
    if kind.is_document() {
        return Denied(DenyReason::Document { kind: kind.name() });
    }
    let Some(sendable) = sendable(kind) else {
        return Denied(DenyReason::KindNotEnabled { kind: kind.name() });
    };
    if sendable.is_container() || kind.is_container() {
        match &facts.archive {
            Some(ArchiveFacts::Clean { .. }) => {}
            Some(ArchiveFacts::ContainsDocument { member, kind }) => {
                return Denied(DenyReason::ArchiveHoldsDocument {
                    member: member.clone(),
                    kind,
                })
            }
            Some(ArchiveFacts::LimitExceeded { member, limit }) => {
                return Denied(DenyReason::ArchiveUninspectable {
                    member: member.clone(),
                    reason: format!("limit exceeded: {limit}"),
                })
            }
            Some(ArchiveFacts::Corrupt { member, error }) => {
                return Denied(DenyReason::ArchiveUninspectable {
                    member: member.clone(),
                    reason: format!("corrupt: {error}"),
                })
            }
            None => return Denied(DenyReason::ArchiveNotInspected),
        }
    }
    if let Some(pattern) = policy.excluded_by(&facts.path) {
        return Denied(DenyReason::Excluded {
            pattern: pattern.to_owned(),
        });
    }
    if !policy.kinds().contains(&sendable) {
        return Denied(DenyReason::KindNotEnabled { kind: kind.name() });
    }
    if facts.size > policy.max_size() {
        return Denied(DenyReason::TooLarge {
            size: facts.size,
            limit: policy.max_size(),
        });
    }
    match policy.consent() {
        Consent::Never => Denied(DenyReason::ConsentNever),
        consent => ContentDecision::Allowed { consent },
    }
}

/// Walks a container and reports what the decision needs: the first
/// document member, limit or corruption stops the walk (fail closed).
pub fn inspect_archive(data: &[u8], limits: &Limits) -> ArchiveFacts {
    let mut members = 0usize;
    let mut verdict: Option<ArchiveFacts> = None;
    walk(data, limits, &mut |event| {
        let found = match event {
            Event::Member { path, data } => {
                members += 1;
                let kind = sniff(data);
                if kind.is_document() {
                    Some(ArchiveFacts::ContainsDocument {
                        member: path.join("/"),
                        kind: kind.name(),
                    })
                } else {
                    None
                }
            }
            Event::LimitExceeded { path, limit } => Some(ArchiveFacts::LimitExceeded {
                member: path.join("/"),
                limit: format!("{limit:?}"),
            }),
            Event::Corrupt { path, error } => Some(ArchiveFacts::Corrupt {
                member: path.join("/"),
                error: error.to_string(),
            }),
        };
        match found {
            Some(v) => {
                verdict = Some(v);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
    verdict.unwrap_or(ArchiveFacts::Clean { members })
}

/// Gathers the facts about a file from its content (never its name).
pub fn inspect(
    path: &Path,
    data: &[u8],
    detections: Vec<String>,
    bundle_version: Option<u64>,
) -> FileFacts {
    let kind = sniff(data);
    let archive = kind
        .is_container()
        .then(|| inspect_archive(data, &Limits::default()));
    FileFacts {
        path: path.to_owned(),
        sha256: Sha256::digest(data).into(),
        size: data.len() as u64,
        kind,
        archive,
        detections,
        bundle_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: FileKind, size: u64, archive: Option<ArchiveFacts>) -> FileFacts {
        FileFacts {
            path: PathBuf::from("/home/alice/work/x.bin"),
            sha256: [7; 32],
            size,
            kind,
            archive,
            detections: vec!["Test.Rule".into()],
            bundle_version: Some(3),
        }
    }

    fn policy(extra: &str) -> Policy {
        Policy::parse(format!("id = \"p\"\n{extra}").as_bytes()).unwrap()
    }

    fn red() -> Redactor {
        Redactor {
            home: Some("/home/alice".into()),
            user: Some("alice".into()),
        }
    }

    fn content(p: &Policy, f: &FileFacts) -> ContentDecision {
        decide(p, f, &red()).content
    }

    const EXEC: &str = "[content]\nkinds = [\"elf\", \"zip\"]\nconsent = \"auto\"\nmax-size = 100\nexclude = [\"/srv/private/**\"]\n";

    #[test]
    fn default_policy_sends_metadata_only() {
        let d = decide(&Policy::default(), &facts(FileKind::Elf, 10, None), &red());
        assert_eq!(
            d.content,
            ContentDecision::Denied(DenyReason::KindNotEnabled { kind: "elf" })
        );
        assert_eq!(d.metadata.path.as_deref(), Some("~/work/x.bin"));
        assert_eq!(d.metadata.sha256, hex::encode([7; 32]));
        assert_eq!(d.metadata.detections, vec!["Test.Rule".to_owned()]);
        assert_eq!(d.metadata.bundle_version, Some(3));
    }

    #[test]
    fn enabled_executable_is_allowed() {
        let p = policy(EXEC);
        assert_eq!(
            content(&p, &facts(FileKind::Elf, 10, None)),
            ContentDecision::Allowed {
                consent: Consent::Auto
            }
        );
    }

    #[test]
    fn every_reason_is_reachable() {
        let p = policy(EXEC);
        let cases = [
            (facts(FileKind::Pdf, 10, None), "document"),
            (facts(FileKind::Text, 10, None), "document"),
            (facts(FileKind::Pe, 10, None), "not enabled"),
            (facts(FileKind::Unknown, 10, None), "not enabled"),
            (facts(FileKind::Elf, 101, None), "over the policy's limit"),
            (facts(FileKind::Zip, 10, None), "not inspected"),
            (
                facts(
                    FileKind::Zip,
                    10,
                    Some(ArchiveFacts::ContainsDocument {
                        member: "a/b.docx".into(),
                        kind: "ooxml",
                    }),
                ),
                "holds a document",
            ),
            (
                facts(
                    FileKind::Zip,
                    10,
                    Some(ArchiveFacts::LimitExceeded {
                        member: "a".into(),
                        limit: "Depth".into(),
                    }),
                ),
                "could not be fully inspected",
            ),
            (
                facts(
                    FileKind::Zip,
                    10,
                    Some(ArchiveFacts::Corrupt {
                        member: "a".into(),
                        error: "bad".into(),
                    }),
                ),
                "corrupt",
            ),
        ];
        for (f, want) in cases {
            match content(&p, &f) {
                ContentDecision::Denied(r) => {
                    assert!(r.to_string().contains(want), "{f:?}: {r}")
                }
                other => panic!("{f:?}: {other:?}"),
            }
        }
        let mut f = facts(FileKind::Elf, 10, None);
        f.path = "/srv/private/x".into();
        assert!(matches!(
            content(&p, &f),
            ContentDecision::Denied(DenyReason::Excluded { .. })
        ));
        let never = policy("[content]\nkinds = [\"elf\"]\nconsent = \"never\"\n");
        assert_eq!(
            content(&never, &facts(FileKind::Elf, 10, None)),
            ContentDecision::Denied(DenyReason::ConsentNever)
        );
        let clean = facts(FileKind::Zip, 10, Some(ArchiveFacts::Clean { members: 2 }));
        assert!(matches!(
            content(&p, &clean),
            ContentDecision::Allowed { .. }
        ));
    }

    #[test]
    fn paths_modes() {
        let f = facts(FileKind::Elf, 1, None);
        assert_eq!(
            decide(&policy("paths = \"none\"\n"), &f, &red())
                .metadata
                .path,
            None
        );
        assert_eq!(
            decide(&policy("paths = \"full\"\n"), &f, &red())
                .metadata
                .path
                .as_deref(),
            Some("/home/alice/work/x.bin")
        );
        let r = red();
        assert_eq!(
            r.redact(Path::new("/tmp/alice-notes/a")),
            "/tmp/<user>-notes/a"
        );
        assert_eq!(r.redact(Path::new("/home/alice")), "~");
        assert_eq!(r.redact(Path::new("/home/alicex/a")), "/home/<user>x/a");
        assert_eq!(Redactor::default().redact(Path::new("/a/b")), "/a/b");
    }
}
