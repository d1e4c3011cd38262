//! The intake's state in PostgreSQL, so an intake keeps nothing on its
//! machine besides its key and configuration, and several intake
//! processes can share one database (tables `vitrine_intake_*`, beside the
//! log's and the witness's if they share it).
//!
//! The ciphertext is a `BYTEA` row of its own (stored out of line, not
//! compressed: it is random). As in the embedded store, the data key is
//! never stored; the shares are sealed to keyholders (`store.rs`).
//!
//! Concurrency: every change of a sample (put, undo, destroy) is one
//! transaction that first takes a transaction-scoped advisory lock on the
//! sample (`pg_advisory_xact_lock(CLASS, hashtext(tenant, sha))`), so check
//! and change are one step against every other process on the database,
//! as `BEGIN IMMEDIATE` makes them for SQLite. A commit is durable when
//! PostgreSQL says so (`synchronous_commit` on, its default).
//!
//! # What PostgreSQL keeps after a destroy
//!
//! A destroy deletes the sample's ciphertext and sealed shares in one
//! transaction. A `DELETE` in PostgreSQL does not overwrite: the rows stay
//! in their pages as dead tuples until `VACUUM` reclaims the space (and
//! even then the bytes remain until the page is reused), they are in the
//! write-ahead log until it is recycled (and in any WAL archive or
//! replica), and in every base backup taken while they were live. The
//! store runs `VACUUM` on the shares and ciphertext tables after destroys
//! ([`IntakeStore::purge`]), which is cheap for tables that mostly hold
//! live rows, so the space is reused soon; it cannot reach the WAL, the
//! archives or the backups. What lingers there is ciphertext and shares
//! sealed to keyholders: the data key was never stored, so it opens
//! nothing without k keyholders, each of whom releases its share only for
//! an access logged in the custody log.
//!
//! A lost reply to a commit is retried (`vitrine_pg`): a put whose commit
//! went through but whose reply was lost finds the sample held on retry
//! and reports [`Undo::Nothing`], so if its receipt then cannot be logged
//! the sample stays without one (as a concurrent identical put's would).

use vitrine_egress::ReceiptBundle;
use vitrine_keyholder::{KeyholderKey, WrappedShare};
use vitrine_pg::postgres::{GenericClient, Transaction};
use vitrine_pg::{Database, Schema};

use crate::store::{
    decode_hashes, decode_shares, seal_sample, EventCounts, EventRow, IntakeStore, NewSample,
    OldRow, SampleInfo, Undo,
};
use crate::StoreError;

/// The intake's tables; version N is `migrations[N-1]`.
const SCHEMA: Schema = Schema {
    table: "vitrine_intake_schema",
    // "intake" in ASCII.
    lock: 0x0000_696e_7461_6b65,
    migrations: &["CREATE TABLE vitrine_intake_samples (
             tenant TEXT NOT NULL,
             sha256 TEXT NOT NULL,
             size BIGINT NOT NULL,
             received BIGINT NOT NULL,
             metadata TEXT NOT NULL,
             policy_id TEXT NOT NULL,
             policy_sha256 TEXT NOT NULL,
             has_content BOOLEAN NOT NULL,
             deleted BIGINT,
             deletion_logged BOOLEAN NOT NULL DEFAULT FALSE,
             receipt TEXT,
             PRIMARY KEY (tenant, sha256));
         CREATE INDEX vitrine_intake_samples_sha256 ON vitrine_intake_samples (sha256);
         CREATE TABLE vitrine_intake_contents (
             tenant TEXT NOT NULL,
             sha256 TEXT NOT NULL,
             sealed BYTEA NOT NULL,
             PRIMARY KEY (tenant, sha256));
         ALTER TABLE vitrine_intake_contents ALTER COLUMN sealed SET STORAGE EXTERNAL;
         CREATE TABLE vitrine_intake_shares (
             tenant TEXT NOT NULL,
             sha256 TEXT NOT NULL,
             keyholder TEXT NOT NULL,
             threshold INT NOT NULL,
             sealed TEXT NOT NULL,
             PRIMARY KEY (tenant, sha256, keyholder));
         CREATE TABLE vitrine_intake_events (
             id BIGSERIAL PRIMARY KEY,
             tenant TEXT NOT NULL,
             sha256 TEXT NOT NULL,
             kind TEXT NOT NULL,
             who TEXT,
             detail TEXT NOT NULL,
             time BIGINT NOT NULL,
             note TEXT NOT NULL,
             log_index BIGINT);
         CREATE INDEX vitrine_intake_events_tenant ON vitrine_intake_events (tenant, id);"],
};

/// The first key of the per-sample advisory locks ("vi" in ASCII); the
/// two-key form's key space is apart from the one-key locks of migrations
/// and leader election.
const LOCK_CLASS: i32 = 0x7669;

/// An [`IntakeStore`] in a PostgreSQL database.
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

/// Serialises every change of one sample across every process on the
/// database, until the transaction ends.
fn lock(
    tx: &mut Transaction<'_>,
    tenant: &str,
    sha: &str,
) -> Result<(), vitrine_pg::postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::text || E'\\n' || $3::text))",
        &[&LOCK_CLASS, &tenant, &sha],
    )
    .map(drop)
}

fn read_old(
    c: &mut impl GenericClient,
    tenant: &str,
    sha: &str,
) -> Result<Option<OldRow>, vitrine_pg::postgres::Error> {
    Ok(c.query_opt(
        "SELECT size, received, metadata, policy_id, policy_sha256, has_content, deleted, deletion_logged, receipt
         FROM vitrine_intake_samples WHERE tenant = $1 AND sha256 = $2",
        &[&tenant, &sha],
    )?
    .map(|r| OldRow {
        size: r.get(0),
        received: r.get(1),
        metadata: r.get(2),
        policy_id: r.get(3),
        policy_sha256: r.get(4),
        has_content: r.get(5),
        deleted: r.get(6),
        deletion_logged: r.get(7),
        receipt: r.get(8),
    }))
}

/// Removes a sample's ciphertext and sealed shares.
fn remove_content(
    tx: &mut Transaction<'_>,
    tenant: &str,
    sha: &str,
) -> Result<(), vitrine_pg::postgres::Error> {
    tx.execute(
        "DELETE FROM vitrine_intake_shares WHERE tenant = $1 AND sha256 = $2",
        &[&tenant, &sha],
    )?;
    tx.execute(
        "DELETE FROM vitrine_intake_contents WHERE tenant = $1 AND sha256 = $2",
        &[&tenant, &sha],
    )?;
    Ok(())
}

const COLS: &str = "sha256, size, received, metadata, policy_id, has_content, deleted, receipt";

fn info(r: &vitrine_pg::postgres::Row) -> SampleInfo {
    SampleInfo::from_row(
        r.get(0),
        r.get(1),
        r.get(2),
        r.get::<_, &str>(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get::<_, Option<&str>>(7),
    )
}

impl IntakeStore for PgStore {
    fn put(
        &self,
        s: &NewSample<'_>,
        keyholders: &[KeyholderKey],
        threshold: usize,
    ) -> Result<Undo, StoreError> {
        let sha = hex::encode(s.sha256);
        let with_content = s.content.is_some();
        // A resubmission of what is held (the common case in an outbreak)
        // changes nothing: no need to encrypt it again.
        if self
            .db
            .with(|c| read_old(c, s.tenant, &sha))?
            .is_some_and(|o| o.kept(with_content))
        {
            return Ok(Undo::Nothing);
        }
        let sealed = seal_sample(s, keyholders, threshold)?;
        let (size, now) = (s.size as i64, s.now as i64);
        let stored = self.db.with(|c| {
            let mut tx = c.transaction()?;
            lock(&mut tx, s.tenant, &sha)?;
            let old = read_old(&mut tx, s.tenant, &sha)?;
            // Checked again under the lock: another submission of the same
            // sample may have stored it meanwhile. (Dropping the
            // transaction rolls it back.)
            if old.as_ref().is_some_and(|o| o.kept(with_content)) {
                return Ok(None);
            }
            remove_content(&mut tx, s.tenant, &sha)?;
            tx.execute(
                "INSERT INTO vitrine_intake_samples (tenant, sha256, size, received, metadata, policy_id, policy_sha256, has_content, deleted, deletion_logged, receipt)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, FALSE, NULL)
                 ON CONFLICT (tenant, sha256) DO UPDATE SET size = $3, received = $4, metadata = $5, policy_id = $6, policy_sha256 = $7, has_content = $8, deleted = NULL, deletion_logged = FALSE, receipt = NULL",
                &[&s.tenant, &sha, &size, &now, &s.metadata, &s.policy_id, &s.policy_sha256, &with_content],
            )?;
            if let Some(sealed) = &sealed {
                tx.execute(
                    "INSERT INTO vitrine_intake_contents (tenant, sha256, sealed) VALUES ($1, $2, $3)",
                    &[&s.tenant, &sha, &sealed.ciphertext],
                )?;
                let k = i32::from(sealed.threshold);
                for (keyholder, json) in sealed.share_rows() {
                    tx.execute(
                        "INSERT INTO vitrine_intake_shares (tenant, sha256, keyholder, threshold, sealed) VALUES ($1, $2, $3, $4, $5)",
                        &[&s.tenant, &sha, &keyholder, &k, &json],
                    )?;
                }
            }
            tx.commit()?;
            Ok(Some(old))
        })?;
        Ok(match stored {
            None => Undo::Nothing,
            Some(old) => Undo::of(s.tenant, sha, old),
        })
    }

    fn undo(&self, undo: Undo) -> Result<(), StoreError> {
        let Some((tenant, sha, old)) = undo.into_parts() else {
            return Ok(());
        };
        self.db.with(|c| {
            let mut tx = c.transaction()?;
            lock(&mut tx, &tenant, &sha)?;
            remove_content(&mut tx, &tenant, &sha)?;
            match &old {
                None => {
                    tx.execute(
                        "DELETE FROM vitrine_intake_samples WHERE tenant = $1 AND sha256 = $2",
                        &[&tenant, &sha],
                    )?;
                }
                Some(o) => {
                    // Only metadata-only or destroyed-and-logged records
                    // are ever replaced, so no content is brought back.
                    tx.execute(
                        "UPDATE vitrine_intake_samples SET size = $3, received = $4, metadata = $5, policy_id = $6, policy_sha256 = $7, has_content = $8, deleted = $9, deletion_logged = $10, receipt = $11
                         WHERE tenant = $1 AND sha256 = $2",
                        &[&tenant, &sha, &o.size, &o.received, &o.metadata, &o.policy_id, &o.policy_sha256, &o.has_content, &o.deleted, &o.deletion_logged, &o.receipt],
                    )?;
                }
            }
            tx.commit()
        })?;
        Ok(())
    }

    fn set_receipt(
        &self,
        tenant: &str,
        sha: &[u8; 32],
        receipt: &ReceiptBundle,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(receipt).expect("invariant: receipts serialize");
        let sha = hex::encode(sha);
        self.db.with(|c| {
            c.execute(
                "UPDATE vitrine_intake_samples SET receipt = $3 WHERE tenant = $1 AND sha256 = $2",
                &[&tenant, &sha, &json],
            )
            .map(drop)
        })?;
        Ok(())
    }

    fn list(&self, tenant: &str) -> Result<Vec<SampleInfo>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM vitrine_intake_samples WHERE tenant = $1 ORDER BY received, sha256"
        );
        Ok(self
            .db
            .with(|c| Ok(c.query(&sql, &[&tenant])?.iter().map(info).collect()))?)
    }

    fn get(&self, tenant: &str, sha: &[u8; 32]) -> Result<Option<SampleInfo>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM vitrine_intake_samples WHERE tenant = $1 AND sha256 = $2");
        let sha = hex::encode(sha);
        Ok(self
            .db
            .with(|c| Ok(c.query_opt(&sql, &[&tenant, &sha])?.as_ref().map(info)))?)
    }

    fn tenants_with(&self, sha: &[u8; 32]) -> Result<Vec<String>, StoreError> {
        let sha = hex::encode(sha);
        Ok(self.db.with(|c| {
            Ok(c.query(
                "SELECT tenant FROM vitrine_intake_samples
                 WHERE sha256 = $1 AND has_content AND deleted IS NULL ORDER BY tenant",
                &[&sha],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })?)
    }

    fn record_event(&self, tenant: &str, ev: &EventRow) -> Result<i64, StoreError> {
        let (time, index) = (ev.time as i64, ev.log_index.map(|i| i as i64));
        Ok(self.db.with(|c| {
            Ok(c.query_one(
                "INSERT INTO vitrine_intake_events (tenant, sha256, kind, who, detail, time, note, log_index)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&tenant, &ev.sha256, &ev.kind, &ev.who, &ev.detail, &time, &ev.note, &index],
            )?
            .get(0))
        })?)
    }

    fn set_event_index(&self, id: i64, index: u64) -> Result<(), StoreError> {
        let index = index as i64;
        self.db.with(|c| {
            c.execute(
                "UPDATE vitrine_intake_events SET log_index = $2 WHERE id = $1",
                &[&id, &index],
            )
            .map(drop)
        })?;
        Ok(())
    }

    fn tenants(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.db.with(|c| {
            Ok(c.query(
                "SELECT DISTINCT tenant FROM vitrine_intake_samples ORDER BY tenant",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })?)
    }

    fn events(&self, tenant: &str) -> Result<Vec<EventRow>, StoreError> {
        Ok(self.db.with(|c| {
            Ok(c.query(
                "SELECT sha256, kind, who, detail, time, note, log_index FROM vitrine_intake_events
                 WHERE tenant = $1 ORDER BY id",
                &[&tenant],
            )?
            .iter()
            .map(|r| EventRow {
                sha256: r.get(0),
                kind: r.get(1),
                who: r.get(2),
                detail: r.get(3),
                time: r.get::<_, i64>(4) as u64,
                note: r.get(5),
                log_index: r.get::<_, Option<i64>>(6).map(|v| v as u64),
            })
            .collect())
        })?)
    }

    fn event_counts(&self) -> Result<EventCounts, StoreError> {
        let (accesses, deletions, pending): (i64, i64, i64) = self.db.with(|c| {
            let r = c.query_one(
                "SELECT count(*) FILTER (WHERE kind = 'access'), count(*) FILTER (WHERE kind = 'deletion'),
                        count(*) FILTER (WHERE log_index IS NULL)
                 FROM vitrine_intake_events",
                &[],
            )?;
            Ok((r.get(0), r.get(1), r.get(2)))
        })?;
        Ok(EventCounts {
            accesses: accesses as u64,
            deletions: deletions as u64,
            pending: pending as u64,
        })
    }

    fn shares(&self, tenant: &str, sha: &[u8; 32]) -> Result<(u8, Vec<WrappedShare>), StoreError> {
        let sha = hex::encode(sha);
        let rows = self.db.with(|c| {
            Ok(c.query(
                "SELECT keyholder, threshold, sealed FROM vitrine_intake_shares
                 WHERE tenant = $1 AND sha256 = $2 ORDER BY keyholder",
                &[&tenant, &sha],
            )?
            .iter()
            .map(|r| (r.get(0), i64::from(r.get::<_, i32>(1)), r.get(2)))
            .collect())
        })?;
        decode_shares(rows)
    }

    fn ciphertext(&self, tenant: &str, sha: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let sha = hex::encode(sha);
        self.db
            .with(|c| {
                Ok(c.query_opt(
                    "SELECT sealed FROM vitrine_intake_contents WHERE tenant = $1 AND sha256 = $2",
                    &[&tenant, &sha],
                )?
                .map(|r| r.get(0)))
            })?
            .ok_or(StoreError::NoContent)
    }

    fn destroy(&self, tenant: &str, sha: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        let sha = hex::encode(sha);
        let now = now as i64;
        Ok(self.db.with(|c| {
            let mut tx = c.transaction()?;
            lock(&mut tx, tenant, &sha)?;
            remove_content(&mut tx, tenant, &sha)?;
            let n = tx.execute(
                "UPDATE vitrine_intake_samples SET deleted = $3
                 WHERE tenant = $1 AND sha256 = $2 AND deleted IS NULL",
                &[&tenant, &sha, &now],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })?)
    }

    /// `VACUUM` of the shares and ciphertext tables (and their TOAST
    /// tables): the space of destroyed rows is reclaimed for reuse. It
    /// cannot reach the WAL, archives or backups (see the module
    /// documentation).
    fn purge(&self) -> Result<(), StoreError> {
        self.db
            .with(|c| c.batch_execute("VACUUM vitrine_intake_shares, vitrine_intake_contents"))?;
        Ok(())
    }

    fn set_deletion_logged(&self, tenant: &str, sha: &[u8; 32]) -> Result<(), StoreError> {
        let sha = hex::encode(sha);
        self.db.with(|c| {
            c.execute(
                "UPDATE vitrine_intake_samples SET deletion_logged = TRUE WHERE tenant = $1 AND sha256 = $2",
                &[&tenant, &sha],
            )
            .map(drop)
        })?;
        Ok(())
    }

    fn due(&self, tenant: &str, cutoff: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let cutoff = cutoff as i64;
        let rows = self.db.with(|c| {
            Ok(c.query(
                "SELECT sha256 FROM vitrine_intake_samples WHERE tenant = $1
                 AND ((deleted IS NULL AND received <= $2) OR (deleted IS NOT NULL AND NOT deletion_logged))
                 ORDER BY received",
                &[&tenant, &cutoff],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })?;
        Ok(decode_hashes(rows))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests::{holders, put, Backend};
    use vitrine_pg::TestDatabase;

    /// A PostgreSQL database of its own.
    pub(crate) struct PgBackend {
        store: PgStore,
        // Dropped last: the pools first.
        db: TestDatabase,
    }

    impl PgBackend {
        pub(crate) fn new() -> Self {
            let db = TestDatabase::create();
            let store = PgStore::connect(&db.url(), 8).unwrap();
            PgBackend { store, db }
        }
    }

    impl Backend for PgBackend {
        fn store(&self) -> &dyn IntakeStore {
            &self.store
        }

        fn reopen(&self) -> Box<dyn IntakeStore> {
            Box::new(PgStore::connect(&self.db.url(), 8).unwrap())
        }

        fn raw(&self, tenant: &str, sha: &[u8; 32]) -> Option<Vec<u8>> {
            self.db
                .connect()
                .query_opt(
                    "SELECT sealed FROM vitrine_intake_contents WHERE tenant = $1 AND sha256 = $2",
                    &[&tenant, &hex::encode(sha)],
                )
                .unwrap()
                .map(|r| r.get(0))
        }

        fn tamper(&self, tenant: &str, sha: &[u8; 32], bytes: &[u8]) {
            let n = self
                .db
                .connect()
                .execute(
                    "UPDATE vitrine_intake_contents SET sealed = $3 WHERE tenant = $1 AND sha256 = $2",
                    &[&tenant, &hex::encode(sha), &bytes],
                )
                .unwrap();
            assert_eq!(n, 1);
        }

        fn copies(&self) -> Vec<String> {
            self.db
                .connect()
                .query("SELECT tenant, sha256 FROM vitrine_intake_contents", &[])
                .unwrap()
                .iter()
                .map(|r| format!("{}/{}", r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect()
        }
    }

    /// A destroy leaves no row of the sample's ciphertext or shares, and
    /// the purge after it vacuums both tables.
    #[test]
    fn destroy_deletes_rows_and_purge_vacuums() {
        let b = PgBackend::new();
        let h = holders();
        let sha = put(&b.store, &h, "t-a", b"secret sample");
        let mut c = b.db.connect();
        let count = |c: &mut vitrine_pg::postgres::Client, table: &str| -> i64 {
            c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .unwrap()
                .get(0)
        };
        assert_eq!(count(&mut c, "vitrine_intake_contents"), 1);
        assert_eq!(count(&mut c, "vitrine_intake_shares"), 3);
        assert!(b.store.destroy("t-a", &sha, 2).unwrap());
        assert_eq!(count(&mut c, "vitrine_intake_contents"), 0);
        assert_eq!(count(&mut c, "vitrine_intake_shares"), 0);
        b.store.purge().unwrap();
        for table in ["vitrine_intake_contents", "vitrine_intake_shares"] {
            let vacuumed: bool = c
                .query_one(
                    "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1",
                    &[&table],
                )
                .unwrap()
                .get(0);
            assert!(vacuumed, "{table} vacuumed");
        }
        // The record stays, destroyed, for the tenant's audit.
        assert_eq!(b.store.get("t-a", &sha).unwrap().unwrap().deleted, Some(2));
    }

    /// Two intakes starting together on one empty database migrate once;
    /// a database migrated by a newer program is refused.
    #[test]
    fn schema_is_versioned() {
        let db = TestDatabase::create();
        let url = db.url();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| PgStore::connect(&url, 2).unwrap());
            }
        });
        db.connect()
            .batch_execute("UPDATE vitrine_intake_schema SET version = 99")
            .unwrap();
        assert!(matches!(
            PgStore::connect(&url, 2),
            Err(StoreError::Postgres(vitrine_pg::PgError::TooNew { .. }))
        ));
    }
}
