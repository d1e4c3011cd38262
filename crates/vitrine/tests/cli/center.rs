//! `vitrine center serve` as a process, against a real log and witnesses.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{log_with_publisher, spawn_announcing, spawn_server, stdout, vitrine, Server};
use crate::ops::witness;

/// Starts `vitrine center serve ARGS` and returns it with its URL.
pub(crate) fn center(args: &[&str]) -> (Server, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"));
    cmd.args([
        "center",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--interval",
        "1",
    ])
    .args(args);
    spawn_announcing(cmd)
}

pub(crate) fn get_json(url: &str) -> Value {
    let body = reqwest::blocking::get(url).unwrap().text().unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[test]
fn the_center_follows_a_log_and_shows_its_witnesses() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/rules", "publisher.example/p");
    let (_w1, w1_vkey, w1_url) = witness(d, "w1", &[&log_vkey]);
    let (w2, w2_vkey, w2_url) = witness(d, "w2", &[&log_vkey]);
    // A third witness the center's policy names but nobody asks.
    let w3_vkey = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "w3.example", "--data"])
            .arg(d.join("w3"))
            .assert()
            .success(),
    );
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args(["--witness", "w1", &w1_vkey, &w1_url])
        .args(["--witness", "w2", &w2_vkey, &w2_url])
        .args([
            "--quorum",
            "1",
            "--publisher",
            &pub_vkey,
            "--max-age",
            "600",
        ])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args([
            "trust",
            "init",
            "-o",
            "center-policy",
            "--log-key",
            &log_vkey,
        ])
        .args(["--witness", "w1", &w1_vkey, &w1_url])
        .args(["--witness", "w2", &w2_vkey, &w2_url])
        .args(["--witness", "w3", &w3_vkey, "http://127.0.0.1:9"])
        .args([
            "--quorum",
            "2",
            "--publisher",
            &pub_vkey,
            "--max-age",
            "600",
        ])
        .assert()
        .success();
    let policy = d.join("policy");
    let (_log, url) = spawn_server(
        &[
            "log",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--batch-wait-ms",
            "10",
            "--witnesses",
            policy.to_str().unwrap(),
        ],
        &d.join("log"),
    );
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::write(
        d.join("rules/a.yar"),
        "rule Demo_Marker { strings: $m = \"VITRINE-DEMO-MARKER\" condition: $m }\n",
    )
    .unwrap();
    vitrine()
        .current_dir(d)
        .args([
            "bundle", "build", "rules", "-o", "b.bundle", "--name", "daily",
        ])
        .args(["--version", "1"])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["publish", "b.bundle", "--log", &url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .assert()
        .success();

    let authorized = d.join("log/authorized");
    let state = d.join("center");
    let (_center, base) = center(&[
        "--log",
        &url,
        "--log-key",
        &log_vkey,
        "--authorized",
        authorized.to_str().unwrap(),
        "--policy",
        d.join("center-policy").to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let home = loop {
        let home = get_json(&format!("{base}/?format=json"));
        if home["bundles"] == 1 {
            break home;
        }
        assert!(
            Instant::now() < deadline,
            "the center never indexed: {home}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = &home["logs"][0];
    assert_eq!(log["size"], 1);
    assert!(log["last_error"].is_null(), "{log}");
    let status = |name: &str| {
        log["witnesses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no witness {name} in {log}"))
            .clone()
    };
    for w in ["w1.example", "w2.example"] {
        let w = status(w);
        assert_eq!(w["status"], "current", "{w}");
        assert_eq!(w["size"], 1);
        assert!(w["cosigned_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(status("w3.example")["status"], "missing");
    let html = reqwest::blocking::get(format!("{base}/"))
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("class=\"status-missing\""), "{html}");
    let v = get_json(&format!("{base}/bundles/daily/1?format=json"));
    assert_eq!(v["rules"][0]["id"], "a.yar:Demo_Marker");
    // w2 goes away; the log publishes with w1's cosignature alone (its
    // quorum is 1), and the center says w2 lags behind.
    drop(w2);
    vitrine()
        .current_dir(d)
        .args([
            "bundle",
            "build",
            "rules",
            "-o",
            "b2.bundle",
            "--name",
            "daily",
        ])
        .args(["--version", "2"])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["publish", "b2.bundle", "--log", &url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .assert()
        .success();
    let deadline = Instant::now() + Duration::from_secs(60);
    let home = loop {
        let home = get_json(&format!("{base}/?format=json"));
        if home["bundles"] == 2 {
            break home;
        }
        assert!(
            Instant::now() < deadline,
            "the center never indexed v2: {home}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let witnesses = home["logs"][0]["witnesses"].as_array().unwrap().clone();
    let get = |name: &str| witnesses.iter().find(|w| w["name"] == name).unwrap();
    assert_eq!(
        (&get("w1.example")["status"], &get("w1.example")["size"]),
        (&Value::from("current"), &Value::from(2))
    );
    assert_eq!(
        (&get("w2.example")["status"], &get("w2.example")["size"]),
        (&Value::from("lagging"), &Value::from(1))
    );
    // The monitor's state is the center's: a fork would be kept there.
    assert!(state.join("rules-audit").is_dir());
    assert!(state.join("center.sqlite").is_file());
}

#[test]
fn center_arguments_are_checked_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("authorized"), "# nobody\n").unwrap();
    let out = vitrine()
        .args([
            "center",
            "serve",
            "--log",
            "http://127.0.0.1:9",
            "--log-key",
            "nonsense",
        ])
        .args(["--authorized"])
        .arg(d.join("authorized"))
        .args(["--policy"])
        .arg(d.join("policy"))
        .args(["--state"])
        .arg(d.join("state"))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--log-key"), "{err}");
    // The custody log needs its key and authorization file too.
    vitrine()
        .args([
            "center",
            "serve",
            "--log",
            "http://127.0.0.1:9",
            "--log-key",
            "k",
        ])
        .args(["--authorized", "a", "--policy", "p", "--state", "s"])
        .args(["--custody-log", "http://127.0.0.1:10"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--custody-key"));
    let help = stdout(
        &vitrine()
            .args(["center", "serve", "--help"])
            .assert()
            .success(),
    );
    assert!(
        help.contains("Example:") && help.contains("format=json"),
        "{help}"
    );
}
