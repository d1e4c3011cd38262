//! The transparency center: a web view of everything the monitor verified
//! in a rules log and a custody log.
//!
//! `vitrine center serve` runs one monitor per log ([`monitor`]: the
//! auditor of `vitrine audit --follow`, with the same checks, state and
//! alarms), records what each pass verified in an index
//! ([`index`], `STATE/center.sqlite`), and serves pages from it
//! ([`web`]): the logs' heads and witnesses, every bundle version with its
//! rule diffs, lint findings, acknowledgements and reviews, releases, and
//! the custody log's receipts, accesses and deletions as charts. Every
//! page is rendered on the server from templates compiled into the
//! binary, works without JavaScript, and answers JSON at the same address.
//!
//! Nothing is shown that the monitor did not verify: the index is written
//! only by the monitor's observer, inside the pass that verified it.
//!
//! # What's in scope / out of scope
//!
//! In scope: following, indexing, serving. Out of scope: TLS and
//! authentication (put a reverse proxy in front; everything shown is
//! public by design), and writing to any log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod charts;
pub mod index;
pub mod monitor;
pub mod views;
pub mod web;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vitrine_note::Verifiers;

pub use index::LogKind;
pub use monitor::{LogSource, Monitor};

/// How a center runs.
pub struct Config {
    /// The rules log.
    pub rules: LogSource,
    /// The custody log, if followed.
    pub custody: Option<LogSource>,
    /// Witness keys whose cosignatures are shown (the trust policy's).
    pub witnesses: Verifiers,
    /// State directory: the monitors' state and the index.
    pub state: PathBuf,
    /// Time between monitor passes.
    pub interval: Duration,
}

/// The index's file in a state directory.
pub fn index_path(state: &std::path::Path) -> PathBuf {
    state.join("center.sqlite")
}

/// A running center's monitors; dropping it stops them.
pub struct Monitors {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Monitors {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the monitors of `config` (creating the state directory and the
/// index) and returns them with the router that serves the pages.
pub fn start(config: &Config) -> Result<(Monitors, axum::Router), String> {
    std::fs::create_dir_all(&config.state)
        .map_err(|e| format!("creating {}: {e}", config.state.display()))?;
    let path = index_path(&config.state);
    // Created before the first pass, so pages answer from the start.
    index::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (log, name) in std::iter::once((&config.rules, "rules"))
        .chain(config.custody.as_ref().map(|c| (c, "custody")))
    {
        let m = Monitor::new(log, &config.state, &path, config.witnesses.clone())?;
        threads.push(monitor::spawn(m, name, config.interval, stop.clone()));
    }
    Ok((Monitors { stop, threads }, web::router(web::Web::new(path))))
}
