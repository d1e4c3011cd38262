//! Tests against running servers: a real log (`vitrine-log` behind
//! `vitrine-server`) and the intake, both on 127.0.0.1 port 0.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use vitrine_egress::{Metadata, ReceiptBundle};
use vitrine_intake::server::{
    open_dir, open_dir_with, serve, Intake, Submission, SubmissionAnswer,
};
use vitrine_intake::{token_hash, IntakeStore, LogClient, Stage, Vault, VaultError};
use vitrine_log::{init, Authorization, Log, MemoryStorage};
use vitrine_note::{SignatureType, SignerKey, Verifiers};
use vitrine_server::{router, AppState};
use vitrine_statements::{Statement, StatementType};

const POLICY_SHA: [u8; 32] = [5; 32];
/// What [`submission`] says about the endpoint that sent it.
const ENDPOINT_ID: [u8; 32] = [6; 32];
const NONCE: [u8; 32] = [7; 32];
const LEDGER_HEAD: [u8; 32] = [8; 32];

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The in-process log here has no witnesses.
fn no_witnesses() -> vitrine_tlog::Policy {
    vitrine_tlog::Policy::parse(b"quorum none\n").unwrap()
}

/// What a receipt for [`submission`] from tenant `tenant` must say.
fn expected(sample: [u8; 32], tenant: &str) -> vitrine_egress::Expected<'_> {
    vitrine_egress::Expected {
        sample,
        policy_sha256: POLICY_SHA,
        tenant,
        endpoint: ENDPOINT_ID,
        nonce: NONCE,
        ledger_seq: 0,
        ledger_head: LEDGER_HEAD,
        time: unix_now(),
    }
}

struct Env {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    /// The keyholders' own directories (apart from the intake's).
    kh_dir: tempfile::TempDir,
    /// The keyholder servers, to stop some.
    keyholders: Vec<tokio::task::JoinHandle<()>>,
    /// The custody policy the keyholders and the intake use.
    policy: String,
    log_url: String,
    url: String,
    intake: Arc<Intake>,
    log_key: SignerKey,
    intake_key: SignerKey,
    analyst: SignerKey,
    http: reqwest::blocking::Client,
    /// The intake's database, if its state is in PostgreSQL.
    db: Option<vitrine_pg::TestDatabase>,
}

fn key(name: &str) -> SignerKey {
    SignerKey::generate(name, SignatureType::Ed25519).unwrap()
}

fn env() -> Env {
    env_with("")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A keyholder with the key in `dir/<name>.key` (made if absent),
/// honouring `analyst`, trusting `policy` for the custody log, recording
/// honoured accesses in `db`.
fn keyholder(
    dir: &Path,
    name: &str,
    policy: &str,
    analyst: &SignerKey,
    db: &Path,
) -> (
    vitrine_keyholder::Keyholder,
    vitrine_keyholder::KeyholderKey,
) {
    let kfile = dir.join(format!("{name}.key"));
    if !kfile.exists() {
        let secret = vitrine_keyholder::KeyholderSecret::generate(name).unwrap();
        std::fs::write(&kfile, secret.to_text()).unwrap();
    }
    let secret =
        vitrine_keyholder::KeyholderSecret::parse(&std::fs::read_to_string(&kfile).unwrap())
            .unwrap();
    let public = secret.public();
    let policy = vitrine_tlog::Policy::parse(policy.as_bytes()).unwrap();
    let config = vitrine_keyholder::Config {
        log_key: policy.logs()[0].key.clone(),
        policy,
        max_access_lifetime: 3600,
        clock_skew: 60,
        analysts: vec![vitrine_keyholder::Analyst {
            key: analyst.verifier(),
            tenants: None,
        }],
    };
    (
        vitrine_keyholder::Keyholder::new(secret, config, db).unwrap(),
        public,
    )
}

/// Starts a log and an intake. Tenants: `t-a` (token `token-a`), `t-b`
/// (`token-b`), `t-slow` (`token-slow`, 3 requests a minute).
fn env_with(extra_tenant_conf: &str) -> Env {
    env_on(extra_tenant_conf, None)
}

/// [`env`] with the intake's state in a PostgreSQL database of its own.
fn env_pg() -> Env {
    env_on("", Some(vitrine_pg::TestDatabase::create()))
}

/// [`env_with`], the intake's state in `db` if there is one, else in its
/// data directory.
fn env_on(extra_tenant_conf: &str, db: Option<vitrine_pg::TestDatabase>) -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log_key = key("log.example/test");
    let intake_key = key("intake.example/i1");
    let analyst = key("analyst@vendor.example");
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
            .batch(64, Duration::from_millis(2))
            .open()
            .unwrap();
        let app = router(AppState::new(Arc::new(log)));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    });
    // Three keyholders, 2 of 3 needed; the custody policy asks no
    // witnesses here (tests with witnesses run real processes).
    let policy = format!("log {}\nquorum none\n", log_key.verifier());
    let kh_dir = tempfile::tempdir().unwrap();
    let mut keyholders = Vec::new();
    let mut kh_conf = String::new();
    for i in 0..3 {
        let (k, public) = keyholder(
            kh_dir.path(),
            &format!("kh{i}.example"),
            &policy,
            &analyst,
            &kh_dir.path().join(format!("kh{i}.db")),
        );
        let (url, handle) = rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let h = tokio::spawn(async move {
                vitrine_keyholder::server::serve(Arc::new(k), l, std::future::pending())
                    .await
                    .unwrap()
            });
            (format!("http://{addr}"), h)
        });
        keyholders.push(handle);
        kh_conf.push_str(&format!(
            "[[keyholder]]\nkey = \"{public}\"\nurl = \"{url}\"\n"
        ));
    }
    std::fs::write(dir.path().join("custody.policy"), &policy).unwrap();
    let conf = format!(
        r#"log-url = "{log_url}"
log-key = "{}"
max-request = 65536
custody-policy = "custody.policy"
[[tenant]]
id = "t-a"
token-sha256 = "{}"
[[tenant]]
id = "t-b"
token-sha256 = "{}"
[[tenant]]
id = "t-slow"
token-sha256 = "{}"
rate-per-minute = 3
{extra_tenant_conf}
[[analyst]]
key = "{}"
{kh_conf}"#,
        log_key.verifier(),
        hex::encode(token_hash("token-a")),
        hex::encode(token_hash("token-b")),
        hex::encode(token_hash("token-slow")),
        analyst.verifier(),
    );
    std::fs::write(dir.path().join("intake.toml"), conf).unwrap();
    std::fs::write(dir.path().join("intake.key"), intake_key.to_private_text()).unwrap();
    // Room for the fleet test's 32 concurrent submissions of one tenant
    // (the default cap, 8, answers the rest 429 before reading them).
    let intake = match &db {
        None => open_dir(dir.path()).unwrap(),
        Some(db) => open_dir_with(
            dir.path(),
            Arc::new(vitrine_intake::PgStore::connect(&db.url(), 8).unwrap()),
        )
        .unwrap(),
    };
    let intake = Arc::new(intake.tenant_concurrency(64));
    let url = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let i = intake.clone();
        tokio::spawn(async move { serve(i, l, std::future::pending()).await.unwrap() });
        format!("http://{addr}")
    });
    Env {
        rt,
        dir,
        kh_dir,
        keyholders,
        policy,
        log_url,
        url,
        intake,
        log_key,
        intake_key,
        analyst,
        http: reqwest::blocking::Client::new(),
        db,
    }
}

fn submission(content: Option<&[u8]>, sha: [u8; 32], size: u64) -> Submission {
    Submission {
        policy_id: "exec-only".into(),
        policy_sha256: hex::encode(POLICY_SHA),
        metadata: Metadata {
            sha256: hex::encode(sha),
            size,
            kind: "elf".into(),
            detections: vec!["Test.Rule".into()],
            bundle_version: Some(3),
            path: Some("~/a.out".into()),
        },
        content: content.map(|c| base64::engine::general_purpose::STANDARD.encode(c)),
        endpoint: hex::encode(ENDPOINT_ID),
        nonce: hex::encode(NONCE),
        ledger_seq: 0,
        ledger_head: hex::encode(LEDGER_HEAD),
    }
}

/// A sample with a marker that must never appear on disk in the clear.
fn sample(marker: &str) -> Vec<u8> {
    let mut s = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    s.extend_from_slice(marker.as_bytes());
    s.extend_from_slice(&[0x42; 200]);
    s
}

impl Env {
    fn post(&self, token: Option<&str>, ctype: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .post(format!("{}/v1/submissions", self.url))
            .header("content-type", ctype)
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_slice(&resp.bytes().unwrap()).unwrap_or(serde_json::Value::Null),
        )
    }

    fn submit(&self, token: &str, content: &[u8]) -> SubmissionAnswer {
        let sha: [u8; 32] = Sha256::digest(content).into();
        let body =
            serde_json::to_vec(&submission(Some(content), sha, content.len() as u64)).unwrap();
        let (status, json) = self.post(Some(token), "application/json", body);
        assert_eq!(status, 201, "{json}");
        serde_json::from_value(json).unwrap()
    }

    fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&resp.bytes().unwrap()).unwrap(),
        )
    }

    fn vault(&self) -> Vault<'_> {
        Vault::new(self.intake.store(), self.intake.config(), self.intake.key()).unwrap()
    }

    fn log_entries(&self) -> Vec<Statement> {
        let client = LogClient::new(&self.log_url, self.log_key.verifier()).unwrap();
        let v = Verifiers::from_keys([self.intake_key.verifier(), self.analyst.verifier()]);
        client
            .entries()
            .unwrap()
            .iter()
            .map(|e| Statement::open(e, &v).unwrap().0)
            .collect()
    }
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn submission_is_encrypted_and_receipt_verifies() {
    let env = env();
    let content = sample("MARKER-ENCRYPTED-AT-REST");
    let answer = env.submit("token-a", &content);
    assert!(answer.content_stored);
    let sha: [u8; 32] = Sha256::digest(&content).into();
    let verified = answer
        .receipt
        .verify(
            &env.intake_key.verifier(),
            &env.log_key.verifier(),
            &no_witnesses(),
            &expected(sha, "t-a"),
        )
        .unwrap();
    assert_eq!(verified.receipt.tenant.as_str(), "t-a");
    assert_eq!(verified.receipt.policy.as_str(), "exec-only");
    // Round trip through the ledger's JSON form.
    let json = serde_json::to_vec(&answer.receipt).unwrap();
    assert_eq!(ReceiptBundle::parse(&json).unwrap(), answer.receipt);
    // A receipt for another sample does not verify.
    assert!(answer
        .receipt
        .verify(
            &env.intake_key.verifier(),
            &env.log_key.verifier(),
            &no_witnesses(),
            &expected([0; 32], "t-a"),
        )
        .is_err());
    for f in all_files(env.dir.path()) {
        let data = std::fs::read(&f).unwrap();
        assert!(
            !contains(&data, b"MARKER-ENCRYPTED-AT-REST"),
            "{}",
            f.display()
        );
    }
    assert!(matches!(
        env.log_entries().as_slice(),
        [Statement::Receipt(r)] if r.sample.0 == sha
    ));
}

#[test]
fn tenants_are_isolated() {
    let env = env();
    let content = sample("MARKER-TENANT-A");
    let a = env.submit("token-a", &content);
    let path = format!("/v1/submissions/{}", a.sha256);

    let (s, own) = env.get("token-a", &path);
    assert_eq!(s, 200);
    assert_eq!(own["sha256"], a.sha256.as_str());
    let (s, list) = env.get("token-a", "/v1/submissions");
    assert_eq!(s, 200);
    assert_eq!(list["submissions"].as_array().unwrap().len(), 1);

    // Tenant B sees nothing of A's: not the sample, not the list, not the
    // receipt, not the audit view.
    let (s, err) = env.get("token-b", &path);
    assert_eq!(s, 404, "{err}");
    assert_eq!(err["error"]["code"], "not_found");
    let (_, list) = env.get("token-b", "/v1/submissions");
    assert!(list["submissions"].as_array().unwrap().is_empty());
    let (_, audit) = env.get("token-b", "/v1/audit");
    assert!(audit["receipts"].as_array().unwrap().is_empty());
    assert!(audit["events"].as_array().unwrap().is_empty());

    // An access to A's sample shows in A's audit only.
    env.vault()
        .open(
            &hex::decode(&a.sha256).unwrap().try_into().unwrap(),
            None,
            "triage of Test.Rule",
            &env.analyst,
            now(),
            &mut |_| Ok(()),
        )
        .unwrap();
    let (_, audit_a) = env.get("token-a", "/v1/audit");
    assert_eq!(audit_a["events"][0]["kind"], "access");
    assert_eq!(audit_a["events"][0]["who"], "analyst@vendor.example");
    assert_eq!(audit_a["events"][0]["detail"], "triage of Test.Rule");
    let (_, audit_b) = env.get("token-b", "/v1/audit");
    assert!(audit_b["events"].as_array().unwrap().is_empty());

    // B submitting the same file gets its own record, and the vault asks
    // whose copy to open.
    env.submit("token-b", &content);
    let err = env
        .vault()
        .open(
            &hex::decode(&a.sha256).unwrap().try_into().unwrap(),
            None,
            "triage",
            &env.analyst,
            now(),
            &mut |_| Ok(()),
        )
        .unwrap_err();
    assert!(matches!(err, VaultError::Ambiguous { .. }), "{err}");
}

#[test]
fn bad_requests_get_4xx_and_store_nothing() {
    let env = env();
    let content = sample("MARKER-BAD");
    let sha: [u8; 32] = Sha256::digest(&content).into();
    let good = |s: &Submission| serde_json::to_vec(s).unwrap();
    let json = "application/json";
    let mut wrong_hash = submission(Some(&content), [1; 32], content.len() as u64);
    wrong_hash.metadata.sha256 = hex::encode([1; 32]);
    let wrong_size = submission(Some(&content), sha, 3);
    let mut bad_policy = submission(None, sha, 1);
    bad_policy.policy_id = "has space".into();
    let mut bad_sha = submission(None, sha, 1);
    bad_sha.metadata.sha256 = "ABC".into();
    // A receipt names the submission's nonce and ledger head: they must be
    // SHA-256-sized hex, or there is nothing to bind.
    let mut bad_nonce = submission(None, sha, 1);
    bad_nonce.nonce = "00".into();
    let mut bad_head = submission(None, sha, 1);
    bad_head.ledger_head = String::new();
    let text = b"Quarterly plan. CONFIDENTIAL. Do not forward.\n";
    let text_doc = submission(Some(text), Sha256::digest(text).into(), text.len() as u64);
    let mut unknown = serde_json::to_value(submission(None, sha, 1)).unwrap();
    unknown["surprise"] = true.into();
    type Case<'a> = (Option<&'a str>, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            None,
            json,
            good(&submission(None, sha, 1)),
            401,
            "unauthorized",
        ),
        (
            Some("nope"),
            json,
            good(&submission(None, sha, 1)),
            401,
            "unauthorized",
        ),
        (
            Some("token-a"),
            "text/plain",
            good(&submission(None, sha, 1)),
            415,
            "unsupported_media_type",
        ),
        (
            Some("token-a"),
            json,
            b"{not json".to_vec(),
            400,
            "bad_request",
        ),
        (
            Some("token-a"),
            json,
            serde_json::to_vec(&unknown).unwrap(),
            400,
            "bad_request",
        ),
        (Some("token-a"), json, good(&wrong_hash), 400, "bad_request"),
        (Some("token-a"), json, good(&wrong_size), 400, "bad_request"),
        (Some("token-a"), json, good(&bad_policy), 400, "bad_request"),
        (Some("token-a"), json, good(&bad_sha), 400, "bad_request"),
        (Some("token-a"), json, good(&bad_nonce), 400, "bad_request"),
        (Some("token-a"), json, good(&bad_head), 400, "bad_request"),
        (
            Some("token-a"),
            json,
            good(&text_doc),
            422,
            "document_refused",
        ),
        (
            Some("token-a"),
            json,
            good(&submission(Some(&vec![0u8; 70_000]), sha, 70_000)),
            413,
            "too_large",
        ),
    ];
    for (token, ctype, body, want, code) in cases {
        let (status, err) = env.post(token, ctype, body);
        assert_eq!(status, want, "{err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    // Rate limit: 3 a minute for t-slow; the 4th (bad or not) is refused.
    for _ in 0..3 {
        let (status, _) = env.post(Some("token-slow"), json, b"{}".to_vec());
        assert_eq!(status, 400);
    }
    let (status, err) = env.post(Some("token-slow"), json, good(&submission(None, sha, 1)));
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );

    // Nothing was stored or logged.
    for t in ["t-a", "t-b", "t-slow"] {
        assert!(env.intake.store().list(t).unwrap().is_empty());
    }
    let files: Vec<_> = all_files(&env.dir.path().join("samples"));
    assert!(files.is_empty(), "{files:?}");
    assert!(env.log_entries().is_empty());
}

#[test]
fn vault_logs_access_before_release() {
    let env = env();
    let content = sample("MARKER-VAULT");
    let a = env.submit("token-a", &content);
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    let mut seen_logged = false;
    let released = env
        .vault()
        .open(
            &sha,
            Some("t-a"),
            "triage, ticket 8812",
            &env.analyst,
            now(),
            &mut |stage| {
                assert_eq!(stage, Stage::AccessLogged);
                seen_logged = true;
                Ok(())
            },
        )
        .unwrap();
    assert!(seen_logged);
    assert_eq!(released.plaintext, content);
    let entries = env.log_entries();
    let Statement::Access(access) = &entries[released.index as usize] else {
        panic!("{entries:?}");
    };
    assert_eq!(access.sample.0, sha);
    assert_eq!(access.who.as_str(), "analyst@vendor.example");
    assert_eq!(access.purpose.as_str(), "triage, ticket 8812");

    // Someone who is not an analyst cannot open it; nothing is logged.
    let before = env.log_entries().len();
    let err = env
        .vault()
        .open(
            &sha,
            None,
            "curious",
            &key("mallory.example"),
            now(),
            &mut |_| Ok(()),
        )
        .unwrap_err();
    assert!(matches!(err, VaultError::NotAnAnalyst { .. }), "{err}");
    assert_eq!(env.log_entries().len(), before);
}

#[test]
fn reading_without_a_logged_access_fails() {
    let env = env();
    let content = sample("MARKER-UNLOGGED");
    let a = env.submit("token-a", &content);
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    // A properly signed access statement that was never logged, with the
    // only proof at hand (the receipt's, for another entry).
    let note = Statement::Access(vitrine_statements::Access {
        who: vitrine_statements::Token::new("analyst@vendor.example").unwrap(),
        purpose: vitrine_statements::Text::new("quietly").unwrap(),
        tenant: vitrine_statements::Token::new("t-a").unwrap(),
        sample: vitrine_statements::Sha256(sha),
        time: now(),
        expires: now() + 60,
        recipient: vitrine_statements::Sha256([9; 32]),
    })
    .sign(&env.analyst)
    .unwrap();
    let proof = vitrine_tlog::TlogProof::parse(a.receipt.tlog_proof.as_bytes()).unwrap();
    let policy = env.intake.config().custody.as_ref().unwrap();
    let err = vitrine_intake::verify_access(env.intake.config(), policy, "t-a", &note, &proof)
        .unwrap_err();
    assert!(matches!(err, VaultError::AccessNotLogged { .. }), "{err}");
    // The receipt itself (logged, but not an access) does not open it either.
    let err = vitrine_intake::verify_access(
        env.intake.config(),
        policy,
        "t-a",
        a.receipt.note.as_bytes(),
        &proof,
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::AccessNotLogged { .. }), "{err}");
}

#[test]
fn vault_stopped_between_log_and_release_leaves_the_access_logged() {
    let env = env();
    let content = sample("MARKER-KILLED");
    let a = env.submit("token-a", &content);
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    let mut released = None;
    let r = env
        .vault()
        .open(&sha, None, "triage", &env.analyst, now(), &mut |_| {
            Err(VaultError::Failpoint("after-access-logged"))
        });
    if let Ok(r) = r {
        released = Some(r);
    }
    assert!(released.is_none());
    let entries = env.log_entries();
    assert!(
        entries
            .iter()
            .any(|s| matches!(s, Statement::Access(x) if x.sample.0 == sha)),
        "{entries:?}"
    );
    let (_, audit) = env.get("token-a", "/v1/audit");
    assert_eq!(audit["events"][0]["kind"], "access");
}

/// The same, with a real crash: a child process aborts at the failpoint.
#[test]
fn vault_process_aborted_between_log_and_release_leaves_the_access_logged() {
    if std::env::var_os("VITRINE_TEST_CHILD").is_some() {
        return;
    }
    let env = env();
    let content = sample("MARKER-ABORTED");
    let a = env.submit("token-a", &content);
    let out = env.dir.path().join("released.bin");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_vault_open", "--ignored", "--nocapture"])
        .env("VITRINE_TEST_CHILD", "1")
        .env("CHILD_DIR", env.dir.path())
        .env("CHILD_SAMPLE", &a.sha256)
        .env("CHILD_ANALYST", env.analyst.to_private_text())
        .env("CHILD_OUT", &out)
        .env(vitrine_intake::FAILPOINT_ENV, "after-access-logged")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(6),
            "killed by SIGABRT at the failpoint: {status}"
        );
    }
    assert!(!out.exists(), "nothing may be released");
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    assert!(env
        .log_entries()
        .iter()
        .any(|s| matches!(s, Statement::Access(x) if x.sample.0 == sha)));
    // Killed right after the log took it: the tenant's audit shows it too.
    let (_, audit) = env.get("token-a", "/v1/audit");
    assert_eq!(audit["events"][0]["kind"], "access", "{audit}");
    assert_eq!(audit["events"][0]["sha256"], a.sha256.as_str(), "{audit}");
}

/// Run by the test above in a child process.
#[test]
#[ignore = "run as a child process by vault_process_aborted_between_log_and_release_leaves_the_access_logged"]
fn child_vault_open() {
    let var = |k: &str| std::env::var(k).unwrap();
    let intake = open_dir(Path::new(&var("CHILD_DIR"))).unwrap();
    let analyst = SignerKey::parse(&var("CHILD_ANALYST")).unwrap();
    let sha: [u8; 32] = hex::decode(var("CHILD_SAMPLE"))
        .unwrap()
        .try_into()
        .unwrap();
    let vault = Vault::new(intake.store(), intake.config(), intake.key()).unwrap();
    let r = vault
        .open(&sha, None, "triage", &analyst, now(), &mut |_| Ok(()))
        .unwrap();
    std::fs::write(var("CHILD_OUT"), r.plaintext).unwrap();
}

#[test]
fn deleted_sample_cannot_be_decrypted_from_disk() {
    let env = env();
    let content = sample("MARKER-DELETED");
    let a = env.submit("token-a", &content);
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    // What an attacker would need: the sealed shares and the ciphertext.
    let db = rusqlite_wrapped(env.dir.path(), &a.sha256);
    let ciphertext: Vec<u8> = all_files(&env.dir.path().join("samples"))
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .next()
        .unwrap();
    assert!(db.len() > 32 && ciphertext.len() > content.len());

    let deleted = env
        .vault()
        .delete(&sha, "t-a", "owner request", 100)
        .unwrap();
    let entries = env.log_entries();
    assert!(matches!(
        &entries[deleted.index as usize],
        Statement::Deletion(d) if d.sample.0 == sha && d.reason.as_str() == "owner request"
    ));
    for f in all_files(env.dir.path()) {
        let data = std::fs::read(&f).unwrap();
        let name = f.display();
        assert!(!contains(&data, b"MARKER-DELETED"), "plaintext in {name}");
        assert!(!contains(&data, &db[..32]), "sealed share in {name}");
        assert!(
            !contains(&data, &ciphertext[24..56]),
            "ciphertext in {name}"
        );
    }
    // The vault has nothing left to open.
    let err = env
        .vault()
        .open(&sha, None, "too late", &env.analyst, now(), &mut |_| Ok(()))
        .unwrap_err();
    assert!(matches!(err, VaultError::NoSuchSample { .. }), "{err}");
    let (_, audit) = env.get("token-a", "/v1/audit");
    assert_eq!(audit["events"][0]["kind"], "deletion");
    let (_, item) = env.get("token-a", &format!("/v1/submissions/{}", a.sha256));
    assert_eq!(item["deleted"], 100);
}

fn rusqlite_wrapped(dir: &Path, sha: &str) -> Vec<u8> {
    let c = rusqlite::Connection::open(dir.join(vitrine_intake::DB_FILE)).unwrap();
    let sealed: String = c
        .query_row(
            "SELECT sealed FROM shares WHERE sha256 = ?1 LIMIT 1",
            [sha],
            |r| r.get(0),
        )
        .unwrap();
    let sealed: vitrine_keyholder::Sealed = serde_json::from_str(&sealed).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(sealed.ct)
        .unwrap()
}

#[test]
fn retention_destroys_expired_samples_and_logs_it() {
    let env = env();
    let content = sample("MARKER-RETENTION");
    let a = env.submit("token-a", &content);
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Not yet due.
    assert!(env.vault().expire(now + 86_400).unwrap().is_empty());
    // 90 days (the default) later.
    let done = env.vault().expire(now + 91 * 86_400).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].sample, sha);
    let entries = env.log_entries();
    assert!(matches!(
        &entries[done[0].index as usize],
        Statement::Deletion(d) if d.reason.as_str() == "retention period of 90 days expired"
    ));
    // Nothing more to do the next time.
    assert!(env.vault().expire(now + 92 * 86_400).unwrap().is_empty());
    drop(env.rt);
}

/// Two retention passes at once (two front ends on one database): one
/// destroys the sample and, before it has logged the deletion, the other
/// finds it destroyed but unlogged. Both sign the deletion with the time
/// the sample was destroyed, so both statements are the same bytes and the
/// log keeps one deletion, at one index.
#[test]
fn two_retention_passes_at_once_log_one_deletion() {
    let env = env();
    let a = env.submit("token-a", &sample("MARKER-TWICE"));
    let sha: [u8; 32] = hex::decode(&a.sha256).unwrap().try_into().unwrap();
    let destroyed_at = unix_now() + 91 * 86_400;
    // Pass A destroys it, and is slow to log.
    assert!(env
        .intake
        .store()
        .destroy("t-a", &sha, destroyed_at)
        .unwrap());
    // Pass B, a few seconds later, finds it destroyed but not logged.
    let done = env.vault().expire(destroyed_at + 5).unwrap();
    assert_eq!(done.len(), 1);
    let entries = env.log_entries();
    let Statement::Deletion(d) = &entries[done[0].index as usize] else {
        panic!("not a deletion: {:?}", entries[done[0].index as usize]);
    };
    assert_eq!(d.time, destroyed_at, "the time it was destroyed, not B's");
    // Pass A's statement is the very same: the log answers its index.
    let a_note = Statement::Deletion(d.clone())
        .sign(&env.intake_key)
        .unwrap();
    let log = LogClient::new(&env.log_url, env.log_key.verifier()).unwrap();
    assert_eq!(log.add(&a_note).unwrap(), done[0].index);
    let deletions = env
        .log_entries()
        .iter()
        .filter(|s| matches!(s, Statement::Deletion(_)))
        .count();
    assert_eq!(deletions, 1);
    drop(env.rt);
}

/// Observation 4: a tenant removed from the configuration is expired
/// with the default retention, not kept forever.
#[test]
fn removed_tenants_samples_expire_too() {
    let env = env();
    let sha = sha_of(&env.submit("token-b", &sample("MARKER-REMOVED")));
    let conf = env.dir.path().join("intake.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    let start = text.find("[[tenant]]\nid = \"t-b\"").unwrap();
    let end = start + text[start..].find("[[tenant]]\nid = \"t-slow\"").unwrap();
    std::fs::write(&conf, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let intake = open_dir(env.dir.path()).unwrap();
    assert!(intake.config().tenant("t-b").is_none());
    let vault = Vault::new(intake.store(), intake.config(), intake.key()).unwrap();
    assert!(vault.expire(now() + 86_400).unwrap().is_empty());
    let done = vault.expire(now() + 91 * 86_400).unwrap();
    assert!(
        done.iter().any(|d| d.tenant == "t-b" && d.sample == sha),
        "{done:?}"
    );
}

// ---- keyholders: the data directory alone decrypts nothing ----

fn sha_of(a: &SubmissionAnswer) -> [u8; 32] {
    hex::decode(&a.sha256).unwrap().try_into().unwrap()
}

/// Observation 1: reading the intake's data directory (and any one
/// keyholder's) decrypts none of 4 stored samples; the same files plus a
/// second keyholder's key would (so the test can tell).
#[test]
fn reading_the_data_directory_and_one_keyholder_decrypts_nothing() {
    let env = env();
    let samples: Vec<Vec<u8>> = (0..4)
        .map(|i| sample(&format!("MARKER-OFFLINE-{i}")))
        .collect();
    let shas: Vec<[u8; 32]> = samples
        .iter()
        .map(|c| sha_of(&env.submit("token-a", c)))
        .collect();
    // No key material of the old kind is left beside the data.
    assert!(!env.dir.path().join("keys").exists());
    let read_key = |i: usize| {
        vitrine_keyholder::KeyholderSecret::parse(
            &std::fs::read_to_string(env.kh_dir.path().join(format!("kh{i}.example.key"))).unwrap(),
        )
        .unwrap()
    };
    // What an attacker holding the data directory and kh0's key gets.
    let store = vitrine_intake::Store::open(env.dir.path()).unwrap();
    let kh0 = read_key(0);
    let mut decrypted = 0;
    for (sha, content) in shas.iter().zip(&samples) {
        let (k, shares) = store.shares("t-a", sha).unwrap();
        assert_eq!((k, shares.len()), (2, 3));
        let mine: Vec<Vec<u8>> = shares
            .iter()
            .filter_map(|w| vitrine_keyholder::open_share(&kh0, &w.sealed, "t-a", sha).ok())
            .collect();
        assert_eq!(mine.len(), 1, "kh0 opens exactly its own share");
        assert!(matches!(
            vitrine_keyholder::combine(2, &mine),
            Err(vitrine_keyholder::KeyError::TooFewShares { have: 1, need: 2 })
        ));
        // Two colluding keyholders would: the test can see a decryption.
        let kh1 = read_key(1);
        let two: Vec<Vec<u8>> = shares
            .iter()
            .filter_map(|w| {
                vitrine_keyholder::open_share(&kh0, &w.sealed, "t-a", sha)
                    .or_else(|_| vitrine_keyholder::open_share(&kh1, &w.sealed, "t-a", sha))
                    .ok()
            })
            .collect();
        let key = vitrine_keyholder::combine(2, &two).unwrap();
        let file = all_files(&env.dir.path().join("samples"))
            .into_iter()
            .find(|f| f.file_name().unwrap() == hex::encode(sha).as_str())
            .unwrap();
        let sealed = std::fs::read(file).unwrap();
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let aad = format!("vitrine-sample-v1\nt-a\n{}\n", hex::encode(sha));
        let plain = chacha20poly1305::XChaCha20Poly1305::new((&key).into())
            .decrypt(
                chacha20poly1305::XNonce::from_slice(&sealed[..24]),
                Payload {
                    msg: &sealed[24..],
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        assert_eq!(&plain, content);
        decrypted += 1;
    }
    assert_eq!(decrypted, 4);
    for f in all_files(env.dir.path())
        .into_iter()
        .chain(all_files(env.kh_dir.path()))
    {
        let data = std::fs::read(&f).unwrap();
        assert!(!contains(&data, b"MARKER-OFFLINE"), "{}", f.display());
    }
}

/// 2 of 3: with one keyholder down the vault opens after a logged access;
/// with two down it refuses, names each keyholder, and releases nothing.
#[test]
fn two_of_three_survive_one_keyholder_down_not_two() {
    let env = env();
    let content = sample("MARKER-2-OF-3");
    let sha = sha_of(&env.submit("token-a", &content));
    env.keyholders[0].abort();
    std::thread::sleep(Duration::from_millis(100));
    let released = env
        .vault()
        .open(
            &sha,
            None,
            "one keyholder down",
            &env.analyst,
            now(),
            &mut |_| Ok(()),
        )
        .unwrap();
    assert_eq!(released.plaintext, content);
    env.keyholders[1].abort();
    std::thread::sleep(Duration::from_millis(100));
    let before = env.log_entries().len();
    let err = env
        .vault()
        .open(
            &sha,
            None,
            "two keyholders down",
            &env.analyst,
            now(),
            &mut |_| Ok(()),
        )
        .unwrap_err();
    let VaultError::TooFewShares {
        released,
        needed,
        failures,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*released, *needed), (1, 2), "{err}");
    let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["kh0.example", "kh1.example"], "{err}");
    // The access was logged all the same: the owner sees the attempt.
    assert_eq!(env.log_entries().len(), before + 1);
}

/// 32 concurrent submissions of one file from one tenant, 20 times: one
/// sample, which decrypts to the original after a logged access.
#[test]
fn concurrent_identical_submissions_store_one_correct_sample() {
    let env = env_with(
        "[[tenant]]\nid = \"t-fleet\"\ntoken-sha256 = \"TOKEN\"\nrate-per-minute = 100000\n"
            .replace("TOKEN", &hex::encode(token_hash("token-fleet")))
            .as_str(),
    );
    for round in 0..20 {
        let content = sample(&format!("MARKER-OUTBREAK-{round}"));
        let sha: [u8; 32] = Sha256::digest(&content).into();
        let body =
            serde_json::to_vec(&submission(Some(&content), sha, content.len() as u64)).unwrap();
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..32)
                .map(|_| {
                    s.spawn(|| {
                        env.post(Some("token-fleet"), "application/json", body.clone())
                            .0
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            statuses.iter().all(|&s| s == 201),
            "round {round}: {statuses:?}"
        );
        let (k, shares) = env.intake.store().shares("t-fleet", &sha).unwrap();
        assert_eq!((k, shares.len()), (2, 3), "round {round}");
        let released = env
            .vault()
            .open(
                &sha,
                Some("t-fleet"),
                "outbreak triage",
                &env.analyst,
                now(),
                &mut |_| Ok(()),
            )
            .unwrap();
        assert_eq!(released.plaintext, content, "round {round}");
    }
    let dir = all_files(&env.dir.path().join("samples"));
    assert_eq!(
        dir.len(),
        20,
        "one file per sample, no temporary files: {dir:?}"
    );
}

/// Observation 3: a resubmission that fails (log down) changes nothing,
/// and a metadata-only resubmission does not destroy held content.
#[test]
fn failed_or_metadata_only_resubmission_destroys_nothing() {
    let env = env();
    let content = sample("MARKER-RESUBMIT");
    let sha = sha_of(&env.submit("token-a", &content));
    // Metadata only: still held.
    let body = serde_json::to_vec(&submission(None, sha, content.len() as u64)).unwrap();
    let (status, _) = env.post(Some("token-a"), "application/json", body);
    assert_eq!(status, 201);
    assert!(
        env.intake
            .store()
            .get("t-a", &sha)
            .unwrap()
            .unwrap()
            .content
    );
    // The log goes away: the resubmission fails and changes nothing.
    let conf = env.dir.path().join("intake.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace(&env.log_url, "http://127.0.0.1:9")).unwrap();
    let down = Arc::new(open_dir(env.dir.path()).unwrap());
    let url = env.rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { serve(down, l, std::future::pending()).await.unwrap() });
        format!("http://{addr}")
    });
    let body = serde_json::to_vec(&submission(Some(&content), sha, content.len() as u64)).unwrap();
    let resp = env
        .http
        .post(format!("{url}/v1/submissions"))
        .bearer_auth("token-a")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    let info = env.intake.store().get("t-a", &sha).unwrap().unwrap();
    assert!(info.content && info.receipt.is_some() && info.deleted.is_none());
    let released = env
        .vault()
        .open(&sha, None, "still there", &env.analyst, now(), &mut |_| {
            Ok(())
        })
        .unwrap();
    assert_eq!(released.plaintext, content);
}

/// Logs an access by `analyst` (any content) and proves it.
fn log_access(env: &Env, access: vitrine_statements::Access, by: &SignerKey) -> (String, String) {
    let note = Statement::Access(access).sign(by).unwrap();
    let client = LogClient::new(&env.log_url, env.log_key.verifier()).unwrap();
    let index = client.add(&note).unwrap();
    let proof = client.prove(&note, index).unwrap();
    (String::from_utf8(note).unwrap(), proof.to_string())
}

fn access(
    env: &Env,
    tenant: &str,
    sample: [u8; 32],
    time: u64,
    expires: u64,
) -> vitrine_statements::Access {
    vitrine_statements::Access {
        who: vitrine_statements::Token::new(env.analyst.name()).unwrap(),
        purpose: vitrine_statements::Text::new("test").unwrap(),
        tenant: vitrine_statements::Token::new(tenant).unwrap(),
        sample: vitrine_statements::Sha256(sample),
        time,
        expires,
        recipient: vitrine_statements::Sha256(
            vitrine_keyholder::Recipient::generate().public_bytes(),
        ),
    }
}

/// A keyholder refuses a replayed, expired, unlogged, witness-less,
/// wrong-tenant and wrong-sample access, each with its own error.
#[test]
fn keyholder_refuses_each_bad_access_with_its_own_error() {
    use vitrine_keyholder::{Refusal, ShareRequest};
    let env = env();
    let a = sha_of(&env.submit("token-a", &sample("MARKER-KH-A")));
    let b = sha_of(&env.submit("token-a", &sample("MARKER-KH-B")));
    let _ = sha_of(&env.submit("token-b", &sample("MARKER-KH-A")));
    let db = tempfile::tempdir().unwrap();
    let kh = |policy: &str, db_name: &str| {
        keyholder(
            env.kh_dir.path(),
            "kh0.example",
            policy,
            &env.analyst,
            &db.path().join(db_name),
        )
        .0
    };
    let k = kh(&env.policy, "k.db");
    let share_of = |tenant: &str, sha: &[u8; 32]| {
        let (_, shares) = env.intake.store().shares(tenant, sha).unwrap();
        shares
            .into_iter()
            .find(|w| w.keyholder == "kh0.example")
            .unwrap()
            .sealed
    };
    let req = |tenant: &str, sha: [u8; 32], (note, proof): &(String, String)| ShareRequest {
        tenant: tenant.into(),
        sample: hex::encode(sha),
        access: note.clone(),
        proof: proof.clone(),
        share: share_of(tenant, &sha),
    };
    let t = now();
    let good = log_access(&env, access(&env, "t-a", a, t, t + 300), &env.analyst);
    // Honoured once, then replayed.
    k.release(&req("t-a", a, &good), t).unwrap();
    assert!(matches!(
        k.release(&req("t-a", a, &good), t),
        Err(Refusal::Replayed { .. })
    ));
    // Expired: logged, but its time is over.
    let old = log_access(
        &env,
        access(&env, "t-a", a, t - 4000, t - 3700),
        &env.analyst,
    );
    assert!(matches!(
        k.release(&req("t-a", a, &old), t),
        Err(Refusal::Expired { .. })
    ));
    // Unlogged: properly signed, with the proof of another entry.
    let unlogged = Statement::Access(access(&env, "t-a", a, t, t + 300))
        .sign(&env.analyst)
        .unwrap();
    let forged = (String::from_utf8(unlogged).unwrap(), good.1.clone());
    assert!(matches!(
        k.release(&req("t-a", a, &forged), t),
        Err(Refusal::NotLogged { .. })
    ));
    // Witness-less: this keyholder's policy wants a witness the log never asked.
    let w = SignerKey::generate("witness.example/w1", SignatureType::CosignatureV1).unwrap();
    let strict = kh(
        &format!(
            "log {}\nwitness w1 {}\nquorum w1\n",
            env.log_key.verifier(),
            w.verifier()
        ),
        "strict.db",
    );
    let fresh = log_access(&env, access(&env, "t-a", a, t, t + 300), &env.analyst);
    assert!(matches!(
        strict.release(&req("t-a", a, &fresh), t),
        Err(Refusal::NoQuorum { .. })
    ));
    // Wrong tenant: an access for t-a presented with t-b's share.
    assert!(matches!(
        k.release(&req("t-b", a, &fresh), t),
        Err(Refusal::WrongTenant { .. })
    ));
    // Wrong sample: an access for a presented for b.
    assert!(matches!(
        k.release(&req("t-a", b, &fresh), t),
        Err(Refusal::WrongSample { .. })
    ));
    // Too long-lived, and from the future.
    let long = log_access(&env, access(&env, "t-a", a, t, t + 86_400), &env.analyst);
    assert!(matches!(
        k.release(&req("t-a", a, &long), t),
        Err(Refusal::LifetimeTooLong { .. })
    ));
    let future = log_access(&env, access(&env, "t-a", a, t + 600, t + 900), &env.analyst);
    assert!(matches!(
        k.release(&req("t-a", a, &future), t),
        Err(Refusal::NotYetValid { .. })
    ));
    // An analyst the keyholder does not honour.
    let mallory = key("mallory.example");
    let mut m = access(&env, "t-a", a, t, t + 300);
    m.who = vitrine_statements::Token::new("mallory.example").unwrap();
    let note = Statement::Access(m).sign(&mallory).unwrap();
    let m = (String::from_utf8(note).unwrap(), fresh.1.clone());
    assert!(matches!(
        k.release(&req("t-a", a, &m), t),
        Err(Refusal::NotAnAnalyst { .. })
    ));
    // The fresh access is still good: none of the refusals used it up.
    k.release(&req("t-a", a, &fresh), t).unwrap();

    // Over HTTP: the refusal's code and status reach the vault's client.
    let (_, shares) = env.intake.store().shares("t-a", &a).unwrap();
    let mut r = req("t-a", a, &good);
    r.share = shares[0].sealed.clone();
    let conf = env.intake.config();
    let kh0 = conf
        .keyholders
        .iter()
        .find(|k| k.key.name() == "kh0.example")
        .unwrap();
    let _ = vitrine_keyholder::client::ask(&kh0.url, &r, Duration::from_secs(5));
    let err = vitrine_keyholder::client::ask(&kh0.url, &r, Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(&err, vitrine_keyholder::client::AskError::Refused { code, .. } if code == "replayed"),
        "{err}"
    );
}

/// Observation 4: the log refuses an access whose `who` is not its signer.
#[test]
fn log_refuses_who_not_the_signer() {
    let env = env();
    let a = sha_of(&env.submit("token-a", &sample("MARKER-WHO")));
    let mut acc = access(&env, "t-a", a, now(), now() + 60);
    acc.who = vitrine_statements::Token::new("alice.example").unwrap();
    let note = Statement::Access(acc).sign(&env.analyst).unwrap();
    let resp = env
        .http
        .post(format!("{}/add", env.log_url))
        .body(note)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().unwrap();
    assert!(
        text.contains("who = alice.example but is signed by analyst@vendor.example"),
        "{text}"
    );
}

// ---- the endpoint side: policy, ledger, submission, audit ----

mod endpoint {
    use super::*;
    use std::io::Write;
    use vitrine_egress::{ContentDecision, DenyReason, LedgerError};
    use vitrine_intake::endpoint::{ConsentAnswer, Destination, Endpoint, Via};
    use vitrine_intake::EndpointError;

    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// Opens the egress state in `state` with its key pinned in `pin`
    /// (outside the state directory).
    fn pinned(state: &Path, pin: &Path) -> Endpoint {
        let ep = Endpoint::open(state).unwrap();
        ep.pin_key(pin).unwrap();
        ep.with_pin(pin).unwrap()
    }

    fn endpoint(env: &Env, policy: &str) -> (tempfile::TempDir, Endpoint) {
        endpoint_as(env, policy, "t-a", "token-a")
    }

    fn endpoint_as(
        env: &Env,
        policy: &str,
        tenant: &str,
        token: &str,
    ) -> (tempfile::TempDir, Endpoint) {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("egress");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("policy.toml"), policy).unwrap();
        let dest = Destination {
            intake: env.url.clone(),
            tenant: tenant.into(),
            witnesses: no_witnesses(),
            token: token.into(),
            intake_key: env.intake_key.verifier(),
            log: env.log_url.clone(),
            log_key: env.log_key.verifier(),
        };
        std::fs::write(dir.join("destination.toml"), dest.to_toml()).unwrap();
        let ep = pinned(&dir, &top.path().join("pin.vkey"));
        (top, ep)
    }

    const AUTO: &str = "id = \"exec-and-archives\"\n[content]\nkinds = [\"elf\", \"zip\", \"7z\"]\nconsent = \"auto\"\n";
    const ASK: &str = "id = \"exec-ask\"\n[content]\nkinds = [\"elf\"]\nconsent = \"ask\"\n";

    /// 2014, end to end: a rule matched an archive of source code and a
    /// TOP SECRET .docx; automatic submission is on and the owner even
    /// allowed archives. Only metadata leaves, the ledger records it, the
    /// intake holds no content, and the receipt is logged.
    #[test]
    fn classified_archive_leaves_as_metadata_only() {
        let env = env();
        let (_d, ep) = endpoint(&env, AUTO);
        let docx = zip(&[
            ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"></Types>"),
            ("word/document.xml", b"<w:t>TOP SECRET//NOFORN</w:t>"),
        ]);
        let archive = zip(&[
            ("src/implant.c", b"int main(void){return 0;}\n"),
            ("plan.docx", &docx),
        ]);
        let out = ep
            .submit(
                Path::new("/home/contractor/stuff.zip"),
                &archive,
                vec!["Equation.Loader".into()],
                Some(42),
                Via::Scan,
                &mut |_| panic!("auto consent must not ask"),
                unix_now(),
            )
            .unwrap();
        assert!(matches!(
            out.decision.content,
            ContentDecision::Denied(DenyReason::ArchiveHoldsDocument { .. })
        ));
        // The intake has metadata only.
        let held = env.intake.store().list("t-a").unwrap();
        assert_eq!(held.len(), 1);
        assert!(!held[0].content);
        assert!(all_files(&env.dir.path().join("samples")).is_empty());
        for f in all_files(env.dir.path()) {
            assert!(!contains(&std::fs::read(&f).unwrap(), b"TOP SECRET"));
        }
        // The ledger says what left, and verifies with its receipt.
        let (entries, unanswered) = ep.verify().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(unanswered.is_empty());
        let text = std::fs::read_to_string(ep.ledger_dir().join("ledger.jsonl")).unwrap();
        assert!(text.contains("\"content\":false"));
        assert!(text.contains("the archive holds a document"));
        assert!(!text.contains("TOP SECRET"));
    }

    #[test]
    fn consent_ask_without_terminal_sends_metadata_only() {
        let env = env();
        let (_d, ep) = endpoint(&env, ASK);
        let content = sample("MARKER-NOT-ASKED");
        let out = ep
            .submit(
                Path::new("/tmp/a.out"),
                &content,
                vec![],
                None,
                Via::Submit,
                &mut |_| ConsentAnswer::CannotAsk,
                unix_now(),
            )
            .unwrap();
        assert_eq!(
            out.decision.content,
            ContentDecision::Denied(DenyReason::ConsentRefused { asked: false })
        );
        assert!(!env.intake.store().list("t-a").unwrap()[0].content);
    }

    /// The owner consents to an executable leaving; an analyst opens it and
    /// the vendor deletes it. The owner's audit shows all of it, from the
    /// ledger and the public log.
    #[test]
    fn owner_audit_shows_egress_receipts_accesses_and_deletions() {
        let env = env();
        let (_d, ep) = endpoint(&env, ASK);
        let content = sample("MARKER-AUDITED");
        let out = ep
            .submit(
                Path::new("/tmp/a.out"),
                &content,
                vec!["Test.Rule".into()],
                Some(3),
                Via::Submit,
                &mut |_| ConsentAnswer::Yes,
                unix_now(),
            )
            .unwrap();
        assert!(matches!(
            out.decision.content,
            ContentDecision::Allowed { .. }
        ));
        let sha: [u8; 32] = Sha256::digest(&content).into();
        env.vault()
            .open(
                &sha,
                None,
                "triage, ticket 8812",
                &env.analyst,
                now(),
                &mut |_| Ok(()),
            )
            .unwrap();
        env.vault().delete(&sha, "t-a", "owner request", 3).unwrap();
        let audit = ep.audit().unwrap();
        assert_eq!(audit.sent.len(), 1);
        assert!(audit.sent[0].content);
        assert_eq!(audit.receipts.len(), 1);
        assert_eq!(audit.accesses.len(), 1);
        assert_eq!(audit.accesses[0].who, "analyst@vendor.example");
        assert_eq!(audit.accesses[0].purpose, "triage, ticket 8812");
        assert_eq!(audit.deletions.len(), 1);
        assert_eq!(audit.deletions[0].reason, "owner request");
    }

    /// Observation 4: deleting tenant B's copy of a file is not a deletion
    /// of A's in A's audit, and A's copy stays held and opens.
    #[test]
    fn another_tenants_deletion_is_not_ours() {
        let env = env();
        let (_da, a) = endpoint_as(&env, AUTO, "t-a", "token-a");
        let (_db, b) = endpoint_as(&env, AUTO, "t-b", "token-b");
        let content = sample("MARKER-TWO-TENANTS");
        for ep in [&a, &b] {
            ep.submit(
                Path::new("/tmp/a.out"),
                &content,
                vec![],
                None,
                Via::Submit,
                &mut |_| ConsentAnswer::Yes,
                now(),
            )
            .unwrap();
        }
        let sha: [u8; 32] = Sha256::digest(&content).into();
        env.vault()
            .delete(&sha, "t-b", "owner request", now())
            .unwrap();
        assert!(a.audit().unwrap().deletions.is_empty());
        assert_eq!(b.audit().unwrap().deletions.len(), 1);
        let r = env
            .vault()
            .open(
                &sha,
                Some("t-a"),
                "still A's",
                &env.analyst,
                now(),
                &mut |_| Ok(()),
            )
            .unwrap();
        assert_eq!(r.plaintext, content);
        assert_eq!(a.audit().unwrap().accesses.len(), 1);
        assert!(b.audit().unwrap().accesses.is_empty());
    }

    #[test]
    fn receipt_from_the_wrong_intake_key_is_refused() {
        let env = env();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), ASK).unwrap();
        let dest = Destination {
            intake: env.url.clone(),
            tenant: "t-a".into(),
            witnesses: no_witnesses(),
            token: "token-a".into(),
            intake_key: key("impostor.example").verifier(),
            log: env.log_url.clone(),
            log_key: env.log_key.verifier(),
        };
        std::fs::write(dir.path().join("destination.toml"), dest.to_toml()).unwrap();
        let ep = Endpoint::open(dir.path()).unwrap();
        let err = ep
            .submit(
                Path::new("/tmp/a"),
                b"x",
                vec![],
                None,
                Via::Submit,
                &mut |_| ConsentAnswer::No,
                unix_now(),
            )
            .unwrap_err();
        assert!(matches!(err, EndpointError::Receipt(_)), "{err}");
        // The egress is in the ledger anyway, with the failure.
        let entries = vitrine_egress::verify(&ep.ledger_dir(), &ep.verifier()).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(matches!(
            entries[1].event,
            vitrine_egress::LedgerEvent::Failed { of: 0, .. }
        ));
        // And a tampered receipt in a ledger is caught by verify.
        let err = vitrine_egress::verify_receipts(
            &[
                entries[0].clone(),
                vitrine_egress::Entry {
                    seq: 1,
                    prev: String::new(),
                    time: 1,
                    event: vitrine_egress::LedgerEvent::Receipt {
                        of: 0,
                        receipt: ReceiptBundle {
                            note: "x".into(),
                            index: 0,
                            tlog_proof: "y".into(),
                        },
                    },
                },
            ],
            &vitrine_egress::ReceiptContext {
                intake: &env.intake_key.verifier(),
                log: &env.log_key.verifier(),
                witnesses: &no_witnesses(),
                tenant: "t-a",
                endpoint: &ep.verifier(),
            },
        )
        .unwrap_err();
        assert!(matches!(err, LedgerError::Receipt { seq: 1, .. }), "{err}");
    }

    /// A receipt proven in a checkpoint the log signed but that is not
    /// consistent with the log everyone else sees (a fork): the offline
    /// check passes, the online check catches it.
    #[test]
    fn receipt_in_a_forked_checkpoint_is_caught_online() {
        let env = env();
        let (d, ep) = endpoint(&env, ASK);
        // A real submission first, so the log is not empty.
        ep.submit(
            Path::new("/tmp/a"),
            b"one",
            vec![],
            None,
            Via::Submit,
            &mut |_| ConsentAnswer::No,
            unix_now(),
        )
        .unwrap();
        let key = SignerKey::parse(
            std::fs::read_to_string(d.path().join("egress/endpoint.key"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        let mut ledger = vitrine_egress::Ledger::open(&ep.ledger_dir(), key).unwrap();
        let nonce = [3u8; 32];
        let sent = ledger
            .append(
                unix_now(),
                vitrine_egress::LedgerEvent::Sent {
                    destination: env.url.clone(),
                    via: "submit".into(),
                    policy_id: ep.policy().id().into(),
                    policy_sha256: hex::encode(ep.policy().sha256()),
                    metadata: Metadata {
                        sha256: hex::encode(Sha256::digest(b"two")),
                        size: 3,
                        kind: "unknown".into(),
                        detections: vec![],
                        bundle_version: None,
                        path: None,
                    },
                    content: false,
                    nonce: hex::encode(nonce),
                    content_denied: None,
                },
            )
            .unwrap();
        // The forked view: a tree of [junk, receipt] signed with the log key.
        let intake_note = Statement::Receipt(vitrine_statements::Receipt {
            sample: vitrine_statements::Sha256(Sha256::digest(b"two").into()),
            tenant: vitrine_statements::Token::new("t-a").unwrap(),
            policy: vitrine_statements::Token::new(ep.policy().id()).unwrap(),
            policy_sha256: vitrine_statements::Sha256(ep.policy().sha256()),
            time: unix_now(),
            endpoint: vitrine_statements::Sha256(vitrine_egress::endpoint_id(&ep.verifier())),
            nonce: vitrine_statements::Sha256(nonce),
            ledger_seq: sent.seq,
            ledger_head: vitrine_statements::Sha256(
                hex::decode(sent.hash()).unwrap().try_into().unwrap(),
            ),
        })
        .sign(&env.intake_key)
        .unwrap();
        let mut tree = vitrine_tlog::MemoryTree::new();
        tree.push_data(b"junk only the victim sees");
        tree.push_data(&intake_note);
        let cp = vitrine_tlog::Checkpoint::new(env.log_key.name(), 2, tree.root());
        let note = cp.sign(&env.log_key).unwrap();
        let path = vitrine_tlog::inclusion_proof(&tree, 1, 2).unwrap();
        let proof = vitrine_tlog::TlogProof::new(None, 1, path, note).unwrap();
        ledger
            .append(
                unix_now(),
                vitrine_egress::LedgerEvent::Receipt {
                    of: sent.seq,
                    receipt: ReceiptBundle {
                        note: String::from_utf8(intake_note).unwrap(),
                        index: 1,
                        tlog_proof: proof.to_string(),
                    },
                },
            )
            .unwrap();
        ep.verify().unwrap();
        let err = ep.verify_online().unwrap_err();
        assert!(
            matches!(err, EndpointError::Inconsistent { seq: 3, .. }),
            "{err}"
        );
    }
}

/// The intake with its state in PostgreSQL: what a submission stores is in
/// the database (ciphertext only), nothing is in the data directory
/// besides the configuration and key, the vault opens it through the
/// keyholders, and a deletion removes its ciphertext and shares.
#[test]
fn intake_on_postgresql_stores_opens_and_deletes() {
    let env = env_pg();
    let db = env.db.as_ref().unwrap();
    let content = sample("MARKER-PG-SAMPLE");
    let answer = env.submit("token-a", &content);
    let sha = sha_of(&answer);
    assert!(answer.content_stored);
    let mut files: Vec<_> = all_files(env.dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["custody.policy", "intake.key", "intake.toml"]);
    let mut c = db.connect();
    let sealed: Vec<u8> = c
        .query_one("SELECT sealed FROM vitrine_intake_contents", &[])
        .unwrap()
        .get(0);
    assert!(!contains(&sealed, b"MARKER-PG-SAMPLE"));
    // The tenant sees it with its receipt; another tenant does not.
    let (status, json) = env.get("token-a", &format!("/v1/submissions/{}", hex::encode(sha)));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["receipt"]["index"], answer.receipt.index);
    assert_eq!(
        env.get("token-b", &format!("/v1/submissions/{}", hex::encode(sha)))
            .0,
        404
    );
    let released = env
        .vault()
        .open(&sha, None, "triage", &env.analyst, now(), &mut |_| Ok(()))
        .unwrap();
    assert_eq!(released.plaintext, content);
    let deleted = env
        .vault()
        .delete(&sha, "t-a", "owner request", now())
        .unwrap();
    for table in ["vitrine_intake_contents", "vitrine_intake_shares"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} after the deletion");
    }
    let (_, audit) = env.get("token-a", "/v1/audit");
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["kind"], "access");
    assert_eq!(events[1]["kind"], "deletion");
    assert_eq!(events[1]["log_index"], deleted.index);
    assert!(env
        .intake
        .store()
        .get("t-a", &sha)
        .unwrap()
        .unwrap()
        .deleted
        .is_some());
}

/// `GET /metrics` without a token: submissions by outcome, receipts,
/// custody-log round trips, deletions, and the store's accesses; an intake
/// whose log is down counts its failures. No tenant appears.
#[test]
fn metrics_count_submissions_receipts_accesses_and_deletions() {
    let env = env();
    let metrics = |url: &str| {
        let resp = env.http.get(format!("{url}/metrics")).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        resp.text().unwrap()
    };
    let has = |text: &str, line: &str| {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}")
    };
    let content = sample("MARKER-METRICS");
    let sha = sha_of(&env.submit("token-a", &content));
    env.submit("token-a", &content);
    env.submit("token-b", &sample("MARKER-METRICS-B"));
    let (status, _) = env.post(Some("token-a"), "text/plain", b"{}".to_vec());
    assert_eq!(status, 415);
    let (status, _) = env.post(Some("token-a"), "application/json", b"{".to_vec());
    assert_eq!(status, 400);
    // Refused before the handler: not a submission.
    assert_eq!(env.post(Some("nobody"), "application/json", vec![]).0, 401);
    env.vault()
        .open(
            &sha,
            Some("t-a"),
            "triage",
            &env.analyst,
            now(),
            &mut |_| Ok(()),
        )
        .unwrap();
    env.intake
        .vault()
        .unwrap()
        .delete(&sha, "t-a", "owner request", now())
        .unwrap();

    let text = metrics(&env.url);
    has(
        &text,
        r#"vitrine_intake_submissions_total{outcome="stored"} 2"#,
    );
    has(
        &text,
        r#"vitrine_intake_submissions_total{outcome="unchanged"} 1"#,
    );
    has(
        &text,
        r#"vitrine_intake_submissions_total{outcome="refused"} 2"#,
    );
    has(&text, "vitrine_intake_receipts_logged_total 3");
    has(&text, "vitrine_intake_deletions_logged_total 1");
    // Three receipts and the deletion added; three receipts proven.
    has(
        &text,
        r#"vitrine_intake_custody_log_seconds_count{call="add"} 4"#,
    );
    has(
        &text,
        r#"vitrine_intake_custody_log_seconds_count{call="prove"} 3"#,
    );
    has(&text, "vitrine_intake_store_accesses 1");
    has(&text, "vitrine_intake_store_deletions 1");
    has(&text, "vitrine_intake_store_events_pending 0");
    has(&text, "vitrine_intake_store_up 1");
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("t-a") && !text.contains(&hex::encode(sha)));

    // The log goes away: a submission is answered 502 and counted so,
    // with the failed call.
    let conf = env.dir.path().join("intake.toml");
    let conf_text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, conf_text.replace(&env.log_url, "http://127.0.0.1:9")).unwrap();
    let down = Arc::new(open_dir(env.dir.path()).unwrap());
    let url = env.rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { serve(down, l, std::future::pending()).await.unwrap() });
        format!("http://{addr}")
    });
    let other = sample("MARKER-METRICS-DOWN");
    let osha: [u8; 32] = Sha256::digest(&other).into();
    let body = serde_json::to_vec(&submission(Some(&other), osha, other.len() as u64)).unwrap();
    let resp = env
        .http
        .post(format!("{url}/v1/submissions"))
        .bearer_auth("token-a")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    let text = metrics(&url);
    has(
        &text,
        r#"vitrine_intake_submissions_total{outcome="log_unavailable"} 1"#,
    );
    has(
        &text,
        r#"vitrine_intake_custody_log_failures_total{call="add"} 1"#,
    );
    has(&text, "vitrine_intake_receipts_logged_total 0");
    // The store's counts are the store's, whichever process recorded them.
    has(&text, "vitrine_intake_store_accesses 1");
}
