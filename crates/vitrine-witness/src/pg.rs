//! The witness's state in PostgreSQL, so a witness can run without local
//! state and several witness front ends can share one database.
//!
//! The compare-and-swap is one transaction that locks the log's row
//! (`SELECT ... FOR UPDATE`, or the insert's unique key when there is no
//! row yet): check and update are one step against every other process on
//! the database, as `BEGIN IMMEDIATE` makes them for SQLite. A commit is
//! durable when PostgreSQL says so (`synchronous_commit` on, its default).

use vitrine_pg::{Database, Schema};
use vitrine_tlog::Hash;

use crate::store::{
    from_sql, to_hash, to_sql, Evidence, EvidenceKind, LogState, WitnessStore, MAX_EVIDENCE_PER_LOG,
};
use crate::StoreError;

/// The witness's tables; version N is `migrations[N-1]`.
const SCHEMA: Schema = Schema {
    table: "vitrine_witness_schema",
    // "witness" in ASCII.
    lock: 0x0077_6974_6e65_7373,
    migrations: &["CREATE TABLE vitrine_witness_logs (
             origin TEXT PRIMARY KEY,
             size BIGINT NOT NULL,
             root BYTEA NOT NULL,
             checkpoint BYTEA NOT NULL);
         CREATE TABLE vitrine_witness_evidence (
             id BIGSERIAL PRIMARY KEY,
             origin TEXT NOT NULL,
             time BIGINT NOT NULL,
             kind TEXT NOT NULL,
             cosigned BYTEA NOT NULL,
             request BYTEA NOT NULL);
         CREATE INDEX vitrine_witness_evidence_origin ON vitrine_witness_evidence (origin, id);"],
};

/// A [`WitnessStore`] in a PostgreSQL database (tables `vitrine_witness_*`,
/// so it can share a database with the log). Evidence is kept up to
/// [`MAX_EVIDENCE_PER_LOG`] rows per log.
#[derive(Debug)]
pub struct PgStore {
    db: Database,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db` or key=value) with a
    /// pool of up to `max_connections`, and brings the schema up to date.
    pub fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Ok(PgStore {
            db: Database::connect(url, max_connections, &SCHEMA)?,
        })
    }

    /// Whether the database answers.
    pub fn check(&self) -> Result<(), StoreError> {
        Ok(self.db.check()?)
    }
}

type Row = (i64, Vec<u8>, Vec<u8>);

fn state(origin: &str, row: Option<Row>) -> Result<Option<LogState>, StoreError> {
    row.map(|(size, root, checkpoint)| {
        Ok(LogState {
            size: from_sql(origin, size)?,
            root: to_hash(origin, root)?,
            checkpoint,
        })
    })
    .transpose()
}

impl WitnessStore for PgStore {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        let row = self.db.with(|c| {
            Ok(c.query_opt(
                "SELECT size, root, checkpoint FROM vitrine_witness_logs WHERE origin = $1",
                &[&origin],
            )?
            .map(|r| (r.get(0), r.get(1), r.get(2))))
        })?;
        state(origin, row)
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &LogState,
    ) -> Result<bool, StoreError> {
        let size = to_sql(new.size)?;
        let expected = match expected {
            Some((s, root)) => Some((to_sql(s)?, root.to_vec())),
            None => None,
        };
        let swapped = self.db.with(|c| {
            let mut tx = c.transaction()?;
            let current: Option<(i64, Vec<u8>)> = tx
                .query_opt(
                    "SELECT size, root FROM vitrine_witness_logs WHERE origin = $1 FOR UPDATE",
                    &[&origin],
                )?
                .map(|r| (r.get(0), r.get(1)));
            if current != expected {
                return Ok(false);
            }
            let changed = if current.is_none() {
                // Two first swaps race on the primary key: the loser
                // inserts nothing and reports that it did not swap.
                tx.execute(
                    "INSERT INTO vitrine_witness_logs (origin, size, root, checkpoint)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (origin) DO NOTHING",
                    &[&origin, &size, &&new.root[..], &new.checkpoint],
                )?
            } else {
                tx.execute(
                    "UPDATE vitrine_witness_logs SET size = $2, root = $3, checkpoint = $4
                     WHERE origin = $1",
                    &[&origin, &size, &&new.root[..], &new.checkpoint],
                )?
            };
            tx.commit()?;
            Ok(changed == 1)
        })?;
        Ok(swapped)
    }

    fn record_evidence(&self, e: &Evidence) -> Result<(), StoreError> {
        let time = to_sql(e.time)?;
        let max = MAX_EVIDENCE_PER_LOG as i64;
        self.db.with(|c| {
            // The count and the insert in one statement; concurrent
            // refusals may overshoot the bound by a few rows, which the
            // contract (best effort) allows.
            c.execute(
                "INSERT INTO vitrine_witness_evidence (origin, time, kind, cosigned, request)
                 SELECT $1, $2, $3, $4, $5
                 WHERE (SELECT count(*) FROM vitrine_witness_evidence WHERE origin = $1) < $6",
                &[
                    &e.origin,
                    &time,
                    &e.kind.as_str(),
                    &e.cosigned,
                    &e.request,
                    &max,
                ],
            )
            .map(drop)
        })?;
        Ok(())
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StoreError> {
        let rows = self.db.with(|c| {
            Ok(c.query(
                "SELECT time, kind, cosigned, request FROM vitrine_witness_evidence
                 WHERE origin = $1 ORDER BY id",
                &[&origin],
            )?
            .into_iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    r.get::<_, String>(1),
                    r.get::<_, Vec<u8>>(2),
                    r.get::<_, Vec<u8>>(3),
                )
            })
            .collect::<Vec<_>>())
        })?;
        rows.into_iter()
            .map(|(time, kind, cosigned, request)| {
                Ok(Evidence {
                    origin: origin.to_owned(),
                    time: from_sql(origin, time)?,
                    kind: EvidenceKind::parse(&kind).ok_or(StoreError::Corrupt {
                        origin: origin.to_owned(),
                        what: "unknown evidence kind",
                    })?,
                    cosigned,
                    request,
                })
            })
            .collect()
    }
}
