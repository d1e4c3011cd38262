//! `vitrine demo`: the whole story, in-process.

use crate::common::vitrine;

#[test]
fn demo_runs_and_refuses_both_attacks() {
    let out = vitrine()
        .arg("demo")
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("ACTIVATED bundle starter v1"), "{stdout}");
    assert!(stdout.contains("ACTIVATED bundle starter v2"), "{stdout}");
    assert!(stdout.contains("Vitrine.Demo.Dropper FOUND"), "{stdout}");
    assert!(stdout.contains("EICAR_Test_File FOUND"), "{stdout}");
    assert!(stdout.contains("witnesses REFUSED to cosign"), "{stdout}");
    assert!(stdout.contains("fork attack REFUSED"), "{stdout}");
    assert!(
        stdout.contains("rollback attack REFUSED: version 1 is older than the active 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("colluding fork attack REFUSED: log \"demo.vitrine.example/log\" forked (same size, different root)"),
        "{stdout}"
    );
    assert!(stdout.contains("active bundle: starter v2"), "{stdout}");
    assert!(!stdout.contains("NOT refused"), "{stdout}");
}

/// The system's verified bundle (kept by the service, or by root with
/// `--state`) is what an unprivileged user's scan uses when that user has
/// none: no fallback to the unverified built-in rules.
#[test]
fn an_unprivileged_scan_uses_the_system_bundle() {
    let t = tempfile::tempdir().unwrap();
    let kept = t.path().join("kept");
    crate::common::vitrine()
        .args(["demo", "--keep"])
        .arg(&kept)
        .assert()
        .success();
    assert_scan_as_nobody_uses_the_system_bundle(
        &assert_cmd::cargo::cargo_bin("vitrine"),
        &kept.join("endpoint"),
        t.path(),
    );
}

/// Runs `bin scan` as nobody (when we are root; as ourselves otherwise)
/// with `system_state` as the system's state, on a clean file in a home
/// made in `dir`, and asserts it reports the system's verified bundle.
/// `dir` and `system_state` are opened to other users.
pub(crate) fn assert_scan_as_nobody_uses_the_system_bundle(
    bin: &std::path::Path,
    system_state: &std::path::Path,
    dir: &std::path::Path,
) {
    use std::os::unix::fs::PermissionsExt;
    let root_owned = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir).unwrap()) == 0;
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("clean.txt"), b"nothing").unwrap();
    let mut open = vec![dir.to_path_buf(), home.clone()];
    let mut up = system_state.parent();
    while let Some(p) = up.filter(|p| p.starts_with(dir) && *p != dir) {
        open.push(p.to_path_buf());
        up = p.parent();
    }
    for d in open {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = std::process::Command::new(if root_owned { "setpriv" } else { "env" });
    if root_owned {
        // As nobody, if we are root; as ourselves otherwise.
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
    }
    let out = cmd
        .arg(bin)
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(&home)
        .env_remove("VITRINE_STATE")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .env("VITRINE_SYSTEM_STATE", system_state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified bundle"), "{stdout}");
    assert!(!stdout.contains("UNVERIFIED"), "{stdout}");
}
