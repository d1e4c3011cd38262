//! CPU cost of `verify_update` (everything but download and compile): a
//! 1 MiB bundle, a log of 100,000 entries, 3 witnesses with quorum 2, a
//! stored checkpoint so the consistency proof is checked too.
//!
//! `cargo run --release -p vitrine-client --example verify_bench`

use std::time::Instant;

use sha2::Digest;
use vitrine_bundle::Bundle;
use vitrine_client::{verify_update, EndpointState, TrustPolicy, UpdateInput};
use vitrine_note::{Cosigner, SignatureType, SignerKey};
use vitrine_statements::{Rules, Sha256, Statement};
use vitrine_tlog::{consistency_proof, inclusion_proof, Checkpoint, MemoryTree, TlogProof};

fn main() {
    let now = 1_800_000_000;
    let log = SignerKey::from_seed("example.com/log", SignatureType::Ed25519, [1; 32]).unwrap();
    let publisher =
        SignerKey::from_seed("publisher.example", SignatureType::Ed25519, [2; 32]).unwrap();
    let w: Vec<Cosigner> = (0..3u8)
        .map(|i| {
            let name = format!("w{i}.example");
            Cosigner::new(
                SignerKey::from_seed(&name, SignatureType::CosignatureV1, [10 + i; 32]).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let policy = TrustPolicy::parse(
        format!(
            "log {}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup g 2 a b c\nquorum g\npublisher {}\nmax-age 3600\n",
            log.verifier(),
            w[0].verifier(),
            w[1].verifier(),
            w[2].verifier(),
            publisher.verifier()
        )
        .as_bytes(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = EndpointState::open(dir.path()).unwrap();

    let mut tree = MemoryTree::new();
    for i in 0..100_000u32 {
        tree.push_data(&i.to_be_bytes());
    }
    // A stored checkpoint at 100,000 (as after an earlier update).
    let old_size = tree.size();
    let stored = Checkpoint::new(log.name(), old_size, tree.root())
        .sign(&log)
        .unwrap();
    vitrine_client::write_atomic(
        &dir.path()
            .join("checkpoints")
            .join(vitrine_client::log_id(log.name())),
        &stored.to_bytes(),
    )
    .unwrap();

    let rules: String = (0..8000)
        .map(|i| format!("rule r{i} {{ strings: $a = \"needle-{i:08}-padding-padding-padding-padding\" condition: $a }}\n"))
        .collect();
    let bundle = Bundle::build(
        "bench",
        1,
        now - 100,
        now + 86_400,
        vec![("r.yar".to_owned(), rules.into_bytes())],
    )
    .unwrap();
    let statement = Statement::Rules(Rules {
        sha256: Sha256(sha2::Sha256::digest(&bundle).into()),
        size: bundle.len() as u64,
        version: 1,
        created: now - 100,
        expires: now + 86_400,
        bundle: None,
        allow: Vec::new(),
    })
    .sign(&publisher)
    .unwrap();
    tree.push_data(&statement);
    for i in 0..1000u32 {
        tree.push_data(&i.to_le_bytes());
    }
    let index = old_size;
    let mut note = Checkpoint::new(log.name(), tree.size(), tree.root())
        .sign(&log)
        .unwrap();
    for c in &w {
        note.cosign(c, now - 5).unwrap();
    }
    let input = UpdateInput {
        tlog_proof: TlogProof::new(
            None,
            index,
            inclusion_proof(&tree, index, tree.size()).unwrap(),
            note,
        )
        .unwrap()
        .to_bytes(),
        consistency_proof: consistency_proof(&tree, old_size, tree.size()).unwrap(),
        bundle,
        statement,
        reviews: vec![],
    };
    println!("bundle: {} bytes", input.bundle.len());
    verify_update(&policy, &state, now, input.clone()).expect("the update verifies");
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        verify_update(&policy, &state, now, input.clone()).unwrap();
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("verify_update: {per:.0} µs per verification ({n} runs, target < 5000 µs)");
}
