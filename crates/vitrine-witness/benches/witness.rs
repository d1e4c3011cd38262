//! add-checkpoint requests per second, in process: signature check,
//! consistency proof verification, cosigning and a durable state update.
//!
//! `cargo bench -p vitrine-witness` (release). Requests are built before the
//! clock starts; each grows the tree by 1..=16 leaves, so proofs have the
//! ~20 hashes of a tree of ~100k leaves.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use vitrine_note::{Cosigner, SignatureType, SignerKey};
use vitrine_tlog::{consistency_proof, tree_root, AddCheckpointRequest, Checkpoint, MemoryTree};
use vitrine_witness::{MemoryStore, SqliteStore, Witness, WitnessStore};

const BASE: u64 = 100_000;

/// A log's key and requests taking a witness from 0 to BASE, then up by
/// small steps.
fn requests(origin: &str, seed: u8, n: usize) -> (SignerKey, Vec<Vec<u8>>) {
    let key = SignerKey::from_seed(origin, SignatureType::Ed25519, [seed; 32]).unwrap();
    let mut tree = MemoryTree::new();
    for i in 0..BASE + 16 * n as u64 {
        tree.push_data(&i.to_be_bytes());
    }
    let note = |size| {
        Checkpoint::new(origin, size, tree_root(&tree, size).unwrap())
            .sign(&key)
            .unwrap()
    };
    let mut out = vec![AddCheckpointRequest::new(0, vec![], note(BASE))
        .unwrap()
        .to_bytes()];
    let mut size = BASE;
    for i in 0..n {
        let new = size + 1 + (i as u64 * 7919) % 16;
        let proof = consistency_proof(&tree, size, new).unwrap();
        out.push(
            AddCheckpointRequest::new(size, proof, note(new))
                .unwrap()
                .to_bytes(),
        );
        size = new;
    }
    (key, out)
}

fn witness(logs: &[&SignerKey], store: Arc<dyn WitnessStore>) -> Arc<Witness> {
    let key =
        SignerKey::from_seed("bench.example/w", SignatureType::CosignatureV1, [1; 32]).unwrap();
    Arc::new(
        Witness::builder(Cosigner::new(key).unwrap())
            .logs(logs.iter().map(|k| k.verifier()))
            .store(store)
            .build()
            .unwrap(),
    )
}

fn run(label: &str, store: Arc<dyn WitnessStore>, logs: usize, per_log: usize) {
    let reqs: Vec<(SignerKey, Vec<Vec<u8>>)> = (0..logs)
        .map(|i| requests(&format!("bench.example/log{i}"), i as u8 + 2, per_log))
        .collect();
    let w = witness(&reqs.iter().map(|(k, _)| k).collect::<Vec<_>>(), store);
    for (_, r) in &reqs {
        w.add_checkpoint(&r[0]).unwrap();
    }
    let start = Instant::now();
    thread::scope(|s| {
        for (_, r) in &reqs {
            let w = w.clone();
            s.spawn(move || {
                for body in &r[1..] {
                    w.add_checkpoint(body).unwrap();
                }
            });
        }
    });
    let took = start.elapsed();
    let n = logs * per_log;
    println!(
        "{label:<44} {n:>6} requests in {:>7.3} s: {:>8.0} req/s",
        took.as_secs_f64(),
        n as f64
            / took
                .as_secs_f64()
                .max(Duration::from_nanos(1).as_secs_f64())
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vitrine-witness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("witness add-checkpoint, in process (verify sig + proof, cosign, store)");
    run("memory store, 1 log", Arc::new(MemoryStore::new()), 1, 5000);
    run(
        "memory store, 4 logs x 4 threads",
        Arc::new(MemoryStore::new()),
        4,
        2500,
    );
    let db = |name: &str| Arc::new(SqliteStore::open(dir.join(name)).unwrap());
    run(
        "sqlite store (fsync per request), 1 log",
        db("a.sqlite"),
        1,
        1000,
    );
    run(
        "sqlite store (fsync per request), 4 logs x 4 threads",
        db("b.sqlite"),
        4,
        500,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
