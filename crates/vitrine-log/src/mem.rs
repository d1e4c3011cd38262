//! Fault injection around any [`Storage`], and an in-memory backend: test
//! aids.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use crate::storage::{Storage, StorageError};
use vitrine_tlog::Hash;
use vitrine_tlog::TilePath;

/// A writing operation of [`Storage`], to aim a fault at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Storage::write_tiles`]
    WriteTiles,
    /// [`Storage::delete_tiles`]
    DeleteTiles,
    /// [`Storage::swap_checkpoint`]
    SwapCheckpoint,
    /// [`Storage::record`]
    Record,
    /// [`Storage::forget_from`]
    ForgetFrom,
    /// [`Storage::set_staged_size`]
    SetStaged,
    /// [`Storage::set_signed_checkpoint`]
    SetSigned,
}

/// How an injected fault behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The call fails and nothing was written.
    FailNotPersisted,
    /// The call fails although everything was written (e.g. a lost reply).
    FailPersisted,
    /// Only the first half of a multi-object write lands, then it fails.
    FailPartial,
    /// The call succeeds, then the process "crashes": every later call
    /// fails until [`MemoryStorage::restart`].
    CrashAfter,
    /// The process "crashes" before the call: it and every later call fail
    /// until [`MemoryStorage::restart`].
    CrashBefore,
}

/// The fault queue and crash flag of a [`FaultyStorage`].
#[derive(Default)]
struct Faults {
    queue: VecDeque<(Op, Fault)>,
    crashed: bool,
}

/// Any [`Storage`] with fault injection: faults are queued with
/// [`FaultyStorage::inject`] and fire on the next matching call, around
/// the real backend's own call. This is how the fault matrix runs against
/// every backend (memory, PostgreSQL): "fails although written" really
/// wrote to the backend, "partial" really wrote the first half.
pub struct FaultyStorage<S> {
    inner: S,
    faults: Mutex<Faults>,
}

/// A [`Storage`] held in memory, with fault injection. It survives a
/// [`crate::Log`] being dropped, which is how tests simulate a restart.
pub type MemoryStorage = FaultyStorage<MemStore>;

/// What a write should do, decided from the fault queue.
enum Plan {
    Apply,
    Fail,
    ApplyThenFail,
    ApplyHalfThenFail,
    ApplyThenCrash,
}

impl FaultyStorage<MemStore> {
    /// An empty in-memory store.
    pub fn new() -> Self {
        Self::wrap(MemStore::default())
    }

    /// Every stored tile path, for inspection.
    pub fn tile_paths(&self) -> Vec<TilePath> {
        self.inner.lock().tiles.keys().copied().collect()
    }
}

impl Default for FaultyStorage<MemStore> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> FaultyStorage<S> {
    /// `inner` with no faults queued.
    pub fn wrap(inner: S) -> Self {
        FaultyStorage {
            inner,
            faults: Mutex::default(),
        }
    }

    /// The backend underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Queues a fault for the next call of `op`.
    pub fn inject(&self, op: Op, fault: Fault) {
        self.lock().queue.push_back((op, fault));
    }

    /// Ends a simulated crash and drops pending faults.
    pub fn restart(&self) {
        let mut f = self.lock();
        f.crashed = false;
        f.queue.clear();
    }

    /// Whether a simulated crash is in effect.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        // A panic while holding the lock leaves plain data behind.
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self, op: Op) -> Result<Plan, StorageError> {
        let mut f = self.lock();
        if f.crashed {
            return Err(StorageError::Injected { op });
        }
        let Some(pos) = f.queue.iter().position(|(o, _)| *o == op) else {
            return Ok(Plan::Apply);
        };
        let (_, fault) = f.queue.remove(pos).expect("invariant: position found");
        Ok(match fault {
            Fault::FailNotPersisted => Plan::Fail,
            Fault::FailPersisted => Plan::ApplyThenFail,
            Fault::FailPartial => Plan::ApplyHalfThenFail,
            Fault::CrashAfter => Plan::ApplyThenCrash,
            Fault::CrashBefore => {
                f.crashed = true;
                Plan::Fail
            }
        })
    }

    /// Runs a write of `n` parts under the fault plan; `apply(k)` makes the
    /// backend's call for the first `k` parts (`k` is 0 or `n` for a write
    /// of one object).
    fn write(
        &self,
        op: Op,
        n: usize,
        apply: impl FnOnce(usize) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let fail = Err(StorageError::Injected { op });
        match self.plan(op)? {
            Plan::Apply => apply(n),
            Plan::Fail => fail,
            Plan::ApplyThenFail => apply(n).and(fail),
            Plan::ApplyHalfThenFail => {
                if n / 2 > 0 {
                    apply(n / 2)?;
                }
                fail
            }
            Plan::ApplyThenCrash => {
                apply(n)?;
                self.lock().crashed = true;
                Ok(())
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&S) -> Result<T, StorageError>) -> Result<T, StorageError> {
        if self.lock().crashed {
            // Reads have no Op of their own; report the closest one.
            return Err(StorageError::Injected { op: Op::WriteTiles });
        }
        f(&self.inner)
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.read_tile(path))
    }

    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError> {
        self.write(Op::WriteTiles, tiles.len(), |k| {
            self.inner.write_tiles(&tiles[..k])
        })
    }

    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError> {
        self.write(Op::DeleteTiles, paths.len(), |k| {
            self.inner.delete_tiles(&paths[..k])
        })
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.read_checkpoint())
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        self.write(Op::SwapCheckpoint, 1, |_| {
            self.inner.swap_checkpoint(old, new)
        })
    }

    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError> {
        self.read(|s| s.lookup(entry_hash))
    }

    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError> {
        self.write(Op::Record, rows.len(), |k| self.inner.record(&rows[..k]))
    }

    fn forget_from(&self, size: u64) -> Result<(), StorageError> {
        self.write(Op::ForgetFrom, 1, |_| self.inner.forget_from(size))
    }

    fn staged_size(&self) -> Result<Option<u64>, StorageError> {
        self.read(|s| s.staged_size())
    }

    fn set_staged_size(&self, size: u64) -> Result<(), StorageError> {
        self.write(Op::SetStaged, 1, |_| self.inner.set_staged_size(size))
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.signed_checkpoint())
    }

    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError> {
        self.write(Op::SetSigned, 1, |_| {
            self.inner.set_signed_checkpoint(checkpoint)
        })
    }
}

#[derive(Default)]
struct State {
    tiles: BTreeMap<TilePath, Vec<u8>>,
    checkpoint: Option<Vec<u8>>,
    index: HashMap<Hash, u64>,
    staged: Option<u64>,
    signed: Option<Vec<u8>>,
}

/// The plain in-memory backend under [`MemoryStorage`].
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
}

impl MemStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemStore {
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().tiles.get(path).cloned())
    }

    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError> {
        let mut s = self.lock();
        for (path, bytes) in tiles {
            s.tiles.insert(*path, bytes.clone());
        }
        Ok(())
    }

    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError> {
        let mut s = self.lock();
        for path in paths {
            s.tiles.remove(path);
        }
        Ok(())
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().checkpoint.clone())
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        let mut s = self.lock();
        // The comparison and the swap happen under one lock: atomic.
        if s.checkpoint.as_deref() != old {
            return Err(StorageError::Conflict);
        }
        s.checkpoint = Some(new.to_vec());
        Ok(())
    }

    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().index.get(entry_hash).copied())
    }

    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError> {
        self.lock().index.extend(rows.iter().copied());
        Ok(())
    }

    fn forget_from(&self, size: u64) -> Result<(), StorageError> {
        self.lock().index.retain(|_, idx| *idx < size);
        Ok(())
    }

    fn staged_size(&self) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().staged)
    }

    fn set_staged_size(&self, size: u64) -> Result<(), StorageError> {
        self.lock().staged = Some(size);
        Ok(())
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().signed.clone())
    }

    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError> {
        self.lock().signed = Some(checkpoint.to_vec());
        Ok(())
    }
}
