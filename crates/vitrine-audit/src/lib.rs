//! The monitor: follows a Vitrine log, verifies everything in it, and lints
//! every rule bundle it logs.
//!
//! An [`Auditor`] keeps its own state directory. Each [`Auditor::run_once`]
//! fetches the log's checkpoint and:
//!
//! 1. verifies the log's signature on it;
//! 2. fetches every entry logged since the last run and recomputes the
//!    tree root from the stored *frontier* (the right edge of the tree
//!    verified so far) plus the new entries. The root must equal the
//!    signed one: this proves at once that the new checkpoint extends the
//!    one seen before (no fork) and that the entries are the logged ones.
//!    A mismatch, a smaller tree, or a different root at the same size is
//!    a fork: both checkpoint notes are kept under `forks/` as evidence,
//!    and while evidence is there the auditor refuses to go on;
//! 3. opens every new entry as a statement: it must parse strictly, carry
//!    one signature, and be signed by a key the log's authorization allows
//!    to make that statement type;
//! 4. for every `rules` statement, fetches the bundle from the log's
//!    content store (`/content/sha256/<hex>`), checks its size and hash
//!    and that its manifest matches the statement, lints it with
//!    `vitrine-lint`, and compares its rules with the previous version of
//!    the bundle of the same name (added, removed, changed).
//!
//! Anything wrong that the log or publisher is responsible for is an
//! [`Alarm`] in the [`AuditReport`]; network trouble reaching the log at
//! all is an [`AuditError`].
//!
//! # What's in scope / out of scope
//!
//! In scope: verification, linting, diffs, the state directory. Out of
//! scope: output formats and polling loops (the `vitrine audit` command),
//! witness cosignatures (endpoints check those; the monitor checks the
//! log's own signature and consistency, which is what catches a split
//! view whatever witnesses said).
//!
//! # Main types
//!
//! [`Auditor`], [`Source`] (with [`HttpSource`]), [`AuditReport`],
//! [`BundleReport`], [`Alarm`], [`AuditError`].
//!
//! ```no_run
//! use vitrine_audit::{Auditor, HttpSource};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = "example.com/log+abcd1234+AAAA".parse()?;
//! let auth = vitrine_log::Authorization::parse("rules publisher.example+01020304+AAAA")?;
//! let source = HttpSource::new("http://127.0.0.1:8080")?;
//! let mut auditor = Auditor::new(source, key, auth, "audit-state")?;
//! let report = auditor.run_once()?;
//! for alarm in &report.alarms {
//!     eprintln!("ALARM: {alarm}");
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod state;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_lint::RuleText;
use vitrine_log::Authorization;
use vitrine_note::{VerifierKey, Verifiers};
use vitrine_statements::Statement;
use vitrine_tlog::{
    bundle_for_leaf, decode_entry_bundle, leaf_hash, open_checkpoint, Checkpoint, Hash,
};

pub use state::{BundleState, RuleState};
use state::{Frontier, State};

/// Largest checkpoint note read.
const MAX_CHECKPOINT: usize = 64 * 1024;
/// Largest entry bundle read (256 entries of at most 65,535 bytes each).
const MAX_ENTRY_BUNDLE: usize = 256 * (65_535 + 2);

/// Where the auditor reads the log: the tlog-tiles read API and the
/// content store, by path relative to the log's URL.
///
/// Contract: `Ok(None)` for "not found" (HTTP 404), `Ok(Some)` for the
/// body, which must be at most `limit` bytes (longer is an error), and
/// `Err` for anything else (network down, other status).
pub trait Source {
    /// Reads `path` (e.g. `checkpoint`, `tile/entries/000`).
    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String>;
}

/// A [`Source`] over HTTP(S). Clones share one connection pool.
#[derive(Clone)]
pub struct HttpSource {
    client: reqwest::blocking::Client,
    base: String,
}

impl HttpSource {
    /// A source for the log at `base` (e.g. `https://log.example`).
    pub fn new(base: &str) -> Result<Self, AuditError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| AuditError::Fetch {
                path: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(HttpSource {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }
}

impl Source for HttpSource {
    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{}/{path}", self.base);
        let resp = self.client.get(&url).send().map_err(|e| e.to_string())?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let mut body = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        if body.len() > limit {
            return Err(format!("longer than {limit} bytes"));
        }
        Ok(Some(body))
    }
}

/// What an [`Auditor`] verified, handed over as it is verified: what an
/// index or a web view built on the monitor (the transparency center)
/// records. Every call is about data that already passed the checks it
/// names; a pass that raises a fork or signature alarm makes no call about
/// the checkpoint it refused.
///
/// An error from any method stops the pass with [`AuditError::Observer`]
/// before the auditor's state advances, so the next pass hands the same
/// data over again: an observer must accept a repeat (by log index).
pub trait Observer {
    /// The checkpoint this pass verified: the log's signature on `note`
    /// holds and the tree extends (or equals) the one verified before.
    /// Called before the entries it covers.
    fn checkpoint(&mut self, note: &[u8], checkpoint: &Checkpoint) -> Result<(), String> {
        let _ = (note, checkpoint);
        Ok(())
    }

    /// An entry that is in the verified tree, parses strictly and is
    /// signed by `signer`, a key allowed to make its type.
    fn statement(
        &mut self,
        index: u64,
        signer: &str,
        statement: &Statement,
        entry: &[u8],
    ) -> Result<(), String> {
        let _ = (index, signer, statement, entry);
        Ok(())
    }

    /// A logged bundle whose bytes hash to the logged SHA-256 and whose
    /// manifest matches its statement, with its report and every YARA
    /// rule's text (called after [`Observer::statement`] for its entry).
    fn bundle(
        &mut self,
        report: &BundleReport,
        bundle: &Bundle,
        rules: &BTreeMap<String, RuleText>,
    ) -> Result<(), String> {
        let _ = (report, bundle, rules);
        Ok(())
    }

    /// Everything up to tree size `size` has been handed over: called
    /// right before the auditor's state advances to it (and at the end of
    /// a pass that found the same checkpoint again). An observer that
    /// writes in batches commits here.
    fn verified(&mut self, size: u64) -> Result<(), String> {
        let _ = size;
        Ok(())
    }
}

/// An [`Observer`] that records nothing.
pub struct NoObserver;

impl Observer for NoObserver {}

/// Something the log or a publisher did wrong: a monitor's reason to raise
/// the alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "alarm", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Alarm {
    /// The checkpoint is not validly signed by the log key.
    #[error("checkpoint does not verify with the log key: {reason}")]
    CheckpointSignature {
        /// Why.
        reason: String,
    },
    /// The log presented a view inconsistent with the one verified before
    /// (a fork, a rollback, or entries that do not hash to its root).
    /// Evidence is kept.
    #[error("fork: {detail}; evidence kept in {evidence}")]
    Fork {
        /// Size verified before.
        old_size: u64,
        /// Size now presented.
        new_size: u64,
        /// What does not agree.
        detail: String,
        /// The evidence file.
        evidence: String,
    },
    /// Fork evidence from an earlier run is still in the state directory;
    /// nothing more is verified until a person looks at it.
    #[error("fork evidence from an earlier run is present ({evidence}); refusing to continue until it is examined and moved away")]
    ForkEvidence {
        /// The evidence file.
        evidence: String,
    },
    /// An entry is not a valid statement, or its signer may not make it.
    #[error("log index {index}: invalid entry: {reason}")]
    InvalidEntry {
        /// Log index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A logged bundle cannot be fetched from the content store.
    #[error("log index {index}: bundle {sha256} cannot be fetched: {reason}")]
    BundleUnavailable {
        /// Log index of the `rules` statement.
        index: u64,
        /// The bundle's SHA-256 (hex).
        sha256: String,
        /// Why.
        reason: String,
    },
    /// The content store served bytes that are not the logged bundle.
    #[error("log index {index}: content for {sha256} hashes to {found}")]
    BundleHashMismatch {
        /// Log index.
        index: u64,
        /// The logged SHA-256.
        sha256: String,
        /// What the served bytes hash to.
        found: String,
    },
    /// The bundle does not parse, or its manifest disagrees with the
    /// statement, or its rules do not parse.
    #[error("log index {index}: bundle {sha256} is invalid: {reason}")]
    BundleInvalid {
        /// Log index.
        index: u64,
        /// The bundle's SHA-256 (hex).
        sha256: String,
        /// Why.
        reason: String,
    },
}

/// A failure to audit at all (as opposed to an [`Alarm`] about the log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log could not be read.
    #[error("fetching {path}: {reason}")]
    Fetch {
        /// What was fetched.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The log serves no checkpoint.
    #[error("the log serves no checkpoint")]
    NoCheckpoint,
    /// The state directory could not be read or written.
    #[error("state directory {}: {err}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// The state file is corrupt.
    #[error("state file {}: {reason}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The [`Observer`] could not record what was verified.
    #[error("recording what was verified: {reason}")]
    Observer {
        /// Why.
        reason: String,
    },
    /// The state belongs to another log.
    #[error("state directory follows log {stored}, not {found}")]
    OtherLog {
        /// The origin in the state.
        stored: String,
        /// The origin now.
        found: String,
    },
}

/// A lint finding, with the publisher's acknowledgement if the statement
/// carries one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: vitrine_lint::Finding,
    /// The reason given in the statement's `allow` line, if any.
    pub acknowledged: Option<String>,
}

/// What the auditor found in one logged bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// Log index of its `rules` statement.
    pub index: u64,
    /// Bundle name (manifest).
    pub name: String,
    /// Bundle version.
    pub version: u64,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes (the logged size, which the fetched bytes matched).
    pub size: u64,
    /// Number of YARA rules.
    pub rules: usize,
    /// Lint findings.
    pub findings: Vec<AuditFinding>,
    /// Version of the previous bundle of this name seen, if any.
    pub previous_version: Option<u64>,
    /// Rules (`file:rule`) new in this version.
    pub added: Vec<String>,
    /// Rules gone since the previous version.
    pub removed: Vec<String>,
    /// Rules whose text changed.
    pub changed: Vec<String>,
}

impl BundleReport {
    /// High findings the publisher did not acknowledge.
    pub fn unacknowledged_high(&self) -> impl Iterator<Item = &AuditFinding> {
        self.findings.iter().filter(|f| {
            f.finding.severity == vitrine_lint::Severity::High && f.acknowledged.is_none()
        })
    }
}

/// The outcome of one [`Auditor::run_once`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The log's origin.
    pub origin: String,
    /// Tree size verified before this run.
    pub previous_size: u64,
    /// Tree size verified now (unchanged when an alarm stopped the run
    /// before entries were verified).
    pub size: u64,
    /// Statements read in this run, by type.
    pub statements: BTreeMap<String, u64>,
    /// Every bundle logged in this run, in log order.
    pub bundles: Vec<BundleReport>,
    /// Alarms, in the order raised.
    pub alarms: Vec<Alarm>,
}

impl AuditReport {
    /// Whether anything needs a person: an alarm or an unacknowledged high
    /// finding.
    pub fn needs_attention(&self) -> bool {
        !self.alarms.is_empty()
            || self
                .bundles
                .iter()
                .any(|b| b.unacknowledged_high().next().is_some())
    }
}

/// Follows one log; see the crate documentation.
pub struct Auditor<S> {
    source: S,
    log_key: VerifierKey,
    auth: Authorization,
    dir: PathBuf,
    canaries: Option<Vec<vitrine_canary::Canary>>,
}

impl<S: Source> Auditor<S> {
    /// An auditor for the log signed by `log_key`, whose entries must be
    /// signed as `auth` allows, keeping its state in `dir` (created).
    pub fn new(
        source: S,
        log_key: VerifierKey,
        auth: Authorization,
        dir: impl Into<PathBuf>,
    ) -> Result<Self, AuditError> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("forks")).map_err(|err| AuditError::State {
            path: dir.clone(),
            err,
        })?;
        Ok(Auditor {
            source,
            log_key,
            auth,
            dir,
            canaries: None,
        })
    }

    /// Also compiles every bundle and scans `corpus` (see
    /// `vitrine_canary::generate`): a rule that matches a canary is a
    /// `VL701` finding of the bundle.
    pub fn with_canaries(mut self, corpus: Vec<vitrine_canary::Canary>) -> Self {
        self.canaries = Some(corpus);
        self
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn fetch(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, AuditError> {
        self.source
            .get(path, limit)
            .map_err(|reason| AuditError::Fetch {
                path: path.to_owned(),
                reason,
            })
    }

    /// One pass: verifies everything logged since the last pass and
    /// returns what was found. State advances only past verified entries.
    pub fn run_once(&mut self) -> Result<AuditReport, AuditError> {
        self.run_once_observed(&mut NoObserver)
    }

    /// [`Auditor::run_once`], handing what it verifies to `observer`.
    pub fn run_once_observed(
        &mut self,
        observer: &mut dyn Observer,
    ) -> Result<AuditReport, AuditError> {
        let observed = |r: Result<(), String>| r.map_err(|reason| AuditError::Observer { reason });
        let mut state = State::load(&self.dir)?;
        let mut report = AuditReport {
            origin: self.log_key.name().to_owned(),
            previous_size: state.size,
            size: state.size,
            ..AuditReport::default()
        };
        if let Some(evidence) = state::existing_evidence(&self.dir)? {
            report.alarms.push(Alarm::ForkEvidence {
                evidence: evidence.display().to_string(),
            });
            return Ok(report);
        }
        let note = self
            .fetch("checkpoint", MAX_CHECKPOINT)?
            .ok_or(AuditError::NoCheckpoint)?;
        let opened = match open_checkpoint(&note, &self.log_key, &Verifiers::new()) {
            Ok(o) => o,
            Err(e) => {
                report.alarms.push(Alarm::CheckpointSignature {
                    reason: e.to_string(),
                });
                return Ok(report);
            }
        };
        let cp = opened.checkpoint;
        if let Some(origin) = &state.origin {
            if *origin != cp.origin {
                return Err(AuditError::OtherLog {
                    stored: origin.clone(),
                    found: cp.origin,
                });
            }
        }
        let fork = |detail: String, this: &Self, state: &State| -> Result<Alarm, AuditError> {
            let evidence = state::write_evidence(
                &this.dir,
                state.checkpoint.as_deref().unwrap_or(""),
                &String::from_utf8_lossy(&note),
                &detail,
            )?;
            Ok(Alarm::Fork {
                old_size: state.size,
                new_size: cp.size,
                detail,
                evidence: evidence.display().to_string(),
            })
        };
        if cp.size < state.size {
            let a = fork(
                format!(
                    "the log presents size {} after size {} was verified",
                    cp.size, state.size
                ),
                self,
                &state,
            )?;
            report.alarms.push(a);
            return Ok(report);
        }
        if cp.size == state.size {
            if state.size > 0 && cp.root != state.root()? {
                let a = fork(
                    format!("two different roots for size {}", cp.size),
                    self,
                    &state,
                )?;
                report.alarms.push(a);
            } else if state.size > 0 {
                observed(observer.checkpoint(&note, &cp))?;
                observed(observer.verified(cp.size))?;
            }
            return Ok(report);
        }

        // New entries: fetch, and check they extend the verified tree to
        // exactly the signed root.
        let entries = self.entries(state.size, cp.size)?;
        let mut frontier: Frontier = state.frontier()?;
        for e in &entries {
            frontier.push(leaf_hash(e));
        }
        let root: Hash = frontier.root();
        if root != cp.root {
            let a = fork(
                format!(
                    "the {} entries after size {} do not lead to the signed root of size {}: the log's tree is not an extension of the one verified before, or it serves entries that are not in its tree",
                    entries.len(),
                    state.size,
                    cp.size
                ),
                self,
                &state,
            )?;
            report.alarms.push(a);
            return Ok(report);
        }

        observed(observer.checkpoint(&note, &cp))?;
        for (i, entry) in entries.iter().enumerate() {
            let index = state.size + i as u64;
            match self.auth.open_signed(entry) {
                Err(err) => report.alarms.push(Alarm::InvalidEntry {
                    index,
                    reason: err.to_string(),
                }),
                Ok((statement, signer)) => {
                    *report
                        .statements
                        .entry(statement.kind().name().to_owned())
                        .or_default() += 1;
                    observed(observer.statement(index, &signer, &statement, entry))?;
                    if let Statement::Rules(rules) = statement {
                        match self.bundle(index, &rules, &mut state, observer) {
                            Ok(b) => report.bundles.push(b),
                            Err(BundleOutcome::Alarm(alarm)) => report.alarms.push(alarm),
                            Err(BundleOutcome::Observer(reason)) => {
                                return Err(AuditError::Observer { reason })
                            }
                        }
                    }
                }
            }
        }
        observed(observer.verified(cp.size))?;
        state.origin = Some(cp.origin.clone());
        state.set_tree(cp.size, &cp.root, &frontier);
        state.checkpoint = Some(String::from_utf8_lossy(&note).into_owned());
        state.save(&self.dir)?;
        report.size = cp.size;
        Ok(report)
    }

    /// Entries `[start, end)` of a tree of `end` leaves.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, AuditError> {
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut n = start / 256;
        while n * 256 < end {
            let path = bundle_for_leaf(end, n * 256).expect("invariant: leaf is inside the tree");
            let name = path.to_string();
            let data = self
                .fetch(&name, MAX_ENTRY_BUNDLE)?
                .ok_or_else(|| AuditError::Fetch {
                    path: name.clone(),
                    reason: "not found".to_owned(),
                })?;
            let got = decode_entry_bundle(&data)
                .ok()
                .filter(|e| e.len() == usize::from(path.width()))
                .ok_or_else(|| AuditError::Fetch {
                    path: name.clone(),
                    reason: "malformed entry bundle".to_owned(),
                })?;
            for (i, e) in got.into_iter().enumerate() {
                let index = n * 256 + i as u64;
                if index >= start && index < end {
                    out.push(e);
                }
            }
            n += 1;
        }
        Ok(out)
    }

    fn bundle(
        &self,
        index: u64,
        rules: &vitrine_statements::Rules,
        state: &mut State,
        observer: &mut dyn Observer,
    ) -> Result<BundleReport, BundleOutcome> {
        let sha = hex::encode(rules.sha256.0);
        let invalid = |reason: String| Alarm::BundleInvalid {
            index,
            sha256: sha.clone(),
            reason,
        };
        let limits = Limits::default();
        if rules.size > limits.max_archive as u64 {
            return Err(invalid(format!(
                "logged size {} is over the bundle limit {}",
                rules.size, limits.max_archive
            ))
            .into());
        }
        let bytes = match self
            .source
            .get(&format!("content/sha256/{sha}"), rules.size as usize)
        {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Alarm::BundleUnavailable {
                    index,
                    sha256: sha,
                    reason: "the content store does not have it (404)".to_owned(),
                }
                .into())
            }
            Err(reason) => {
                return Err(Alarm::BundleUnavailable {
                    index,
                    sha256: sha,
                    reason,
                }
                .into())
            }
        };
        let found = hex::encode(Sha256::digest(&bytes));
        if found != sha || bytes.len() as u64 != rules.size {
            return Err(Alarm::BundleHashMismatch {
                index,
                sha256: sha,
                found,
            }
            .into());
        }
        let bundle = Bundle::parse(&bytes, &limits).map_err(|e| invalid(e.to_string()))?;
        let m = bundle.manifest();
        if (m.version, m.created, m.expires) != (rules.version, rules.created, rules.expires) {
            return Err(invalid(format!(
                "manifest version/created/expires {}/{}/{} differ from the statement's {}/{}/{}",
                m.version, m.created, m.expires, rules.version, rules.created, rules.expires
            ))
            .into());
        }
        let (texts, mut lint) = vitrine_lint::rule_texts(&bundle)
            .map_err(|e| invalid(format!("rules do not parse: {e}")))?;
        if let Some(corpus) = &self.canaries {
            let found = vitrine_canary::bundle_findings(&bundle, corpus)
                .map_err(|e| invalid(format!("canary scan: {e}")))?;
            lint.findings.extend(found);
        }
        let findings = lint
            .findings
            .into_iter()
            .map(|f| {
                let key = f.key();
                AuditFinding {
                    acknowledged: rules
                        .allow
                        .iter()
                        .find(|a| a.finding.as_str() == key)
                        .map(|a| a.reason.as_str().to_owned()),
                    finding: f,
                }
            })
            .collect();
        let now: Vec<RuleState> = lint
            .rules
            .iter()
            .map(|r| RuleState {
                id: format!("{}:{}", r.file, r.name),
                digest: r.digest.clone(),
            })
            .collect();
        let previous = state.bundles.get(&m.name);
        let (added, removed, changed) = diff(previous.map_or(&[][..], |p| &p.rules[..]), &now);
        let report = BundleReport {
            index,
            name: m.name.clone(),
            version: m.version,
            sha256: sha.clone(),
            size: rules.size,
            rules: lint.rules.len(),
            findings,
            previous_version: previous.map(|p| p.version),
            added,
            removed,
            changed,
        };
        observer
            .bundle(&report, &bundle, &texts)
            .map_err(BundleOutcome::Observer)?;
        state.bundles.insert(
            m.name.clone(),
            BundleState {
                index,
                version: m.version,
                sha256: sha,
                rules: now,
            },
        );
        Ok(report)
    }
}

/// Why [`Auditor::bundle`] produced no report.
enum BundleOutcome {
    /// Something wrong with the bundle.
    Alarm(Alarm),
    /// The observer failed.
    Observer(String),
}

impl From<Alarm> for BundleOutcome {
    fn from(a: Alarm) -> Self {
        BundleOutcome::Alarm(a)
    }
}

/// (added, removed, changed) rule IDs between two versions.
fn diff(old: &[RuleState], new: &[RuleState]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let old: BTreeMap<&str, &str> = old
        .iter()
        .map(|r| (r.id.as_str(), r.digest.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = new
        .iter()
        .map(|r| (r.id.as_str(), r.digest.as_str()))
        .collect();
    let added = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    let changed = new
        .iter()
        .filter(|(k, d)| old.get(*k).is_some_and(|o| o != *d))
        .map(|(k, _)| k.to_string())
        .collect();
    (added, removed, changed)
}
