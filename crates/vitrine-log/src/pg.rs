//! A [`Storage`] in PostgreSQL: tiles, entry bundles, the deduplication
//! index, the published and the signed checkpoint, and the staged size,
//! in one database that any number of front ends can share.
//!
//! Every write is one transaction, durable when PostgreSQL commits it
//! (`synchronous_commit` is on by default: keep it on). The published
//! checkpoint is replaced by a compare-and-swap in one `UPDATE ... WHERE
//! checkpoint IS NOT DISTINCT FROM $old`, so two sequencers on one
//! database cannot both publish from the same checkpoint: the log stays
//! one log. The schema is versioned and migrated at connect, under an
//! advisory lock so that front ends starting together migrate once.
//!
//! **Fencing.** Several front ends share one database and one of them,
//! the leader, sequences (see [`crate::Node`]). The row `vitrine_leader`
//! holds the leader epoch, incremented by each process that becomes
//! leader ([`PgStorage::begin_epoch`]). Every write transaction first
//! reads that row `FOR SHARE` and goes on only if the epoch is the one
//! this storage claimed (0 for a storage that never claimed one, which can
//! therefore write only to a database where nobody was ever elected, as
//! `log init` and `log migrate` need); otherwise it rolls back and fails
//! with [`StorageError::Fenced`]. The share lock makes an increment wait
//! for write transactions in flight, and every later write of an older
//! epoch sees the new one: a deposed leader (lost its lock, paused,
//! partitioned) can write nothing once another has taken over.

use std::sync::atomic::{AtomicU64, Ordering};
use vitrine_pg::{Database, Schema};
use vitrine_tlog::{Hash, TilePath};

use crate::storage::{BatchWrite, Storage, StorageError};

/// The schema, one migration per version; a database records the last
/// one applied in `vitrine_schema`.
const SCHEMA: Schema = Schema {
    table: "vitrine_schema",
    // "vitrine" in ASCII.
    lock: 0x0076_6974_7269_6e65,
    migrations: MIGRATIONS,
};

const MIGRATIONS: &[&str] = &[
    // 1: the log.
    "CREATE TABLE vitrine_tiles (path TEXT PRIMARY KEY, data BYTEA NOT NULL);
     CREATE TABLE vitrine_state (
         id INT PRIMARY KEY CHECK (id = 1),
         checkpoint BYTEA,
         signed BYTEA,
         staged BIGINT
     );
     INSERT INTO vitrine_state (id) VALUES (1);
     CREATE TABLE vitrine_index (hash BYTEA PRIMARY KEY, idx BIGINT NOT NULL);
     CREATE INDEX vitrine_index_idx ON vitrine_index (idx);",
    // 2: the leader epoch (fencing) and where the leader takes `/add`.
    "CREATE TABLE vitrine_leader (
         id INT PRIMARY KEY CHECK (id = 1),
         epoch BIGINT NOT NULL,
         address TEXT,
         since TIMESTAMPTZ
     );
     INSERT INTO vitrine_leader (id, epoch) VALUES (1, 0);",
];

/// The session advisory lock whose holder is the leader ("vitlead").
pub(crate) const LEADER_LOCK: i64 = 0x0076_6974_6c65_6164;

/// The log's storage in a PostgreSQL database.
pub struct PgStorage {
    db: Database,
    /// The leader epoch this storage writes under (see the module docs).
    epoch: AtomicU64,
}

/// Who leads the log, as the database says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRecord {
    /// The epoch of the newest leader (0: nobody was ever elected).
    pub epoch: u64,
    /// The URL where it takes `/add` (its `--advertise`).
    pub address: Option<String>,
    /// Whether a process holds the leader lock now. `false` means the
    /// last leader is gone and nobody has taken over yet.
    pub alive: bool,
}

fn pg_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Postgres(e.to_string())
}

impl PgStorage {
    /// Connects to `url` (`postgres://user@host:port/database`, or the
    /// key=value form) with a pool of up to `max_connections`, and brings
    /// the schema up to date.
    pub fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        Ok(PgStorage {
            db: Database::connect(url, max_connections, &SCHEMA).map_err(pg_error)?,
            epoch: AtomicU64::new(0),
        })
    }

    /// The schema version of the database after migrating.
    pub fn schema_version(&self) -> Result<usize, StorageError> {
        self.db.schema_version(&SCHEMA).map_err(pg_error)
    }

    /// Makes this storage the writer of a new leader epoch: increments the
    /// epoch in the database, records `address` as where the leader takes
    /// `/add`, and returns the new epoch. From its commit on, writes of
    /// every storage holding an older epoch fail with
    /// [`StorageError::Fenced`]. The caller must hold the leader lock
    /// (see [`crate::Node`]); the increment waits for write transactions
    /// of the old epoch that are in flight.
    pub fn begin_epoch(&self, address: &str) -> Result<u64, StorageError> {
        let epoch = self.with(|c| {
            let row = c.query_one(
                "UPDATE vitrine_leader SET epoch = epoch + 1, address = $1, since = now()
                 WHERE id = 1 RETURNING epoch",
                &[&address],
            )?;
            Ok(row.get::<_, i64>(0) as u64)
        })?;
        self.epoch.store(epoch, Ordering::SeqCst);
        Ok(epoch)
    }

    /// The epoch this storage writes under (0 if it never began one).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Who leads the log now, as the database says: the epoch row and
    /// whether some session holds the leader lock.
    pub fn leader(&self) -> Result<LeaderRecord, StorageError> {
        let (class, obj) = lock_ids(LEADER_LOCK);
        self.with(|c| {
            let row = c.query_one(
                "SELECT epoch, address, EXISTS (
                     SELECT 1 FROM pg_locks
                     WHERE locktype = 'advisory' AND granted AND objsubid = 1
                       AND classid = $1 AND objid = $2
                       AND database = (SELECT oid FROM pg_database
                                       WHERE datname = current_database()))
                 FROM vitrine_leader WHERE id = 1",
                &[&class, &obj],
            )?;
            Ok(LeaderRecord {
                epoch: row.get::<_, i64>(0) as u64,
                address: row.get(1),
                alive: row.get(2),
            })
        })
    }

    /// Runs `f` on a pooled connection (see [`Database::with`]: retries
    /// after lost connections, and a thread of its own when called from
    /// async code, such as the witness client computing proofs in a task).
    fn with<T: Send>(
        &self,
        f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, StorageError> {
        self.db.with(f).map_err(pg_error)
    }

    /// Runs `f` in a write transaction fenced by the leader epoch: it
    /// commits only if the database's epoch is still this storage's, and
    /// fails with [`StorageError::Fenced`] (having changed nothing)
    /// otherwise.
    fn write<T: Send>(
        &self,
        mut f: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, StorageError> {
        let mine = self.epoch();
        let outcome = self.with(|c| {
            let mut tx = c.transaction()?;
            let current = tx
                .query_one(
                    "SELECT epoch FROM vitrine_leader WHERE id = 1 FOR SHARE",
                    &[],
                )?
                .get::<_, i64>(0) as u64;
            if current != mine {
                // Dropping the transaction rolls it back.
                return Ok(Err(current));
            }
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(Ok(value))
        })?;
        outcome.map_err(|current| StorageError::Fenced { mine, current })
    }

    fn state_column(&self, column: &'static str) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = format!("SELECT {column} FROM vitrine_state WHERE id = 1");
        self.with(|c| Ok(c.query_one(sql.as_str(), &[])?.get(0)))
    }
}

/// The `pg_locks` (classid, objid) of an advisory lock taken with one
/// bigint key: its high and low 32 bits.
fn lock_ids(key: i64) -> (u32, u32) {
    ((key as u64 >> 32) as u32, key as u64 as u32)
}

fn index(i: u64) -> Result<i64, StorageError> {
    i64::try_from(i).map_err(|_| StorageError::Postgres(format!("index {i} out of range")))
}

/// Inserts or replaces tiles, all in one statement (one round trip).
fn put_tiles(
    c: &mut impl postgres::GenericClient,
    tiles: &[(TilePath, Vec<u8>)],
) -> Result<(), postgres::Error> {
    if tiles.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = tiles.iter().map(|(p, _)| p.to_string()).collect();
    let data: Vec<&[u8]> = tiles.iter().map(|(_, d)| d.as_slice()).collect();
    c.execute(
        "INSERT INTO vitrine_tiles (path, data) SELECT * FROM unnest($1::text[], $2::bytea[])
         ON CONFLICT (path) DO UPDATE SET data = EXCLUDED.data",
        &[&paths, &data],
    )
    .map(drop)
}

/// The columns of deduplication rows, for [`put_rows`].
fn row_columns(rows: &[(Hash, u64)]) -> Result<(Vec<&[u8]>, Vec<i64>), StorageError> {
    let hashes = rows.iter().map(|(h, _)| h.as_slice()).collect();
    let indexes = rows
        .iter()
        .map(|(_, i)| index(*i))
        .collect::<Result<_, _>>()?;
    Ok((hashes, indexes))
}

/// Inserts or replaces deduplication rows in one statement; the hashes
/// are distinct (the sequencer merges duplicates of a batch).
fn put_rows(
    c: &mut impl postgres::GenericClient,
    hashes: &[&[u8]],
    indexes: &[i64],
) -> Result<(), postgres::Error> {
    if hashes.is_empty() {
        return Ok(());
    }
    c.execute(
        "INSERT INTO vitrine_index (hash, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])
         ON CONFLICT (hash) DO UPDATE SET idx = EXCLUDED.idx",
        &[&hashes, &indexes],
    )
    .map(drop)
}

impl Storage for PgStorage {
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
        let key = path.to_string();
        self.with(|c| {
            Ok(
                c.query_opt("SELECT data FROM vitrine_tiles WHERE path = $1", &[&key])?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError> {
        self.write(|tx| put_tiles(tx, tiles))
    }

    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError> {
        let keys: Vec<String> = paths.iter().map(ToString::to_string).collect();
        self.write(|tx| {
            tx.execute("DELETE FROM vitrine_tiles WHERE path = ANY($1)", &[&keys])
                .map(drop)
        })
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.state_column("checkpoint")
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        let changed = self.write(|tx| {
            tx.execute(
                "UPDATE vitrine_state SET checkpoint = $2
                 WHERE id = 1 AND checkpoint IS NOT DISTINCT FROM $1",
                &[&old, &new],
            )
        })?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StorageError::Conflict)
        }
    }

    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError> {
        let hash = entry_hash.as_slice();
        self.with(|c| {
            Ok(
                c.query_opt("SELECT idx FROM vitrine_index WHERE hash = $1", &[&hash])?
                    .map(|r| r.get::<_, i64>(0) as u64),
            )
        })
    }

    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError> {
        let (hashes, indexes) = row_columns(rows)?;
        self.write(|tx| put_rows(tx, &hashes, &indexes))
    }

    fn forget_from(&self, size: u64) -> Result<(), StorageError> {
        let size = index(size)?;
        self.write(|tx| {
            tx.execute("DELETE FROM vitrine_index WHERE idx >= $1", &[&size])
                .map(drop)
        })
    }

    fn staged_size(&self) -> Result<Option<u64>, StorageError> {
        self.with(|c| {
            Ok(
                c.query_one("SELECT staged FROM vitrine_state WHERE id = 1", &[])?
                    .get::<_, Option<i64>>(0)
                    .map(|s| s as u64),
            )
        })
    }

    fn set_staged_size(&self, size: u64) -> Result<(), StorageError> {
        let size = index(size)?;
        self.write(|tx| {
            tx.execute(
                "UPDATE vitrine_state SET staged = $1 WHERE id = 1",
                &[&size],
            )
            .map(drop)
        })
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.state_column("signed")
    }

    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE vitrine_state SET signed = $1 WHERE id = 1",
                &[&checkpoint],
            )
            .map(drop)
        })
    }

    fn lookup_many(&self, hashes: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        let keys: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        let found: std::collections::HashMap<Vec<u8>, u64> = self.with(|c| {
            Ok(c.query(
                "SELECT hash, idx FROM vitrine_index WHERE hash = ANY($1)",
                &[&keys],
            )?
            .into_iter()
            .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, i64>(1) as u64))
            .collect())
        })?;
        Ok(hashes
            .iter()
            .map(|h| found.get(h.as_slice()).copied())
            .collect())
    }

    /// One fenced transaction: the staged size, tiles, rows and signed
    /// checkpoint become durable together, in one commit (one WAL flush)
    /// instead of four.
    fn write_batch(&self, b: &BatchWrite<'_>) -> Result<(), StorageError> {
        let staged = index(b.staged)?;
        let (hashes, indexes) = row_columns(b.rows)?;
        self.write(|tx| {
            tx.execute(
                "UPDATE vitrine_state SET staged = $1 WHERE id = 1",
                &[&staged],
            )?;
            put_tiles(tx, b.tiles)?;
            put_rows(tx, &hashes, &indexes)?;
            tx.execute(
                "UPDATE vitrine_state SET signed = $1 WHERE id = 1",
                &[&b.signed],
            )
            .map(drop)
        })
    }
}
