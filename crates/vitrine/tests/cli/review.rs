//! `vitrine review` and what endpoints do with reviews and acknowledged
//! findings, against a real log and witness.

use std::path::Path;

use predicates::prelude::*;

use crate::common::{stdout, vitrine};
use crate::update::{build_bundle, witnessed_log};

/// Builds bundle `daily` v`version` from `rules` in `d`.
fn build(d: &Path, version: u64, rules: &str) -> String {
    build_bundle(d, "daily", version, "main.yar", rules)
}

fn publish(d: &Path, url: &str, bundle: &str, extra: &[&str]) {
    vitrine()
        .current_dir(d)
        .args(["publish", bundle, "--log", url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "30"])
        .args(extra)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
}

/// A reviewer key `carol.key` (reviewer.example/carol) in `d`, allowed to
/// log reviews; the publisher's `authorized` line gets `types` (and
/// `review` too when `publisher_reviews`); the policy `d/policy` names
/// the reviewer and requires one review.
fn with_reviewer(d: &Path, types: &str, publisher_reviews: bool) {
    let carol = stdout(
        &vitrine()
            .current_dir(d)
            .args([
                "key",
                "generate",
                "reviewer.example/carol",
                "-o",
                "carol.key",
            ])
            .assert()
            .success(),
    );
    let authorized = std::fs::read_to_string(d.join("log/authorized")).unwrap();
    let publisher = authorized.trim().strip_prefix("rules ").unwrap().to_owned();
    let mut lines = format!("{types} {publisher}\nreview {carol}\n");
    if publisher_reviews {
        lines.push_str(&format!("review {publisher}\n"));
    }
    std::fs::write(d.join("log/authorized"), lines).unwrap();
    let mut policy = std::fs::read_to_string(d.join("policy")).unwrap();
    policy.push_str(&format!("reviewer {carol}\nrequire-reviews 1\n"));
    std::fs::write(d.join("policy"), policy).unwrap();
}

/// `vitrine review sign` then `submit`, as `key` with verdict `verdict`.
fn review(d: &Path, url: &str, key: &str, bundle: &str, verdict: &str, comment: &str) {
    let report = format!("{bundle}.{verdict}.{key}.md");
    std::fs::write(
        d.join(&report),
        format!("# Review of {bundle}\n\n{comment}\n"),
    )
    .unwrap();
    let statement = format!("{bundle}.{key}.review");
    vitrine()
        .current_dir(d)
        .args(["review", "sign", "--key", key, "--subject", bundle])
        .args([
            "--verdict",
            verdict,
            "--report",
            &report,
            "--comment",
            comment,
        ])
        .args(["-o", &statement])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args([
            "review", "submit", &statement, "--report", &report, "--key", key,
        ])
        .args(["--log", url, "--policy", "policy", "--wait", "30"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("logged review of"));
}

const V1: &str = "rule Ransom_Demo { strings: $a = \"vssadmin delete shadows /all /quiet\" nocase condition: uint16(0) == 0x5A4D and $a }\n";
const V2: &str = "rule Ransom_Demo { strings: $a = \"vssadmin delete shadows /all /quiet\" nocase $b = \"wbadmin delete catalog\" nocase condition: uint16(0) == 0x5A4D and any of them }\n";
const V3: &str = "rule Ransom_Demo { strings: $a = \"vssadmin delete shadows\" nocase condition: uint16(0) == 0x5A4D and $a }\n";

#[test]
fn reviews_gate_installation_and_status_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_servers, url) = witnessed_log(d, "rv");
    // The publisher may log reviews too: its own approvals must still not
    // count.
    with_reviewer(d, "rules", true);
    let update = || {
        let mut c = vitrine();
        c.current_dir(d).args([
            "update", "--policy", "policy", "--state", "ep", "--log", &url,
        ]);
        c
    };
    let status = || {
        let mut c = vitrine();
        c.current_dir(d).args(["status", "--state", "ep"]);
        c
    };

    // v1, not yet reviewed: refused at step 7, and status says so.
    let b1 = build(d, 1, V1);
    publish(d, &url, &b1, &[]);
    update()
        .assert()
        .code(2)
        .stdout(predicate::str::contains("[FAIL] 7."))
        .stdout(predicate::str::contains(
            "0 approving reviews, the policy requires 1",
        ));
    status()
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "the last `vitrine update` failed at",
        ))
        .stdout(predicate::str::contains("0 approving reviews"));

    // The reviewer reads the packet, approves, logs it: v1 installs.
    vitrine()
        .current_dir(d)
        .args(["review", "prepare", &b1])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 rule added, 0 removed, 0 changed; 0 lint findings (0 acknowledged); 0 hash signatures added",
        ));
    let md = std::fs::read_to_string(d.join(format!("{b1}.review/packet.md"))).unwrap();
    assert!(
        md.contains("### `main.yar:Ransom_Demo`") && md.contains("vssadmin"),
        "{md}"
    );
    review(
        d,
        &url,
        "carol.key",
        &b1,
        "approve",
        "no document-targeting rules",
    );
    update()
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "[ok] 7. 1 approving reviews logged",
        ))
        .stdout(predicate::str::contains("ACTIVATED bundle daily v1"));
    status().assert().success();

    // v2: the packet shows the change as a diff; the reviewer rejects it
    // and the endpoint refuses it, saying who and why.
    let b2 = build(d, 2, V2);
    publish(d, &url, &b2, &[]);
    vitrine()
        .current_dir(d)
        .args(["review", "prepare", &b2, "--since", &b1])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 rules added, 0 removed, 1 changed",
        ));
    let md = std::fs::read_to_string(d.join(format!("{b2}.review/packet.md"))).unwrap();
    assert!(
        md.contains("+rule Ransom_Demo") && md.contains("-rule Ransom_Demo"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(format!("{b2}.review/packet.json"))).unwrap())
            .unwrap();
    assert_eq!(json["changed"][0], "main.yar:Ransom_Demo");
    assert_eq!(json["previous"]["version"], 1);
    review(
        d,
        &url,
        "carol.key",
        &b2,
        "reject",
        "wbadmin string matches backup tools",
    );
    update()
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "reviewer reviewer.example/carol rejected the bundle",
        ))
        .stdout(predicate::str::contains(
            "wbadmin string matches backup tools",
        ));
    status()
        .assert()
        .code(1)
        .stdout(predicate::str::contains("active bundle:  daily v1"))
        .stdout(predicate::str::contains("rejected the bundle"));

    // v3: the only approval is the publisher's own: not counted.
    let b3 = build(d, 3, V3);
    publish(d, &url, &b3, &[]);
    review(d, &url, "p.key", &b3, "approve", "looks fine to me");
    update().assert().code(2).stdout(predicate::str::contains(
        "0 approving reviews, the policy requires 1",
    ));
    vitrine()
        .current_dir(d)
        .args(["review", "list", "--policy", "policy", "--subject", &b3])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "approve  by publisher.example/rv (not a reviewer of this policy: not counted)",
        ));
    let listed = vitrine()
        .current_dir(d)
        .args(["review", "list", "--policy", "policy", "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    let reviews = v["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 3, "{v}");
    let counted: Vec<&str> = reviews
        .iter()
        .filter(|r| r["counted"] == true)
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(counted, ["approve", "reject"]);
    // Every report is in the log's content store under its hash.
    let report = reviews[0]["report"].as_str().unwrap();
    let body = reqwest::blocking::get(format!("{url}/content/sha256/{report}"))
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("no document-targeting rules"), "{body}");

    // Signing checks its inputs; submitting checks the report.
    vitrine()
        .current_dir(d)
        .args(["review", "sign", "--key", "carol.key", "--subject", "nope"])
        .args([
            "--verdict",
            "approve",
            "--report",
            "policy",
            "-o",
            "x.review",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither a SHA-256"));
    vitrine()
        .current_dir(d)
        .args(["review", "submit", &format!("{b1}.carol.key.review")])
        .args([
            "--report",
            "policy",
            "--key",
            "carol.key",
            "--policy",
            "policy",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("names another report"));
}

const LEAK: &str = "rule Leak_Hunt { strings: $m = \"TOP SECRET\" nocase condition: uint32be(0) == 0xD0CF11E0 and $m }\n";

#[test]
fn acknowledged_findings_reach_the_endpoint_and_a_policy_can_refuse_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_servers, url) = witnessed_log(d, "ack");
    let b1 = build(d, 1, &format!("{V1}{LEAK}"));
    std::fs::write(
        d.join("acks"),
        "# Acknowledged after review, case 4711\n\nVL101:Leak_Hunt marking used by the X gang's leak site\nVL301:Leak_Hunt the gang ships its notes as OLE documents\n",
    )
    .unwrap();
    publish(d, &url, &b1, &["--allow-file", "acks"]);
    let line = "acknowledged finding VL101 (high) in rule Leak_Hunt: marking used by the X gang's leak site";
    vitrine()
        .current_dir(d)
        .args([
            "update", "--policy", "policy", "--state", "ep", "--log", &url,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(line))
        .stdout(predicate::str::contains(
            "acknowledged finding VL301 (high) in rule Leak_Hunt",
        ));
    vitrine()
        .current_dir(d)
        .args(["status", "--state", "ep"])
        .assert()
        .success()
        .stdout(predicate::str::contains(line));
    let out = vitrine()
        .current_dir(d)
        .args(["status", "--state", "ep", "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v["bundles"][0]["acknowledged_findings"][0]["finding"],
        "VL101:Leak_Hunt"
    );
    assert_eq!(
        v["bundles"][0]["acknowledged_findings"][0]["severity"],
        "high"
    );

    // Policies that refuse the finding by ID prefix, by ID, by severity.
    let base = std::fs::read_to_string(d.join("policy")).unwrap();
    for pattern in ["VL1*", "VL301", "high"] {
        std::fs::write(
            d.join("strict"),
            format!("{base}refuse-finding {pattern}\n"),
        )
        .unwrap();
        vitrine()
            .current_dir(d)
            .args([
                "update",
                "--policy",
                "strict",
                "--state",
                &format!("strict-{pattern}"),
            ])
            .args(["--log", &url])
            .assert()
            .code(2)
            .stdout(predicate::str::contains("[FAIL] 7."))
            .stdout(predicate::str::contains(format!(
                "which the policy refuses (refuse-finding {pattern})"
            )));
    }
    // A pattern that matches nothing acknowledged lets it in.
    std::fs::write(d.join("lenient"), format!("{base}refuse-finding low\n")).unwrap();
    vitrine()
        .current_dir(d)
        .args([
            "update",
            "--policy",
            "lenient",
            "--state",
            "st-lenient",
            "--log",
            &url,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "no acknowledged finding the policy refuses (low)",
        ));
    // A malformed pattern is an error naming the line.
    std::fs::write(d.join("bad"), format!("{base}refuse-finding VLx\n")).unwrap();
    vitrine()
        .current_dir(d)
        .args([
            "update", "--policy", "bad", "--state", "st-bad", "--log", &url,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "refuse-finding takes a finding ID",
        ));
    // An acknowledgement file line without a reason is an error naming it.
    std::fs::write(d.join("acks-bad"), "VL101:Leak_Hunt\n").unwrap();
    vitrine()
        .current_dir(d)
        .args([
            "publish", &b1, "--log", &url, "--key", "p.key", "--policy", "policy",
        ])
        .args(["--allow-file", "acks-bad"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("acks-bad line 1"));
}

#[test]
fn trust_init_writes_reviewer_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = |name: &str, file: &str| {
        stdout(
            &vitrine()
                .current_dir(d)
                .args(["key", "generate", name, "-o", file])
                .assert()
                .success(),
        )
    };
    let log = key("log.example/l", "l.key");
    let publisher = key("publisher.example/p", "p.key");
    let reviewer = key("reviewer.example/r", "r.key");
    vitrine()
        .current_dir(d)
        .args([
            "trust",
            "init",
            "-o",
            "policy",
            "--log-key",
            &log,
            "--quorum",
            "none",
        ])
        .args(["--publisher", &publisher, "--max-age", "600"])
        .args(["--reviewer", &reviewer, "--require-reviews", "1"])
        .args(["--refuse-finding", "VL1*", "--refuse-finding", "high"])
        .assert()
        .success();
    let text = std::fs::read_to_string(d.join("policy")).unwrap();
    assert!(
        text.contains(&format!(
            "reviewer {reviewer}\nrequire-reviews 1\nrefuse-finding VL1*\nrefuse-finding high\n"
        )),
        "{text}"
    );
    // The publisher cannot be its own reviewer; more reviews than
    // reviewers cannot be met.
    vitrine()
        .current_dir(d)
        .args([
            "trust",
            "init",
            "-o",
            "p2",
            "--log-key",
            &log,
            "--quorum",
            "none",
        ])
        .args(["--publisher", &publisher, "--max-age", "600"])
        .args(["--reviewer", &publisher])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("both a publisher and a reviewer"));
    vitrine()
        .current_dir(d)
        .args([
            "trust",
            "init",
            "-o",
            "p3",
            "--log-key",
            &log,
            "--quorum",
            "none",
        ])
        .args(["--publisher", &publisher, "--max-age", "600"])
        .args(["--reviewer", &reviewer, "--require-reviews", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "require-reviews 2 but only 1 reviewer",
        ));
    assert!(!d.join("p2").exists() && !d.join("p3").exists());
}

/// `vitrine release publish` logs one statement per artifact; `release
/// verify` accepts a logged, reviewed artifact (and the running binary),
/// and refuses one byte changed, an unlogged file and an artifact lacking
/// the required review; `status --policy` says the same of the running
/// binary.
#[test]
fn releases_are_logged_and_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_servers, url) = witnessed_log(d, "rel");
    with_reviewer(d, "rules,release", false);

    // Artifacts: the vitrine binary under test, and a package.
    let binary = assert_cmd::cargo::cargo_bin("vitrine");
    std::fs::write(
        d.join("vitrine_0.4.0_amd64.deb"),
        b"!<arch>\ndebian-binary   synthetic package",
    )
    .unwrap();
    std::fs::write(d.join("source.tar"), b"synthetic source archive").unwrap();
    std::fs::write(d.join("Cargo.lock"), b"version = 4\n").unwrap();
    std::fs::write(
        d.join("repro.sh"),
        b"#!/bin/sh\ncargo build --release --locked\n",
    )
    .unwrap();
    let commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    vitrine()
        .current_dir(d)
        .args([
            "release",
            "publish",
            "--version",
            "0.4.0",
            "--commit",
            commit,
        ])
        .arg("--artifact")
        .arg(format!("x86_64-unknown-linux-gnu={}", binary.display()))
        .args([
            "--artifact",
            "x86_64-unknown-linux-gnu.deb=vitrine_0.4.0_amd64.deb",
        ])
        .args(["--source-archive", "source.tar", "--recipe", "repro.sh"])
        .args([
            "--toolchain",
            "rustc-1.95.0",
            "--key",
            "p.key",
            "--policy",
            "policy",
        ])
        .args(["--wait", "30"])
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "logged release 0.4.0 x86_64-unknown-linux-gnu.deb",
        ));
    let statement = std::fs::read_to_string(d.join("vitrine_0.4.0_amd64.deb.release")).unwrap();
    assert!(
        statement.starts_with("vitrine.dev/statement/release/v2\nversion 0.4.0\n"),
        "{statement}"
    );
    assert!(
        statement.contains(&format!("\ncommit {commit}\n")),
        "{statement}"
    );
    let verify = |file: &Path| {
        let mut c = vitrine();
        c.current_dir(d)
            .args(["release", "verify"])
            .arg(file)
            .args(["--policy", "policy"]);
        c
    };

    // Logged, but no review yet: refused.
    verify(&binary)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "logged release 0.4.0 for x86_64-unknown-linux-gnu",
        ))
        .stdout(predicate::str::contains(
            "NOT ENOUGH REVIEWS: 0 approving review(s), the policy requires 1",
        ));
    // The reviewer approves the binary: accepted, by file and as the
    // running binary, and by `status --policy`.
    let report = d.join("release-report.md");
    std::fs::write(
        &report,
        "# vitrine 0.4.0\n\nRebuilt from the source archive: same bytes.\n",
    )
    .unwrap();
    vitrine()
        .current_dir(d)
        .args(["review", "sign", "--key", "carol.key", "--subject"])
        .arg(&binary)
        .args([
            "--verdict",
            "approve",
            "--report",
            "release-report.md",
            "-o",
            "bin.review",
        ])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args([
            "review",
            "submit",
            "bin.review",
            "--report",
            "release-report.md",
        ])
        .args(["--key", "carol.key", "--policy", "policy", "--wait", "30"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    verify(&binary)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "approved by reviewer.example/carol",
        ))
        .stdout(predicate::str::contains(
            "LOGGED RELEASE: 1 approving review(s), the policy requires 1",
        ));
    vitrine()
        .current_dir(d)
        .args([
            "release",
            "verify",
            "--running",
            "--policy",
            "policy",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"verdict\": \"release\""));
    vitrine()
        .current_dir(d)
        .args(["status", "--state", "ep", "--policy", "policy"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "this binary:    logged release 0.4.0 for x86_64-unknown-linux-gnu",
        ));
    // The package is logged but nobody reviewed it.
    verify(&d.join("vitrine_0.4.0_amd64.deb"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("NOT ENOUGH REVIEWS"));
    // One byte changed: not a logged release.
    let mut bytes = std::fs::read(d.join("vitrine_0.4.0_amd64.deb")).unwrap();
    bytes[10] ^= 1;
    std::fs::write(d.join("tampered.deb"), &bytes).unwrap();
    verify(&d.join("tampered.deb"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("NOT A LOGGED RELEASE"));
    // Unlogged: the source archive itself.
    verify(&d.join("source.tar"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("NOT A LOGGED RELEASE"));
    // The recipe is in the content store under its hash.
    let recipe = statement
        .lines()
        .find_map(|l| l.strip_prefix("recipe-sha256 "))
        .unwrap()
        .to_owned();
    let body = reqwest::blocking::get(format!("{url}/content/sha256/{recipe}"))
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("cargo build --release --locked"), "{body}");
    // Bad input names what is wrong.
    vitrine()
        .current_dir(d)
        .args([
            "release",
            "publish",
            "--version",
            "0.4.1",
            "--commit",
            "xyz",
        ])
        .args(["--artifact", "x86_64-unknown-linux-gnu=source.tar"])
        .args(["--source-archive", "source.tar", "--recipe", "repro.sh"])
        .args([
            "--toolchain",
            "rustc-1.95.0",
            "--key",
            "p.key",
            "--policy",
            "policy",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("commit xyz"));
    vitrine()
        .current_dir(d)
        .args([
            "release",
            "publish",
            "--version",
            "0.4.1",
            "--commit",
            commit,
        ])
        .args(["--artifact", "source.tar"])
        .args(["--source-archive", "source.tar", "--recipe", "repro.sh"])
        .args([
            "--toolchain",
            "rustc-1.95.0",
            "--key",
            "p.key",
            "--policy",
            "policy",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("give TARGET=FILE"));
}

/// `review prepare-release` reads a git checkout: dependencies added,
/// removed and upgraded between two commits' Cargo.lock, the commits in
/// between, and the recipe.
#[test]
fn release_packet_lists_dependency_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("src");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let lock = |pkgs: &[(&str, &str)]| {
        let mut s = String::from("version = 4\n");
        for (n, v) in pkgs {
            s.push_str(&format!(
                "\n[[package]]\nname = \"{n}\"\nversion = \"{v}\"\n"
            ));
        }
        s
    };
    git(&["init", "-q"]);
    std::fs::write(
        repo.join("Cargo.lock"),
        lock(&[("alpha", "1.0.0"), ("beta", "0.3.1")]),
    )
    .unwrap();
    std::fs::write(
        repo.join("build.sh"),
        "#!/bin/sh\ncargo build --release --locked\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "release one"]);
    std::fs::write(
        repo.join("Cargo.lock"),
        lock(&[("alpha", "1.1.0"), ("gamma", "2.0.0")]),
    )
    .unwrap();
    git(&["commit", "-q", "-am", "upgrade alpha, gamma for beta"]);
    vitrine()
        .current_dir(tmp.path())
        .args([
            "review",
            "prepare-release",
            "--repo",
            "src",
            "--commit",
            "HEAD",
        ])
        .args(["--since", "HEAD~1", "--recipe", "build.sh", "-o", "packet"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 commits, 1 files changed; 1 dependencies added, 1 removed, 1 upgraded",
        ));
    let md = std::fs::read_to_string(tmp.path().join("packet/packet.md")).unwrap();
    for want in [
        "- gamma 2.0.0",
        "- beta 0.3.1",
        "- alpha: 1.0.0 → 1.1.0",
        "upgrade alpha, gamma for beta",
        "cargo build --release --locked",
    ] {
        assert!(md.contains(want), "{want}: {md}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("packet/packet.json")).unwrap())
            .unwrap();
    assert_eq!(v["source_archive_sha256"].as_str().unwrap().len(), 64);
    // A commit that does not exist is an error naming it.
    vitrine()
        .current_dir(tmp.path())
        .args([
            "review",
            "prepare-release",
            "--repo",
            "src",
            "--commit",
            "nope",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope is not a commit"));
}
