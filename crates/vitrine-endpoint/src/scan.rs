//! An endpoint's scan: the scan engine's options plus what the endpoint
//! adds (its own program, state and quarantine never scanned, the scan
//! cache in the state directory, the owner's allowlist, what is done with
//! each detection) and ClamAV's exit status. `vitrine scan` shows it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use vitrine_scan::{cache::ScanCache, FileReport, RuleSet, ScanOptions, Summary};

use crate::actions::{dispose, quarantine_file, Action};

/// What is done with each file that has a detection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Disposal {
    /// Reported only.
    #[default]
    Report,
    /// Moved, encoded, into the quarantine store (default
    /// STATE/quarantine).
    Quarantine(Option<PathBuf>),
    /// ClamAV's --move DIR.
    Move(PathBuf),
    /// ClamAV's --copy DIR.
    Copy(PathBuf),
    /// ClamAV's --remove.
    Remove,
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The endpoint state directory, if there is one (scan cache,
    /// quarantine; never scanned).
    pub state: Option<PathBuf>,
    /// Files larger than this are skipped; 0 is no limit (ClamAV).
    pub max_filesize: u64,
    /// Per-file rule matching limit.
    pub timeout: Duration,
    pub follow_symlinks: bool,
    pub one_file_system: bool,
    /// Walk into /proc, /sys and /dev below a path given.
    pub pseudo_filesystems: bool,
    /// Scanning threads (default: all cores).
    pub threads: Option<usize>,
    /// Container limits; `None`: containers are not opened.
    pub archives: Option<vitrine_archive::Limits>,
    pub alert_exceeds_max: bool,
    pub print_strings: bool,
    /// Every file's SHA-256 in its report.
    pub compute_sha256: bool,
    /// Report files answered from the scan cache one by one.
    pub report_cached: bool,
    /// Use (and update) the scan cache in the state directory.
    pub use_cache: bool,
    pub exclude: Vec<String>,
    pub exclude_dir: Vec<String>,
    pub allow: vitrine_scan::Allowlist,
    pub disposal: Disposal,
}

/// A scan ready to run: the engine's options, what to do with each
/// detection, and what the owner should know before it starts.
pub struct Prepared {
    pub options: ScanOptions,
    pub actions: Actions,
    /// Things that do not stop the scan but should be said (the scan
    /// cache could not be used, ...).
    pub warnings: Vec<String>,
    /// What opening the quarantine store recovered from an interrupted
    /// move, if it was opened.
    pub recovery: Option<vitrine_quarantine::Recovery>,
}

/// What is done with each file that has a detection.
pub struct Actions {
    action: Option<Action>,
    store: Option<vitrine_quarantine::Store>,
    target_dir: Option<PathBuf>,
    rules_label: String,
}

impl Actions {
    /// The action, if any.
    pub fn action(&self) -> Option<Action> {
        self.action
    }

    /// Applies the action to `report`'s file if it has a detection:
    /// `Some((action, Ok(where it went) | Err(why not)))`.
    pub fn apply(&self, report: &FileReport) -> Option<(Action, Result<String, String>)> {
        if !report.is_infected() {
            return None;
        }
        let action = self.action?;
        Some((
            action,
            match (&self.store, action) {
                (Some(store), Action::Quarantine) => {
                    quarantine_file(store, report, &self.rules_label)
                }
                (None, Action::Quarantine) => Err("no quarantine store is open".into()),
                (_, a) => dispose(a, report, self.target_dir.as_deref()),
            },
        ))
    }
}

/// Sets a scan up with `rules`: opens the scan cache and the quarantine
/// store, and refuses a --move/--copy directory that does not exist
/// before anything is scanned.
pub fn prepare(s: Settings, rules: &RuleSet) -> Result<Prepared> {
    let mut warnings = Vec::new();
    let mut opts = ScanOptions::default()
        .max_filesize(match s.max_filesize {
            0 => u64::MAX,
            n => n,
        })
        .timeout(s.timeout.max(Duration::from_secs(1)))
        .follow_symlinks(s.follow_symlinks)
        .one_file_system(s.one_file_system)
        .pseudo_filesystems(s.pseudo_filesystems)
        .compute_sha256(s.compute_sha256)
        .archives(s.archives.map(|l| vitrine_archive::Limits {
            max_ratio: l.max_ratio.max(1),
            ..l
        }))
        .alert_exceeds_max(s.alert_exceeds_max)
        .print_strings(s.print_strings)
        .allow(s.allow)
        .report_cached(s.report_cached);
    if let Some(n) = s.threads {
        opts = opts.threads(n);
    }
    if s.use_cache {
        // The cache only saves time: without a usable state directory the
        // scan goes on reading everything, and says why.
        let opened = match &s.state {
            Some(dir) => std::fs::create_dir_all(dir)
                .with_context(|| format!("creating {}", dir.display()))
                .and_then(|()| {
                    Ok(ScanCache::open(
                        &dir.join("scan-cache.sqlite"),
                        &opts.cache_profile(rules),
                    )?)
                }),
            None => Err(anyhow::anyhow!("no state directory")),
        };
        match opened {
            Ok(c) => opts = opts.cache(Some(Arc::new(c))),
            Err(e) => warnings.push(format!("scan cache not used: {e:#}")),
        }
    }
    let (action, target_dir, quarantine_dir) = match s.disposal {
        Disposal::Report => (None, None, None),
        Disposal::Quarantine(dir) => {
            let dir = match (dir, &s.state) {
                (Some(d), _) => d,
                (None, Some(state)) => state.join("quarantine"),
                (None, None) => bail!("no state directory for the quarantine store: give one"),
            };
            (Some(Action::Quarantine), None, Some(dir))
        }
        Disposal::Move(d) => (Some(Action::Move), Some(d), None),
        Disposal::Copy(d) => (Some(Action::Copy), Some(d), None),
        Disposal::Remove => (Some(Action::Remove), None, None),
    };
    if let Some(d) = &target_dir {
        if !std::fs::metadata(d).is_ok_and(|m| m.is_dir()) {
            bail!(
                "{} is not a directory; --move and --copy need an existing one",
                d.display()
            );
        }
    }
    let (store, recovery) = match &quarantine_dir {
        Some(dir) => {
            let (store, recovery) = vitrine_quarantine::Store::open(dir)
                .with_context(|| format!("opening the quarantine store {}", dir.display()))?;
            (Some(store), Some(recovery))
        }
        None => (None, None),
    };
    for g in &s.exclude {
        opts = opts.exclude(g);
    }
    for r in &s.exclude_dir {
        opts = opts.exclude_dir(r);
    }
    // Never scan ourselves: the program, the state (active bundles hold
    // rule text), the quarantine (samples, encoded but still samples) and
    // where --move and --copy put files.
    if let Ok(exe) = std::env::current_exe() {
        opts = opts.own_path(&exe);
    }
    for d in [&s.state, &quarantine_dir, &target_dir]
        .into_iter()
        .flatten()
    {
        opts = opts.own_path(d);
    }
    Ok(Prepared {
        options: opts,
        actions: Actions {
            action,
            store,
            target_dir,
            rules_label: rules.source().describe(),
        },
        warnings,
        recovery,
    })
}

/// ClamAV's exit status: 2 if a detected file could not be dealt with as
/// asked (it is still there), else 1 if something was found, else 2 if an
/// error prevented a complete scan, else 0.
pub fn exit_status(summary: &Summary, action_errors: u64) -> u8 {
    if action_errors > 0 {
        2
    } else if summary.infected_files > 0 {
        1
    } else if summary.errors > 0 {
        2
    } else {
        0
    }
}

/// The version of the one verified bundle the rules come from, if they
/// come from exactly one (what a submission reports).
pub fn bundle_version(rules: &RuleSet) -> Option<u64> {
    match rules.source() {
        vitrine_scan::RuleSource::VerifiedBundle { version, .. } => Some(*version),
        // Several channels: no single version to report.
        _ => None,
    }
}
