//! Embedded storage: one data directory with an SQLite index and one
//! encrypted file per sample.
//!
//! Key hierarchy: each sample has its own random data key, used once,
//! that encrypts the sample (XChaCha20-Poly1305, file
//! `samples/<tenant-dir>/<sha256>` = nonce ‖ ciphertext). The data key is
//! never stored: it is split k-of-n among independent keyholders and each
//! share sealed to one keyholder (`vitrine-keyholder`); the `shares` table
//! holds only the sealed shares. Nothing in the data directory decrypts a
//! sample: that takes k keyholders, each releasing its share only for a
//! logged access. Destroying a sample deletes its sealed shares with
//! SQLite's `secure_delete` on and overwrites and removes its file.
//!
//! A sample held is changed only by [`Store::destroy`] (a logged deletion
//! follows): a resubmission of a held sample stores nothing new, and a
//! submission whose receipt cannot be logged is undone exactly
//! ([`Store::undo`]), leaving what was there before.
//!
//! Decryption is `pub(crate)`: only the vault calls it, with a data key
//! combined from keyholders' shares (see `vault.rs`).

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

/// A sample's record as it was before a submission replaced it.
#[derive(Debug)]
pub struct OldRow {
    size: i64,
    received: i64,
    metadata: String,
    policy_id: String,
    policy_sha256: String,
    has_content: bool,
    deleted: Option<i64>,
    deletion_logged: bool,
    receipt: Option<String>,
}

impl OldRow {
    fn read(conn: &Connection, tenant: &str, sha: &str) -> Result<Option<OldRow>, StoreError> {
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

    /// Whether a new submission (with content or not) leaves this record
    /// as it is: held content, a metadata-only record resubmitted without
    /// content, or a deletion not yet logged.
    fn kept(&self, with_content: bool) -> bool {
        match self.deleted {
            None => self.has_content || !with_content,
            Some(_) => !self.deletion_logged,
        }
    }
}

/// What [`Store::undo`] must do to take a submission back.
#[derive(Debug)]
#[must_use = "a submission whose receipt is not logged must be undone"]
pub enum Undo {
    /// The submission changed nothing (the sample was already held).
    Nothing,
    /// The submission created the record: remove it.
    Remove {
        /// The tenant.
        tenant: String,
        /// The sample, hex.
        sha256: String,
    },
    /// The submission replaced a metadata-only or destroyed record: put it
    /// back.
    Restore {
        /// The tenant.
        tenant: String,
        /// The sample, hex.
        sha256: String,
        /// The record before.
        old: OldRow,
    },
}

impl Undo {
    /// Whether the submission stored anything new.
    pub fn changed(&self) -> bool {
        !matches!(self, Undo::Nothing)
    }
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

    /// Stores a submission. New content is encrypted under a fresh data
    /// key split `threshold`-of-`keyholders.len()` and sealed to the
    /// keyholders; the data key is then dropped. A sample this tenant
    /// already holds is left exactly as it is (same content, same shares),
    /// however many identical submissions arrive at once. Returns what to
    /// [`Store::undo`] if the submission's receipt cannot be logged.
    pub fn put(
        &self,
        s: &NewSample<'_>,
        keyholders: &[vitrine_keyholder::KeyholderKey],
        threshold: usize,
    ) -> Result<Undo, StoreError> {
        let sha = hex::encode(s.sha256);
        // A resubmission of what is held (the common case in an outbreak)
        // changes nothing: no need to encrypt it again.
        if OldRow::read(&self.conn(), s.tenant, &sha)?.is_some_and(|o| o.kept(s.content.is_some()))
        {
            return Ok(Undo::Nothing);
        }
        // Encrypt and write outside the lock, to a temporary file no other
        // submission shares.
        let prepared = match s.content {
            Some(content) => {
                if keyholders.is_empty() {
                    return Err(StoreError::NoKeyholders);
                }
                let mut dkey = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut dkey);
                let sealed = seal(&dkey, content, &aad("vitrine-sample-v1", s.tenant, &sha))?;
                let threshold = u8::try_from(threshold).map_err(|_| StoreError::NoKeyholders)?;
                let shares =
                    vitrine_keyholder::split(&dkey, threshold, keyholders, s.tenant, &s.sha256)
                        .map_err(|e| StoreError::Shares(e.to_string()))?;
                dkey.fill(0);
                let path = self.sample_path(s.tenant, &sha);
                if let Some(parent) = path.parent() {
                    vitrine_fs::private_dir(parent)?;
                }
                let tmp = vitrine_fs::write_temp(&path, &sealed, 0o600)?;
                Some((path, tmp, threshold, shares))
            }
            None => None,
        };
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old = OldRow::read(&tx, s.tenant, &sha)?;
        // Checked again under the transaction: another submission of the
        // same sample may have stored it meanwhile.
        if old.as_ref().is_some_and(|o| o.kept(prepared.is_some())) {
            if let Some((_, tmp, ..)) = &prepared {
                let _ = std::fs::remove_file(tmp);
            }
            return Ok(Undo::Nothing);
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
        if let Some((path, tmp, threshold, shares)) = &prepared {
            for w in shares {
                let json = serde_json::to_string(&w.sealed).expect("invariant: shares serialize");
                tx.execute(
                    "INSERT INTO shares (tenant, sha256, keyholder, threshold, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![s.tenant, sha, w.keyholder, *threshold as i64, json],
                )?;
            }
            vitrine_fs::rename_into(tmp, path)?;
        }
        if let Err(e) = tx.commit() {
            if let Some((path, ..)) = &prepared {
                let _ = shred(path);
            }
            return Err(e.into());
        }
        Ok(match old {
            None => Undo::Remove {
                tenant: s.tenant.to_owned(),
                sha256: sha,
            },
            Some(o) => Undo::Restore {
                tenant: s.tenant.to_owned(),
                sha256: sha,
                old: o,
            },
        })
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

    /// Undoes a [`Store::put`] whose receipt could not be logged: what the
    /// submission added is removed and what was there before is back,
    /// unchanged (nothing is kept that the log does not show, and nothing
    /// held is lost).
    pub fn undo(&self, undo: Undo) -> Result<(), StoreError> {
        let (tenant, sha, old) = match undo {
            Undo::Nothing => return Ok(()),
            Undo::Remove { tenant, sha256 } => (tenant, sha256, None),
            Undo::Restore {
                tenant,
                sha256,
                old,
            } => (tenant, sha256, Some(old)),
        };
        {
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
            tx.commit()?;
        }
        shred(&self.sample_path(&tenant, &sha))
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

    /// Records an access or deletion for the tenant's audit view, before
    /// it is sent to the log (`log_index` none: pending), so a vault killed
    /// after logging still leaves it in the tenant's audit. Returns its id
    /// for [`Store::set_event_index`].
    pub fn record_event(&self, tenant: &str, ev: &EventRow) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO events (tenant, sha256, kind, who, detail, time, note, log_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![tenant, ev.sha256, ev.kind, ev.who, ev.detail, ev.time as i64, ev.note, ev.log_index.map(|i| i as i64)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Records the log index of an event once it is logged.
    pub fn set_event_index(&self, id: i64, index: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE events SET log_index = ?2 WHERE id = ?1",
            params![id, index as i64],
        )?;
        Ok(())
    }

    /// Every tenant with a record in the store (configured or not).
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT DISTINCT tenant FROM samples ORDER BY tenant")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
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

    /// The sealed shares of a held sample and how many open it.
    pub fn shares(
        &self,
        tenant: &str,
        sha: &[u8; 32],
    ) -> Result<(u8, Vec<vitrine_keyholder::WrappedShare>), StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT keyholder, threshold, sealed FROM shares WHERE tenant = ?1 AND sha256 = ?2 ORDER BY keyholder",
        )?;
        let rows = st.query_map(params![tenant, hex::encode(sha)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut threshold = 0u8;
        let mut out = Vec::new();
        for row in rows {
            let (keyholder, k, sealed) = row?;
            threshold = u8::try_from(k).map_err(|_| StoreError::Decrypt)?;
            let sealed = serde_json::from_str(&sealed).map_err(|_| StoreError::Decrypt)?;
            out.push(vitrine_keyholder::WrappedShare { keyholder, sealed });
        }
        if out.is_empty() {
            return Err(StoreError::NoContent);
        }
        Ok((threshold, out))
    }

    /// Decrypts a sample with its data key. Only the vault calls this,
    /// with a key combined from shares keyholders released for a logged
    /// access.
    pub(crate) fn decrypt(
        &self,
        tenant: &str,
        sha: &[u8; 32],
        data_key: &[u8; 32],
    ) -> Result<Vec<u8>, StoreError> {
        let hex = hex::encode(sha);
        let path = self.sample_path(tenant, &hex);
        let sealed = std::fs::read(&path).map_err(|source| StoreError::Io { path, source })?;
        let plain = open(data_key, &sealed, &aad("vitrine-sample-v1", tenant, &hex))?;
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
                "DELETE FROM shares WHERE tenant = ?1 AND sha256 = ?2",
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
    use vitrine_keyholder::{combine, open_share, KeyholderKey, KeyholderSecret};

    struct Holders {
        secrets: Vec<KeyholderSecret>,
        public: Vec<KeyholderKey>,
    }

    fn holders() -> Holders {
        let secrets: Vec<_> = (0..3)
            .map(|i| KeyholderSecret::generate(&format!("kh{i}")).unwrap())
            .collect();
        let public = secrets.iter().map(|s| s.public()).collect();
        Holders { secrets, public }
    }

    fn new_sample<'a>(tenant: &'a str, content: Option<&'a [u8]>, sha: [u8; 32]) -> NewSample<'a> {
        NewSample {
            tenant,
            sha256: sha,
            size: content.map_or(0, |c| c.len() as u64),
            metadata: "{}",
            policy_id: "p",
            policy_sha256: "00",
            content,
            now: 1,
        }
    }

    fn put(store: &Store, h: &Holders, tenant: &str, content: &[u8]) -> [u8; 32] {
        let sha: [u8; 32] = Sha256::digest(content).into();
        let _ = store
            .put(&new_sample(tenant, Some(content), sha), &h.public, 2)
            .unwrap();
        sha
    }

    /// What k keyholders together would release.
    fn key_of(store: &Store, h: &Holders, tenant: &str, sha: &[u8; 32]) -> [u8; 32] {
        let (k, shares) = store.shares(tenant, sha).unwrap();
        let opened: Vec<Vec<u8>> = shares
            .iter()
            .zip(&h.secrets)
            .take(k as usize)
            .map(|(w, s)| open_share(s, &w.sealed, tenant, sha).unwrap())
            .collect();
        combine(k, &opened).unwrap()
    }

    #[test]
    fn round_trip_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let h = holders();
        let a = put(&store, &h, "t-a", b"sample one");
        let b = put(&store, &h, "t-a", b"sample two");
        let ka = key_of(&store, &h, "t-a", &a);
        assert_eq!(store.decrypt("t-a", &a, &ka).unwrap(), b"sample one");
        // Another tenant holds no shares of it.
        assert!(matches!(
            store.shares("t-b", &a),
            Err(StoreError::NoContent)
        ));
        // Ciphertexts are bound to their sample: swapping files fails.
        let kb = key_of(&store, &h, "t-a", &b);
        let pa = store.sample_path("t-a", &hex::encode(a));
        let pb = store.sample_path("t-a", &hex::encode(b));
        let (ca, cb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        std::fs::write(&pa, &cb).unwrap();
        assert!(matches!(
            store.decrypt("t-a", &a, &kb),
            Err(StoreError::Decrypt)
        ));
        // Destroyed: nothing left to decrypt.
        std::fs::write(&pa, &ca).unwrap();
        assert!(store.destroy("t-a", &a, 2).unwrap());
        assert!(matches!(
            store.shares("t-a", &a),
            Err(StoreError::NoContent)
        ));
        assert!(!pa.exists());
        assert_eq!(store.get("t-a", &a).unwrap().unwrap().deleted, Some(2));
    }

    #[test]
    fn content_needs_keyholders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sha: [u8; 32] = Sha256::digest(b"x").into();
        assert!(matches!(
            store.put(&new_sample("t-a", Some(b"x"), sha), &[], 1),
            Err(StoreError::NoKeyholders)
        ));
        assert!(store.get("t-a", &sha).unwrap().is_none());
    }

    /// Observation 3: a resubmission never destroys what is held, and an
    /// undone one leaves everything as it was.
    #[test]
    fn resubmissions_keep_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let h = holders();
        let content = b"held content";
        let sha = put(&store, &h, "t-a", content);
        let key = key_of(&store, &h, "t-a", &sha);
        // Metadata only, then content again, then an undone resubmission.
        let u = store
            .put(&new_sample("t-a", None, sha), &h.public, 2)
            .unwrap();
        assert!(!u.changed());
        let u = store
            .put(&new_sample("t-a", Some(content), sha), &h.public, 2)
            .unwrap();
        assert!(!u.changed());
        store.undo(u).unwrap();
        assert!(store.get("t-a", &sha).unwrap().unwrap().content);
        assert_eq!(key_of(&store, &h, "t-a", &sha), key);
        assert_eq!(store.decrypt("t-a", &sha, &key).unwrap(), content);

        // A metadata-only record upgraded with content, then undone: back
        // to metadata only, no shares, no file.
        let other = b"other content";
        let osha: [u8; 32] = Sha256::digest(other).into();
        let _ = store
            .put(&new_sample("t-a", None, osha), &h.public, 2)
            .unwrap();
        let u = store
            .put(&new_sample("t-a", Some(other), osha), &h.public, 2)
            .unwrap();
        assert!(u.changed());
        store.undo(u).unwrap();
        let info = store.get("t-a", &osha).unwrap().unwrap();
        assert!(!info.content);
        assert!(store.shares("t-a", &osha).is_err());
        assert!(!store.sample_path("t-a", &hex::encode(osha)).exists());
        // A new record, undone: gone.
        let third: [u8; 32] = Sha256::digest(b"third").into();
        let u = store
            .put(&new_sample("t-a", Some(b"third"), third), &h.public, 2)
            .unwrap();
        store.undo(u).unwrap();
        assert!(store.get("t-a", &third).unwrap().is_none());
    }

    /// Observation 2: many identical submissions at once leave one sample
    /// whose ciphertext matches its shares, and no temporary files.
    #[test]
    fn concurrent_identical_puts_store_one_sample() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let h = holders();
        let content = b"outbreak file".to_vec();
        let sha: [u8; 32] = Sha256::digest(&content).into();
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    let _ = store
                        .put(&new_sample("t-a", Some(&content), sha), &h.public, 2)
                        .unwrap();
                });
            }
        });
        let key = key_of(&store, &h, "t-a", &sha);
        assert_eq!(store.decrypt("t-a", &sha, &key).unwrap(), content);
        let files: Vec<_> = std::fs::read_dir(store.sample_path("t-a", "x").parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
    }

    #[test]
    fn tenant_ids_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let h = holders();
        let sha = put(&store, &h, "../../escape", b"x");
        assert!(store
            .sample_path("../../escape", &hex::encode(sha))
            .starts_with(dir.path().join("samples")));
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }
}
