//! The log's durability fault matrix and behaviour tests.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256 as Sha};
use vitrine_log::*;
use vitrine_note::{SignatureType, SignerKey, VerifierKey};
use vitrine_statements::{Deletion, Review, Sha256, Statement, StatementType, Text, Verdict};
use vitrine_tlog::{leaf_hash, open_checkpoint, root_from_leaf_hashes, Hash};

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
        sample: Sha256([7; 32]),
        reason: Text::new("test").unwrap(),
        time: i,
    })
    .sign(&k.intake)
    .unwrap()
}

fn open(storage: &Arc<MemoryStorage>, k: &Keys) -> Log {
    Log::builder(storage.clone(), k.log.clone())
        .authorization(auth(k))
        .batch(64, Duration::from_millis(20))
        .open()
        .unwrap()
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
    fn check(&mut self, storage: &dyn Storage, step: &str) {
        let cp = storage.read_checkpoint().unwrap().expect("checkpoint");
        let opened = open_checkpoint(&cp, &self.vkey, &Default::default())
            .unwrap_or_else(|e| panic!("{step}: checkpoint: {e}"));
        let (size, root) = (opened.checkpoint.size, opened.checkpoint.root);
        let entries = replay(size, &root, |p| storage.read_tile(p))
            .unwrap_or_else(|e| panic!("{step}: replay: {e}"));
        for (idx, bytes) in &self.acked {
            assert_eq!(
                entries.get(*idx as usize),
                Some(bytes),
                "{step}: acked entry {idx}"
            );
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
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
        self.history.push((size, root));
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

#[test]
fn fault_matrix() {
    let ops = [
        Op::SetStaged,
        Op::WriteTiles,
        Op::Record,
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
            let storage = Arc::new(MemoryStorage::new());
            init(&*storage, &k.log).unwrap();
            let mut checker = Checker {
                vkey: k.log.verifier(),
                acked: Vec::new(),
                history: Vec::new(),
            };
            checker.check(&*storage, &step);
            let mut log = open(&storage, &k);

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
                log = open(&storage, &k);
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
            let log = open(&storage, &k);
            assert_eq!(log.size(), 300, "{step}");
            checker.check(&*storage, &format!("{step} after restart"));
        }
    }
}

#[test]
fn stale_partial_tiles_are_not_served_after_a_failed_batch() {
    let k = keys();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &k.log).unwrap();
    let log = open(&storage, &k);
    assert_eq!(log.add_blocking(entry(&k, 0)).unwrap(), 0);
    // A batch of 3 writes its tiles, then fails to publish.
    storage.inject(Op::SwapCheckpoint, Fault::FailNotPersisted);
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
