//! The log gathering cosignatures from witnesses over loopback HTTP: a real
//! `vitrine_log::Log` with the [`LogWitnesses`] hook, witnesses served by
//! `vitrine_server::witness`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vitrine_log::{init, Authorization, Log, MemoryStorage};
use vitrine_note::{Cosigner, Note, SignatureType, SignerKey};
use vitrine_statements::{Deletion, Sha256, Statement, StatementType, Text};
use vitrine_tlog::{
    consistency_proof, open_checkpoint, AddCheckpointRequest, Checkpoint, MemoryTree, Policy,
};
use vitrine_witness::Witness;
use vitrine_witness_client::{ClientError, LogWitnesses, WitnessClient, WitnessFailure};

const ORIGIN: &str = "log.example/client-test";

struct Net {
    rt: tokio::runtime::Runtime,
}

impl Net {
    fn new() -> Self {
        Net {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Serves `witness`; returns its URL.
    fn serve(&self, witness: Arc<Witness>) -> String {
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = vitrine_server::witness::router(witness);
        self.rt
            .spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A server that accepts connections and never answers.
    fn black_hole(&self) -> String {
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        self.rt.spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        url
    }
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn witness(seed: u8, log: &SignerKey) -> Arc<Witness> {
    let key = SignerKey::from_seed(
        &format!("witness.example/w{seed}"),
        SignatureType::CosignatureV1,
        [seed; 32],
    )
    .unwrap();
    Arc::new(
        Witness::builder(Cosigner::new(key).unwrap())
            .log(log.verifier())
            .build()
            .unwrap(),
    )
}

fn policy(log: &SignerKey, witnesses: &[(&Arc<Witness>, &str)], k: usize) -> Policy {
    let mut text = format!("log {}\n", log.verifier());
    let mut names = Vec::new();
    for (i, (w, url)) in witnesses.iter().enumerate() {
        text.push_str(&format!("witness W{i} {} {url}\n", w.verifier()));
        names.push(format!("W{i}"));
    }
    text.push_str(&format!(
        "group all-witnesses {k} {}\nquorum all-witnesses\n",
        names.join(" ")
    ));
    Policy::parse(text.as_bytes()).unwrap()
}

struct TestLog {
    key: SignerKey,
    intake: SignerKey,
    storage: Arc<MemoryStorage>,
}

impl TestLog {
    fn new() -> Self {
        let key = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [1; 32]).unwrap();
        let storage = Arc::new(MemoryStorage::new());
        init(&*storage, &key).unwrap();
        TestLog {
            key,
            intake: SignerKey::from_seed("intake.example/1", SignatureType::Ed25519, [2; 32])
                .unwrap(),
            storage,
        }
    }

    fn open(&self, hook: LogWitnesses) -> Log {
        Log::builder(self.storage.clone(), self.key.clone())
            .authorization(
                Authorization::new().allow([StatementType::Deletion], self.intake.verifier()),
            )
            .batch(16, Duration::from_millis(5))
            .cosigner(Arc::new(hook))
            .open()
            .unwrap()
    }

    fn entry(&self, i: u64) -> Vec<u8> {
        Statement::Deletion(Deletion {
            tenant: vitrine_statements::Token::new("t-1").unwrap(),
            sample: Sha256([i as u8; 32]),
            reason: Text::new("retention expired").unwrap(),
            time: 1_767_225_600 + i,
        })
        .sign(&self.intake)
        .unwrap()
    }
}

fn cosigned_by(log: &Log, policy: &Policy, key: &SignerKey) -> usize {
    open_checkpoint(
        &log.checkpoint(),
        &key.verifier(),
        &policy.witness_verifiers(),
    )
    .unwrap()
    .cosignatures
    .len()
}

#[test]
fn log_publishes_with_quorum_and_a_witness_down() {
    let net = Net::new();
    let tl = TestLog::new();
    let (w0, w1, w2) = (
        witness(10, &tl.key),
        witness(11, &tl.key),
        witness(12, &tl.key),
    );
    let (u0, u1) = (net.serve(w0.clone()), net.serve(w1.clone()));
    let hole = net.black_hole();
    let timeout = Duration::from_millis(700);
    let policy = policy(&tl.key, &[(&w0, &u0), (&w1, &u1), (&w2, &hole)], 2);
    let client = WitnessClient::new(policy.clone(), timeout).unwrap();
    let log = tl.open(LogWitnesses::new(client, tl.storage.clone()).unwrap());

    for i in 0..5 {
        let start = Instant::now();
        assert_eq!(log.add_blocking(tl.entry(i)).unwrap(), i);
        // The silent witness costs at most its timeout.
        assert!(start.elapsed() < timeout + Duration::from_millis(1500));
        assert_eq!(cosigned_by(&log, &policy, &tl.key), 2);
    }
    assert_eq!(w0.state(ORIGIN).unwrap().unwrap().size, 5);
    assert_eq!(w1.state(ORIGIN).unwrap().unwrap().size, 5);
    log.close();
    drop(net);
}

#[test]
fn quorum_not_met_fails_the_batch() {
    let net = Net::new();
    let tl = TestLog::new();
    let (w0, w1, w2) = (
        witness(10, &tl.key),
        witness(11, &tl.key),
        witness(12, &tl.key),
    );
    let u0 = net.serve(w0.clone());
    let policy = policy(
        &tl.key,
        &[(&w0, &u0), (&w1, &dead_url()), (&w2, &dead_url())],
        2,
    );
    let client = WitnessClient::new(policy, Duration::from_secs(2)).unwrap();
    let log = tl.open(LogWitnesses::new(client, tl.storage.clone()).unwrap());
    let err = log.add_blocking(tl.entry(0)).unwrap_err();
    assert!(err.to_string().contains("quorum"), "{err}");
    assert_eq!(log.size(), 0);
    log.close();
}

#[test]
fn witness_behind_is_caught_up_after_409() {
    let net = Net::new();
    let key = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [1; 32]).unwrap();
    let mut tree = MemoryTree::new();
    for i in 0..30u32 {
        tree.push_data(&i.to_be_bytes());
    }
    let tree = Arc::new(tree);
    let note = |size: u64| -> Note {
        let root = vitrine_tlog::tree_root(&*tree, size).unwrap();
        Checkpoint::new(ORIGIN, size, root).sign(&key).unwrap()
    };
    let (w0, w1) = (witness(10, &key), witness(11, &key));
    // w0 already cosigned size 10 (from another log front end, say).
    w0.add_checkpoint(
        &AddCheckpointRequest::new(0, vec![], note(10))
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let (u0, u1) = (net.serve(w0.clone()), net.serve(w1.clone()));
    let policy = policy(&key, &[(&w0, &u0), (&w1, &u1)], 2);
    let client = Arc::new(WitnessClient::new(policy, Duration::from_secs(5)).unwrap());
    let t = tree.clone();
    let proofs = Arc::new(move |old: u64, new: u64| {
        consistency_proof(&*t, old, new).map_err(|e| e.to_string())
    });
    // The client believes both witnesses are at 0.
    let got = net
        .rt
        .block_on(client.cosign(&note(20), 0, proofs.clone()))
        .unwrap();
    assert_eq!(got.signatures.len(), 2);
    assert!(got.failures.is_empty());
    assert_eq!(client.known_size("W0"), Some(20));
    assert_eq!(w0.state(ORIGIN).unwrap().unwrap().size, 20);

    // A forked checkpoint of size 20 is reported as a fork by both.
    let forked = Checkpoint::new(ORIGIN, 20, [9; 32]).sign(&key).unwrap();
    match net.rt.block_on(client.cosign(&forked, 20, proofs)) {
        Err(ClientError::QuorumNotMet { cosigned, failures }) => {
            assert!(cosigned.is_empty());
            assert_eq!(failures.len(), 2);
            assert!(failures
                .iter()
                .all(|f| matches!(f, WitnessFailure::Fork { size: 20, .. })));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn witness_that_cosigned_a_failed_batch_cosigns_the_same_checkpoint_again() {
    let net = Net::new();
    let tl = TestLog::new();
    let (w0, w1) = (witness(10, &tl.key), witness(11, &tl.key));
    let u0 = net.serve(w0.clone());
    // W1 is down: W0 cosigns the size-3 checkpoint, but 2 of 2 are needed.
    let down = policy(&tl.key, &[(&w0, &u0), (&w1, &dead_url())], 2);
    let client = WitnessClient::new(down, Duration::from_secs(2)).unwrap();
    let log = tl.open(LogWitnesses::new(client, tl.storage.clone()).unwrap());
    let batch: Vec<_> = (0..3).map(|i| tl.entry(i)).collect();
    std::thread::scope(|s| {
        for e in &batch {
            let log = &log;
            s.spawn(move || assert!(log.add_blocking(e.clone()).is_err()));
        }
    });
    assert_eq!(log.size(), 0);
    let seen = w0.state(ORIGIN).unwrap().unwrap();
    assert_eq!(seen.size, 3);
    log.close();

    // W1 comes up and the log restarts with a fresh client (it believes
    // both witnesses are at 0): the same checkpoint is published first, W0
    // cosigns it again instead of reporting a fork, and the log goes on.
    let u1 = net.serve(w1.clone());
    let up = policy(&tl.key, &[(&w0, &u0), (&w1, &u1)], 2);
    let client = WitnessClient::new(up.clone(), Duration::from_secs(5)).unwrap();
    let log = tl.open(LogWitnesses::new(client, tl.storage.clone()).unwrap());
    let mut got: Vec<u64> = batch
        .iter()
        .map(|e| log.add_blocking(e.clone()).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    let cp = open_checkpoint(
        &log.checkpoint(),
        &tl.key.verifier(),
        &up.witness_verifiers(),
    )
    .unwrap();
    assert_eq!((cp.checkpoint.size, cp.checkpoint.root), (3, seen.root));
    assert_eq!(cp.cosignatures.len(), 2);
    assert_eq!(log.add_blocking(tl.entry(7)).unwrap(), 3);
    assert_eq!(w0.state(ORIGIN).unwrap().unwrap().size, 4);
    assert_eq!(w1.state(ORIGIN).unwrap().unwrap().size, 4);
    log.close();
    drop(net);
}

#[test]
fn a_witness_error_body_is_kept_escaped() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let body = "\x1b[2J\x07\rcosigned, honest";
            let _ = write!(
                conn,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let log = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [1; 32]).unwrap();
    let w = SignerKey::from_seed("w.example/raw", SignatureType::CosignatureV1, [2; 32]).unwrap();
    let policy =
        Policy::parse(format!("witness w1 {} {url}\nquorum w1\n", w.verifier()).as_bytes())
            .unwrap();
    let client = Arc::new(WitnessClient::new(policy, Duration::from_secs(5)).unwrap());
    let note = Checkpoint::new(ORIGIN, 0, vitrine_tlog::empty_root())
        .sign(&log)
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(client.cosign(&note, 0, Arc::new(|_, _| Ok(Vec::new()))))
        .unwrap_err();
    let ClientError::QuorumNotMet { failures, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        matches!(&failures[..], [WitnessFailure::Status { status: 500, body, .. }] if body == r"\u{1b}[2J\u{7}\rcosigned, honest"),
        "{failures:?}"
    );
    assert!(!err.to_string().contains(['\x1b', '\x07', '\r']));
}
