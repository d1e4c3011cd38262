//! Embedded storage: one data directory with an SQLite index and one
//! encrypted file per sample.
//!
//! Key hierarchy: each tenant has a 32-byte key (`keys/<tenant-dir>.key`);
//! each sample has its own random data key, used once, that encrypts the
//! sample (XChaCha20-Poly1305, file `samples/<tenant-dir>/<sha256>` =
//! nonce ‖ ciphertext) and is stored only wrapped by the tenant key in the
//! `data_keys` table. Destroying a sample deletes its wrapped data key with
//! SQLite's `secure_delete` on (the freed bytes are overwritten) and
//! overwrites and removes its file, so no copy of the rest of the data
//! directory can decrypt it again.
//!
//! Decryption is `pub(crate)`: only the vault calls it, and only with a
//! verified, logged access (see `vault.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_egress::ReceiptBundle;

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
CREATE TABLE IF NOT EXISTS data_keys (
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    PRIMARY KEY (tenant, sha256)
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

/// A stored submission as its tenant may see it (never its content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SampleInfo {
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When received, unix seconds.
    pub received: u64,
    /// The metadata sent (JSON).
    pub metadata: serde_json::Value,
    /// The policy id it was sent under.
    pub policy_id: String,
    /// Whether content was received (and, unless deleted, is held).
    pub content: bool,
    /// When it was destroyed, if it was.
    pub deleted: Option<u64>,
    /// The receipt.
    pub receipt: Option<ReceiptBundle>,
}

/// A logged access or deletion, for the tenant's audit view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// The sample, hex.
    pub sha256: String,
    /// `access` or `deletion`.
    pub kind: String,
    /// Who opened it (access only).
    pub who: Option<String>,
    /// Purpose (access) or reason (deletion).
    pub detail: String,
    /// Unix seconds.
    pub time: u64,
    /// The statement as logged.
    pub note: String,
    /// Its index in the log.
    pub log_index: Option<u64>,
}

/// What a new submission carries.
pub struct NewSample<'a> {
    /// Tenant pseudonym.
    pub tenant: &'a str,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// Size of the file.
    pub size: u64,
    /// Metadata JSON.
    pub metadata: &'a str,
    /// Policy id.
    pub policy_id: &'a str,
    /// Policy SHA-256, hex.
    pub policy_sha256: &'a str,
    /// The content, if the endpoint's policy let it leave.
    pub content: Option<&'a [u8]>,
    /// Unix seconds.
    pub now: u64,
}

/// The data directory.
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
}

fn tenant_dir(tenant: &str) -> String {
    // Tenant ids are tokens and may hold `/` or `..`: never a path.
    hex::encode(&Sha256::digest(tenant.as_bytes())[..16])
}

fn aad(context: &str, tenant: &str, sha: &str) -> Vec<u8> {
    format!("{context}\n{tenant}\n{sha}\n").into_bytes()
}

impl Store {
    /// Opens (creating) the store in `dir`. The directory and its `keys`
    /// and `samples` must be closed to other users (they are made `0700`;
    /// one that others can write is refused), and `intake.db` is `0600`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for d in [dir.to_path_buf(), dir.join("keys"), dir.join("samples")] {
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
        // secure_delete: freed pages are overwritten, so a deleted data key
        // leaves no copy in the file. DELETE journal (not WAL): no old page
        // images linger after a commit.
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

    fn tenant_key(&self, tenant: &str, create: bool) -> Result<[u8; 32], StoreError> {
        let path = self
            .dir
            .join("keys")
            .join(format!("{}.key", tenant_dir(tenant)));
        match std::fs::read(&path) {
            Ok(d) => <[u8; 32]>::try_from(d.as_slice()).map_err(|_| StoreError::BadKey { path }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut k = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                write_new(&path, &k)?;
                Ok(k)
            }
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Stores a submission: the content (if any) encrypted under a fresh
    /// data key wrapped by the tenant key. A resubmission replaces the
    /// previous record of the same sample for the same tenant.
    pub fn put(&self, s: &NewSample<'_>) -> Result<(), StoreError> {
        let sha = hex::encode(s.sha256);
        let wrapped = match s.content {
            Some(content) => {
                let tkey = self.tenant_key(s.tenant, true)?;
                let mut dkey = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut dkey);
                let sealed = seal(&dkey, content, &aad("vitrine-sample-v1", s.tenant, &sha))?;
                let wrapped = seal(&tkey, &dkey, &aad("vitrine-data-key-v1", s.tenant, &sha))?;
                let path = self.sample_path(s.tenant, &sha);
                if let Some(parent) = path.parent() {
                    vitrine_fs::private_dir(parent)?;
                }
                write_new(&path, &sealed)?;
                Some(wrapped)
            }
            None => {
                // A resubmission without content: no old ciphertext stays.
                shred(&self.sample_path(s.tenant, &sha))?;
                None
            }
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM data_keys WHERE tenant = ?1 AND sha256 = ?2",
            params![s.tenant, sha],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO samples (tenant, sha256, size, received, metadata, policy_id, policy_sha256, has_content, deleted, deletion_logged, receipt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, NULL)",
            params![s.tenant, sha, s.size as i64, s.now as i64, s.metadata, s.policy_id, s.policy_sha256, wrapped.is_some()],
        )?;
        if let Some(w) = &wrapped {
            tx.execute(
                "INSERT INTO data_keys (tenant, sha256, wrapped) VALUES (?1, ?2, ?3)",
                params![s.tenant, sha, w],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the receipt of a stored submission.
    pub fn set_receipt(
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

    /// Removes a submission whose receipt could not be logged, leaving no
    /// trace of it (nothing is kept that the log does not show).
    pub fn forget(&self, tenant: &str, sha: &[u8; 32]) -> Result<(), StoreError> {
        let hex = hex::encode(sha);
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM data_keys WHERE tenant = ?1 AND sha256 = ?2",
                params![tenant, hex],
            )?;
            tx.execute(
                "DELETE FROM samples WHERE tenant = ?1 AND sha256 = ?2",
                params![tenant, hex],
            )?;
            tx.commit()?;
        }
        shred(&self.sample_path(tenant, &hex))
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SampleInfo> {
        let metadata: String = r.get(3)?;
        let receipt: Option<String> = r.get(7)?;
        Ok(SampleInfo {
            sha256: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            received: r.get::<_, i64>(2)? as u64,
            metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
            policy_id: r.get(4)?,
            content: r.get(5)?,
            deleted: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            receipt: receipt.and_then(|j| serde_json::from_str(&j).ok()),
        })
    }

    const COLS: &'static str =
        "sha256, size, received, metadata, policy_id, has_content, deleted, receipt";

    /// The tenant's submissions, oldest first.
    pub fn list(&self, tenant: &str) -> Result<Vec<SampleInfo>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {} FROM samples WHERE tenant = ?1 ORDER BY received, sha256",
            Self::COLS
        ))?;
        let rows = st.query_map(params![tenant], Self::row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One of the tenant's submissions.
    pub fn get(&self, tenant: &str, sha: &[u8; 32]) -> Result<Option<SampleInfo>, StoreError> {
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

    /// Tenants holding this sample (for the vault's lookup by hash).
    pub fn tenants_with(&self, sha: &[u8; 32]) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT tenant FROM samples WHERE sha256 = ?1 AND has_content = 1 AND deleted IS NULL ORDER BY tenant",
        )?;
        let rows = st.query_map(params![hex::encode(sha)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a logged access or deletion for the tenant's audit view.
    pub fn record_event(&self, tenant: &str, ev: &EventRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO events (tenant, sha256, kind, who, detail, time, note, log_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![tenant, ev.sha256, ev.kind, ev.who, ev.detail, ev.time as i64, ev.note, ev.log_index.map(|i| i as i64)],
        )?;
        Ok(())
    }

    /// The tenant's logged accesses and deletions, in order.
    pub fn events(&self, tenant: &str) -> Result<Vec<EventRow>, StoreError> {
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

    /// Decrypts a sample. Only the vault calls this, after the access is
    /// logged and its inclusion verified.
    pub(crate) fn decrypt(&self, tenant: &str, sha: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let hex = hex::encode(sha);
        let wrapped: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT wrapped FROM data_keys WHERE tenant = ?1 AND sha256 = ?2",
                params![tenant, hex],
                |r| r.get(0),
            )
            .optional()?;
        let wrapped = wrapped.ok_or(StoreError::NoContent)?;
        let tkey = self.tenant_key(tenant, false)?;
        let dkey = open(&tkey, &wrapped, &aad("vitrine-data-key-v1", tenant, &hex))?;
        let dkey: [u8; 32] = dkey.try_into().map_err(|_| StoreError::Decrypt)?;
        let path = self.sample_path(tenant, &hex);
        let sealed = std::fs::read(&path).map_err(|source| StoreError::Io { path, source })?;
        let plain = open(&dkey, &sealed, &aad("vitrine-sample-v1", tenant, &hex))?;
        if <[u8; 32]>::from(Sha256::digest(&plain)) != *sha {
            return Err(StoreError::Decrypt);
        }
        Ok(plain)
    }

    /// Destroys a sample's content and data key, marking it deleted.
    /// Returns false if there was nothing to destroy.
    pub fn destroy(&self, tenant: &str, sha: &[u8; 32], now: u64) -> Result<bool, StoreError> {
        let hex = hex::encode(sha);
        let changed = {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM data_keys WHERE tenant = ?1 AND sha256 = ?2",
                params![tenant, hex],
            )?;
            let n = tx.execute(
                "UPDATE samples SET deleted = ?3 WHERE tenant = ?1 AND sha256 = ?2 AND deleted IS NULL",
                params![tenant, hex, now as i64],
            )?;
            tx.commit()?;
            n > 0
        };
        shred(&self.sample_path(tenant, &hex))?;
        Ok(changed)
    }

    /// Marks a deletion as logged.
    pub fn set_deletion_logged(&self, tenant: &str, sha: &[u8; 32]) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE samples SET deletion_logged = 1 WHERE tenant = ?1 AND sha256 = ?2",
            params![tenant, hex::encode(sha)],
        )?;
        Ok(())
    }

    /// Samples of `tenant` received at or before `cutoff` and not yet
    /// destroyed, plus destroyed ones whose deletion is not yet logged.
    pub fn due(&self, tenant: &str, cutoff: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT sha256 FROM samples WHERE tenant = ?1 AND ((deleted IS NULL AND received <= ?2) OR (deleted IS NOT NULL AND deletion_logged = 0)) ORDER BY received",
        )?;
        let rows = st.query_map(params![tenant, cutoff as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let h = r?;
            if let Some(a) = hex::decode(&h)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Every file in the data directory (for tests and audits).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn seal(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .map_err(|_| StoreError::Decrypt)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < 24 {
        return Err(StoreError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(24);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| StoreError::Decrypt)
}

/// Replaces `path` (mode 0600) through a temporary file with a unique
/// name, created exclusively without following links: concurrent writers
/// never share one, and a planted link is never followed.
fn write_new(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    Ok(vitrine_fs::write_atomic(path, data, 0o600)?)
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
mod tests {
    use super::*;

    fn put(store: &Store, tenant: &str, content: &[u8]) -> [u8; 32] {
        let sha: [u8; 32] = Sha256::digest(content).into();
        store
            .put(&NewSample {
                tenant,
                sha256: sha,
                size: content.len() as u64,
                metadata: "{}",
                policy_id: "p",
                policy_sha256: "00",
                content: Some(content),
                now: 1,
            })
            .unwrap();
        sha
    }

    #[test]
    fn round_trip_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = put(&store, "t-a", b"sample one");
        let b = put(&store, "t-a", b"sample two");
        assert_eq!(store.decrypt("t-a", &a).unwrap(), b"sample one");
        // Another tenant has no key for it.
        assert!(matches!(
            store.decrypt("t-b", &a),
            Err(StoreError::NoContent)
        ));
        // Ciphertexts are bound to their sample: swapping files fails.
        let pa = store.sample_path("t-a", &hex::encode(a));
        let pb = store.sample_path("t-a", &hex::encode(b));
        let (ca, cb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        std::fs::write(&pa, &cb).unwrap();
        std::fs::write(&pb, &ca).unwrap();
        assert!(matches!(store.decrypt("t-a", &a), Err(StoreError::Decrypt)));
        // Destroyed: nothing left to decrypt.
        std::fs::write(&pa, &ca).unwrap();
        assert!(store.destroy("t-a", &a, 2).unwrap());
        assert!(matches!(
            store.decrypt("t-a", &a),
            Err(StoreError::NoContent)
        ));
        assert!(!pa.exists());
        assert_eq!(store.get("t-a", &a).unwrap().unwrap().deleted, Some(2));
    }

    #[test]
    fn tenant_ids_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sha = put(&store, "../../escape", b"x");
        assert!(store
            .sample_path("../../escape", &hex::encode(sha))
            .starts_with(dir.path().join("samples")));
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }
}
