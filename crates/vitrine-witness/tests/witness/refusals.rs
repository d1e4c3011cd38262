//! One test per refusal of tlog-witness §add-checkpoint, provoked as a
//! misbehaving or confused log would, each asserting the exact error.

use std::sync::Arc;

use vitrine_note::{Note, SignatureType, SignerKey, Verifiers};
use vitrine_tlog::{consistency_proof, AddCheckpointRequest, Checkpoint};
use vitrine_witness::{parse_log_list, EvidenceKind, MemoryStore, Refusal, Witness, WitnessError};

use crate::common::{cosigner, witness, TestLog, ORIGIN};

fn fresh(log: &TestLog) -> Witness {
    witness(log, 1, Arc::new(MemoryStore::new()))
}

#[test]
fn honest_log_is_cosigned_and_state_advances() {
    let log = TestLog::new(9, 40);
    let w = fresh(&log);
    for (old, new) in [(0, 3), (3, 3), (3, 17), (17, 32), (32, 40)] {
        let sigs = w.add_checkpoint(&log.request(old, new)).unwrap();
        assert_eq!(sigs.len(), 1);
        let mut note = log.note(new);
        note.add_signature(sigs[0].clone());
        let v = note.verify(&Verifiers::from_keys([w.verifier()])).unwrap();
        assert_eq!(v[0].timestamp(), Some(1_767_225_600));
        let state = w.state(ORIGIN).unwrap().unwrap();
        assert_eq!(state.size, new);
        // The stored checkpoint carries both the log signature and ours.
        let stored = Note::parse(&state.checkpoint).unwrap();
        stored
            .verify(&Verifiers::from_keys([log.key.verifier()]))
            .unwrap();
        stored
            .verify(&Verifiers::from_keys([w.verifier()]))
            .unwrap();
    }
}

#[test]
fn empty_tree_first_contact() {
    let log = TestLog::new(9, 0);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 0)).unwrap();
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, 0);
}

#[test]
fn wrong_log_key_is_403() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let impostor = TestLog::new(10, 10); // same origin, other key
    let err = w.add_checkpoint(&impostor.request(0, 10)).unwrap_err();
    assert!(
        matches!(err, WitnessError::Refused(Refusal::Untrusted { ref origin }) if origin == ORIGIN)
    );
    assert_eq!(w.state(ORIGIN).unwrap(), None);
}

#[test]
fn bad_signature_from_trusted_key_is_403() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let body = String::from_utf8(log.request(0, 10)).unwrap();
    // Flip one base64 character of the log signature.
    let sig_start = body.rfind(' ').unwrap() + 5;
    let mut bytes = body.into_bytes();
    bytes[sig_start] = if bytes[sig_start] == b'A' { b'B' } else { b'A' };
    let err = w.add_checkpoint(&bytes).unwrap_err();
    assert!(
        matches!(err, WitnessError::Refused(Refusal::Untrusted { .. })),
        "{err}"
    );
}

#[test]
fn unknown_signatures_are_ignored() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let mut note = log.note(10);
    let stranger =
        SignerKey::from_seed("stranger.example/x", SignatureType::Ed25519, [3; 32]).unwrap();
    note.sign(&stranger).unwrap();
    let body = AddCheckpointRequest::new(0, vec![], note)
        .unwrap()
        .to_bytes();
    w.add_checkpoint(&body).unwrap();
}

#[test]
fn unknown_origin_is_404() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let other = SignerKey::from_seed("other.example/log", SignatureType::Ed25519, [9; 32]).unwrap();
    let note = Checkpoint::new("other.example/log", 10, log.tree.root())
        .sign(&other)
        .unwrap();
    let body = AddCheckpointRequest::new(0, vec![], note)
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(
        matches!(err, WitnessError::UnknownOrigin { ref origin } if origin == "other.example/log")
    );
}

#[test]
fn old_size_beyond_checkpoint_is_400() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let body = AddCheckpointRequest::new(11, vec![[0; 32]], log.note(10))
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::OldSizeTooLarge {
            old_size: 11,
            checkpoint_size: 10
        }
    ));
}

#[test]
fn stale_old_size_is_409_with_current_size() {
    let log = TestLog::new(9, 20);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    for old in [0, 5, 12] {
        let err = w.add_checkpoint(&log.request(old, 20)).unwrap_err();
        match err {
            WitnessError::Refused(
                r @ Refusal::OldSizeMismatch {
                    current_size: 10, ..
                },
            ) => {
                assert_eq!(r.current_size(), Some(10));
            }
            other => panic!("old {old}: {other}"),
        }
    }
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, 10);
}

#[test]
fn bad_proof_is_422_and_kept_as_evidence() {
    let log = TestLog::new(9, 20);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    let mut proof = consistency_proof(&log.tree, 10, 20).unwrap();
    proof[0][0] ^= 1;
    let body = AddCheckpointRequest::new(10, proof, log.note(20))
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::Refused(Refusal::InconsistentProof {
            old_size: 10,
            checkpoint_size: 20
        })
    ));
    let ev = w.evidence(ORIGIN).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EvidenceKind::InconsistentProof);
    assert_eq!(ev[0].request, body);
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, 10);
}

#[test]
fn truncated_proof_is_422() {
    let log = TestLog::new(9, 20);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    let mut proof = consistency_proof(&log.tree, 10, 20).unwrap();
    proof.pop();
    let body = AddCheckpointRequest::new(10, proof, log.note(20))
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::Refused(Refusal::InconsistentProof { .. })
    ));
}

#[test]
fn same_size_different_root_is_409_and_kept_as_evidence() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    let mut fork = TestLog::new(9, 9);
    fork.grow(1, b"other");
    let err = w.add_checkpoint(&fork.request(10, 10)).unwrap_err();
    match err {
        WitnessError::Refused(r @ Refusal::RootMismatch { size: 10 }) => {
            assert_eq!(r.current_size(), Some(10));
        }
        other => panic!("{other}"),
    }
    let ev = w.evidence(ORIGIN).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EvidenceKind::RootMismatch);
    // The evidence holds both signed checkpoints.
    let cosigned = Note::parse(&ev[0].cosigned).unwrap();
    let refused = AddCheckpointRequest::parse(&ev[0].request).unwrap();
    assert_eq!(cosigned.text(), log.note(10).text());
    assert_eq!(refused.note().text(), fork.note(10).text());
}

#[test]
fn first_contact_with_wrong_empty_root_is_409() {
    let log = TestLog::new(9, 1);
    let w = fresh(&log);
    // Size 0 but the root of a one-leaf tree.
    let note = Checkpoint::new(ORIGIN, 0, log.tree.root())
        .sign(&log.key)
        .unwrap();
    let body = AddCheckpointRequest::new(0, vec![], note)
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::Refused(Refusal::RootMismatch { size: 0 })
    ));
}

#[test]
fn proof_with_old_size_zero_is_422() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let proof = consistency_proof(&log.tree, 4, 10).unwrap();
    let body = AddCheckpointRequest::new(0, proof, log.note(10))
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::Refused(Refusal::ProofNotEmpty {
            old_size: 0,
            checkpoint_size: 10
        })
    ));
    assert_eq!(w.state(ORIGIN).unwrap(), None);
}

#[test]
fn proof_for_same_size_is_422() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    let body = AddCheckpointRequest::new(10, vec![[7; 32]], log.note(10))
        .unwrap()
        .to_bytes();
    let err = w.add_checkpoint(&body).unwrap_err();
    assert!(matches!(
        err,
        WitnessError::Refused(Refusal::ProofNotEmpty { .. })
    ));
}

#[test]
fn too_many_proof_lines_is_malformed() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    let line = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64);
    let note = String::from_utf8(log.note(10).to_bytes()).unwrap();
    let body = format!("old 5\n{line}\n{note}");
    let err = w.add_checkpoint(body.as_bytes()).unwrap_err();
    assert!(matches!(err, WitnessError::Malformed(_)), "{err}");
}

#[test]
fn garbage_is_malformed() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    for body in [
        &b""[..],
        b"old 1\n",
        b"hello\n\nworld\n",
        b"old 01\n\nx\n\n\xe2\x80\x94 a AAAA\n",
    ] {
        assert!(matches!(
            w.add_checkpoint(body),
            Err(WitnessError::Malformed(_))
        ));
    }
}

#[test]
fn resend_of_cosigned_checkpoint_is_cosigned_again() {
    let log = TestLog::new(9, 10);
    let w = fresh(&log);
    w.add_checkpoint(&log.request(0, 10)).unwrap();
    w.add_checkpoint(&log.request(10, 10)).unwrap();
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, 10);
}

#[test]
fn log_keys_must_be_ed25519() {
    let key = SignerKey::from_seed(ORIGIN, SignatureType::CosignatureV1, [1; 32]).unwrap();
    let err = Witness::builder(cosigner("witness.example/w", 2))
        .log(key.verifier())
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        WitnessError::InvalidLogKey {
            type_byte: 0x04,
            ..
        }
    ));
}

#[test]
fn log_list_format() {
    let a = SignerKey::from_seed("a.example/log", SignatureType::Ed25519, [1; 32]).unwrap();
    let b = SignerKey::from_seed("b.example/log", SignatureType::Ed25519, [2; 32]).unwrap();
    let text = format!(
        "# logs\n\n  log {}\t\nlog\t{} https://b.example/\n",
        a.verifier(),
        b.verifier()
    );
    let keys = parse_log_list(&text).unwrap();
    assert_eq!(keys, vec![a.verifier(), b.verifier()]);
    assert_eq!(
        vitrine_witness::format_log_line(&a.verifier()),
        format!("log {}\n", a.verifier())
    );

    let w = SignerKey::from_seed("w.example/w", SignatureType::CosignatureV1, [3; 32]).unwrap();
    let bad = [
        (format!("witness x {}\n", a.verifier()), 1),
        (format!("log {}\nlog {}\n", a.verifier(), a.verifier()), 2),
        (format!("log {}\n", w.verifier()), 1),
        ("log not-a-key\n".to_owned(), 1),
        (format!("log {} url extra\n", a.verifier()), 1),
    ];
    for (text, want) in bad {
        match parse_log_list(&text) {
            Err(WitnessError::LogList { line, .. }) => assert_eq!(line, want, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}
