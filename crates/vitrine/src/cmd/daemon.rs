//! `vitrine daemon`: rules loaded once and kept hot, served over the clamd
//! protocol on a Unix socket (and optionally TCP on loopback), so that
//! `clamdscan` and every clamd client library work unchanged.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vitrine_endpoint::state::now;

use anyhow::{bail, Context, Result};
use vitrine_clamd::{Command, Delim, ParseError, Request, StreamError};
use vitrine_scan::{
    FileReport, Outcome, Progress, RuleSet, RuleSource, ScanOptions, Session, Target,
};

/// Run the scanning daemon: a clamd-compatible server.
///
/// Loads the active verified bundle (or the built-in rules, or --rules and
/// --hashes) once and answers the clamd protocol on a Unix socket: PING,
/// VERSION, VERSIONCOMMANDS, RELOAD, SHUTDOWN, SCAN, CONTSCAN, MULTISCAN,
/// ALLMATCHSCAN, INSTREAM, FILDES, STATS, IDSESSION/END, with the z and n
/// prefixes. Point clamdscan at it with a clamd.conf holding
/// `LocalSocket PATH`:
///
///   vitrine daemon --socket /run/vitrine/clamd.sock &
///   clamdscan --config-file clamd.conf --fdpass ~/Downloads
///
/// RELOAD (or SIGHUP-free: just send RELOAD after `vitrine update`) swaps
/// in the newly active bundle; scans already running finish with the rules
/// they started with, and a bundle that fails to load leaves the current
/// rules in place (reported in STATS and the logs). Logs go to standard
/// error (RUST_LOG=debug logs every command).
///
/// With --on-access DIR, files under DIR are scanned as they are opened
/// (fanotify; a detected file cannot be opened in block mode), including
/// in directories made later. Without fanotify (no CAP_SYS_ADMIN) the
/// daemon says so and falls back to inotify: files are scanned after they
/// are written and detections are logged, but nothing is blocked.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The Unix socket to listen on [default: STATE/clamd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Permissions of the socket, in octal: who may ask for scans.
    #[arg(long, value_name = "MODE", default_value = "660", value_parser = parse_mode)]
    socket_mode: u32,
    /// Also listen on TCP at this loopback address (e.g. 127.0.0.1:3310).
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// The endpoint state directory [default: $VITRINE_STATE, else the configuration's `state`,
    /// else /var/lib/vitrine for root and the `vitrine` user, else
    /// $XDG_DATA_HOME/vitrine or ~/.local/share/vitrine; `vitrine config
    /// show` says which].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// YARA rule files or directories to use instead of the active bundle.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Hash-signature files to use instead of the active bundle.
    #[arg(long = "hashes", value_name = "PATH")]
    hashes: Vec<PathBuf>,
    /// Connections served at once (clamd's MaxThreads). Threads are
    /// started as connections need them, up to this many.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_threads: usize,
    /// Connections waiting for a thread; more are refused (MaxQueue).
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_queue: usize,
    /// Largest INSTREAM accepted, in bytes (StreamMaxLength).
    #[arg(long, value_name = "BYTES", default_value_t = 25 * 1024 * 1024)]
    stream_max_length: u64,
    /// Files larger than this are not scanned (MaxFileSize).
    #[arg(long, value_name = "BYTES", default_value_t = 100 * 1024 * 1024)]
    max_filesize: u64,
    /// Seconds a client may stay silent in the middle of a command or
    /// stream, or idle in a session (ReadTimeout).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    read_timeout: u64,
    /// Scan files under DIR when they are opened (fanotify; needs root).
    /// Repeat for several trees. Directories made or moved into a tree
    /// while the daemon runs are watched as they appear.
    #[arg(long, value_name = "DIR")]
    on_access: Vec<PathBuf>,
    /// fanotify (blocking possible; needs CAP_SYS_ADMIN), inotify
    /// (files scanned after they are written; detections logged and
    /// counted, opens never blocked), or auto: fanotify, else inotify
    /// with a warning in the logs and in STATS.
    #[arg(long, value_enum, value_name = "BACKEND", default_value = "auto")]
    on_access_backend: crate::cmd::onaccess::Backend,
    /// block: an open waits for the scan and a detected file cannot be
    /// opened; notify: opens proceed and detections are logged.
    #[arg(long, value_enum, value_name = "MODE", default_value = "block")]
    on_access_mode: crate::cmd::onaccess::Mode,
    /// When a file cannot be scanned in time (or at all): open allows
    /// the open, closed denies it.
    #[arg(long, value_enum, value_name = "HOW", default_value = "open")]
    on_access_fail: crate::cmd::onaccess::FailMode,
    /// Seconds a scan on access may take before --on-access-fail applies.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    on_access_timeout: u64,
    /// Threads answering on-access events, each with its own scanner
    /// [default: the number of cores, at least 2, at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    on_access_threads: Option<u64>,
    /// Paths (globs) under the watched trees never scanned on access.
    #[arg(long, value_name = "GLOB")]
    on_access_exclude: Vec<String>,
    /// Run a verified update (as `vitrine update --policy FILE`, from the
    /// policy's log URL) every SECS seconds, with jitter, backing off up to
    /// an hour after failures; a newly activated bundle is swapped in at
    /// once. A failure never removes the active rules; it is logged, shown
    /// in STATS and reported by `vitrine status` until an update succeeds.
    #[arg(long, value_name = "SECS", requires = "policy")]
    update_every: Option<u64>,
    /// The trust policy for --update-every.
    #[arg(long, value_name = "FILE", requires = "update_every")]
    policy: Option<PathBuf>,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("`{s}` is not an octal permission mode such as 660"))
}

/// The rules in use, with what they are.
struct Loaded {
    set: RuleSet,
    label: String,
    version: u64,
    loaded_at: u64,
}

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    commands: AtomicU64,
    scanned: AtomicU64,
    found: AtomicU64,
    errors: AtomicU64,
    refused: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    active: AtomicU64,
    queued: AtomicU64,
}

struct Daemon {
    rules: RwLock<Arc<Loaded>>,
    opts: ScanOptions,
    multi_opts: ScanOptions,
    state: Option<PathBuf>,
    rule_paths: Vec<PathBuf>,
    hash_paths: Vec<PathBuf>,
    stats: Stats,
    last_reload_error: Mutex<Option<String>>,
    /// Asks the one reloader thread for a reload. Capacity one: requests
    /// made while one is already waiting are served by that one, which
    /// starts after them and so sees the newest bundle. No RELOAD flood
    /// can start more than one load at a time.
    reload_tx: crossbeam_channel::Sender<()>,
    updates_ok: AtomicU64,
    updates_failed: AtomicU64,
    shutdown: AtomicBool,
    stream_max: u64,
    read_timeout: Duration,
    max_threads: usize,
    started: Instant,
    on_access: Option<Arc<crate::cmd::onaccess::Counters>>,
}

impl Daemon {
    fn load(&self) -> Result<Loaded> {
        load_rules(self.state.as_deref(), &self.rule_paths, &self.hash_paths)
    }

    fn current(&self) -> Arc<Loaded> {
        self.rules.read().expect("rules lock").clone()
    }

    /// Loads the rules again and swaps them in; in-flight scans keep the
    /// set they hold. On failure the current rules stay.
    fn reload(&self) {
        match self.load() {
            Ok(l) => {
                tracing::info!(rules = %l.label, "rules reloaded");
                *self.rules.write().expect("rules lock") = Arc::new(l);
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                *self.last_reload_error.lock().expect("lock") = None;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "reloading the rules failed; the current rules stay active");
                self.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
                *self.last_reload_error.lock().expect("lock") = Some(format!("{e:#}"));
            }
        }
    }
}

/// The active verified bundle of `state`, else the built-in rules; or the
/// given rule and hash files.
fn load_rules(state: Option<&Path>, rules: &[PathBuf], hashes: &[PathBuf]) -> Result<Loaded> {
    let builder = if rules.is_empty() && hashes.is_empty() {
        vitrine_endpoint::rules::endpoint_rules(state, false)?
    } else {
        vitrine_endpoint::rules::file_rules(rules, hashes)?
    };
    let set = vitrine_endpoint::rules::build_rules(builder, state)?;
    // Rules from the compiled-rules cache load lazily; a daemon pays for
    // that now (at start or reload, off the request path) rather than on
    // its first request, and a set that cannot load never replaces one
    // that works.
    set.load()
        .map_err(|e| anyhow::anyhow!("loading the compiled rules: {e}"))?;
    let version = match set.source() {
        RuleSource::VerifiedBundle { version, .. } => *version,
        // Several channels: the highest version stands for the set.
        RuleSource::VerifiedBundles { bundles } => {
            bundles.iter().map(|b| b.version).max().unwrap_or(0)
        }
        _ => 0,
    };
    Ok(Loaded {
        label: set.source().describe(),
        set,
        version,
        loaded_at: now(),
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Streams and files of a megabyte or more get pages of their own,
    // given back when freed: glibc would otherwise raise its mmap
    // threshold after the first such free and keep every later buffer in
    // the worker threads' arenas, so RSS would stay at its peak.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes glibc's allocator (thread-safe, any
    // time); a failure leaves the default, which is only less frugal.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, BIG_PAYLOAD as i32);
    }
    let state = match &args.state {
        Some(d) => Some(d.clone()),
        None => vitrine_endpoint::state::default_state_dir().ok(),
    };
    let socket = match (&args.socket, &state) {
        (Some(s), _) => s.clone(),
        (None, Some(d)) => d.join("clamd.sock"),
        (None, None) => bail!("give --socket PATH (no state directory to put it in)"),
    };
    if let Some(addr) = args.tcp {
        if !addr.ip().is_loopback() {
            bail!("--tcp {addr}: only loopback addresses are allowed (the protocol has no authentication)");
        }
    }
    let loaded = load_rules(state.as_deref(), &args.rules, &args.hashes)
        .context("loading rules (the daemon did not start)")?;
    eprintln!("vitrine daemon: rules: {}", loaded.label);
    let allow = vitrine_endpoint::rules::read_allowlist(state.as_deref(), &[])
        .context("reading the allowlist (the daemon did not start)")?;
    let mut opts = ScanOptions::default()
        .max_filesize(args.max_filesize)
        .threads(1)
        .allow(allow);
    if let Ok(exe) = std::env::current_exe() {
        opts = opts.own_path(&exe);
    }
    if let Some(d) = &state {
        opts = opts.own_path(d);
    }
    let multi_opts = opts.clone().threads(
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(2),
    );
    let (reload_tx, reload_rx) = crossbeam_channel::bounded::<()>(1);
    let daemon = Arc::new(Daemon {
        rules: RwLock::new(Arc::new(loaded)),
        opts,
        multi_opts,
        state,
        rule_paths: args.rules.clone(),
        hash_paths: args.hashes.clone(),
        stats: Stats::default(),
        last_reload_error: Mutex::new(None),
        reload_tx,
        updates_ok: AtomicU64::new(0),
        updates_failed: AtomicU64::new(0),
        shutdown: AtomicBool::new(false),
        stream_max: args.stream_max_length,
        read_timeout: Duration::from_secs(args.read_timeout.max(1)),
        max_threads: args.max_threads.max(1),
        started: Instant::now(),
        on_access: (!args.on_access.is_empty())
            .then(|| Arc::new(crate::cmd::onaccess::Counters::default())),
    });
    if let Some(counters) = &daemon.on_access {
        let mut ex = globset::GlobSetBuilder::new();
        for g in &args.on_access_exclude {
            ex.add(globset::Glob::new(g).with_context(|| format!("--on-access-exclude {g}"))?);
        }
        // Never our own state (bundles hold rule text).
        if let Some(st) = &daemon.state {
            let st = std::path::absolute(st).unwrap_or_else(|_| st.clone());
            ex.add(globset::Glob::new(&format!("{}/**", st.display()))?);
        }
        let ex = ex.build()?;
        let d = daemon.clone();
        let timeout = Duration::from_secs(args.on_access_timeout.max(1));
        let opts = d.opts.clone().timeout(timeout);
        let scanning: crate::cmd::onaccess::Scanning = Arc::new(
            move |body: &mut dyn FnMut(
                &mut crate::cmd::onaccess::Verdict<'_>,
                &dyn Fn() -> bool,
            )| {
                // One scanner per thread and rule set: made here, used for
                // every event until a reload swaps the rules.
                let loaded = d.current();
                let progress = Progress::default();
                let mut s = Session::new(&loaded.set, &opts, &progress);
                let mut verdict = |file: &std::fs::File, path: &Path| {
                    let rep = s.scan_open_file(path.display().to_string(), file);
                    match &rep.outcome {
                        Outcome::Error { message } => bail!("{message}"),
                        Outcome::Skipped(why) => bail!("{why}"),
                        Outcome::Scanned => {}
                    }
                    d.stats.scanned.fetch_add(1, Ordering::Relaxed);
                    let name = rep
                        .all_detections()
                        .next()
                        .map(|(_, det)| det.name().to_string());
                    if name.is_some() {
                        d.stats.found.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(name)
                };
                let current = || Arc::ptr_eq(&loaded, &d.current());
                body(&mut verdict, &current);
            },
        );
        let threads = args.on_access_threads.map_or_else(
            || {
                std::thread::available_parallelism()
                    .map_or(2, |n| n.get())
                    .clamp(2, 8)
            },
            |n| n as usize,
        );
        let active = crate::cmd::onaccess::start(
            crate::cmd::onaccess::Config {
                roots: args.on_access.clone(),
                excluded: ex,
                mode: args.on_access_mode,
                fail: args.on_access_fail,
                backend: args.on_access_backend,
                threads,
            },
            counters.clone(),
            scanning,
        )?;
        let how = match (active.blocking, args.on_access_mode) {
            (true, _) => "blocking",
            (false, crate::cmd::onaccess::Mode::Block) => "notification only: cannot block",
            (false, crate::cmd::onaccess::Mode::Notify) => "notification",
        };
        eprintln!(
            "vitrine daemon: on-access ({}, {how}, {threads} threads) watching {} directories",
            active.backend,
            counters.directories.load(Ordering::Relaxed)
        );
    }

    // A stale socket from a crash is replaced; anything else is refused.
    if let Ok(m) = std::fs::symlink_metadata(&socket) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            bail!("{} exists and is not a socket", socket.display());
        }
        if UnixStream::connect(&socket).is_ok() {
            bail!("{}: another daemon is listening there", socket.display());
        }
        std::fs::remove_file(&socket).with_context(|| format!("removing {}", socket.display()))?;
    }
    if let Some(dir) = socket.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let unix =
        UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(args.socket_mode))
        .with_context(|| format!("setting the mode of {}", socket.display()))?;

    {
        let d = daemon.clone();
        std::thread::spawn(move || {
            for () in reload_rx {
                d.reload();
            }
        });
    }
    if let (Some(every), Some(policy)) = (args.update_every, &args.policy) {
        let Some(state) = daemon.state.clone() else {
            bail!("--update-every needs a state directory (--state)");
        };
        if every == 0 {
            bail!("--update-every must be at least 1 second");
        }
        let policy = crate::cmd::trust::read_policy(policy)?;
        let d = daemon.clone();
        std::thread::Builder::new()
            .name("updates".into())
            .spawn(move || update_loop(&d, &policy, &state, Duration::from_secs(every)))?;
        eprintln!("vitrine daemon: verified updates every {every} s");
    }
    let _ = WAKE.set(socket.clone());
    let (tx, rx) = crossbeam_channel::bounded::<Conn>(args.max_queue.max(1));
    let workers = Arc::new(Workers {
        tx,
        rx,
        started: AtomicUsize::new(0),
        idle: AtomicUsize::new(0),
        max: daemon.max_threads,
    });
    // One worker from the start; the others as connections need them.
    workers.grow(&daemon, true);

    if let Some(addr) = args.tcp {
        let tcp = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        eprintln!("vitrine daemon: listening on tcp {}", tcp.local_addr()?);
        let (w, d) = (workers.clone(), daemon.clone());
        std::thread::spawn(move || accept_all(&d, &w, tcp.incoming(), Conn::Tcp));
    }
    eprintln!("vitrine daemon: listening on {}", socket.display());
    accept_all(&daemon, &workers, unix.incoming(), Conn::Unix);
    let _ = std::fs::remove_file(&socket);
    // Scans in progress get a moment to answer; then the process exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.stats.active.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("vitrine daemon: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The connection-serving threads, started on demand up to
/// `--max-threads`: as many as connections have waited at once. Each
/// keeps a scanner and the buffer of the largest stream it scanned, so a
/// daemon used by one client at a time holds one of each, not ten.
struct Workers {
    tx: crossbeam_channel::Sender<Conn>,
    rx: crossbeam_channel::Receiver<Conn>,
    started: AtomicUsize,
    /// Workers waiting for a connection (or just handed one).
    idle: AtomicUsize,
    max: usize,
}

impl Workers {
    /// Starts one more worker if there is room and (unless `always`) more
    /// connections are queued than workers are idle.
    fn grow(self: &Arc<Self>, d: &Arc<Daemon>, always: bool) {
        loop {
            let started = self.started.load(Ordering::SeqCst);
            if started >= self.max
                || (!always
                    && d.stats.queued.load(Ordering::SeqCst)
                        <= self.idle.load(Ordering::SeqCst) as u64)
            {
                return;
            }
            if self
                .started
                .compare_exchange(started, started + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let (w, d) = (self.clone(), d.clone());
                if let Err(e) = std::thread::Builder::new()
                    .name(format!("worker-{started}"))
                    .spawn(move || w.work(&d))
                {
                    self.started.fetch_sub(1, Ordering::SeqCst);
                    tracing::error!(error = %e, "starting a worker thread");
                }
                return;
            }
        }
    }

    /// Serves connections for as long as the daemon runs. One yara-x
    /// scanner per worker and rule set, made again only after a reload:
    /// making one costs more than scanning a small stream. A connection
    /// keeps the rules it started with.
    fn work(&self, d: &Arc<Daemon>) {
        let mut pending = None;
        loop {
            let loaded = d.current();
            let progress = Progress::default();
            let mut session = Session::new(&loaded.set, &d.opts, &progress);
            loop {
                let conn = match pending.take() {
                    Some(c) => c,
                    None => {
                        // Idle is counted down before queued, so a worker
                        // handed a connection never hides a queued one.
                        self.idle.fetch_add(1, Ordering::SeqCst);
                        let got = self.rx.recv();
                        self.idle.fetch_sub(1, Ordering::SeqCst);
                        match got {
                            Ok(c) => c,
                            Err(_) => return,
                        }
                    }
                };
                if !Arc::ptr_eq(&loaded, &d.current()) {
                    pending = Some(conn);
                    break;
                }
                d.stats.queued.fetch_sub(1, Ordering::SeqCst);
                d.stats.active.fetch_add(1, Ordering::Relaxed);
                let mut big = false;
                if let Err(e) = serve(d, conn, &loaded, &mut session, &mut big) {
                    tracing::debug!(error = %e, "connection ended");
                }
                d.stats.active.fetch_sub(1, Ordering::Relaxed);
                if big {
                    // The scanner keeps the last payload's buffer: after a
                    // large one, start afresh rather than hold it while idle
                    // (making a scanner costs far less than such a scan).
                    break;
                }
            }
        }
    }
}

/// Accepts connections from `incoming` until SHUTDOWN, queueing each.
fn accept_all<S>(
    d: &Arc<Daemon>,
    w: &Arc<Workers>,
    incoming: impl Iterator<Item = std::io::Result<S>>,
    wrap: fn(S) -> Conn,
) {
    for s in incoming {
        if d.shutdown.load(Ordering::Relaxed) {
            break;
        }
        match s {
            Ok(s) => dispatch(d, w, wrap(s)),
            Err(e) => tracing::error!(error = %e, "accepting a connection"),
        }
    }
}

/// Queues a connection (starting a worker for it if none is idle), or
/// refuses it at once when the queue is full.
fn dispatch(d: &Arc<Daemon>, w: &Arc<Workers>, conn: Conn) {
    d.stats.connections.fetch_add(1, Ordering::Relaxed);
    d.stats.queued.fetch_add(1, Ordering::SeqCst);
    if let Err(e) = w.tx.try_send(conn) {
        let mut c = e.into_inner();
        d.stats.queued.fetch_sub(1, Ordering::SeqCst);
        d.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("queue full: connection refused");
        let _ = c.write_all(b"ERROR: server busy, try again\n");
        return;
    }
    w.grow(d, false);
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.write_all(b),
            Conn::Tcp(s) => s.write_all(b),
        }
    }
}

/// The reading half of a connection. On a Unix socket every read is a
/// `recvmsg` that keeps the file descriptors a client passes (FILDES), so
/// none is lost in a buffered read.
struct Reader {
    conn: ReaderConn,
    fds: VecDeque<OwnedFd>,
}

enum ReaderConn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.conn {
            ReaderConn::Tcp(s) => s.read(buf),
            ReaderConn::Unix(s) => {
                let n = recv_with_fds(s.as_raw_fd(), buf, &mut self.fds)?;
                Ok(n)
            }
        }
    }
}

/// `recvmsg` into `buf`, keeping every descriptor passed with
/// `SCM_RIGHTS` (close-on-exec) in `fds`.
fn recv_with_fds(
    sock: std::os::fd::RawFd,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
) -> std::io::Result<usize> {
    use std::os::fd::FromRawFd;
    const MAX_FDS: usize = 4;
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<libc::c_int>()) as u32) } as usize;
    assert!(space <= std::mem::size_of_val(&control));
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: walks the control messages the kernel wrote within
    // msg_controllen, with the libc macros made for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const libc::c_int;
                let len = (*c).cmsg_len as usize - (data as usize - c as usize);
                for i in 0..len / std::mem::size_of::<libc::c_int>() {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    fds.push_back(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(n as usize)
}

/// Payloads above this many bytes are not kept in a worker's buffer
/// once scanned.
const BIG_PAYLOAD: u64 = 1 << 20;

/// Serves one connection; sets `big` if it scanned a payload larger than
/// [`BIG_PAYLOAD`] with `scanner`.
fn serve(
    d: &Arc<Daemon>,
    conn: Conn,
    loaded: &Loaded,
    scanner: &mut Session<'_>,
    big: &mut bool,
) -> std::io::Result<()> {
    let (reader, mut writer): (ReaderConn, Conn) = match conn {
        Conn::Unix(s) => {
            s.set_read_timeout(Some(d.read_timeout))?;
            (ReaderConn::Unix(s.try_clone()?), Conn::Unix(s))
        }
        Conn::Tcp(s) => {
            s.set_read_timeout(Some(d.read_timeout))?;
            (ReaderConn::Tcp(s.try_clone()?), Conn::Tcp(s))
        }
    };
    let is_unix = matches!(reader, ReaderConn::Unix(_));
    let mut r = BufReader::new(Reader {
        conn: reader,
        fds: VecDeque::new(),
    });
    let mut session: Option<u64> = None;
    loop {
        let req = match vitrine_clamd::read_request(&mut r, 4096)? {
            None => return Ok(()),
            Some(Ok(req)) => req,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "bad command");
                let text = match &e {
                    ParseError::Unknown { .. } => "UNKNOWN COMMAND".to_string(),
                    other => format!("{other} ERROR"),
                };
                writer.write_all(&vitrine_clamd::reply(Delim::Newline, session, &text))?;
                return Ok(());
            }
        };
        d.stats.commands.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(command = req.command.name(), "command");
        let id = session.map(|n| n + 1);
        if session.is_some() {
            session = id;
            if !req.command.allowed_in_session() || !req.prefixed {
                let text = format!(
                    "Command invalid inside IDSESSION: {} ERROR",
                    req.command.name()
                );
                writer.write_all(&vitrine_clamd::reply(req.delim, id, &text))?;
                return Ok(());
            }
        }
        let out = |text: &str| vitrine_clamd::reply(req.delim, id, text);
        match &req.command {
            Command::IdSession => {
                session = Some(0);
                continue;
            }
            Command::End => return Ok(()),
            Command::Shutdown => {
                tracing::info!("SHUTDOWN received");
                d.shutdown.store(true, Ordering::Relaxed);
                // Wake the accept loop so it sees the flag.
                wake();
                return Ok(());
            }
            _ => {}
        }
        let lines = answer(d, &req, &mut r, is_unix, loaded, scanner, big);
        let mut buf = Vec::new();
        let mut close = false;
        for l in lines {
            match l {
                Line::Text(t) => buf.extend(out(&t)),
                Line::Close(t) => {
                    buf.extend(out(&t));
                    close = true;
                }
            }
        }
        writer.write_all(&buf)?;
        if close || session.is_none() {
            return Ok(());
        }
    }
}

/// Connects to our own socket so a blocked accept returns after SHUTDOWN.
fn wake() {
    if let Some(p) = WAKE.get() {
        let _ = UnixStream::connect(p);
    }
}

static WAKE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

enum Line {
    Text(String),
    /// A reply after which the connection is closed (as clamd does).
    Close(String),
}

fn answer(
    d: &Arc<Daemon>,
    req: &Request,
    r: &mut BufReader<Reader>,
    is_unix: bool,
    loaded: &Loaded,
    scanner: &mut Session<'_>,
    big: &mut bool,
) -> Vec<Line> {
    match &req.command {
        Command::Ping => vec![Line::Text("PONG".into())],
        Command::Version => vec![Line::Text(version(loaded))],
        Command::VersionCommands => vec![Line::Text(format!(
            "{} | COMMANDS: {}",
            version(loaded),
            vitrine_clamd::COMMANDS
        ))],
        Command::Reload => {
            // Reply first, as clamd does; the swap happens in the background.
            let _ = d.reload_tx.try_send(());
            vec![Line::Text("RELOADING".into())]
        }
        Command::Stats => vec![Line::Text(stats(d, loaded))],
        Command::InStream => match vitrine_clamd::read_stream(r, d.stream_max) {
            Ok(data) => {
                *big |= data.len() as u64 > BIG_PAYLOAD;
                let rep = scanner.scan_bytes("stream".into(), data);
                vec![Line::Text(one_line(d, "stream", &rep, false))]
            }
            Err(StreamError::TooLarge) => {
                d.stats.errors.fetch_add(1, Ordering::Relaxed);
                vec![Line::Close("INSTREAM size limit exceeded. ERROR".into())]
            }
            Err(e) => vec![Line::Close(format!("{e} ERROR"))],
        },
        Command::Fildes => {
            if !is_unix {
                return vec![Line::Close("FILDES: only on a Unix socket ERROR".into())];
            }
            // The descriptor comes with at least one dummy byte.
            let mut dummy = [0u8; 1];
            if let Err(e) = r.read_exact(&mut dummy) {
                return vec![Line::Close(format!("FILDES: no descriptor ({e}) ERROR"))];
            }
            let Some(fd) = r.get_mut().fds.pop_front() else {
                return vec![Line::Close(
                    "FILDES: no file descriptor received ERROR".into(),
                )];
            };
            let shown = format!("fd[{}]", fd.as_raw_fd());
            let file = std::fs::File::from(fd);
            *big |= file.metadata().map_or(true, |m| m.len() > BIG_PAYLOAD);
            let rep = scanner.scan_open_file(shown.clone(), &file);
            vec![Line::Text(one_line(d, &shown, &rep, false))]
        }
        Command::Scan(p) => scan_path(d, loaded, p, ScanMode::First),
        Command::ContScan(p) => scan_path(d, loaded, p, ScanMode::Cont),
        Command::MultiScan(p) => scan_path(d, loaded, p, ScanMode::Multi),
        Command::AllMatchScan(p) => scan_path(d, loaded, p, ScanMode::AllMatch),
        Command::IdSession | Command::End | Command::Shutdown => Vec::new(),
    }
}

fn version(l: &Loaded) -> String {
    format!(
        "Vitrine {}/{}/{}",
        env!("CARGO_PKG_VERSION"),
        l.version,
        vitrine_endpoint::state::human_time(l.loaded_at)
    )
}

fn stats(d: &Daemon, l: &Loaded) -> String {
    let s = &d.stats;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut t = String::new();
    t.push_str("POOLS: 1\n\nSTATE: VALID PRIMARY\n");
    t.push_str(&format!(
        "THREADS: live {} idle {} max {} idle-timeout {}\n",
        get(&s.active),
        (d.max_threads as u64).saturating_sub(get(&s.active)),
        d.max_threads,
        d.read_timeout.as_secs()
    ));
    t.push_str(&format!("QUEUE: {} items\n", get(&s.queued)));
    t.push_str(&format!(
        "RULES: {} ({} YARA rules, {} hashes), loaded {}\n",
        l.label,
        l.set.yara_rule_count(),
        l.set.hash_count(),
        vitrine_endpoint::state::human_time(l.loaded_at)
    ));
    t.push_str(&format!(
        "COUNTERS: uptime {} connections {} commands {} scanned {} found {} errors {} refused {} reloads {} reload-failures {}\n",
        d.started.elapsed().as_secs(),
        get(&s.connections),
        get(&s.commands),
        get(&s.scanned),
        get(&s.found),
        get(&s.errors),
        get(&s.refused),
        get(&s.reloads),
        get(&s.reload_failures)
    ));
    if let Some(c) = &d.on_access {
        let active = c.active.get();
        t.push_str(&format!(
            "ON-ACCESS: backend {} blocking {} directories {} events {} detected {} denied {} failed {}\n",
            active.map_or("starting", |a| a.backend),
            if active.is_some_and(|a| a.blocking) { "yes" } else { "no" },
            get(&c.directories),
            get(&c.events),
            get(&c.detected),
            get(&c.denied),
            get(&c.failed)
        ));
        if let Some(w) = active.and_then(|a| a.warning.as_deref()) {
            t.push_str(&format!("ON-ACCESS-WARNING: {}\n", w.escape_debug()));
        }
    }
    if d.updates_ok.load(Ordering::Relaxed) + d.updates_failed.load(Ordering::Relaxed) > 0 {
        t.push_str(&format!(
            "UPDATES: ok {} failed {}\n",
            get(&d.updates_ok),
            get(&d.updates_failed)
        ));
        if let Some(st) = &d.state {
            if let Some(w) = vitrine_endpoint::state::last_update_warning(st) {
                t.push_str(&format!("LAST-UPDATE-ERROR: {}\n", w.escape_debug()));
            }
        }
    }
    if let Some(e) = d.last_reload_error.lock().expect("lock").as_deref() {
        t.push_str(&format!("LAST-RELOAD-ERROR: {}\n", e.escape_debug()));
    }
    t.push_str("END");
    t
}

#[derive(Clone, Copy, PartialEq)]
enum ScanMode {
    First,
    Cont,
    Multi,
    AllMatch,
}

/// A path as clamd prints it, with control characters and invalid UTF-8
/// escaped (names come from the file system).
fn shown_path(p: &Path) -> String {
    let b = p.as_os_str().as_bytes();
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => vitrine_clamd::escape(b),
    }
}

fn one_line(d: &Daemon, shown: &str, rep: &FileReport, all: bool) -> String {
    lines_of(d, shown, rep, all)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("{shown}: OK"))
}

/// The reply lines for one file: detections and errors; nothing when clean.
fn lines_of(d: &Daemon, shown: &str, rep: &FileReport, all: bool) -> Vec<String> {
    d.stats.scanned.fetch_add(1, Ordering::Relaxed);
    match &rep.outcome {
        Outcome::Error { message } => {
            d.stats.errors.fetch_add(1, Ordering::Relaxed);
            return vec![format!("{shown}: {} ERROR", message.escape_debug())];
        }
        Outcome::Skipped(_) | Outcome::Scanned => {}
    }
    let names: Vec<String> = rep
        .all_detections()
        .map(|(_, det)| det.name().to_string())
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    d.stats.found.fetch_add(1, Ordering::Relaxed);
    let take = if all { names.len() } else { 1 };
    names
        .into_iter()
        .take(take)
        .map(|n| format!("{shown}: {} FOUND", n.escape_debug()))
        .collect()
}

fn scan_path(d: &Daemon, loaded: &Loaded, p: &Path, mode: ScanMode) -> Vec<Line> {
    let shown = shown_path(p);
    if let Err(e) = std::fs::symlink_metadata(p) {
        d.stats.errors.fetch_add(1, Ordering::Relaxed);
        return vec![Line::Text(format!("{shown}: lstat() failed: {e}. ERROR"))];
    }
    let opts = if mode == ScanMode::Multi {
        &d.multi_opts
    } else {
        &d.opts
    };
    let progress = Progress::default();
    let mut out = Vec::new();
    let mut stop = false;
    let result = vitrine_scan::scan(
        &loaded.set,
        opts,
        &[Target::Path(p.to_path_buf())],
        &progress,
        |rep| {
            if stop {
                return;
            }
            let name = shown_path(Path::new(&rep.path));
            let lines = lines_of(d, &name, rep, mode == ScanMode::AllMatch);
            if mode == ScanMode::First && lines.iter().any(|l| l.ends_with(" FOUND")) {
                stop = true;
            }
            out.extend(lines);
        },
    );
    if let Err(e) = result {
        out.push(format!("{shown}: {e} ERROR"));
    }
    if out.is_empty() {
        out.push(format!("{shown}: OK"));
    }
    out.into_iter().map(Line::Text).collect()
}

/// `vitrine scan --daemon`: sends each path (`CONTSCAN` with its absolute
/// path; standard input as `INSTREAM`) to the daemon at `socket` and prints
/// its replies. Exit status as `vitrine scan`: 1 if something was found,
/// 2 on an error.
pub fn scan_via(socket: &Path, paths: &[PathBuf]) -> Result<ExitCode> {
    let mut found = 0u64;
    let mut errors = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in paths {
        let mut s = UnixStream::connect(socket)
            .with_context(|| format!("connecting to the daemon at {}", socket.display()))?;
        if p.as_os_str() == "-" {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("reading standard input")?;
            let mut req = b"zINSTREAM\0".to_vec();
            for chunk in data.chunks(1 << 20) {
                req.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                req.extend_from_slice(chunk);
            }
            req.extend_from_slice(&0u32.to_be_bytes());
            s.write_all(&req)?;
        } else {
            let abs =
                std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
            let mut req = b"zCONTSCAN ".to_vec();
            req.extend_from_slice(abs.as_os_str().as_bytes());
            req.push(0);
            s.write_all(&req)?;
        }
        let mut reply = Vec::new();
        s.read_to_end(&mut reply)
            .with_context(|| format!("reading the daemon's reply for {}", p.display()))?;
        for line in reply.split(|&b| b == 0).filter(|l| !l.is_empty()) {
            let text = vitrine_clamd::escape(line);
            if text.ends_with(" FOUND") {
                found += 1;
            } else if text.ends_with(" ERROR") || text == "UNKNOWN COMMAND" {
                errors += 1;
            }
            writeln!(out, "{text}")?;
        }
    }
    writeln!(out, "\n----------- SCAN SUMMARY -----------")?;
    writeln!(out, "Scanned by: vitrine daemon at {}", socket.display())?;
    writeln!(out, "Infected files: {found}")?;
    writeln!(out, "Errors: {errors}")?;
    Ok(if errors > 0 {
        ExitCode::from(2)
    } else if found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Scheduled verified updates: one attempt at start (after a little
/// jitter), then every `every`, doubling the wait after each failure up to
/// an hour. Never touches the active rules except through a verified
/// activation, after which the new bundle is swapped in.
fn update_loop(
    d: &Arc<Daemon>,
    policy: &vitrine_client::TrustPolicy,
    state: &Path,
    every: Duration,
) {
    let mut wait = jitter(every) / 10;
    loop {
        std::thread::sleep(wait);
        if d.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let result = vitrine_client::EndpointState::open(state)
            .map_err(anyhow::Error::from)
            .and_then(|st| {
                let url = policy.log_url().context("the policy names no log URL")?;
                vitrine_endpoint::update(
                    policy,
                    &st,
                    vitrine_endpoint::Source::Log(url, None),
                    "",
                    &mut |line| tracing::info!("scheduled update: {line}"),
                )
            });
        let (ok, message) = match result {
            Ok(vitrine_endpoint::Outcome::Activated(m)) => {
                tracing::info!(bundle = %m.name, version = m.version, "scheduled update activated a bundle");
                let _ = d.reload_tx.try_send(());
                (true, format!("activated {} v{}", m.name, m.version))
            }
            Ok(vitrine_endpoint::Outcome::NothingToDo(v)) => (true, format!("up to date (v{v})")),
            Ok(vitrine_endpoint::Outcome::Refused(why)) => (false, format!("refused: {why}")),
            Err(e) => (false, format!("{e:#}")),
        };
        if ok {
            d.updates_ok.fetch_add(1, Ordering::Relaxed);
            wait = jitter(every);
        } else {
            d.updates_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %message, "scheduled update failed; the active rules stay");
            wait = (wait.max(every) * 2).min(Duration::from_secs(3600));
        }
        vitrine_endpoint::state::record_outcome(
            state,
            "the daemon's scheduled update",
            ok,
            &message,
        );
    }
}

/// `every`, give or take 10%, so a fleet does not update in lockstep.
fn jitter(every: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tenth = every / 10;
    let spread = tenth.as_millis().max(1) as u32 * 2;
    every - tenth + Duration::from_millis(u64::from(nanos % spread))
}
