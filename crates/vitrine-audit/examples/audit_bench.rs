//! Audit throughput: a log of BUNDLES rule-bundle versions (default 240),
//! each the team's malware corpus (31 rules in 6 files) with one rule
//! changed per version and a review statement between bundles, audited
//! from scratch in one pass, then incrementally in passes of 10 new
//! versions. The log is served from memory, so the figures are the
//! monitor's own cost (tree verification, signature checks, bundle
//! hashing and parsing, linting, diffs, state writes), not the network's.
//!
//! Then the same entries are logged again in a real `vitrine-log` data
//! directory served by `vitrine-server` on 127.0.0.1, and audited cold over
//! HTTP (loopback, one connection at a time).
//!
//!   cargo run --release -p vitrine-audit --example audit_bench
//!   BUNDLES=1000 cargo run --release -p vitrine-audit --example audit_bench

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use vitrine_audit::{Auditor, Source};
use vitrine_bundle::Bundle;
use vitrine_log::Authorization;
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Review, Rules, Statement, StatementType, Verdict};
use vitrine_tlog::{encode_entry_bundle, Checkpoint, MemoryTree, TilePath};

const ORIGIN: &str = "bench.example/log";

#[derive(Default)]
struct Inner {
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    content: HashMap<String, Vec<u8>>,
}

#[derive(Clone)]
struct MemLog {
    inner: Arc<Mutex<Inner>>,
    key: Arc<SignerKey>,
}

impl Source for MemLog {
    fn get(&self, path: &str, _limit: usize) -> Result<Option<Vec<u8>>, String> {
        let inner = self.inner.lock().unwrap();
        if path == "checkpoint" {
            let cp = Checkpoint::new(ORIGIN, inner.tree.size(), inner.tree.root());
            return Ok(Some(cp.sign(&self.key).unwrap().to_bytes()));
        }
        if let Some(hex) = path.strip_prefix("content/sha256/") {
            return Ok(inner.content.get(hex).cloned());
        }
        let tile = TilePath::parse(path).map_err(|e| e.to_string())?;
        let start = tile.index() as usize * 256;
        let end = start + usize::from(tile.width());
        Ok(Some(
            encode_entry_bundle(&inner.entries[start..end]).unwrap(),
        ))
    }
}

fn main() {
    let n: u64 = std::env::var("BUNDLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let key = |name: &str, seed: u8| {
        SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32]).unwrap()
    };
    let log = MemLog {
        inner: Arc::default(),
        key: Arc::new(key(ORIGIN, 1)),
    };
    let publisher = key("publisher.example", 2);
    let reviewer = key("reviewer.example", 3);

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vitrine-lint/corpus/malware");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                format!("rules/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    let rules_per_bundle =
        vitrine_lint::lint_sources(files.iter().map(|(f, s)| (f.as_str(), s.as_str())))
            .unwrap()
            .rules
            .len();

    let publish = |version: u64| {
        // One rule changes per version: a new mutex name in Conti's rule.
        let mut files = files.clone();
        for (_, src) in files.iter_mut() {
            *src = src.replace("kjsidugidf99439", &format!("kjsidugidf{version:05}"));
        }
        let bundle = Bundle::build(
            "daily",
            version,
            1_767_225_600,
            1_769_904_000,
            files
                .into_iter()
                .map(|(p, s)| (p, s.into_bytes()))
                .collect(),
        )
        .unwrap();
        let st = Statement::Rules(Rules {
            sha256: vitrine_statements::Sha256(Sha256::digest(&bundle).into()),
            size: bundle.len() as u64,
            version,
            created: 1_767_225_600,
            expires: 1_769_904_000,
            bundle: None,
            allow: Vec::new(),
        })
        .sign(&publisher)
        .unwrap();
        let review = Statement::Review(Review {
            subject: vitrine_statements::Sha256(Sha256::digest(&bundle).into()),
            verdict: Verdict::Approve,
            comment: None,
            report: None,
        })
        .sign(&reviewer)
        .unwrap();
        let mut inner = log.inner.lock().unwrap();
        inner
            .content
            .insert(hex::encode(Sha256::digest(&bundle)), bundle.clone());
        for e in [st, review] {
            inner.tree.push_data(&e);
            inner.entries.push(e);
        }
        bundle.len()
    };

    let mut bytes = 0usize;
    for v in 1..=n {
        bytes += publish(v);
    }
    let auth = Authorization::new()
        .allow([StatementType::Rules], publisher.verifier())
        .allow([StatementType::Review], reviewer.verifier());
    let tmp = tempfile::tempdir().unwrap();
    let mut auditor = Auditor::new(log.clone(), log.key.verifier(), auth, tmp.path()).unwrap();

    let t = Instant::now();
    let r = auditor.run_once().unwrap();
    let cold = t.elapsed().as_secs_f64();
    assert!(r.alarms.is_empty(), "{:?}", r.alarms);
    assert_eq!(r.bundles.len() as u64, n);
    assert!(r.bundles.iter().skip(1).all(|b| b.changed.len() == 1));
    println!(
        "cold audit: {n} bundles ({rules_per_bundle} rules each, {:.1} MiB), {} entries in {cold:.3} s: {:.0} bundles/s, {:.0} rules/s",
        bytes as f64 / 1048576.0,
        r.size,
        n as f64 / cold,
        (n as usize * rules_per_bundle) as f64 / cold,
    );

    // Incremental passes of 10 new versions each.
    let passes = 10;
    let mut total = 0.0;
    for p in 0..passes {
        for v in 0..10 {
            publish(n + 1 + p * 10 + v);
        }
        let t = Instant::now();
        let r = auditor.run_once().unwrap();
        total += t.elapsed().as_secs_f64();
        assert_eq!(r.bundles.len(), 10);
    }
    println!(
        "incremental: {passes} passes of 10 new bundles, {:.1} ms per pass: {:.0} bundles/s, {:.0} rules/s",
        1000.0 * total / passes as f64,
        (passes * 10) as f64 / total,
        (passes as usize * 10 * rules_per_bundle) as f64 / total,
    );

    // The same log over HTTP from the real server.
    let inner = log.inner.lock().unwrap();
    let data_dir = tmp.path().join("log");
    let log_vkey = vitrine_log::DataDir::init(&data_dir, ORIGIN).unwrap();
    let data = vitrine_log::DataDir::open(&data_dir).unwrap();
    let auth = Authorization::new()
        .allow([StatementType::Rules], publisher.verifier())
        .allow([StatementType::Review], reviewer.verifier());
    let server_log = Arc::new(
        vitrine_log::Log::builder(data.storage.clone(), data.key.clone())
            .authorization(auth.clone())
            .batch(256, std::time::Duration::from_millis(2))
            .open()
            .unwrap(),
    );
    for (hex, bytes) in &inner.content {
        data.content.put(hex, bytes).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let entries = inner.entries.clone();
    drop(inner);
    let l = server_log.clone();
    rt.block_on(async move {
        let mut pending = Vec::new();
        for e in entries {
            let l = l.clone();
            pending.push(tokio::spawn(async move { l.add(e).await.unwrap() }));
        }
        for p in pending {
            p.await.unwrap();
        }
    });
    let app = vitrine_server::router(vitrine_server::AppState::new(server_log).content(
        data.content.clone(),
        vitrine_note::Verifiers::new(),
        1 << 26,
    ));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut http = Auditor::new(
        vitrine_audit::HttpSource::new(&url).unwrap(),
        log_vkey,
        auth,
        tmp.path().join("http-state"),
    )
    .unwrap();
    let t = Instant::now();
    let r = http.run_once().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(r.alarms.is_empty(), "{:?}", r.alarms);
    let b = r.bundles.len();
    println!(
        "cold audit over HTTP (vitrine-server, loopback): {b} bundles, {} entries in {secs:.3} s: {:.0} bundles/s, {:.0} rules/s",
        r.size,
        b as f64 / secs,
        (b * rules_per_bundle) as f64 / secs,
    );
}
