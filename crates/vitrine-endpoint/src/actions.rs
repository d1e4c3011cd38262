//! What is done with a file that has a detection: moved into the
//! quarantine store, or, as ClamAV's --move, --copy and --remove do, moved,
//! copied or deleted.

use std::path::{Path, PathBuf};

use vitrine_scan::FileReport;

/// Moves the file of `report` into quarantine; returns the item ID.
pub fn quarantine_file(
    store: &vitrine_quarantine::Store,
    report: &FileReport,
    rules: &str,
) -> Result<String, String> {
    if report.path == "stdin" {
        return Err("standard input cannot be quarantined".into());
    }
    let detections = report
        .all_detections()
        .map(|(member, d)| {
            if member.is_empty() {
                d.name().to_string()
            } else {
                format!("{member}: {}", d.name())
            }
        })
        .collect();
    let reason = vitrine_quarantine::Reason {
        detections,
        rules: rules.to_string(),
    };
    store
        .quarantine(std::path::Path::new(&report.path), reason)
        .map(|item| item.id)
        .map_err(|e| e.to_string())
}

/// What is done with each file that has a detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quarantine,
    Move,
    Copy,
    Remove,
}

impl Action {
    /// The JSON key and the word in `... failed` lines.
    pub fn key(self) -> &'static str {
        match self {
            Action::Quarantine => "quarantine",
            Action::Move => "move",
            Action::Copy => "copy",
            Action::Remove => "remove",
        }
    }
    /// The end of `N files with detections could not be ...` (`one`: N
    /// is 1).
    pub fn failed(self, one: bool) -> &'static str {
        match (self, one) {
            (Action::Quarantine, true) => "quarantined and was left in place",
            (Action::Quarantine, false) => "quarantined and were left in place",
            (Action::Move, true) => "moved and was left in place",
            (Action::Move, false) => "moved and were left in place",
            (Action::Copy, _) => "copied",
            (Action::Remove, true) => "removed and was left in place",
            (Action::Remove, false) => "removed and were left in place",
        }
    }
}

/// Moves, copies or removes the file of `report` (ClamAV's --move,
/// --copy, --remove); returns where it went.
pub fn dispose(action: Action, report: &FileReport, dir: Option<&Path>) -> Result<String, String> {
    if report.path == "stdin" {
        let done = match action {
            Action::Copy => "copied",
            Action::Remove => "removed",
            _ => "moved",
        };
        return Err(format!("standard input cannot be {done}"));
    }
    let path = Path::new(&report.path);
    let place = |put: &dyn Fn(&Path) -> std::io::Result<()>| -> Result<PathBuf, String> {
        let dir = dir.ok_or("no directory given")?;
        let name = path.file_name().ok_or("the path has no file name")?;
        for n in 0..1000u32 {
            let mut candidate = name.to_os_string();
            if n > 0 {
                candidate.push(format!(".{n:03}"));
            }
            let dest = dir.join(&candidate);
            match put(&dest) {
                Ok(()) => return Ok(dest),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("{}: {e}", dest.display())),
            }
        }
        Err(format!(
            "{}: 1000 files of that name already there",
            dir.display()
        ))
    };
    match action {
        Action::Quarantine => Err("internal: quarantine is not disposed here".into()),
        Action::Remove => std::fs::remove_file(path)
            .map(|()| String::new())
            .map_err(|e| e.to_string()),
        Action::Copy => place(&|dest| copy_regular(path, dest)).map(|d| d.display().to_string()),
        Action::Move => {
            // A hard link never replaces an existing name; across file
            // systems, a copy. The original goes only once the new name
            // holds the bytes.
            let dest = place(&|dest| match std::fs::hard_link(path, dest) {
                // Another file system, or hard links refused
                // (fs.protected_hardlinks): copy.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EPERM)) => {
                    copy_regular(path, dest)
                }
                r => r,
            })?;
            match std::fs::remove_file(path) {
                Ok(()) => Ok(dest.display().to_string()),
                Err(e) => {
                    let _ = std::fs::remove_file(&dest);
                    Err(format!("cannot remove the original: {e}"))
                }
            }
        }
    }
}

/// Copies the regular file `src` (never through a symbolic link) to the
/// new file `dest`, mode 0600.
fn copy_regular(src: &Path, dest: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut from = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(src)?;
    if !from.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file any more"));
    }
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)?;
    let copied = std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    if copied.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    copied
}
