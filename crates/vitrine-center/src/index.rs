//! The center's index: what the monitor verified, in one SQLite file
//! (`STATE/center.sqlite`), written only by [`Indexer`] (an
//! [`Observer`] of the monitor) and read by the web pages.
//!
//! Every write of a monitor pass is one transaction, committed before the
//! monitor's own state advances ([`Observer::verified`]): a crash between
//! the two makes the next pass hand the same entries over again, and every
//! insert is keyed by log index, so nothing is counted twice.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use vitrine_audit::{Alarm, BundleReport, Observer};
use vitrine_bundle::Bundle;
use vitrine_lint::RuleText;
use vitrine_note::Verifiers;
use vitrine_statements::Statement;
use vitrine_tlog::Checkpoint;

/// The index's schema; `user_version` says which one a file has.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs(
    log TEXT PRIMARY KEY, origin TEXT NOT NULL, url TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0, root TEXT, note TEXT,
    verified_at INTEGER, last_pass INTEGER, last_error TEXT);
CREATE TABLE IF NOT EXISTS checkpoints(
    log TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL,
    seen INTEGER NOT NULL, PRIMARY KEY(log, size));
CREATE TABLE IF NOT EXISTS witnesses(
    log TEXT NOT NULL, name TEXT NOT NULL, size INTEGER, timestamp INTEGER,
    seen INTEGER, problem TEXT, PRIMARY KEY(log, name));
CREATE TABLE IF NOT EXISTS alarms(
    id INTEGER PRIMARY KEY, log TEXT NOT NULL, kind TEXT NOT NULL,
    standing INTEGER NOT NULL, message TEXT NOT NULL, evidence TEXT,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, UNIQUE(log, message));
CREATE TABLE IF NOT EXISTS entries(
    log TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL, signer TEXT NOT NULL,
    text TEXT NOT NULL, cp_size INTEGER NOT NULL, PRIMARY KEY(log, idx));
CREATE TABLE IF NOT EXISTS bundles(
    idx INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,
    expires INTEGER NOT NULL, rules INTEGER NOT NULL, previous INTEGER,
    added TEXT NOT NULL, removed TEXT NOT NULL, changed TEXT NOT NULL,
    cp_size INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS bundles_by_name ON bundles(name, version);
CREATE INDEX IF NOT EXISTS bundles_by_sha ON bundles(sha256);
CREATE INDEX IF NOT EXISTS bundles_by_created ON bundles(created);
CREATE TABLE IF NOT EXISTS rule_texts(sha TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bundle_rules(
    bundle INTEGER NOT NULL, rule TEXT NOT NULL, text_sha TEXT NOT NULL,
    PRIMARY KEY(bundle, rule));
CREATE INDEX IF NOT EXISTS bundle_rules_by_rule ON bundle_rules(rule);
CREATE INDEX IF NOT EXISTS bundle_rules_by_text ON bundle_rules(text_sha);
CREATE TABLE IF NOT EXISTS findings(
    bundle INTEGER NOT NULL, n INTEGER NOT NULL, id TEXT NOT NULL, severity TEXT NOT NULL,
    rule TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, message TEXT NOT NULL,
    acknowledged TEXT, PRIMARY KEY(bundle, n));
CREATE INDEX IF NOT EXISTS findings_by_id ON findings(id);
CREATE TABLE IF NOT EXISTS reviews(
    idx INTEGER PRIMARY KEY, subject TEXT NOT NULL, verdict TEXT NOT NULL,
    reviewer TEXT NOT NULL, comment TEXT, report_sha TEXT, report TEXT, report_problem TEXT);
CREATE INDEX IF NOT EXISTS reviews_by_subject ON reviews(subject);
CREATE TABLE IF NOT EXISTS releases(
    idx INTEGER PRIMARY KEY, version TEXT NOT NULL, target TEXT NOT NULL,
    sha256 TEXT NOT NULL, commit_id TEXT NOT NULL, source TEXT NOT NULL,
    lockfile TEXT NOT NULL, recipe TEXT NOT NULL, toolchain TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS releases_by_sha ON releases(sha256);
CREATE TABLE IF NOT EXISTS custody(
    idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, time INTEGER NOT NULL, month TEXT NOT NULL,
    tenant TEXT NOT NULL, sample TEXT NOT NULL, who TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS custody_by_month ON custody(month, kind, idx);
CREATE INDEX IF NOT EXISTS custody_by_tenant ON custody(tenant, idx);
CREATE INDEX IF NOT EXISTS custody_by_sample ON custody(sample);
CREATE TABLE IF NOT EXISTS custody_counts(
    month TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY(month, tenant, kind));
PRAGMA user_version = 1;
";

/// Which of the center's logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogKind {
    /// The rules log: bundles, reviews, releases.
    Rules,
    /// The custody log: receipts, accesses, deletions.
    Custody,
}

impl LogKind {
    /// Its name in paths and the index.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Rules => "rules",
            LogKind::Custody => "custody",
        }
    }

    /// From a path segment.
    pub fn parse(s: &str) -> Option<LogKind> {
        match s {
            "rules" => Some(LogKind::Rules),
            "custody" => Some(LogKind::Custody),
            _ => None,
        }
    }
}

/// Opens (creating) the index at `path`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens the index for reading only (the web pages).
pub fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Unix seconds now.
pub fn now() -> u64 {
    vitrine_endpoint::state::now()
}

/// `YYYY-MM` of a unix time (UTC).
pub fn month_of(t: u64) -> String {
    vitrine_endpoint::state::human_time(t)[..7].to_owned()
}

fn hex_sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Largest review report kept in the index.
pub const MAX_REPORT: usize = 1024 * 1024;

/// Fetches a review report from the log's content store (the monitor's
/// source): `Ok(None)` when the log does not serve it.
pub type FetchContent = Box<dyn Fn(&str, usize) -> Result<Option<Vec<u8>>, String> + Send>;

/// Writes what a monitor pass verified into the index: the [`Observer`]
/// of one log's monitor.
pub struct Indexer {
    conn: Connection,
    log: LogKind,
    witnesses: Verifiers,
    log_key: vitrine_note::VerifierKey,
    fetch: FetchContent,
    /// Size of the checkpoint the current pass verified.
    cp_size: u64,
    in_pass: bool,
}

fn err(e: rusqlite::Error) -> String {
    format!("writing the center's index: {e}")
}

impl Indexer {
    /// An indexer for `log` (origin and URL recorded), checking witness
    /// cosignatures with `witnesses` and fetching review reports with
    /// `fetch`.
    pub fn new(
        conn: Connection,
        log: LogKind,
        url: &str,
        log_key: vitrine_note::VerifierKey,
        witnesses: Verifiers,
        fetch: FetchContent,
    ) -> rusqlite::Result<Self> {
        conn.execute(
            "INSERT INTO logs(log, origin, url) VALUES (?1, ?2, ?3)
             ON CONFLICT(log) DO UPDATE SET origin = ?2, url = ?3",
            params![log.as_str(), log_key.name(), url],
        )?;
        for w in witnesses.iter() {
            conn.execute(
                "INSERT OR IGNORE INTO witnesses(log, name) VALUES (?1, ?2)",
                params![log.as_str(), w.name()],
            )?;
        }
        Ok(Indexer {
            conn,
            log,
            witnesses,
            log_key,
            fetch,
            cp_size: 0,
            in_pass: false,
        })
    }

    fn begin(&mut self) -> Result<(), String> {
        if !self.in_pass {
            self.conn.execute_batch("BEGIN").map_err(err)?;
            self.in_pass = true;
        }
        Ok(())
    }

    /// Ends a pass that failed: what it wrote is dropped (the monitor
    /// hands it over again).
    pub fn abandon(&mut self) {
        if self.in_pass {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.in_pass = false;
        }
    }

    /// Records the end of a pass: its alarms (standing ones replace the
    /// previous pass's; alarms about entries stay), when it ran, and the
    /// error that stopped it, if any.
    /// `alarms` is `None` when the pass did not run to the end (standing
    /// alarms then stay as they were).
    pub fn pass_done(
        &mut self,
        alarms: Option<&[Alarm]>,
        error: Option<&str>,
    ) -> Result<(), String> {
        self.begin()?;
        let now = now() as i64;
        let log = self.log.as_str();
        let tx = &self.conn;
        if alarms.is_some() {
            tx.execute(
                "UPDATE alarms SET standing = 0 WHERE log = ?1 AND kind IN
                 ('fork', 'fork-evidence', 'checkpoint-signature')",
                params![log],
            )
            .map_err(err)?;
        }
        for a in alarms.unwrap_or_default() {
            let (kind, standing, evidence) = describe_alarm(a);
            // The evidence's file name, not where this server keeps it.
            let mut message = a.to_string();
            if let Alarm::Fork { evidence: path, .. } | Alarm::ForkEvidence { evidence: path } = a {
                if let Some(name) = std::path::Path::new(path).file_name() {
                    message = message.replace(path.as_str(), &name.to_string_lossy());
                }
            }
            tx.execute(
                "INSERT INTO alarms(log, kind, standing, message, evidence, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT(log, message) DO UPDATE SET standing = ?3, last_seen = ?6,
                 evidence = coalesce(?5, evidence)",
                params![log, kind, standing, message, evidence, now],
            )
            .map_err(err)?;
        }
        tx.execute(
            "UPDATE logs SET last_pass = ?2, last_error = ?3 WHERE log = ?1",
            params![log, now, error],
        )
        .map_err(err)?;
        self.conn.execute_batch("COMMIT").map_err(err)?;
        self.in_pass = false;
        Ok(())
    }

    fn statement_row(&mut self, index: u64, signer: &str, s: &Statement) -> Result<(), String> {
        let tx = &self.conn;
        let text = s.to_text();
        tx.execute(
            "INSERT OR IGNORE INTO entries(log, idx, kind, signer, text, cp_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                self.log.as_str(),
                index as i64,
                s.kind().name(),
                signer,
                text,
                self.cp_size as i64
            ],
        )
        .map_err(err)?;
        match s {
            Statement::Review(r) => {
                let subject = hex::encode(r.subject.0);
                let (report_sha, report, problem) = match &r.report {
                    None => (None, None, None),
                    Some(sha) => {
                        let hex = hex::encode(sha.0);
                        match (self.fetch)(&format!("content/sha256/{hex}"), MAX_REPORT) {
                            Ok(Some(bytes)) if hex_sha(&bytes) == hex => (
                                Some(hex),
                                Some(String::from_utf8_lossy(&bytes).into_owned()),
                                None,
                            ),
                            Ok(Some(_)) => (
                                Some(hex),
                                None,
                                Some("the log served bytes that do not hash to it".to_owned()),
                            ),
                            Ok(None) => (
                                Some(hex),
                                None,
                                Some("the log's content store does not have it".to_owned()),
                            ),
                            Err(e) => (Some(hex), None, Some(format!("not fetched: {e}"))),
                        }
                    }
                };
                tx.execute(
                    "INSERT OR IGNORE INTO reviews(idx, subject, verdict, reviewer, comment,
                     report_sha, report, report_problem) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        index as i64,
                        subject,
                        r.verdict.as_str(),
                        signer,
                        r.comment.as_ref().map(|c| c.as_str()),
                        report_sha,
                        report,
                        problem
                    ],
                )
                .map_err(err)?;
            }
            Statement::Release(r) => {
                tx.execute(
                    "INSERT OR IGNORE INTO releases(idx, version, target, sha256, commit_id,
                     source, lockfile, recipe, toolchain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        index as i64,
                        r.version.as_str(),
                        r.target.as_str(),
                        hex::encode(r.sha256.0),
                        r.commit.to_string(),
                        hex::encode(r.source_sha256.0),
                        hex::encode(r.lockfile_sha256.0),
                        hex::encode(r.recipe_sha256.0),
                        r.toolchain.as_str()
                    ],
                )
                .map_err(err)?;
            }
            Statement::Receipt(r) => self.custody(
                index,
                "receipt",
                r.time,
                r.tenant.as_str(),
                &hex::encode(r.sample.0),
                None,
                Some(format!("policy {}", r.policy.as_str())),
            )?,
            Statement::Access(a) => self.custody(
                index,
                "access",
                a.time,
                a.tenant.as_str(),
                &hex::encode(a.sample.0),
                Some(a.who.as_str()),
                Some(format!(
                    "{} (sealed to recipient key {})",
                    a.purpose.as_str(),
                    hex::encode(a.recipient.0)
                )),
            )?,
            Statement::Deletion(d) => self.custody(
                index,
                "deletion",
                d.time,
                d.tenant.as_str(),
                &hex::encode(d.sample.0),
                None,
                Some(d.reason.as_str().to_owned()),
            )?,
            _ => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn custody(
        &self,
        index: u64,
        kind: &str,
        time: u64,
        tenant: &str,
        sample: &str,
        who: Option<&str>,
        detail: Option<String>,
    ) -> Result<(), String> {
        let month = month_of(time);
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO custody(idx, kind, time, month, tenant, sample, who, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    index as i64,
                    kind,
                    time as i64,
                    month,
                    tenant,
                    sample,
                    who,
                    detail
                ],
            )
            .map_err(err)?;
        if n == 1 {
            self.conn
                .execute(
                    "INSERT INTO custody_counts(month, tenant, kind, n) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT(month, tenant, kind) DO UPDATE SET n = n + 1",
                    params![month, tenant, kind],
                )
                .map_err(err)?;
        }
        Ok(())
    }
}

/// (kind, standing, evidence) of an alarm. Standing alarms are about the
/// log as a whole and last while the monitor keeps raising them; the
/// others are about one entry and stay.
fn describe_alarm(a: &Alarm) -> (&'static str, bool, Option<String>) {
    // The evidence file as people read it: the checkpoint verified before
    // and the one presented now.
    let evidence = |path: &str| {
        let bytes = std::fs::read(path).ok()?;
        let bytes = &bytes[..bytes.len().min(64 * 1024)];
        let text = match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) => format!(
                "{}\n\nThe checkpoint verified before:\n{}\nThe checkpoint presented now:\n{}",
                v["detail"].as_str().unwrap_or_default(),
                v["verified_checkpoint"].as_str().unwrap_or_default(),
                v["presented_checkpoint"].as_str().unwrap_or_default()
            ),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        };
        Some(text)
    };
    match a {
        Alarm::CheckpointSignature { .. } => ("checkpoint-signature", true, None),
        Alarm::Fork { evidence: e, .. } => ("fork", true, evidence(e)),
        Alarm::ForkEvidence { evidence: e } => ("fork-evidence", true, evidence(e)),
        Alarm::InvalidEntry { .. } => ("invalid-entry", false, None),
        Alarm::BundleUnavailable { .. } => ("withheld-content", false, None),
        Alarm::BundleHashMismatch { .. } => ("content-mismatch", false, None),
        Alarm::BundleInvalid { .. } => ("invalid-bundle", false, None),
        _ => ("other", false, None),
    }
}

impl Observer for Indexer {
    fn checkpoint(&mut self, note: &[u8], cp: &Checkpoint) -> Result<(), String> {
        self.begin()?;
        self.cp_size = cp.size;
        let now = now() as i64;
        let log = self.log.as_str();
        let root = hex::encode(cp.root);
        let note_text = String::from_utf8_lossy(note).into_owned();
        self.conn
            .execute(
                "UPDATE logs SET size = ?2, root = ?3, note = ?4, verified_at = ?5 WHERE log = ?1",
                params![log, cp.size as i64, root, note_text, now],
            )
            .map_err(err)?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO checkpoints(log, size, root, note, seen)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![log, cp.size as i64, root, note_text, now],
            )
            .map_err(err)?;
        // Each witness of the policy, one at a time, so that one bad
        // cosignature does not hide the others.
        for w in self.witnesses.iter() {
            let one = Verifiers::from_keys([w.clone()]);
            match vitrine_tlog::open_checkpoint(note, &self.log_key, &one) {
                Ok(opened) => {
                    if let Some(sig) = opened.cosignatures.first() {
                        self.conn
                            .execute(
                                "UPDATE witnesses SET size = ?3, timestamp = ?4, seen = ?5,
                                 problem = NULL WHERE log = ?1 AND name = ?2
                                 AND (size IS NULL OR size <= ?3)",
                                params![
                                    log,
                                    w.name(),
                                    cp.size as i64,
                                    sig.timestamp().unwrap_or(0) as i64,
                                    now
                                ],
                            )
                            .map_err(err)?;
                    }
                }
                Err(e) => {
                    self.conn
                        .execute(
                            "UPDATE witnesses SET problem = ?3 WHERE log = ?1 AND name = ?2",
                            params![log, w.name(), format!("invalid cosignature: {e}")],
                        )
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }

    fn statement(
        &mut self,
        index: u64,
        signer: &str,
        statement: &Statement,
        _entry: &[u8],
    ) -> Result<(), String> {
        self.begin()?;
        self.statement_row(index, signer, statement)
    }

    fn bundle(
        &mut self,
        report: &BundleReport,
        bundle: &Bundle,
        rules: &BTreeMap<String, RuleText>,
    ) -> Result<(), String> {
        self.begin()?;
        let m = bundle.manifest();
        let json =
            |v: &Vec<String>| serde_json::to_string(v).expect("invariant: strings serialize");
        let tx = &self.conn;
        let idx = report.index as i64;
        tx.execute(
            "INSERT OR REPLACE INTO bundles(idx, name, version, sha256, size, created, expires,
             rules, previous, added, removed, changed, cp_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                idx,
                report.name,
                report.version as i64,
                report.sha256,
                report.size as i64,
                m.created as i64,
                m.expires as i64,
                report.rules as i64,
                report.previous_version.map(|v| v as i64),
                json(&report.added),
                json(&report.removed),
                json(&report.changed),
                self.cp_size as i64
            ],
        )
        .map_err(err)?;
        for (id, r) in rules {
            let sha = hex_sha(r.text.as_bytes());
            tx.execute(
                "INSERT OR IGNORE INTO rule_texts(sha, text) VALUES (?1, ?2)",
                params![sha, r.text],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT OR REPLACE INTO bundle_rules(bundle, rule, text_sha) VALUES (?1, ?2, ?3)",
                params![idx, id, sha],
            )
            .map_err(err)?;
        }
        for (n, f) in report.findings.iter().enumerate() {
            tx.execute(
                "INSERT OR REPLACE INTO findings(bundle, n, id, severity, rule, file, line,
                 message, acknowledged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    idx,
                    n as i64,
                    f.finding.id,
                    f.finding.severity.as_str(),
                    f.finding.rule,
                    f.finding.file,
                    f.finding.line as i64,
                    f.finding.message,
                    f.acknowledged
                ],
            )
            .map_err(err)?;
        }
        Ok(())
    }

    fn verified(&mut self, _size: u64) -> Result<(), String> {
        if self.in_pass {
            self.conn.execute_batch("COMMIT").map_err(err)?;
            self.in_pass = false;
        }
        Ok(())
    }
}
