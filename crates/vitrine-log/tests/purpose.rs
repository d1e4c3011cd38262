//! Logs split by purpose: a rules log takes only `rules`, `release` and
//! `review`; a custody log only `receipt`, `access` and `deletion` —
//! whatever the authorization allows — so custody traffic never reaches
//! the log endpoints read.

use std::sync::Arc;
use std::time::Duration;

use vitrine_log::*;
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Receipt, Rules, Sha256, Statement, StatementType, Token};

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
}

fn receipt(signer: &SignerKey, i: u64) -> Vec<u8> {
    let mut sample = [0u8; 32];
    sample[..8].copy_from_slice(&i.to_be_bytes());
    Statement::Receipt(Receipt {
        sample: Sha256(sample),
        tenant: Token::new("t-5f2a9c").unwrap(),
        policy: Token::new("default").unwrap(),
        policy_sha256: Sha256([3; 32]),
        time: 1_767_225_600 + i,
        endpoint: Sha256([4; 32]),
        nonce: Sha256(sample),
        ledger_seq: i,
        ledger_head: Sha256([5; 32]),
    })
    .sign(signer)
    .unwrap()
}

fn rules(signer: &SignerKey) -> Vec<u8> {
    Statement::Rules(Rules {
        sha256: Sha256([9; 32]),
        size: 1000,
        version: 1,
        created: 1_767_225_600,
        expires: 1_769_817_600,
        bundle: None,
        allow: Vec::new(),
    })
    .sign(signer)
    .unwrap()
}

fn open(
    origin: &str,
    seed: u8,
    purpose: Purpose,
    auth: &Authorization,
) -> (Log, Arc<MemoryStorage>) {
    let log_key = key(origin, seed);
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &log_key).unwrap();
    let log = Log::builder(storage.clone(), log_key)
        .authorization(auth.clone())
        .purpose(Some(purpose))
        .batch(256, Duration::from_millis(5))
        .open()
        .unwrap();
    (log, storage)
}

#[test]
fn a_log_refuses_the_other_logs_statements_whoever_signs_them() {
    // One signer allowed everything: only the purpose stands in the way.
    let signer = key("vendor.example/all", 1);
    let auth = Authorization::new().allow(StatementType::ALL, signer.verifier());
    let (rules_log, _) = open("log.example/rules", 2, Purpose::Rules, &auth);
    let (custody_log, _) = open("log.example/custody", 3, Purpose::Custody, &auth);
    for (log, note, kind, purpose) in [
        (
            &rules_log,
            receipt(&signer, 1),
            StatementType::Receipt,
            Purpose::Rules,
        ),
        (
            &custody_log,
            rules(&signer),
            StatementType::Rules,
            Purpose::Custody,
        ),
    ] {
        match log.add_blocking(note) {
            Err(AddError::Rejected(Rejection::WrongLog {
                kind: k,
                purpose: p,
            })) => {
                assert_eq!((k, p), (kind, purpose));
            }
            other => panic!("expected WrongLog, got {other:?}"),
        }
    }
    let err = rules_log.add_blocking(receipt(&signer, 2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rejected: receipt statements go to the custody log; this is the rules log"
    );
    assert_eq!(rules_log.add_blocking(rules(&signer)).unwrap(), 0);
    assert_eq!(custody_log.add_blocking(receipt(&signer, 3)).unwrap(), 0);
    assert_eq!((rules_log.size(), custody_log.size()), (1, 1));
}

#[test]
fn a_100000_receipt_custody_log_leaves_the_rules_log_untouched() {
    let publisher = key("publisher.example/p", 4);
    let intake = key("intake.example/i", 5);
    let auth = Authorization::new()
        .allow([StatementType::Rules], publisher.verifier())
        .allow(
            [StatementType::Receipt, StatementType::Deletion],
            intake.verifier(),
        );
    let (rules_log, rules_storage) = open("log.example/rules", 6, Purpose::Rules, &auth);
    let (custody_log, _) = open("log.example/custody", 7, Purpose::Custody, &auth);
    assert_eq!(rules_log.add_blocking(rules(&publisher)).unwrap(), 0);
    let rules_checkpoint = rules_log.checkpoint();

    const N: u64 = 100_000;
    let custody_log = Arc::new(custody_log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..N {
            let (log, note) = (custody_log.clone(), receipt(&intake, i));
            tasks.spawn(async move { log.add(note).await });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
    });
    assert_eq!(custody_log.size(), N);

    // The rules log: the same checkpoint, byte for byte, one entry, and no
    // tile beyond it in its storage.
    assert_eq!(rules_log.checkpoint(), rules_checkpoint);
    assert_eq!(rules_log.size(), 1);
    let beyond = vitrine_tlog::TilePath::parse("tile/entries/000.p/2").unwrap();
    assert_eq!(rules_storage.read_tile(&beyond).unwrap(), None);
    let own = vitrine_tlog::TilePath::parse("tile/entries/000.p/1").unwrap();
    let bundle = rules_storage.read_tile(&own).unwrap().unwrap();
    assert_eq!(
        vitrine_tlog::decode_entry_bundle(&bundle).unwrap(),
        vec![rules(&publisher)]
    );
}
