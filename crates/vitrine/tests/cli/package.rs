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

/// Copies the tree `from` to `to` as it is (modes, links).
fn copy_tree(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The `ExecStart=` command line of a unit, its continuation lines joined.
fn exec_start(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

/// The .deb (built by packaging/build-deb.sh from this test's binary)
/// installs with dpkg into a throwaway root, never the real system: the
/// binary, unit, man pages and completions land where Debian looks; the
/// daemon started with the installed unit's own command line (paths moved
/// into that root) answers clamdscan and the socket with the verified
/// bundle from the system state, and a user's `vitrine scan` run as
/// nobody uses that same bundle.
#[test]
fn the_deb_installs_and_its_daemon_answers() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: installing a .deb with dpkg, even into a throwaway root, needs root");
        return;
    }
    for tool in ["dpkg-deb", "dpkg"] {
        if std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: {tool} is not installed");
            return;
        }
    }
    let t = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(repo.join("packaging/build-deb.sh"))
        .arg("--binary")
        .arg(assert_cmd::cargo::cargo_bin("vitrine"))
        .arg("--out")
        .arg(t.path().join("out"))
        .args(["--compress", "none"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(deb.ends_with(".deb"), "{deb}");

    // A throwaway root with an empty dpkg database.
    let root = t.path().join("root");
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    let out = std::process::Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        // Its dependencies (libc6) are the host's, not in this database.
        .args(["--force-depends", "-i"])
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = std::process::Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["-s", "vitrine"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("Status: install ok installed"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let bin = root.join("usr/bin/vitrine");
    assert!(bin.metadata().unwrap().permissions().mode() & 0o111 != 0);
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/vitrine-daemon.service")).unwrap();
    assert!(unit.contains("NoNewPrivileges=yes"), "{unit}");
    for page in ["vitrine.1.gz", "vitrine-daemon.1.gz", "vitrine-scan.1.gz"] {
        assert!(
            root.join("usr/share/man/man1").join(page).is_file(),
            "{page}"
        );
    }
    let completions =
        std::fs::read_to_string(root.join("usr/share/bash-completion/completions/vitrine"))
            .unwrap();
    assert!(completions.contains("_vitrine()"));
    // The system configuration: a conffile (dpkg keeps the owner's edits),
    // valid as shipped.
    let config = root.join("etc/vitrine/vitrine.toml");
    let conffiles = std::fs::read_to_string(admin.join("info/vitrine.conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/vitrine/vitrine.toml");
    vitrine()
        .args(["config", "check"])
        .arg(&config)
        .assert()
        .success();

    // The system state as the service keeps it: a verified bundle (made
    // by `vitrine demo`), and the policy the unit names (its log cannot be
    // reached here: the scheduled update fails, the rules stay).
    let kept = t.path().join("kept");
    crate::common::vitrine()
        .args(["demo", "--keep"])
        .arg(&kept)
        .assert()
        .success();
    copy_tree(&kept.join("endpoint"), &root.join("var/lib/vitrine"));
    let (log_vkey, pub_vkey) =
        crate::common::log_with_publisher(t.path(), "log.example/deb", "publisher.example/deb");
    std::fs::create_dir_all(root.join("etc/vitrine")).unwrap();
    vitrine()
        .current_dir(root.join("etc/vitrine"))
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args(["--log-url", "http://127.0.0.1:1", "--quorum", "none"])
        .args(["--publisher", &pub_vkey, "--max-age", "600"])
        .assert()
        .success();
    std::fs::create_dir_all(root.join("home")).unwrap();

    // The unit's command line, every absolute path moved into the root.
    let argv: Vec<String> = exec_start(&unit)
        .into_iter()
        .map(|a| match a.strip_prefix('/') {
            Some(rel) => root.join(rel).display().to_string(),
            None => a,
        })
        .collect();
    assert_eq!(argv[0], bin.display().to_string());
    let sock = root.join("run/vitrine/clamd.sock");
    assert!(argv.contains(&sock.display().to_string()), "{argv:?}");
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        // The installed configuration at its place in the root: never the
        // host's own /etc/vitrine/vitrine.toml.
        .env("VITRINE_CONFIG", &config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = crate::common::Server(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ask = |req: &[u8]| {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.write_all(req).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(ask(b"zPING\0"), "PONG\0");
    // VERSION names the bundle version: the system's verified bundle.
    let version = ask(b"zVERSION\0");
    assert!(!version.contains("/0/"), "{version}");
    let stats = ask(b"zSTATS\0");
    assert!(stats.contains("verified bundle"), "{stats}");
    let e = crate::common::eicar();
    let samples = t.path().join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    std::fs::write(samples.join("eicar.com"), &e).unwrap();
    let conf = t.path().join("clamd.conf");
    std::fs::write(&conf, format!("LocalSocket {}\n", sock.display())).unwrap();
    let out = std::process::Command::new("clamdscan")
        .arg(format!("--config-file={}", conf.display()))
        .args(["--no-summary", "--fdpass"])
        .arg(&samples)
        .output()
        .expect("clamdscan (Debian package clamav-daemon) is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("eicar.com: ") && stdout.contains(" FOUND"),
        "{stdout}"
    );

    crate::demo::assert_scan_as_nobody_uses_the_system_bundle(
        &bin,
        &root.join("var/lib/vitrine"),
        t.path(),
    );
}
