//! The center over real log servers (`vitrine-server` over `vitrine-log`
//! data directories) on 127.0.0.1: what its monitor verified is what its
//! pages and JSON show, bad input answers 400/404, and a fork is an alarm
//! at the top of every page.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256 as Sha};
use vitrine_bundle::Bundle;
use vitrine_center::{LogKind, LogSource, Monitor};
use vitrine_log::{Authorization, DataDir, Log};
use vitrine_note::{SignatureType, SignerKey, Verifiers};
use vitrine_statements::{
    Access, Allow, CommitId, Deletion, Receipt, Release, Review, Rules, Sha256, Statement,
    StatementType, Text, Token, Verdict,
};

fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
}

/// 2026-10-15 and 2026-11-15, UTC.
const OCT: u64 = 1_792_022_400;
const NOV: u64 = 1_794_700_800;

const A1: &str = "rule Ransom_Note\n{\n    strings:\n        $a = \"Your files have been encrypted\"\n    condition:\n        $a\n}\n";
const A2: &str = "rule Ransom_Note\n{\n    strings:\n        $a = \"Your files have been encrypted\"\n        $b = \"bitcoin wallet\"\n    condition:\n        any of them\n}\n";
const B: &str = "rule Old_Miner\n{\n    strings:\n        $a = \"stratum+tcp://\"\n    condition:\n        $a\n}\n";
const LEAK: &str =
    "rule Leak_Hunt\n{\n    strings:\n        $a = \"TOP SECRET\"\n    condition:\n        $a\n}\n";

struct Served {
    url: String,
    log: Arc<Log>,
    data: DataDir,
    _rt: tokio::runtime::Runtime,
}

fn serve(dir: &std::path::Path, auth: Authorization) -> Served {
    let data = DataDir::open(dir).unwrap();
    let log = Arc::new(
        Log::builder(data.storage.clone(), data.key.clone())
            .authorization(auth)
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
    Served {
        url,
        log,
        data,
        _rt: rt,
    }
}

fn sha(b: &[u8]) -> Sha256 {
    Sha256(Sha::digest(b).into())
}

struct Fx {
    dir: tempfile::TempDir,
    rules: Served,
    rules_key: vitrine_note::VerifierKey,
    rules_auth: Authorization,
    custody: Served,
    custody_key: vitrine_note::VerifierKey,
    custody_auth: Authorization,
    publisher: SignerKey,
    /// daily v2's SHA-256 (hex).
    daily2: String,
    release_sha: String,
    sample: String,
}

fn publish(
    s: &Served,
    publisher: &SignerKey,
    name: &str,
    version: u64,
    created: u64,
    files: &[(&str, &str)],
    allow: Vec<Allow>,
) -> Vec<u8> {
    let b = Bundle::build(
        name,
        version,
        created,
        created + 90 * 86_400,
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
            .collect(),
    )
    .unwrap();
    s.data
        .content
        .put(&hex::encode(Sha::digest(&b)), &b)
        .unwrap();
    let st = Statement::Rules(Rules {
        sha256: sha(&b),
        size: b.len() as u64,
        version,
        created,
        expires: created + 90 * 86_400,
        bundle: Some(Token::new(name).unwrap()),
        allow,
    });
    s.log.add_blocking(st.sign(publisher).unwrap()).unwrap();
    b
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let publisher = key("publisher.example/alice", 1);
    let reviewer = key("reviewer.example/rita", 2);
    let releaser = key("release.example/ci", 3);
    let intake = key("intake.example/in", 4);
    let analyst = key("analyst.example/ann", 5);
    let rules_key = DataDir::init(&dir.path().join("rules"), "log.example/rules").unwrap();
    let rules_auth = Authorization::new()
        .allow([StatementType::Rules], publisher.verifier())
        .allow([StatementType::Review], reviewer.verifier())
        .allow([StatementType::Release], releaser.verifier());
    let rules = serve(&dir.path().join("rules"), rules_auth.clone());
    let custody_key = DataDir::init(&dir.path().join("custody"), "log.example/custody").unwrap();
    let custody_auth = Authorization::new()
        .allow(
            [StatementType::Receipt, StatementType::Deletion],
            intake.verifier(),
        )
        .allow([StatementType::Access], analyst.verifier());
    let custody = serve(&dir.path().join("custody"), custody_auth.clone());

    publish(
        &rules,
        &publisher,
        "daily",
        1,
        OCT,
        &[("main.yar", &format!("{A1}{B}"))],
        vec![],
    );
    let d2 = publish(
        &rules,
        &publisher,
        "daily",
        2,
        NOV,
        &[("main.yar", &format!("{A2}{LEAK}"))],
        vec![Allow {
            finding: Token::new("VL101:Leak_Hunt").unwrap(),
            reason: Text::new("court order <script>alert(1)</script> 2026-117").unwrap(),
        }],
    );
    publish(
        &rules,
        &publisher,
        "linux",
        1,
        NOV,
        &[("linux.yar", B)],
        vec![],
    );
    // A review of daily v2, with its report in the content store.
    let report = b"# Review of daily 2\n\nLeak_Hunt is acknowledged; approved.\n";
    rules
        .data
        .content
        .put(&hex::encode(Sha::digest(report)), report)
        .unwrap();
    let review = Statement::Review(Review {
        subject: sha(&d2),
        verdict: Verdict::Approve,
        comment: Some(Text::new("read every rule").unwrap()),
        report: Some(sha(report)),
    });
    rules
        .log
        .add_blocking(review.sign(&reviewer).unwrap())
        .unwrap();
    let artifact = b"the vitrine binary";
    let release = Statement::Release(Release {
        version: Token::new("0.4.0").unwrap(),
        target: Token::new("x86_64-unknown-linux-gnu").unwrap(),
        sha256: sha(artifact),
        commit: CommitId::parse(&"ab".repeat(20)).unwrap(),
        source_sha256: sha(b"source"),
        lockfile_sha256: sha(b"lock"),
        recipe_sha256: sha(b"recipe"),
        toolchain: Token::new("rustc-1.95.0").unwrap(),
    });
    rules
        .log
        .add_blocking(release.sign(&releaser).unwrap())
        .unwrap();

    // Custody: two tenants over two months.
    let sample = sha(b"a sample");
    for (tenant, time) in [("t-alpha", OCT), ("t-alpha", NOV), ("t-beta", NOV)] {
        let r = Statement::Receipt(Receipt {
            sample,
            tenant: Token::new(tenant).unwrap(),
            policy: Token::new("default").unwrap(),
            policy_sha256: sha(b"policy"),
            time,
            endpoint: sha(tenant.as_bytes()),
            nonce: sha(&time.to_be_bytes()),
            ledger_seq: 1,
            ledger_head: sha(b"head"),
        });
        custody.log.add_blocking(r.sign(&intake).unwrap()).unwrap();
    }
    let access = Statement::Access(Access {
        who: Token::new("analyst.example/ann").unwrap(),
        purpose: Text::new("triage of a suspected false positive").unwrap(),
        tenant: Token::new("t-alpha").unwrap(),
        sample,
        time: NOV + 60,
        expires: NOV + 3600,
        recipient: sha(b"recipient key"),
    });
    custody
        .log
        .add_blocking(access.sign(&analyst).unwrap())
        .unwrap();
    let deletion = Statement::Deletion(Deletion {
        tenant: Token::new("t-alpha").unwrap(),
        sample,
        reason: Text::new("retention period over").unwrap(),
        time: NOV + 120,
    });
    custody
        .log
        .add_blocking(deletion.sign(&intake).unwrap())
        .unwrap();
    Fx {
        dir,
        rules,
        rules_key,
        rules_auth,
        custody,
        custody_key,
        custody_auth,
        publisher,
        daily2: hex::encode(Sha::digest(&d2)),
        release_sha: hex::encode(Sha::digest(artifact)),
        sample: hex::encode(sample.0),
    }
}

impl Fx {
    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("center")
    }

    fn monitor(&self, kind: LogKind, url: &str) -> Monitor {
        let (key, auth) = match kind {
            LogKind::Rules => (self.rules_key.clone(), self.rules_auth.clone()),
            LogKind::Custody => (self.custody_key.clone(), self.custody_auth.clone()),
        };
        std::fs::create_dir_all(self.state()).unwrap();
        Monitor::new(
            &LogSource {
                kind,
                url: url.to_owned(),
                key,
                auth,
            },
            &self.state(),
            &vitrine_center::index_path(&self.state()),
            Verifiers::new(),
        )
        .unwrap()
    }
}

/// The center's pages on 127.0.0.1; `get` returns (status, body).
struct Pages {
    base: String,
    http: reqwest::blocking::Client,
    _rt: tokio::runtime::Runtime,
}

impl Pages {
    fn new(state: &std::path::Path) -> Pages {
        let app = vitrine_center::web::router(vitrine_center::web::Web::new(
            vitrine_center::index_path(state),
        ));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Pages {
            base,
            http: reqwest::blocking::Client::new(),
            _rt: rt,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            r.headers().contains_key("server-timing"),
            "{path}: no Server-Timing"
        );
        (status, r.text().unwrap())
    }

    fn json(&self, path: &str) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = self.get(&format!("{path}{sep}format=json"));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

#[test]
fn the_center_shows_what_its_monitor_verified() {
    let fx = fixture();
    let mut rules = fx.monitor(LogKind::Rules, &fx.rules.url);
    let mut custody = fx.monitor(LogKind::Custody, &fx.custody.url);
    let r = rules.pass().unwrap();
    assert_eq!(r.size, 5);
    assert!(r.alarms.is_empty(), "{:?}", r.alarms);
    custody.pass().unwrap();
    // A second pass with nothing new changes nothing and counts nothing twice.
    rules.pass().unwrap();
    custody.pass().unwrap();
    let pages = Pages::new(&fx.state());

    let home = pages.json("/");
    let logs = home["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    let rules_log = logs.iter().find(|l| l["log"] == "rules").unwrap();
    assert_eq!(rules_log["size"], 5);
    assert_eq!(rules_log["origin"], "log.example/rules");
    assert!(rules_log["checkpoint"]
        .as_str()
        .unwrap()
        .contains("log.example/rules\n5\n"));
    assert_eq!(home["bundles"], 3);
    assert_eq!(home["reviews"], 1);
    assert_eq!(home["releases"], 1);
    assert_eq!(home["custody"], 5);
    let channels: Vec<&str> = home["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["daily", "linux"]);

    // A version: its changes, its acknowledged finding, its review with the
    // report fetched from the log and checked.
    let v = pages.json("/bundles/daily/2");
    assert_eq!(v["sha256"], fx.daily2.as_str());
    assert_eq!(v["previous"], 1);
    assert_eq!(v["added"][0]["id"], "main.yar:Leak_Hunt");
    assert_eq!(v["removed"][0]["id"], "main.yar:Old_Miner");
    assert_eq!(v["changed"][0]["id"], "main.yar:Ransom_Note");
    let f = &v["findings"].as_array().unwrap()[0];
    assert_eq!(f["id"], "VL101");
    assert_eq!(f["rule"], "main.yar:Leak_Hunt");
    assert!(f["acknowledged"]
        .as_str()
        .unwrap()
        .starts_with("court order"));
    let rev = &v["reviews"][0];
    assert_eq!(rev["verdict"], "approve");
    assert_eq!(rev["reviewer"], "reviewer.example/rita");
    assert!(rev["report"].as_str().unwrap().contains("approved"));
    assert_eq!(v["index"], 1);

    // The changed rule's diff, and the removed rule's last source.
    let changed_href = v["changed"][0]["href"].as_str().unwrap();
    assert_eq!(
        changed_href,
        "/bundles/daily/2/rules/main%2Eyar%3ARansom%5FNote"
    );
    let rule = pages.json(changed_href);
    assert_eq!(rule["change"], "changed");
    let diff = rule["diff"].as_str().unwrap();
    assert!(diff.contains("+        $b = \"bitcoin wallet\""), "{diff}");
    assert!(diff.contains("-        $a\n"), "{diff}");
    let removed = pages.json(v["removed"][0]["href"].as_str().unwrap());
    assert_eq!(removed["version"], 1);
    assert!(removed["source"]
        .as_str()
        .unwrap()
        .contains("stratum+tcp://"));
    let leak = pages.json("/bundles/daily/2/rules/main.yar:Leak_Hunt");
    assert_eq!(leak["change"], "added");
    assert_eq!(leak["findings"][0]["id"], "VL101");

    // The HTML escapes what publishers wrote.
    let (status, html) = pages.get("/bundles/daily/2");
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Bundle daily, version 2</h1>"));
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(
        html.contains("alert(1)"),
        "the acknowledgement is shown, escaped"
    );

    // Search: by name, by string in the source, by SHA-256, by finding ID.
    let by_name = pages.json("/search?q=leak_hunt");
    assert_eq!(by_name["read_as"], "text");
    assert_eq!(
        by_name["hits"][0]["href"],
        "/bundles/daily/2/rules/main%2Eyar%3ALeak%5FHunt"
    );
    let by_string = pages.json("/search?q=bitcoin%20wallet");
    assert_eq!(by_string["hits"][0]["why"], "its source contains the text");
    let by_sha = pages.json(&format!("/search?q={}", fx.daily2));
    assert_eq!(by_sha["hits"][0]["href"], "/bundles/daily/2");
    let by_release = pages.json(&format!("/search?q={}", fx.release_sha));
    assert_eq!(by_release["hits"][0]["kind"], "release");
    let by_sample = pages.json(&format!("/search?q={}", fx.sample));
    assert_eq!(by_sample["hits"].as_array().unwrap().len(), 5);
    let by_finding = pages.json("/search?q=vl101");
    assert_eq!(by_finding["read_as"], "finding");
    assert!(by_finding["hits"][0]["why"]
        .as_str()
        .unwrap()
        .starts_with("acknowledged by the publisher: court order"));
    // A wildcard is a character, not a pattern.
    assert!(pages.json("/search?q=%25")["hits"]
        .as_array()
        .unwrap()
        .is_empty());

    // Releases.
    let rel = pages.json("/releases");
    assert_eq!(rel[0]["version"], "0.4.0");
    assert_eq!(rel[0]["commit"], "ab".repeat(20).as_str());
    assert_eq!(rel[0]["artifacts"][0]["sha256"], fx.release_sha.as_str());

    // Custody per month and per tenant, and the statements behind a count.
    let c = pages.json("/custody");
    assert_eq!(c["total"], 5);
    let months = c["months"].as_array().unwrap();
    assert_eq!(months[0]["key"], "2026-11");
    assert_eq!(
        (
            &months[0]["receipts"],
            &months[0]["accesses"],
            &months[0]["deletions"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert_eq!(months[1]["key"], "2026-10");
    assert_eq!(months[1]["receipts"], 1);
    let alpha = c["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "t-alpha")
        .unwrap();
    assert_eq!(alpha["receipts"], 2);
    let access = &c["recent_accesses"][0];
    assert_eq!(access["who"], "analyst.example/ann");
    assert!(access["detail"]
        .as_str()
        .unwrap()
        .starts_with("triage of a suspected false positive"));
    let behind = pages.json(months[0]["receipts_href"].as_str().unwrap());
    assert_eq!(behind["total"], 2);
    assert!(behind["statements"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] == "receipt" && s["time"].as_str().unwrap().starts_with("2026-11")));
    let (status, html) = pages.get("/custody");
    assert_eq!(status, 200);
    // Two charts: per month and per tenant, the tenants on the second.
    assert_eq!(html.matches("<svg role=\"img\"").count(), 2);
    assert!(html.contains("aria-label=\"Custody statements per tenant"));
    assert!(html.contains(">t-beta<"));

    // An entry and the checkpoint that proves it.
    let e = pages.json("/logs/custody/entries/3");
    assert_eq!(e["kind"], "access");
    assert_eq!(e["signer"], "analyst.example/ann");
    assert!(e["checkpoint"]
        .as_str()
        .unwrap()
        .contains("log.example/custody\n5\n"));
    let e = pages.json("/logs/rules/entries/1");
    assert_eq!(e["bundle_href"], "/bundles/daily/2");
    let _ = &fx.publisher;
}

#[test]
fn bad_addresses_and_queries_answer_400_and_404_never_500() {
    let fx = fixture();
    fx.monitor(LogKind::Rules, &fx.rules.url).pass().unwrap();
    let pages = Pages::new(&fx.state());
    for (path, want) in [
        ("/nowhere", 404),
        ("/bundles/daily/9", 404),
        ("/bundles/nochannel/1", 404),
        ("/bundles/daily/x", 404),
        ("/bundles/daily/99999999999999999999", 404),
        ("/bundles/daily/2/rules/main.yar:Nope", 404),
        ("/bundles?channel=nochannel", 404),
        ("/bundles?page=0", 400),
        ("/bundles?page=abc", 400),
        ("/bundles?page=999", 404),
        ("/bundles?color=red", 400),
        ("/search", 400),
        ("/search?q=", 400),
        ("/search?q=%1b%5b31m", 400),
        ("/custody/statements?month=2026-13", 400),
        ("/custody/statements?month=../../etc", 400),
        ("/custody/statements?kind=everything", 400),
        ("/logs/other/entries/0", 404),
        ("/logs/rules/entries/-1", 404),
        ("/logs/rules/entries/99", 404),
        ("/logs/custody/entries/0", 404),
    ] {
        let (status, body) = pages.get(path);
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.contains("<h1>"), "{path}: an HTML error page");
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = pages.get(&format!("{path}{sep}format=json"));
        assert_eq!(status, want, "{path} as JSON");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], want);
    }
    let long = format!("/search?q={}", "a".repeat(201));
    assert_eq!(pages.get(&long).0, 400);
}

#[test]
fn pages_answer_503_until_the_index_exists() {
    let dir = tempfile::tempdir().unwrap();
    let pages = Pages::new(dir.path());
    let (status, body) = pages.get("/");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not readable yet"));
}

#[test]
fn a_fork_is_an_alarm_with_its_evidence_on_every_page_while_it_stands() {
    let fx = fixture();
    fx.monitor(LogKind::Rules, &fx.rules.url).pass().unwrap();
    // Another tree under the same key: one different bundle, then as many
    // entries as the tree the monitor verified and more.
    let fork_dir = fx.dir.path().join("fork");
    std::fs::create_dir_all(&fork_dir).unwrap();
    let key = fx.rules.data.key.clone();
    std::fs::write(
        fork_dir.join(vitrine_log::KEY_FILE),
        format!("{}\n", key.to_private_text()),
    )
    .unwrap();
    let storage = vitrine_log::FsStorage::open(&fork_dir).unwrap();
    vitrine_log::init(&storage, &key).unwrap();
    drop(storage);
    let fork = serve(&fork_dir, fx.rules_auth.clone());
    for v in 1..=6 {
        publish(
            &fork,
            &fx.publisher,
            "daily",
            v,
            NOV,
            &[("main.yar", B)],
            vec![],
        );
    }
    let mut m = fx.monitor(LogKind::Rules, &fork.url);
    let r = m.pass().unwrap();
    assert!(
        matches!(r.alarms.as_slice(), [vitrine_audit::Alarm::Fork { .. }]),
        "{:?}",
        r.alarms
    );
    // The next pass refuses to go on while the evidence is there: the alarm
    // stands.
    let r = m.pass().unwrap();
    assert!(matches!(
        r.alarms.as_slice(),
        [vitrine_audit::Alarm::ForkEvidence { .. }]
    ));
    let pages = Pages::new(&fx.state());
    for path in ["/", "/bundles", "/custody", "/bundles/daily/2"] {
        let (status, html) = pages.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(html.contains("id=\"alarms\""), "{path}: no alarm shown");
        assert!(html.contains("fork"), "{path}");
        assert!(html.contains("Evidence: the two checkpoints"), "{path}");
        assert!(html.contains("The checkpoint presented now:\nlog.example/rules\n"));
        // Where the server keeps its state is nobody's business.
        let state = fx.state().display().to_string();
        assert!(!html.contains(&state), "{path} shows {state}");
    }
    // Nothing of the fork was indexed: version 2 is still the original.
    let v = pages.json("/bundles/daily/2");
    assert_eq!(v["sha256"], fx.daily2.as_str());
    let standing: Vec<Value> = pages.json("/")["logs"].as_array().unwrap().to_vec();
    assert_eq!(standing[0]["size"], 5);
}

#[test]
fn an_unreachable_log_is_the_monitors_last_error_not_an_alarm() {
    let fx = fixture();
    let mut m = fx.monitor(LogKind::Rules, "http://127.0.0.1:9");
    assert!(m.pass().is_err());
    let pages = Pages::new(&fx.state());
    let home = pages.json("/");
    let l = &home["logs"][0];
    assert!(l["last_error"]
        .as_str()
        .unwrap()
        .contains("fetching checkpoint"));
    let (_, html) = pages.get("/");
    assert!(!html.contains("id=\"alarms\""));
}
