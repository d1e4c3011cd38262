//! Adversarial update tests: one per attack, each asserting the exact typed
//! error and that the endpoint state did not change.

use std::collections::BTreeMap;
use std::path::Path;

use vitrine_bundle::Bundle;
use vitrine_client::{
    activate, read_update_dir, verify_update, write_update_dir, CheckpointAfterClear,
    EndpointState, ForkKind, LoggedReview, Rejection, TrustPolicy, UpdateError, UpdateInput,
    UpdateLimits,
};
use vitrine_note::{Cosigner, Note, SignatureType, SignerKey};
use vitrine_statements::{Review, Rules, Sha256, Statement, Verdict};
use vitrine_tlog::{consistency_proof, inclusion_proof, Checkpoint, Hash, MemoryTree, TlogProof};

const NOW: u64 = 1_800_000_000;
const ORIGIN: &str = "example.com/log";

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
}

fn cosigner(name: &str, seed: u8) -> Cosigner {
    Cosigner::new(SignerKey::from_seed(name, SignatureType::CosignatureV1, [seed; 32]).unwrap())
        .unwrap()
}

struct Fx {
    log: SignerKey,
    publisher: SignerKey,
    reviewer: SignerKey,
    w: Vec<Cosigner>,
    outsider: Cosigner,
    tree: MemoryTree,
    policy: TrustPolicy,
    _dir: tempfile::TempDir,
    state: EndpointState,
}

fn policy_text(
    fx_log: &SignerKey,
    w: &[Cosigner],
    publisher: &SignerKey,
    reviewer: &SignerKey,
    extra: &str,
) -> String {
    format!(
        "log {}\nwitness w1 {}\nwitness w2 {}\nwitness w3 {}\ngroup g 2 w1 w2 w3\nquorum g\npublisher {}\nreviewer {}\nmax-age 3600\n{extra}",
        fx_log.verifier(),
        w[0].verifier(),
        w[1].verifier(),
        w[2].verifier(),
        publisher.verifier(),
        reviewer.verifier()
    )
}

impl Fx {
    fn new() -> Fx {
        Self::with_policy_extra("")
    }

    fn with_policy_extra(extra: &str) -> Fx {
        let log = key(ORIGIN, 1);
        let publisher = key("publisher.example", 2);
        let reviewer = key("reviewer.example", 3);
        let w = vec![
            cosigner("w1.example", 11),
            cosigner("w2.example", 12),
            cosigner("w3.example", 13),
        ];
        let outsider = cosigner("outsider.example", 14);
        let policy =
            TrustPolicy::parse(policy_text(&log, &w, &publisher, &reviewer, extra).as_bytes())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = EndpointState::open(dir.path().join("state")).unwrap();
        let mut tree = MemoryTree::new();
        // Some unrelated earlier entries.
        for i in 0..5u8 {
            tree.push_data(&[i]);
        }
        Fx {
            log,
            publisher,
            reviewer,
            w,
            outsider,
            tree,
            policy,
            _dir: dir,
            state,
        }
    }

    fn bundle_with(version: u64, expires: u64, rule: &str) -> Vec<u8> {
        Bundle::build(
            "daily",
            version,
            NOW - 1000,
            expires,
            vec![
                (
                    "rules/r.yar".to_owned(),
                    format!("rule {rule} {{ condition: true }}\n").into_bytes(),
                ),
                (
                    "hashes/h.hdb".to_owned(),
                    b"44d88612fea8a8f36de82e1278abb02f:68:Eicar\n".to_vec(),
                ),
            ],
        )
        .unwrap()
    }

    fn statement_for(
        &self,
        bundle: &[u8],
        version: u64,
        expires: u64,
        signer: &SignerKey,
    ) -> Vec<u8> {
        use sha2::Digest;
        Statement::Rules(Rules {
            sha256: Sha256(sha2::Sha256::digest(bundle).into()),
            size: bundle.len() as u64,
            version,
            created: NOW - 1000,
            expires,
            bundle: None,
            allow: Vec::new(),
        })
        .sign(signer)
        .unwrap()
    }

    fn append(&mut self, entry: &[u8]) -> u64 {
        self.tree.push_data(entry);
        self.tree.size() - 1
    }

    fn checkpoint(&self, signer: &SignerKey, cosigners: &[&Cosigner], ts: u64) -> Note {
        let mut note = Checkpoint::new(signer.name(), self.tree.size(), self.tree.root())
            .sign(signer)
            .unwrap();
        for c in cosigners {
            note.cosign(c, ts).unwrap();
        }
        note
    }

    fn good_checkpoint(&self) -> Note {
        self.checkpoint(&self.log, &[&self.w[0], &self.w[1]], NOW - 10)
    }

    fn proof(&self, index: u64, note: Note) -> Vec<u8> {
        let size = Checkpoint::parse(note.text()).unwrap().size;
        TlogProof::new(
            None,
            index,
            inclusion_proof(&self.tree, index, size).unwrap(),
            note,
        )
        .unwrap()
        .to_bytes()
    }

    fn consistency(&self, new_size: u64) -> Vec<Hash> {
        match self.state.stored_checkpoint(ORIGIN).unwrap() {
            Some(old) if old.size < new_size => {
                consistency_proof(&self.tree, old.size, new_size).unwrap()
            }
            _ => Vec::new(),
        }
    }

    /// A complete, valid update for `version`, logged now.
    fn update(&mut self, version: u64) -> UpdateInput {
        self.update_with(Self::bundle_with(version, NOW + 86_400, "r"), version)
    }

    fn update_with(&mut self, bundle: Vec<u8>, version: u64) -> UpdateInput {
        let statement = self.statement_for(&bundle, version, NOW + 86_400, &self.publisher.clone());
        let index = self.append(&statement);
        let note = self.good_checkpoint();
        UpdateInput {
            consistency_proof: self.consistency(self.tree.size()),
            tlog_proof: self.proof(index, note),
            bundle,
            statement,
            reviews: Vec::new(),
        }
    }

    fn verify(&self, input: UpdateInput) -> Result<vitrine_client::VerifiedUpdate, UpdateError> {
        verify_update(&self.policy, &self.state, NOW, input)
    }

    fn install(&mut self, version: u64) {
        let input = self.update(version);
        let v = self.verify(input).unwrap();
        activate(&self.state, v, |_| Ok(())).unwrap();
    }

    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.state.dir(), self.state.dir(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

/// Installs v1 so there is something to protect, runs `attack`, asserts the
/// rejection and that nothing in the state directory changed.
fn rejected(
    mut attack: impl FnMut(&mut Fx) -> UpdateInput,
    check: impl Fn(&UpdateError) -> bool,
) -> Fx {
    let mut fx = Fx::new();
    fx.install(1);
    let before = fx.snapshot();
    let input = attack(&mut fx);
    let err = fx.verify(input).unwrap_err();
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(fx.snapshot(), before, "state changed");
    assert_eq!(fx.state.active().unwrap().unwrap().metadata.version, 1);
    fx
}

macro_rules! rejection {
    ($pat:pat $(if $guard:expr)?) => {
        |e: &UpdateError| matches!(e, UpdateError::Rejected($pat) $(if $guard)?)
    };
}

#[test]
fn valid_update_installs_and_advances_checkpoint() {
    let mut fx = Fx::new();
    fx.install(1);
    let a = fx.state.active().unwrap().unwrap();
    assert_eq!(a.metadata.version, 1);
    assert_eq!(a.metadata.witnesses, vec!["w1", "w2"]);
    assert_eq!(a.metadata.log_index, 5);
    fx.install(2);
    let a = fx.state.active().unwrap().unwrap();
    assert_eq!(a.metadata.version, 2);
    assert_eq!(fx.state.stored_checkpoint(ORIGIN).unwrap().unwrap().size, 7);
    assert_eq!(
        std::fs::read(a.bundle_path()).unwrap().len() as u64,
        a.metadata.size
    );
}

#[test]
fn bundle_bytes_not_matching_statement() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            u.bundle = Fx::bundle_with(2, NOW + 86_400, "evil");
            u
        },
        rejection!(Rejection::BundleHashMismatch { .. }),
    );
}

#[test]
fn statement_signed_by_unknown_key() {
    rejected(
        |fx| {
            let bundle = Fx::bundle_with(2, NOW + 86_400, "r");
            let statement =
                fx.statement_for(&bundle, 2, NOW + 86_400, &key("publisher.example", 99));
            let index = fx.append(&statement);
            let note = fx.good_checkpoint();
            UpdateInput {
                consistency_proof: fx.consistency(fx.tree.size()),
                tlog_proof: fx.proof(index, note),
                bundle,
                statement,
                reviews: vec![],
            }
        },
        rejection!(Rejection::UnknownPublisher),
    );
}

#[test]
fn statement_of_wrong_type() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            u.statement = Statement::Review(Review {
                subject: Sha256([1; 32]),
                verdict: Verdict::Approve,
                comment: None,
                report: None,
            })
            .sign(&fx.publisher)
            .unwrap();
            u
        },
        rejection!(Rejection::WrongStatementType { found: "review" }),
    );
}

#[test]
fn bad_inclusion_proof() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let p = TlogProof::parse(&u.tlog_proof).unwrap();
            let mut hashes = p.proof().to_vec();
            hashes[0][0] ^= 1;
            u.tlog_proof = TlogProof::new(None, p.index(), hashes, p.note().clone())
                .unwrap()
                .to_bytes();
            u
        },
        rejection!(Rejection::NotIncluded { index: 6 }),
    );
}

#[test]
fn checkpoint_signed_by_wrong_log_key() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let note = fx.checkpoint(&key(ORIGIN, 66), &[&fx.w[0], &fx.w[1]], NOW - 10);
            u.tlog_proof = fx.proof(6, note);
            u
        },
        rejection!(Rejection::BadLogSignature { .. }),
    );
}

#[test]
fn cosignatures_below_quorum() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let note = fx.checkpoint(&fx.log, &[&fx.w[2]], NOW - 10);
            u.tlog_proof = fx.proof(6, note);
            u
        },
        |e| matches!(e, UpdateError::Rejected(Rejection::QuorumNotMet { cosigned }) if cosigned == &["w3"]),
    );
}

#[test]
fn cosignature_from_witness_outside_policy_does_not_count() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let note = fx.checkpoint(&fx.log, &[&fx.w[0], &fx.outsider], NOW - 10);
            u.tlog_proof = fx.proof(6, note);
            u
        },
        |e| matches!(e, UpdateError::Rejected(Rejection::QuorumNotMet { cosigned }) if cosigned == &["w1"]),
    );
}

#[test]
fn stale_checkpoint_freeze() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let note = fx.checkpoint(&fx.log, &[&fx.w[0], &fx.w[1]], NOW - 3601);
            u.tlog_proof = fx.proof(6, note);
            u
        },
        rejection!(Rejection::StaleCheckpoint { newest: Some(t), .. } if *t == NOW - 3601),
    );
}

#[test]
fn expired_bundle() {
    rejected(
        |fx| {
            let bundle = Fx::bundle_with(2, NOW, "r");
            let statement = fx.statement_for(&bundle, 2, NOW, &fx.publisher.clone());
            let index = fx.append(&statement);
            let note = fx.good_checkpoint();
            UpdateInput {
                consistency_proof: fx.consistency(fx.tree.size()),
                tlog_proof: fx.proof(index, note),
                bundle,
                statement,
                reviews: vec![],
            }
        },
        rejection!(Rejection::Expired {
            expires: NOW,
            now: NOW
        }),
    );
}

#[test]
fn older_version_rollback() {
    let mut fx = Fx::new();
    let old = fx.update(1); // logged, never installed
    let _ = old;
    fx.install(2);
    let before = fx.snapshot();
    let mut u = fx.update(1);
    u.bundle = Fx::bundle_with(1, NOW + 86_400, "r");
    let err = fx.verify(u).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Rejected(Rejection::Rollback {
                active: 2,
                offered: 1
            })
        ),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn same_version_different_bytes() {
    rejected(
        |fx| fx.update_with(Fx::bundle_with(1, NOW + 86_400, "other"), 1),
        rejection!(Rejection::SameVersionDifferentBundle { version: 1 }),
    );
}

#[test]
fn same_version_same_bytes_is_up_to_date_and_advances_the_checkpoint() {
    let mut fx = Fx::new();
    fx.install(1);
    let active = fx.state.active().unwrap();
    // Unrelated traffic after v1, then the same v1 under the newer checkpoint.
    fx.append(b"unrelated");
    let statement = std::fs::read(active.as_ref().unwrap().dir.join("bundle.statement")).unwrap();
    let note = fx.good_checkpoint();
    let input = UpdateInput {
        consistency_proof: fx.consistency(fx.tree.size()),
        tlog_proof: fx.proof(5, note),
        bundle: std::fs::read(active.as_ref().unwrap().bundle_path()).unwrap(),
        statement,
        reviews: vec![],
    };
    let v = fx.verify(input).unwrap();
    assert!(v.already_active && v.advances_checkpoint);
    activate(&fx.state, v, |_| panic!("nothing to compile")).unwrap();
    assert_eq!(fx.state.active().unwrap(), active);
    assert_eq!(fx.state.stored_checkpoint(ORIGIN).unwrap().unwrap().size, 7);
}

#[test]
fn fork_same_size_writes_evidence_and_freezes_log() {
    let mut fx = Fx::new();
    fx.install(1);
    let active = fx.state.active().unwrap();
    let stored = fx.state.stored_checkpoint_note(ORIGIN).unwrap();
    // A second tree of the same size as the stored one, with our statement.
    let good = fx.update(2);
    let mut forked = MemoryTree::new();
    for i in 0..5u8 {
        forked.push_data(&[i + 100]);
    }
    forked.push_data(&good.statement);
    let mut note = Checkpoint::new(ORIGIN, forked.size(), forked.root())
        .sign(&fx.log)
        .unwrap();
    note.cosign(&fx.w[0], NOW - 5).unwrap();
    note.cosign(&fx.w[1], NOW - 5).unwrap();
    let proof = TlogProof::new(None, 5, inclusion_proof(&forked, 5, 6).unwrap(), note).unwrap();
    let input = UpdateInput {
        tlog_proof: proof.to_bytes(),
        consistency_proof: vec![],
        ..good.clone()
    };
    let err = fx.verify(input).unwrap_err();
    let UpdateError::Fork { kind, evidence, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, ForkKind::SameSizeDifferentRoot);
    assert!(evidence.exists());
    let ev = fx.state.fork_evidence(ORIGIN).unwrap().unwrap();
    assert_eq!(ev.stored_checkpoint.as_bytes(), stored.as_deref().unwrap());
    assert!(ev.new_checkpoint.contains(&proof.note().to_string()));
    assert_eq!(fx.state.active().unwrap(), active);
    assert_eq!(fx.state.stored_checkpoint_note(ORIGIN).unwrap(), stored);
    // Every later update for that log is refused, even a valid one.
    let err = fx.verify(good.clone()).unwrap_err();
    assert!(
        matches!(err, UpdateError::LogFrozenByFork { .. }),
        "{err:?}"
    );
    // Until the owner clears it; the evidence is kept.
    fx.state
        .clear_fork(ORIGIN, NOW, CheckpointAfterClear::Keep)
        .unwrap();
    assert!(fx.state.fork_evidence(ORIGIN).unwrap().is_none());
    assert!(
        std::fs::read_dir(evidence.parent().unwrap())
            .unwrap()
            .count()
            == 1
    );
    let v = fx.verify(good).unwrap();
    activate(&fx.state, v, |_| Ok(())).unwrap();
    assert_eq!(fx.state.active().unwrap().unwrap().metadata.version, 2);
}

/// Issue 12, observation 1: a consistency proof that does not verify is a
/// refusal of that update, never a freeze; the state is untouched and the
/// genuine update still installs afterwards.
#[test]
fn bad_consistency_proofs_are_refusals_not_forks() {
    type Tamper = fn(&mut Vec<Hash>);
    let cases: [(&str, Tamper); 4] = [
        ("one hash flipped", |p| p[0][0] ^= 1),
        ("one line of 44 As", |p| {
            *p =
                vitrine_client::parse_consistency_proof(format!("{}=\n", "A".repeat(43)).as_bytes())
                    .unwrap()
        }),
        ("a correct proof with one extra line", |p| p.push([7; 32])),
        ("a correct proof with one extra first line", |p| {
            p.insert(0, [7; 32])
        }),
    ];
    for (what, tamper) in cases {
        let mut fx = Fx::new();
        fx.install(1);
        let before = fx.snapshot();
        let good = fx.update(2);
        let mut bad = good.clone();
        tamper(&mut bad.consistency_proof);
        let err = fx.verify(bad).unwrap_err();
        assert!(
            matches!(
                err,
                UpdateError::Rejected(Rejection::BadConsistencyProof { from: 6, to: 7 })
            ),
            "{what}: {err:?}"
        );
        assert_eq!(fx.snapshot(), before, "{what}: state changed");
        assert!(fx.state.fork_evidence(ORIGIN).unwrap().is_none(), "{what}");
        let v = fx.verify(good).unwrap();
        activate(&fx.state, v, |_| Ok(())).unwrap();
        assert_eq!(fx.state.active().unwrap().unwrap().metadata.version, 2);
    }
}

/// A tree that does not extend the stored one: signed by the log key, with
/// its own consistency proof (which reproduces its signed root) giving
/// another root at the stored size. Returns the update offering it.
fn forked_larger(fx: &Fx, prefix_len: u8, extra: u8, statement: &[u8]) -> (UpdateInput, u64) {
    let mut forked = MemoryTree::new();
    for i in 0..prefix_len {
        forked.push_data(&[i + 100]);
    }
    for i in 0..extra {
        forked.push_data(&[i + 200]);
    }
    forked.push_data(statement);
    let size = forked.size();
    let mut note = Checkpoint::new(ORIGIN, size, forked.root())
        .sign(&fx.log)
        .unwrap();
    note.cosign(&fx.w[0], NOW - 5).unwrap();
    note.cosign(&fx.w[1], NOW - 5).unwrap();
    let old = fx.state.stored_checkpoint(ORIGIN).unwrap().unwrap();
    let proof = TlogProof::new(
        None,
        size - 1,
        inclusion_proof(&forked, size - 1, size).unwrap(),
        note,
    )
    .unwrap();
    let mut cproof = consistency_proof(&forked, old.size, size).unwrap();
    if old.size.is_power_of_two() {
        cproof.insert(0, vitrine_tlog::tree_root(&forked, old.size).unwrap());
    }
    (
        UpdateInput {
            tlog_proof: proof.to_bytes(),
            consistency_proof: cproof,
            ..UpdateInput::default()
        },
        size,
    )
}

#[test]
fn fork_larger_tree_with_another_prefix_is_recorded_and_freezes() {
    let mut fx = Fx::new();
    fx.install(1);
    let active = fx.state.active().unwrap();
    let good = fx.update(2);
    let (fork, _) = forked_larger(&fx, 6, 1, &good.statement);
    let err = fx
        .verify(UpdateInput {
            bundle: good.bundle.clone(),
            statement: good.statement.clone(),
            ..fork
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Fork {
                kind: ForkKind::DifferentPrefix,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fx.state.active().unwrap(), active);
    let err = fx.verify(good).unwrap_err();
    assert!(
        matches!(err, UpdateError::LogFrozenByFork { .. }),
        "{err:?}"
    );
}

/// Issue 12, item 7: genuine evidence is recorded even when the rest of
/// the update is bad (inclusion proof, bundle bytes, statement).
#[test]
fn genuine_fork_is_recorded_even_when_the_rest_is_bad() {
    for what in ["bad inclusion proof", "bad bundle", "garbage statement"] {
        let mut fx = Fx::new();
        fx.install(1);
        let good = fx.update(2);
        let (mut fork, size) = forked_larger(&fx, 6, 2, &good.statement);
        fork.bundle = good.bundle.clone();
        fork.statement = good.statement.clone();
        match what {
            "bad inclusion proof" => {
                let p = TlogProof::parse(&fork.tlog_proof).unwrap();
                let mut hashes = p.proof().to_vec();
                hashes[0][0] ^= 1;
                fork.tlog_proof = TlogProof::new(None, size - 1, hashes, p.note().clone())
                    .unwrap()
                    .to_bytes();
            }
            "bad bundle" => fork.bundle = b"not a bundle".to_vec(),
            _ => fork.statement = b"garbage".to_vec(),
        }
        let err = fx.verify(fork).unwrap_err();
        assert!(
            matches!(
                err,
                UpdateError::Fork {
                    kind: ForkKind::DifferentPrefix,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert!(fx.state.fork_evidence(ORIGIN).unwrap().is_some(), "{what}");
    }
}

/// When the stored size is a power of two the RFC proof omits the node for
/// it: without that node a bad proof is only a refusal; with it (as the
/// online path builds it from tiles) a fork is proven.
#[test]
fn fork_at_a_power_of_two_stored_size() {
    let mut fx = Fx::new();
    fx.install(1);
    fx.install(2);
    fx.install(3);
    assert_eq!(fx.state.stored_checkpoint(ORIGIN).unwrap().unwrap().size, 8);
    let good = fx.update(4);
    let (mut fork, _) = forked_larger(&fx, 8, 0, &good.statement);
    fork.bundle = good.bundle.clone();
    fork.statement = good.statement.clone();
    let before = fx.snapshot();
    let mut rfc_form = fork.clone();
    rfc_form.consistency_proof.remove(0);
    let err = fx.verify(rfc_form).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Rejected(Rejection::BadConsistencyProof { from: 8, to: 9 })
        ),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before);
    let err = fx.verify(fork).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Fork {
                kind: ForkKind::DifferentPrefix,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Issue 12, observation 6: a cosignature dated in the future does not
/// count as fresh, and freshness needs the quorum's cosignatures.
#[test]
fn freshness_needs_a_quorum_of_fresh_not_future_cosignatures() {
    let cases: [(&str, u64, u64, bool); 5] = [
        ("both fresh", NOW - 10, NOW - 20, true),
        ("one a little ahead (clock skew)", NOW + 60, NOW - 20, true),
        ("one far in the future", NOW + 10 * 86_400, NOW - 20, false),
        ("one stale", NOW - 10, NOW - 4000, false),
        ("both in the future", NOW + 86_400, NOW + 86_400, false),
    ];
    for (what, t1, t2, fresh) in cases {
        let mut fx = Fx::new();
        fx.install(1);
        let before = fx.snapshot();
        let mut u = fx.update(2);
        let mut note = Checkpoint::new(ORIGIN, fx.tree.size(), fx.tree.root())
            .sign(&fx.log)
            .unwrap();
        note.cosign(&fx.w[0], t1).unwrap();
        note.cosign(&fx.w[1], t2).unwrap();
        u.tlog_proof = fx.proof(6, note);
        let r = fx.verify(u);
        if fresh {
            assert!(r.is_ok(), "{what}: {r:?}");
        } else {
            let err = r.unwrap_err();
            assert!(
                matches!(
                    err,
                    UpdateError::Rejected(Rejection::StaleCheckpoint { .. })
                ),
                "{what}: {err:?}"
            );
            assert_eq!(fx.snapshot(), before, "{what}");
        }
    }
}

/// Issue 12, observation 7: a FIFO named `bundle` must not hang
/// `update --from`, and symbolic links are not followed.
#[test]
fn update_dir_refuses_fifos_and_symlinks() {
    let mut fx = Fx::new();
    let u = fx.update(1);
    let dir = fx._dir.path().join("usb");
    write_update_dir(&dir, &u).unwrap();
    let secret = fx._dir.path().join("secret");
    std::fs::write(&secret, &u.bundle).unwrap();
    for (file, make) in [
        ("bundle", "fifo"),
        ("bundle", "symlink"),
        ("bundle.statement", "symlink"),
        ("bundle.consistency", "fifo"),
    ] {
        let p = dir.join(file);
        let _ = std::fs::remove_file(&p);
        if make == "fifo" {
            let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
            assert_eq!(unsafe_free_mkfifo(&c), 0);
        } else {
            std::os::unix::fs::symlink(&secret, &p).unwrap();
        }
        let started = std::time::Instant::now();
        let err = read_update_dir(&dir, fx.policy.limits()).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            matches!(&err, UpdateError::Rejected(Rejection::NotARegularFile { path }) if path == &p),
            "{file} {make}: {err:?}"
        );
        std::fs::remove_file(&p).unwrap();
        write_update_dir(&dir, &u).unwrap();
    }
}

/// mkfifo(1), so the test needs no `unsafe`.
fn unsafe_free_mkfifo(path: &std::ffi::CStr) -> i32 {
    std::process::Command::new("mkfifo")
        .arg(path.to_str().unwrap())
        .status()
        .map(|s| if s.success() { 0 } else { 1 })
        .unwrap_or(1)
}

#[test]
fn missing_consistency_proof() {
    rejected(
        |fx| UpdateInput {
            consistency_proof: vec![],
            ..fx.update(2)
        },
        rejection!(Rejection::MissingConsistencyProof { stored: 6, new: 7 }),
    );
}

#[test]
fn smaller_tree_than_stored() {
    let mut fx = Fx::new();
    let early = fx.update(2); // logged at size 6, not installed
    fx.install(1); // stored checkpoint now size 7
    let before = fx.snapshot();
    let err = fx
        .verify(UpdateInput {
            consistency_proof: vec![],
            ..early
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Rejected(Rejection::OlderCheckpoint { stored: 7, new: 6 })
        ),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before);
}

fn tight(f: impl Fn(&mut UpdateLimits)) -> impl FnMut(&mut Fx) -> UpdateInput {
    move |fx| {
        let mut l = *fx.policy.limits();
        f(&mut l);
        fx.policy = fx.policy.clone().with_limits(l);
        fx.update(2)
    }
}

#[test]
fn oversized_statement() {
    rejected(
        tight(|l| l.statement = 100),
        rejection!(Rejection::Oversized {
            what: "statement",
            ..
        }),
    );
}

#[test]
fn oversized_proof() {
    rejected(
        tight(|l| l.proof = 100),
        rejection!(Rejection::Oversized {
            what: "tlog-proof",
            ..
        }),
    );
}

#[test]
fn oversized_bundle() {
    rejected(
        tight(|l| l.bundle = 100),
        rejection!(Rejection::Oversized { what: "bundle", .. }),
    );
}

#[test]
fn oversized_checkpoint() {
    rejected(
        tight(|l| l.checkpoint = 100),
        rejection!(Rejection::Oversized {
            what: "checkpoint",
            ..
        }),
    );
}

#[test]
fn malformed_statement_note() {
    rejected(
        |fx| UpdateInput {
            statement: b"vitrine.dev/statement/rules/v1\nno signature\n".to_vec(),
            ..fx.update(2)
        },
        rejection!(Rejection::MalformedStatement { .. }),
    );
}

#[test]
fn malformed_tlog_proof() {
    rejected(
        |fx| UpdateInput {
            tlog_proof: b"c2sp.org/tlog-proof@v1\nindex 01\n\nx\n".to_vec(),
            ..fx.update(2)
        },
        rejection!(Rejection::MalformedProof { .. }),
    );
}

#[test]
fn tlog_proof_for_another_log() {
    rejected(
        |fx| {
            let mut u = fx.update(2);
            let note = fx.checkpoint(
                &key("other.example/log", 5),
                &[&fx.w[0], &fx.w[1]],
                NOW - 10,
            );
            u.tlog_proof = fx.proof(6, note);
            u
        },
        rejection!(Rejection::UnknownLog { origin } if origin == "other.example/log"),
    );
}

#[test]
fn compile_check_failure_leaves_active_rules() {
    let mut fx = Fx::new();
    fx.install(1);
    let before = fx.snapshot();
    let u2 = fx.update(2);
    let v = fx.verify(u2).unwrap();
    let err = activate(&fx.state, v, |_| Err("syntax error".to_owned())).unwrap_err();
    assert!(
        matches!(err, UpdateError::CompileCheck { ref message } if message == "syntax error"),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before);
}

fn raw_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in members {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn manifest(yara: u64, hash_files: u64, lines: u64) -> String {
    format!(
        "vitrine.dev/bundle/v1\nname daily\nversion 2\ncreated {}\nexpires {}\nyara-files {yara}\nhash-files {hash_files}\nhash-lines {lines}\n",
        NOW - 1000,
        NOW + 86_400
    )
}

#[test]
fn bundle_with_dotdot_member() {
    rejected(
        |fx| {
            let m = manifest(1, 0, 0);
            fx.update_with(
                raw_tar(&[
                    ("MANIFEST", m.as_bytes()),
                    ("../evil.yar", b"rule x { condition: true }\n"),
                ]),
                2,
            )
        },
        rejection!(Rejection::InvalidBundle { reason } if reason.contains("parent directory")),
    );
}

#[test]
fn manifest_count_mismatch() {
    rejected(
        |fx| {
            let m = manifest(1, 1, 5);
            fx.update_with(
                raw_tar(&[
                    ("MANIFEST", m.as_bytes()),
                    ("a.hdb", b"x:1:y\n"),
                    ("r.yar", b"rule x { condition: true }\n"),
                ]),
                2,
            )
        },
        rejection!(Rejection::InvalidBundle { reason } if reason.contains("hash-lines")),
    );
}

/// Issue 12, observation 5: reviews count only when logged under the very
/// checkpoint the update is verified under, from policy reviewer keys.
#[test]
fn reviews_count_only_when_logged_under_the_same_checkpoint() {
    let mut fx = Fx::with_policy_extra("require-reviews 1\n");
    let bundle = Fx::bundle_with(1, NOW + 86_400, "r");
    let statement = fx.statement_for(&bundle, 1, NOW + 86_400, &fx.publisher.clone());
    let index = fx.append(&statement);
    use sha2::Digest;
    let subject = Sha256(sha2::Sha256::digest(&bundle).into());
    let review = |verdict, signer: &SignerKey| {
        Statement::Review(Review {
            subject,
            verdict,
            comment: None,
            report: None,
        })
        .sign(signer)
        .unwrap()
    };
    let approve = review(Verdict::Approve, &fx.reviewer);
    let outsider = review(Verdict::Approve, &key("reviewer.example", 77));
    let reject = review(Verdict::Reject, &fx.reviewer);
    let i_approve = fx.append(&approve);
    let i_outsider = fx.append(&outsider);
    let note = fx.good_checkpoint();
    let input = |reviews: Vec<LoggedReview>| UpdateInput {
        bundle: bundle.clone(),
        statement: statement.clone(),
        tlog_proof: fx.proof(index, note.clone()),
        consistency_proof: vec![],
        reviews,
    };
    let logged = |statement: &[u8], i: u64| LoggedReview {
        statement: statement.to_vec(),
        tlog_proof: fx.proof(i, note.clone()),
    };
    let not_enough = |r: Result<_, UpdateError>| {
        matches!(
            r,
            Err(UpdateError::Rejected(Rejection::NotEnoughReviews {
                approvals: 0,
                required: 1
            }))
        )
    };
    let before = fx.snapshot();
    assert!(not_enough(fx.verify(input(vec![]))));
    // A valid approval that is in no log does not count.
    assert!(not_enough(fx.verify(input(vec![LoggedReview {
        statement: approve.clone(),
        tlog_proof: vec![],
    }]))));
    // Nor one whose proof is for another entry.
    assert!(not_enough(fx.verify(input(vec![LoggedReview {
        statement: approve.clone(),
        tlog_proof: fx.proof(i_outsider, note.clone()),
    }]))));
    // Nor one logged under another checkpoint (an older tree).
    let mut older = MemoryTree::new();
    for i in 0..5u8 {
        older.push_data(&[i]);
    }
    older.push_data(&statement);
    older.push_data(&approve);
    let mut onote = Checkpoint::new(ORIGIN, older.size(), older.root())
        .sign(&fx.log)
        .unwrap();
    onote.cosign(&fx.w[0], NOW - 5).unwrap();
    onote.cosign(&fx.w[1], NOW - 5).unwrap();
    let oproof = TlogProof::new(None, 6, inclusion_proof(&older, 6, 7).unwrap(), onote)
        .unwrap()
        .to_bytes();
    assert!(not_enough(fx.verify(input(vec![LoggedReview {
        statement: approve.clone(),
        tlog_proof: oproof,
    }]))));
    // A logged approval by a key outside the policy does not count.
    assert!(not_enough(
        fx.verify(input(vec![logged(&outsider, i_outsider)]))
    ));
    assert_eq!(fx.snapshot(), before);
    // A logged approval by the policy reviewer does.
    let v = fx.verify(input(vec![logged(&approve, i_approve)])).unwrap();
    // A logged rejection refuses (checked on a fresh state).
    let mut fx2 = Fx::with_policy_extra("require-reviews 1\n");
    let b2 = Fx::bundle_with(1, NOW + 86_400, "r");
    let s2 = fx2.statement_for(&b2, 1, NOW + 86_400, &fx2.publisher.clone());
    let i2 = fx2.append(&s2);
    let ir = fx2.append(&reject);
    let n2 = fx2.good_checkpoint();
    let err = fx2
        .verify(UpdateInput {
            tlog_proof: fx2.proof(i2, n2.clone()),
            bundle: b2,
            statement: s2,
            consistency_proof: vec![],
            reviews: vec![LoggedReview {
                statement: reject.clone(),
                tlog_proof: fx2.proof(ir, n2),
            }],
        })
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::Rejected(Rejection::ReviewRejected { .. })),
        "{err:?}"
    );
    activate(&fx.state, v, |_| Ok(())).unwrap();
}

#[test]
fn policy_refuses_the_same_key_as_publisher_and_reviewer() {
    let fx = Fx::new();
    let text = policy_text(&fx.log, &fx.w, &fx.publisher, &fx.publisher, "");
    let err = TrustPolicy::parse(text.as_bytes()).unwrap_err().to_string();
    assert!(
        err.contains("the same key is both a publisher and a reviewer"),
        "{err}"
    );
}

#[test]
fn offline_end_to_end_through_update_dir() {
    let mut fx = Fx::new();
    fx.install(1);
    let u = fx.update(2);
    let usb = fx._dir.path().join("usb");
    write_update_dir(&usb, &u).unwrap();
    let read = read_update_dir(&usb, fx.policy.limits()).unwrap();
    assert_eq!(read, u);
    let v = fx.verify(read).unwrap();
    let active = activate(&fx.state, v, |b| {
        assert_eq!(b.manifest().version, 2);
        Ok(())
    })
    .unwrap();
    assert_eq!(active.metadata.version, 2);
    // The stored bundle directory is itself an update directory.
    let again = read_update_dir(&active.dir, fx.policy.limits()).unwrap();
    assert_eq!(again.bundle, u.bundle);
    // Reading stops at the limit.
    let mut l = *fx.policy.limits();
    l.bundle = 10;
    assert!(matches!(
        read_update_dir(&usb, &l),
        Err(UpdateError::Rejected(Rejection::Oversized {
            what: "bundle",
            size: 11,
            limit: 10
        }))
    ));
}

#[test]
fn policy_round_trip_and_errors() {
    let fx = Fx::new();
    let text = fx.policy.to_text();
    assert_eq!(TrustPolicy::parse(text.as_bytes()).unwrap(), fx.policy);
    let base = policy_text(&fx.log, &fx.w, &fx.publisher, &fx.reviewer, "");
    for (extra, want) in [
        ("bogus 1\n", "line 10: unknown keyword"),
        ("max-age 5\n", "line 10: repeated max-age"),
        ("require-reviews 2\n", "only 1 reviewer"),
        ("publisher nonsense\n", "line 10: bad publisher key"),
        ("max-age\n", "line 10: max-age takes exactly one argument"),
    ] {
        let err = TrustPolicy::parse(format!("{base}{extra}").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    let no_age = base.replace("max-age 3600\n", "");
    assert!(TrustPolicy::parse(no_age.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("max-age"));
}

// ---- channels: policy `bundle` lines ----

/// A valid update of bundle `name` v`version` whose statement names
/// `statement_bundle` (normally `Some(name)`).
fn channel_update(
    fx: &mut Fx,
    name: &str,
    version: u64,
    statement_bundle: Option<&str>,
) -> UpdateInput {
    use sha2::Digest;
    let bundle = Bundle::build(
        name,
        version,
        NOW - 1000,
        NOW + 86_400,
        vec![(
            "rules/r.yar".to_owned(),
            format!("rule {name}_{version} {{ condition: true }}\n").into_bytes(),
        )],
    )
    .unwrap();
    let statement = Statement::Rules(Rules {
        sha256: Sha256(sha2::Sha256::digest(&bundle).into()),
        size: bundle.len() as u64,
        version,
        created: NOW - 1000,
        expires: NOW + 86_400,
        bundle: statement_bundle.map(|b| vitrine_statements::Token::new(b).unwrap()),
        allow: Vec::new(),
    })
    .sign(&fx.publisher)
    .unwrap();
    let index = fx.append(&statement);
    let note = fx.good_checkpoint();
    UpdateInput {
        consistency_proof: fx.consistency(fx.tree.size()),
        tlog_proof: fx.proof(index, note),
        bundle,
        statement,
        reviews: Vec::new(),
    }
}

fn channel_install(fx: &mut Fx, name: &str, version: u64) {
    let input = channel_update(fx, name, version, Some(name));
    let v = fx.verify(input).unwrap();
    assert_eq!(v.channel.as_deref(), Some(name));
    activate(&fx.state, v, |_| Ok(())).unwrap();
}

fn active_versions(fx: &Fx) -> Vec<(String, u64)> {
    fx.state
        .actives()
        .unwrap()
        .into_iter()
        .map(|a| (a.metadata.name, a.metadata.version))
        .collect()
}

#[test]
fn channels_are_active_together_each_with_its_own_version_order() {
    let mut fx = Fx::with_policy_extra("bundle starter\nbundle daily\n");
    channel_install(&mut fx, "starter", 3);
    // daily v1 after starter v3: another channel, not a rollback.
    channel_install(&mut fx, "daily", 1);
    assert_eq!(
        active_versions(&fx),
        vec![("daily".to_owned(), 1), ("starter".to_owned(), 3)]
    );
    channel_install(&mut fx, "daily", 2);
    // daily v1 after daily v2 is a rollback, and changes nothing.
    let before = fx.snapshot();
    let input = channel_update(&mut fx, "daily", 1, Some("daily"));
    let err = fx.verify(input).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Rejected(Rejection::Rollback {
                active: 2,
                offered: 1
            })
        ),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before, "state changed");
    // starter's own order is untouched by daily's versions.
    let input = channel_update(&mut fx, "starter", 2, Some("starter"));
    assert!(matches!(
        fx.verify(input).unwrap_err(),
        UpdateError::Rejected(Rejection::Rollback {
            active: 3,
            offered: 2
        })
    ));
    assert_eq!(
        active_versions(&fx),
        vec![("daily".to_owned(), 2), ("starter".to_owned(), 3)]
    );
    // The single-channel pointer is not used by a policy with channels.
    assert!(fx.state.active().unwrap().is_none());
}

#[test]
fn a_bundle_of_a_channel_the_policy_does_not_follow_is_not_installed() {
    let mut fx = Fx::with_policy_extra("bundle main\n");
    channel_install(&mut fx, "main", 1);
    let before = fx.snapshot();
    let input = channel_update(&mut fx, "daily", 5, Some("daily"));
    let err = fx.verify(input).unwrap_err();
    assert!(
        matches!(
            &err,
            UpdateError::Rejected(Rejection::NotFollowed { name, followed })
                if name == "daily" && followed == "main"
        ),
        "{err:?}"
    );
    assert_eq!(fx.snapshot(), before, "state changed");
    // An old statement without a bundle name is judged by the manifest.
    let input = channel_update(&mut fx, "daily", 6, None);
    assert!(matches!(
        fx.verify(input).unwrap_err(),
        UpdateError::Rejected(Rejection::NotFollowed { .. })
    ));
    assert_eq!(active_versions(&fx), vec![("main".to_owned(), 1)]);
}

#[test]
fn a_statement_naming_another_bundle_than_its_manifest_is_refused() {
    let mut fx = Fx::with_policy_extra("bundle main\nbundle daily\n");
    let input = channel_update(&mut fx, "daily", 1, Some("main"));
    let err = fx.verify(input).unwrap_err();
    assert!(
        matches!(
            &err,
            UpdateError::Rejected(Rejection::BundleNameMismatch { manifest, statement })
                if manifest == "daily" && statement == "main"
        ),
        "{err:?}"
    );
}

#[test]
fn without_bundle_lines_there_is_one_channel_as_before() {
    let mut fx = Fx::new();
    channel_install_single(&mut fx, "starter", 3);
    let input = channel_update(&mut fx, "daily", 1, Some("daily"));
    let err = fx.verify(input).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Rejected(Rejection::Rollback {
                active: 3,
                offered: 1
            })
        ),
        "{err:?}"
    );
    assert_eq!(active_versions(&fx), vec![("starter".to_owned(), 3)]);
}

fn channel_install_single(fx: &mut Fx, name: &str, version: u64) {
    let input = channel_update(fx, name, version, Some(name));
    let v = fx.verify(input).unwrap();
    assert_eq!(v.channel, None);
    activate(&fx.state, v, |_| Ok(())).unwrap();
    assert_eq!(
        fx.state.active().unwrap().unwrap().metadata.version,
        version
    );
}

#[test]
fn bundle_lines_are_parsed_strictly() {
    let fx = Fx::new();
    for (extra, reason) in [
        ("bundle ../x\n", "bundle name must be"),
        ("bundle .hidden\n", "bundle name must be"),
        ("bundle a b\n", "exactly one argument"),
        ("bundle main\nbundle main\n", "repeated bundle main"),
    ] {
        let text = policy_text(&fx.log, &fx.w, &fx.publisher, &fx.reviewer, extra);
        let err = TrustPolicy::parse(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(reason), "{extra:?}: {err}");
    }
    let text = policy_text(
        &fx.log,
        &fx.w,
        &fx.publisher,
        &fx.reviewer,
        "bundle main\nbundle daily\n",
    );
    let p = TrustPolicy::parse(text.as_bytes()).unwrap();
    assert_eq!(p.bundles(), ["main", "daily"]);
    assert_eq!(TrustPolicy::parse(p.to_text().as_bytes()).unwrap(), p);
}
