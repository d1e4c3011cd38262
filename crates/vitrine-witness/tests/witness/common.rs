//! A test log that can misbehave, and witnesses to show it to.

use std::sync::Arc;

use vitrine_note::{Cosigner, Note, SignatureType, SignerKey};
use vitrine_tlog::{consistency_proof, tree_root, AddCheckpointRequest, Checkpoint, MemoryTree};
use vitrine_witness::{Witness, WitnessStore};

pub const ORIGIN: &str = "log.example/vitrine";

/// A log: a key and a tree it can show at any size.
pub struct TestLog {
    pub key: SignerKey,
    pub tree: MemoryTree,
}

impl TestLog {
    pub fn new(seed: u8, entries: u64) -> Self {
        let key = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [seed; 32]).unwrap();
        let mut log = TestLog {
            key,
            tree: MemoryTree::new(),
        };
        log.grow(entries, b"entry");
        log
    }

    /// Appends `n` entries whose bytes start with `tag`.
    pub fn grow(&mut self, n: u64, tag: &[u8]) {
        for _ in 0..n {
            let i = self.tree.size();
            self.tree.push_data(&[tag, &i.to_be_bytes()].concat());
        }
    }

    /// A signed checkpoint of the first `size` entries.
    pub fn note(&self, size: u64) -> Note {
        let root = tree_root(&self.tree, size).unwrap();
        Checkpoint::new(ORIGIN, size, root).sign(&self.key).unwrap()
    }

    /// An honest request from `old` to `new`.
    pub fn request(&self, old: u64, new: u64) -> Vec<u8> {
        let proof = if old == 0 || old == new {
            vec![]
        } else {
            consistency_proof(&self.tree, old, new).unwrap()
        };
        AddCheckpointRequest::new(old, proof, self.note(new))
            .unwrap()
            .to_bytes()
    }
}

pub fn cosigner(name: &str, seed: u8) -> Cosigner {
    Cosigner::new(SignerKey::from_seed(name, SignatureType::CosignatureV1, [seed; 32]).unwrap())
        .unwrap()
}

/// A witness following `log` with a fixed clock.
pub fn witness(log: &TestLog, seed: u8, store: Arc<dyn WitnessStore>) -> Witness {
    Witness::builder(cosigner(&format!("witness.example/w{seed}"), seed))
        .log(log.key.verifier())
        .store(store)
        .clock(|| 1_767_225_600)
        .build()
        .unwrap()
}
