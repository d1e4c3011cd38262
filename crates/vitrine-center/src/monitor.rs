//! One monitor per log: `vitrine-audit`'s [`Auditor`] with the center's
//! [`Indexer`] as its observer, run every interval on a thread of its own
//! (the same verification, state and alarms as `vitrine audit --follow`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vitrine_audit::{AuditReport, Auditor, HttpSource, Source};
use vitrine_log::Authorization;
use vitrine_note::{VerifierKey, Verifiers};

use crate::index::{self, Indexer, LogKind};

/// A log the center follows.
#[derive(Clone)]
pub struct LogSource {
    /// Which one.
    pub kind: LogKind,
    /// Its URL (the tlog-tiles prefix).
    pub url: String,
    /// Its verifier key.
    pub key: VerifierKey,
    /// Who may log what (the log's `authorized` file).
    pub auth: Authorization,
}

/// A log's auditor and indexer.
pub struct Monitor {
    auditor: Auditor<HttpSource>,
    indexer: Indexer,
}

impl Monitor {
    /// A monitor of `log`, keeping the auditor's state in
    /// `state/<log>-audit` and writing the index at `index_path`.
    pub fn new(
        log: &LogSource,
        state: &Path,
        index_path: &Path,
        witnesses: Verifiers,
    ) -> Result<Self, String> {
        let source = HttpSource::new(&log.url).map_err(|e| e.to_string())?;
        // Review reports are fetched through the auditor's connections.
        let reports = source.clone();
        let auditor = Auditor::new(
            source,
            log.key.clone(),
            log.auth.clone(),
            state.join(format!("{}-audit", log.kind.as_str())),
        )
        .map_err(|e| e.to_string())?;
        let conn = index::open(index_path)
            .map_err(|e| format!("opening {}: {e}", index_path.display()))?;
        let indexer = Indexer::new(
            conn,
            log.kind,
            &log.url,
            log.key.clone(),
            witnesses,
            Box::new(move |path, limit| reports.get(path, limit)),
        )
        .map_err(|e| format!("opening {}: {e}", index_path.display()))?;
        Ok(Monitor { auditor, indexer })
    }

    /// One pass: verify what is new, index it, record the alarms. An
    /// error (the log unreachable, the index unwritable) is recorded as
    /// the log's last error and returned.
    pub fn pass(&mut self) -> Result<AuditReport, String> {
        match self.auditor.run_once_observed(&mut self.indexer) {
            Ok(report) => {
                self.indexer.pass_done(Some(&report.alarms), None)?;
                Ok(report)
            }
            Err(e) => {
                self.indexer.abandon();
                let message = e.to_string();
                // Best effort: the index may be what failed.
                let _ = self.indexer.pass_done(None, Some(&message));
                Err(message)
            }
        }
    }
}

/// Runs `monitor` every `interval` on a thread of its own until `stop`.
pub fn spawn(
    mut monitor: Monitor,
    name: &'static str,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("monitor-{name}"))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match monitor.pass() {
                    Ok(r) => {
                        for a in &r.alarms {
                            tracing::warn!(log = name, alarm = %a, "alarm");
                        }
                        tracing::debug!(log = name, size = r.size, "monitor pass");
                    }
                    Err(e) => tracing::warn!(log = name, error = %e, "monitor pass failed"),
                }
                let next = started + interval;
                while !stop.load(Ordering::Relaxed) && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(100).min(interval));
                }
            }
        })
        .expect("spawning a monitor thread")
}
