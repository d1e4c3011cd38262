//! Vitrine's scan engine: YARA rules compiled with [yara-x], ClamAV-style
//! hash signatures, and a parallel, hostile-file-system-proof walker.
//!
//! # Scope
//!
//! In scope: loading rules all-or-nothing ([`RulesBuilder`] → [`RuleSet`]),
//! scanning files, directories and standard input in parallel ([`scan`]),
//! per-file reports ([`FileReport`]) and totals ([`Summary`]).
//! Out of scope: output formats and progress display (the `vitrine` binary),
//! where rules come from and whether they are verified (the update client).
//!
//! # Main types
//!
//! - [`RulesBuilder`] / [`RuleSet`]: YARA sources and `.hdb`/`.hsb` lists,
//!   compiled once and shared by every worker thread.
//! - [`ScanOptions`]: threads, size limit, timeout, walk behaviour.
//! - [`scan`]: runs the scan, streaming [`FileReport`]s to a callback.
//!
//! # Example
//!
//! ```
//! use vitrine_scan::{scan, Progress, RulesBuilder, ScanOptions, Target};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("a.txt"), b"hello evil world")?;
//! let mut b = RulesBuilder::new();
//! b.add_yara_source("demo.yar", r#"rule Evil { strings: $e = "evil" condition: $e }"#);
//! let rules = b.build()?;
//! let mut found = Vec::new();
//! let summary = scan(
//!     &rules,
//!     &ScanOptions::default().threads(2),
//!     &[Target::Path(dir.path().to_path_buf())],
//!     &Progress::default(),
//!     |r| found.extend(r.detections.iter().map(|d| d.name().to_string())),
//! )?;
//! assert_eq!(found, vec!["Evil"]);
//! assert_eq!(summary.files_scanned, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Hostile files
//!
//! Files are read into a per-thread buffer rather than memory-mapped, so a
//! file truncated while it is scanned cannot raise SIGBUS. Only regular
//! files are opened, and they are opened non-blocking, so a FIFO can never
//! hang a scan. Files over the size limit are skipped and reported, never
//! silently passed.
//!
//! [yara-x]: https://virustotal.github.io/yara-x/

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allow;
mod builtin;
pub mod cache;
mod engine;
pub mod hashdb;
mod rules;

use std::path::PathBuf;

pub use allow::{Allowlist, AllowlistError};
pub use builtin::starter_files;
pub use engine::{
    file_type, scan, Detection, FileReport, Incomplete, IncompleteReason, MemberReport, MetaValue,
    Outcome, Progress, ScanOptions, Session, SkipReason, StringMatch, Summary, Target,
    MAX_STRING_DATA,
};
pub use hashdb::{HashAlgorithm, HashLineError};
pub use rules::{
    BundleRef, RuleSet, RuleSource, RulesBuilder, RulesCache, VarValue, PER_FILE_VARIABLES,
};

/// Errors of the scan engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A YARA rule did not compile; nothing was loaded.
    #[error("{origin}:{line}:{column}: {message}\n{report}")]
    RuleCompile {
        /// File (or label) of the source.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// yara-x's one-line message.
        message: String,
        /// yara-x's full report, with the source excerpt.
        report: String,
    },
    /// Hash-signature lines are malformed; nothing was loaded.
    #[error("malformed hash signatures:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    HashSyntax {
        /// Each bad line (at most 20).
        errors: Vec<HashLineError>,
    },
    /// A rule or signature file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    RuleFileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A rule or signature file is not UTF-8.
    #[error("{} is not UTF-8 text", path.display())]
    RuleFileNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A rule or signature file exceeds its size limit.
    #[error("{} is larger than {limit} bytes", path.display())]
    RuleFileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A directory given as a rule source holds no rule files.
    #[error("{} holds no {} files", path.display(), extensions.join("/"))]
    NoRuleFiles {
        /// The directory.
        path: PathBuf,
        /// The extensions looked for.
        extensions: Vec<String>,
    },
    /// An external variable could not be defined.
    #[error("cannot define variable `{name}`: {message}")]
    Define {
        /// The variable.
        name: String,
        /// yara-x's reason.
        message: String,
    },
    /// The scan cache could not be written.
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    /// An exclusion glob is invalid.
    #[error("invalid --exclude glob `{glob}`: {message}")]
    BadExclude {
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
    /// An `--exclude-dir` pattern is not a valid regular expression.
    #[error("bad --exclude-dir regular expression `{pattern}`: {message}")]
    BadExcludeDir {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
}
