//! The embedded store: one data directory with an SQLite index and one
//! encrypted file per sample (`samples/<tenant-dir>/<sha256>` = nonce ‖
//! ciphertext, from [`crate::store::seal_sample`]); the `shares` table
//! holds only the sealed shares (see `store.rs` for the key hierarchy and
//! the contract).
//!
//! Concurrency: every change runs in an SQLite `BEGIN IMMEDIATE`
//! transaction, which serialises writers across every process on the
//! file; a sample's file is renamed into place, or overwritten and
//! removed, inside that transaction, so the file and the index never
//! disagree for another writer. Destroying a sample deletes its sealed
//! shares with SQLite's `secure_delete` on (freed pages are overwritten;
//! the journal is `DELETE`, not WAL, so no old page images linger after a
//! commit) and overwrites and removes its file. The file system may still
//! keep old blocks (copy-on-write file systems, SSD remapping, backups):
//! what lingers is ciphertext whose key no store holds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use vitrine_egress::ReceiptBundle;
use vitrine_keyholder::{KeyholderKey, WrappedShare};

use crate::store::{
    decode_hashes, decode_shares, seal_sample, EventCounts, EventRow, IntakeStore, NewSample,
    OldRow, SampleInfo, Undo,
};
use crate::StoreError;

/// The SQLite index inside the data directory.
pub const DB_FILE: &str = "intake.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    policy_sha256 TEXT NOT NULL,
    has_content INTEGER NOT NULL,
    deleted INTEGER,
    deletion_logged INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    PRIMARY KEY (tenant, sha256)
);
CREATE TABLE IF NOT EXISTS shares (
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    keyholder TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    PRIMARY KEY (tenant, sha256, keyholder)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    who TEXT,
    detail TEXT NOT NULL,
    time INTEGER NOT NULL,
    note TEXT NOT NULL,
    log_index INTEGER
);
";

/// The embedded [`IntakeStore`]: a data directory.
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
}

fn tenant_dir(tenant: &str) -> String {
    // Tenant ids are tokens and may hold `/` or `..`: never a path.
    hex::encode(&Sha256::digest(tenant.as_bytes())[..16])
}

fn read_old(conn: &Connection, tenant: &str, sha: &str) -> Result<Option<OldRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT size, received, metadata, policy_id, policy_sha256, has_content, deleted, deletion_logged, receipt FROM samples WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, sha],
            |r| {
                Ok(OldRow {
                    size: r.get(0)?,
                    received: r.get(1)?,
                    metadata: r.get(2)?,
                    policy_id: r.get(3)?,
                    policy_sha256: r.get(4)?,
                    has_content: r.get(5)?,
                    deleted: r.get(6)?,
                    deletion_logged: r.get(7)?,
                    receipt: r.get(8)?,
                })
            },
        )
        .optional()?)
}

impl Store {
    /// Opens (creating) the store in `dir`. The directory and its
    /// `samples` must be closed to other users (they are made `0700`;
    /// one that others can write is refused), and `intake.db` is `0600`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for d in [dir.to_path_buf(), dir.join("samples")] {
            vitrine_fs::private_dir(&d)?;
        }
        let db = dir.join(DB_FILE);
        match vitrine_fs::create_new(&db, 0o600) {
            // An empty file is an empty database.
            Ok(_) => {}
            Err(_) if db.symlink_metadata().is_ok() => vitrine_fs::restrict(&db)?,
            Err(e) => return Err(e.into()),
        }
        let conn = Connection::open(&db)?;
        // secure_delete: freed pages are overwritten, so a deleted sealed
        // share leaves no copy in the file. DELETE journal (not WAL): no
        // old page images linger after a commit.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            dir: dir.to_owned(),
            db: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sample_path(&self, tenant: &str, sha: &str) -> PathBuf {
        self.dir.join("samples").join(tenant_dir(tenant)).join(sha)
    }

    /// Every file in the data directory (for tests and audits).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    const COLS: &'static str =
        "sha256, size, received, metadata, policy_id, has_content, deleted, receipt";

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SampleInfo> {
        Ok(SampleInfo::from_row(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            &r.get::<_, String>(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get::<_, Option<String>>(7)?.as_deref(),
        ))
    }
}

impl IntakeStore for Store {
    fn put(
        &self,
        s: &NewSample<'_>,
        keyholders: &[KeyholderKey],
        threshold: usize,
    ) -> Result<Undo, StoreError> {
        let sha = hex::encode(s.sha256);
        // A resubmission of what is held (the common case in an outbreak)
        // changes nothing: no need to encrypt it again.
        if read_old(&self.conn(), s.tenant, &sha)?.is_some_and(|o| o.kept(s.content.is_some())) {
            return Ok(Undo::Nothing);
        }
        // Encrypt and write outside the lock, to a temporary file no other
        // submission shares.
        let prepared = match seal_sample(s, keyholders, threshold)? {
            Some(sealed) => {
                let path = self.sample_path(s.tenant, &sha);
                if let Some(parent) = path.parent() {
                    vitrine_fs::private_dir(parent)?;
                }
                let tmp = vitrine_fs::write_temp(&path, &sealed.ciphertext, 0o600)?;
                Some((path, tmp, sealed))
            }
            None => None,
        };
        let mut conn = self.conn();
        let stored = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let old = read_old(&tx, s.tenant, &sha)?;
            // Checked again under the transaction: another submission of
            // the same sample may have stored it meanwhile.
            if old.as_ref().is_some_and(|o| o.kept(prepared.is_some())) {
                return Ok(None);
            }
            tx.execute(
                "DELETE FROM shares WHERE tenant = ?1 AND sha256 = ?2",
                params![s.tenant, sha],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO samples (tenant, sha256, size, received, metadata, policy_id, policy_sha256, has_content, deleted, deletion_logged, receipt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, NULL)",
                params![s.tenant, sha, s.size as i64, s.now as i64, s.metadata, s.policy_id, s.policy_sha256, prepared.is_some()],
            )?;
            if let Some((path, tmp, sealed)) = &prepared {
                for (keyholder, json) in sealed.share_rows() {
                    tx.execute(
                        "INSERT INTO shares (tenant, sha256, keyholder, threshold, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![s.tenant, sha, keyholder, i64::from(sealed.threshold), json],
                    )?;
                }
                vitrine_fs::rename_into(tmp, path)?;
                if let Err(e) = tx.commit() {
                    let _ = shred(path);
                    return Err(e.into());
                }
            } else {
                tx.commit()?;
            }
            Ok::<_, StoreError>(Some(old))
        })();
        if let Some((_, tmp, _)) = &prepared {
            // Renamed into place, or not needed: never left behind.
            let _ = std::fs::remove_file(tmp);
        }
        Ok(match stored? {
            None => Undo::Nothing,
            Some(old) => Undo::of(s.tenant, sha, old),
        })
    }

    fn set_receipt(
        &self,
        tenant: &str,
        sha: &[u8; 32],
        receipt: &ReceiptBundle,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(receipt).expect("invariant: receipts serialize");
        self.conn().execute(
            "UPDATE samples SET receipt = ?3 WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, hex::encode(sha), json],
        )?;
        Ok(())
    }

    fn undo(&self, undo: Undo) -> Result<(), StoreError> {
        let Some((tenant, sha, old)) = undo.into_parts() else {
            return Ok(());
        };
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM shares WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, sha],
        )?;
        match old {
            None => {
                tx.execute(
                    "DELETE FROM samples WHERE tenant = ?1 AND sha256 = ?2",
                    params![tenant, sha],
                )?;
            }
            Some(o) => {
                // Only metadata-only or destroyed-and-logged records
                // are ever replaced, so no content is brought back.
                tx.execute(
                    "UPDATE samples SET size = ?3, received = ?4, metadata = ?5, policy_id = ?6, policy_sha256 = ?7, has_content = ?8, deleted = ?9, deletion_logged = ?10, receipt = ?11 WHERE tenant = ?1 AND sha256 = ?2",
                    params![tenant, sha, o.size, o.received, o.metadata, o.policy_id, o.policy_sha256, o.has_content, o.deleted, o.deletion_logged, o.receipt],
                )?;
            }
        }
        // Under the write lock: a put of the same sample by another
        // process cannot rename its file in between and lose it here.
        shred(&self.sample_path(&tenant, &sha))?;
        tx.commit()?;
        Ok(())
    }

    fn list(&self, tenant: &str) -> Result<Vec<SampleInfo>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {} FROM samples WHERE tenant = ?1 ORDER BY received, sha256",
            Self::COLS
        ))?;
        let rows = st.query_map(params![tenant], Self::row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn get(&self, tenant: &str, sha: &[u8; 32]) -> Result<Option<SampleInfo>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {} FROM samples WHERE tenant = ?1 AND sha256 = ?2",
                    Self::COLS
                ),
                params![tenant, hex::encode(sha)],
                Self::row,
            )
            .optional()?)
    }

    fn tenants_with(&self, sha: &[u8; 32]) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT tenant FROM samples WHERE sha256 = ?1 AND has_content = 1 AND deleted IS NULL ORDER BY tenant",
        )?;
        let rows = st.query_map(params![hex::encode(sha)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_event(&self, tenant: &str, ev: &EventRow) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO events (tenant, sha256, kind, who, detail, time, note, log_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![tenant, ev.sha256, ev.kind, ev.who, ev.detail, ev.time as i64, ev.note, ev.log_index.map(|i| i as i64)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn set_event_index(&self, id: i64, index: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE events SET log_index = ?2 WHERE id = ?1",
            params![id, index as i64],
        )?;
        Ok(())
    }

    fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT DISTINCT tenant FROM samples ORDER BY tenant")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events(&self, tenant: &str) -> Result<Vec<EventRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT sha256, kind, who, detail, time, note, log_index FROM events WHERE tenant = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![tenant], |r| {
            Ok(EventRow {
                sha256: r.get(0)?,
                kind: r.get(1)?,
                who: r.get(2)?,
                detail: r.get(3)?,
                time: r.get::<_, i64>(4)? as u64,
                note: r.get(5)?,
                log_index: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn event_counts(&self) -> Result<EventCounts, StoreError> {
        let (accesses, deletions, pending): (i64, i64, i64) = self.conn().query_row(
            "SELECT coalesce(sum(kind = 'access'), 0), coalesce(sum(kind = 'deletion'), 0), coalesce(sum(log_index IS NULL), 0) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(EventCounts {
            accesses: accesses as u64,
            deletions: deletions as u64,
            pending: pending as u64,
        })
    }

    fn shares(&self, tenant: &str, sha: &[u8; 32]) -> Result<(u8, Vec<WrappedShare>), StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT keyholder, threshold, sealed FROM shares WHERE tenant = ?1 AND sha256 = ?2 ORDER BY keyholder",
        )?;
        let rows = st
            .query_map(params![tenant, hex::encode(sha)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        decode_shares(rows)
    }

    fn ciphertext(&self, tenant: &str, sha: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let path = self.sample_path(tenant, &hex::encode(sha));
        match std::fs::read(&path) {
            Ok(sealed) => Ok(sealed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NoContent),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn destroy(&self, tenant: &str, sha: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        let hex = hex::encode(sha);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM shares WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, hex],
        )?;
        let n = tx.execute(
            "UPDATE samples SET deleted = ?3 WHERE tenant = ?1 AND sha256 = ?2 AND deleted IS NULL",
            params![tenant, hex, now as i64],
        )?;
        // Under the write lock, before the commit: if the commit fails,
        // the content is gone all the same, and a retry marks it.
        shred(&self.sample_path(tenant, &hex))?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn set_deletion_logged(&self, tenant: &str, sha: &[u8; 32]) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE samples SET deletion_logged = 1 WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, hex::encode(sha)],
        )?;
        Ok(())
    }

    fn due(&self, tenant: &str, cutoff: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT sha256 FROM samples WHERE tenant = ?1 AND ((deleted IS NULL AND received <= ?2) OR (deleted IS NOT NULL AND deletion_logged = 0)) ORDER BY received",
        )?;
        let rows = st
            .query_map(params![tenant, cutoff as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(decode_hashes(rows))
    }
}

/// Overwrites a file with zeros, syncs and removes it. The data key is
/// what makes deletion final; this only removes the ciphertext too.
fn shred(path: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.write_all(&vec![0u8; len as usize]).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::remove_file(path).map_err(io)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests::{holders, put, Backend};

    /// A data directory of its own.
    pub(crate) struct FileBackend {
        dir: tempfile::TempDir,
        store: Store,
    }

    impl FileBackend {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            FileBackend { dir, store }
        }
    }

    impl Backend for FileBackend {
        fn store(&self) -> &dyn IntakeStore {
            &self.store
        }

        fn reopen(&self) -> Box<dyn IntakeStore> {
            Box::new(Store::open(self.dir.path()).unwrap())
        }

        fn raw(&self, tenant: &str, sha: &[u8; 32]) -> Option<Vec<u8>> {
            std::fs::read(self.store.sample_path(tenant, &hex::encode(sha))).ok()
        }

        fn tamper(&self, tenant: &str, sha: &[u8; 32], bytes: &[u8]) {
            std::fs::write(self.store.sample_path(tenant, &hex::encode(sha)), bytes).unwrap();
        }

        fn copies(&self) -> Vec<String> {
            let mut out = Vec::new();
            for d in std::fs::read_dir(self.dir.path().join("samples")).unwrap() {
                for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                    out.push(f.unwrap().path().display().to_string());
                }
            }
            out
        }
    }

    #[test]
    fn tenant_ids_never_become_paths() {
        let b = FileBackend::new();
        let h = holders();
        let sha = put(&b.store, &h, "../../escape", b"x");
        assert!(b
            .store
            .sample_path("../../escape", &hex::encode(sha))
            .starts_with(b.dir.path().join("samples")));
        assert!(!b.dir.path().parent().unwrap().join("escape").exists());
    }
}
