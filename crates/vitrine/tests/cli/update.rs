//! `vitrine trust`, `update --from`, `status` and `scan` with a verified
//! bundle, on the artifacts `vitrine demo --keep` leaves (no server runs
//! during the offline checks).

use std::path::Path;

use crate::common::{eicar, log_with_publisher, spawn_server, stdout, vitrine};

/// `status --format json`: exit 0, or 1 with warnings (a refused update
/// is one until an update succeeds).
fn status_json(state: &Path) -> serde_json::Value {
    let out = vitrine()
        .args(["status", "--format", "json", "--state"])
        .arg(state)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warned = !v["warnings"].as_array().unwrap().is_empty();
    assert_eq!(out.status.code(), Some(i32::from(warned)), "{v}");
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn offline_update_from_demo_artifacts_then_tampered_copies_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("demo");
    vitrine()
        .args(["demo", "--keep"])
        .arg(&kept)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let policy = kept.join("policy");
    let state = tmp.path().join("state");

    // A fresh endpoint has nothing active; scan falls back to the built-in set.
    assert!(status_json(&state)["active"].is_null());

    // A tampered bundle is refused at step 1 and nothing is installed.
    let bad = tmp.path().join("bad-v1");
    copy_dir(&kept.join("updates/v1"), &bad);
    let mut bytes = std::fs::read(bad.join("bundle")).unwrap();
    bytes[600] ^= 1;
    std::fs::write(bad.join("bundle"), bytes).unwrap();
    vitrine()
        .args(["update", "--policy"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .arg("--from")
        .arg(&bad)
        .assert()
        .code(2)
        .stdout(predicates::str::contains("[FAIL] 1."))
        .stdout(predicates::str::contains("REFUSED: bundle hashes to"));
    assert!(status_json(&state)["active"].is_null());

    // The genuine v2 update directory installs offline, each check printed.
    vitrine()
        .args(["update", "--policy"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .arg("--from")
        .arg(kept.join("updates/v2"))
        .assert()
        .success()
        .stdout(predicates::str::contains("[ok] 3. included at index 1"))
        .stdout(predicates::str::contains("[ok] 6."))
        .stdout(predicates::str::contains("ACTIVATED bundle starter v2"));
    let before = status_json(&state);
    assert_eq!(before["active"]["version"], 2);
    assert_eq!(before["active"]["log_index"], 1);
    assert_eq!(before["active"]["checkpoint_size"], 2);
    assert_eq!(before["active"]["witnesses"].as_array().unwrap().len(), 3);
    let text = vitrine()
        .args(["status", "--state"])
        .arg(&state)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("active bundle:  starter v2"), "{text}");

    // The same again: nothing to do.
    vitrine()
        .args(["update", "--policy"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .arg("--from")
        .arg(kept.join("updates/v2"))
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing to do"));

    // A statement signed by someone else is refused; state unchanged.
    let forged = tmp.path().join("forged-v2");
    copy_dir(&kept.join("updates/v2"), &forged);
    let st = std::fs::read_to_string(forged.join("bundle.statement")).unwrap();
    let body = st.split("\n\n").next().unwrap();
    std::fs::write(
        forged.join("bundle.statement"),
        format!("{body}\n\n\u{2014} publisher.demo.vitrine.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
    )
    .unwrap();
    vitrine()
        .args(["update", "--policy"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .arg("--from")
        .arg(&forged)
        .assert()
        .code(2)
        .stdout(predicates::str::contains("REFUSED"));

    // Rollback to v1 (its older checkpoint) is refused; state unchanged.
    vitrine()
        .args(["update", "--policy"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .arg("--from")
        .arg(kept.join("updates/v1"))
        .assert()
        .code(2)
        .stdout(predicates::str::contains("REFUSED"));
    // Nothing changed but the record of the refusal, which status shows.
    let after = status_json(&state);
    assert_eq!(after["bundles"], before["bundles"]);
    assert!(
        after["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("the last `vitrine update` failed at "),
        "{after}"
    );

    // Scans now use the verified bundle and say so.
    let samples = tmp.path().join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(samples.join("e.com"), eicar()).unwrap();
    vitrine()
        .args(["scan", "--no-progress", "--state"])
        .arg(&state)
        .arg(&samples)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("EICAR"))
        .stdout(predicates::str::contains(
            "Rules: verified bundle starter v2 (log index 1)",
        ));
    // A fresh state still scans with the built-in set, labelled unverified.
    vitrine()
        .args(["scan", "--no-progress", "--state"])
        .arg(tmp.path().join("empty-state"))
        .arg(&samples)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("UNVERIFIED"));
}

#[test]
fn trust_init_writes_a_policy_that_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let publisher = vitrine()
        .current_dir(tmp.path())
        .args(["key", "generate", "publisher.example/p1", "-o", "p.key"])
        .assert()
        .success();
    let pub_vkey = String::from_utf8_lossy(&publisher.get_output().stdout)
        .trim()
        .to_owned();
    let w = vitrine()
        .args(["witness", "init", "--name", "w1.example", "--data"])
        .arg(tmp.path().join("w1"))
        .assert()
        .success();
    let w_vkey = String::from_utf8_lossy(&w.get_output().stdout)
        .trim()
        .to_owned();
    let log = vitrine()
        .args(["log", "init", "--origin", "log.example/v", "--data"])
        .arg(tmp.path().join("log"))
        .assert()
        .success();
    let log_vkey = String::from_utf8_lossy(&log.get_output().stdout)
        .trim()
        .to_owned();
    let policy = tmp.path().join("policy");
    vitrine()
        .args(["trust", "init", "-o"])
        .arg(&policy)
        .args(["--log-key", &log_vkey, "--log-url", "http://127.0.0.1:1"])
        .args(["--witness", "w1", &w_vkey, "http://127.0.0.1:2"])
        .args([
            "--quorum",
            "any",
            "--publisher",
            &pub_vkey,
            "--max-age",
            "600",
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(
        text.contains(&format!("witness w1 {w_vkey} http://127.0.0.1:2\n")),
        "{text}"
    );
    assert!(
        text.contains("group witnesses any w1\nquorum witnesses\n"),
        "{text}"
    );
    assert!(text.contains("max-age 600\n"), "{text}");
    // Never overwritten.
    vitrine()
        .args(["trust", "init", "-o"])
        .arg(&policy)
        .args(["--log-key", &log_vkey, "--quorum", "none"])
        .args(["--publisher", &pub_vkey, "--max-age", "600"])
        .assert()
        .code(2);
    // A bad quorum is refused.
    vitrine()
        .args(["trust", "init", "-o"])
        .arg(tmp.path().join("p2"))
        .args(["--log-key", &log_vkey, "--witness", "w1", &w_vkey])
        .args([
            "--quorum",
            "most",
            "--publisher",
            &pub_vkey,
            "--max-age",
            "600",
        ])
        .assert()
        .code(2);
}

#[test]
fn publish_against_log_serve_writes_the_update_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/p", "publisher.example/p");
    let (_server, url) = spawn_server(&["log", "serve", "--addr", "127.0.0.1:0"], &d.join("log"));

    // `log serve` has no witnesses: a `quorum none` policy lets publishing
    // finish, and endpoints refuse what no witness cosigned (stale).
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
    let src = d.join("rules");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.yar"), "rule A { condition: false }\n").unwrap();
    vitrine()
        .current_dir(d)
        .args([
            "bundle",
            "build",
            "rules",
            "-o",
            "b.bundle",
            "--name",
            "t",
            "--version",
            "1",
        ])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args([
            "publish", "b.bundle", "--log", &url, "--key", "p.key", "--policy", "policy",
        ])
        .args(["--wait", "20"])
        .assert()
        .success()
        .stdout(predicates::str::contains("at log index 0"));
    for f in [
        "b.bundle.statement",
        "b.bundle.tlog-proof",
        "b.bundle.update/bundle",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(d.join("b.bundle")).unwrap(),
        std::fs::read(d.join("b.bundle.update/bundle")).unwrap()
    );
    for source in [["--from", "b.bundle.update"], ["--log", url.as_str()]] {
        vitrine()
            .current_dir(d)
            .args(["update", "--policy", "policy", "--state", "st"])
            .args(source)
            .assert()
            .code(2)
            .stdout(predicates::str::contains("[FAIL] 5."))
            .stdout(predicates::str::contains("checkpoint is stale"));
    }
    assert!(status_json(&d.join("st"))["active"].is_null());
}

#[test]
fn log_serve_with_a_witness_publishes_only_cosigned_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/w", "publisher.example/w");
    let w_vkey = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "witness.example/w1", "--data"])
            .arg(d.join("w1"))
            .assert()
            .success(),
    );
    vitrine()
        .args(["witness", "add-log", "--data"])
        .arg(d.join("w1"))
        .arg(&log_vkey)
        .assert()
        .success();
    let (_witness, w_url) = spawn_server(
        &["witness", "serve", "--addr", "127.0.0.1:0"],
        &d.join("w1"),
    );
    std::fs::write(
        d.join("witnesses"),
        format!("witness w1 {w_vkey} {w_url}\nquorum w1\n"),
    )
    .unwrap();
    let witnesses = d.join("witnesses");
    let (_log, url) = spawn_server(
        &[
            "log",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--batch-wait-ms",
            "10",
            "--witnesses",
            witnesses.to_str().unwrap(),
        ],
        &d.join("log"),
    );

    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args([
            "--log-url",
            &url,
            "--witness",
            "w1",
            &w_vkey,
            "--quorum",
            "1",
        ])
        .args(["--publisher", &pub_vkey, "--max-age", "600"])
        .assert()
        .success();
    let src = d.join("rules");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.yar"), "rule A { condition: false }\n").unwrap();
    vitrine()
        .current_dir(d)
        .args(["bundle", "build", "rules", "-o", "b.bundle", "--name", "t"])
        .args(["--version", "1"])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["publish", "b.bundle", "--log", &url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    // The proof's checkpoint carries the witness's cosignature ...
    let proof = std::fs::read_to_string(d.join("b.bundle.tlog-proof")).unwrap();
    assert!(proof.contains("— witness.example/w1 "), "{proof}");
    // ... so an endpoint that demands that witness installs the bundle,
    // online and offline.
    vitrine()
        .current_dir(d)
        .args([
            "update", "--policy", "policy", "--state", "online", "--log", &url,
        ])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["update", "--policy", "policy", "--state", "offline"])
        .args(["--from", "b.bundle.update"])
        .assert()
        .success();
    for st in ["online", "offline"] {
        let s = status_json(&d.join(st));
        assert_eq!(s["active"]["version"], 1, "{s}");
    }
}

fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    crate::hostile_log::snapshot(dir)
}

/// Issue 12, observation 1, as observed: a consistency proof of one line
/// of 44 `A`s is a refusal (state byte-identical), not a permanent freeze;
/// a genuine fork (the demo's cosigned fork) is recorded, makes `status`
/// exit non-zero and `scan` say so, and `trust forks` lists, shows,
/// exports and clears it (the clearing recorded in the state).
#[test]
fn bad_proofs_do_not_freeze_and_genuine_forks_can_be_reviewed_and_cleared() {
    use predicates::prelude::PredicateBooleanExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    vitrine()
        .args(["demo", "--keep"])
        .arg(&d)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let policy = d.join("policy");
    let ep = tmp.path().join("ep");
    let update_from = |dir: &Path| {
        vitrine()
            .args(["update", "--policy"])
            .arg(&policy)
            .arg("--state")
            .arg(&ep)
            .arg("--from")
            .arg(dir)
            .assert()
    };
    update_from(&d.join("updates/v2"))
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle starter v2"));
    let evil = tmp.path().join("evil");
    copy_dir(&d.join("updates/v1"), &evil);
    std::fs::write(
        evil.join("bundle.consistency"),
        format!("{}=\n", "A".repeat(43)),
    )
    .unwrap();
    let before = snapshot(&ep);
    update_from(&evil).code(2).stdout(predicates::str::contains(
        "REFUSED: the consistency proof from size 1 to 2 does not verify",
    ));
    assert_eq!(snapshot(&ep), before, "a refusal changed the state");
    update_from(&d.join("updates/v2"))
        .success()
        .stdout(predicates::str::contains("UP TO DATE"));
    vitrine()
        .args(["status", "--state"])
        .arg(&ep)
        .assert()
        .success();

    // A genuine fork: same size, another root, both signed by the log key.
    update_from(&d.join("updates/fork-cosigned"))
        .code(2)
        .stdout(predicates::str::contains(
            "forked (same size, different root)",
        ));
    update_from(&d.join("updates/v2"))
        .code(2)
        .stdout(predicates::str::contains("frozen by fork evidence"));
    vitrine()
        .args(["status", "--state"])
        .arg(&ep)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "WARNING:        fork evidence for log",
        ));
    let samples = tmp.path().join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(samples.join("clean.txt"), "hello").unwrap();
    vitrine()
        .args(["scan", "--no-progress", "--state"])
        .arg(&ep)
        .arg(&samples)
        .assert()
        .success()
        .stdout(predicates::str::contains("WARNING: fork evidence for log"));
    let list = stdout(
        &vitrine()
            .args(["trust", "forks", "list", "--state"])
            .arg(&ep)
            .assert()
            .success(),
    );
    assert!(list.contains("STANDING"), "{list}");
    let id = list.split_whitespace().next().unwrap().to_owned();
    let export = vitrine()
        .args(["trust", "forks", "export", &id, "--state"])
        .arg(&ep)
        .assert()
        .success();
    let ev: serde_json::Value = serde_json::from_slice(&export.get_output().stdout).unwrap();
    assert_eq!(ev["kind"], "same-size-different-root");
    assert!(ev["stored_checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("demo.vitrine.example/log\n2\n"));
    assert!(ev["new_checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("demo.vitrine.example/log\n2\n"));
    assert_ne!(ev["stored_checkpoint"], ev["new_checkpoint"]);
    vitrine()
        .args([
            "trust",
            "forks",
            "show",
            "demo.vitrine.example/log",
            "--state",
        ])
        .arg(&ep)
        .assert()
        .success()
        .stdout(predicates::str::contains("same size, different root"));
    vitrine()
        .args(["trust", "forks", "clear", &id, "--state"])
        .arg(&ep)
        .assert()
        .success();
    let list = stdout(
        &vitrine()
            .args(["trust", "forks", "list", "--state"])
            .arg(&ep)
            .assert()
            .success(),
    );
    assert!(list.contains("cleared"), "{list}");
    assert!(!list.contains("STANDING"), "{list}");
    // The fork no longer stands; the refused update is still the last one
    // until an update succeeds.
    vitrine()
        .args(["status", "--state"])
        .arg(&ep)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("fork evidence for log").not())
        .stdout(predicates::str::contains(
            "WARNING:        the last `vitrine update` failed at",
        ));
    vitrine()
        .args(["trust", "forks", "clear", &id, "--state"])
        .arg(&ep)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no standing fork evidence"));
    update_from(&d.join("updates/v2"))
        .success()
        .stdout(predicates::str::contains("UP TO DATE"));
}

/// A log with one witness on 127.0.0.1 and a policy `policy` in `d` that
/// demands it; returns the servers (kept alive) and the log URL.
pub(crate) fn witnessed_log(d: &Path, tag: &str) -> (Vec<crate::common::Server>, String) {
    let (log_vkey, pub_vkey) = log_with_publisher(
        d,
        &format!("log.example/{tag}"),
        &format!("publisher.example/{tag}"),
    );
    let w_vkey = stdout(
        &vitrine()
            .args(["witness", "init", "--name"])
            .arg(format!("witness.example/{tag}"))
            .arg("--data")
            .arg(d.join("w1"))
            .assert()
            .success(),
    );
    vitrine()
        .args(["witness", "add-log", "--data"])
        .arg(d.join("w1"))
        .arg(&log_vkey)
        .assert()
        .success();
    let (witness, w_url) = spawn_server(
        &["witness", "serve", "--addr", "127.0.0.1:0"],
        &d.join("w1"),
    );
    std::fs::write(
        d.join("witnesses"),
        format!("witness w1 {w_vkey} {w_url}\nquorum w1\n"),
    )
    .unwrap();
    let witnesses = d.join("witnesses");
    let (log, url) = spawn_server(
        &[
            "log",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--batch-wait-ms",
            "10",
            "--witnesses",
            witnesses.to_str().unwrap(),
        ],
        &d.join("log"),
    );
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args(["--log-url", &url, "--witness", "w1", &w_vkey])
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
    (vec![witness, log], url)
}

/// Builds bundle `name` v`version` in `d` from one rule file `file`
/// holding `rules`; returns the bundle's file name.
pub(crate) fn build_bundle(d: &Path, name: &str, version: u64, file: &str, rules: &str) -> String {
    let src = d.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(file), rules).unwrap();
    let out = format!("{name}-{version}.bundle");
    vitrine()
        .current_dir(d)
        .args(["bundle", "build"])
        .arg(&src)
        .args([
            "-o",
            &out,
            "--name",
            name,
            "--version",
            &version.to_string(),
        ])
        .assert()
        .success();
    out
}

/// Builds bundle `name` v`version` (one rule `rule`) and publishes it.
pub(crate) fn publish_named(d: &Path, url: &str, name: &str, version: u64, rule: &str) {
    let out = build_bundle(d, name, version, "r.yar", rule);
    vitrine()
        .current_dir(d)
        .args(["publish", &out, "--log", url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
}

#[test]
fn channels_are_followed_side_by_side_each_with_its_own_version_order() {
    use predicates::prelude::PredicateBooleanExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_servers, url) = witnessed_log(d, "ch");
    let mut policy = std::fs::read_to_string(d.join("policy")).unwrap();
    policy.push_str("bundle starter\nbundle daily\n");
    std::fs::write(d.join("policy"), policy).unwrap();
    let update = |state: &str| {
        let mut c = vitrine();
        c.current_dir(d).args([
            "update", "--policy", "policy", "--state", state, "--log", &url,
        ]);
        c
    };

    // The statement names its bundle (its channel).
    publish_named(d, &url, "starter", 3, "rule Starter { condition: false }\n");
    let st = std::fs::read_to_string(d.join("starter-3.bundle.statement")).unwrap();
    assert!(st.contains("\nbundle starter\n"), "{st}");
    // A channel the policy does not follow is never installed.
    publish_named(d, &url, "other", 9, "rule Other { condition: false }\n");
    update("ep")
        .assert()
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle starter v3"));
    // daily v1 after starter v3: its own channel, not a rollback.
    publish_named(
        d,
        &url,
        "daily",
        1,
        "rule Daily_Eicar { strings: $a = \"EICAR-STANDARD-ANTIVIRUS-TEST-FILE\" condition: $a }\n",
    );
    update("ep")
        .assert()
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle daily v1"));
    update("ep")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "UP TO DATE: bundles daily v1, starter v3 are the newest",
        ));
    // A fresh endpoint installs both channels in one run, never `other`.
    update("fresh")
        .assert()
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle starter v3"))
        .stdout(predicates::str::contains("ACTIVATED bundle daily v1"))
        .stdout(predicates::str::contains("other").not());
    publish_named(d, &url, "daily", 2, "rule Daily2 { condition: false }\n");
    update("ep")
        .assert()
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle daily v2"));
    // daily v1 after daily v2 is a rollback: refused, state unchanged.
    let before = snapshot(&d.join("ep"));
    publish_named(d, &url, "daily", 1, "rule Daily_Old { condition: false }\n");
    update("ep")
        .assert()
        .code(2)
        .stdout(predicates::str::contains("rollback"));
    assert_eq!(snapshot(&d.join("ep")), before);
    // Offline too, a bundle of a channel the policy does not follow is
    // refused and nothing is installed.
    vitrine()
        .current_dir(d)
        .args(["update", "--policy", "policy", "--state", "ep"])
        .args(["--from", "other-9.bundle.update"])
        .assert()
        .code(2)
        .stdout(predicates::str::contains(
            "[FAIL] a bundle the policy follows (its bundle lines)",
        ))
        .stdout(predicates::str::contains(
            "REFUSED: bundle \"other\" is not a channel this policy follows (its bundle lines: starter, daily)",
        ));
    assert_eq!(snapshot(&d.join("ep")), before);

    // status lists every active bundle.
    let s = status_json(&d.join("ep"));
    let names: Vec<(String, u64)> = s["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bundle"]["name"].as_str().unwrap().to_owned(),
                b["bundle"]["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("daily".to_owned(), 2), ("starter".to_owned(), 3)],
        "{s}"
    );
    // Exit 1: the last update (channel `other`, offline) was refused.
    let text = stdout(
        &vitrine()
            .args(["status", "--state"])
            .arg(d.join("ep"))
            .assert()
            .code(1),
    );
    assert!(
        text.contains("is not a channel this policy follows"),
        "{text}"
    );
    assert!(text.contains("active bundle:  daily v2"), "{text}");
    assert!(text.contains("active bundle:  starter v3"), "{text}");

    // scan loads every active bundle and its summary names each: the
    // fresh endpoint's daily v1 detects EICAR, which starter alone cannot.
    let samples = d.join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(samples.join("e.com"), eicar()).unwrap();
    vitrine()
        .args(["scan", "--no-progress", "--state"])
        .arg(d.join("fresh"))
        .arg(&samples)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("Daily_Eicar"))
        .stdout(predicates::str::contains(
            "Rules: verified bundles daily v1 (log index",
        ))
        .stdout(predicates::str::contains("starter v3 (log index 0)"));
}

/// A log URL without a scheme is refused with a sentence that says what
/// a URL looks like, before anything is fetched.
#[test]
fn a_url_without_a_scheme_is_refused_with_a_sentence() {
    let out = vitrine()
        .args(["update", "--policy", "policy", "--log", "127.0.0.1:8080"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("is not a URL") && e.contains("http://"), "{e}");
    assert!(!e.contains("relative URL without a base"), "{e}");
}
