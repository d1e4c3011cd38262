//! On-access scanning with fanotify: every open of a file under the
//! watched directories waits for the daemon's verdict (permission events,
//! blocking mode), or is scanned after the fact (notification mode).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};

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

/// Counters shown in STATS.
#[derive(Default)]
pub struct Counters {
    /// Events answered.
    pub events: AtomicU64,
    /// Opens denied because of a detection.
    pub denied: AtomicU64,
    /// Files that could not be scanned.
    pub failed: AtomicU64,
}

/// The watched directories: each directory of each tree gets a mark (a
/// directory mark covers the files directly in it). Directories created
/// later are not watched until the daemon restarts.
fn directories(roots: &[PathBuf], excluded: &globset::GlobSet) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for r in roots {
        let walk = ignore::WalkBuilder::new(r)
            .standard_filters(false)
            .follow_links(false)
            .build();
        for e in walk.flatten() {
            if e.file_type().is_some_and(|t| t.is_dir()) && !excluded.is_match(e.path()) {
                out.push(e.into_path());
            }
        }
    }
    out
}

/// A verdict on one opened file: infected (`Ok(Some(name))`), clean
/// (`Ok(None)`), or not scanned (`Err`).
pub type Verdict<'a> = dyn FnMut(&std::fs::File, &Path) -> Result<Option<String>> + 'a;

/// Starts on-access scanning of `roots`. `scanning(body)` must call `body`
/// with a verdict function for the current rules and a test of whether
/// those rules are still current; `body` returns when they are not (so a
/// scanner is made once per rule set, not once per file). Returns the
/// number of directories marked.
pub fn start(
    roots: &[PathBuf],
    excluded: globset::GlobSet,
    mode: Mode,
    fail: FailMode,
    counters: Arc<Counters>,
    scanning: impl Fn(&mut dyn FnMut(&mut Verdict<'_>, &dyn Fn() -> bool)) + Send + 'static,
) -> Result<usize> {
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
        let e = std::io::Error::last_os_error();
        bail!("on-access scanning is unavailable: fanotify_init: {e} (it needs root or CAP_SYS_ADMIN, and a kernel with fanotify)");
    }
    // SAFETY: fd is a new descriptor we own.
    let fan = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut mask = match mode {
        Mode::Block => libc::FAN_OPEN_PERM,
        Mode::Notify => libc::FAN_CLOSE_WRITE | libc::FAN_OPEN,
    };
    mask |= libc::FAN_EVENT_ON_CHILD;
    let dirs = directories(roots, &excluded);
    if dirs.is_empty() {
        bail!("on-access: no directory to watch");
    }
    for d in &dirs {
        mark(&fan, d, mask)?;
        if mode == Mode::Block {
            // Executions too, where the kernel has FAN_OPEN_EXEC_PERM.
            let _ = mark(&fan, d, libc::FAN_OPEN_EXEC_PERM | libc::FAN_EVENT_ON_CHILD);
        }
    }
    let n = dirs.len();
    std::thread::Builder::new()
        .name("on-access".into())
        .spawn(move || {
            let mut ev = EventLoop {
                fan,
                mode,
                fail,
                excluded,
                counters,
                buf: vec![0u8; 64 * 1024],
                pending: None,
            };
            while !ev.stopped() {
                scanning(&mut |verdict, current| ev.run(verdict, current));
            }
        })?;
    Ok(n)
}

fn mark(fan: &OwnedFd, dir: &Path, mask: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
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
        bail!(
            "on-access: marking {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
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
    fan: OwnedFd,
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
