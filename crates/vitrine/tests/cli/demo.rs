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
