//! The embedded default [`Storage`]: one data directory.
//!
//! ```text
//! DIR/checkpoint            the published checkpoint
//! DIR/signed-checkpoint     the newest checkpoint the log signed
//! DIR/tile/<L>/<N>[.p/<W>]  tiles, laid out as their URL paths
//! DIR/tile/entries/...      entry bundles
//! DIR/index.sqlite          dedup index and sequencing state (SQLite, WAL)
//! DIR/lock                  held (advisory lock) while a process uses DIR
//! ```
//!
//! Every file is written to a temporary file in its final directory,
//! fsynced, renamed into place, and the directory fsynced, so a file is
//! either its old or its new content after a crash, and durable on return.
//! The tiles of a batch are staged and fsynced concurrently (the filesystem
//! then commits them together) and each directory is fsynced once.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use crate::storage::{BatchWrite, Storage, StorageError};
use vitrine_tlog::Hash;
use vitrine_tlog::TilePath;

/// A [`Storage`] in a data directory, with a SQLite index beside the files.
pub struct FsStorage {
    dir: PathBuf,
    index: Mutex<Connection>,
    // Serialises checkpoint compare-and-swap within this process; the lock
    // file keeps other processes out.
    checkpoint: Mutex<()>,
    _lock: File,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |err| StorageError::Io {
        op,
        path: path.display().to_string(),
        err,
    }
}

impl FsStorage {
    /// Opens (creating if needed) the data directory `dir` and takes its
    /// lock; fails with [`StorageError::Locked`] if another process has it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Locked {
                    path: dir.display().to_string(),
                })
            }
            Err(fs::TryLockError::Error(err)) => return Err(io_err("lock", &lock_path)(err)),
        }
        let conn = Connection::open(dir.join("index.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dedup (hash BLOB PRIMARY KEY, idx INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS dedup_idx ON dedup (idx);
             CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        Ok(Self {
            dir,
            index: Mutex::new(conn),
            checkpoint: Mutex::new(()),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn tile_file(&self, path: &TilePath) -> PathBuf {
        self.dir.join(path.to_string())
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in
/// the same directory, fsynced, renamed into place, directory fsynced.
/// Missing directories are created (and their parents fsynced).
pub(crate) fn put_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    put_all_atomic(&[(path.to_path_buf(), bytes)])
}

/// Most temporary files written and fsynced at once by [`put_all_atomic`].
const PARALLEL_WRITES: usize = 16;

/// [`put_atomic`] for many files: each is replaced atomically and all are
/// durable on `Ok` (the call as a whole is not atomic). The temporary files
/// are written and fsynced concurrently, so the filesystem can commit them
/// together instead of one journal commit per file, and each directory is
/// fsynced once, after all renames into it.
pub(crate) fn put_all_atomic(files: &[(PathBuf, &[u8])]) -> Result<(), StorageError> {
    let mut dirs: Vec<&Path> = files
        .iter()
        .map(|(path, _)| {
            path.parent()
                .expect("invariant: paths name a file in a directory")
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        make_dirs(dir)?;
    }
    let staged: Vec<Result<PathBuf, StorageError>> = if files.len() == 1 {
        vec![stage(&files[0].0, files[0].1)]
    } else {
        let per_thread = files.len().div_ceil(PARALLEL_WRITES);
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(per_thread)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|(path, bytes)| stage(path, bytes))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("invariant: staging does not panic"))
                .collect()
        })
    };
    let mut tmps = Vec::with_capacity(files.len());
    let mut failed = None;
    for r in staged {
        match r {
            Ok(tmp) => tmps.push(tmp),
            Err(err) => {
                failed.get_or_insert(err);
            }
        }
    }
    let result = match failed {
        Some(err) => Err(err),
        None => (|| {
            for (tmp, (path, _)) in tmps.iter().zip(files) {
                fs::rename(tmp, path).map_err(io_err("rename", path))?;
            }
            dirs.iter().try_for_each(|dir| sync_dir(dir))
        })(),
    };
    if result.is_err() {
        // Those already renamed are gone; that is fine.
        for tmp in &tmps {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

/// Writes `bytes` to a new temporary file beside `path` and fsyncs it.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, StorageError> {
    let parent = path
        .parent()
        .expect("invariant: paths name a file in a directory");
    let name = path.file_name().expect("invariant: paths name a file");
    let tmp = parent.join(format!(
        ".{}.tmp{:016x}",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let result = (|| {
        // Exclusively, never through a link someone planted at the name.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(err) => {
            let _ = fs::remove_file(&tmp);
            Err(err)
        }
    }
}

/// Creates `dir` and any missing parents, fsyncing each parent whose
/// entries changed so the new directories survive a crash.
fn make_dirs(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().expect("invariant: not the root directory");
    make_dirs(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err("mkdir", dir)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

impl Storage for FsStorage {
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
        read_optional(&self.tile_file(path))
    }

    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError> {
        let files: Vec<(PathBuf, &[u8])> = tiles
            .iter()
            .map(|(path, bytes)| (self.tile_file(path), bytes.as_slice()))
            .collect();
        put_all_atomic(&files)
    }

    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError> {
        for path in paths {
            let file = self.tile_file(path);
            match fs::remove_file(&file) {
                Ok(()) => sync_dir(file.parent().expect("invariant: inside the data dir"))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &file)(e)),
            }
        }
        Ok(())
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        read_optional(&self.dir.join("checkpoint"))
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        let _guard = self.checkpoint.lock().unwrap_or_else(|e| e.into_inner());
        if self.read_checkpoint()?.as_deref() != old {
            return Err(StorageError::Conflict);
        }
        put_atomic(&self.dir.join("checkpoint"), new)
    }

    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError> {
        // Cached: the sequencer looks up every entry of every batch.
        let db = self.db();
        let idx: Option<i64> = db
            .prepare_cached("SELECT idx FROM dedup WHERE hash = ?1")?
            .query_row(params![&entry_hash[..]], |r| r.get(0))
            .optional()?;
        Ok(idx.map(|i| i as u64))
    }

    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT OR REPLACE INTO dedup (hash, idx) VALUES (?1, ?2)")?;
            for (hash, idx) in rows {
                stmt.execute(params![&hash[..], *idx as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn forget_from(&self, size: u64) -> Result<(), StorageError> {
        self.db()
            .execute("DELETE FROM dedup WHERE idx >= ?1", params![size as i64])?;
        Ok(())
    }

    fn staged_size(&self) -> Result<Option<u64>, StorageError> {
        let v: Option<i64> = self
            .db()
            .query_row("SELECT value FROM state WHERE key = 'staged'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(v.map(|v| v as u64))
    }

    fn set_staged_size(&self, size: u64) -> Result<(), StorageError> {
        self.db().execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES ('staged', ?1)",
            params![size as i64],
        )?;
        Ok(())
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        read_optional(&self.dir.join("signed-checkpoint"))
    }

    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError> {
        put_atomic(&self.dir.join("signed-checkpoint"), checkpoint)
    }

    /// Three durable steps instead of four: the staged size and the
    /// deduplication rows in one index transaction (rows past the signed
    /// size are forgotten by recovery anyway), then the tiles, then the
    /// signed checkpoint.
    fn write_batch(&self, b: &BatchWrite<'_>) -> Result<(), StorageError> {
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES ('staged', ?1)",
                params![b.staged as i64],
            )?;
            {
                let mut stmt =
                    tx.prepare_cached("INSERT OR REPLACE INTO dedup (hash, idx) VALUES (?1, ?2)")?;
                for (hash, idx) in b.rows {
                    stmt.execute(params![&hash[..], *idx as i64])?;
                }
            }
            tx.commit()?;
        }
        self.write_tiles(b.tiles)?;
        self.set_signed_checkpoint(b.signed)
    }
}
