//! Where the intake keeps its submissions: the [`IntakeStore`] trait, what
//! every backend stores, and the encryption they all share.
//!
//! Key hierarchy: each sample has its own random data key, used once,
//! that encrypts the sample (XChaCha20-Poly1305; stored as nonce ‖
//! ciphertext, bound to its tenant and hash). The data key is never
//! stored: it is split k-of-n among independent keyholders and each share
//! sealed to one keyholder (`vitrine-keyholder`); a store holds only the
//! ciphertext and the sealed shares. Nothing a store holds decrypts a
//! sample: that takes k keyholders, each releasing its share only for a
//! logged access. The encryption and sealing happen here, once, for every
//! backend ([`seal_sample`]); a backend only keeps bytes.
//!
//! Backends: [`crate::Store`] (the embedded default: an SQLite index and
//! one encrypted file per sample in a data directory) and
//! [`crate::PgStore`] (PostgreSQL, so an intake keeps no local state
//! besides its key and configuration, and several intake processes can
//! share one database). Both pass the same contract tests (`tests` below).
//!
//! # The contract
//!
//! - **A held sample is changed only by [`IntakeStore::destroy`].** A
//!   resubmission of a sample the tenant holds (content held, or a
//!   metadata-only record resubmitted without content, or a destroyed
//!   sample whose deletion is not yet logged) stores nothing and returns
//!   [`Undo::Nothing`]. However many identical submissions arrive at once,
//!   through however many processes sharing the store, exactly one stores
//!   the sample: one ciphertext whose key the stored shares recover, and
//!   no stray copy.
//! - **Undo is exact.** [`IntakeStore::undo`] of what [`IntakeStore::put`]
//!   returned leaves the sample's record as it was before that put: a new
//!   record is removed (with its ciphertext and shares), a replaced
//!   metadata-only or destroyed-and-logged record is put back, and
//!   [`Undo::Nothing`] changes nothing.
//! - **Destroy is final for the store.** [`IntakeStore::destroy`] removes
//!   the sample's sealed shares and ciphertext in one step and marks the
//!   record deleted (its metadata and receipt stay, for the tenant's
//!   audit); afterwards [`IntakeStore::shares`] and
//!   [`IntakeStore::ciphertext`] answer [`StoreError::NoContent`]. It
//!   returns whether the record was newly marked. What the medium keeps
//!   after a removal differs (see each backend); [`IntakeStore::purge`]
//!   does what the backend can to drop it. Whatever lingers is ciphertext
//!   and shares sealed to keyholders: without k keyholders, each of whom
//!   releases only for a logged access, it opens nothing.
//! - Every write is durable when it returns.
//! - Tenants are isolated: every read names its tenant and sees only that
//!   tenant's records.

use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_egress::ReceiptBundle;
use vitrine_keyholder::{KeyholderKey, WrappedShare};

use crate::StoreError;

/// What every intake backend does; see the module documentation for the
/// contract. Methods take `&self` and may be called from many threads.
pub trait IntakeStore: Send + Sync {
    /// Stores a submission. New content is encrypted under a fresh data
    /// key split `threshold`-of-`keyholders.len()` and sealed to the
    /// keyholders ([`seal_sample`]); the data key is then dropped. A
    /// sample this tenant already holds is left exactly as it is (same
    /// content, same shares), however many identical submissions arrive at
    /// once. Returns what to [`IntakeStore::undo`] if the submission's
    /// receipt cannot be logged. Content with no keyholders is refused
    /// ([`StoreError::NoKeyholders`]), storing nothing.
    fn put(
        &self,
        s: &NewSample<'_>,
        keyholders: &[KeyholderKey],
        threshold: usize,
    ) -> Result<Undo, StoreError>;

    /// Undoes a [`IntakeStore::put`] whose receipt could not be logged:
    /// what the submission added is removed and what was there before is
    /// back, unchanged (nothing is kept that the log does not show, and
    /// nothing held is lost).
    fn undo(&self, undo: Undo) -> Result<(), StoreError>;

    /// Records the receipt of a stored submission.
    fn set_receipt(
        &self,
        tenant: &str,
        sha: &[u8; 32],
        receipt: &ReceiptBundle,
    ) -> Result<(), StoreError>;

    /// The tenant's submissions, oldest first.
    fn list(&self, tenant: &str) -> Result<Vec<SampleInfo>, StoreError>;

    /// One of the tenant's submissions.
    fn get(&self, tenant: &str, sha: &[u8; 32]) -> Result<Option<SampleInfo>, StoreError>;

    /// Tenants holding this sample's content (for the vault's lookup by
    /// hash), in order.
    fn tenants_with(&self, sha: &[u8; 32]) -> Result<Vec<String>, StoreError>;

    /// Records an access or deletion for the tenant's audit view, before
    /// it is sent to the log (`log_index` none: pending), so a vault killed
    /// after logging still leaves it in the tenant's audit. Returns its id
    /// for [`IntakeStore::set_event_index`].
    fn record_event(&self, tenant: &str, ev: &EventRow) -> Result<i64, StoreError>;

    /// Records the log index of an event once it is logged.
    fn set_event_index(&self, id: i64, index: u64) -> Result<(), StoreError>;

    /// Every tenant with a record in the store (configured or not), in
    /// order.
    fn tenants(&self) -> Result<Vec<String>, StoreError>;

    /// The tenant's logged accesses and deletions, in the order recorded.
    fn events(&self, tenant: &str) -> Result<Vec<EventRow>, StoreError>;

    /// How many accesses and deletions are recorded, of every tenant, and
    /// how many of them are not known to be logged yet (for metrics).
    fn event_counts(&self) -> Result<EventCounts, StoreError>;

    /// The sealed shares of a held sample and how many open it;
    /// [`StoreError::NoContent`] if none are held.
    fn shares(&self, tenant: &str, sha: &[u8; 32]) -> Result<(u8, Vec<WrappedShare>), StoreError>;

    /// The stored ciphertext (nonce ‖ ciphertext) of a held sample;
    /// [`StoreError::NoContent`] if none is held. It opens only with the
    /// data key the keyholders' shares recover ([`decrypt`]).
    fn ciphertext(&self, tenant: &str, sha: &[u8; 32]) -> Result<Vec<u8>, StoreError>;

    /// Destroys a sample's content and sealed shares in one step, marking
    /// it deleted. Returns false if it was already marked (or unknown).
    fn destroy(&self, tenant: &str, sha: &[u8; 32], now: u64) -> Result<bool, StoreError>;

    /// After destroys: drops what the backend's medium still keeps of
    /// removed rows, as far as it can (PostgreSQL: `VACUUM`). The default
    /// does nothing.
    fn purge(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Marks a deletion as logged.
    fn set_deletion_logged(&self, tenant: &str, sha: &[u8; 32]) -> Result<(), StoreError>;

    /// Samples of `tenant` received at or before `cutoff` and not yet
    /// destroyed, plus destroyed ones whose deletion is not yet logged,
    /// oldest first.
    fn due(&self, tenant: &str, cutoff: u64) -> Result<Vec<[u8; 32]>, StoreError>;
}

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

impl SampleInfo {
    /// A record as the backends store it (integers as SQL's signed ones,
    /// the metadata and receipt as JSON text).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_row(
        sha256: String,
        size: i64,
        received: i64,
        metadata: &str,
        policy_id: String,
        content: bool,
        deleted: Option<i64>,
        receipt: Option<&str>,
    ) -> SampleInfo {
        SampleInfo {
            sha256,
            size: size as u64,
            received: received as u64,
            metadata: serde_json::from_str(metadata).unwrap_or(serde_json::Value::Null),
            policy_id,
            content,
            deleted: deleted.map(|v| v as u64),
            receipt: receipt.and_then(|j| serde_json::from_str(j).ok()),
        }
    }
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

/// What [`IntakeStore::event_counts`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Accesses recorded.
    pub accesses: u64,
    /// Deletions recorded.
    pub deletions: u64,
    /// Events recorded whose log index is not known: sent to the log by a
    /// vault that stopped before recording the index, or not logged.
    pub pending: u64,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldRow {
    pub(crate) size: i64,
    pub(crate) received: i64,
    pub(crate) metadata: String,
    pub(crate) policy_id: String,
    pub(crate) policy_sha256: String,
    pub(crate) has_content: bool,
    pub(crate) deleted: Option<i64>,
    pub(crate) deletion_logged: bool,
    pub(crate) receipt: Option<String>,
}

impl OldRow {
    /// Whether a new submission (with content or not) leaves this record
    /// as it is: held content, a metadata-only record resubmitted without
    /// content, or a deletion not yet logged.
    pub(crate) fn kept(&self, with_content: bool) -> bool {
        match self.deleted {
            None => self.has_content || !with_content,
            Some(_) => !self.deletion_logged,
        }
    }
}

/// What [`IntakeStore::undo`] must do to take a submission back.
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

    /// What a put that found `old` (and stored) must undo.
    pub(crate) fn of(tenant: &str, sha256: String, old: Option<OldRow>) -> Undo {
        match old {
            None => Undo::Remove {
                tenant: tenant.to_owned(),
                sha256,
            },
            Some(old) => Undo::Restore {
                tenant: tenant.to_owned(),
                sha256,
                old,
            },
        }
    }

    /// The tenant, the sample (hex) and the record to put back (none:
    /// remove it); `None` for [`Undo::Nothing`].
    pub(crate) fn into_parts(self) -> Option<(String, String, Option<OldRow>)> {
        match self {
            Undo::Nothing => None,
            Undo::Remove { tenant, sha256 } => Some((tenant, sha256, None)),
            Undo::Restore {
                tenant,
                sha256,
                old,
            } => Some((tenant, sha256, Some(old))),
        }
    }
}

/// A sample's content made ready to store: its ciphertext under a fresh
/// data key, and that key's shares, each sealed to one keyholder. The data
/// key itself is already gone.
pub struct SealedSample {
    /// Nonce ‖ XChaCha20-Poly1305 ciphertext, bound to tenant and hash.
    pub ciphertext: Vec<u8>,
    /// How many shares recover the data key.
    pub threshold: u8,
    /// One sealed share per keyholder.
    pub shares: Vec<WrappedShare>,
}

impl SealedSample {
    /// Each share as the backends store it: keyholder name and JSON.
    pub(crate) fn share_rows(&self) -> impl Iterator<Item = (&str, String)> {
        self.shares.iter().map(|w| {
            (
                w.keyholder.as_str(),
                serde_json::to_string(&w.sealed).expect("invariant: shares serialize"),
            )
        })
    }
}

const SAMPLE_CONTEXT: &str = "vitrine-sample-v1";

fn aad(tenant: &str, sha: &str) -> Vec<u8> {
    format!("{SAMPLE_CONTEXT}\n{tenant}\n{sha}\n").into_bytes()
}

/// Encrypts a submission's content (if it has any) under a fresh data key,
/// splits the key `threshold`-of-`keyholders.len()` and seals each share
/// to its keyholder, then wipes the key. The one place the intake
/// encrypts: every backend stores what this returns.
pub fn seal_sample(
    s: &NewSample<'_>,
    keyholders: &[KeyholderKey],
    threshold: usize,
) -> Result<Option<SealedSample>, StoreError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use rand::RngCore;

    let Some(content) = s.content else {
        return Ok(None);
    };
    if keyholders.is_empty() {
        return Err(StoreError::NoKeyholders);
    }
    let threshold = u8::try_from(threshold).map_err(|_| StoreError::NoKeyholders)?;
    let mut dkey = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut dkey);
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = (|| {
        let sealed = XChaCha20Poly1305::new((&dkey).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: content,
                    aad: &aad(s.tenant, &hex::encode(s.sha256)),
                },
            )
            .map_err(|_| StoreError::Decrypt)?;
        let shares = vitrine_keyholder::split(&dkey, threshold, keyholders, s.tenant, &s.sha256)
            .map_err(|e| StoreError::Shares(e.to_string()))?;
        Ok::<_, StoreError>((sealed, shares))
    })();
    // Whatever happened, the data key goes now.
    dkey.fill(0);
    let (sealed, shares) = sealed?;
    let mut ciphertext = nonce.to_vec();
    ciphertext.extend_from_slice(&sealed);
    Ok(Some(SealedSample {
        ciphertext,
        threshold,
        shares,
    }))
}

/// Decrypts a held sample with its data key and checks that it hashes to
/// `sha`. Only the vault calls this, with a key combined from shares
/// keyholders released for a logged access.
pub(crate) fn decrypt(
    store: &dyn IntakeStore,
    tenant: &str,
    sha: &[u8; 32],
    data_key: &[u8; 32],
) -> Result<Vec<u8>, StoreError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    let sealed = store.ciphertext(tenant, sha)?;
    if sealed.len() < 24 {
        return Err(StoreError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(24);
    let plain = XChaCha20Poly1305::new(data_key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &aad(tenant, &hex::encode(sha)),
            },
        )
        .map_err(|_| StoreError::Decrypt)?;
    if <[u8; 32]>::from(Sha256::digest(&plain)) != *sha {
        return Err(StoreError::Decrypt);
    }
    Ok(plain)
}

/// The sealed shares as a backend stored them (keyholder, threshold,
/// JSON), checked: [`StoreError::NoContent`] if there are none,
/// [`StoreError::Decrypt`] if one does not decode.
pub(crate) fn decode_shares(
    rows: Vec<(String, i64, String)>,
) -> Result<(u8, Vec<WrappedShare>), StoreError> {
    let mut threshold = 0u8;
    let mut out = Vec::new();
    for (keyholder, k, sealed) in rows {
        threshold = u8::try_from(k).map_err(|_| StoreError::Decrypt)?;
        let sealed = serde_json::from_str(&sealed).map_err(|_| StoreError::Decrypt)?;
        out.push(WrappedShare { keyholder, sealed });
    }
    if out.is_empty() {
        return Err(StoreError::NoContent);
    }
    Ok((threshold, out))
}

/// Hex hashes as stored, back to bytes (anything else is skipped).
pub(crate) fn decode_hashes(rows: Vec<String>) -> Vec<[u8; 32]> {
    rows.iter()
        .filter_map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
        })
        .collect()
}

/// The contract, run against every backend (`sqlite::*` and `postgres::*`,
/// one PostgreSQL database per test).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vitrine_keyholder::{combine, open_share, KeyholderSecret};

    /// A backend under test, and what a test needs to look behind the
    /// trait at what the medium holds.
    pub(crate) trait Backend {
        /// The store.
        fn store(&self) -> &dyn IntakeStore;
        /// Another handle on the same durable state (another process).
        fn reopen(&self) -> Box<dyn IntakeStore>;
        /// The stored ciphertext bytes of a sample, if any are stored.
        fn raw(&self, tenant: &str, sha: &[u8; 32]) -> Option<Vec<u8>>;
        /// Overwrites the stored ciphertext bytes of a sample.
        fn tamper(&self, tenant: &str, sha: &[u8; 32], bytes: &[u8]);
        /// Every stored ciphertext (or file) of any sample, with any
        /// temporary file: a name per copy.
        fn copies(&self) -> Vec<String>;
    }

    pub(crate) struct Holders {
        pub(crate) secrets: Vec<KeyholderSecret>,
        pub(crate) public: Vec<KeyholderKey>,
    }

    pub(crate) fn holders() -> Holders {
        let secrets: Vec<_> = (0..3)
            .map(|i| KeyholderSecret::generate(&format!("kh{i}")).unwrap())
            .collect();
        let public = secrets.iter().map(|s| s.public()).collect();
        Holders { secrets, public }
    }

    pub(crate) fn new_sample<'a>(
        tenant: &'a str,
        content: Option<&'a [u8]>,
        sha: [u8; 32],
    ) -> NewSample<'a> {
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

    pub(crate) fn put(
        store: &dyn IntakeStore,
        h: &Holders,
        tenant: &str,
        content: &[u8],
    ) -> [u8; 32] {
        let sha: [u8; 32] = Sha256::digest(content).into();
        let _ = store
            .put(&new_sample(tenant, Some(content), sha), &h.public, 2)
            .unwrap();
        sha
    }

    /// What k keyholders together would release.
    pub(crate) fn key_of(
        store: &dyn IntakeStore,
        h: &Holders,
        tenant: &str,
        sha: &[u8; 32],
    ) -> [u8; 32] {
        let (k, shares) = store.shares(tenant, sha).unwrap();
        let opened: Vec<Vec<u8>> = shares
            .iter()
            .zip(&h.secrets)
            .take(k as usize)
            .map(|(w, s)| open_share(s, &w.sealed, tenant, sha).unwrap())
            .collect();
        combine(k, &opened).unwrap()
    }

    fn round_trip_and_binding(b: &dyn Backend) {
        let store = b.store();
        let h = holders();
        let a = put(store, &h, "t-a", b"sample one");
        let bb = put(store, &h, "t-a", b"sample two");
        let ka = key_of(store, &h, "t-a", &a);
        assert_eq!(decrypt(store, "t-a", &a, &ka).unwrap(), b"sample one");
        // What the store holds is ciphertext, not the sample.
        let ca = b.raw("t-a", &a).unwrap();
        assert!(!ca.windows(10).any(|w| w == b"sample one"));
        assert_eq!(store.ciphertext("t-a", &a).unwrap(), ca);
        // Another tenant holds no shares of it, and sees none of it.
        assert!(matches!(
            store.shares("t-b", &a),
            Err(StoreError::NoContent)
        ));
        assert!(matches!(
            store.ciphertext("t-b", &a),
            Err(StoreError::NoContent)
        ));
        assert!(store.get("t-b", &a).unwrap().is_none());
        assert!(store.list("t-b").unwrap().is_empty());
        assert_eq!(store.tenants_with(&a).unwrap(), ["t-a"]);
        assert_eq!(store.list("t-a").unwrap().len(), 2);
        // Ciphertexts are bound to their sample: swapping them fails.
        let kb = key_of(store, &h, "t-a", &bb);
        let cb = b.raw("t-a", &bb).unwrap();
        b.tamper("t-a", &a, &cb);
        assert!(matches!(
            decrypt(store, "t-a", &a, &kb),
            Err(StoreError::Decrypt)
        ));
        // And to their key.
        b.tamper("t-a", &a, &ca);
        assert!(matches!(
            decrypt(store, "t-a", &a, &kb),
            Err(StoreError::Decrypt)
        ));
        // Destroyed: nothing left to decrypt, the record says when.
        assert!(store.destroy("t-a", &a, 2).unwrap());
        assert!(matches!(
            store.shares("t-a", &a),
            Err(StoreError::NoContent)
        ));
        assert!(matches!(
            decrypt(store, "t-a", &a, &ka),
            Err(StoreError::NoContent)
        ));
        assert!(b.raw("t-a", &a).is_none());
        store.purge().unwrap();
        assert_eq!(store.get("t-a", &a).unwrap().unwrap().deleted, Some(2));
        assert!(store.tenants_with(&a).unwrap().is_empty());
        // The other sample is untouched.
        assert_eq!(decrypt(store, "t-a", &bb, &kb).unwrap(), b"sample two");
    }

    fn content_needs_keyholders(b: &dyn Backend) {
        let store = b.store();
        let sha: [u8; 32] = Sha256::digest(b"x").into();
        assert!(matches!(
            store.put(&new_sample("t-a", Some(b"x"), sha), &[], 1),
            Err(StoreError::NoKeyholders)
        ));
        assert!(store.get("t-a", &sha).unwrap().is_none());
        assert!(b.copies().is_empty());
    }

    /// Observation 3: a resubmission never destroys what is held, and an
    /// undone one leaves everything as it was.
    fn resubmissions_keep_what_is_held(b: &dyn Backend) {
        let store = b.store();
        let h = holders();
        let content = b"held content";
        let sha = put(store, &h, "t-a", content);
        let key = key_of(store, &h, "t-a", &sha);
        let before = store.get("t-a", &sha).unwrap();
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
        assert_eq!(store.get("t-a", &sha).unwrap(), before);
        assert_eq!(key_of(store, &h, "t-a", &sha), key);
        assert_eq!(decrypt(store, "t-a", &sha, &key).unwrap(), content);

        // A metadata-only record upgraded with content, then undone: back
        // to metadata only, no shares, no ciphertext.
        let other = b"other content";
        let osha: [u8; 32] = Sha256::digest(other).into();
        let _ = store
            .put(&new_sample("t-a", None, osha), &h.public, 2)
            .unwrap();
        let meta_only = store.get("t-a", &osha).unwrap();
        let u = store
            .put(&new_sample("t-a", Some(other), osha), &h.public, 2)
            .unwrap();
        assert!(u.changed());
        assert!(b.raw("t-a", &osha).is_some());
        store.undo(u).unwrap();
        assert_eq!(store.get("t-a", &osha).unwrap(), meta_only);
        assert!(!meta_only.unwrap().content);
        assert!(store.shares("t-a", &osha).is_err());
        assert!(b.raw("t-a", &osha).is_none());
        // A new record, undone: gone.
        let third: [u8; 32] = Sha256::digest(b"third").into();
        let u = store
            .put(&new_sample("t-a", Some(b"third"), third), &h.public, 2)
            .unwrap();
        store.undo(u).unwrap();
        assert!(store.get("t-a", &third).unwrap().is_none());
        assert!(b.raw("t-a", &third).is_none());
        // Only the held sample's ciphertext is left.
        assert_eq!(b.copies().len(), 1, "{:?}", b.copies());
    }

    /// A destroyed sample stays destroyed until its deletion is logged;
    /// then a new submission stores it again, and undoing that brings the
    /// destroyed, logged record back, with no content.
    fn destroy_then_resubmit(b: &dyn Backend) {
        let store = b.store();
        let h = holders();
        let sha = put(store, &h, "t-a", b"to destroy");
        assert_eq!(store.due("t-a", 0).unwrap(), Vec::<[u8; 32]>::new());
        assert_eq!(store.due("t-a", 1).unwrap(), [sha]);
        assert!(store.destroy("t-a", &sha, 5).unwrap());
        assert!(!store.destroy("t-a", &sha, 6).unwrap());
        // Destroyed, deletion not logged yet: still due, and kept.
        assert_eq!(store.due("t-a", 0).unwrap(), [sha]);
        let u = store
            .put(&new_sample("t-a", Some(b"to destroy"), sha), &h.public, 2)
            .unwrap();
        assert!(!u.changed());
        assert!(b.raw("t-a", &sha).is_none());
        store.set_deletion_logged("t-a", &sha).unwrap();
        assert!(store.due("t-a", 10).unwrap().is_empty());
        let logged = store.get("t-a", &sha).unwrap();
        assert_eq!(logged.as_ref().unwrap().deleted, Some(5));
        // Logged: a new submission stores it anew.
        let u = store
            .put(&new_sample("t-a", Some(b"to destroy"), sha), &h.public, 2)
            .unwrap();
        assert!(u.changed());
        let key = key_of(store, &h, "t-a", &sha);
        assert_eq!(decrypt(store, "t-a", &sha, &key).unwrap(), b"to destroy");
        assert_eq!(store.get("t-a", &sha).unwrap().unwrap().deleted, None);
        store.undo(u).unwrap();
        assert_eq!(store.get("t-a", &sha).unwrap(), logged);
        assert!(b.raw("t-a", &sha).is_none());
        assert!(matches!(
            store.shares("t-a", &sha),
            Err(StoreError::NoContent)
        ));
        // Destroying what is unknown changes nothing.
        assert!(!store.destroy("t-b", &sha, 7).unwrap());
        assert!(store.get("t-b", &sha).unwrap().is_none());
    }

    fn receipts_events_and_tenants(b: &dyn Backend) {
        let store = b.store();
        let h = holders();
        let a = put(store, &h, "t-b", b"first");
        let c = put(store, &h, "t-a", b"first");
        assert_eq!(a, c);
        assert_eq!(store.tenants().unwrap(), ["t-a", "t-b"]);
        assert_eq!(store.tenants_with(&a).unwrap(), ["t-a", "t-b"]);
        let receipt = ReceiptBundle {
            note: "a note\n".into(),
            index: 7,
            tlog_proof: "a proof\n".into(),
        };
        store.set_receipt("t-a", &a, &receipt).unwrap();
        assert_eq!(
            store.get("t-a", &a).unwrap().unwrap().receipt,
            Some(receipt)
        );
        assert_eq!(store.get("t-b", &a).unwrap().unwrap().receipt, None);

        let ev = |kind: &str, detail: &str| EventRow {
            sha256: hex::encode(a),
            kind: kind.into(),
            who: (kind == "access").then(|| "alice".into()),
            detail: detail.into(),
            time: 9,
            note: format!("{kind} note\n"),
            log_index: None,
        };
        let one = store.record_event("t-a", &ev("access", "triage")).unwrap();
        let two = store.record_event("t-a", &ev("deletion", "asked")).unwrap();
        store.record_event("t-b", &ev("access", "other")).unwrap();
        store.set_event_index(two, 12).unwrap();
        let events = store.events("t-a").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], ev("access", "triage"));
        assert_eq!(
            events[1],
            EventRow {
                log_index: Some(12),
                ..ev("deletion", "asked")
            }
        );
        store.set_event_index(one, 11).unwrap();
        assert_eq!(store.events("t-a").unwrap()[0].log_index, Some(11));
        assert_eq!(store.events("t-b").unwrap().len(), 1);
        assert_eq!(
            store.event_counts().unwrap(),
            EventCounts {
                accesses: 2,
                deletions: 1,
                pending: 1,
            }
        );
    }

    /// Observation 2: many identical submissions at once leave one sample
    /// whose ciphertext matches its shares, and no stray copy.
    fn concurrent_identical_puts_store_one_sample(b: &dyn Backend) {
        let h = holders();
        let content = b"outbreak file".to_vec();
        let sha: [u8; 32] = Sha256::digest(&content).into();
        // Two handles on one durable store stand for two intake processes.
        let other = b.reopen();
        let stores = [b.store(), &*other];
        let changed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for i in 0..16 {
                let (store, content, h, changed) = (stores[i % 2], &content, &h, &changed);
                s.spawn(move || {
                    let u = store
                        .put(&new_sample("t-a", Some(content), sha), &h.public, 2)
                        .unwrap();
                    if u.changed() {
                        changed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(changed.into_inner(), 1, "exactly one put stores it");
        for store in stores {
            let key = key_of(store, &h, "t-a", &sha);
            assert_eq!(decrypt(store, "t-a", &sha, &key).unwrap(), content);
        }
        assert_eq!(b.copies().len(), 1, "{:?}", b.copies());
    }

    /// Concurrent puts of one sample, some undone (their receipt "could
    /// not be logged"), against destroys: whatever the interleaving, the
    /// record ends in a state one of the operations in sequence explains,
    /// and a held record's ciphertext always opens with its shares.
    fn concurrent_puts_undos_and_destroys_stay_consistent(b: &dyn Backend) {
        let h = holders();
        let content = b"contended".to_vec();
        let sha: [u8; 32] = Sha256::digest(&content).into();
        let other = b.reopen();
        let stores = [b.store(), &*other];
        std::thread::scope(|s| {
            for i in 0..12 {
                let (store, content, h) = (stores[i % 2], &content, &h);
                s.spawn(move || {
                    for round in 0..4 {
                        let with = (i + round) % 3 != 0;
                        let u = store
                            .put(
                                &new_sample("t-a", with.then_some(&content[..]), sha),
                                &h.public,
                                2,
                            )
                            .unwrap();
                        if (i + round) % 2 == 0 {
                            store.undo(u).unwrap();
                        }
                        if i % 5 == 4 && round == 2 {
                            store.destroy("t-a", &sha, 3).unwrap();
                            store.set_deletion_logged("t-a", &sha).unwrap();
                        }
                    }
                });
            }
        });
        let store = b.store();
        match store.get("t-a", &sha).unwrap() {
            Some(info) if info.content && info.deleted.is_none() => {
                let key = key_of(store, &h, "t-a", &sha);
                assert_eq!(decrypt(store, "t-a", &sha, &key).unwrap(), content);
                assert_eq!(b.copies().len(), 1, "{:?}", b.copies());
            }
            _ => {
                assert!(store.shares("t-a", &sha).is_err());
                assert!(b.copies().is_empty(), "{:?}", b.copies());
            }
        }
    }

    /// One #[test] per backend for each contract test.
    macro_rules! contract {
        ($($name:ident),* $(,)?) => {
            mod sqlite {
                $(#[test]
                fn $name() {
                    super::$name(&crate::sqlite::tests::FileBackend::new())
                })*
            }
            mod postgres {
                $(#[test]
                fn $name() {
                    super::$name(&crate::pg::tests::PgBackend::new())
                })*
            }
        };
    }

    contract!(
        round_trip_and_binding,
        content_needs_keyholders,
        resubmissions_keep_what_is_held,
        destroy_then_resubmit,
        receipts_events_and_tenants,
        concurrent_identical_puts_store_one_sample,
        concurrent_puts_undos_and_destroys_stay_consistent,
    );
}
