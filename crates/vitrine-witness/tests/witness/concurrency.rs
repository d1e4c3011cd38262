//! Many concurrent add-checkpoint requests with different old sizes never
//! roll the stored size back (the race of tlog-witness §add-checkpoint).

use std::sync::{Arc, Mutex};
use std::thread;

use tempfile::TempDir;
use vitrine_pg::TestDatabase;
use vitrine_tlog::Hash;
use vitrine_witness::{
    Evidence, LogState, MemoryStore, PgStore, Refusal, SqliteStore, StoreError, WitnessError,
    WitnessStore,
};

use crate::common::{witness, TestLog, ORIGIN};

/// Records the order in which swaps commit.
struct Recording<S> {
    inner: S,
    commits: Mutex<Vec<u64>>,
}

impl<S: WitnessStore> WitnessStore for Recording<S> {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        self.inner.load(origin)
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &LogState,
    ) -> Result<bool, StoreError> {
        // Holding the lock across the swap makes the recorded order the
        // commit order.
        let mut commits = self.commits.lock().unwrap();
        let ok = self.inner.compare_and_swap(origin, expected, new)?;
        if ok {
            commits.push(new.size);
        }
        Ok(ok)
    }

    fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError> {
        self.inner.record_evidence(evidence)
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StoreError> {
        self.inner.evidence(origin)
    }
}

fn hammer<S: WitnessStore + 'static>(store: S, threads: u64, per_thread: u64) {
    const SIZE: u64 = 300;
    let log = Arc::new(TestLog::new(3, SIZE));
    let store = Arc::new(Recording {
        inner: store,
        commits: Mutex::new(Vec::new()),
    });
    let w = Arc::new(witness(&log, 1, store.clone()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (log, w) = (log.clone(), w.clone());
            thread::spawn(move || {
                let mut rng =
                    0x9e37_79b9_7f4a_7c15u64 ^ (t + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                let mut next = move |n: u64| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng % n
                };
                // Each client believes some old size, often a stale one.
                let mut believed = next(SIZE / 2);
                let mut ok = Vec::new();
                for _ in 0..per_thread {
                    let new = believed + 1 + next(SIZE - believed).min(SIZE - believed - 1);
                    match w.add_checkpoint(&log.request(believed, new)) {
                        Ok(_) => {
                            ok.push(new);
                            believed = new;
                        }
                        Err(WitnessError::Refused(Refusal::OldSizeMismatch {
                            current_size,
                            ..
                        })) => believed = current_size,
                        Err(e) => panic!("unexpected refusal: {e}"),
                    }
                    if believed >= SIZE - 1 {
                        break;
                    }
                }
                ok
            })
        })
        .collect();
    let mut answered: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let commits = store.commits.lock().unwrap().clone();
    assert!(!commits.is_empty());
    assert!(
        commits.windows(2).all(|p| p[0] <= p[1]),
        "a commit rolled the size back: {commits:?}"
    );
    answered.sort_unstable();
    let mut committed = commits.clone();
    committed.sort_unstable();
    assert_eq!(answered, committed, "every 200 is exactly one commit");
    let max = *answered.last().unwrap();
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, max);
}

#[test]
fn memory_store_never_rolls_back() {
    hammer(MemoryStore::new(), 8, 200);
}

#[test]
fn sqlite_store_never_rolls_back() {
    let dir = TempDir::new().unwrap();
    hammer(
        SqliteStore::open(dir.path().join("w.sqlite")).unwrap(),
        8,
        40,
    );
}

#[test]
fn postgres_store_never_rolls_back() {
    let db = TestDatabase::create();
    hammer(PgStore::connect(&db.url(), 8).unwrap(), 8, 40);
}

#[test]
fn two_handles_on_one_database_never_roll_back() {
    // Two stores on one file stand for two processes: only SQLite's
    // BEGIN IMMEDIATE serialises them.
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("w.sqlite");
    two_handles_never_roll_back(
        Arc::new(SqliteStore::open(&db).unwrap()),
        Arc::new(SqliteStore::open(&db).unwrap()),
    );
}

#[test]
fn two_postgres_front_ends_never_roll_back() {
    // Two pools on one database stand for two witness processes: only the
    // row lock of the compare-and-swap serialises them.
    let db = TestDatabase::create();
    two_handles_never_roll_back(
        Arc::new(PgStore::connect(&db.url(), 2).unwrap()),
        Arc::new(PgStore::connect(&db.url(), 2).unwrap()),
    );
}

fn two_handles_never_roll_back<S: WitnessStore + 'static>(one: Arc<S>, two: Arc<S>) {
    const SIZE: u64 = 64;
    let log = Arc::new(TestLog::new(3, SIZE));
    let a = Arc::new(witness(&log, 1, one));
    let b = Arc::new(witness(&log, 1, two));
    let handles: Vec<_> = [a.clone(), b.clone(), a.clone(), b]
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let log = log.clone();
            thread::spawn(move || {
                let mut believed = 0;
                let mut last_ok = 0;
                let mut step = 1 + i as u64;
                while believed < SIZE {
                    let new = (believed + step).min(SIZE);
                    match w.add_checkpoint(&log.request(believed, new)) {
                        Ok(_) => {
                            assert!(new >= last_ok);
                            last_ok = new;
                            believed = new;
                        }
                        Err(WitnessError::Refused(r)) => {
                            believed = r.current_size().expect("only 409s");
                        }
                        Err(e) => panic!("{e}"),
                    }
                    step = step % 5 + 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(a.state(ORIGIN).unwrap().unwrap().size, SIZE);
}
