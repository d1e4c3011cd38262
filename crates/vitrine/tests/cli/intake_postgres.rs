//! The intake on PostgreSQL (`intake serve --postgres`, `vault ...
//! --postgres`): a submission's receipt is logged and its sample stored
//! in the database, not the data directory; after a restart the sample
//! is still listed and opens through the vault; metrics count it.

use crate::common::{spawn_server, TestDatabase};
use crate::egress::vendor_on;

/// The status and body of `GET url/path`, with a bearer token if given
/// (HTTP/1.0 over a plain socket).
fn get(url: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n").unwrap();
    if let Some(t) = token {
        write!(s, "Authorization: Bearer {t}\r\n").unwrap();
    }
    write!(s, "\r\n").unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (head[9..12].parse().unwrap(), body.to_owned())
}

fn count(db: &TestDatabase, sql: &str) -> i64 {
    db.connect().query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn an_intake_on_postgresql_logs_receipts_keeps_samples_across_a_restart_and_releases_them() {
    let db = TestDatabase::create();
    let pg = db.url();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let mut v = vendor_on(d, &["--postgres", &pg]);
    std::fs::write(
        v.state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-PG-CLI-SAMPLE");
    std::fs::write(d.join("a.out"), &elf).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&elf));
    v.cmd()
        .args(["submit", "--state"])
        .arg(&v.state)
        .arg(d.join("a.out"))
        .args(["--detection", "Test.Rule"])
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    // The endpoint checked the logged receipt against its ledger.
    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&v.state)
        .assert()
        .success()
        .stdout(predicates::str::contains("receipts ok: 1"));

    // The state is in the database, ciphertext only; the directory holds
    // only the configuration and key.
    let intake_dir = d.join("intake");
    assert!(!intake_dir.join("intake.db").exists());
    assert!(!intake_dir.join("samples").exists());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM vitrine_intake_samples WHERE has_content AND receipt IS NOT NULL"
        ),
        1
    );
    let sealed: Vec<u8> = db
        .connect()
        .query_one("SELECT sealed FROM vitrine_intake_contents", &[])
        .unwrap()
        .get(0);
    assert!(!sealed
        .windows(b"MARKER-PG-CLI-SAMPLE".len())
        .any(|w| w == b"MARKER-PG-CLI-SAMPLE"));
    let (status, metrics) = get(&v.intake_url, "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("vitrine_intake_submissions_total{outcome=\"stored\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("vitrine_intake_receipts_logged_total 1\n"));

    // Restart: a new process on the same database lists the sample with
    // its receipt.
    drop(v.intake.take());
    let args = [
        "intake",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--postgres",
        &pg,
    ];
    let (_intake, url) = spawn_server(&args, &intake_dir);
    let token = std::fs::read_to_string(d.join("token")).unwrap();
    let (status, body) = get(&url, "/v1/submissions", Some(token.trim()));
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = listed["submissions"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["sha256"], sha.as_str());
    assert_eq!(items[0]["content"], true);
    assert!(items[0]["receipt"]["index"].is_u64(), "{listed}");

    // The vault reads the same database: access logged, then released.
    v.cmd()
        .args(["vault", "open", &sha, "--purpose", "triage", "--key"])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(&intake_dir)
        .args(["--postgres", &pg, "--out"])
        .arg(d.join("released.bin"))
        .assert()
        .success();
    assert_eq!(std::fs::read(d.join("released.bin")).unwrap(), elf);
    let (_, metrics) = get(&url, "/metrics", None);
    assert!(
        metrics.contains("vitrine_intake_store_accesses 1\n"),
        "{metrics}"
    );

    // Deleted: the ciphertext and its shares are gone from the database.
    v.cmd()
        .args(["vault", "delete", &sha, "--tenant", "t-e2e", "--data"])
        .arg(&intake_dir)
        .args(["--postgres", &pg])
        .assert()
        .success()
        .stdout(predicates::str::contains("deletion logged at index"));
    assert_eq!(
        count(&db, "SELECT count(*) FROM vitrine_intake_contents"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM vitrine_intake_shares"), 0);
    let (_, body) = get(&url, "/v1/audit", Some(token.trim()));
    assert!(body.contains("\"kind\":\"deletion\""), "{body}");
}

/// A database that cannot be reached stops `intake serve --postgres` at
/// start with the reason, rather than serving without its state.
#[test]
fn an_unreachable_database_stops_intake_serve_at_start() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("intake")).unwrap();
    crate::common::vitrine()
        .args(["intake", "serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(d.join("intake"))
        .args([
            "--postgres",
            "host=127.0.0.1 port=1 user=postgres dbname=none",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "PostgreSQL database (--postgres)",
        ));
}
