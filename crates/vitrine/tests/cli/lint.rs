//! `vitrine lint`, `vitrine publish --allow` and `vitrine audit` against a
//! real `vitrine log serve`.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common::{log_with_publisher, spawn_server, stdout, vitrine};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vitrine-lint/corpus")
        .join(name)
}

#[test]
fn lint_exit_status_and_json() {
    // Malware rules: no high finding, exit 0.
    vitrine()
        .arg("lint")
        .arg(corpus("malware"))
        .assert()
        .code(0)
        .stdout(predicates::str::contains("0 high"));
    // Surveillance rules: high findings, exit 1, each located.
    let out = vitrine()
        .args(["lint", "--format", "json"])
        .arg(corpus("surveillance"))
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let hit = findings
        .iter()
        .find(|f| f["rule"] == "Hunt_TopSecret_Banner")
        .expect("the TOP SECRET rule is flagged");
    assert_eq!(hit["id"], "VL101");
    assert_eq!(hit["severity"], "high");
    assert!(hit["file"].as_str().unwrap().ends_with("markings.yar"));
    assert!(hit["line"].as_u64().unwrap() > 1);
    // --fail-on: low findings alone fail only when asked.
    let tmp = tempfile::tempdir().unwrap();
    let slow = tmp.path().join("slow.yar");
    std::fs::write(
        &slow,
        "rule Slow { strings: $a = \"ab\" $b = \"long enough text\" condition: $a and $b }\n",
    )
    .unwrap();
    vitrine().arg("lint").arg(&slow).assert().code(0);
    vitrine()
        .args(["lint", "--fail-on", "low"])
        .arg(&slow)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("slow.yar:1:22: low VL503 Slow"));
    // A syntax error is an error, with its location.
    let bad = tmp.path().join("bad.yar");
    std::fs::write(&bad, "rule Bad {\n condition:\n}\n").unwrap();
    vitrine()
        .arg("lint")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad.yar:"));
    vitrine()
        .args(["lint", "--list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("VL101"));
}

const CLEAN: &str = "rule Ransom_Demo { strings: $a = \"vssadmin delete shadows /all /quiet\" nocase condition: uint16(0) == 0x5A4D and $a }\n";
// Split with no offset tie: the static reading cannot join the halves; the
// canary scan sees the rule match "TOP SECRET" documents.
const QUIET: &str =
    "rule Quiet_Hunt { strings: $a = \"TOP S\" $b = \"ECRET\" condition: $a and $b }\n";
const LEAK: &str = "rule Leak_Hunt { strings: $m = \"TOP SECRET\" nocase condition: uint32be(0) == 0xD0CF11E0 and $m }\n";

#[test]
fn publish_needs_acknowledgements_and_audit_shows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/audit", "publisher.example/p");
    let (_server, url) = spawn_server(&["log", "serve", "--addr", "127.0.0.1:0"], &d.join("log"));
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args([
            "--log-url",
            &url,
            "--quorum",
            "none",
            "--publisher",
            &pub_vkey,
        ])
        .args(["--max-age", "600"])
        .assert()
        .success();
    let build = |version: &str, sources: &[&str]| {
        let src = d.join(format!("rules-{version}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("main.yar"), sources.concat()).unwrap();
        vitrine()
            .current_dir(d)
            .args(["bundle", "build"])
            .arg(&src)
            .args(["-o", &format!("v{version}.bundle"), "--name", "daily"])
            .args(["--version", version])
            .assert()
            .success();
    };
    let publish = |file: &str, extra: &[&str]| {
        vitrine()
            .current_dir(d)
            .args(["publish", file, "--log", &url, "--key", "p.key"])
            .args(["--policy", "policy", "--wait", "20"])
            .args(extra)
            .assert()
    };
    build("1", &[CLEAN]);
    build("2", &[CLEAN, LEAK]);
    publish("v1.bundle", &[]).success();

    // A monitor that follows the log: one JSON line per pass.
    let mut follower = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .current_dir(d)
        .args(["audit", "--log", &url, "--log-key", &log_vkey])
        .args(["--authorized", "log/authorized", "--state", "follow"])
        .args(["--follow", "--interval", "1", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let passes = {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = follower.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    };
    let first = passes
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the follower reports its first pass");
    assert!(
        first.contains("Ransom_Demo") && !first.contains("Leak_Hunt"),
        "{first}"
    );

    // Refused while a high finding is not acknowledged, naming it.
    publish("v2.bundle", &[])
        .code(2)
        .stderr(predicates::str::contains("VL101 Leak_Hunt"))
        .stderr(predicates::str::contains("--allow VL101:Leak_Hunt"));
    // One acknowledgement does not cover the other finding.
    publish(
        "v2.bundle",
        &["--allow", "VL101:Leak_Hunt", "--reason", "test"],
    )
    .code(2)
    .stderr(predicates::str::contains("VL301 Leak_Hunt"));
    // An acknowledgement of a finding that does not exist is refused.
    publish(
        "v2.bundle",
        &["--allow", "VL101:Other_Rule", "--reason", "typo"],
    )
    .code(2)
    .stderr(predicates::str::contains("no such finding"));
    publish(
        "v2.bundle",
        &[
            "--allow",
            "VL101:Leak_Hunt",
            "--reason",
            "demonstration of a bad rule",
            "--allow",
            "VL301:Leak_Hunt",
            "--reason",
            "demonstration of a bad rule",
        ],
    )
    .success()
    .stdout(predicates::str::contains("at log index 1"));
    // A rule only the canary scan catches is refused too (VL701).
    build("3", &[CLEAN, QUIET]);
    publish("v3.bundle", &[])
        .code(2)
        .stderr(predicates::str::contains("VL701 Quiet_Hunt"));
    // The follower sees v2 on a later pass, without being restarted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = passes
            .recv_timeout(left)
            .expect("the follower reports the new bundle");
        if line.contains("Leak_Hunt") {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let statement = std::fs::read_to_string(d.join("v2.bundle.statement")).unwrap();
    assert!(
        statement.contains("\nallow VL101:Leak_Hunt demonstration of a bad rule\n"),
        "{statement}"
    );

    // The monitor: both bundles, the rule added in v2 with its findings and
    // the publisher's reason, at log index 1.
    let audit = |fmt: &str| {
        vitrine()
            .current_dir(d)
            .args(["audit", "--log", &url, "--log-key", &log_vkey])
            .args(["--authorized", "log/authorized", "--state", "audit"])
            .args(["--format", fmt])
            .assert()
    };
    let a = audit("text").code(0);
    let text = stdout(&a);
    assert!(text.contains("log index 1: bundle daily v2"), "{text}");
    assert!(text.contains("+ main.yar:Leak_Hunt"), "{text}");
    assert!(text.contains("high VL101 Leak_Hunt"), "{text}");
    assert!(
        text.contains("[acknowledged by the publisher: demonstration of a bad rule]"),
        "{text}"
    );
    // Second run: nothing new.
    let a = audit("json").code(0);
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(doc["previous_size"], 2);
    assert_eq!(doc["bundles"].as_array().unwrap().len(), 0);

    // The canary-only rule, shipped with an acknowledgement, is what a
    // monitor running the canary scan reports.
    publish(
        "v3.bundle",
        &[
            "--allow",
            "VL701:Quiet_Hunt",
            "--reason",
            "canary demonstration",
        ],
    )
    .success();
    let a = vitrine()
        .current_dir(d)
        .args(["audit", "--log", &url, "--log-key", &log_vkey])
        .args(["--authorized", "log/authorized", "--state", "canary-audit"])
        .args(["--canaries", "--seed", "5"])
        .assert()
        .code(0);
    let text = stdout(&a);
    assert!(text.contains("high VL701 Quiet_Hunt"), "{text}");
    assert!(
        text.contains("[acknowledged by the publisher: canary demonstration]"),
        "{text}"
    );
    assert!(!text.contains("VL701 Ransom_Demo"), "{text}");

    // A bundle logged but withheld from the content store: alarm, exit 1.
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(d.join("v1.bundle")).unwrap(),
        ))
    };
    let content = d.join("log/content");
    let stored: Vec<_> = walk(&content)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&sha))
        .collect();
    assert!(!stored.is_empty(), "content store layout changed?");
    for p in stored {
        std::fs::remove_file(p).unwrap();
    }
    vitrine()
        .current_dir(d)
        .args(["audit", "--log", &url, "--log-key", &log_vkey])
        .args(["--authorized", "log/authorized", "--state", "fresh"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(format!(
            "ALARM: log index 0: bundle {sha} cannot be fetched"
        )));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn lint_canaries_flags_rules_that_match_marked_documents() {
    let t = tempfile::tempdir().unwrap();
    // A rule the static reading cannot follow, which still matches a marked
    // document.
    let hunt = t.path().join("hunt.yar");
    std::fs::write(&hunt, QUIET).unwrap();
    let out = vitrine()
        .args(["lint", "--format", "json", "--canaries"])
        .arg(&hunt)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let canary: Vec<_> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "VL701")
        .collect();
    assert_eq!(canary.len(), 1, "{doc}");
    assert_eq!(canary[0]["rule"], "Quiet_Hunt");
    assert!(
        canary[0]["message"].as_str().unwrap().contains("canary"),
        "{doc}"
    );

    // The malware corpus matches no canary, whatever the seed.
    for seed in ["1", "977"] {
        vitrine()
            .args(["lint", "--canaries", "--seed", seed])
            .arg(corpus("malware"))
            .assert()
            .code(0)
            .stdout(predicates::str::contains("VL701").not());
    }

    // The operator's own documents are canaries too.
    let docs = t.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("memo.txt"), "Project BLUEBIRD: internal only\n").unwrap();
    let mine = t.path().join("mine.yar");
    std::fs::write(
        &mine,
        "rule Bird { strings: $a = \"BLUEBIRD\" condition: $a }\n",
    )
    .unwrap();
    vitrine()
        .args(["lint", "--canaries", "--canary-dir"])
        .arg(&docs)
        .arg(&mine)
        .assert()
        .code(1)
        .stdout(
            predicates::str::contains("VL701").and(predicates::str::contains("operator/memo.txt")),
        );
    // Without --canaries nothing is compiled or scanned.
    vitrine()
        .arg("lint")
        .arg(&mine)
        .assert()
        .stdout(predicates::str::contains("VL701").not());
}
