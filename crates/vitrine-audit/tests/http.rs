//! The monitor over HTTP against the real log server (`vitrine-server` over
//! a `vitrine-log` data directory), on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use vitrine_audit::{Alarm, Auditor, HttpSource};
use vitrine_bundle::Bundle;
use vitrine_log::{Authorization, DataDir, Log};
use vitrine_note::{SignatureType, SignerKey, Verifiers};
use vitrine_statements::{Rules, Statement, StatementType};

fn publisher() -> SignerKey {
    SignerKey::from_seed("publisher.example/p", SignatureType::Ed25519, [9; 32]).unwrap()
}

fn bundle(version: u64, src: &str) -> Vec<u8> {
    Bundle::build(
        "daily",
        version,
        1_767_225_600,
        1_769_904_000,
        vec![("main.yar".to_owned(), src.as_bytes().to_vec())],
    )
    .unwrap()
}

fn statement(b: &[u8], version: u64) -> Vec<u8> {
    Statement::Rules(Rules {
        sha256: vitrine_statements::Sha256(Sha256::digest(b).into()),
        size: b.len() as u64,
        version,
        created: 1_767_225_600,
        expires: 1_769_904_000,
        bundle: None,
        allow: Vec::new(),
    })
    .sign(&publisher())
    .unwrap()
}

#[test]
fn audit_over_http_names_the_top_secret_rule_and_withheld_content() {
    let tmp = tempfile::tempdir().unwrap();
    let log_vkey = DataDir::init(&tmp.path().join("log"), "log.example/http").unwrap();
    let data = DataDir::open(&tmp.path().join("log")).unwrap();
    let auth = Authorization::new().allow([StatementType::Rules], publisher().verifier());
    let log = Arc::new(
        Log::builder(data.storage.clone(), data.key.clone())
            .authorization(auth.clone())
            .batch(16, Duration::from_millis(2))
            .open()
            .unwrap(),
    );
    let app = vitrine_server::router(vitrine_server::AppState::new(log.clone()).content(
        data.content.clone(),
        Verifiers::new(),
        1 << 20,
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let clean = "rule Miner { strings: $a = \"stratum+tcp://\" condition: uint32(0) == 0x464C457F and $a }\n";
    let leak = "rule Leak_Hunt { strings: $a = \"TOP SECRET\" condition: $a }\n";
    let v1 = bundle(1, clean);
    let v2 = bundle(2, &format!("{clean}{leak}"));
    let v3 = bundle(3, clean);
    for b in [&v1, &v2] {
        data.content
            .put(&hex::encode(Sha256::digest(b)), b)
            .unwrap();
    }
    // v3 is logged but its content is withheld.
    let mut indexes = Vec::new();
    for (b, v) in [(&v1, 1), (&v2, 2), (&v3, 3)] {
        indexes.push(log.add_blocking(statement(b, v)).unwrap());
    }

    let mut auditor = Auditor::new(
        HttpSource::new(&url).unwrap(),
        log_vkey,
        auth,
        tmp.path().join("audit"),
    )
    .unwrap();
    let r = auditor.run_once().unwrap();
    assert_eq!(r.size, 3);
    assert_eq!(r.bundles.len(), 2);
    let b = &r.bundles[1];
    assert_eq!((b.index, b.version), (indexes[1], 2));
    assert_eq!(b.added, vec!["main.yar:Leak_Hunt".to_owned()]);
    assert!(b
        .unacknowledged_high()
        .any(|f| f.finding.id == "VL101" && f.finding.rule == "Leak_Hunt"));
    assert_eq!(
        r.alarms,
        vec![Alarm::BundleUnavailable {
            index: indexes[2],
            sha256: hex::encode(Sha256::digest(&v3)),
            reason: "the content store does not have it (404)".into(),
        }]
    );
}
