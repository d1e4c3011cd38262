//! The parallel scan: a walker feeds paths to worker threads, each with its
//! own yara-x `Scanner`; reports stream back to the caller's sink.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::cache::ScanCache;
use crate::hashdb::HashAlgorithm;
use crate::rules::{RuleSet, PER_FILE_VARIABLES};
use crate::Error;

/// How to scan. Built with [`ScanOptions::default`] and its setters.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    threads: usize,
    max_filesize: u64,
    timeout: Duration,
    follow_symlinks: bool,
    one_file_system: bool,
    excludes: Vec<String>,
    exclude_dirs: Vec<String>,
    compute_sha256: bool,
    archives: Option<vitrine_archive::Limits>,
    alert_exceeds_max: bool,
    cache: Option<Arc<ScanCache>>,
    report_cached: bool,
    own: Vec<(u64, u64)>,
    pseudo_filesystems: bool,
    print_strings: bool,
    allow: Option<Arc<crate::Allowlist>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_filesize: 100 * 1024 * 1024,
            timeout: Duration::from_secs(60),
            follow_symlinks: false,
            one_file_system: false,
            excludes: Vec::new(),
            exclude_dirs: Vec::new(),
            compute_sha256: false,
            archives: Some(vitrine_archive::Limits::default()),
            alert_exceeds_max: false,
            cache: None,
            report_cached: true,
            own: Vec::new(),
            pseudo_filesystems: false,
            print_strings: false,
            allow: None,
        }
    }
}

impl ScanOptions {
    /// Never scans `path` (a file, or a directory and all below it): the
    /// scanner's own program and state, which hold rule text and
    /// quarantined samples. Matched by device and inode, whatever name
    /// reaches them; reported as skipped. A path that does not exist is
    /// ignored.
    pub fn own_path(mut self, path: &Path) -> Self {
        if let Ok(m) = std::fs::metadata(path) {
            self.own.push((m.dev(), m.ino()));
        }
        self
    }
    /// Also walk into the pseudo-filesystems `/proc`, `/sys` and `/dev`
    /// (by default, as ClamAV, a directory that is one of them, by device
    /// and inode whatever name reaches it, is not entered below a path
    /// given to scan, and is reported as skipped; a path given to scan is
    /// always scanned).
    pub fn pseudo_filesystems(mut self, yes: bool) -> Self {
        self.pseudo_filesystems = yes;
        self
    }
    /// Number of scanning threads (at least 1).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }
    /// Files larger than this many bytes are skipped and reported as such
    /// (`u64::MAX`: no limit).
    pub fn max_filesize(mut self, bytes: u64) -> Self {
        self.max_filesize = bytes;
        self
    }
    /// Per-file time limit for YARA matching.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Follow symbolic links found while walking (loops are detected).
    pub fn follow_symlinks(mut self, yes: bool) -> Self {
        self.follow_symlinks = yes;
        self
    }
    /// Do not cross into other file systems.
    pub fn one_file_system(mut self, yes: bool) -> Self {
        self.one_file_system = yes;
        self
    }
    /// Glob patterns, matched against the whole path and the file name;
    /// a matching directory is not entered.
    pub fn exclude(mut self, glob: &str) -> Self {
        self.excludes.push(glob.to_string());
        self
    }
    /// A regular expression (ClamAV's `--exclude-dir`), searched for in
    /// the path of each directory, as walked, with and without a trailing
    /// `/`; a matching directory is not entered.
    pub fn exclude_dir(mut self, regex: &str) -> Self {
        self.exclude_dirs.push(regex.to_string());
        self
    }
    /// Compute every file's SHA-256 for the report (otherwise only when a
    /// hash signature needs it).
    pub fn compute_sha256(mut self, yes: bool) -> Self {
        self.compute_sha256 = yes;
        self
    }
    /// The configured thread count.
    pub fn thread_count(&self) -> usize {
        self.threads
    }
    /// Look inside containers under these limits (`None`: do not open
    /// containers). On by default with [`vitrine_archive::Limits::default`].
    pub fn archives(mut self, limits: Option<vitrine_archive::Limits>) -> Self {
        self.archives = limits;
        self
    }
    /// Never reports a file (or member) whose SHA-256, or a detection whose
    /// name, is on `allow`.
    pub fn allow(mut self, allow: crate::Allowlist) -> Self {
        self.allow = (!allow.is_empty()).then(|| Arc::new(allow));
        self
    }

    /// Records, for each YARA detection, the strings that matched with
    /// their offsets (`yr scan -s`); off by default.
    pub fn print_strings(mut self, yes: bool) -> Self {
        self.print_strings = yes;
        self
    }
    /// Report a container that exceeds a limit as a detection
    /// (`Heuristics.Limits.Exceeded.*`), not only as incomplete.
    pub fn alert_exceeds_max(mut self, yes: bool) -> Self {
        self.alert_exceeds_max = yes;
        self
    }
    /// Skip files found clean before under the same profile, and remember
    /// new clean verdicts. Open the cache with [`ScanOptions::cache_profile`].
    pub fn cache(mut self, cache: Option<Arc<ScanCache>>) -> Self {
        self.cache = cache;
        self
    }
    /// Whether files clean from the cache get a [`FileReport`] each (the
    /// default) or are only counted in the [`Summary`]: output that lists
    /// only detections saves the per-file report.
    pub fn report_cached(mut self, yes: bool) -> Self {
        self.report_cached = yes;
        self
    }
    /// The cache profile for `rules` under these options: a digest of the
    /// rules and of every option that can change a verdict.
    pub fn cache_profile(&self, rules: &RuleSet) -> String {
        let mut h = Sha256::new();
        h.update(rules.digest());
        match &self.archives {
            None => h.update(b"archives:off"),
            Some(l) => h.update(format!(
                "archives:{}:{}:{}:{}:{}",
                l.max_depth, l.max_members, l.max_total_bytes, l.max_member_size, l.max_ratio
            )),
        }
        h.update(format!("alert:{}", self.alert_exceeds_max));
        if let Some(a) = &self.allow {
            h.update(b"allow:");
            h.update(a.digest());
        }
        hex::encode(h.finalize())
    }
}

/// What to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file or directory.
    Path(PathBuf),
    /// Standard input, read to its end.
    Stdin,
}

/// A metadata value of a YARA rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum MetaValue {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Text (byte strings are shown with invalid UTF-8 replaced).
    Str(String),
}

/// One detection in one file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Detection {
    /// A YARA rule matched.
    Yara {
        /// Rule identifier.
        rule: String,
        /// Rule namespace.
        namespace: String,
        /// Rule tags.
        tags: Vec<String>,
        /// Rule metadata, in the rule's order.
        meta: Vec<(String, MetaValue)>,
        /// With [`ScanOptions::print_strings`]: the strings that matched.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        strings: Vec<StringMatch>,
    },
    /// A hash signature matched.
    Hash {
        /// Detection name from the signature.
        name: String,
        /// Which hash matched.
        algorithm: HashAlgorithm,
    },
    /// A heuristic: a container exceeded a limit (`--alert-exceeds-max`).
    Heuristic {
        /// E.g. `Heuristics.Limits.Exceeded.MaxRatio`.
        name: String,
    },
}

/// Longest part of a matched string kept in a [`StringMatch`].
pub const MAX_STRING_DATA: usize = 64;

/// One match of one of a rule's strings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StringMatch {
    /// The string's identifier, e.g. `$a`.
    pub identifier: String,
    /// Offset of the match in the file (or member), bytes.
    pub offset: u64,
    /// Length of the match, bytes.
    pub length: u64,
    /// The matched bytes (at most [`MAX_STRING_DATA`]), printable ASCII as
    /// is and anything else as `\xNN`.
    pub data: String,
}

/// `bytes` as printable ASCII, anything else (and `\`) escaped.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

impl Detection {
    /// The name printed in `PATH: NAME FOUND`.
    pub fn name(&self) -> &str {
        match self {
            Detection::Yara { rule, .. } => rule,
            Detection::Hash { name, .. } => name,
            Detection::Heuristic { name } => name,
        }
    }
}

/// Why a file was not scanned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// Larger than the maximum file size.
    TooLarge {
        /// The file's size, or at least this many bytes if it grew.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A FIFO, socket or device.
    NotRegular {
        /// `fifo`, `socket`, `char_device` or `block_device`.
        kind: &'static str,
    },
    /// A symbolic link, not followed (`--follow-symlinks` to follow).
    Symlink,
    /// A symbolic link that leads back to one of its own ancestors.
    SymlinkLoop,
    /// The scanner's own program or state directory.
    Own,
    /// `/proc`, `/sys` or `/dev`, reached below a path given to scan.
    PseudoFilesystem {
        /// Which: `/proc`, `/sys` or `/dev`.
        mount: &'static str,
    },
    /// Matched `--exclude` or `--exclude-dir`.
    Excluded,
}

impl SkipReason {
    /// The reason's name in JSON (`reason`) and in
    /// [`Summary::skipped_by_reason`].
    pub fn key(&self) -> &'static str {
        match self {
            SkipReason::TooLarge { .. } => "too_large",
            SkipReason::NotRegular { .. } => "not_regular",
            SkipReason::Symlink => "symlink",
            SkipReason::SymlinkLoop => "symlink_loop",
            SkipReason::Own => "own",
            SkipReason::PseudoFilesystem { .. } => "pseudo_filesystem",
            SkipReason::Excluded => "excluded",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TooLarge { bytes, limit } => {
                write!(f, "larger than the size limit ({bytes} > {limit} bytes)")
            }
            SkipReason::NotRegular { kind } => write!(f, "not a regular file ({kind})"),
            SkipReason::Symlink => write!(f, "symbolic link not followed"),
            SkipReason::SymlinkLoop => write!(f, "symbolic link loop"),
            SkipReason::Own => write!(f, "Vitrine's own program or state, not scanned"),
            SkipReason::PseudoFilesystem { mount } => write!(
                f,
                "pseudo-filesystem {mount}, not entered (--scan-pseudo-filesystems to scan it)"
            ),
            SkipReason::Excluded => write!(f, "excluded"),
        }
    }
}

/// The outcome for one file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Scanned completely (detections may be empty).
    Scanned,
    /// Deliberately not scanned.
    Skipped(SkipReason),
    /// Could not be scanned completely.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// The report for one file (or directory that could not be read).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileReport {
    /// The path as walked (`stdin` for standard input).
    pub path: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Lower-case hex SHA-256 of the bytes scanned, when computed.
    pub sha256: Option<String>,
    /// Every detection.
    pub detections: Vec<Detection>,
    /// Scanned, skipped or error.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Members of this file (a container) with detections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberReport>,
    /// Parts of this container that were not looked at: a limit stopped
    /// reading, or the data is damaged or encrypted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<Incomplete>,
    /// Clean from the scan cache: unchanged since a clean scan under the
    /// same rules, so not read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// Its SHA-256 is on the owner's allowlist: what was found in it is not
    /// reported.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allowed: bool,
}

/// Detections inside one member of a container.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MemberReport {
    /// Member names from the outside in, joined by `!`
    /// (`dir/inner.tar.gz!inner.tar!file`); the file's own path is not
    /// included.
    pub path: String,
    /// Decompressed size.
    pub size: u64,
    /// Every detection.
    pub detections: Vec<Detection>,
}

/// A part of a container that was not scanned.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Incomplete {
    /// Member path as in [`MemberReport::path`] (empty: the file itself).
    pub path: String,
    /// Why.
    #[serde(flatten)]
    pub reason: IncompleteReason,
}

/// Why part of a container was not scanned.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum IncompleteReason {
    /// A limit was exceeded.
    LimitExceeded {
        /// Which one.
        limit: vitrine_archive::LimitKind,
        /// The ClamAV-style heuristic name.
        heuristic: &'static str,
    },
    /// Damaged, truncated, encrypted or unsupported.
    Corrupt {
        /// What the decoder said.
        message: String,
    },
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            IncompleteReason::LimitExceeded { limit, heuristic } => {
                write!(
                    f,
                    "archive {limit} limit exceeded ({heuristic}); not scanned further"
                )
            }
            IncompleteReason::Corrupt { message } => {
                write!(f, "damaged container, read up to the damage: {message}")
            }
        }
    }
}

impl FileReport {
    fn new(path: String, outcome: Outcome) -> FileReport {
        FileReport {
            path,
            size: None,
            sha256: None,
            detections: Vec::new(),
            outcome,
            members: Vec::new(),
            incomplete: Vec::new(),
            cached: false,
            allowed: false,
        }
    }

    /// Whether anything was detected, in the file or inside it.
    pub fn is_infected(&self) -> bool {
        !self.detections.is_empty() || !self.members.is_empty()
    }

    /// Every detection with where it is: `(member path, detection)`, the
    /// member path empty for the file itself.
    pub fn all_detections(&self) -> impl Iterator<Item = (&str, &Detection)> {
        self.detections.iter().map(|d| ("", d)).chain(
            self.members
                .iter()
                .flat_map(|m| m.detections.iter().map(move |d| (m.path.as_str(), d))),
        )
    }
}

/// Live counters, for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files scanned so far.
    pub files: AtomicU64,
    /// Bytes scanned so far.
    pub bytes: AtomicU64,
    /// Container members scanned so far.
    pub members: AtomicU64,
    /// Files clean from the cache that got no report of their own
    /// ([`ScanOptions::report_cached`] off).
    pub cached: AtomicU64,
}

/// Totals of a scan.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Files scanned completely.
    pub files_scanned: u64,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Files with at least one detection.
    pub infected_files: u64,
    /// Detections in all.
    pub detections: u64,
    /// Files skipped (size limit, special files, links).
    pub skipped: u64,
    /// `skipped`, by [`SkipReason::key`].
    pub skipped_by_reason: BTreeMap<&'static str, u64>,
    /// Files or directories that could not be scanned.
    pub errors: u64,
    /// Container members scanned.
    pub archive_members: u64,
    /// Files with parts not scanned (a limit, damage or encryption).
    pub incomplete: u64,
    /// Files skipped as unchanged since a clean scan (counted in
    /// `files_scanned`, not in `bytes_scanned`).
    pub cached: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Summary {
    fn add(&mut self, r: &FileReport) {
        match &r.outcome {
            Outcome::Scanned => {
                self.files_scanned += 1;
                if r.cached {
                    self.cached += 1;
                } else {
                    self.bytes_scanned += r.size.unwrap_or(0);
                }
            }
            Outcome::Skipped(reason) => {
                self.skipped += 1;
                *self.skipped_by_reason.entry(reason.key()).or_insert(0) += 1;
            }
            Outcome::Error { .. } => self.errors += 1,
        }
        if r.is_infected() {
            self.infected_files += 1;
            self.detections += r.all_detections().count() as u64;
        }
        if !r.incomplete.is_empty() {
            self.incomplete += 1;
        }
    }
}

/// Scans `targets` with `rules`, calling `sink` with each file's report (on
/// the calling thread, in completion order) and returning the totals.
pub fn scan(
    rules: &RuleSet,
    opts: &ScanOptions,
    targets: &[Target],
    progress: &Progress,
    mut sink: impl FnMut(&FileReport),
) -> Result<Summary, Error> {
    let excludes = build_excludes(&opts.excludes)?;
    let exclude_dirs = build_exclude_dirs(&opts.exclude_dirs)?;
    let pseudo: Vec<(u64, u64, &'static str)> = if opts.pseudo_filesystems {
        Vec::new()
    } else {
        PSEUDO_FILESYSTEMS
            .iter()
            .filter_map(|&p| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino(), p)))
            .collect()
    };
    let start = Instant::now();
    let mut summary = Summary::default();
    let (path_tx, path_rx) = bounded::<PathBuf>(4096);
    let (report_tx, report_rx) = bounded::<FileReport>(1024);

    std::thread::scope(|s| {
        for _ in 0..opts.threads {
            let path_rx = path_rx.clone();
            let report_tx = report_tx.clone();
            s.spawn(move || {
                let mut worker = Worker::new(rules, opts, progress);
                for path in path_rx {
                    let report = worker.scan_path(&path);
                    if report_tx.send(report).is_err() {
                        break;
                    }
                }
            });
        }
        drop(path_rx);

        let walk_report_tx = report_tx.clone();
        let excludes = &excludes;
        let exclude_dirs = &exclude_dirs;
        let pseudo = &pseudo;
        s.spawn(move || {
            for target in targets {
                match target {
                    Target::Stdin => {
                        let mut worker = Worker::new(rules, opts, progress);
                        let report = worker.scan_stdin();
                        let _ = walk_report_tx.send(report);
                    }
                    Target::Path(p) => walk(
                        p,
                        opts,
                        WalkFilters {
                            excludes,
                            exclude_dirs: exclude_dirs.as_ref(),
                            pseudo,
                        },
                        progress,
                        &path_tx,
                        &walk_report_tx,
                    ),
                }
            }
        });
        drop(report_tx);

        for report in report_rx {
            summary.add(&report);
            sink(&report);
        }
    });
    if let Some(cache) = &opts.cache {
        cache.flush()?;
    }
    summary.archive_members = progress.members.load(Ordering::Relaxed);
    let unreported = progress.cached.load(Ordering::Relaxed);
    summary.files_scanned += unreported;
    summary.cached += unreported;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// One scanning thread's state, for callers that scan one buffer or file
/// at a time (a daemon's connection): its own yara-x scanner and buffer,
/// the same detections, archive handling and limits as [`scan`].
pub struct Session<'r> {
    worker: Worker<'r>,
}

impl<'r> Session<'r> {
    /// A session over `rules` with `opts` (its thread count, walking and
    /// cache settings are not used), counting into `progress`.
    pub fn new(rules: &'r RuleSet, opts: &'r ScanOptions, progress: &'r Progress) -> Session<'r> {
        Session {
            worker: Worker::new(rules, opts, progress),
        }
    }

    /// Scans `data`, reported under the name `shown`. Data larger than
    /// the maximum file size is skipped, as a file would be.
    pub fn scan_bytes(&mut self, shown: String, data: Vec<u8>) -> FileReport {
        let limit = self.worker.opts.max_filesize;
        if data.len() as u64 > limit {
            return FileReport::new(
                shown,
                Outcome::Skipped(SkipReason::TooLarge {
                    bytes: data.len() as u64,
                    limit,
                }),
            );
        }
        self.worker.buf = data;
        self.worker.scan_buffer(shown, None)
    }

    /// Scans the open file `file`, reported under the name `shown`.
    pub fn scan_open_file(&mut self, shown: String, file: &std::fs::File) -> FileReport {
        let limit = self.worker.opts.max_filesize;
        let mut data = Vec::new();
        if let Err(e) = file.take(limit.saturating_add(1)).read_to_end(&mut data) {
            return FileReport::new(
                shown,
                Outcome::Error {
                    message: io_message(&e),
                },
            );
        }
        self.scan_bytes(shown, data)
    }
}

fn build_excludes(globs: &[String]) -> Result<GlobSet, Error> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| Error::BadExclude {
            glob: g.clone(),
            message: e.kind().to_string(),
        })?);
    }
    b.build().map_err(|e| Error::BadExclude {
        glob: globs.join(" "),
        message: e.to_string(),
    })
}

fn build_exclude_dirs(patterns: &[String]) -> Result<Option<regex::RegexSet>, Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    for p in patterns {
        if let Err(e) = regex::Regex::new(p) {
            return Err(Error::BadExcludeDir {
                pattern: p.clone(),
                message: e.to_string(),
            });
        }
    }
    regex::RegexSet::new(patterns)
        .map(Some)
        .map_err(|e| Error::BadExcludeDir {
            pattern: patterns.join(" "),
            message: e.to_string(),
        })
}

fn excluded(set: &GlobSet, path: &Path) -> bool {
    !set.is_empty() && (set.is_match(path) || path.file_name().is_some_and(|n| set.is_match(n)))
}

/// Whether the directory `path` matches an `--exclude-dir` expression.
fn excluded_dir(set: Option<&regex::RegexSet>, path: &Path) -> bool {
    let Some(set) = set else {
        return false;
    };
    let p = path.to_string_lossy();
    set.is_match(&p) || (!p.ends_with('/') && set.is_match(&format!("{p}/")))
}

fn walk(
    root: &Path,
    opts: &ScanOptions,
    WalkFilters {
        excludes,
        exclude_dirs,
        pseudo,
    }: WalkFilters<'_>,
    progress: &Progress,
    path_tx: &Sender<PathBuf>,
    report_tx: &Sender<FileReport>,
) {
    let mut wb = ignore::WalkBuilder::new(root);
    wb.standard_filters(false)
        .follow_links(opts.follow_symlinks)
        .same_file_system(opts.one_file_system)
        .threads(opts.threads.clamp(1, 4));
    if excluded(excludes, root) || (root.is_dir() && excluded_dir(exclude_dirs, root)) {
        let r = FileReport::new(
            root.display().to_string(),
            Outcome::Skipped(SkipReason::Excluded),
        );
        let _ = report_tx.send(r);
        return;
    }
    wb.build_parallel().run(|| {
        let path_tx = path_tx.clone();
        let report_tx = report_tx.clone();
        Box::new(move |res| {
            use ignore::WalkState;
            let report = match res {
                Ok(entry) => {
                    let Some(ft) = entry.file_type() else {
                        return WalkState::Continue;
                    };
                    // Excluded and pseudo-filesystem directories are
                    // reported (so counted) and not entered.
                    let skip = if entry.depth() == 0 {
                        None
                    } else if excluded(excludes, entry.path())
                        || (ft.is_dir() && excluded_dir(exclude_dirs, entry.path()))
                    {
                        Some(SkipReason::Excluded)
                    } else if ft.is_dir() && !pseudo.is_empty() {
                        std::fs::metadata(entry.path()).ok().and_then(|m| {
                            pseudo
                                .iter()
                                .find(|&&(dev, ino, _)| (dev, ino) == (m.dev(), m.ino()))
                                .map(|&(_, _, mount)| SkipReason::PseudoFilesystem { mount })
                        })
                    } else {
                        None
                    };
                    if let Some(reason) = skip {
                        let r = FileReport::new(
                            entry.path().display().to_string(),
                            Outcome::Skipped(reason),
                        );
                        return match report_tx.send(r) {
                            Ok(()) if ft.is_dir() => WalkState::Skip,
                            Ok(()) => WalkState::Continue,
                            Err(_) => WalkState::Quit,
                        };
                    }
                    if is_own(&opts.own, &entry) {
                        let r = FileReport::new(
                            entry.path().display().to_string(),
                            Outcome::Skipped(SkipReason::Own),
                        );
                        let _ = report_tx.send(r);
                        return if ft.is_dir() {
                            WalkState::Skip
                        } else {
                            WalkState::Continue
                        };
                    }
                    if ft.is_dir() {
                        return WalkState::Continue;
                    }
                    if ft.is_file() {
                        // Unchanged since a clean scan: answered here, from
                        // the walker's own stat, without opening the file
                        // or passing it to a worker.
                        if let Some(cache) = &opts.cache {
                            if let Ok(meta) = entry.metadata() {
                                // A file over the size limit is skipped
                                // whatever the cache says: the worker
                                // reports it.
                                if meta.is_file()
                                    && meta.len() <= opts.max_filesize
                                    && cache.is_clean(&meta)
                                {
                                    progress.files.fetch_add(1, Ordering::Relaxed);
                                    if !opts.report_cached {
                                        progress.cached.fetch_add(1, Ordering::Relaxed);
                                        return WalkState::Continue;
                                    }
                                    let mut r = FileReport::new(
                                        entry.path().display().to_string(),
                                        Outcome::Scanned,
                                    );
                                    r.size = Some(meta.len());
                                    r.cached = true;
                                    return match report_tx.send(r) {
                                        Ok(()) => WalkState::Continue,
                                        Err(_) => WalkState::Quit,
                                    };
                                }
                            }
                        }
                        return match path_tx.send(entry.into_path()) {
                            Ok(()) => WalkState::Continue,
                            Err(_) => WalkState::Quit,
                        };
                    }
                    let reason = if ft.is_symlink() {
                        SkipReason::Symlink
                    } else {
                        SkipReason::NotRegular {
                            kind: special_kind(&ft),
                        }
                    };
                    FileReport::new(entry.path().display().to_string(), Outcome::Skipped(reason))
                }
                Err(err) => walk_error_report(&err, root),
            };
            match report_tx.send(report) {
                Ok(()) => WalkState::Continue,
                Err(_) => WalkState::Quit,
            }
        })
    });
}

/// What the walker does not enter: `--exclude` globs, `--exclude-dir`
/// expressions, pseudo-filesystem roots (device, inode, name).
#[derive(Clone, Copy)]
struct WalkFilters<'a> {
    excludes: &'a GlobSet,
    exclude_dirs: Option<&'a regex::RegexSet>,
    pseudo: &'a [(u64, u64, &'static str)],
}

/// Pseudo-filesystems not entered by default, as ClamAV.
const PSEUDO_FILESYSTEMS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Whether `entry` is one of the scanner's own files or directories. The
/// inode number comes with the directory entry; the device is read only
/// when it matches one.
fn is_own(own: &[(u64, u64)], entry: &ignore::DirEntry) -> bool {
    if own.is_empty() {
        return false;
    }
    let ino = match entry.ino() {
        Some(i) => i,
        None => return false,
    };
    if !own.iter().any(|&(_, i)| i == ino) {
        return false;
    }
    let meta = if entry.path_is_symlink() {
        std::fs::metadata(entry.path())
    } else {
        std::fs::symlink_metadata(entry.path())
    };
    meta.is_ok_and(|m| own.contains(&(m.dev(), m.ino())))
}

fn special_kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char_device"
    } else if ft.is_block_device() {
        "block_device"
    } else {
        "unknown"
    }
}

fn walk_error_report(err: &ignore::Error, root: &Path) -> FileReport {
    fn find(err: &ignore::Error) -> (Option<&Path>, bool) {
        match err {
            ignore::Error::WithPath { path, err } => {
                let (p, l) = find(err);
                (p.or(Some(path.as_path())), l)
            }
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                find(err)
            }
            ignore::Error::Loop { child, .. } => (Some(child.as_path()), true),
            ignore::Error::Partial(errs) => errs.first().map_or((None, false), find),
            _ => (None, false),
        }
    }
    let (path, is_loop) = find(err);
    let path = path.unwrap_or(root).display().to_string();
    if is_loop {
        return FileReport::new(path, Outcome::Skipped(SkipReason::SymlinkLoop));
    }
    let message = match err.io_error() {
        Some(io) => io_message(io),
        None => err.to_string(),
    };
    FileReport::new(path, Outcome::Error { message })
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "Access denied".into(),
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        _ => e.to_string(),
    }
}

/// One scanning thread's state: its own yara-x scanner and read buffer.
struct Worker<'r> {
    rules: &'r RuleSet,
    opts: &'r ScanOptions,
    progress: &'r Progress,
    /// Made for the first file matched: a scan that matches nothing (every
    /// file clean from the scan cache) never loads the rules.
    scanner: Option<yara_x::Scanner<'r>>,
    buf: Vec<u8>,
}

impl<'r> Worker<'r> {
    fn new(rules: &'r RuleSet, opts: &'r ScanOptions, progress: &'r Progress) -> Worker<'r> {
        Worker {
            rules,
            opts,
            progress,
            scanner: None,
            buf: Vec::new(),
        }
    }

    /// This worker's scanner, made (and the rules loaded) on first use.
    fn scanner(&mut self) -> Result<&mut yara_x::Scanner<'r>, String> {
        if self.scanner.is_none() {
            let rules: &'r RuleSet = self.rules;
            let mut scanner = yara_x::Scanner::new(rules.yara().map_err(str::to_owned)?);
            scanner.set_timeout(self.opts.timeout);
            self.scanner = Some(scanner);
        }
        Ok(self
            .scanner
            .as_mut()
            .expect("invariant: the scanner was just made"))
    }

    fn scan_stdin(&mut self) -> FileReport {
        let path = "stdin".to_string();
        self.buf.clear();
        let limit = self.opts.max_filesize;
        if let Err(e) = std::io::stdin()
            .lock()
            .take(limit.saturating_add(1))
            .read_to_end(&mut self.buf)
        {
            return FileReport::new(
                path,
                Outcome::Error {
                    message: e.to_string(),
                },
            );
        }
        if self.buf.len() as u64 > limit {
            return FileReport::new(
                path,
                Outcome::Skipped(SkipReason::TooLarge {
                    bytes: self.buf.len() as u64,
                    limit,
                }),
            );
        }
        self.scan_buffer(path, None)
    }

    fn scan_path(&mut self, path: &Path) -> FileReport {
        let shown = path.display().to_string();
        // O_NONBLOCK: if the path was swapped for a FIFO after the walk saw
        // a regular file, opening must not wait for a writer.
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                return FileReport::new(
                    shown,
                    Outcome::Error {
                        message: io_message(&e),
                    },
                )
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                return FileReport::new(
                    shown,
                    Outcome::Error {
                        message: io_message(&e),
                    },
                )
            }
        };
        if !meta.is_file() {
            let kind = special_kind(&meta.file_type());
            return FileReport::new(shown, Outcome::Skipped(SkipReason::NotRegular { kind }));
        }
        let limit = self.opts.max_filesize;
        if meta.len() > limit {
            let mut r = FileReport::new(
                shown,
                Outcome::Skipped(SkipReason::TooLarge {
                    bytes: meta.len(),
                    limit,
                }),
            );
            r.size = Some(meta.len());
            return r;
        }
        // (Files unchanged since a clean scan never get here: the walker
        // answers them from the cache.)
        // The file is read, not memory-mapped: a file truncated by another
        // process while mapped would kill us with SIGBUS. Reading also
        // bounds what a growing file can make us hold.
        self.buf.clear();
        if let Err(e) = (&file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut self.buf)
        {
            return FileReport::new(
                shown,
                Outcome::Error {
                    message: io_message(&e),
                },
            );
        }
        if self.buf.len() as u64 > limit {
            return FileReport::new(
                shown,
                Outcome::Skipped(SkipReason::TooLarge {
                    bytes: self.buf.len() as u64,
                    limit,
                }),
            );
        }
        let report = self.scan_buffer(shown, Some((path, &meta)));
        if let Some(cache) = &self.opts.cache {
            let clean = report.outcome == Outcome::Scanned
                && !report.is_infected()
                && report.incomplete.is_empty();
            cache.record(&meta, file.metadata().ok().as_ref(), clean);
        }
        report
    }

    fn scan_buffer(
        &mut self,
        shown: String,
        file: Option<(&Path, &std::fs::Metadata)>,
    ) -> FileReport {
        // Take the buffer so members can be scanned while it is borrowed.
        let data = std::mem::take(&mut self.buf);
        let size = data.len() as u64;
        let sha256: Option<[u8; 32]> = if self.opts.compute_sha256 {
            Some(Sha256::digest(&data).into())
        } else {
            None
        };
        let mut report = FileReport::new(shown, Outcome::Scanned);
        report.size = Some(size);
        report.sha256 = sha256.map(hex::encode);
        let vars = self
            .rules
            .per_file
            .iter()
            .any(|&b| b)
            .then(|| per_file_values(&report.path, file, &data));
        let (detections, error) = self.match_data(&data, sha256.as_ref(), vars);
        report.detections = detections;
        if let Some(message) = error {
            report.outcome = Outcome::Error { message };
        }
        if let Some(limits) = self.opts.archives.clone() {
            if report.outcome == Outcome::Scanned && vitrine_archive::is_container(&data) {
                self.scan_members(&data, &limits, file, &mut report);
            }
        }
        // A file on the owner's allowlist reports nothing, inside it
        // either. Hashed only when something was found: clean files, the
        // common case, are never hashed for it.
        if report.is_infected() && self.allowed(&data, sha256.as_ref()) {
            report.detections.clear();
            report.members.clear();
            report.allowed = true;
        }
        self.buf = data;
        self.progress.files.fetch_add(1, Ordering::Relaxed);
        self.progress.bytes.fetch_add(size, Ordering::Relaxed);
        report
    }

    /// Scans every member of the container `data` into `report`.
    fn scan_members(
        &mut self,
        data: &[u8],
        limits: &vitrine_archive::Limits,
        file: Option<(&Path, &std::fs::Metadata)>,
        report: &mut FileReport,
    ) {
        use vitrine_archive::Event;
        let wants_vars = self.rules.per_file.iter().any(|&b| b);
        let progress = self.progress;
        let mut members = Vec::new();
        let mut incomplete = Vec::new();
        let mut error = None;
        vitrine_archive::walk(data, limits, &mut |ev| {
            match ev {
                Event::Member { path, data } => {
                    progress.members.fetch_add(1, Ordering::Relaxed);
                    let vars = wants_vars.then(|| {
                        let name = path.last().map(String::as_str).unwrap_or("");
                        let mut v = per_file_values(name, None, data);
                        if let Some((_, meta)) = file {
                            v[4] = user_name(meta.uid());
                        }
                        let ext = Path::new(name)
                            .extension()
                            .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
                            .unwrap_or_default();
                        v[2] = ext;
                        v
                    });
                    let (mut detections, err) = self.match_data(data, None, vars);
                    if !detections.is_empty() && self.allowed(data, None) {
                        detections.clear();
                    }
                    if !detections.is_empty() {
                        members.push(MemberReport {
                            path: path.join("!"),
                            size: data.len() as u64,
                            detections,
                        });
                    }
                    if let Some(message) = err {
                        error = Some(format!("{}: {message}", path.join("!")));
                        return std::ops::ControlFlow::Break(());
                    }
                }
                Event::LimitExceeded { path, limit } => incomplete.push(Incomplete {
                    path: path.join("!"),
                    reason: IncompleteReason::LimitExceeded {
                        limit,
                        heuristic: limit.heuristic_name(),
                    },
                }),
                Event::Corrupt { path, error } => incomplete.push(Incomplete {
                    path: path.join("!"),
                    reason: IncompleteReason::Corrupt { message: error },
                }),
            }
            std::ops::ControlFlow::Continue(())
        });
        if self.opts.alert_exceeds_max {
            for inc in &incomplete {
                if let IncompleteReason::LimitExceeded { heuristic, .. } = inc.reason {
                    let d = Detection::Heuristic {
                        name: heuristic.to_string(),
                    };
                    if !report.detections.contains(&d) {
                        report.detections.push(d);
                    }
                }
            }
        }
        report.members = members;
        report.incomplete = incomplete;
        if let Some(message) = error {
            report.outcome = Outcome::Error { message };
        }
    }

    /// Whether the owner's allowlist allows this blob by its SHA-256.
    fn allowed(&self, data: &[u8], sha256: Option<&[u8; 32]>) -> bool {
        self.opts
            .allow
            .as_ref()
            .is_some_and(|a| a.allows_data(data, sha256))
    }

    /// Hash signatures and YARA rules over one blob, less the detection
    /// names the owner's allowlist allows. `vars` are the per-file
    /// variables to set, when some rule uses them.
    fn match_data(
        &mut self,
        data: &[u8],
        sha256: Option<&[u8; 32]>,
        vars: Option<[String; 5]>,
    ) -> (Vec<Detection>, Option<String>) {
        let (mut detections, error) = self.match_data_raw(data, sha256, vars);
        if let Some(allow) = &self.opts.allow {
            detections.retain(|d| !allow.allows_name(d.name()));
        }
        (detections, error)
    }

    fn match_data_raw(
        &mut self,
        data: &[u8],
        sha256: Option<&[u8; 32]>,
        vars: Option<[String; 5]>,
    ) -> (Vec<Detection>, Option<String>) {
        let mut detections = Vec::new();
        if self.rules.hashes.wants(data.len() as u64) {
            for hit in self.rules.hashes.lookup(data, sha256) {
                detections.push(Detection::Hash {
                    name: hit.name,
                    algorithm: hit.algorithm,
                });
            }
        }
        let per_file = self.rules.per_file;
        let print_strings = self.opts.print_strings;
        let timeout = self.opts.timeout;
        let scanner = match self.scanner() {
            Ok(s) => s,
            Err(message) => return (detections, Some(message)),
        };
        if let Some(vars) = vars {
            for (i, var) in PER_FILE_VARIABLES.iter().enumerate() {
                if per_file[i] {
                    // Declared at compile time as strings, so this cannot fail.
                    let _ = scanner.set_global(var, vars[i].as_str());
                }
            }
        }
        match scanner.scan(data) {
            Ok(results) => {
                for rule in results.matching_rules() {
                    let mut strings = Vec::new();
                    if print_strings {
                        for p in rule.patterns() {
                            for m in p.matches() {
                                let data = m.data();
                                strings.push(StringMatch {
                                    identifier: p.identifier().to_string(),
                                    offset: m.range().start as u64,
                                    length: m.range().len() as u64,
                                    data: escape_bytes(&data[..data.len().min(MAX_STRING_DATA)]),
                                });
                            }
                        }
                    }
                    detections.push(Detection::Yara {
                        rule: rule.identifier().to_string(),
                        namespace: rule.namespace().to_string(),
                        tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
                        meta: rule
                            .metadata()
                            .map(|(k, v)| (k.to_string(), meta_value(v)))
                            .collect(),
                        strings,
                    });
                }
                (detections, None)
            }
            Err(yara_x::ScanError::Timeout) => (
                detections,
                Some(format!(
                    "scan timed out after {} s; file not scanned completely",
                    timeout.as_secs()
                )),
            ),
            Err(e) => (detections, Some(e.to_string())),
        }
    }
}

fn meta_value(v: yara_x::MetaValue<'_>) -> MetaValue {
    match v {
        yara_x::MetaValue::Integer(i) => MetaValue::Int(i),
        yara_x::MetaValue::Float(f) => MetaValue::Float(f),
        yara_x::MetaValue::Bool(b) => MetaValue::Bool(b),
        yara_x::MetaValue::String(s) => MetaValue::Str(s.to_string()),
        yara_x::MetaValue::Bytes(b) => MetaValue::Str(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Values of [`PER_FILE_VARIABLES`] for one file, as LOKI and THOR set them.
fn per_file_values(
    shown: &str,
    file: Option<(&Path, &std::fs::Metadata)>,
    data: &[u8],
) -> [String; 5] {
    let (filename, filepath, extension, owner) = match file {
        Some((path, meta)) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dir = path
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
                .unwrap_or_default();
            (name, dir, ext, user_name(meta.uid()))
        }
        None => (
            shown.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ),
    };
    [
        filename,
        filepath,
        extension,
        file_type(data).to_string(),
        owner,
    ]
}

/// A short file-type name from magic bytes, in the style LOKI and THOR use
/// for their `filetype` variable.
pub fn file_type(data: &[u8]) -> &'static str {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"MZ", "EXE"),
        (b"\x7fELF", "ELF"),
        (b"\xcf\xfa\xed\xfe", "MACHO"),
        (b"\xce\xfa\xed\xfe", "MACHO"),
        (b"\xca\xfe\xba\xbe", "MACHO"),
        (b"PK\x03\x04", "ZIP"),
        (b"Rar!", "RAR"),
        (b"7z\xbc\xaf\x27\x1c", "7Z"),
        (b"\x1f\x8b", "GZIP"),
        (b"BZh", "BZIP2"),
        (b"\xfd7zXZ\x00", "XZ"),
        (b"%PDF", "PDF"),
        (b"{\\rtf", "RTF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"),
        (b"MDMP", "MDMP"),
        (b"dex\n", "DEX"),
        (b"\x89PNG", "PNG"),
        (b"GIF8", "GIF"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"#!", "SCRIPT"),
    ];
    MAGIC
        .iter()
        .find(|(m, _)| data.starts_with(m))
        .map_or("", |(_, name)| name)
}

/// The user name of `uid` from the password database, or the number.
fn user_name(uid: u32) -> String {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    let users = USERS.get_or_init(|| {
        std::fs::read_to_string("/etc/passwd")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let uid = f.nth(1)?.parse().ok()?;
                Some((uid, name.to_string()))
            })
            .collect()
    });
    users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_names() {
        assert_eq!(file_type(b"MZ\x90\x00"), "EXE");
        assert_eq!(file_type(b"\x7fELF\x02"), "ELF");
        assert_eq!(file_type(b"#!/bin/sh\n"), "SCRIPT");
        assert_eq!(file_type(b"hello"), "");
    }

    #[test]
    fn excludes_match_path_or_name() {
        let set = build_excludes(&["*.log".into(), "**/skip/**".into()]).unwrap();
        assert!(excluded(&set, Path::new("/a/b/x.log")));
        assert!(excluded(&set, Path::new("/a/skip/c")));
        assert!(!excluded(&set, Path::new("/a/b/x.txt")));
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(matches!(
            build_excludes(&["a[".into()]),
            Err(Error::BadExclude { .. })
        ));
    }
}
