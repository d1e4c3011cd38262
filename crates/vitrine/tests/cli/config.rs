//! The system configuration (`vitrine config`, `--config`,
//! `VITRINE_CONFIG`): strict, read by every command, and the flags'
//! defaults.

use std::path::Path;

use crate::common::{eicar, vitrine, EICAR_SHA256};

/// `vitrine` with the configuration `text` (written next to `dir`'s other
/// files) in effect.
fn with_config(dir: &Path, text: &str) -> assert_cmd::Command {
    let file = dir.join("vitrine.toml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = vitrine();
    cmd.env("VITRINE_CONFIG", &file);
    cmd
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_names_the_file_line_and_key_and_a_broken_file_stops_every_command() {
    let t = tempfile::tempdir().unwrap();
    let text = "state = \"/var/lib/vitrine\"\n\n[scan]\nmax-filesize = \"100M\"\nthreds = 4\n";
    let out = with_config(t.path(), text)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("vitrine.toml"), "{e}");
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("threds"), "{e}");

    // Every other command refuses to run on it, saying why: a scan with a
    // half-read configuration could skip the owner's exclusions or limits.
    let out = with_config(t.path(), text)
        .args(["scan", "--no-progress"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("line 5") && e.contains("threds"), "{e}");
    assert!(out.stdout.is_empty(), "nothing was scanned");

    // Bad values are errors too, with their line.
    let out = with_config(t.path(), "[daemon]\ntcp = \"0.0.0.0:3310\"\n")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("line 2") && e.contains("loopback"), "{e}");

    // A file named explicitly must exist; the default one may not.
    let out = vitrine()
        .args(["--config"])
        .arg(t.path().join("missing.toml"))
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));

    // check also reads the files the configuration names.
    let out = with_config(
        t.path(),
        &format!(
            "policy = \"{}\"\n",
            t.path().join("no-such-policy").display()
        ),
    )
    .args(["config", "check"])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-policy"), "{}", stderr(&out));

    // A good file checks.
    with_config(t.path(), "[scan]\nmax-filesize = \"1M\"\n")
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("OK"));
}

#[test]
fn show_says_which_file_and_which_state_directory_and_why() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state-from-config");
    let text = format!(
        "state = \"{}\"\n[scan]\nexclude = [\"*.iso\"]\n",
        state.display()
    );
    let out = with_config(t.path(), &text)
        .env_remove("VITRINE_STATE")
        .args(["config", "show", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exists"], true);
    assert_eq!(v["state"], state.display().to_string());
    assert!(v["state_from"].as_str().unwrap().contains("configuration"));
    assert_eq!(v["settings"]["scan"]["exclude"][0], "*.iso");

    // VITRINE_STATE wins over the file, and text output says so.
    let out = with_config(t.path(), &text)
        .env("VITRINE_STATE", t.path().join("env-state"))
        .args(["config", "show"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("env-state (VITRINE_STATE)"), "{s}");
    assert!(s.contains("exclude = [\"*.iso\"]"), "{s}");
}

#[test]
fn settings_are_the_flags_defaults_and_flags_win() {
    let t = tempfile::tempdir().unwrap();
    let files = t.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("big.txt"), vec![b'a'; 4096]).unwrap();
    let cfg = "[scan]\nmax-filesize = \"1K\"\n";
    // From the file: the 4 KiB file is over the limit.
    with_config(t.path(), cfg)
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(&files)
        .assert()
        .success()
        .stdout(predicates::str::contains("larger than the size limit"));
    // A flag wins.
    let out = with_config(t.path(), cfg)
        .args([
            "scan",
            "--no-progress",
            "--no-cache",
            "--max-filesize",
            "1M",
        ])
        .arg(&files)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}");
    assert!(!s.contains("larger than the size limit"), "{s}");
    // --help shows the configured default.
    let out = with_config(t.path(), cfg)
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("[default: 1024]"), "{s}");
}

#[test]
fn the_owner_allowlist_in_the_configuration_silences_a_detection() {
    let t = tempfile::tempdir().unwrap();
    let files = t.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("eicar.com"), eicar()).unwrap();
    // Without an allowlist: found.
    with_config(t.path(), "")
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(&files)
        .assert()
        .failure();
    // By SHA-256 in the configuration: nothing found.
    with_config(
        t.path(),
        &format!("[allow]\nsha256 = [\"{}\"]\n", EICAR_SHA256.to_uppercase()),
    )
    .args(["scan", "--no-progress", "--no-cache"])
    .arg(&files)
    .assert()
    .success();
    // By detection name.
    let out = vitrine()
        .args(["scan", "--no-progress", "--no-cache", "--format", "json"])
        .arg(&files)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every detection of the file: hash signatures and the YARA rule.
    let names: Vec<String> = v["files"][0]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}", d.get("name").or(d.get("rule")).unwrap()))
        .collect();
    assert!(names.len() > 1, "{names:?}");
    with_config(
        t.path(),
        &format!("[allow]\nnames = [{}]\n", names.join(", ")),
    )
    .args(["scan", "--no-progress", "--no-cache"])
    .arg(&files)
    .assert()
    .success();
}

#[test]
fn update_takes_the_policy_from_the_configuration() {
    let t = tempfile::tempdir().unwrap();
    // Neither --policy nor a configured one: the error says both ways.
    let out = with_config(t.path(), "")
        .args(["update", "--from"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("--policy") && e.contains("policy ="), "{e}");
}

/// Root's update, with no --state, installs into the system state
/// directory, and an unprivileged user's scan with no bundle of its own
/// uses that verified bundle: one configuration for everybody.
#[test]
fn roots_update_is_what_every_users_scan_uses() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (setpriv to another user)");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let kept = t.path().join("kept");
    vitrine()
        .args(["demo", "--keep"])
        .arg(&kept)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let system = t.path().join("system-state");
    let config = t.path().join("vitrine.toml");
    std::fs::write(
        &config,
        format!("policy = \"{}\"\n", kept.join("policy").display()),
    )
    .unwrap();
    // As root: no --state, no --policy.
    let out = vitrine()
        .env("VITRINE_CONFIG", &config)
        .env_remove("VITRINE_STATE")
        .env("VITRINE_SYSTEM_STATE", &system)
        .args(["update", "--from"])
        .arg(kept.join("updates/v2"))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s} {}", stderr(&out));
    assert!(s.contains("ACTIVATED bundle starter v2"), "{s}");
    assert!(system.join("active").exists());

    let home = t.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("clean.txt"), b"nothing").unwrap();
    for d in [t.path(), &home] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("vitrine"))
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(&home)
        .env("VITRINE_CONFIG", &config)
        .env_remove("VITRINE_STATE")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .env("VITRINE_SYSTEM_STATE", &system)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s} {}", stderr(&out));
    assert!(s.contains("verified bundle starter v2"), "{s}");
    assert!(!s.contains("UNVERIFIED"), "{s}");

    // And the user's own state is in their home, not the system's.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("vitrine"))
        .args(["config", "show", "--format", "json"])
        .env("VITRINE_CONFIG", &config)
        .env_remove("VITRINE_STATE")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["state"],
        home.join(".local/share/vitrine").display().to_string()
    );
}

/// The daemon's socket and limits come from `[daemon]`.
#[test]
fn the_daemon_reads_its_socket_from_the_configuration() {
    use std::io::{Read, Write};
    let t = tempfile::tempdir().unwrap();
    let socket = t.path().join("clamd.sock");
    let config = t.path().join("vitrine.toml");
    std::fs::write(
        &config,
        format!("[daemon]\nsocket = \"{}\"\n", socket.display()),
    )
    .unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .arg("daemon")
        .env("VITRINE_CONFIG", &config)
        .env("VITRINE_STATE", t.path().join("state"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = crate::common::Server(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut conn = loop {
        match std::os::unix::net::UnixStream::connect(&socket) {
            Ok(c) => break c,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(e) => panic!("the daemon never listened on the configured socket: {e}"),
        }
    };
    conn.write_all(b"zPING\0").unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"PONG\0");
}
