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
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let root_owned =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(t.path()).unwrap()) == 0;
    let kept = t.path().join("kept");
    crate::common::vitrine()
        .args(["demo", "--keep"])
        .arg(&kept)
        .assert()
        .success();
    let home = t.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("clean.txt"), b"nothing").unwrap();
    for d in [t.path(), &kept, &home] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = std::process::Command::new(if root_owned { "setpriv" } else { "env" });
    if root_owned {
        // As nobody, if we are root; as ourselves otherwise.
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
    }
    let out = cmd
        .arg(assert_cmd::cargo::cargo_bin("vitrine"))
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(&home)
        .env_remove("VITRINE_STATE")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .env("VITRINE_SYSTEM_STATE", kept.join("endpoint"))
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
