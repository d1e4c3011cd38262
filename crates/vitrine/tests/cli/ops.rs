//! Operating a log: re-cosigning on a quiet log, `--witnesses` reading the
//! endpoints' policy, `log/authorized` edits without a restart, `key show`.

use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;

use crate::common::{log_with_publisher, spawn_server, stdout, vitrine, Server, TestDatabase};

/// `vitrine witness init` + `add-log` for each of `logs` + `serve`.
pub(crate) fn witness(d: &Path, name: &str, logs: &[&str]) -> (Server, String, String) {
    witness_with(d, name, logs, &[])
}

/// [`witness`] with more `serve` arguments, e.g. `--postgres URL`.
fn witness_with(d: &Path, name: &str, logs: &[&str], serve: &[&str]) -> (Server, String, String) {
    let dir = d.join(name);
    let vkey = stdout(
        &vitrine()
            .args([
                "witness",
                "init",
                "--name",
                &format!("{name}.example"),
                "--data",
            ])
            .arg(&dir)
            .assert()
            .success(),
    );
    for log in logs {
        vitrine()
            .args(["witness", "add-log", "--data"])
            .arg(&dir)
            .arg(log)
            .assert()
            .success();
    }
    let args = [&["witness", "serve", "--addr", "127.0.0.1:0"], serve].concat();
    let (server, url) = spawn_server(&args, &dir);
    (server, vkey, url)
}

fn get(url: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
}

/// The checkpoint's text and its cosignatures' timestamps.
fn checkpoint(url: &str) -> (String, Vec<u64>) {
    let (status, body) = get(&format!("{url}/checkpoint"));
    assert_eq!(status, 200);
    let note = vitrine_note::Note::parse(&body).unwrap();
    let mut times: Vec<u64> = note
        .signatures()
        .iter()
        .filter_map(|s| s.cosignature_timestamp())
        .collect();
    times.sort_unstable();
    (note.text().to_owned(), times)
}

fn build_bundle(d: &Path, version: &str) {
    let src = d.join("rules");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.yar"), "rule A { condition: false }\n").unwrap();
    vitrine()
        .current_dir(d)
        .args(["bundle", "build", "rules", "-o", "b.bundle", "--name", "t"])
        .args(["--version", version])
        .assert()
        .success();
}

#[test]
fn a_quiet_log_stays_fresh_through_recosigning() {
    // Two logs with the same two witness processes; `--witnesses` is the
    // endpoints' trust policy itself. Log "fresh" re-collects cosignatures
    // every second, log "quiet" never does. Both publish one bundle, then
    // nothing for longer than the policy's max-age.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut logs = Vec::new();
    for name in ["fresh", "quiet"] {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let (log_vkey, pub_vkey) =
            log_with_publisher(&d, &format!("log.example/{name}"), "publisher.example/p");
        logs.push((d, log_vkey, pub_vkey));
    }
    let vkeys: Vec<&str> = logs.iter().map(|l| l.1.as_str()).collect();
    let (_w1, w1_vkey, w1_url) = witness(root, "w1", &vkeys);
    let (_w2, w2_vkey, w2_url) = witness(root, "w2", &vkeys);
    let mut servers = Vec::new();
    for ((d, log_vkey, pub_vkey), interval) in logs.iter().zip(["1", "0"]) {
        vitrine()
            .current_dir(d)
            .args(["trust", "init", "-o", "policy", "--log-key", log_vkey])
            .args(["--witness", "w1", &w1_vkey, &w1_url])
            .args(["--witness", "w2", &w2_vkey, &w2_url])
            .args(["--quorum", "2", "--publisher", pub_vkey, "--max-age", "4"])
            .assert()
            .success();
        let policy = d.join("policy");
        let (server, url) = spawn_server(
            &[
                "log",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--batch-wait-ms",
                "10",
                "--witnesses",
                policy.to_str().unwrap(),
                "--recosign-interval",
                interval,
            ],
            &d.join("log"),
        );
        build_bundle(d, "1");
        vitrine()
            .current_dir(d)
            .args(["publish", "b.bundle", "--log", &url, "--key", "p.key"])
            .args(["--policy", "policy", "--wait", "30"])
            .assert()
            .success();
        vitrine()
            .current_dir(d)
            .args([
                "update", "--policy", "policy", "--state", "ep", "--log", &url,
            ])
            .assert()
            .success();
        servers.push((server, url));
    }
    let (fresh_url, quiet_url) = (&servers[0].1, &servers[1].1);
    let (fresh_text, fresh_times) = checkpoint(fresh_url);
    let (quiet_text, quiet_times) = checkpoint(quiet_url);
    assert_eq!(fresh_times.len(), 2);
    assert_eq!(quiet_times.len(), 2);

    // Longer than max-age, with no publication.
    std::thread::sleep(Duration::from_secs(6));

    // The same tree, cosigned again by both witnesses, later.
    let (text, times) = checkpoint(fresh_url);
    assert_eq!(text, fresh_text, "nothing was published");
    assert_eq!(times.len(), 2, "old cosignatures replaced, not piled up");
    assert!(times[0] > fresh_times[1], "{times:?} vs {fresh_times:?}");
    assert_eq!(checkpoint(quiet_url), (quiet_text, quiet_times));

    // So the endpoint of the fresh log stays up to date; the other one's
    // checkpoint has gone stale and is refused.
    let fresh = vitrine()
        .current_dir(&logs[0].0)
        .args([
            "update", "--policy", "policy", "--state", "ep", "--log", fresh_url,
        ])
        .assert()
        .success();
    assert!(!stdout(&fresh).contains("stale"), "{}", stdout(&fresh));
    vitrine()
        .current_dir(&logs[1].0)
        .args([
            "update", "--policy", "policy", "--state", "ep", "--log", quiet_url,
        ])
        .assert()
        .code(2)
        .stdout(predicates::str::contains("stale"));
}

#[test]
fn authorized_edits_apply_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, _) = log_with_publisher(d, "log.example/auth", "publisher.example/p");
    let q_vkey = stdout(
        &vitrine()
            .current_dir(d)
            .args(["key", "generate", "publisher.example/q", "-o", "q.key"])
            .assert()
            .success(),
    );
    let (_log, url) = spawn_server(
        &[
            "log",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--batch-wait-ms",
            "10",
        ],
        &d.join("log"),
    );
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args([
            "--log-url",
            &url,
            "--quorum",
            "none",
            "--publisher",
            &q_vkey,
        ])
        .args(["--max-age", "600"])
        .assert()
        .success();
    let publish = |version: &str| {
        build_bundle(d, version);
        let _ = std::fs::remove_file(d.join("b.bundle.statement"));
        vitrine()
            .current_dir(d)
            .args(["publish", "b.bundle", "--log", &url, "--key", "q.key"])
            .args(["--policy", "policy", "--wait", "20"])
            .assert()
    };
    // q is not in log/authorized: its upload is refused.
    let refused = publish("1").failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("not signed by an allowed publisher"), "{err}");

    // The operator lets q in; the running log follows.
    let authorized = d.join("log/authorized");
    let mut text = std::fs::read_to_string(&authorized).unwrap();
    text.push_str(&format!("rules {q_vkey}\n"));
    std::fs::write(&authorized, &text).unwrap();
    publish("1").success();

    // A broken file fails closed: nobody is let in until it is fixed.
    std::fs::write(&authorized, "rules not-a-key\n").unwrap();
    let refused = publish("2").failure();
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("authorization file is broken"), "{err}");
    std::fs::write(&authorized, &text).unwrap();
    publish("2").success();

    // And q is revoked again: refused at once.
    std::fs::write(&authorized, "# nobody\n").unwrap();
    publish("3").failure();
}

#[test]
fn key_show_prints_the_verifier_key_again() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let generated = stdout(
        &vitrine()
            .current_dir(d)
            .args(["key", "generate", "publisher.example/a", "-o", "a.key"])
            .assert()
            .success(),
    );
    let log = stdout(
        &vitrine()
            .args(["log", "init", "--origin", "log.example/k", "--data"])
            .arg(d.join("log"))
            .assert()
            .success(),
    );
    let wit = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "w.example/k", "--data"])
            .arg(d.join("w"))
            .assert()
            .success(),
    );
    for (file, vkey) in [
        ("a.key", &generated),
        ("log/log.key", &log),
        ("w/witness.key", &wit),
    ] {
        let shown = stdout(
            &vitrine()
                .current_dir(d)
                .args(["key", "show", file])
                .assert()
                .success(),
        );
        assert_eq!(&shown, vkey, "{file}");
    }
    // Not a key: the error names the file and does not echo its bytes.
    std::fs::write(d.join("junk"), "\x1b[31mSECRET-LOOKING\n").unwrap();
    vitrine()
        .current_dir(d)
        .args(["key", "show", "junk"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("junk is not a secret key file"))
        .stderr(predicates::str::contains("SECRET-LOOKING").not());
}

#[test]
fn witnesses_policy_must_be_about_this_log() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, pub_vkey) = log_with_publisher(d, "log.example/mine", "publisher.example/p");
    let other = stdout(
        &vitrine()
            .args(["log", "init", "--origin", "log.example/other", "--data"])
            .arg(d.join("other"))
            .assert()
            .success(),
    );
    let w_vkey = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "w.example/1", "--data"])
            .arg(d.join("w"))
            .assert()
            .success(),
    );
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &other])
        .args(["--witness", "w1", &w_vkey, "http://127.0.0.1:9"])
        .args(["--quorum", "1", "--publisher", &pub_vkey, "--max-age", "60"])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["log", "serve", "--data", "log", "--addr", "127.0.0.1:0"])
        .args(["--witnesses", "policy"])
        .timeout(Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "witness policy policy: it names other logs, not this one",
        ));
    // Neither format: both parsers' complaints are shown.
    std::fs::write(d.join("junk"), "witness w1\n").unwrap();
    vitrine()
        .current_dir(d)
        .args(["log", "serve", "--data", "log", "--addr", "127.0.0.1:0"])
        .args(["--witnesses", "junk"])
        .timeout(Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "witness policy junk: neither a trust policy",
        ));
}

#[test]
fn log_add_never_prints_a_servers_bytes_raw() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hostile = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let body = "\x1b[2J\x07\rACTIVATED bundle starter v9\x1b[0m";
        let _ = write!(
            conn,
            "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("st"), "statement\n").unwrap();
    let out = vitrine()
        .current_dir(tmp.path())
        .args(["log", "add", "st", "--log", &url])
        .timeout(Duration::from_secs(30))
        .assert()
        .failure();
    hostile.join().unwrap();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("log refused the statement (403 Forbidden)"),
        "{err}"
    );
    assert!(err.contains(r"\u{1b}[2J\u{7}\rACTIVATED"), "{err}");
    assert!(!err.contains(['\x1b', '\x07', '\r']), "{err:?}");
}

/// Publishes `b.bundle` (built at `version`) through the log at `url`,
/// waiting for the witnesses of `policy`.
fn publish(d: &Path, url: &str, version: &str) {
    build_bundle(d, version);
    vitrine()
        .current_dir(d)
        .args(["publish", "b.bundle", "--log", url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .assert()
        .success();
}

#[test]
fn a_witness_on_postgresql_keeps_its_state_there_for_every_process_sharing_it() {
    let db = TestDatabase::create();
    let pg = db.url();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/pgw", "publisher.example/p");
    let (w1, w_vkey, w1_url) = witness_with(d, "w", &[&log_vkey], &["--postgres", &pg]);
    let serve_log = |w_url: &str| {
        std::fs::remove_file(d.join("policy")).ok();
        vitrine()
            .current_dir(d)
            .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
            .args(["--witness", "w", &w_vkey, w_url])
            .args([
                "--quorum",
                "1",
                "--publisher",
                &pub_vkey,
                "--max-age",
                "3600",
            ])
            .assert()
            .success();
        spawn_server(
            &[
                "log",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--batch-wait-ms",
                "10",
                "--witnesses",
                d.join("policy").to_str().unwrap(),
            ],
            &d.join("log"),
        )
    };
    let (log, url) = serve_log(&w1_url);
    publish(d, &url, "1");
    let cosigned = |db: &TestDatabase| -> i64 {
        db.connect()
            .query_one(
                "SELECT size FROM vitrine_witness_logs WHERE origin = 'log.example/pgw'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(cosigned(&db), 1);
    assert!(!d.join("w/witness.sqlite").exists(), "no local state");
    let (status, metrics) = get(&format!("{w1_url}/metrics"));
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("vitrine_witness_add_checkpoint_total{status=\"200\"} "),
        "{metrics}"
    );

    // The first witness process goes away; a second one on the same
    // database, with the same key, carries on from the size the first
    // cosigned: it refuses to cosign size 2 from any other old size.
    drop(w1);
    drop(log);
    let dir = d.join("w");
    let (_w2, w2_url) = spawn_server(
        &[
            "witness",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--postgres",
            &pg,
        ],
        &dir,
    );
    let (_log, url) = serve_log(&w2_url);
    publish(d, &url, "2");
    assert_eq!(cosigned(&db), 2);
    let (_, metrics) = get(&format!("{w2_url}/metrics"));
    let metrics = String::from_utf8(metrics).unwrap();
    // Every request it got was cosigned: none was refused as stale (409),
    // which a witness without the first one's state would have done.
    assert!(
        metrics.contains("vitrine_witness_add_checkpoint_total{status=\"200\"} "),
        "{metrics}"
    );
    assert_eq!(
        metrics
            .matches("vitrine_witness_add_checkpoint_total{")
            .count(),
        1,
        "only 200s: {metrics}"
    );
}
