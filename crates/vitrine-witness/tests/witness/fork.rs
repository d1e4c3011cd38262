//! A log that builds two different trees after entry N and offers both to
//! the same three witnesses: the second fork gets no cosignature, whatever
//! old size and proof the log tries.

use std::sync::Arc;

use tempfile::TempDir;
use vitrine_tlog::{consistency_proof, tree_root, AddCheckpointRequest};
use vitrine_witness::{MemoryStore, Refusal, SqliteStore, Witness, WitnessError};

use crate::common::{witness, TestLog, ORIGIN};

const N: u64 = 100;

#[test]
fn second_fork_is_refused_by_every_witness() {
    let dir = TempDir::new().unwrap();
    let mut fork_a = TestLog::new(7, N);
    let mut fork_b = TestLog::new(7, N);
    fork_a.grow(20, b"fork a");
    fork_b.grow(20, b"fork b");
    let witnesses: Vec<Witness> = vec![
        witness(&fork_a, 1, Arc::new(MemoryStore::new())),
        witness(
            &fork_a,
            2,
            Arc::new(SqliteStore::open(dir.path().join("w2.sqlite")).unwrap()),
        ),
        witness(&fork_a, 3, Arc::new(MemoryStore::new())),
    ];

    // The shared history, then fork A at N + 10.
    for w in &witnesses {
        w.add_checkpoint(&fork_a.request(0, N)).unwrap();
        w.add_checkpoint(&fork_a.request(N, N + 10)).unwrap();
    }

    for (i, w) in witnesses.iter().enumerate() {
        let refuse = |body: Vec<u8>| w.add_checkpoint(&body).unwrap_err();
        // 1. Fork B from the shared size N: the witness has moved on.
        let err = refuse(fork_b.request(N, N + 10));
        assert!(
            matches!(err, WitnessError::Refused(Refusal::OldSizeMismatch { current_size, .. }) if current_size == N + 10),
            "witness {i}: {err}"
        );
        // 2. Resent from the size the witness reported: same size, other root.
        let err = refuse(fork_b.request(N + 10, N + 10));
        assert!(
            matches!(err, WitnessError::Refused(Refusal::RootMismatch { size }) if size == N + 10),
            "witness {i}: {err}"
        );
        // 3. Fork B grown further, with fork B's own (valid for B) proof.
        let err = refuse(fork_b.request(N + 10, N + 20));
        assert!(
            matches!(
                err,
                WitnessError::Refused(Refusal::InconsistentProof { .. })
            ),
            "witness {i}: {err}"
        );
        // 4. Fork B with a proof from the shared prefix, lying about old.
        let proof = consistency_proof(&fork_b.tree, N, N + 20).unwrap();
        let body = AddCheckpointRequest::new(N + 10, proof, fork_b.note(N + 20))
            .unwrap()
            .to_bytes();
        let err = refuse(body);
        assert!(
            matches!(
                err,
                WitnessError::Refused(Refusal::InconsistentProof { .. })
            ),
            "witness {i}: {err}"
        );

        let state = w.state(ORIGIN).unwrap().unwrap();
        assert_eq!(state.size, N + 10);
        assert_eq!(state.root, tree_root(&fork_a.tree, N + 10).unwrap());
        assert_eq!(w.evidence(ORIGIN).unwrap().len(), 3, "witness {i}");
        // Fork A still extends.
        w.add_checkpoint(&fork_a.request(N + 10, N + 20)).unwrap();
    }
}
