//! Private state on disk, one way for every crate: directories that no
//! other user can write (and that are refused when they can), secrets
//! and private state created `0600` in directories created `0700`, and
//! files replaced through a temporary file with a unique random name,
//! created exclusively without following a link, then renamed.
//!
//! | function | does |
//! |---|---|
//! | [`check_private_dir`] | refuses a directory that is a link, not a directory, owned by another user (not root, not us) or writable by group or others |
//! | [`private_dir`] | creates a directory (`0700`) if absent, closes an existing one of ours to others, then checks it |
//! | [`write_atomic`] | replaces a file with new contents and a mode, never through a planted link |
//! | [`create_new`] | creates a file exclusively, without following a link |
//! | [`restrict`] | takes group and other permissions off an existing file of ours |
//!
//! Unix only (the servers and the endpoint agent run on Linux).
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a private file or directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// A state directory another user could tamper with.
    #[error("refusing {}: it {reason}", path.display())]
    Insecure {
        /// The directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system refused.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |source| FsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

#[allow(unsafe_code)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses `dir` unless it is a real directory, owned by this user or by
/// root, that neither group nor others can write: anyone else who can
/// write it could plant a key or swap a file under a fixed name.
pub fn check_private_dir(dir: &Path) -> Result<(), FsError> {
    let insecure = |reason: String| FsError::Insecure {
        path: dir.to_path_buf(),
        reason,
    };
    let m = dir
        .symlink_metadata()
        .map_err(io("reading metadata of", dir))?;
    if m.file_type().is_symlink() {
        return Err(insecure("is a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(insecure("is not a directory".into()));
    }
    let me = euid();
    if m.uid() != me && m.uid() != 0 {
        return Err(insecure(format!(
            "is owned by uid {}, neither this user (uid {me}) nor root",
            m.uid()
        )));
    }
    if m.mode() & 0o022 != 0 {
        return Err(insecure(format!(
            "can be written by others (mode {:o}); chmod go-w it",
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Makes `dir` a private directory: created `0700` if absent (its
/// parents as usual), or, if it exists, checked with
/// [`check_private_dir`] and, when it is ours, closed to group and others.
pub fn private_dir(dir: &Path) -> Result<(), FsError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating", dir)(e)),
    }
    check_private_dir(dir)?;
    let m = dir.metadata().map_err(io("reading metadata of", dir))?;
    if m.uid() == euid() && m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("closing to others", dir))?;
    }
    Ok(())
}

/// Creates `path` with `mode`, failing if anything (a file, a link) is
/// already there.
pub fn create_new(path: &Path, mode: u32) -> Result<File, FsError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(io("creating", path))
}

/// Takes group and other permissions off `path` if it is a file of ours
/// (made by an older version, or under a loose umask); a link is refused.
pub fn restrict(path: &Path) -> Result<(), FsError> {
    let m = match path.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("reading metadata of", path)(e)),
    };
    if m.file_type().is_symlink() {
        return Err(FsError::Insecure {
            path: path.to_path_buf(),
            reason: "is a symbolic link".into(),
        });
    }
    if m.uid() == euid() && m.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.mode() & 0o700))
            .map_err(io("closing to others", path))?;
    }
    Ok(())
}

/// The temporary name next to `path`: `.<name>.<16 random hex>.tmp`.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()))
}

/// Writes `data` (file mode `mode`) to a new temporary file next to
/// `path`, with a unique random name, created exclusively without
/// following links, and synced; returns its name for [`rename_into`].
/// On failure the temporary file is removed.
pub fn write_temp(path: &Path, data: &[u8], mode: u32) -> Result<PathBuf, FsError> {
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = create_new(&tmp, mode)?;
        f.write_all(data).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames the temporary file `tmp` (from [`write_temp`]) over `path` and
/// syncs the directory. If the rename fails, `tmp` is removed and `path`
/// is unchanged.
pub fn rename_into(tmp: &Path, path: &Path) -> Result<(), FsError> {
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp);
        return Err(io("renaming into place", path)(e));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))
}

/// Replaces `path` with `data` (file mode `mode`): written to a new
/// temporary file with a unique random name, created exclusively without
/// following links, synced, renamed over `path`, and the directory
/// synced. A link planted at any name is never followed; on failure the
/// temporary file is removed and `path` is unchanged.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), FsError> {
    rename_into(&write_temp(path, data, mode)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        p.symlink_metadata().unwrap().mode() & 0o777
    }

    #[test]
    fn private_dirs_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        let f = d.join("secret");
        write_atomic(&f, b"one", 0o600).unwrap();
        write_atomic(&f, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(mode(&f), 0o600);
        // No temporary left behind.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);

        // An existing directory of ours that others can read is closed.
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        std::fs::write(open.join("db"), b"x").unwrap();
        std::fs::set_permissions(open.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&open.join("db")).unwrap();
        assert_eq!(mode(&open.join("db")), 0o600);
    }

    #[test]
    fn writable_by_others_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("shared");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&d).unwrap_err();
        assert!(
            matches!(&err, FsError::Insecure { path, .. } if *path == d),
            "{err}"
        );
        assert!(
            err.to_string().contains("can be written by others"),
            "{err}"
        );
        assert!(err.to_string().contains("shared"), "{err}");
        // A link in place of the directory is refused too.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert!(matches!(
            check_private_dir(&link),
            Err(FsError::Insecure { .. })
        ));
    }

    /// Owned by someone else than root or us: refused, naming the owner.
    /// (Only root can give a directory away; as another user the chown
    /// fails and there is nothing to check.)
    #[test]
    fn owned_by_another_user_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("theirs");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        if std::os::unix::fs::chown(&d, Some(54321), None).is_err() {
            return;
        }
        let err = check_private_dir(&d).unwrap_err();
        assert!(err.to_string().contains("is owned by uid 54321"), "{err}");
        assert!(matches!(err, FsError::Insecure { .. }));
    }

    #[test]
    fn a_planted_link_is_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"root's file").unwrap();
        let path = tmp.path().join("head");
        // Links at the old fixed temporary name and at the target itself.
        std::os::unix::fs::symlink(&victim, tmp.path().join(".head.tmp")).unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("head.tmp")).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"root's file");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let err = create_new(&tmp.path().join("head.tmp"), 0o600).unwrap_err();
        assert!(matches!(err, FsError::Io { .. }));
        assert_eq!(std::fs::read(&victim).unwrap(), b"root's file");
    }
}
