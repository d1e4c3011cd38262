//! An in-memory [`Storage`] with fault injection, for tests.

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

#[derive(Default)]
struct State {
    tiles: BTreeMap<TilePath, Vec<u8>>,
    checkpoint: Option<Vec<u8>>,
    index: HashMap<Hash, u64>,
    staged: Option<u64>,
    signed: Option<Vec<u8>>,
    faults: VecDeque<(Op, Fault)>,
    crashed: bool,
}

/// A [`Storage`] held in memory. It survives a [`crate::Log`] being dropped,
/// which is how tests simulate a restart; faults are queued with
/// [`MemoryStorage::inject`] and fire on the next matching call.
#[derive(Default)]
pub struct MemoryStorage {
    state: Mutex<State>,
}

/// What a write should do, decided from the fault queue.
enum Plan {
    Apply,
    Fail,
    ApplyThenFail,
    ApplyHalfThenFail,
    ApplyThenCrash,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a fault for the next call of `op`.
    pub fn inject(&self, op: Op, fault: Fault) {
        self.lock().faults.push_back((op, fault));
    }

    /// Ends a simulated crash and drops pending faults.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.crashed = false;
        s.faults.clear();
    }

    /// Whether a simulated crash is in effect.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Every stored tile path, for inspection.
    pub fn tile_paths(&self) -> Vec<TilePath> {
        self.lock().tiles.keys().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(s: &mut State, op: Op) -> Result<Plan, StorageError> {
        let injected = Err(StorageError::Injected { op });
        if s.crashed {
            return injected;
        }
        let Some(pos) = s.faults.iter().position(|(o, _)| *o == op) else {
            return Ok(Plan::Apply);
        };
        let (_, fault) = s.faults.remove(pos).expect("invariant: position found");
        Ok(match fault {
            Fault::FailNotPersisted => Plan::Fail,
            Fault::FailPersisted => Plan::ApplyThenFail,
            Fault::FailPartial => Plan::ApplyHalfThenFail,
            Fault::CrashAfter => Plan::ApplyThenCrash,
            Fault::CrashBefore => {
                s.crashed = true;
                Plan::Fail
            }
        })
    }

    /// Runs a write of `n` parts under the fault plan; `apply(s, k)` applies
    /// the first `k` parts.
    fn write(
        &self,
        op: Op,
        n: usize,
        apply: impl FnOnce(&mut State, usize),
    ) -> Result<(), StorageError> {
        Self::write_locked(&mut self.lock(), op, n, apply)
    }

    fn write_locked(
        s: &mut State,
        op: Op,
        n: usize,
        apply: impl FnOnce(&mut State, usize),
    ) -> Result<(), StorageError> {
        let plan = Self::plan(s, op)?;
        let fail = Err(StorageError::Injected { op });
        match plan {
            Plan::Apply => {
                apply(s, n);
                Ok(())
            }
            Plan::Fail => fail,
            Plan::ApplyThenFail => {
                apply(s, n);
                fail
            }
            Plan::ApplyHalfThenFail => {
                apply(s, n / 2);
                fail
            }
            Plan::ApplyThenCrash => {
                apply(s, n);
                s.crashed = true;
                Ok(())
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, StorageError> {
        let s = self.lock();
        if s.crashed {
            // Reads have no Op of their own; report the closest one.
            return Err(StorageError::Injected { op: Op::WriteTiles });
        }
        Ok(f(&s))
    }
}

impl Storage for MemoryStorage {
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.tiles.get(path).cloned())
    }

    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError> {
        self.write(Op::WriteTiles, tiles.len(), |s, k| {
            for (path, bytes) in &tiles[..k] {
                s.tiles.insert(*path, bytes.clone());
            }
        })
    }

    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError> {
        self.write(Op::DeleteTiles, paths.len(), |s, k| {
            for path in &paths[..k] {
                s.tiles.remove(path);
            }
        })
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.checkpoint.clone())
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        let mut s = self.lock();
        if s.crashed {
            return Err(StorageError::Injected {
                op: Op::SwapCheckpoint,
            });
        }
        // The comparison and the swap happen under one lock: atomic.
        if s.checkpoint.as_deref() != old {
            return Err(StorageError::Conflict);
        }
        Self::write_locked(&mut s, Op::SwapCheckpoint, 1, |s, k| {
            if k == 1 {
                s.checkpoint = Some(new.to_vec());
            }
        })
    }

    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError> {
        self.read(|s| s.index.get(entry_hash).copied())
    }

    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError> {
        self.write(Op::Record, rows.len(), |s, k| {
            s.index.extend(rows[..k].iter().copied());
        })
    }

    fn forget_from(&self, size: u64) -> Result<(), StorageError> {
        self.write(Op::ForgetFrom, 1, |s, k| {
            if k == 1 {
                s.index.retain(|_, idx| *idx < size);
            }
        })
    }

    fn staged_size(&self) -> Result<Option<u64>, StorageError> {
        self.read(|s| s.staged)
    }

    fn set_staged_size(&self, size: u64) -> Result<(), StorageError> {
        self.write(Op::SetStaged, 1, |s, k| {
            if k == 1 {
                s.staged = Some(size);
            }
        })
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|s| s.signed.clone())
    }

    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError> {
        self.write(Op::SetSigned, 1, |s, k| {
            if k == 1 {
                s.signed = Some(checkpoint.to_vec());
            }
        })
    }
}
