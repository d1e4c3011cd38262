//! `vault open` with three keyholders (2 of 3) against the same operation
//! without them: logging the access, proving it and checking the proof,
//! which is all the vault did before keyholders (decrypting a small
//! sample takes microseconds). Everything on 127.0.0.1: an in-process log,
//! the intake's store, three keyholder servers.
//!
//! Run: `cargo bench --workspace --locked --bench vault` (or bench/vault.sh).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vitrine_intake::server::{open_dir, Intake};
use vitrine_intake::{LogClient, NewSample, Vault};
use vitrine_log::{init, Authorization, Log, MemoryStorage};
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Access, Sha256 as StSha, Statement, StatementType, Text, Token};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key(name: &str) -> SignerKey {
    SignerKey::generate(name, SignatureType::Ed25519).unwrap()
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log_key = key("log.example/bench");
    let intake_key = key("intake.example/bench");
    let analyst = key("analyst.example/bench");
    let dir = tempfile::tempdir().unwrap();
    let log_url = rt.block_on(async {
        let storage = Arc::new(MemoryStorage::new());
        init(&*storage, &log_key).unwrap();
        let auth = Authorization::new()
            .allow(
                [StatementType::Receipt, StatementType::Deletion],
                intake_key.verifier(),
            )
            .allow([StatementType::Access], analyst.verifier());
        let log = Log::builder(storage, log_key.clone())
            .authorization(auth)
            .batch(64, Duration::from_millis(1))
            .open()
            .unwrap();
        let app = vitrine_server::router(vitrine_server::AppState::new(Arc::new(log)));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    });
    let policy = format!("log {}\nquorum none\n", log_key.verifier());
    let mut kh_conf = String::new();
    for i in 0..3 {
        let kdir = dir.path().join(format!("kh{i}"));
        std::fs::write(dir.path().join("policy"), &policy).unwrap();
        let public = vitrine_keyholder::init(
            &kdir,
            &format!("kh{i}.example"),
            &policy,
            &[(analyst.verifier(), None)],
        )
        .unwrap();
        let k = Arc::new(vitrine_keyholder::Keyholder::open(&kdir).unwrap());
        let url = rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(vitrine_keyholder::server::serve(
                k,
                l,
                std::future::pending(),
            ));
            format!("http://{addr}")
        });
        kh_conf.push_str(&format!(
            "[[keyholder]]\nkey = \"{public}\"\nurl = \"{url}\"\n"
        ));
    }
    let idir = dir.path().join("intake");
    std::fs::create_dir_all(&idir).unwrap();
    std::fs::write(idir.join("custody.policy"), &policy).unwrap();
    std::fs::write(
        idir.join("intake.toml"),
        format!(
            "log-url = \"{log_url}\"\nlog-key = \"{}\"\ncustody-policy = \"custody.policy\"\n[[analyst]]\nkey = \"{}\"\n{kh_conf}",
            log_key.verifier(),
            analyst.verifier()
        ),
    )
    .unwrap();
    std::fs::write(idir.join("intake.key"), intake_key.to_private_text()).unwrap();
    let intake: Intake = open_dir(&idir).unwrap();
    let content = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0bench sample".to_vec();
    let sha: [u8; 32] = Sha256::digest(&content).into();
    let keys: Vec<_> = intake
        .config()
        .keyholders
        .iter()
        .map(|k| k.key.clone())
        .collect();
    let _ = intake
        .store()
        .put(
            &NewSample {
                tenant: "t-bench",
                sha256: sha,
                size: content.len() as u64,
                metadata: "{}",
                policy_id: "p",
                policy_sha256: "00",
                content: Some(&content),
                now: now(),
            },
            &keys,
            2,
        )
        .unwrap();
    let vault = Vault::new(intake.store(), intake.config(), intake.key()).unwrap();
    let log = LogClient::new(&log_url, log_key.verifier()).unwrap();
    let custody = intake.config().custody.clone().unwrap();

    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..n + 10 {
        // Without keyholders: record for the tenant's audit, log, prove,
        // check (the vault's other steps).
        let t = Instant::now();
        let note = Statement::Access(Access {
            who: Token::new(analyst.name()).unwrap(),
            purpose: Text::new(format!("bench {i}")).unwrap(),
            tenant: Token::new("t-bench").unwrap(),
            sample: StSha(sha),
            time: now(),
            expires: now() + 600,
            recipient: StSha([9; 32]),
        })
        .sign(&analyst)
        .unwrap();
        let event = intake
            .store()
            .record_event(
                "t-bench",
                &vitrine_intake::EventRow {
                    sha256: hex::encode(sha),
                    kind: "access".into(),
                    who: None,
                    detail: "bench".into(),
                    time: now(),
                    note: String::new(),
                    log_index: None,
                },
            )
            .unwrap();
        let index = log.add(&note).unwrap();
        intake.store().set_event_index(event, index).unwrap();
        let proof = log.prove(&note, index).unwrap();
        vitrine_intake::verify_access(intake.config(), &custody, "t-bench", &note, &proof).unwrap();
        let d0 = t.elapsed();
        // With them: the whole vault open, keyholders included.
        let t = Instant::now();
        let r = vault
            .open(
                &sha,
                Some("t-bench"),
                &format!("bench {i}"),
                &analyst,
                now(),
                &mut |_| Ok(()),
            )
            .unwrap();
        let d1 = t.elapsed();
        assert_eq!(r.plaintext, content);
        if i >= 10 {
            without.push(d0);
            with.push(d1);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (w50, w95) = (percentile(&mut with, 0.5), percentile(&mut with, 0.95));
    let (o50, o95) = (
        percentile(&mut without, 0.5),
        percentile(&mut without, 0.95),
    );
    println!("vault open, {n} runs each, 3 keyholders (2 of 3) on 127.0.0.1");
    println!(
        "  without keyholders (audit, log, prove, check): p50 {:.2} ms  p95 {:.2} ms",
        ms(o50),
        ms(o95)
    );
    println!(
        "  with keyholders (the whole open):               p50 {:.2} ms  p95 {:.2} ms",
        ms(w50),
        ms(w95)
    );
    println!(
        "  the keyholder path adds:                        p50 {:.2} ms  p95 {:.2} ms",
        ms(w50.saturating_sub(o50)),
        ms(w95.saturating_sub(o95))
    );
}
