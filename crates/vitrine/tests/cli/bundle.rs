//! `vitrine bundle build` and `inspect`.

use crate::common::vitrine;

fn rules_dir(dir: &std::path::Path, rule: &str) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::create_dir_all(dir.join("hashes")).unwrap();
    std::fs::write(dir.join("rules/a.yar"), rule).unwrap();
    std::fs::write(
        dir.join("hashes/h.hdb"),
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n",
    )
    .unwrap();
    std::fs::write(dir.join("README"), "ignored").unwrap();
}

#[test]
fn build_then_inspect_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    rules_dir(&src, "rule Evil { strings: $e = \"evil\" condition: $e }\n");
    let out = tmp.path().join("daily.bundle");
    vitrine()
        .args(["bundle", "build"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args([
            "--name",
            "daily",
            "--version",
            "7",
            "--expires-in-days",
            "3",
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains("bundle daily v7"));
    let first = std::fs::read(&out).unwrap();

    let text = vitrine()
        .args(["bundle", "inspect"])
        .arg(&out)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("version:    7"), "{text}");
    assert!(text.contains("rules/a.yar"), "{text}");
    assert!(text.contains("hashes/h.hdb"), "{text}");
    assert!(!text.contains("README"), "{text}");

    let json = vitrine()
        .args(["bundle", "inspect", "--format", "json"])
        .arg(&out)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["name"], "daily");
    assert_eq!(v["version"], 7);
    assert_eq!(v["yara_files"], 1);
    assert_eq!(v["hash_lines"], 1);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["expires"].as_u64().unwrap() - v["created"].as_u64().unwrap(),
        3 * 86_400
    );
    use sha2::Digest;
    assert_eq!(v["sha256"], hex::encode(sha2::Sha256::digest(&first)));
}

#[test]
fn a_broken_rule_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    rules_dir(&src, "rule Broken { condition: nosuchthing }\n");
    let out = tmp.path().join("bad.bundle");
    vitrine()
        .args(["bundle", "build"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(["--name", "daily", "--version", "1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("do not compile"))
        .stderr(predicates::str::contains("rules/a.yar"));
    assert!(!out.exists());
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("x");
    std::fs::write(&f, b"not a tar").unwrap();
    vitrine()
        .args(["bundle", "inspect"])
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a valid bundle"));
}
