//! The surveillance-rule linter: reads YARA rules through yara-x's own
//! parser (the syntax tree, never regular expressions over the text) and
//! says, rule by rule, whether a rule hunts malware or documents and
//! people.
//!
//! Findings carry a stable ID (`VL101`…), a [`Severity`], the rule, a
//! `file:line:column` and a plain explanation. The IDs are documented in
//! `docs/lint.md`:
//!
//! - `VL1xx` classification and handling markings (in text, hex — also
//!   UTF-16 and single-byte XOR — and regex strings, and condition
//!   literals);
//! - `VL2xx` personal data: regexes that match identity, card, IBAN,
//!   e-mail or phone numbers, and such values written literally;
//! - `VL3xx` document targeting without any trait of executable content;
//! - `VL4xx` one host or person: home directories, internal domains, host
//!   names, user names, serial numbers;
//! - `VL5xx` overbroad rules that match nearly any file;
//! - `VL6xx` hidden logic: global rules and private rules with findings;
//! - `VL7xx` canary scanning (reported by the `vitrine-canary` crate,
//!   which compiles the rules; this crate only reserves the ID).
//!
//! # What's in scope / out of scope
//!
//! In scope: parsing and judging YARA sources, files, directories and
//! rule bundles. Out of scope: compiling or running the rules (yara-x
//! itself is not a dependency, only its parser), logs and signatures
//! (`vitrine-audit`).
//!
//! # Main types
//!
//! [`lint_source`], [`lint_bundle`], [`lint_path`] return a [`Report`] of
//! [`Finding`]s and [`RuleInfo`]s, or a [`LintError`].
//!
//! ```
//! let report = vitrine_lint::lint_source(
//!     "hunt.yar",
//!     r#"rule hunt { strings: $a = "TOP SECRET" nocase condition: $a }"#,
//! )?;
//! assert_eq!(report.findings[0].id, "VL101");
//! assert_eq!(report.findings[0].severity, vitrine_lint::Severity::High);
//! assert_eq!(report.findings[0].key(), "VL101:hunt");
//! # Ok::<(), vitrine_lint::LintError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod analyse;
mod layout;
mod regexp;
pub mod text;

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action expected.
    Info,
    /// A smell: slow or sloppy, rarely a target.
    Low,
    /// Look at the rule before shipping it.
    Medium,
    /// The rule looks for documents or people: publishing needs an
    /// acknowledgement.
    High,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every finding ID with a one-line title, in order.
pub const FINDING_IDS: &[(&str, &str)] = &[
    ("VL101", "classification or handling marking"),
    ("VL102", "classification word inside other text"),
    ("VL201", "national identity numbers"),
    ("VL202", "payment card numbers"),
    ("VL203", "bank account numbers (IBAN)"),
    ("VL204", "e-mail addresses (harvesting regex)"),
    ("VL205", "telephone numbers"),
    ("VL301", "document format without executable traits"),
    ("VL302", "document file name without executable traits"),
    ("VL401", "home directory of one user"),
    ("VL402", "internal domain name"),
    ("VL403", "host name"),
    ("VL404", "user name"),
    ("VL405", "serial number"),
    ("VL406", "one e-mail address"),
    ("VL501", "condition matches nearly any file"),
    ("VL502", "condition constrains only the file size"),
    ("VL503", "very short atom"),
    ("VL504", "condition met by a very short atom alone"),
    ("VL601", "global rule gating its file"),
    ("VL602", "depends on a private rule with findings"),
    ("VL701", "matches a canary document (crate vitrine-canary)"),
];

/// The severity a finding ID is reported with (docs/lint.md), for readers
/// who see only an ID, such as an endpoint reading a statement's
/// acknowledgements. `VL602` takes its private rule's worst severity,
/// medium or high: it is given as high. `None` for an unknown ID.
pub fn severity_of(id: &str) -> Option<Severity> {
    Some(match id {
        "VL406" | "VL503" => Severity::Low,
        "VL102" | "VL601" => Severity::Medium,
        _ if FINDING_IDS.iter().any(|(known, _)| *known == id) => Severity::High,
        _ => return None,
    })
}

/// One finding about one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable ID, e.g. `VL101` (see [`FINDING_IDS`]).
    pub id: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// The rule's identifier.
    pub rule: String,
    /// The source file (for bundles, the member path).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (bytes).
    pub column: usize,
    /// A plain explanation.
    pub message: String,
}

impl Finding {
    /// The identity of a finding for acknowledgements: `ID:rule`. One
    /// acknowledgement covers that finding ID on that rule only, so it
    /// cannot wave through another rule.
    pub fn key(&self) -> String {
        format!("{}:{}", self.id, self.rule)
    }
}

/// A rule seen by the linter (for diffs between bundle versions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// The source file.
    pub file: String,
    /// The rule's identifier.
    pub name: String,
    /// 1-based line of the identifier.
    pub line: usize,
    /// SHA-256 (hex) of the rule's text with whitespace collapsed, from
    /// its line to the next rule's: changes when the rule changes.
    pub digest: String,
}

/// What the linter found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every rule, in file order.
    pub rules: Vec<RuleInfo>,
    /// Every finding, in file and rule order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Findings at or above `min`.
    pub fn at_least(&self, min: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= min)
    }
}

/// Why linting could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// A YARA source does not parse.
    #[error("{file}:{line}:{column}: syntax error: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A file is not UTF-8.
    #[error("{file}: not UTF-8")]
    NotUtf8 {
        /// The file.
        file: String,
    },
    /// A bundle is malformed.
    #[error("{file}: not a valid rule bundle: {err}")]
    Bundle {
        /// The file.
        file: String,
        /// Why.
        err: vitrine_bundle::BundleError,
    },
    /// A file or directory could not be read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
}

/// Lints one YARA source.
pub fn lint_source(file: &str, source: &str) -> Result<Report, LintError> {
    let mut report = Report::default();
    analyse::lint_file(file, source, &mut report.findings, &mut report.rules)?;
    Ok(report)
}

/// Lints several sources into one report (each its own namespace).
pub fn lint_sources<'a>(
    sources: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Report, LintError> {
    let mut report = Report::default();
    for (file, src) in sources {
        analyse::lint_file(file, src, &mut report.findings, &mut report.rules)?;
    }
    Ok(report)
}

/// Lints a parsed bundle's YARA files; file names are member paths.
pub fn lint_parsed_bundle(bundle: &vitrine_bundle::Bundle) -> Result<Report, LintError> {
    let mut report = Report::default();
    for f in bundle.yara_files() {
        let src = std::str::from_utf8(&f.data).map_err(|_| LintError::NotUtf8 {
            file: f.path.clone(),
        })?;
        analyse::lint_file(&f.path, src, &mut report.findings, &mut report.rules)?;
    }
    Ok(report)
}

/// A YARA rule of a bundle with its text: from its line to the next
/// rule's (comments between rules go with the rule above them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleText {
    /// [`RuleInfo::digest`].
    pub digest: String,
    /// The rule's source lines, ending with a newline.
    pub text: String,
}

/// Lints a parsed bundle and returns, besides the report, every YARA rule
/// by `file:rule` with its text: what review packets and the
/// transparency center diff between versions.
pub fn rule_texts(
    bundle: &vitrine_bundle::Bundle,
) -> Result<(std::collections::BTreeMap<String, RuleText>, Report), LintError> {
    let report = lint_parsed_bundle(bundle)?;
    let sources: std::collections::BTreeMap<&str, Vec<&str>> = bundle
        .yara_files()
        .map(|f| {
            (
                f.path.as_str(),
                std::str::from_utf8(&f.data)
                    .unwrap_or_default()
                    .lines()
                    .collect(),
            )
        })
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for (i, r) in report.rules.iter().enumerate() {
        let lines = sources.get(r.file.as_str()).cloned().unwrap_or_default();
        let start = r.line.saturating_sub(1).min(lines.len());
        let end = report
            .rules
            .get(i + 1)
            .filter(|n| n.file == r.file)
            .map_or(lines.len(), |n| n.line.saturating_sub(1))
            .clamp(start, lines.len());
        let mut text = lines[start..end].join("\n");
        text.push('\n');
        out.insert(
            format!("{}:{}", r.file, r.name),
            RuleText {
                digest: r.digest.clone(),
                text,
            },
        );
    }
    Ok((out, report))
}

/// Parses bundle bytes (default limits) and lints them; `name` is used in
/// errors.
pub fn lint_bundle(name: &str, bytes: &[u8]) -> Result<Report, LintError> {
    let bundle = vitrine_bundle::Bundle::parse(bytes, &vitrine_bundle::Limits::default()).map_err(
        |err| LintError::Bundle {
            file: name.to_owned(),
            err,
        },
    )?;
    lint_parsed_bundle(&bundle)
}

/// Whether bytes look like a ustar archive (a bundle).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.len() >= 262 && &bytes[257..262] == b"ustar"
}

/// Lints a `.yar`/`.yara` file, a bundle, or every `.yar`/`.yara` file
/// under a directory (sorted, symbolic links not followed).
pub fn lint_path(path: &Path) -> Result<Report, LintError> {
    let sources = sources_of(path)?;
    lint_sources(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
}

/// The YARA sources at `path`, as `(name, text)`: the file itself, every
/// `.yar`/`.yara` file under a directory (sorted, symbolic links not
/// followed), or a bundle's YARA members named `BUNDLE:MEMBER`.
pub fn sources_of(path: &Path) -> Result<Vec<(String, String)>, LintError> {
    let io = |err| LintError::Io {
        path: path.to_owned(),
        err,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut files = Vec::new();
        collect(path, &mut files)?;
        files.sort();
        for f in files {
            file_sources(&f, &mut out)?;
        }
    } else {
        file_sources(path, &mut out)?;
    }
    Ok(out)
}

fn file_sources(path: &Path, out: &mut Vec<(String, String)>) -> Result<(), LintError> {
    let bytes = std::fs::read(path).map_err(|err| LintError::Io {
        path: path.to_owned(),
        err,
    })?;
    let name = path.display().to_string();
    if is_bundle(&bytes) {
        let bundle = vitrine_bundle::Bundle::parse(&bytes, &vitrine_bundle::Limits::default())
            .map_err(|err| LintError::Bundle {
                file: name.clone(),
                err,
            })?;
        for f in bundle.yara_files() {
            let member = format!("{name}:{}", f.path);
            let src = String::from_utf8(f.data.clone()).map_err(|_| LintError::NotUtf8 {
                file: member.clone(),
            })?;
            out.push((member, src));
        }
        return Ok(());
    }
    let src = String::from_utf8(bytes).map_err(|_| LintError::NotUtf8 { file: name.clone() })?;
    out.push((name, src));
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let io = |err| LintError::Io {
        path: dir.to_owned(),
        err,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let ty = entry.file_type().map_err(io)?;
        let p = entry.path();
        if ty.is_dir() {
            collect(&p, out)?;
        } else if ty.is_file() && p.extension().is_some_and(|e| e == "yar" || e == "yara") {
            out.push(p);
        }
    }
    Ok(())
}
