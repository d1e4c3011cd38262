//! The scan cache: files found clean are not read again until they change
//! or the rules do.
//!
//! A file is identified by device and inode and counts as unchanged while
//! its size, modification time and status-change time are the same. The
//! status-change time (ctime) cannot be set by a user, so a file rewritten
//! with its old mtime restored is still rescanned. Everything is keyed by a
//! *profile*: a digest of the rules and of every option that changes a
//! verdict (see [`crate::RuleSet::digest`]); opening the cache under
//! another profile empties it.
//!
//! Only clean verdicts are cached. A file whose times are within a second
//! of the moment it was read is not cached either: file-system timestamps
//! are coarse (a kernel tick), and a write in the same tick as our read
//! would otherwise leave the same times behind (git's "racy clean" case).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};

/// Errors of the scan cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The database could not be opened, read or written.
    #[error("scan cache {}: {source}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
        }
    }
}

/// A persistent set of files known clean under one profile.
pub struct ScanCache {
    path: PathBuf,
    conn: Mutex<Connection>,
    known: HashMap<(u64, u64), Stamp>,
    pending: Mutex<Vec<Change>>,
}

/// A file (device, inode) and its new clean stamp, or `None` to forget it.
type Change = ((u64, u64), Option<Stamp>);

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanCache")
            .field("path", &self.path)
            .field("entries", &self.known.len())
            .finish()
    }
}

/// Pending changes are written in one transaction once this many gather.
const FLUSH_EVERY: usize = 4096;

impl ScanCache {
    /// Opens (or creates) the cache at `path` for `profile`. Entries made
    /// under another profile are dropped.
    pub fn open(path: &Path, profile: &str) -> Result<ScanCache, CacheError> {
        let err = |source| CacheError::Db {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS clean (
                 dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
                 mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
                 PRIMARY KEY (dev, ino));",
        )
        .map_err(err)?;
        let stored: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'profile'", [], |r| {
                r.get(0)
            })
            .ok();
        if stored.as_deref() != Some(profile) {
            conn.execute_batch("BEGIN; DELETE FROM clean;")
                .map_err(err)?;
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('profile', ?1)",
                [profile],
            )
            .map_err(err)?;
            conn.execute_batch("COMMIT;").map_err(err)?;
        }
        let mut known = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT dev, ino, size, mtime_ns, ctime_ns FROM clean")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        (r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64),
                        Stamp {
                            size: r.get::<_, i64>(2)? as u64,
                            mtime_ns: r.get(3)?,
                            ctime_ns: r.get(4)?,
                        },
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (k, v) = row.map_err(err)?;
                known.insert(k, v);
            }
        }
        Ok(ScanCache {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            known,
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Number of files known clean when the cache was opened.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether the cache held nothing when opened.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Whether the file with metadata `m` was found clean and has not
    /// changed since.
    pub(crate) fn is_clean(&self, m: &std::fs::Metadata) -> bool {
        self.known.get(&(m.dev(), m.ino())) == Some(&Stamp::of(m))
    }

    /// Records the verdict for a file read with metadata `before` (taken
    /// before reading) and `after` (after). Only a clean file that did not
    /// change while it was read, and whose times are not too recent, is
    /// remembered; anything else forgets the file.
    pub(crate) fn record(
        &self,
        before: &std::fs::Metadata,
        after: Option<&std::fs::Metadata>,
        clean: bool,
    ) {
        let key = (before.dev(), before.ino());
        let stamp = Stamp::of(before);
        let unchanged = after.is_some_and(|a| Stamp::of(a) == stamp);
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let settled = now_ns - stamp.ctime_ns.max(stamp.mtime_ns) > 1_000_000_000;
        let value = (clean && unchanged && settled).then_some(stamp);
        if value.is_none() && !self.known.contains_key(&key) {
            return;
        }
        if value.is_some() && self.known.get(&key) == value.as_ref() {
            return;
        }
        let full = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push((key, value));
            p.len() >= FLUSH_EVERY
        };
        if full {
            // A failed intermediate write only costs a rescan later; the
            // final flush reports errors.
            let _ = self.flush();
        }
    }

    /// Writes pending changes in one transaction.
    pub fn flush(&self) -> Result<(), CacheError> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        let err = |source| CacheError::Db {
            path: self.path.clone(),
            source,
        };
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction().map_err(err)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO clean (dev, ino, size, mtime_ns, ctime_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let mut del = tx
                .prepare_cached("DELETE FROM clean WHERE dev = ?1 AND ino = ?2")
                .map_err(err)?;
            for ((dev, ino), v) in &batch {
                match v {
                    Some(s) => put
                        .execute(params![
                            *dev as i64,
                            *ino as i64,
                            s.size as i64,
                            s.mtime_ns,
                            s.ctime_ns
                        ])
                        .map_err(err)?,
                    None => del
                        .execute(params![*dev as i64, *ino as i64])
                        .map_err(err)?,
                };
            }
        }
        tx.commit().map_err(err)
    }
}
