//! The log's durability fault matrix and behaviour tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256 as Sha};
use vitrine_log::*;
use vitrine_note::{Note, Signature, SignatureType, SignerKey, VerifierKey};
use vitrine_statements::{Deletion, Review, Sha256, Statement, StatementType, Text, Verdict};
use vitrine_tlog::{
    leaf_hash, open_checkpoint, root_from_leaf_hashes, verify_consistency, Checkpoint, Hash,
};

struct Keys {
    log: SignerKey,
    intake: SignerKey,
}

fn keys() -> Keys {
    Keys {
        log: SignerKey::from_seed("log.example/test", SignatureType::Ed25519, [1; 32]).unwrap(),
        intake: SignerKey::from_seed("intake.example/1", SignatureType::Ed25519, [2; 32]).unwrap(),
    }
}

fn auth(k: &Keys) -> Authorization {
    Authorization::new().allow([StatementType::Deletion], k.intake.verifier())
}

fn entry(k: &Keys, i: u64) -> Vec<u8> {
    Statement::Deletion(Deletion {
        tenant: vitrine_statements::Token::new("t-1").unwrap(),
        sample: Sha256([7; 32]),
        reason: Text::new("test").unwrap(),
        time: i,
    })
    .sign(&k.intake)
    .unwrap()
}

/// How long a batch waits for more entries in tests whose assertions need
/// the entries that [`add_all`] submits together to share one batch: long
/// enough that a loaded machine (CI, other builds) cannot split them.
const SHARED_BATCH_WAIT: Duration = Duration::from_millis(300);

fn open<S: Storage + 'static>(storage: &Arc<S>, k: &Keys) -> Log {
    open_with(storage, k, &Recorder::new())
}

fn open_with<S: Storage + 'static>(storage: &Arc<S>, k: &Keys, recorder: &Arc<Recorder>) -> Log {
    open_waiting(storage, k, recorder, Duration::from_millis(20))
}

/// Like [`open_with`], for tests that assert what one batch does.
fn open_one_batch<S: Storage + 'static>(
    storage: &Arc<S>,
    k: &Keys,
    recorder: &Arc<Recorder>,
) -> Log {
    open_waiting(storage, k, recorder, SHARED_BATCH_WAIT)
}

fn open_waiting<S: Storage + 'static>(
    storage: &Arc<S>,
    k: &Keys,
    recorder: &Arc<Recorder>,
    wait: Duration,
) -> Log {
    Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(k))
        .batch(64, wait)
        .cosigner(recorder.clone())
        .open()
        .unwrap()
}

/// A test [`Cosigner`] standing in for witnesses: it records every
/// checkpoint the log shows it (so everything the log signed and let out),
/// checks the consistency proof, and can be told to fail the next calls
/// *after* seeing the checkpoint, as a quorum failure does when some
/// witnesses cosigned.
struct Recorder {
    seen: Mutex<Vec<(u64, Hash)>>,
    fail: AtomicUsize,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            fail: AtomicUsize::new(0),
        })
    }

    fn fail_next(&self, n: usize) {
        self.fail.store(n, Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<(u64, Hash)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Cosigner for Recorder {
    fn cosign(&self, r: &CosignRequest<'_>) -> Result<Vec<Signature>, CosignError> {
        let new = Checkpoint::parse(r.new.text()).unwrap();
        let old = Checkpoint::parse(Note::parse(r.old).unwrap().text()).unwrap();
        assert_eq!(old.size, r.old_size);
        if old.size > 0 {
            verify_consistency(old.size, new.size, r.proof, &old.root, &new.root)
                .expect("consistency proof from the published checkpoint");
        }
        self.seen.lock().unwrap().push((new.size, new.root));
        let fail = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(CosignError {
                reason: "quorum not met (test)".into(),
            });
        }
        Ok(Vec::new())
    }
}

/// Every pair of checkpoints is consistent: the smaller is a prefix of the
/// larger, so in particular no two differ at one size. `entries` is a tree
/// at least as large as all of them.
fn assert_pairwise_consistent(seen: &[(u64, Hash)], entries: &[Vec<u8>], step: &str) {
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::new();
    for &(size, _) in seen {
        assert!(
            size as usize <= leaves.len(),
            "{step}: {size} beyond the log"
        );
        roots
            .entry(size)
            .or_insert_with(|| root_from_leaf_hashes(&leaves[..size as usize]));
    }
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            let (small, big) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            if small.0 == big.0 {
                assert_eq!(small.1, big.1, "{step}: two trees of size {}", small.0);
            }
            // `big` is the prefix of the final tree, and so is `small`:
            // hence `small` is a prefix of `big`.
            assert_eq!(roots[&big.0], big.1, "{step}: checkpoint at {}", big.0);
            assert_eq!(
                roots[&small.0], small.1,
                "{step}: checkpoint at {}",
                small.0
            );
        }
    }
}

/// The entries of the log's published tree, replayed from storage.
fn published_entries(storage: &dyn Storage, k: &Keys) -> Vec<Vec<u8>> {
    let cp = storage.read_checkpoint().unwrap().unwrap();
    let cp = open_checkpoint(&cp, &k.log.verifier(), &Default::default())
        .unwrap()
        .checkpoint;
    replay(cp.size, &cp.root, |p| storage.read_tile(p)).unwrap()
}

/// (size, root) of the stored signed checkpoint.
fn signed(storage: &dyn Storage) -> Option<(u64, Hash)> {
    let bytes = storage.signed_checkpoint().unwrap()?;
    let cp = Checkpoint::parse(Note::parse(&bytes).unwrap().text()).unwrap();
    Some((cp.size, cp.root))
}

fn wait_for_size(log: &Log, size: u64) {
    let start = Instant::now();
    while log.size() < size {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never reached {size}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Adds entries concurrently so they share batches; returns each result.
fn add_all(log: &Log, entries: &[Vec<u8>]) -> Vec<Result<u64, AddError>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .iter()
            .map(|e| s.spawn(|| log.add_blocking(e.clone())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Everything a client could check, from storage alone.
struct Checker {
    vkey: VerifierKey,
    acked: Vec<(u64, Vec<u8>)>,
    history: Vec<(u64, Hash)>,
}

impl Checker {
    /// Checks the published checkpoint and, if the log signed a larger one
    /// that is not published yet, that one too: both replay from storage,
    /// and neither contradicts any checkpoint seen at an earlier step.
    fn check(&mut self, storage: &dyn Storage, step: &str) {
        let cp = storage.read_checkpoint().unwrap().expect("checkpoint");
        let opened = open_checkpoint(&cp, &self.vkey, &Default::default())
            .unwrap_or_else(|e| panic!("{step}: checkpoint: {e}"));
        let published = (opened.checkpoint.size, opened.checkpoint.root);
        let mut tip = published;
        if let Some(signed) = storage.signed_checkpoint().unwrap() {
            let cp = open_checkpoint(&signed, &self.vkey, &Default::default())
                .unwrap_or_else(|e| panic!("{step}: signed checkpoint: {e}"))
                .checkpoint;
            assert!(cp.size >= published.0, "{step}: signed behind published");
            if cp.size == published.0 {
                assert_eq!(cp.root, published.1, "{step}: signed != published");
            }
            tip = (cp.size, cp.root);
        }
        let (size, root) = tip;
        let entries = replay(size, &root, |p| storage.read_tile(p))
            .unwrap_or_else(|e| panic!("{step}: replay: {e}"));
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        assert_eq!(
            root_from_leaf_hashes(&leaves[..published.0 as usize]),
            published.1,
            "{step}: published is not a prefix of signed"
        );
        for (idx, bytes) in &self.acked {
            assert!(*idx < published.0, "{step}: acked {idx} not published");
            assert_eq!(
                entries.get(*idx as usize),
                Some(bytes),
                "{step}: acked entry {idx}"
            );
        }
        for (old_size, old_root) in &self.history {
            assert!(*old_size <= size, "{step}: tree shrank");
            assert_eq!(
                root_from_leaf_hashes(&leaves[..*old_size as usize]),
                *old_root,
                "{step}: inconsistent with checkpoint at {old_size}"
            );
        }
        for (i, e) in entries.iter().enumerate() {
            let h: Hash = Sha::digest(e).into();
            assert_eq!(
                storage.lookup(&h).unwrap(),
                Some(i as u64),
                "{step}: dedup row {i}"
            );
        }
        self.history.push(published);
        self.history.push(tip);
    }

    fn ack(&mut self, entries: &[Vec<u8>], results: &[Result<u64, AddError>]) -> Vec<Vec<u8>> {
        let mut failed = Vec::new();
        for (e, r) in entries.iter().zip(results) {
            match r {
                Ok(idx) => self.acked.push((*idx, e.clone())),
                Err(_) => failed.push(e.clone()),
            }
        }
        failed
    }
}

/// A fresh store of one backend for each step of a test.
type Fresh<'a, S> = dyn Fn() -> Arc<FaultyStorage<S>> + 'a;

fn memory() -> Arc<MemoryStorage> {
    Arc::new(MemoryStorage::new())
}

/// A fresh log store in a schema of its own of `db` (a database per step
/// would spend most of the test creating databases).
fn postgres_in(db: &TestDatabase) -> Arc<FaultyStorage<PgStorage>> {
    static SCHEMAS: AtomicUsize = AtomicUsize::new(0);
    let schema = format!("step{}", SCHEMAS.fetch_add(1, Ordering::SeqCst));
    db.connect()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let url = format!("{} options='-c search_path={schema}'", db.url());
    let storage = PgStorage::connect(&url, 4).unwrap();
    Arc::new(FaultyStorage::wrap(storage))
}

#[test]
fn fault_matrix() {
    fault_matrix_on(&memory);
}

/// The same matrix against PostgreSQL: the faults fire around the real
/// database's calls ("fails although written" committed the transaction).
#[test]
fn fault_matrix_postgres() {
    let db = TestDatabase::create();
    fault_matrix_on(&|| postgres_in(&db));
}

fn fault_matrix_on<S: Storage + 'static>(fresh: &Fresh<'_, S>) {
    let ops = [
        Op::SetStaged,
        Op::WriteTiles,
        Op::Record,
        Op::SetSigned,
        Op::SwapCheckpoint,
    ];
    let faults = [
        Fault::FailNotPersisted,
        Fault::FailPersisted,
        Fault::FailPartial,
        Fault::CrashBefore,
        Fault::CrashAfter,
    ];
    for op in ops {
        for fault in faults {
            let step = format!("{op:?}/{fault:?}");
            let k = keys();
            let storage = fresh();
            init(&*storage, &k.log).unwrap();
            let mut checker = Checker {
                vkey: k.log.verifier(),
                acked: Vec::new(),
                history: Vec::new(),
            };
            checker.check(&*storage, &step);
            let recorder = Recorder::new();
            let mut log = open_with(&storage, &k, &recorder);

            // 250 entries, then a faulty batch crossing the first full tile.
            let first: Vec<_> = (0..250).map(|i| entry(&k, i)).collect();
            let r = add_all(&log, &first);
            assert!(checker.ack(&first, &r).is_empty(), "{step}");
            checker.check(&*storage, &step);

            storage.inject(op, fault);
            let second: Vec<_> = (250..262).map(|i| entry(&k, i)).collect();
            let r = add_all(&log, &second);
            let failed = checker.ack(&second, &r);
            if storage.crashed() {
                // Simulated process death: nothing more was written.
                log.close();
                storage.restart();
                log = open_with(&storage, &k, &recorder);
            }
            checker.check(&*storage, &format!("{step} after fault"));

            // The log goes on; unacknowledged entries can be resubmitted and
            // acknowledged ones keep their index.
            let third: Vec<_> = failed
                .iter()
                .cloned()
                .chain((262..300).map(|i| entry(&k, i)))
                .collect();
            let r = add_all(&log, &third);
            assert!(r.iter().all(Result::is_ok), "{step}: {r:?}");
            checker.ack(&third, &r);
            let again = add_all(&log, &first[..5]);
            for (i, r) in again.iter().enumerate() {
                assert_eq!(*r.as_ref().unwrap(), checker.acked[i].0, "{step}: dedup");
            }
            checker.check(&*storage, &format!("{step} after recovery"));
            assert_eq!(log.size(), 300, "{step}");

            // A restart resumes from the same state.
            log.close();
            let log = open_with(&storage, &k, &recorder);
            assert_eq!(log.size(), 300, "{step}");
            checker.check(&*storage, &format!("{step} after restart"));
            assert_pairwise_consistent(&recorder.seen(), &published_entries(&*storage, &k), &step);
        }
    }
}

#[test]
fn stale_partial_tiles_are_not_served_after_a_failed_batch() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let log = open_one_batch(&storage, &k, &Recorder::new());
    assert_eq!(log.add_blocking(entry(&k, 0)).unwrap(), 0);
    // A batch of 3 writes its tiles, then fails before its checkpoint is
    // signed (after signing, the log would be committed to it).
    storage.inject(Op::Record, Fault::FailNotPersisted);
    let batch: Vec<_> = (1..4).map(|i| entry(&k, i)).collect();
    let r = add_all(&log, &batch);
    assert!(r.iter().all(Result::is_err), "{r:?}");
    let stale = vitrine_tlog::TilePath::entries(0, 4).unwrap();
    assert_eq!(
        storage.read_tile(&stale).unwrap(),
        None,
        "recovery deletes it"
    );
    // Different entries now take indices 1..4, and the size-4 tiles match them.
    let other: Vec<_> = (10..13).map(|i| entry(&k, i)).collect();
    for e in &other {
        log.add_blocking(e.clone()).unwrap();
    }
    let cp = open_checkpoint(&log.checkpoint(), &k.log.verifier(), &Default::default()).unwrap();
    assert_eq!(cp.checkpoint.size, 4);
    if let Some(bytes) = log.read_tile(&stale).unwrap() {
        let entries = vitrine_tlog::decode_entry_bundle(&bytes).unwrap();
        assert_eq!(entries[1..], other[..]);
    }
}

#[test]
fn quorum_failure_retries_the_same_checkpoint() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let recorder = Recorder::new();
    let log = open_one_batch(&storage, &k, &recorder);
    let mut checker = Checker {
        vkey: k.log.verifier(),
        acked: Vec::new(),
        history: Vec::new(),
    };
    assert_eq!(log.add_blocking(entry(&k, 0)).unwrap(), 0);

    // Witnesses see the size-4 checkpoint, the quorum is not met.
    recorder.fail_next(1);
    let batch: Vec<_> = (1..4).map(|i| entry(&k, i)).collect();
    let r = add_all(&log, &batch);
    assert!(r.iter().all(Result::is_err), "{r:?}");
    assert_eq!(log.size(), 1);
    let pending = signed(&*storage).unwrap();
    assert_eq!(pending.0, 4);
    assert_eq!(recorder.seen().last(), Some(&pending));
    // Its tiles are kept (not served yet) and the log knows it is pending.
    let bundle = vitrine_tlog::TilePath::entries(0, 4).unwrap();
    assert!(storage.read_tile(&bundle).unwrap().is_some());
    assert_eq!(log.read_tile(&bundle).unwrap(), None);
    checker.check(&*storage, "pending");

    // Other entries arrive: the same checkpoint is published first, then
    // they are sequenced after it.
    let other: Vec<_> = (10..13).map(|i| entry(&k, i)).collect();
    let r = add_all(&log, &other);
    let mut got: Vec<u64> = r.into_iter().map(Result::unwrap).collect();
    got.sort();
    assert_eq!(got, [4, 5, 6]);
    let seen = recorder.seen();
    assert_eq!(seen[seen.len() - 2], pending, "retried the same checkpoint");
    assert!(seen.iter().filter(|s| s.0 == 4).all(|s| *s == pending));
    // The failed batch's submitters retry and get the indices it had.
    let r = add_all(&log, &batch);
    let mut got: Vec<u64> = r.into_iter().map(Result::unwrap).collect();
    got.sort();
    assert_eq!(got, [1, 2, 3]);
    let entries = published_entries(&*storage, &k);
    let mut middle = entries[1..4].to_vec();
    middle.sort();
    let mut want = batch.clone();
    want.sort();
    assert_eq!(middle, want);
    checker.check(&*storage, "after retry");
    assert_pairwise_consistent(&seen, &entries, "quorum");
}

#[test]
fn pending_checkpoint_is_retried_without_new_entries() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let recorder = Recorder::new();
    let log = Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(&k))
        .batch(64, SHARED_BATCH_WAIT)
        .cosigner(recorder.clone())
        .retry_interval(Duration::from_millis(20))
        .open()
        .unwrap();
    recorder.fail_next(3);
    let batch: Vec<_> = (0..5).map(|i| entry(&k, i)).collect();
    assert!(add_all(&log, &batch).iter().all(Result::is_err));
    let pending = signed(&*storage).unwrap();
    wait_for_size(&log, 5);
    let seen = recorder.seen();
    assert_eq!(seen, vec![pending; 4], "three failures, then published");
    assert_pairwise_consistent(&seen, &published_entries(&*storage, &k), "timer");
}

#[test]
fn signed_checkpoint_is_published_first_after_a_crash() {
    signed_checkpoint_is_published_first_after_a_crash_on(&memory);
}

#[test]
fn signed_checkpoint_is_published_first_after_a_crash_postgres() {
    let db = TestDatabase::create();
    signed_checkpoint_is_published_first_after_a_crash_on(&|| postgres_in(&db));
}

fn signed_checkpoint_is_published_first_after_a_crash_on<S: Storage + 'static>(
    fresh: &Fresh<'_, S>,
) {
    // Crash right after the checkpoint is recorded as signed (no witness
    // saw it), and after witnesses saw it but before it was published.
    for (op, fault) in [
        (Op::SetSigned, Fault::CrashAfter),
        (Op::SwapCheckpoint, Fault::CrashBefore),
    ] {
        let step = format!("{op:?}/{fault:?}");
        let k = keys();
        let storage = fresh();
        init(&*storage, &k.log).unwrap();
        let recorder = Recorder::new();
        let log = open_one_batch(&storage, &k, &recorder);
        let first: Vec<_> = (0..10).map(|i| entry(&k, i)).collect();
        assert!(add_all(&log, &first).iter().all(Result::is_ok));

        storage.inject(op, fault);
        let batch: Vec<_> = (10..20).map(|i| entry(&k, i)).collect();
        assert!(add_all(&log, &batch).iter().all(Result::is_err), "{step}");
        assert!(storage.crashed(), "{step}");
        log.close();
        storage.restart();
        let pending = signed(&*storage).unwrap();
        assert_eq!(pending.0, 20, "{step}");
        let before = recorder.seen().len();

        let log = open_one_batch(&storage, &k, &recorder);
        wait_for_size(&log, 20);
        assert_eq!(recorder.seen()[before], pending, "{step}: published first");
        let cp = open_checkpoint(&log.checkpoint(), &k.log.verifier(), &Default::default())
            .unwrap()
            .checkpoint;
        assert_eq!((cp.size, cp.root), pending, "{step}");
        // Its entries were durable, so they count: resubmitting dedups.
        let r = add_all(&log, &batch);
        let mut got: Vec<u64> = r.into_iter().map(Result::unwrap).collect();
        got.sort();
        assert_eq!(got, (10..20).collect::<Vec<u64>>(), "{step}");
        assert_eq!(log.add_blocking(entry(&k, 99)).unwrap(), 20, "{step}");
        let mut checker = Checker {
            vkey: k.log.verifier(),
            acked: Vec::new(),
            history: vec![pending],
        };
        checker.check(&*storage, &step);
        assert_pairwise_consistent(&recorder.seen(), &published_entries(&*storage, &k), &step);
    }
}

#[test]
fn filesystem_backend_resumes_a_signed_checkpoint() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let batch: Vec<_> = (0..7).map(|i| entry(&k, i)).collect();
    let recorder = Recorder::new();
    let open_fs = |storage: Arc<FsStorage>| {
        Log::builder(storage, k.log.clone())
            .authorization(auth(&k))
            .batch(16, SHARED_BATCH_WAIT)
            .cosigner(recorder.clone())
            .open()
            .unwrap()
    };
    {
        let storage = Arc::new(FsStorage::open(dir.path()).unwrap());
        init(&*storage, &k.log).unwrap();
        let log = open_fs(storage);
        recorder.fail_next(usize::MAX);
        assert!(add_all(&log, &batch).iter().all(Result::is_err));
        assert_eq!(log.size(), 0);
        log.close();
    }
    recorder.fail_next(0);
    let storage = Arc::new(FsStorage::open(dir.path()).unwrap());
    let pending = signed(&*storage).unwrap();
    assert_eq!(pending.0, 7);
    let log = open_fs(storage.clone());
    wait_for_size(&log, 7);
    assert!(recorder.seen().iter().all(|s| *s == pending));
    let r = add_all(&log, &batch);
    assert!(r.iter().all(|r| matches!(r, Ok(i) if *i < 7)), "{r:?}");
    let mut checker = Checker {
        vkey: k.log.verifier(),
        acked: Vec::new(),
        history: vec![pending],
    };
    checker.check(&*storage, "fs pending");
}

#[test]
fn validation() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let log = open(&storage, &k);
    let reviewer = SignerKey::from_seed("rev.example/1", SignatureType::Ed25519, [3; 32]).unwrap();
    let review = Statement::Review(Review {
        subject: Sha256([0; 32]),
        verdict: Verdict::Approve,
        comment: None,
        report: None,
    });
    // Allowed for deletion, not for review.
    let err = log
        .add_blocking(review.sign(&k.intake).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            AddError::Rejected(Rejection::NotAllowed {
                kind: StatementType::Review,
                ..
            })
        ),
        "{err:?}"
    );
    let err = log
        .add_blocking(review.sign(&reviewer).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, AddError::Rejected(Rejection::NotAllowed { .. })),
        "{err:?}"
    );
    // Two signatures.
    let mut note = vitrine_note::Note::parse(&entry(&k, 1)).unwrap();
    note.sign(&reviewer).unwrap();
    let err = log.add_blocking(note.to_bytes()).unwrap_err();
    assert!(matches!(
        err,
        AddError::Rejected(Rejection::SignatureCount { found: 2 })
    ));
    // A forged signature by an allowed key name and ID.
    let mut forged = entry(&k, 1);
    let n = forged.len();
    forged[n - 3] ^= 1;
    assert!(log.add_blocking(forged).is_err());
    // Junk, a signed non-statement, oversize.
    assert!(matches!(
        log.add_blocking(b"hello".to_vec()),
        Err(AddError::MalformedNote(_))
    ));
    let mut junk = vitrine_note::Note::new("hello\n").unwrap();
    junk.sign(&k.intake).unwrap();
    assert!(matches!(
        log.add_blocking(junk.to_bytes()),
        Err(AddError::MalformedStatement(_))
    ));
    assert!(matches!(
        log.add_blocking(vec![b'a'; DEFAULT_MAX_ENTRY + 1]),
        Err(AddError::TooLarge { .. })
    ));
    assert_eq!(log.size(), 0);
}

#[test]
fn filesystem_backend_survives_restart() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..300).map(|i| entry(&k, i)).collect();
    {
        let storage = Arc::new(FsStorage::open(dir.path()).unwrap());
        assert!(matches!(
            FsStorage::open(dir.path()),
            Err(StorageError::Locked { .. })
        ));
        init(&*storage, &k.log).unwrap();
        assert!(matches!(
            init(&*storage, &k.log),
            Err(Error::AlreadyInitialized)
        ));
        let log = Log::builder(storage, k.log.clone())
            .authorization(auth(&k))
            .batch(128, Duration::from_millis(5))
            .open()
            .unwrap();
        let r = add_all(&log, &entries[..280]);
        assert!(r.iter().all(Result::is_ok));
        log.close();
    }
    let storage = Arc::new(FsStorage::open(dir.path()).unwrap());
    let log = Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(&k))
        .batch(128, Duration::from_millis(5))
        .open()
        .unwrap();
    assert_eq!(log.size(), 280);
    assert_eq!(log.add_blocking(entries[3].clone()).unwrap(), {
        // Whatever index it got the first time.
        let h: Hash = Sha::digest(&entries[3]).into();
        storage.lookup(&h).unwrap().unwrap()
    });
    let r = add_all(&log, &entries[280..]);
    assert!(r.iter().all(Result::is_ok));
    let mut checker = Checker {
        vkey: k.log.verifier(),
        acked: Vec::new(),
        history: Vec::new(),
    };
    checker.check(&*storage, "fs");
    assert_eq!(log.size(), 300);
}

#[test]
fn uninitialised_store_is_refused() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    let err = Log::builder(storage, k.log).open().err().unwrap();
    assert!(matches!(err, Error::NotInitialized));
}

#[test]
fn authorization_text_form() {
    let k = keys();
    let text = format!("# comment\n\nrules,release {}\n", k.intake.verifier());
    let a = Authorization::parse(&text).unwrap();
    assert_eq!(a.verifiers_for(StatementType::Rules).len(), 1);
    assert_eq!(a.verifiers_for(StatementType::Review).len(), 0);
    assert_eq!(
        Authorization::parse(&a.to_string()).unwrap().to_string(),
        a.to_string()
    );
    assert_eq!(Authorization::parse("bogus x").unwrap_err().line, 1);
}

/// A witness stand-in that cosigns every checkpoint it is shown with a
/// real `cosignature/v1` key and a timestamp one higher each time, and
/// can be told to fail.
struct Stamper {
    key: vitrine_note::Cosigner,
    clock: AtomicUsize,
    calls: Mutex<Vec<(u64, u64, usize)>>,
    fail: std::sync::atomic::AtomicBool,
}

impl Stamper {
    fn new() -> Arc<Self> {
        let key = SignerKey::from_seed("witness.example/w", SignatureType::CosignatureV1, [9; 32])
            .unwrap();
        Arc::new(Stamper {
            key: vitrine_note::Cosigner::new(key).unwrap(),
            clock: AtomicUsize::new(1000),
            calls: Mutex::new(Vec::new()),
            fail: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

impl Cosigner for Stamper {
    fn cosign(&self, r: &CosignRequest<'_>) -> Result<Vec<Signature>, CosignError> {
        let new = Checkpoint::parse(r.new.text()).unwrap();
        self.calls
            .lock()
            .unwrap()
            .push((r.old_size, new.size, r.proof.len()));
        // The log shows only its own signature, never old cosignatures.
        assert_eq!(r.new.signatures().len(), 1, "only the log's signature");
        if self.fail.load(Ordering::SeqCst) {
            return Err(CosignError {
                reason: "witnesses down (test)".into(),
            });
        }
        let t = self.clock.fetch_add(1, Ordering::SeqCst) as u64;
        let mut n = Note::new(r.new.text()).unwrap();
        n.cosign(&self.key, t).unwrap();
        Ok(n.signatures().to_vec())
    }
}

fn cosignature_times(checkpoint: &[u8]) -> Vec<u64> {
    Note::parse(checkpoint)
        .unwrap()
        .signatures()
        .iter()
        .filter_map(|s| s.cosignature_timestamp())
        .collect()
}

/// Polls until the published checkpoint differs from `old`.
fn wait_for_new_checkpoint(log: &Log, old: &[u8]) -> Vec<u8> {
    let start = Instant::now();
    loop {
        let now = log.checkpoint().to_vec();
        if now != old {
            return now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the checkpoint was never cosigned again"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn quiet_log_recosigns_its_published_checkpoint() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let stamper = Stamper::new();
    let log = Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(&k))
        .batch(64, Duration::from_millis(5))
        .cosigner(stamper.clone())
        .recosign_interval(Some(Duration::from_millis(40)))
        .retry_interval(Duration::from_millis(20))
        .open()
        .unwrap();
    add_all(&log, &[entry(&k, 1), entry(&k, 2), entry(&k, 3)]);
    let first = log.checkpoint().to_vec();
    let cp1 = Checkpoint::parse(Note::parse(&first).unwrap().text()).unwrap();
    assert_eq!(cp1.size, 3);
    let t1 = cosignature_times(&first);
    assert_eq!(t1.len(), 1);

    // No publication, yet a newer cosignature of the same tree appears.
    let second = wait_for_new_checkpoint(&log, &first);
    let note2 = Note::parse(&second).unwrap();
    assert_eq!(Checkpoint::parse(note2.text()).unwrap(), cp1);
    let t2 = cosignature_times(&second);
    assert_eq!(t2.len(), 1, "old cosignatures are replaced, not piled up");
    assert!(t2[0] > t1[0]);
    // The log's signature is unchanged and still verifies.
    open_checkpoint(&second, &k.log.verifier(), &vitrine_note::Verifiers::new()).unwrap();
    // Durable: stored before it is served, so the store is never older.
    let stored = storage.read_checkpoint().unwrap().unwrap();
    assert!(cosignature_times(&stored)[0] >= t2[0]);
    // Each re-cosigning asks from the same size with an empty proof.
    let calls = stamper.calls.lock().unwrap().clone();
    assert!(calls.iter().skip(1).any(|&c| c == (3, 3, 0)), "{calls:?}");

    // Witnesses down: the published checkpoint stays as it was (still
    // validly cosigned, only older); once they return, it is refreshed.
    stamper.fail.store(true, Ordering::SeqCst);
    let calls_before = stamper.calls.lock().unwrap().len();
    let held = log.checkpoint().to_vec();
    while stamper.calls.lock().unwrap().len() < calls_before + 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(log.checkpoint().to_vec(), held);
    stamper.fail.store(false, Ordering::SeqCst);
    let refreshed = wait_for_new_checkpoint(&log, &held);
    assert!(cosignature_times(&refreshed)[0] > cosignature_times(&held)[0]);

    // New entries still go in, from the size the witnesses know.
    add_all(&log, &[entry(&k, 4)]);
    assert_eq!(log.size(), 4);
    let calls = stamper.calls.lock().unwrap().clone();
    assert!(calls.contains(&(3, 4, calls.last().unwrap().2)));
}

#[test]
fn without_an_interval_the_checkpoint_is_cosigned_once() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let stamper = Stamper::new();
    let log = Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(&k))
        .batch(64, Duration::from_millis(5))
        .cosigner(stamper.clone())
        .open()
        .unwrap();
    add_all(&log, &[entry(&k, 1)]);
    let first = log.checkpoint().to_vec();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(log.checkpoint().to_vec(), first);
    assert_eq!(stamper.calls.lock().unwrap().len(), 1);
}
