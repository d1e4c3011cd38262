//! Packaging: completions and man pages from the clap definitions, and the
//! systemd unit.

use std::path::Path;

use crate::common::vitrine;

#[test]
fn completions_and_man_pages_come_from_the_clap_definitions() {
    let out = vitrine()
        .args(["completions", "bash"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let bash = String::from_utf8(out).unwrap();
    assert!(bash.contains("_vitrine()"), "{bash}");
    for sub in ["daemon", "scan", "update", "--on-access"] {
        assert!(bash.contains(sub), "no {sub} in the bash completions");
    }
    vitrine().args(["completions", "zsh"]).assert().success();
    vitrine()
        .args(["completions", "nosuchshell"])
        .assert()
        .code(2);

    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("man");
    vitrine()
        .args(["man", "--out"])
        .arg(&dir)
        .assert()
        .success();
    let page = std::fs::read_to_string(dir.join("vitrine-daemon.1")).unwrap();
    assert!(page.contains(".TH vitrine-daemon 1"), "{page}");
    assert!(page.contains("clamd"), "the page carries the --help text");
    assert!(dir.join("vitrine.1").exists() && dir.join("vitrine-scan.1").exists());
}

#[test]
fn the_systemd_unit_is_valid() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/vitrine-daemon.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("ExecStart=/usr/bin/vitrine daemon"));
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
    ] {
        assert!(text.contains(hardening), "{hardening}");
    }
    // systemd-analyze checks it against this machine's systemd, with the
    // binary path pointed at the one just built.
    let t = tempfile::tempdir().unwrap();
    let local = t.path().join("vitrine-daemon.service");
    let bin = assert_cmd::cargo::cargo_bin("vitrine");
    std::fs::write(
        &local,
        text.replace("/usr/bin/vitrine", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&local)
        .output()
        .expect("systemd-analyze (Debian package systemd) is installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
