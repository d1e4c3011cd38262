//! The store seam: what a witness remembers per log.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use vitrine_tlog::Hash;

use crate::StoreError;

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The signed checkpoint note as received, with this witness's
    /// cosignature appended.
    pub checkpoint: Vec<u8>,
}

/// Why a checkpoint was kept as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceKind {
    /// Same size as the cosigned checkpoint, different root: two signed
    /// checkpoints that cannot both be honest.
    RootMismatch,
    /// The consistency proof from the cosigned checkpoint did not verify.
    InconsistentProof,
}

impl EvidenceKind {
    /// Stable text form used by stores.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::RootMismatch => "root-mismatch",
            EvidenceKind::InconsistentProof => "inconsistent-proof",
        }
    }

    /// Inverse of [`EvidenceKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "root-mismatch" => Some(EvidenceKind::RootMismatch),
            "inconsistent-proof" => Some(EvidenceKind::InconsistentProof),
            _ => None,
        }
    }
}

/// A request the witness refused although the log signed it: possible proof
/// of log misbehaviour (tlog-witness §add-checkpoint: "the witness MAY log
/// the request"). Self-contained: both signed checkpoints and the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The log.
    pub origin: String,
    /// POSIX time of the refusal.
    pub time: u64,
    /// What failed.
    pub kind: EvidenceKind,
    /// The checkpoint the witness had cosigned (note bytes with its
    /// cosignature).
    pub cosigned: Vec<u8>,
    /// The whole add-checkpoint request body.
    pub request: Vec<u8>,
}

/// Where a witness keeps its per-log state.
///
/// # Contract
///
/// - **Compare-and-swap.** [`WitnessStore::compare_and_swap`] replaces a
///   log's state only if its current (size, root) is `expected` (`None`: no
///   state yet), atomically with that check — also against other processes
///   sharing the store. This is what makes the rollback race of
///   tlog-witness §add-checkpoint impossible: the witness verifies against
///   the state it read, then commits only if nobody committed in between.
/// - **Durability.** When `compare_and_swap` returns `Ok(true)` the new state
///   is durable (survives a crash or power loss); the witness answers only
///   after that. On `Err` the swap may or may not have happened; the witness
///   then does not answer with a cosignature.
/// - **Monotonic by construction, not by the store.** The store does not
///   judge sizes; the witness only ever swaps to a state it verified as
///   consistent with the expected one.
/// - **Evidence** is best effort: [`WitnessStore::record_evidence`] may drop
///   records beyond a bound the implementation documents, so a log cannot
///   fill the disk, and its failure does not change the witness's answer.
pub trait WitnessStore: Send + Sync {
    /// The latest cosigned state for `origin`, if any.
    fn load(&self, origin: &str) -> Result<Option<LogState>, StoreError>;

    /// Atomically: if the state of `origin` has (size, root) `expected`
    /// (`None`: no state), durably replace it with `new` and return
    /// `Ok(true)`; otherwise change nothing and return `Ok(false)`.
    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &LogState,
    ) -> Result<bool, StoreError>;

    /// Keeps a refused request as evidence (best effort, bounded).
    fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError>;

    /// The evidence kept for `origin`, oldest first.
    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StoreError>;
}

/// A tree size as the databases store it (signed 64-bit).
pub(crate) fn to_sql(size: u64) -> Result<i64, StoreError> {
    i64::try_from(size).map_err(|_| StoreError::SizeOutOfRange { size })
}

/// A stored size back; negative means the row was damaged.
pub(crate) fn from_sql(origin: &str, size: i64) -> Result<u64, StoreError> {
    u64::try_from(size).map_err(|_| StoreError::Corrupt {
        origin: origin.to_owned(),
        what: "negative size",
    })
}

/// A stored root back; it must be 32 bytes.
pub(crate) fn to_hash(origin: &str, root: Vec<u8>) -> Result<Hash, StoreError> {
    root.try_into().map_err(|_| StoreError::Corrupt {
        origin: origin.to_owned(),
        what: "root is not 32 bytes",
    })
}

/// Most evidence records a store keeps per log; later ones are dropped.
pub const MAX_EVIDENCE_PER_LOG: usize = 1000;

/// A [`WitnessStore`] in memory: for tests and in-process demos. State is
/// lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    logs: HashMap<String, LogState>,
    evidence: HashMap<String, Vec<Evidence>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data is plain values; a panic elsewhere cannot leave it torn.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WitnessStore for MemoryStore {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        Ok(self.lock().logs.get(origin).cloned())
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &LogState,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.logs.get(origin).map(|s| (s.size, s.root));
        if current != expected {
            return Ok(false);
        }
        inner.logs.insert(origin.to_owned(), new.clone());
        Ok(true)
    }

    fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let list = inner.evidence.entry(evidence.origin.clone()).or_default();
        if list.len() < MAX_EVIDENCE_PER_LOG {
            list.push(evidence.clone());
        }
        Ok(())
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StoreError> {
        Ok(self
            .lock()
            .evidence
            .get(origin)
            .cloned()
            .unwrap_or_default())
    }
}
