//! The embedded store: one SQLite database file.
//!
//! Why SQLite rather than files + rename: the compare-and-swap has to be
//! atomic against other processes too (two `vitrine witness serve` on one
//! data directory, or a backup tool), and `BEGIN IMMEDIATE` gives exactly
//! that — the write lock is taken before the read, so check and update are
//! one step — with WAL and `synchronous=FULL` making each commit durable
//! with one fsync. Per-log files would need a lock file, a rename and two
//! fsyncs per request, and a separate scheme for the evidence table.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use vitrine_tlog::Hash;

use crate::store::{
    from_sql, to_hash, to_sql, Evidence, EvidenceKind, LogState, WitnessStore, MAX_EVIDENCE_PER_LOG,
};
use crate::StoreError;

/// A [`WitnessStore`] in a SQLite database (bundled SQLite, WAL,
/// `synchronous=FULL`). Each compare-and-swap is one `BEGIN IMMEDIATE`
/// transaction; evidence is kept up to [`MAX_EVIDENCE_PER_LOG`] rows per
/// log.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Another process may hold the write lock for one short transaction.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS logs (
                 origin TEXT PRIMARY KEY,
                 size INTEGER NOT NULL,
                 root BLOB NOT NULL,
                 checkpoint BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS evidence (
                 id INTEGER PRIMARY KEY,
                 origin TEXT NOT NULL,
                 time INTEGER NOT NULL,
                 kind TEXT NOT NULL,
                 cosigned BLOB NOT NULL,
                 request BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS evidence_origin ON evidence (origin, id);",
        )?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolls back when the transaction drops.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn read_state(conn: &Connection, origin: &str) -> Result<Option<LogState>, StoreError> {
    let row = conn
        .query_row(
            "SELECT size, root, checkpoint FROM logs WHERE origin = ?1",
            params![origin],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )
        .optional()?;
    row.map(|(size, root, checkpoint)| {
        Ok(LogState {
            size: from_sql(origin, size)?,
            root: to_hash(origin, root)?,
            checkpoint,
        })
    })
    .transpose()
}

impl WitnessStore for SqliteStore {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        read_state(&self.db(), origin)
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &LogState,
    ) -> Result<bool, StoreError> {
        let size = to_sql(new.size)?;
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = read_state(&tx, origin)?.map(|s| (s.size, s.root));
        if current != expected {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO logs (origin, size, root, checkpoint) VALUES (?1, ?2, ?3, ?4)",
            params![origin, size, &new.root[..], &new.checkpoint],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn record_evidence(&self, e: &Evidence) -> Result<(), StoreError> {
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count: i64 = tx.query_row(
            "SELECT count(*) FROM evidence WHERE origin = ?1",
            params![e.origin],
            |r| r.get(0),
        )?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_EVIDENCE_PER_LOG {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO evidence (origin, time, kind, cosigned, request) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                e.origin,
                to_sql(e.time)?,
                e.kind.as_str(),
                e.cosigned,
                e.request
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StoreError> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT time, kind, cosigned, request FROM evidence WHERE origin = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![origin], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (time, kind, cosigned, request) = row?;
            out.push(Evidence {
                origin: origin.to_owned(),
                time: from_sql(origin, time)?,
                kind: EvidenceKind::parse(&kind).ok_or(StoreError::Corrupt {
                    origin: origin.to_owned(),
                    what: "unknown evidence kind",
                })?,
                cosigned,
                request,
            });
        }
        Ok(out)
    }
}
