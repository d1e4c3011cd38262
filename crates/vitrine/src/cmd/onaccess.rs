//! On-access scanning with fanotify: every open of a file under the
//! watched directories waits for the daemon's verdict (permission events,
//! blocking mode), or is scanned after the fact (notification mode).
//!
//! Each directory of each tree carries a fanotify mark (a directory mark
//! covers the files directly in it) and an inotify watch for directories
//! created or moved into it, which are marked as they appear. Events are
//! answered by a small pool of threads, each with its own scanner.
//!
//! Where fanotify is unavailable (no CAP_SYS_ADMIN, or a kernel without
//! it) scanning falls back to inotify: files are scanned after they are
//! written or moved in, detections are logged and counted, and nothing can
//! be blocked.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

/// How on-access scanning answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Opens wait for the scan; a detected file cannot be opened.
    Block,
    /// Opens proceed; detections are logged.
    Notify,
}

/// What to answer when a file cannot be scanned (unreadable, too large,
/// timed out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailMode {
    /// Allow the open.
    Open,
    /// Deny the open.
    Closed,
}

/// Which kernel interface watches the trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// fanotify; inotify (notification only) where fanotify is
    /// unavailable, with a warning.
    Auto,
    /// fanotify only: refuse to start without it.
    Fanotify,
    /// inotify only (notification: files are scanned after they are
    /// written; opens are never blocked).
    Inotify,
}

/// The backend in use, as STATS shows it.
#[derive(Clone, Debug)]
pub struct Active {
    /// `fanotify` or `inotify`.
    pub backend: &'static str,
    /// Whether opens of detected files are denied.
    pub blocking: bool,
    /// Said once in the logs at start, and in every STATS.
    pub warning: Option<String>,
}

/// Counters shown in STATS.
#[derive(Default)]
pub struct Counters {
    /// Events answered.
    pub events: AtomicU64,
    /// Detections (blocked or not).
    pub detected: AtomicU64,
    /// Opens denied because of a detection.
    pub denied: AtomicU64,
    /// Files that could not be scanned.
    pub failed: AtomicU64,
    /// Directories watched, including those made after start.
    pub directories: AtomicU64,
    /// Set once scanning has started.
    pub active: std::sync::OnceLock<Active>,
}

/// Why on-access scanning could not start.
#[derive(Debug)]
pub enum Error {
    /// `fanotify_init` failed: no CAP_SYS_ADMIN, or no fanotify (with
    /// permission events) in the kernel.
    FanotifyUnavailable(std::io::Error),
    /// `inotify_init` failed.
    Inotify(std::io::Error),
    /// A directory could not be marked or watched.
    Mark {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The trees hold no directory to watch.
    NoDirectory,
    /// A thread could not be started.
    Thread(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::FanotifyUnavailable(e) => write!(
                f,
                "on-access scanning is unavailable: fanotify_init: {e} (it needs root or CAP_SYS_ADMIN, and a kernel with fanotify)"
            ),
            Error::Inotify(e) => write!(f, "on-access: inotify_init: {e}"),
            Error::Mark { path, source } => {
                write!(f, "on-access: marking {}: {source}", path.display())
            }
            Error::NoDirectory => write!(f, "on-access: no directory to watch"),
            Error::Thread(e) => write!(f, "on-access: starting a thread: {e}"),
        }
    }
}

/// The messages above carry their causes; none is chained again.
impl std::error::Error for Error {}

/// A verdict on one opened file: infected (`Ok(Some(name))`), clean
/// (`Ok(None)`), or not scanned (`Err`).
pub type Verdict<'a> = dyn FnMut(&std::fs::File, &Path) -> anyhow::Result<Option<String>> + 'a;

/// `scanning(body)` must call `body` with a verdict function for the
/// current rules and a test of whether those rules are still current;
/// `body` returns when they are not (so each thread makes a scanner once
/// per rule set, not once per file). Called from every scanning thread.
pub type Scanning = Arc<dyn Fn(&mut dyn FnMut(&mut Verdict<'_>, &dyn Fn() -> bool)) + Send + Sync>;

/// What to watch and how.
pub struct Config {
    pub roots: Vec<PathBuf>,
    pub excluded: globset::GlobSet,
    pub mode: Mode,
    pub fail: FailMode,
    pub backend: Backend,
    /// Scanning threads (at least one).
    pub threads: usize,
}

/// Whether a `fanotify_init` failure means fanotify is not there for us
/// (rather than, say, out of descriptors).
fn unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)
    )
}

fn fanotify_init(mode: Mode) -> std::io::Result<OwnedFd> {
    let class = match mode {
        Mode::Block => libc::FAN_CLASS_CONTENT,
        Mode::Notify => libc::FAN_CLASS_NOTIF,
    };
    // SAFETY: plain system call; the result is checked.
    let fd = unsafe {
        libc::fanotify_init(
            class | libc::FAN_CLOEXEC,
            (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Starts on-access scanning of `cfg.roots` with the backend `cfg.backend`
/// asks for. Returns the backend in use (also kept in `counters.active`);
/// its warning, if any, has been logged.
pub fn start(cfg: Config, counters: Arc<Counters>, scanning: Scanning) -> Result<Active, Error> {
    let fan = match cfg.backend {
        Backend::Inotify => Err(None),
        Backend::Auto | Backend::Fanotify => match fanotify_init(cfg.mode) {
            Ok(fd) => Ok(fd),
            Err(e) if cfg.backend == Backend::Auto && unavailable(&e) => Err(Some(e)),
            Err(e) => return Err(Error::FanotifyUnavailable(e)),
        },
    };
    let active = match fan {
        Ok(fan) => {
            start_fanotify(&cfg, fan, &counters, &scanning)?;
            Active {
                backend: "fanotify",
                blocking: cfg.mode == Mode::Block,
                warning: None,
            }
        }
        Err(why) => {
            start_inotify(&cfg, &counters, &scanning)?;
            let why = match why {
                Some(e) => format!(
                    "fanotify is unavailable (fanotify_init: {e}; it needs CAP_SYS_ADMIN and a kernel with fanotify): falling back to inotify"
                ),
                None => "the inotify backend was chosen".to_string(),
            };
            let warning = format!(
                "{why}; files are scanned after they are written or moved in, detections are logged, and opens are NOT blocked"
            );
            tracing::warn!("on-access: {warning}");
            Active {
                backend: "inotify",
                blocking: false,
                warning: Some(warning),
            }
        }
    };
    let _ = counters.active.set(active.clone());
    Ok(active)
}

fn start_fanotify(
    cfg: &Config,
    fan: OwnedFd,
    counters: &Arc<Counters>,
    scanning: &Scanning,
) -> Result<(), Error> {
    let fan = Arc::new(fan);
    let mut mask = match cfg.mode {
        Mode::Block => libc::FAN_OPEN_PERM,
        Mode::Notify => libc::FAN_CLOSE_WRITE | libc::FAN_OPEN,
    };
    mask |= libc::FAN_EVENT_ON_CHILD;
    watch_trees(
        cfg,
        Some((fan.clone(), mask, cfg.mode == Mode::Block)),
        None,
        counters,
    )?;
    // Each scanning thread reads its own few events from the shared
    // fanotify descriptor, so the kernel spreads concurrent opens over
    // the threads without a hand-off between them.
    let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
    for i in 0..cfg.threads.max(1) {
        let mut ev = EventLoop {
            fan: fan.clone(),
            mode: cfg.mode,
            fail: cfg.fail,
            excluded: cfg.excluded.clone(),
            counters: counters.clone(),
            buf: vec![0u8; BATCH * meta_len],
            pending: None,
        };
        let scanning = scanning.clone();
        std::thread::Builder::new()
            .name(format!("on-access-{i}"))
            .spawn(move || {
                while !ev.stopped() {
                    scanning(&mut |verdict, current| ev.run(verdict, current));
                }
            })
            .map_err(Error::Thread)?;
    }
    Ok(())
}

/// Watches (and with `fan`, marks) every directory of the trees, then
/// follows the directories made in them on a thread of its own.
fn watch_trees(
    cfg: &Config,
    fan: Option<(Arc<OwnedFd>, u64, bool)>,
    files: Option<crossbeam_channel::Sender<PathBuf>>,
    counters: &Arc<Counters>,
) -> Result<(), Error> {
    let inotify = Inotify::init().map_err(Error::Inotify)?;
    let mut tree = Tree {
        roots: cfg.roots.clone(),
        watches: inotify.watches(),
        paths: HashMap::new(),
        excluded: cfg.excluded.clone(),
        fan,
        files,
        counters: counters.clone(),
    };
    for r in &cfg.roots {
        tree.add(r, false)?;
    }
    if counters.directories.load(Ordering::Relaxed) == 0 {
        return Err(Error::NoDirectory);
    }
    std::thread::Builder::new()
        .name("on-access-dirs".into())
        .spawn(move || tree.follow(inotify))
        .map_err(Error::Thread)?;
    Ok(())
}

/// The fallback: inotify reports files closed after writing and files
/// moved in; a pool of threads scans them. Nothing can be blocked.
fn start_inotify(cfg: &Config, counters: &Arc<Counters>, scanning: &Scanning) -> Result<(), Error> {
    let (tx, rx) = crossbeam_channel::bounded::<PathBuf>(4096);
    watch_trees(cfg, None, Some(tx), counters)?;
    for i in 0..cfg.threads.max(1) {
        let rx = rx.clone();
        let counters = counters.clone();
        let scanning = scanning.clone();
        std::thread::Builder::new()
            .name(format!("on-access-{i}"))
            .spawn(move || {
                let mut pending: Option<PathBuf> = None;
                let mut done = false;
                while !done {
                    scanning(&mut |verdict, current| loop {
                        let path = match pending.take() {
                            Some(p) => p,
                            None => match rx.recv() {
                                Ok(p) => p,
                                Err(_) => {
                                    done = true;
                                    return;
                                }
                            },
                        };
                        if !current() {
                            pending = Some(path);
                            return;
                        }
                        scan_written(&path, verdict, &counters);
                    });
                }
            })
            .map_err(Error::Thread)?;
    }
    Ok(())
}

/// Scans a file inotify reported as written or moved in (notification:
/// the detection is logged and counted, nothing is blocked).
fn scan_written(path: &Path, verdict: &mut Verdict<'_>, counters: &Counters) {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        // Gone again, or a symbolic link (never followed).
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ELOOP) =>
        {
            return
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(path = %path.display().to_string().escape_debug(), error = %e, "on-access: not scanned");
            return;
        }
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return;
    }
    counters.events.fetch_add(1, Ordering::Relaxed);
    match verdict(&file, path) {
        Ok(None) => {}
        Ok(Some(name)) => {
            counters.detected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(path = %path.display().to_string().escape_debug(), detection = %name, backend = "inotify", "on-access detection (not blocked: notification only)");
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(path = %path.display().to_string().escape_debug(), error = %format!("{e:#}"), "on-access: not scanned");
        }
    }
}

/// Events one thread takes from the kernel in one read: few, so that
/// concurrent opens are answered by several threads at once.
const BATCH: usize = 4;

/// The directories under watch: each has an inotify watch (to follow the
/// directories made in it) and, with fanotify, a fanotify mark (the
/// scanning); with the inotify backend the watch also reports written
/// files, which go to the scanning threads.
struct Tree {
    roots: Vec<PathBuf>,
    watches: Watches,
    paths: HashMap<WatchDescriptor, PathBuf>,
    excluded: globset::GlobSet,
    /// The fanotify group, its mask, and whether to mark for
    /// FAN_OPEN_EXEC_PERM too (blocking mode).
    fan: Option<(Arc<OwnedFd>, u64, bool)>,
    /// Files to scan (inotify backend).
    files: Option<crossbeam_channel::Sender<PathBuf>>,
    counters: Arc<Counters>,
}

impl Tree {
    /// Watches and marks every directory of the tree at `root`. The
    /// inotify watch comes first, so a directory made while the tree is
    /// being walked is either seen by the walk or reported by inotify.
    /// With `files` (a tree that appeared after start, inotify backend),
    /// the files already in it are scanned: they were written before any
    /// watch could see them.
    fn add(&mut self, root: &Path, files: bool) -> Result<(), Error> {
        let mask = if self.files.is_some() {
            WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE | WatchMask::ONLYDIR
        } else {
            WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR
        };
        let walk = ignore::WalkBuilder::new(root)
            .standard_filters(false)
            .follow_links(false)
            .build();
        for e in walk {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(error = %err, "on-access: walking a watched tree");
                    continue;
                }
            };
            if self.excluded.is_match(e.path()) {
                continue;
            }
            if !e.file_type().is_some_and(|t| t.is_dir()) {
                if files && e.file_type().is_some_and(|t| t.is_file()) {
                    self.scan(e.path().to_path_buf());
                }
                continue;
            }
            let dir = e.path();
            let wd = self.watches.add(dir, mask).map_err(|source| Error::Mark {
                path: dir.to_path_buf(),
                source,
            })?;
            if let Some((fan, fan_mask, exec)) = &self.fan {
                mark(fan, dir, *fan_mask)?;
                if *exec {
                    // Executions too, where the kernel has FAN_OPEN_EXEC_PERM.
                    let _ = mark(
                        fan,
                        dir,
                        libc::FAN_OPEN_EXEC_PERM | libc::FAN_EVENT_ON_CHILD,
                    );
                }
            }
            // The same inode watched again (a directory moved within the
            // trees) keeps its descriptor: only its path changes.
            if self.paths.insert(wd, dir.to_path_buf()).is_none() {
                self.counters.directories.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Marks the directories made or moved into the trees, for as long as
    /// the daemon runs.
    fn follow(mut self, mut inotify: Inotify) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let events: Vec<(WatchDescriptor, EventMask, Option<OsString>)> = match inotify
                .read_events_blocking(&mut buf)
            {
                Ok(evs) => evs
                    .map(|e| (e.wd, e.mask, e.name.map(|n| n.to_os_string())))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(error = %e, "on-access: reading inotify events failed; new directories are no longer marked");
                    return;
                }
            };
            for (wd, mask, name) in events {
                self.event(wd, mask, name);
            }
        }
    }

    fn event(&mut self, wd: WatchDescriptor, mask: EventMask, name: Option<OsString>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            // Some creations were lost: walk every tree again (marks and
            // watches already there are unchanged). With the inotify
            // backend, files written meanwhile may have gone unscanned.
            tracing::warn!(
                files_may_be_unscanned = self.files.is_some(),
                "on-access: inotify queue overflow; walking the watched trees again"
            );
            for r in self.roots.clone() {
                self.add_logged(&r, false);
            }
            return;
        }
        if mask.contains(EventMask::IGNORED) {
            // The directory is gone (its watch with it).
            if self.paths.remove(&wd).is_some() {
                self.counters.directories.fetch_sub(1, Ordering::Relaxed);
            }
            return;
        }
        let (Some(parent), Some(name)) = (self.paths.get(&wd), name) else {
            return;
        };
        let path = parent.join(name);
        if self.excluded.is_match(&path) {
            return;
        }
        if mask.contains(EventMask::ISDIR) {
            if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                self.add_logged(&path, true);
            }
        } else if mask.intersects(EventMask::CLOSE_WRITE | EventMask::MOVED_TO) {
            self.scan(path);
        }
    }

    /// Queues a file for the scanning threads (inotify backend only).
    fn scan(&self, path: PathBuf) {
        if let Some(tx) = &self.files {
            let _ = tx.send(path);
        }
    }

    fn add_logged(&mut self, dir: &Path, files: bool) {
        if let Err(e) = self.add(dir, files) {
            match &e {
                // Made and removed again before we got to it.
                Error::Mark { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    tracing::debug!(error = %e, "on-access: a new directory vanished")
                }
                _ => tracing::error!(error = %e, "on-access: a new directory is not watched"),
            }
        } else {
            tracing::debug!(dir = %dir.display().to_string().escape_debug(), "on-access: new directory marked");
        }
    }
}

fn mark(fan: &OwnedFd, dir: &Path, mask: u64) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    let err = |source| Error::Mark {
        path: dir.to_path_buf(),
        source,
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    // SAFETY: valid descriptor and NUL-terminated path; result checked.
    let r = unsafe {
        libc::fanotify_mark(
            fan.as_raw_fd(),
            libc::FAN_MARK_ADD,
            mask,
            libc::AT_FDCWD,
            c.as_ptr(),
        )
    };
    if r < 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn respond(fan: RawFd, event_fd: RawFd, allow: bool) {
    let resp = libc::fanotify_response {
        fd: event_fd,
        response: if allow {
            libc::FAN_ALLOW
        } else {
            libc::FAN_DENY
        },
    };
    // SAFETY: writes one fanotify_response struct to the fanotify fd.
    let _ = unsafe {
        libc::write(
            fan,
            &resp as *const libc::fanotify_response as *const libc::c_void,
            std::mem::size_of::<libc::fanotify_response>(),
        )
    };
}

struct EventLoop {
    fan: Arc<OwnedFd>,
    mode: Mode,
    fail: FailMode,
    excluded: globset::GlobSet,
    counters: Arc<Counters>,
    buf: Vec<u8>,
    /// Events read but not answered: `Some(len)` when the rules changed
    /// after a read, `Some(0)` once reading failed for good.
    pending: Option<usize>,
}

impl EventLoop {
    fn stopped(&self) -> bool {
        self.pending == Some(0)
    }

    /// Answers events with `verdict` until the rules are no longer
    /// `current` (events already read are kept for the next rules).
    fn run(&mut self, verdict: &mut Verdict<'_>, current: &dyn Fn() -> bool) {
        loop {
            let n = match self.pending.take() {
                Some(n) => n,
                None => match self.read() {
                    Some(n) => n,
                    None => {
                        self.pending = Some(0);
                        return;
                    }
                },
            };
            if !current() {
                self.pending = Some(n);
                return;
            }
            if !self.answer(n, verdict) {
                self.pending = Some(0);
                return;
            }
        }
    }

    /// One read of events; `None` if reading failed for good.
    fn read(&mut self) -> Option<usize> {
        loop {
            // SAFETY: reads into our buffer, length checked by the caller.
            let n = unsafe {
                libc::read(
                    self.fan.as_raw_fd(),
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                )
            };
            if n >= 0 {
                return Some(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "on-access: reading events failed; on-access scanning stopped");
                return None;
            }
        }
    }

    /// Answers the `n` bytes of events in the buffer; false on a malformed
    /// event (scanning stops).
    fn answer(&mut self, n: usize, verdict: &mut Verdict<'_>) -> bool {
        let me = std::process::id() as i32;
        let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
        let fan = self.fan.as_raw_fd();
        let mut off = 0;
        while off + meta_len <= n {
            // SAFETY: at least meta_len bytes remain; read_unaligned copes
            // with any alignment.
            let m: libc::fanotify_event_metadata = unsafe {
                std::ptr::read_unaligned(
                    self.buf[off..].as_ptr() as *const libc::fanotify_event_metadata
                )
            };
            if m.vers != libc::FANOTIFY_METADATA_VERSION
                || (m.event_len as usize) < meta_len
                || off + m.event_len as usize > n
            {
                tracing::error!("on-access: malformed event; stopping");
                return false;
            }
            off += m.event_len as usize;
            if m.fd < 0 {
                continue; // queue overflow notice
            }
            // SAFETY: the kernel gave us this descriptor; we own it now.
            let file = unsafe { std::fs::File::from_raw_fd(m.fd) };
            let is_perm = m.mask & (libc::FAN_OPEN_PERM | libc::FAN_OPEN_EXEC_PERM) != 0;
            self.counters.events.fetch_add(1, Ordering::Relaxed);
            // Our own accesses are never scanned (nor waited on).
            if m.pid == me {
                if is_perm {
                    respond(fan, m.fd, true);
                }
                continue;
            }
            let path = std::fs::read_link(format!("/proc/self/fd/{}", m.fd)).unwrap_or_default();
            let regular = file.metadata().map(|md| md.is_file()).unwrap_or(false);
            let allow = if !regular || self.excluded.is_match(&path) {
                true
            } else {
                match verdict(&file, &path) {
                    Ok(None) => true,
                    Ok(Some(name)) => {
                        tracing::warn!(path = %path.display().to_string().escape_debug(), detection = %name, mode = ?self.mode, "on-access detection");
                        self.counters.detected.fetch_add(1, Ordering::Relaxed);
                        if self.mode == Mode::Block {
                            self.counters.denied.fetch_add(1, Ordering::Relaxed);
                        }
                        false
                    }
                    Err(e) => {
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(path = %path.display().to_string().escape_debug(), error = %format!("{e:#}"), "on-access: not scanned");
                        self.fail == FailMode::Open
                    }
                }
            };
            if is_perm {
                respond(fan, m.fd, allow);
            }
        }
        true
    }
}
