//! The transparency center's page benchmark (run by `bench/center.sh`):
//! a rules log of VERSIONS bundle versions over three channels (each
//! version changes a few of its 40 rules; some carry an acknowledged
//! finding, some a review) and a custody log of STATEMENTS receipts,
//! accesses and deletions over 24 months and 50 tenants, both real logs
//! served on 127.0.0.1. The center's monitors verify and index both;
//! then every kind of page is fetched ROUNDS times and the server's own
//! time for it (`Server-Timing`) is reported: p50, p99 and max per page,
//! and whether every page stayed under the 200 ms target.
//!
//! Usage: center_bench [VERSIONS [STATEMENTS [ROUNDS]]] (defaults 1000,
//! 100000, 20). Prints one JSON object per page and a summary line. With
//! `CENTER_BENCH_SERVE=1` it then keeps serving the center, to look at.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256 as Sha};
use vitrine_bundle::Bundle;
use vitrine_center::{LogKind, LogSource, Monitor};
use vitrine_log::{Authorization, DataDir, Log};
use vitrine_note::{SignatureType, SignerKey, Verifiers};
use vitrine_statements::{
    Access, Allow, Deletion, Receipt, Review, Rules, Sha256, Statement, StatementType, Text, Token,
    Verdict,
};

const START: u64 = 1_735_689_600; // 2025-01-01
const MONTH: u64 = 30 * 86_400;

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
}

fn sha(b: &[u8]) -> Sha256 {
    Sha256(Sha::digest(b).into())
}

struct Served {
    url: String,
    log: Arc<Log>,
    data: DataDir,
}

fn serve(rt: &tokio::runtime::Runtime, dir: &std::path::Path, auth: Authorization) -> Served {
    let data = DataDir::open(dir).unwrap();
    let log = Arc::new(
        Log::builder(data.storage.clone(), data.key.clone())
            .authorization(auth)
            .batch(1024, Duration::from_millis(5))
            .open()
            .unwrap(),
    );
    let app = vitrine_server::router(vitrine_server::AppState::new(log.clone()).content(
        data.content.clone(),
        Verifiers::new(),
        1 << 20,
    ));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served { url, log, data }
}

/// Adds all `notes`: one after the other when `in_order` (bundle versions
/// must be logged in their order), else concurrently.
fn add_all(rt: &tokio::runtime::Runtime, log: &Arc<Log>, notes: Vec<Vec<u8>>, in_order: bool) {
    rt.block_on(async {
        if in_order {
            for n in notes {
                log.add(n).await.unwrap();
            }
            return;
        }
        for chunk in notes.chunks(4096) {
            let mut set = tokio::task::JoinSet::new();
            for n in chunk {
                let log = log.clone();
                let n = n.clone();
                set.spawn(async move { log.add(n).await });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap().unwrap();
            }
        }
    });
}

fn rule(i: usize, rev: usize) -> String {
    format!(
        "rule Family_{i:03}\n{{\n    meta:\n        revision = {rev}\n    strings:\n        $a = \"marker-{i}-{rev}\"\n        $b = {{ 4D 5A ?? ?? {:02X} }}\n    condition:\n        uint16(0) == 0x5A4D and any of them\n}}\n",
        i % 256
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: VERSIONS STATEMENTS ROUNDS"))
        .collect();
    let versions = args.first().copied().unwrap_or(1000);
    let statements = args.get(1).copied().unwrap_or(100_000);
    let rounds = args.get(2).copied().unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let publisher = key("publisher.example/p", 1);
    let reviewer = key("reviewer.example/r", 2);
    let intake = key("intake.example/i", 3);
    let analyst = key("analyst.example/a", 4);
    let rules_key = DataDir::init(&dir.path().join("rules"), "log.example/rules").unwrap();
    let rules_auth = Authorization::new()
        .allow([StatementType::Rules], publisher.verifier())
        .allow([StatementType::Review], reviewer.verifier());
    let rules = serve(&rt, &dir.path().join("rules"), rules_auth.clone());
    let custody_key = DataDir::init(&dir.path().join("custody"), "log.example/custody").unwrap();
    let custody_auth = Authorization::new()
        .allow(
            [StatementType::Receipt, StatementType::Deletion],
            intake.verifier(),
        )
        .allow([StatementType::Access], analyst.verifier());
    let custody = serve(&rt, &dir.path().join("custody"), custody_auth.clone());

    let t = Instant::now();
    let channels = ["daily", "linux", "tools"];
    let mut notes = Vec::new();
    let mut revs = [[0usize; 40]; 3];
    let mut last_sha = String::new();
    for v in 0..versions {
        let ch = v % 3;
        let version = (v / 3 + 1) as u64;
        // Each version revises three rules.
        for k in 0..3 {
            revs[ch][(v * 7 + k * 13) % 40] += 1;
        }
        let mut src: String = (0..40).map(|i| rule(i, revs[ch][i])).collect();
        let mut allow = Vec::new();
        if v % 10 == 0 {
            src.push_str(&format!(
                "rule Leak_Hunt_{v}\n{{\n    strings:\n        $a = \"TOP SECRET\"\n    condition:\n        $a\n}}\n"
            ));
            allow.push(Allow {
                finding: Token::new(format!("VL101:Leak_Hunt_{v}")).unwrap(),
                reason: Text::new("court order 2026-117").unwrap(),
            });
        }
        let created = START + (v as u64 * 24 * MONTH) / versions as u64;
        let b = Bundle::build(
            channels[ch],
            version,
            created,
            created + 365 * 86_400,
            vec![(format!("{}.yar", channels[ch]), src.into_bytes())],
        )
        .unwrap();
        let hex = hex::encode(Sha::digest(&b));
        rules.data.content.put(&hex, &b).unwrap();
        notes.push(
            Statement::Rules(Rules {
                sha256: sha(&b),
                size: b.len() as u64,
                version,
                created,
                expires: created + 365 * 86_400,
                bundle: Some(Token::new(channels[ch]).unwrap()),
                allow,
            })
            .sign(&publisher)
            .unwrap(),
        );
        if v % 5 == 0 {
            notes.push(
                Statement::Review(Review {
                    subject: sha(&b),
                    verdict: if v % 50 == 0 {
                        Verdict::Reject
                    } else {
                        Verdict::Approve
                    },
                    comment: Some(Text::new("read every rule").unwrap()),
                    report: None,
                })
                .sign(&reviewer)
                .unwrap(),
            );
        }
        last_sha = hex;
    }
    add_all(&rt, &rules.log, notes, true);
    let mut notes = Vec::with_capacity(statements);
    for i in 0..statements {
        let time = START + (i as u64 * 24 * MONTH) / statements as u64;
        let tenant = Token::new(format!("t-{:02}", i % 50)).unwrap();
        let sample = sha(&(i / 4).to_be_bytes());
        let s = match i % 4 {
            0 | 1 => Statement::Receipt(Receipt {
                sample,
                tenant,
                policy: Token::new("default").unwrap(),
                policy_sha256: sha(b"policy"),
                time,
                endpoint: sha(&(i % 50).to_be_bytes()),
                nonce: sha(&i.to_be_bytes()),
                ledger_seq: i as u64,
                ledger_head: sha(b"head"),
            }),
            2 => Statement::Access(Access {
                who: Token::new("analyst.example/a").unwrap(),
                purpose: Text::new("triage").unwrap(),
                tenant,
                sample,
                time,
                expires: time + 3600,
                recipient: sha(b"recipient"),
            }),
            _ => Statement::Deletion(Deletion {
                tenant,
                sample,
                reason: Text::new("retention period over").unwrap(),
                time,
            }),
        };
        let signer = if i % 4 == 2 { &analyst } else { &intake };
        notes.push(s.sign(signer).unwrap());
    }
    add_all(&rt, &custody.log, notes, false);
    eprintln!(
        "logged {versions} bundle versions and {statements} custody statements in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let state = dir.path().join("center");
    std::fs::create_dir_all(&state).unwrap();
    let index = vitrine_center::index_path(&state);
    let t = Instant::now();
    for (kind, s, key, auth) in [
        (LogKind::Rules, &rules, rules_key, rules_auth),
        (LogKind::Custody, &custody, custody_key, custody_auth),
    ] {
        let mut m = Monitor::new(
            &LogSource {
                kind,
                url: s.url.clone(),
                key,
                auth,
            },
            &state,
            &index,
            Verifiers::new(),
        )
        .unwrap();
        let r = m.pass().unwrap();
        assert!(r.alarms.is_empty(), "{:?}", r.alarms);
    }
    eprintln!(
        "the center's monitors verified and indexed both logs in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let app = vitrine_center::web::router(vitrine_center::web::Web::new(index));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::blocking::Client::new();
    let mid = (versions / 3 / 2).max(1);
    let pages = [
        "/".to_owned(),
        "/bundles".to_owned(),
        // A later page where there is one.
        format!(
            "/bundles?channel=daily&page={}",
            if versions / 3 > 100 { 2 } else { 1 }
        ),
        format!("/bundles/daily/{mid}"),
        format!("/bundles/daily/{mid}/rules/daily.yar:Family_007"),
        "/search?q=Family_01".to_owned(),
        "/search?q=marker-7-".to_owned(),
        format!("/search?q={last_sha}"),
        "/search?q=VL101".to_owned(),
        "/releases".to_owned(),
        "/custody".to_owned(),
        "/custody/statements?month=2025-06&kind=access".to_owned(),
        format!(
            "/custody/statements?tenant=t-07&page={}",
            if statements / 50 > 200 { 3 } else { 1 }
        ),
        format!("/logs/custody/entries/{}", statements / 2),
    ];
    let mut worst: f64 = 0.0;
    for p in &pages {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let r = http.get(format!("{base}{p}")).send().unwrap();
            assert_eq!(r.status(), 200, "{p}");
            let ms: f64 = r
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("render;dur="))
                .and_then(|v| v.parse().ok())
                .expect("Server-Timing");
            bytes = r.bytes().unwrap().len();
            times.push(ms);
        }
        times.sort_by(f64::total_cmp);
        let pct = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let max = *times.last().unwrap();
        worst = worst.max(max);
        println!(
            "{}",
            serde_json::json!({
                "page": p, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": max, "bytes": bytes
            })
        );
    }
    if std::env::var_os("CENTER_BENCH_SERVE").is_some() {
        eprintln!("CENTER_BENCH_SERVE is set: serving the center on {base}/ until killed");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "summary": true, "versions": versions, "statements": statements, "rounds": rounds,
            "worst_ms": worst, "target_ms": 200, "pass": worst < 200.0
        })
    );
}
