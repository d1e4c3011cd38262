//! add-checkpoint requests per second through HTTP: a witness on the
//! SQLite store behind `vitrine_server::witness::router` on loopback, and
//! reqwest clients with keep-alive. `cargo bench -p vitrine-witness-client`.

use std::sync::Arc;
use std::time::Instant;

use vitrine_note::{Cosigner, SignatureType, SignerKey};
use vitrine_tlog::{consistency_proof, tree_root, AddCheckpointRequest, Checkpoint, MemoryTree};
use vitrine_witness::{SqliteStore, Witness};

const BASE: u64 = 100_000;

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

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("witness add-checkpoint over HTTP (loopback, keep-alive, sqlite store)");
    for (logs, per_log) in [(1usize, 1000usize), (4, 500)] {
        let reqs: Vec<_> = (0..logs)
            .map(|i| requests(&format!("bench.example/log{i}"), i as u8 + 2, per_log))
            .collect();
        let key =
            SignerKey::from_seed("bench.example/w", SignatureType::CosignatureV1, [1; 32]).unwrap();
        let store = SqliteStore::open(dir.path().join(format!("w{logs}.sqlite"))).unwrap();
        let witness = Arc::new(
            Witness::builder(Cosigner::new(key).unwrap())
                .logs(reqs.iter().map(|(k, _)| k.verifier()))
                .store(Arc::new(store))
                .build()
                .unwrap(),
        );
        let took = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
            let app = vitrine_server::witness::router(witness);
            tokio::spawn(async move { axum::serve(listener, app).await });
            let http = reqwest::Client::new();
            for (_, r) in &reqs {
                let resp = http.post(&url).body(r[0].clone()).send().await.unwrap();
                assert_eq!(resp.status().as_u16(), 200);
            }
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for (_, r) in reqs.iter() {
                let (http, url, bodies) = (http.clone(), url.clone(), r[1..].to_vec());
                tasks.spawn(async move {
                    for body in bodies {
                        let resp = http.post(&url).body(body).send().await.unwrap();
                        assert_eq!(resp.status().as_u16(), 200);
                        resp.bytes().await.unwrap();
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
            start.elapsed()
        });
        let n = logs * per_log;
        println!(
            "{:<44} {n:>6} requests in {:>7.3} s: {:>8.0} req/s",
            format!("http, {logs} log(s), {logs} client task(s)"),
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
}
