//! `vitrine egress`, `submit`, `intake` and `vault` end to end: a real log
//! and a real intake process on 127.0.0.1 port 0.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{spawn_server as spawn, stdout, vitrine, Server};

#[test]
fn egress_policy_show_check_and_default() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("egress");
    vitrine()
        .args(["egress", "policy", "show", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("the default policy applies"))
        .stdout(predicates::str::contains("never (metadata only)"));
    let default = stdout(
        &vitrine()
            .args(["egress", "policy", "default"])
            .assert()
            .success(),
    );
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, &default).unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&good)
        .assert()
        .success()
        .stdout(predicates::str::contains("ok (id default-metadata-only"));
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "id = \"x\"\n[content]\nkinds = [\"docx\"]\n").unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("content.kinds"))
        .stderr(predicates::str::contains("documents never leave"));
    std::fs::write(&bad, "id = \"x\"\nsend_everything = true\n").unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown field `send_everything`"));
}

/// A vendor (log and intake processes, an analyst key) and an endpoint's
/// egress state pointing at it, in `tmp`.
struct Vendor {
    _log: Server,
    _intake: Server,
    state: std::path::PathBuf,
}

fn vendor(tmp: &Path) -> Vendor {
    let d = tmp;
    let log_vkey = stdout(
        &vitrine()
            .args([
                "log",
                "init",
                "--origin",
                "log.example/e",
                "--purpose",
                "custody",
            ])
            .arg("--data")
            .arg(d.join("log"))
            .assert()
            .success(),
    );
    let analyst_vkey = stdout(
        &vitrine()
            .current_dir(d)
            .args([
                "key",
                "generate",
                "analyst.example/alice",
                "-o",
                "alice.key",
            ])
            .assert()
            .success(),
    );
    let intake_vkey = stdout(
        &vitrine()
            .args([
                "intake",
                "init",
                "--name",
                "intake.example/i1",
                "--log",
                "http://127.0.0.1:1",
            ])
            .args(["--log-key", &log_vkey, "--data"])
            .arg(d.join("intake"))
            .assert()
            .success(),
    );
    std::fs::write(
        d.join("log/authorized"),
        format!("receipt,deletion {intake_vkey}\naccess {analyst_vkey}\n"),
    )
    .unwrap();
    let (log, log_url) = spawn(&["log", "serve", "--addr", "127.0.0.1:0"], &d.join("log"));
    // Point the intake at the running log.
    let conf = d.join("intake/intake.toml");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("http://127.0.0.1:1", &log_url);
    std::fs::write(&conf, text).unwrap();
    let token = stdout(
        &vitrine()
            .args(["intake", "tenant", "add", "t-e2e", "--data"])
            .arg(d.join("intake"))
            .assert()
            .success(),
    );
    std::fs::write(d.join("token"), &token).unwrap();
    vitrine()
        .args(["intake", "analyst", "add", &analyst_vkey, "--data"])
        .arg(d.join("intake"))
        .assert()
        .success();
    let (intake, intake_url) = spawn(
        &["intake", "serve", "--addr", "127.0.0.1:0"],
        &d.join("intake"),
    );

    let state = d.join("egress");
    vitrine()
        .args(["egress", "init", "--state"])
        .arg(&state)
        .args(["--intake", &intake_url, "--token-file"])
        .arg(d.join("token"))
        .args([
            "--intake-key",
            &intake_vkey,
            "--log",
            &log_url,
            "--log-key",
            &log_vkey,
        ])
        .assert()
        .success();
    Vendor {
        _log: log,
        _intake: intake,
        state,
    }
}

/// The whole loop: an endpoint submits an executable it may send; an
/// analyst opens it through the vault (access logged first); the owner's
/// audit shows the access; the ledger verifies, and tampering is caught.
#[test]
fn submit_vault_audit_and_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    std::fs::write(
        state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-CLI-SAMPLE");
    std::fs::write(d.join("a.out"), &elf).unwrap();
    let text = b"meeting notes, do not share\n";
    std::fs::write(d.join("notes.bin"), text).unwrap();
    vitrine()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .args(["--detection", "Test.Rule"])
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    // A text file never leaves, whatever its name.
    vitrine()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("notes.bin"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "metadata only (the file is a document (text)",
        ));

    vitrine()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("ledger ok: 4 entries"))
        .stdout(predicates::str::contains("receipts ok: 2"));

    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&elf));
    // A crash between logging the access and releasing: nothing released.
    let status = Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .args([
            "vault",
            "open",
            &sha,
            "--purpose",
            "triage before crash",
            "--key",
        ])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("crashed.bin"))
        .env("VITRINE_VAULT_FAILPOINT", "after-access-logged")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(!d.join("crashed.bin").exists());

    vitrine()
        .args([
            "vault",
            "open",
            &sha,
            "--purpose",
            "triage of Test.Rule, ticket 8812",
            "--key",
        ])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("released.bin"))
        .assert()
        .success();
    assert_eq!(std::fs::read(d.join("released.bin")).unwrap(), elf);

    let audit = stdout(
        &vitrine()
            .args(["egress", "audit", "--format", "json", "--state"])
            .arg(&state)
            .assert()
            .success(),
    );
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let accesses = audit["accesses"].as_array().unwrap();
    assert_eq!(accesses.len(), 2, "{audit}");
    assert_eq!(accesses[0]["purpose"], "triage before crash");
    assert_eq!(accesses[1]["who"], "analyst.example/alice");
    assert_eq!(audit["sent"].as_array().unwrap().len(), 2);

    vitrine()
        .args([
            "vault",
            "delete",
            &sha,
            "--tenant",
            "t-e2e",
            "--reason",
            "owner request",
            "--data",
        ])
        .arg(d.join("intake"))
        .assert()
        .success();
    vitrine()
        .args(["egress", "audit", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("deletions (1)"))
        .stdout(predicates::str::contains("owner request"));

    // Tamper with the ledger: flip a recorded fact.
    let ledger = state.join("ledger/ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    std::fs::write(
        &ledger,
        text.replacen("\"content\":true", "\"content\":false", 1),
    )
    .unwrap();
    vitrine()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("ledger NOT intact"))
        .stderr(predicates::str::contains("changed?"));
}

/// 2014 as a scan: a rule matches source code inside a zip that also holds
/// a TOP SECRET .docx; automatic submission is on and the owner even
/// allows archives to leave. Only metadata leaves, and the ledger says so.
#[test]
fn scan_submit_classified_archive_leaves_metadata_only() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    std::fs::write(
        v.state.join("policy.toml"),
        "id = \"permissive\"\n[content]\nkinds = [\"elf\", \"zip\", \"7z\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let zip = |members: &[(&str, &[u8])]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let docx = zip(&[
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"></Types>"),
        ("word/document.xml", b"<w:t>TOP SECRET//NOFORN</w:t>"),
    ]);
    let archive = zip(&[
        (
            "src/implant.c",
            b"static const char *b = \"implant_beacon_v2\";\n",
        ),
        ("docs/plan.docx", &docx),
    ]);
    std::fs::create_dir(d.join("scan")).unwrap();
    std::fs::write(d.join("scan/project.zip"), &archive).unwrap();
    std::fs::write(
        d.join("r.yar"),
        "rule Implant_Beacon { strings: $a = \"implant_beacon\" condition: $a }\n",
    )
    .unwrap();
    vitrine()
        .args(["scan", "--submit", "--egress-state"])
        .arg(&v.state)
        .arg("--state")
        .arg(d.join("st"))
        .arg("--rules")
        .arg(d.join("r.yar"))
        .arg(d.join("scan"))
        .assert()
        .code(1);
    let ledger = std::fs::read_to_string(v.state.join("ledger/ledger.jsonl")).unwrap();
    assert!(ledger.contains("\"content\":false"), "{ledger}");
    assert!(ledger.contains("the archive holds a document"), "{ledger}");
    assert!(ledger.contains("Implant_Beacon"));
    assert!(!ledger.contains("TOP SECRET"));
    // What reached the vendor: no document text, no member names.
    for f in std::fs::read_dir(d.join("intake")).unwrap().flatten() {
        if f.path().is_file() {
            let data = std::fs::read(f.path()).unwrap();
            let has = |n: &[u8]| data.windows(n.len()).any(|w| w == n);
            assert!(
                !has(b"TOP SECRET") && !has(b"plan.docx"),
                "{}",
                f.path().display()
            );
        }
    }
    let samples = d.join("intake/samples");
    let held: Vec<_> = std::fs::read_dir(&samples)
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(held.is_empty(), "the intake holds content: {held:?}");
    vitrine()
        .args(["egress", "verify", "--state"])
        .arg(&v.state)
        .assert()
        .success()
        .stdout(predicates::str::contains("receipts ok: 1"));
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    p.symlink_metadata()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o777
}

/// Issue 14, observation 8: secrets and private state are 0600 in 0700
/// directories after setup and a submission; a link planted at the
/// ledger head's old fixed temporary name is not followed; a state
/// directory other users can write is refused, by name.
#[test]
fn private_files_stay_private_and_planted_links_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    let ledger = state.join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let victim = d.join("root-owned-file");
    std::fs::write(&victim, "not the ledger's\n").unwrap();
    std::os::unix::fs::symlink(&victim, ledger.join(".head.tmp")).unwrap();
    // The tenant key's old fixed temporary name (keys/<hash of the id>.tmp).
    let tenant_dir = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(b"t-e2e")[..16]);
    std::os::unix::fs::symlink(&victim, d.join(format!("intake/keys/{tenant_dir}.tmp"))).unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-PRIVATE-FILES");
    std::fs::write(d.join("a.out"), &elf).unwrap();
    std::fs::write(
        state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    vitrine()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "not the ledger's\n"
    );

    for dir in [
        state.clone(),
        ledger.clone(),
        d.join("intake"),
        d.join("intake/keys"),
        d.join("intake/samples"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        state.join("destination.toml"),
        state.join("endpoint.key"),
        ledger.join("ledger.jsonl"),
        ledger.join("head"),
        d.join("intake/intake.db"),
        d.join("intake/intake.key"),
        d.join("intake/intake.toml"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    for key in std::fs::read_dir(d.join("intake/keys")).unwrap() {
        let key = key.unwrap().path();
        if !key.symlink_metadata().unwrap().file_type().is_symlink() {
            assert_eq!(mode(&key), 0o600, "{}", key.display());
        }
    }

    // Another user could write the egress state: refused, by name.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    vitrine()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "refusing {}: it can be written by others (mode 777)",
            state.display()
        )));
    // And the intake's data directory.
    drop(v);
    std::fs::set_permissions(d.join("intake"), std::fs::Permissions::from_mode(0o775)).unwrap();
    vitrine()
        .args(["intake", "serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(d.join("intake"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "refusing {}: it can be written by others (mode 775)",
            d.join("intake").display()
        )));
}
