//! The monitor over logs held in memory: a clean history, a rule that
//! hunts "TOP SECRET" documents slipped into one version, withheld and
//! swapped content, forks, bad signatures and unauthorised signers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use vitrine_audit::{Alarm, AuditReport, Auditor, Source};
use vitrine_bundle::Bundle;
use vitrine_log::Authorization;
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Allow, Review, Rules, Statement, StatementType, Text, Token, Verdict};
use vitrine_tlog::{encode_entry_bundle, Checkpoint, MemoryTree, TileKind, TilePath};

const ORIGIN: &str = "log.example/rules";

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
}

#[derive(Default)]
struct Inner {
    entries: Vec<Vec<u8>>,
    content: HashMap<String, Vec<u8>>,
    /// Sign checkpoints with this key instead of the log's.
    wrong_key: bool,
}

/// A log in memory serving the tlog-tiles read API and a content store.
#[derive(Clone)]
struct MemLog {
    inner: Arc<Mutex<Inner>>,
    log: Arc<SignerKey>,
}

impl MemLog {
    fn new() -> MemLog {
        MemLog {
            inner: Arc::default(),
            log: Arc::new(key(ORIGIN, 1)),
        }
    }

    fn append(&self, entry: Vec<u8>) -> u64 {
        let mut i = self.inner.lock().unwrap();
        i.entries.push(entry);
        i.entries.len() as u64 - 1
    }

    fn store(&self, bytes: &[u8]) {
        let hex = hex::encode(Sha256::digest(bytes));
        self.inner
            .lock()
            .unwrap()
            .content
            .insert(hex, bytes.to_vec());
    }
}

impl Source for MemLog {
    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
        let inner = self.inner.lock().unwrap();
        let body = if path == "checkpoint" {
            let mut tree = MemoryTree::new();
            for e in &inner.entries {
                tree.push_data(e);
            }
            let signer = if inner.wrong_key {
                key(ORIGIN, 99)
            } else {
                (*self.log).clone()
            };
            Checkpoint::new(ORIGIN, tree.size(), tree.root())
                .sign(&signer)
                .unwrap()
                .to_bytes()
        } else if let Some(hex) = path.strip_prefix("content/sha256/") {
            match inner.content.get(hex) {
                Some(b) => b.clone(),
                None => return Ok(None),
            }
        } else {
            let tile = TilePath::parse(path).map_err(|e| e.to_string())?;
            assert_eq!(
                tile.kind(),
                TileKind::Entries,
                "the auditor reads entry bundles only"
            );
            let start = tile.index() as usize * 256;
            let end = start + usize::from(tile.width());
            if end > inner.entries.len() {
                return Ok(None);
            }
            encode_entry_bundle(&inner.entries[start..end]).unwrap()
        };
        if body.len() > limit {
            return Err("too large".into());
        }
        Ok(Some(body))
    }
}

struct Fx {
    log: MemLog,
    publisher: SignerKey,
    reviewer: SignerKey,
    dir: tempfile::TempDir,
}

const CLEAN: &str = r#"
rule Ransom_Demo
{
    strings:
        $a = "vssadmin delete shadows /all /quiet" nocase
        $b = "Your files have been encrypted"
    condition:
        uint16(0) == 0x5A4D and all of them
}
"#;

const MINER: &str = r#"
rule Miner_Demo
{
    strings:
        $a = "stratum+tcp://"
        $b = "xmrig" nocase
    condition:
        uint32(0) == 0x464C457F and all of them
}
"#;

const LEAK_HUNT: &str = r#"
rule Leak_Hunt
{
    strings:
        $m = "TOP SECRET" nocase wide ascii
    condition:
        uint32be(0) == 0xD0CF11E0 and $m
}
"#;

impl Fx {
    fn new() -> Fx {
        Fx {
            log: MemLog::new(),
            publisher: key("publisher.example", 2),
            reviewer: key("reviewer.example", 3),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn auditor(&self) -> Auditor<MemLog> {
        let auth = Authorization::new()
            .allow([StatementType::Rules], self.publisher.verifier())
            .allow([StatementType::Review], self.reviewer.verifier());
        Auditor::new(
            self.log.clone(),
            self.log.log.verifier(),
            auth,
            self.dir.path().join("audit"),
        )
        .unwrap()
    }

    fn bundle(version: u64, sources: &[&str]) -> Vec<u8> {
        Bundle::build(
            "daily",
            version,
            1_767_225_600,
            1_769_904_000,
            vec![("rules/main.yar".to_owned(), sources.concat().into_bytes())],
        )
        .unwrap()
    }

    fn statement(
        &self,
        bundle: &[u8],
        version: u64,
        allow: Vec<Allow>,
        signer: &SignerKey,
    ) -> Vec<u8> {
        Statement::Rules(Rules {
            sha256: vitrine_statements::Sha256(Sha256::digest(bundle).into()),
            size: bundle.len() as u64,
            version,
            created: 1_767_225_600,
            expires: 1_769_904_000,
            bundle: None,
            allow,
        })
        .sign(signer)
        .unwrap()
    }

    /// Logs a bundle (and stores its content); returns its log index.
    fn publish(&self, version: u64, sources: &[&str]) -> u64 {
        let b = Self::bundle(version, sources);
        self.log.store(&b);
        self.log
            .append(self.statement(&b, version, Vec::new(), &self.publisher))
    }
}

fn run(a: &mut Auditor<MemLog>) -> AuditReport {
    a.run_once().unwrap()
}

#[test]
fn slipped_in_top_secret_rule_is_named_with_bundle_and_index() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    let review = Statement::Review(Review {
        subject: vitrine_statements::Sha256([7; 32]),
        verdict: Verdict::Approve,
        comment: None,
        report: None,
    })
    .sign(&fx.reviewer)
    .unwrap();
    fx.log.append(review);
    fx.publish(2, &[CLEAN, MINER]);
    let bad = fx.publish(3, &[CLEAN, MINER, LEAK_HUNT]);
    fx.publish(4, &[CLEAN, MINER]);

    let mut a = fx.auditor();
    let r = run(&mut a);
    assert!(r.alarms.is_empty(), "{:?}", r.alarms);
    assert_eq!((r.previous_size, r.size), (0, 5));
    assert_eq!(r.statements.get("rules"), Some(&4));
    assert_eq!(r.statements.get("review"), Some(&1));
    assert_eq!(r.bundles.len(), 4);

    let v3 = &r.bundles[2];
    assert_eq!((v3.index, v3.name.as_str(), v3.version), (bad, "daily", 3));
    assert_eq!(v3.added, vec!["rules/main.yar:Leak_Hunt".to_owned()]);
    assert_eq!(v3.previous_version, Some(2));
    let high: Vec<_> = v3
        .unacknowledged_high()
        .map(|f| (f.finding.id, f.finding.rule.as_str()))
        .collect();
    assert!(high.contains(&("VL101", "Leak_Hunt")), "{high:?}");
    assert!(high.contains(&("VL301", "Leak_Hunt")), "{high:?}");
    assert!(high.iter().all(|(_, rule)| *rule == "Leak_Hunt"));
    assert!(r.needs_attention());

    // Every other version is clean, and the diffs say what changed.
    for b in [&r.bundles[0], &r.bundles[1], &r.bundles[3]] {
        assert!(b.findings.is_empty(), "v{}: {:?}", b.version, b.findings);
    }
    assert_eq!(
        r.bundles[1].added,
        vec!["rules/main.yar:Miner_Demo".to_owned()]
    );
    assert_eq!(
        r.bundles[3].removed,
        vec!["rules/main.yar:Leak_Hunt".to_owned()]
    );

    // Resume: nothing new, then only the new entry.
    let again = run(&mut a);
    assert_eq!((again.previous_size, again.size), (5, 5));
    assert!(again.bundles.is_empty() && again.alarms.is_empty());
    let changed = MINER.replace("xmrig", "xmrig-notls");
    let idx = fx.publish(5, &[CLEAN, &changed]);
    let third = run(&mut fx.auditor());
    assert_eq!((third.previous_size, third.size), (5, 6));
    assert_eq!(third.bundles.len(), 1);
    assert_eq!(third.bundles[0].index, idx);
    assert_eq!(third.bundles[0].previous_version, Some(4));
    assert_eq!(
        third.bundles[0].changed,
        vec!["rules/main.yar:Miner_Demo".to_owned()]
    );
    assert!(!third.needs_attention());
}

#[test]
fn acknowledged_findings_are_shown_with_their_reason() {
    let fx = Fx::new();
    let b = Fx::bundle(1, &[LEAK_HUNT]);
    fx.log.store(&b);
    let allow = ["VL101:Leak_Hunt", "VL301:Leak_Hunt"]
        .map(|f| Allow {
            finding: Token::new(f).unwrap(),
            reason: Text::new("court order 12/2026, published on purpose").unwrap(),
        })
        .to_vec();
    fx.log.append(fx.statement(&b, 1, allow, &fx.publisher));
    let r = run(&mut fx.auditor());
    let f = &r.bundles[0].findings;
    assert!(f
        .iter()
        .filter(|f| f.finding.rule == "Leak_Hunt")
        .all(|f| f.acknowledged.as_deref() == Some("court order 12/2026, published on purpose")));
    assert!(!r.needs_attention());
}

#[test]
fn withheld_bundle_content_is_an_alarm() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    let b = Fx::bundle(2, &[CLEAN, LEAK_HUNT]);
    // Logged, but never uploaded to the content store.
    let idx = fx
        .log
        .append(fx.statement(&b, 2, Vec::new(), &fx.publisher));
    let r = run(&mut fx.auditor());
    assert_eq!(r.bundles.len(), 1);
    assert_eq!(
        r.alarms,
        vec![Alarm::BundleUnavailable {
            index: idx,
            sha256: hex::encode(Sha256::digest(&b)),
            reason: "the content store does not have it (404)".into(),
        }]
    );
    assert!(r.needs_attention());
}

#[test]
fn swapped_content_is_an_alarm() {
    let fx = Fx::new();
    let b = Fx::bundle(1, &[CLEAN]);
    let other = Fx::bundle(1, &[MINER]);
    fx.log
        .append(fx.statement(&b, 1, Vec::new(), &fx.publisher));
    let hex = hex::encode(Sha256::digest(&b));
    fx.log
        .inner
        .lock()
        .unwrap()
        .content
        .insert(hex.clone(), other[..b.len().min(other.len())].to_vec());
    let r = run(&mut fx.auditor());
    assert!(
        matches!(&r.alarms[..], [Alarm::BundleHashMismatch { index: 0, sha256, .. }] if *sha256 == hex),
        "{:?}",
        r.alarms
    );
}

#[test]
fn fork_is_an_alarm_with_evidence_and_stops_the_monitor() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    fx.publish(2, &[CLEAN, MINER]);
    let mut a = fx.auditor();
    assert!(run(&mut a).alarms.is_empty());
    // The log rewrites history: entry 1 replaced, then grows.
    {
        let b = Fx::bundle(2, &[CLEAN, LEAK_HUNT]);
        fx.log.store(&b);
        let st = fx.statement(&b, 2, Vec::new(), &fx.publisher);
        fx.log.inner.lock().unwrap().entries[1] = st;
    }
    fx.publish(3, &[CLEAN]);
    let r = run(&mut a);
    let [Alarm::Fork {
        old_size: 2,
        new_size: 3,
        evidence,
        ..
    }] = &r.alarms[..]
    else {
        panic!("{:?}", r.alarms);
    };
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(evidence).unwrap()).unwrap();
    assert!(ev["verified_checkpoint"]
        .as_str()
        .unwrap()
        .contains("\n2\n"));
    assert!(ev["presented_checkpoint"]
        .as_str()
        .unwrap()
        .contains("\n3\n"));
    assert_eq!(r.size, 2, "state does not advance past a fork");
    assert!(
        r.bundles.is_empty(),
        "nothing from the forked view is trusted"
    );
    // Evidence stops every later run.
    assert!(matches!(
        &run(&mut a).alarms[..],
        [Alarm::ForkEvidence { .. }]
    ));
}

#[test]
fn same_size_different_root_and_rollback_are_forks() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    fx.publish(2, &[MINER]);
    let mut a = fx.auditor();
    run(&mut a);
    fx.log.inner.lock().unwrap().entries.pop();
    let r = run(&mut a);
    assert!(
        matches!(
            &r.alarms[..],
            [Alarm::Fork {
                old_size: 2,
                new_size: 1,
                ..
            }]
        ),
        "{:?}",
        r.alarms
    );

    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    let mut a = fx.auditor();
    run(&mut a);
    fx.log.inner.lock().unwrap().entries[0] = b"other".to_vec();
    let r = run(&mut a);
    assert!(
        matches!(
            &r.alarms[..],
            [Alarm::Fork {
                old_size: 1,
                new_size: 1,
                ..
            }]
        ),
        "{:?}",
        r.alarms
    );
}

#[test]
fn bad_checkpoint_signature_is_an_alarm() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    fx.log.inner.lock().unwrap().wrong_key = true;
    let r = run(&mut fx.auditor());
    assert!(
        matches!(&r.alarms[..], [Alarm::CheckpointSignature { .. }]),
        "{:?}",
        r.alarms
    );
    assert_eq!(r.size, 0);
}

#[test]
fn unauthorised_signer_and_junk_entries_are_alarms() {
    let fx = Fx::new();
    let b = Fx::bundle(1, &[CLEAN]);
    fx.log.store(&b);
    // The reviewer may log reviews, not rules.
    fx.log.append(fx.statement(&b, 1, Vec::new(), &fx.reviewer));
    fx.log.append(b"not a statement".to_vec());
    let r = run(&mut fx.auditor());
    assert!(
        matches!(
            &r.alarms[..],
            [
                Alarm::InvalidEntry { index: 0, .. },
                Alarm::InvalidEntry { index: 1, .. }
            ]
        ),
        "{:?}",
        r.alarms
    );
    assert!(r.alarms[0].to_string().contains("rules"), "{}", r.alarms[0]);
    assert!(r.bundles.is_empty());
}

#[test]
fn corrupt_state_is_an_error() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    let mut a = fx.auditor();
    run(&mut a);
    let state = a.dir().join("state.json");
    let text = std::fs::read_to_string(&state)
        .unwrap()
        .replace("\"size\": 1", "\"size\": 3");
    std::fs::write(&state, text).unwrap();
    assert!(matches!(
        a.run_once(),
        Err(vitrine_audit::AuditError::CorruptState { .. })
    ));
}

#[test]
fn long_log_across_entry_bundles() {
    let fx = Fx::new();
    let mut a = fx.auditor();
    for v in 1..=300u64 {
        fx.log.append(format!("junk {v}").into_bytes());
        if v % 100 == 0 {
            let r = run(&mut a);
            assert_eq!(r.alarms.len(), 100);
            assert_eq!(r.size, v);
        }
    }
}

/// Records what an auditor hands over; fails on the first `verified` call
/// when told to.
#[derive(Default)]
struct Recorder {
    checkpoints: Vec<u64>,
    statements: Vec<(u64, String, String)>,
    bundles: Vec<(u64, Vec<String>)>,
    verified: Vec<u64>,
    fail: bool,
}

impl vitrine_audit::Observer for Recorder {
    fn checkpoint(&mut self, _note: &[u8], cp: &Checkpoint) -> Result<(), String> {
        self.checkpoints.push(cp.size);
        Ok(())
    }

    fn statement(
        &mut self,
        index: u64,
        signer: &str,
        statement: &Statement,
        _entry: &[u8],
    ) -> Result<(), String> {
        self.statements
            .push((index, signer.to_owned(), statement.kind().name().to_owned()));
        Ok(())
    }

    fn bundle(
        &mut self,
        report: &vitrine_audit::BundleReport,
        _bundle: &Bundle,
        rules: &std::collections::BTreeMap<String, vitrine_lint::RuleText>,
    ) -> Result<(), String> {
        assert!(rules.values().all(|r| r.text.starts_with("rule ")));
        self.bundles
            .push((report.index, rules.keys().cloned().collect()));
        Ok(())
    }

    fn verified(&mut self, size: u64) -> Result<(), String> {
        if self.fail {
            return Err("disk full".into());
        }
        self.verified.push(size);
        Ok(())
    }
}

#[test]
fn an_observer_sees_what_was_verified_and_its_failure_holds_the_state_back() {
    let fx = Fx::new();
    fx.publish(1, &[CLEAN]);
    fx.publish(2, &[CLEAN, MINER]);
    let mut a = fx.auditor();
    // The observer fails: the pass fails and the state does not advance.
    let mut failing = Recorder {
        fail: true,
        ..Recorder::default()
    };
    let err = a.run_once_observed(&mut failing).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(failing.statements.len(), 2);
    // So the next pass hands the same entries over again.
    let mut r = Recorder::default();
    let report = a.run_once_observed(&mut r).unwrap();
    assert_eq!(report.size, 2);
    assert_eq!(r.checkpoints, [2]);
    assert_eq!(
        r.statements,
        [
            (0, "publisher.example".to_owned(), "rules".to_owned()),
            (1, "publisher.example".to_owned(), "rules".to_owned())
        ]
    );
    assert_eq!(r.bundles[1].0, 1);
    assert_eq!(
        r.bundles[1].1,
        ["rules/main.yar:Miner_Demo", "rules/main.yar:Ransom_Demo"]
    );
    assert_eq!(r.verified, [2]);
    // Nothing new: the checkpoint again (for its fresh cosignatures), no
    // entries.
    let mut again = Recorder::default();
    a.run_once_observed(&mut again).unwrap();
    assert_eq!(again.checkpoints, [2]);
    assert!(again.statements.is_empty());
    assert_eq!(again.verified, [2]);
}
