//! `vitrine scan` against the built binary.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;

use crate::common::{eicar, vitrine, EICAR_SHA256};

/// Bounds every scan of a hostile tree: a hang fails the test.
const BOUND: Duration = Duration::from_secs(60);

fn ndjson_findings(stdout: &[u8]) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("every line is JSON");
        if v["type"] == "file" {
            for d in v["detections"].as_array().unwrap() {
                let name = d["rule"].as_str().or(d["name"].as_str()).unwrap();
                set.insert((v["path"].as_str().unwrap().to_string(), name.to_string()));
            }
        }
    }
    set
}

#[test]
fn eicar_in_a_generated_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("eicar.com");
    fs::write(&f, eicar()).unwrap();
    vitrine()
        .arg("scan")
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}: EICAR_Test_File FOUND",
            f.display()
        )))
        .stdout(predicate::str::contains("Vitrine.Test.EICAR.SHA256 FOUND"))
        .stdout(predicate::str::contains("Infected files: 1"))
        .stdout(predicate::str::contains("UNVERIFIED"));
}

#[test]
fn eicar_in_a_nested_directory_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a/b/c/d");
    fs::create_dir_all(&deep).unwrap();
    fs::write(dir.path().join("a/clean.txt"), b"nothing to see").unwrap();
    fs::write(deep.join("test.txt"), eicar()).unwrap();
    vitrine()
        .arg("scan")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "a/b/c/d/test.txt: EICAR_Test_File FOUND",
        ))
        .stdout(predicate::str::contains("Scanned files: 2"));
}

#[test]
fn eicar_through_stdin_is_found() {
    vitrine()
        .args(["scan", "-"])
        .write_stdin(eicar())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stdin: EICAR_Test_File FOUND"));
}

#[test]
fn hash_signatures_hit_by_md5_sha1_and_sha256() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    fs::create_dir(&files).unwrap();
    let (a, b, c) = (
        b"sample one".to_vec(),
        b"sample two!".to_vec(),
        b"sample three".to_vec(),
    );
    fs::write(files.join("a.bin"), &a).unwrap();
    fs::write(files.join("b.bin"), &b).unwrap();
    fs::write(files.join("c.bin"), &c).unwrap();
    fs::write(files.join("clean.bin"), b"unrelated").unwrap();
    let hdb = dir.path().join("sigs.hdb");
    fs::write(
        &hdb,
        format!(
            "{}:{}:Test.Md5Hit\n{}:{}:Test.Sha1Hit\n",
            hex::encode(md5::Md5::digest(&a)),
            a.len(),
            hex::encode(sha1::Sha1::digest(&b)),
            b.len()
        ),
    )
    .unwrap();
    let hsb = dir.path().join("sigs.hsb");
    fs::write(
        &hsb,
        format!(
            "{}:*:Test.Sha256Hit\n",
            hex::encode(sha2::Sha256::digest(&c))
        ),
    )
    .unwrap();
    let out = vitrine()
        .args(["scan", "--format", "ndjson", "--hashes"])
        .arg(&hdb)
        .arg("--hashes")
        .arg(&hsb)
        .arg(&files)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let found = ndjson_findings(&out);
    let names: BTreeSet<_> = found
        .iter()
        .map(|(p, n)| {
            (
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
                n.clone(),
            )
        })
        .collect();
    let want: BTreeSet<_> = [
        ("a.bin", "Test.Md5Hit"),
        ("b.bin", "Test.Sha1Hit"),
        ("c.bin", "Test.Sha256Hit"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(names, want);
}

#[test]
fn malformed_hdb_lines_are_rejected_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let hdb = dir.path().join("bad.hdb");
    fs::write(
        &hdb,
        "44d88612fea8a8f36de82e1278abb02f:68:Good\nnot a signature\n\
         44d88612fea8a8f36de82e1278abb02f:68:Also.Good\n44d88612fea8a8f36de82e1278abb02f:*:Star.In.Hdb\n",
    )
    .unwrap();
    fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    vitrine()
        .args(["scan", "--hashes"])
        .arg(&hdb)
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.hdb:2:"))
        .stderr(predicate::str::contains("bad.hdb:4:"))
        .stderr(predicate::str::contains("bad.hdb:3:").not())
        .stdout(predicate::str::contains("FOUND").not())
        .stdout(predicate::str::contains("Scanned files").not());
}

#[test]
fn a_broken_rule_is_reported_with_its_location_and_nothing_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    fs::write(rules.join("a_good.yar"), "rule good { condition: true }\n").unwrap();
    fs::write(
        rules.join("broken.yar"),
        "rule broken {\n  strings:\n    $a = \"x\"\n  condition:\n    $a and $missing\n}\n",
    )
    .unwrap();
    vitrine()
        .args(["scan", "--rules"])
        .arg(&rules)
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("broken.yar:5:12"))
        .stderr(predicate::str::contains("nothing was scanned"))
        .stdout(predicate::str::is_empty());
}

#[test]
fn exit_codes_follow_clamav() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("clean.txt"), b"just text").unwrap();
    vitrine().arg("scan").arg(dir.path()).assert().code(0);

    fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    vitrine().arg("scan").arg(dir.path()).assert().code(1);

    vitrine()
        .arg("scan")
        .arg(dir.path().join("clean.txt"))
        .arg(dir.path().join("does-not-exist"))
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "does-not-exist: No such file or directory ERROR",
        ))
        .stdout(predicate::str::contains("Errors: 1"));
}

#[test]
fn json_output_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("eicar.com");
    fs::write(&f, eicar()).unwrap();
    let clean = dir.path().join("clean.txt");
    fs::write(&clean, b"abc").unwrap();
    let out = vitrine()
        .args(["scan", "--format", "json"])
        .arg(&f)
        .arg(&clean)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("stdout is one JSON document");
    assert_eq!(v["vitrine"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["rules"]["source"]["kind"], "builtin");
    assert!(v["rules"]["yara_rules"].as_u64().unwrap() >= 6);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let e = files
        .iter()
        .find(|x| x["path"] == f.to_str().unwrap())
        .unwrap();
    assert_eq!(e["size"], 68);
    assert_eq!(e["sha256"], EICAR_SHA256);
    assert_eq!(e["status"], "scanned");
    let dets = e["detections"].as_array().unwrap();
    let yara = dets.iter().find(|d| d["kind"] == "yara").unwrap();
    assert_eq!(yara["rule"], "EICAR_Test_File");
    assert_eq!(yara["namespace"], "default");
    assert_eq!(yara["tags"], serde_json::json!([]));
    assert_eq!(
        yara["meta"][0],
        serde_json::json!(["author", "Vitrine team"])
    );
    let algos: BTreeSet<_> = dets
        .iter()
        .filter(|d| d["kind"] == "hash")
        .map(|d| d["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(algos, ["md5", "sha1", "sha256"].into_iter().collect());
    let c = files
        .iter()
        .find(|x| x["path"] == clean.to_str().unwrap())
        .unwrap();
    assert_eq!(
        c["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(c["detections"], serde_json::json!([]));
    let s = &v["summary"];
    assert_eq!(s["files_scanned"], 2);
    assert_eq!(s["bytes_scanned"], 71);
    assert_eq!(s["infected_files"], 1);
    assert_eq!(s["detections"], 4);
    assert_eq!(s["errors"], 0);
}

#[test]
fn same_findings_with_one_and_eight_threads() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300 {
        let sub = dir.path().join(format!("d{}", i % 17));
        fs::create_dir_all(&sub).unwrap();
        let body = if i % 23 == 0 {
            eicar()
        } else {
            format!("file {i} contents {}", "x".repeat(i * 37)).into_bytes()
        };
        fs::write(sub.join(format!("f{i}")), body).unwrap();
    }
    let run = |threads: &str| {
        let out = vitrine()
            .args(["scan", "--format", "ndjson", "--threads", threads])
            .arg(dir.path())
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        ndjson_findings(&out)
    };
    let one = run("1");
    assert_eq!(one.len(), 14 * 4, "14 EICAR files, 4 detections each");
    assert_eq!(one, run("8"));
}

#[cfg(unix)]
#[test]
fn a_fifo_never_hangs_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    nix_mkfifo(&fifo);
    fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    vitrine()
        .arg("scan")
        .arg(dir.path())
        .arg(&fifo)
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "pipe: Skipped: not a regular file (fifo)",
        ))
        .stdout(predicate::str::contains("Skipped: 2"));
}

fn nix_mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_symlink_loop_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink(dir.path(), sub.join("back-to-top")).unwrap();
    fs::write(sub.join("eicar.com"), eicar()).unwrap();
    vitrine()
        .args(["scan", "--follow-symlinks"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "back-to-top: Skipped: symbolic link loop",
        ))
        .stdout(predicate::str::contains("Infected files: 1"));
    // Not followed by default: counted as skipped, nothing printed.
    vitrine()
        .arg("scan")
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Skipped: 1"))
        .stdout(predicate::str::contains("back-to-top").not());
}

#[test]
fn unreadable_files_and_directories_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("clean.txt"), b"readable").unwrap();
    let secret = tree.join("secret.bin");
    fs::write(&secret, b"no entry").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let closed = tree.join("closed");
    fs::create_dir(&closed).unwrap();
    fs::write(closed.join("inside"), b"x").unwrap();
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(&tree, fs::Permissions::from_mode(0o755)).unwrap();

    // Root reads everything, so run as an unprivileged user when we are root.
    let mut cmd = if nix_is_root() {
        let bin = dir.path().join("vitrine");
        fs::copy(assert_cmd::cargo::cargo_bin("vitrine"), &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = assert_cmd::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        vitrine()
    };
    cmd.arg("scan")
        .arg(&tree)
        .timeout(BOUND)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("secret.bin: Access denied ERROR"))
        .stdout(predicate::str::contains("closed: Access denied ERROR"))
        .stdout(predicate::str::contains("Scanned files: 1"))
        .stdout(predicate::str::contains("Errors: 2"));
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

#[test]
fn a_file_over_the_size_limit_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = eicar();
    big.extend(std::iter::repeat_n(b' ', 4000));
    fs::write(dir.path().join("big.bin"), &big).unwrap();
    fs::write(dir.path().join("small.txt"), b"ok").unwrap();
    vitrine()
        .args(["scan", "--max-filesize", "1K"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "big.bin: Skipped: larger than the size limit (4068 > 1024 bytes)",
        ))
        .stdout(predicate::str::contains("Skipped: 1"))
        .stdout(predicate::str::contains("Scanned files: 1"));
}

#[test]
fn exclude_globs_skip_paths() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("cache")).unwrap();
    fs::write(dir.path().join("cache/eicar.com"), eicar()).unwrap();
    fs::write(dir.path().join("eicar.skip"), eicar()).unwrap();
    vitrine()
        .args(["scan", "--exclude", "cache", "--exclude", "*.skip"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Scanned files: 0"));
}

#[test]
fn defines_and_per_file_variables_reach_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("vars.yar");
    fs::write(
        &rules,
        r#"
rule By_Name { condition: filename == "tool.exe" and extension == ".exe" and filetype == "EXE" }
rule By_Define { condition: threshold == 5 and mode == "strict" }
rule By_Path { condition: filepath endswith "/inner" and owner != "" }
"#,
    )
    .unwrap();
    let inner = dir.path().join("inner");
    fs::create_dir(&inner).unwrap();
    fs::write(inner.join("tool.exe"), b"MZ\x90\x00rest").unwrap();
    let out = vitrine()
        .args([
            "scan",
            "--format",
            "ndjson",
            "-d",
            "threshold=5",
            "-d",
            "mode=strict",
            "--rules",
        ])
        .arg(&rules)
        .arg(&inner)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let names: BTreeSet<String> = ndjson_findings(&out).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        ["By_Define", "By_Name", "By_Path"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn help_teaches() {
    vitrine()
        .args(["scan", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit status"))
        .stdout(predicate::str::contains("--max-filesize"))
        .stdout(predicate::str::contains("Examples"));
}

#[test]
fn rust_log_turns_on_the_logs() {
    let t = tempfile::tempdir().unwrap();
    let quiet = vitrine()
        .args(["scan", "--no-progress"])
        .arg(t.path())
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    assert!(!String::from_utf8_lossy(&quiet).contains("vitrine starting"));
    let loud = vitrine()
        .env("RUST_LOG", "debug")
        .args(["scan", "--no-progress"])
        .arg(t.path())
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let loud = String::from_utf8_lossy(&loud);
    assert!(
        loud.contains("DEBUG") && loud.contains("vitrine starting"),
        "{loud}"
    );
}

// ---- ClamAV habits: what a clamscan user types means what it means there.

/// A tree with EICAR two levels down, a clean file and a file over 1 KiB.
fn clamav_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("a/b")).unwrap();
    fs::write(dir.path().join("a/b/eicar.com"), eicar()).unwrap();
    fs::write(dir.path().join("clean.txt"), b"nothing to see").unwrap();
    fs::write(dir.path().join("big.bin"), vec![b' '; 4000]).unwrap();
    dir
}

#[test]
fn dash_r_is_clamav_recursive_not_rules() {
    let dir = clamav_tree();
    for flag in ["-r", "--recursive"] {
        vitrine()
            .args(["scan", flag])
            .arg(dir.path())
            .timeout(BOUND)
            .assert()
            .code(1)
            .stdout(predicate::str::contains(
                "a/b/eicar.com: EICAR_Test_File FOUND",
            ))
            .stdout(predicate::str::contains("Scanned files: 3"));
    }
    // --rules keeps its meaning: a directory of rules without any is refused.
    vitrine()
        .args(["scan", "--rules"])
        .arg(dir.path())
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no"));
}

#[test]
fn quiet_prints_only_detections_and_errors() {
    let dir = clamav_tree();
    let out = vitrine()
        .args(["scan", "--quiet", "--max-filesize", "1K"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty(), "the detections are printed");
    assert!(
        lines.iter().all(|l| l.ends_with(" FOUND")),
        "only detections: {out}"
    );
    assert!(!out.contains("Skipped") && !out.contains("SCAN SUMMARY"));
}

#[test]
fn no_summary_keeps_the_file_lines_and_drops_the_summary() {
    let dir = clamav_tree();
    vitrine()
        .args(["scan", "--no-summary", "--max-filesize", "1K"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "a/b/eicar.com: EICAR_Test_File FOUND",
        ))
        .stdout(predicate::str::contains(
            "big.bin: Skipped: larger than the size limit",
        ))
        .stdout(predicate::str::contains("SCAN SUMMARY").not())
        .stdout(predicate::str::contains("Infected files").not());
}

#[test]
fn log_appends_the_report_to_the_file() {
    let dir = clamav_tree();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("scan.log");
    fs::write(&log, "an earlier line\n").unwrap();
    vitrine()
        .args(["scan", "--log"])
        .arg(&log)
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("EICAR_Test_File FOUND"))
        .stdout(predicate::str::contains("Infected files: 1"));
    // --quiet quiets the terminal, not the log (as in ClamAV).
    vitrine()
        .args(["scan", "--quiet", "-l"])
        .arg(&log)
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("SCAN SUMMARY").not());
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("an earlier line\n"), "appended: {text}");
    assert_eq!(
        text.matches("a/b/eicar.com: EICAR_Test_File FOUND").count(),
        2
    );
    assert_eq!(
        text.matches("----------- SCAN SUMMARY -----------").count(),
        2
    );
    assert_eq!(text.matches("Infected files: 1").count(), 2);
    // --no-summary: no summary in the log either.
    let fresh = logs.path().join("fresh.log");
    vitrine()
        .args(["scan", "--no-summary", "--log"])
        .arg(&fresh)
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1);
    let text = fs::read_to_string(&fresh).unwrap();
    assert!(text.contains("EICAR_Test_File FOUND") && !text.contains("SCAN SUMMARY"));
    assert_eq!(
        fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn text_only_flags_are_refused_with_json() {
    let dir = clamav_tree();
    for flag in ["--quiet", "--no-summary", "--log=x.log"] {
        vitrine()
            .args(["scan", "--format", "json", flag])
            .arg(dir.path())
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(flag.split('=').next().unwrap()))
            .stderr(predicate::str::contains("nothing was scanned"));
    }
}

#[test]
fn exclude_dir_is_a_regex_on_directories() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["cache", "keep", "deep/cache2"] {
        fs::create_dir_all(dir.path().join(d)).unwrap();
        fs::write(dir.path().join(d).join("eicar.com"), eicar()).unwrap();
    }
    // A file whose name matches is not a directory: still scanned.
    fs::write(dir.path().join("cache.com"), eicar()).unwrap();
    let out = vitrine()
        .args([
            "scan",
            "--format",
            "ndjson",
            "--exclude-dir",
            "/cache[0-9]*/$",
        ])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let paths: BTreeSet<String> = ndjson_findings(&out).into_iter().map(|(p, _)| p).collect();
    let rel: BTreeSet<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&dir.path().display().to_string())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        rel,
        BTreeSet::from(["/cache.com".to_string(), "/keep/eicar.com".to_string()])
    );
    vitrine()
        .args(["scan", "--exclude-dir", "(unclosed"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--exclude-dir"))
        .stderr(predicate::str::contains("(unclosed"));
}

#[test]
fn max_filesize_zero_means_no_limit() {
    // ClamAV: 0 disables the limit (Vitrine used to skip every file).
    let dir = clamav_tree();
    // Over the 100M default; sparse, so it costs no disk.
    let huge = fs::File::create(dir.path().join("huge.bin")).unwrap();
    huge.set_len(101 << 20).unwrap();
    vitrine()
        .args(["scan", "--max-filesize", "0"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "a/b/eicar.com: EICAR_Test_File FOUND",
        ))
        .stdout(predicate::str::contains("Scanned files: 4"))
        .stdout(predicate::str::contains("Skipped: 0"));
}

#[test]
fn a_cached_clean_file_still_obeys_max_filesize() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("clean.bin"), vec![b'x'; 3000]).unwrap();
    // The cache trusts only files whose change time has settled (1 s).
    std::thread::sleep(Duration::from_millis(1200));
    vitrine()
        .args(["scan", "--state"])
        .arg(state.path())
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Scanned files: 1"));
    // Unchanged and clean in the cache, but over this scan's limit.
    vitrine()
        .args(["scan", "--max-filesize", "1K", "--state"])
        .arg(state.path())
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "clean.bin: Skipped: larger than the size limit (3000 > 1024 bytes)",
        ))
        .stdout(predicate::str::contains("Scanned files: 0"))
        .stdout(predicate::str::contains("(cache)").not());
    // And the cache still answers when the limit allows.
    vitrine()
        .args(["scan", "--state"])
        .arg(state.path())
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "Unchanged since a clean scan (cache): 1",
        ));
}

#[test]
fn skipped_is_broken_down_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("clean.txt"), b"nothing to see").unwrap();
    fs::write(d.join("big.bin"), vec![b' '; 4000]).unwrap();
    std::os::unix::fs::symlink("clean.txt", d.join("link1")).unwrap();
    std::os::unix::fs::symlink("big.bin", d.join("link2")).unwrap();
    nix_mkfifo(&d.join("pipe"));
    fs::write(d.join("eicar.skip"), eicar()).unwrap();
    fs::create_dir(d.join("cache")).unwrap();
    fs::write(d.join("cache/eicar.com"), eicar()).unwrap();
    let args = [
        "scan",
        "--max-filesize",
        "1K",
        "--exclude",
        "*.skip",
        "--exclude-dir",
        "/cache$",
    ];
    let text = vitrine()
        .args(args)
        .arg(d)
        .timeout(BOUND)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(
            "Skipped: 6 (excluded: 2, special files: 1, symbolic links: 2, over --max-filesize: 1)"
        ),
        "{text}"
    );
    // Symbolic links and exclusions are counted, not listed.
    assert!(
        !text.contains("link1") && !text.contains("eicar.skip"),
        "{text}"
    );
    let out = vitrine()
        .args(args)
        .args(["--format", "json"])
        .arg(d)
        .timeout(BOUND)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["summary"]["skipped"], 6);
    assert_eq!(
        v["summary"]["skipped_by_reason"],
        serde_json::json!({"excluded": 2, "not_regular": 1, "symlink": 2, "too_large": 1})
    );
    let excluded: BTreeSet<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == "excluded")
        .map(|f| f["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(excluded, BTreeSet::from(["cache", "eicar.skip"]));
}

/// A tree reaching /proc and /sys through symbolic links, as a walk of `/`
/// or of a chroot reaches them through mount points.
fn pseudo_tree() -> Option<tempfile::TempDir> {
    if !Path::new("/proc/self/status").exists() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc", dir.path().join("p")).unwrap();
    if Path::new("/sys/kernel").exists() {
        std::os::unix::fs::symlink("/sys", dir.path().join("s")).unwrap();
    }
    fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    Some(dir)
}

#[test]
fn pseudo_filesystems_are_not_entered_by_default() {
    let Some(dir) = pseudo_tree() else {
        eprintln!("no /proc here: skipped");
        return;
    };
    let out = vitrine()
        .args(["scan", "--follow-symlinks", "--format", "ndjson"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["errors"], 0, "nothing below /proc was read");
    let n_pseudo = if dir.path().join("s").exists() { 2 } else { 1 };
    assert_eq!(summary["skipped_by_reason"]["pseudo_filesystem"], n_pseudo);
    let p = format!("{}/p", dir.path().display());
    let proc_reports: Vec<&Value> = lines
        .iter()
        .filter(|l| l["path"].as_str().is_some_and(|x| x.starts_with(&p)))
        .collect();
    assert_eq!(proc_reports.len(), 1, "only /proc itself: {proc_reports:?}");
    assert_eq!(proc_reports[0]["reason"], "pseudo_filesystem");
    assert_eq!(proc_reports[0]["mount"], "/proc");
    assert_eq!(summary["files_scanned"], 1);
    // In text, the directory is named once with its reason.
    vitrine()
        .args(["scan", "--follow-symlinks"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{p}: Skipped: pseudo-filesystem /proc, not entered"
        )))
        .stdout(predicate::str::contains("pseudo-filesystems: "));
    // A path given to scan is scanned, even on a pseudo-filesystem.
    vitrine()
        .args(["scan", "/proc/self/status"])
        .timeout(BOUND)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Scanned files: 1"));
}

#[test]
fn scan_pseudo_filesystems_walks_into_them() {
    let Some(dir) = pseudo_tree() else {
        eprintln!("no /proc here: skipped");
        return;
    };
    // Only /proc's top-level files: its directories lead everywhere.
    let out = vitrine()
        .args([
            "scan",
            "--follow-symlinks",
            "--scan-pseudo-filesystems",
            "--max-filesize",
            "1M",
            "--exclude-dir",
            "/p/.",
            "--exclude-dir",
            "/s$",
            "--format",
            "ndjson",
        ])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .get_output()
        .stdout
        .clone();
    let version = format!("{}/p/version", dir.path().display());
    let scanned_version = String::from_utf8_lossy(&out).lines().any(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["path"] == version.as_str() && v["status"] == "scanned"
    });
    assert!(scanned_version, "{version} was scanned");
}

/// A tree with two detections of the same name and a clean file.
fn two_eicars() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("a/b")).unwrap();
    fs::create_dir_all(dir.path().join("c")).unwrap();
    fs::write(dir.path().join("a/b/eicar.com"), eicar()).unwrap();
    fs::write(dir.path().join("c/eicar.com"), eicar()).unwrap();
    fs::write(dir.path().join("clean.txt"), b"nothing to see").unwrap();
    dir
}

#[test]
fn move_takes_detections_into_dir_and_never_overwrites() {
    let dir = two_eicars();
    // The directory is inside the tree: what lands there is not rescanned.
    let to = dir.path().join("moved");
    fs::create_dir(&to).unwrap();
    fs::write(to.join("eicar.com"), b"already here").unwrap();
    vitrine()
        .args(["scan", "-r", "--move"])
        .arg(&to)
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}: moved to '{}",
            dir.path().join("a/b/eicar.com").display(),
            to.display()
        )))
        .stdout(predicate::str::contains("Infected files: 2"));
    assert!(!dir.path().join("a/b/eicar.com").exists());
    assert!(!dir.path().join("c/eicar.com").exists());
    assert!(dir.path().join("clean.txt").exists());
    assert_eq!(fs::read(to.join("eicar.com")).unwrap(), b"already here");
    assert_eq!(fs::read(to.join("eicar.com.001")).unwrap(), eicar());
    assert_eq!(fs::read(to.join("eicar.com.002")).unwrap(), eicar());
    // The tree is clean now; the move directory is the scanner's own.
    vitrine()
        .args(["scan", "--move"])
        .arg(&to)
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(0);
}

#[test]
fn copy_leaves_detections_and_copies_them_private() {
    let dir = two_eicars();
    let to = tempfile::tempdir().unwrap();
    vitrine()
        .args(["scan", "--copy"])
        .arg(to.path())
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("copied to '"));
    assert!(dir.path().join("a/b/eicar.com").exists());
    assert!(dir.path().join("c/eicar.com").exists());
    for name in ["eicar.com", "eicar.com.001"] {
        let p = to.path().join(name);
        assert_eq!(fs::read(&p).unwrap(), eicar());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(!to.path().join("clean.txt").exists());
}

#[test]
fn remove_deletes_detections_only() {
    let dir = two_eicars();
    // --remove=no is ClamAV's default, accepted.
    vitrine()
        .args(["scan", "--remove=no"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1);
    assert!(dir.path().join("c/eicar.com").exists());
    // --remove takes no separate value: the next word is a path.
    vitrine()
        .args(["scan", "--remove"])
        .arg(dir.path())
        .timeout(BOUND)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}: Removed.",
            dir.path().join("c/eicar.com").display()
        )));
    assert!(!dir.path().join("a/b/eicar.com").exists());
    assert!(!dir.path().join("c/eicar.com").exists());
    assert!(dir.path().join("clean.txt").exists());
    // Standard input cannot be removed: said, and an error.
    vitrine()
        .args(["scan", "--remove", "-"])
        .write_stdin(eicar())
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "stdin: remove failed: standard input cannot be removed ERROR",
        ));
}

#[test]
fn disposal_flags_refuse_each_other_and_quarantine() {
    let dir = two_eicars();
    let to = tempfile::tempdir().unwrap();
    let d = to.path().to_str().unwrap();
    for args in [
        vec!["--quarantine", "--move", d],
        vec!["--quarantine", "--copy", d],
        vec!["--quarantine", "--remove"],
        vec!["--move", d, "--copy", d],
        vec!["--move", d, "--remove"],
        vec!["--copy", d, "--remove=yes"],
    ] {
        vitrine()
            .arg("scan")
            .args(&args)
            .arg(dir.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot be used with"));
    }
    vitrine()
        .args(["scan", "--move"])
        .arg(dir.path().join("missing"))
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"))
        .stderr(predicate::str::contains("nothing was scanned"));
    assert!(
        dir.path().join("c/eicar.com").exists(),
        "nothing was touched"
    );
}

/// Issue 15: the compiled rules are cached in STATE/rules-cache and loaded
/// by the next scan with the same rules; a damaged cache file or one in a
/// directory others can write is not used (the scan still runs and the
/// file is replaced); changed rules get a cache file of their own;
/// `--no-rules-cache` compiles and leaves the cache alone.
#[test]
fn compiled_rules_are_cached_checked_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (state, rules) = (dir.path().join("state"), dir.path().join("rules"));
    fs::create_dir(&rules).unwrap();
    let rule = |name: &str| {
        fs::write(
            rules.join("r.yar"),
            format!("rule {name} {{ strings: $a = \"EICAR-STANDARD\" condition: $a }}\n"),
        )
        .unwrap()
    };
    rule("Cached_EICAR");
    let f = dir.path().join("eicar.com");
    fs::write(&f, eicar()).unwrap();
    let scan = |extra: &[&str], rule: &str| {
        let out = vitrine()
            .env("RUST_LOG", "info")
            .args(["scan", "--no-cache", "--rules"])
            .arg(&rules)
            .arg("--state")
            .arg(&state)
            .args(extra)
            .arg(&f)
            .assert()
            .code(1)
            .stdout(predicate::str::contains(format!("{rule} FOUND")));
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let cache = state.join("rules-cache");
    let files = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    assert!(scan(&[], "Cached_EICAR").contains("rules compiled and cached"));
    assert_eq!(
        fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let [one] = files().try_into().unwrap();
    assert_eq!(
        fs::metadata(&one).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(scan(&[], "Cached_EICAR").contains("compiled rules loaded from the cache"));

    // Damaged: one byte of the compiled rules flipped.
    let mut bytes = fs::read(&one).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&one, &bytes).unwrap();
    let err = scan(&[], "Cached_EICAR");
    assert!(
        err.contains("could not be used") && err.contains("damaged"),
        "{err}"
    );
    assert!(scan(&[], "Cached_EICAR").contains("compiled rules loaded from the cache"));

    // A cache directory others can write is never read.
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
    let err = scan(&[], "Cached_EICAR");
    assert!(err.contains("can be written by others"), "{err}");
    assert!(!err.contains("loaded from the cache"), "{err}");
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();

    // Other rules, other key: compiled, and the first file stays.
    rule("Renamed_EICAR");
    assert!(scan(&[], "Renamed_EICAR").contains("rules compiled and cached"));
    assert_eq!(files().len(), 2);
    // --no-rules-cache: compiled, cache untouched.
    rule("Third_EICAR");
    let err = scan(&["--no-rules-cache"], "Third_EICAR");
    assert!(
        !err.contains("rules compiled") && !err.contains("from the cache"),
        "{err}"
    );
    assert_eq!(files().len(), 2);
}

/// Issue 15: two rule files defining the same rule name compile, each in
/// its own namespace (as `yr` and `yara` do), and both match.
#[test]
fn two_rule_files_may_share_a_rule_name() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).unwrap();
    for (file, s) in [("a.yar", "EICAR-STANDARD"), ("b.yar", "ANTIVIRUS-TEST")] {
        fs::write(
            rules.join(file),
            format!("rule Same_Name {{ strings: $a = \"{s}\" condition: $a }}\n"),
        )
        .unwrap();
    }
    let f = dir.path().join("eicar.com");
    fs::write(&f, eicar()).unwrap();
    let out = vitrine()
        .args(["scan", "--no-cache", "--format", "ndjson", "--rules"])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1);
    let mut namespaces = Vec::new();
    for line in String::from_utf8_lossy(&out.get_output().stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "file" {
            for d in v["detections"].as_array().unwrap() {
                assert_eq!(d["rule"], "Same_Name");
                namespaces.push(d["namespace"].as_str().unwrap().to_owned());
            }
        }
    }
    namespaces.sort();
    assert_eq!(
        namespaces,
        [
            rules.join("a.yar").display().to_string(),
            rules.join("b.yar").display().to_string()
        ]
    );
}

/// Issue 15: `--print-strings` shows each matched string with its offset,
/// checked against the file, in text and JSON; bytes that are not
/// printable are escaped.
#[test]
fn print_strings_shows_matches_at_their_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("s.yar");
    fs::write(
        &rules,
        "rule Strings_EICAR { strings: $a = \"EICAR-STANDARD\" $b = { 00 FF 41 } condition: $a and $b }\n",
    )
    .unwrap();
    let mut data = b"padding\n".to_vec();
    data.extend_from_slice(&eicar());
    data.extend_from_slice(b"\0\xffA tail");
    let f = dir.path().join("sample.bin");
    fs::write(&f, &data).unwrap();
    let find = |needle: &[u8]| {
        data.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let (a, b) = (find(b"EICAR-STANDARD"), find(b"\0\xffA"));
    vitrine()
        .args(["scan", "--no-cache", "-s", "--rules"])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}: Strings_EICAR FOUND\n  {a:#x}:$a: EICAR-STANDARD\n  {b:#x}:$b: \\x00\\xffA\n",
            f.display()
        )));
    let out = vitrine()
        .args([
            "scan",
            "--no-cache",
            "--print-strings",
            "--format",
            "json",
            "--rules",
        ])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let strings = &v["files"][0]["detections"][0]["strings"];
    assert_eq!(strings[0]["offset"], a, "{v}");
    assert_eq!(strings[0]["length"], 14);
    assert_eq!(strings[1]["offset"], b);
    assert_eq!(strings[1]["data"], "\\x00\\xffA");
    // Without the flag, no strings.
    let out = vitrine()
        .args(["scan", "--no-cache", "--format", "json", "--rules"])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        v["files"][0]["detections"][0].get("strings").is_none(),
        "{v}"
    );
}

/// Issue 15: a file restored from quarantine with `--allow` is not
/// detected again, nor are the same bytes under another name; other files
/// still are. `--allow-name` drops one detection name; a bad allowlist line
/// stops the scan naming the file and line.
#[test]
fn allowlist_by_hash_and_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let f = dir.path().join("fp.com");
    fs::write(&f, eicar()).unwrap();
    let scan = |path: &Path| {
        let mut c = vitrine();
        c.args(["scan", "--no-cache", "--state"])
            .arg(&state)
            .arg(path);
        c
    };
    scan(&f).arg("--quarantine").assert().code(1);
    assert!(!f.exists());
    let out = vitrine()
        .args(["quarantine", "list", "--format", "json", "--state"])
        .arg(&state)
        .assert()
        .success();
    let items: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = items[0]["id"].as_str().unwrap().to_owned();
    vitrine()
        .args(["quarantine", "restore", &id, "--allow", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("allowed {EICAR_SHA256}")));
    assert_eq!(fs::read(&f).unwrap(), eicar());
    scan(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("Infected files: 0"));
    let copy = dir.path().join("same-bytes-other-name.txt");
    fs::write(&copy, eicar()).unwrap();
    scan(&copy).assert().success();
    // Other bytes the rules match are still detected.
    let other = dir.path().join("other.com");
    let mut data = eicar();
    data.extend_from_slice(b"\n");
    fs::write(&other, &data).unwrap();
    scan(&other)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("EICAR_Test_File FOUND"));
    // By name: that detection (the only one for these bytes) is dropped.
    scan(&other)
        .args(["--allow-name", "EICAR_Test_File"])
        .assert()
        .success()
        .stdout(predicate::str::contains("EICAR_Test_File FOUND").not())
        .stdout(predicate::str::contains("Infected files: 0"));
    // Other names still count: the original bytes match hash signatures too.
    let third = dir.path().join("third.com");
    fs::write(&third, eicar()).unwrap();
    vitrine()
        .args(["scan", "--no-cache", "--allow-name", "EICAR_Test_File"])
        .arg(&third)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("EICAR_Test_File FOUND").not())
        .stdout(predicate::str::contains("Vitrine.Test.EICAR.SHA256 FOUND"));
    // A bad line names its file and line; nothing is scanned.
    let bad = dir.path().join("bad-allowlist");
    fs::write(&bad, "# ok\nsha256 not-hex\n").unwrap();
    scan(&other)
        .arg("--allowlist")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:2: not a SHA-256",
            bad.display()
        )));
}

/// Issue 15: yara-x's compiler warnings are shown (with file, line and
/// column), also when the compiled rules come from the cache.
#[test]
fn compiler_warnings_are_shown_fresh_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("w.yar");
    // `$a` is a slow pattern and the condition's comparison is invariant.
    fs::write(
        &rules,
        "rule Warned {\n  strings:\n    $a = { 00 ?? }\n  condition:\n    $a or true\n}\n",
    )
    .unwrap();
    let f = dir.path().join("clean.txt");
    fs::write(&f, "nothing here\n").unwrap();
    let run = || {
        let out = vitrine()
            .args(["scan", "--no-cache", "--state"])
            .arg(dir.path().join("state"))
            .arg("--rules")
            .arg(&rules)
            .arg(&f)
            .assert();
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let first = run();
    let want = format!("vitrine: warning: {}:", rules.display());
    assert!(first.contains(&want), "{first}");
    let second = run();
    let lines = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("vitrine: warning: "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&first), lines(&second));
}

/// Issue 15: `--print-tags` and `--print-meta` show a detection's tags and
/// metadata under it in text, as `yara -g` and `yara -m` do.
#[test]
fn print_tags_and_meta_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("t.yar");
    fs::write(
        &rules,
        "rule Tagged : trojan test {\n  meta:\n    author = \"a \\\"b\\\"\"\n    score = 80\n    ok = true\n  strings:\n    $a = \"EICAR-STANDARD\"\n  condition:\n    $a\n}\n",
    )
    .unwrap();
    let f = dir.path().join("e.com");
    fs::write(&f, eicar()).unwrap();
    vitrine()
        .args(["scan", "--no-cache", "-g", "-m", "--rules"])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}: Tagged FOUND\n  tags: trojan, test\n  meta: author=\"a \\\"b\\\"\", score=80, ok=true\n",
            f.display()
        )));
    vitrine()
        .args(["scan", "--no-cache", "--rules"])
        .arg(&rules)
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("tags:").not());
}

/// Counts agree with their nouns: `1 YARA rule`, `1 thread`, not
/// `1 YARA rules`, `1 threads`.
#[test]
fn one_of_everything_is_said_in_the_singular() {
    let t = tempfile::tempdir().unwrap();
    let rules = t.path().join("one.yar");
    std::fs::write(
        &rules,
        "rule One { strings: $a = \"needle\" condition: $a }\n",
    )
    .unwrap();
    std::fs::write(t.path().join("hay.txt"), b"hay").unwrap();
    let out = vitrine()
        .args([
            "scan",
            "--no-progress",
            "--no-cache",
            "--threads",
            "1",
            "--rules",
        ])
        .arg(&rules)
        .arg(t.path().join("hay.txt"))
        .assert()
        .success();
    let s = crate::common::stdout(&out);
    assert!(
        s.contains("Loaded: 1 YARA rule, 0 hash signatures\n"),
        "{s}"
    );
    assert!(s.contains(", 1 thread)"), "{s}");
}
