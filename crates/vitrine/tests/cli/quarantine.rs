//! `vitrine scan --quarantine`, `vitrine quarantine`, and the scan cache.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::common::{eicar, vitrine};

fn quarantine_list(state: &Path) -> Vec<serde_json::Value> {
    let out = vitrine()
        .args(["quarantine", "--format", "json", "--state"])
        .arg(state)
        .arg("list")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice::<Vec<serde_json::Value>>(&out).unwrap()
}

#[test]
fn scan_quarantine_moves_detections_and_restore_brings_them_back() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let files = t.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let bad = files.join("eicar.com");
    std::fs::write(&bad, eicar()).unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o754)).unwrap();
    let zipped = files.join("packed.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zipped).unwrap());
        w.start_file("inner/eicar.com", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, &eicar()).unwrap();
        w.finish().unwrap();
    }
    let zipped_bytes = std::fs::read(&zipped).unwrap();
    std::fs::write(files.join("clean.txt"), b"nothing to see").unwrap();

    let out = vitrine()
        .args(["scan", "--no-progress", "--quarantine", "--state"])
        .arg(&state)
        .arg(&files)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("eicar.com: moved to quarantine as "), "{out}");
    assert!(out.contains("packed.zip: moved to quarantine as "), "{out}");
    assert!(!bad.exists() && !zipped.exists());
    assert!(files.join("clean.txt").exists());

    let items = quarantine_list(&state);
    assert_eq!(items.len(), 2);
    let item = items
        .iter()
        .find(|i| i["original_path"] == bad.to_str().unwrap())
        .unwrap();
    assert_eq!(item["mode"], 0o754);
    assert_eq!(item["size"], 68);
    let dets: Vec<_> = item["reason"]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(dets.iter().any(|d| d == &"EICAR_Test_File"), "{dets:?}");
    assert!(
        item["reason"]["rules"]
            .as_str()
            .unwrap()
            .contains("built-in"),
        "{item}"
    );
    let zitem = items
        .iter()
        .find(|i| i["original_path"] == zipped.to_str().unwrap())
        .unwrap();
    let zdets = zitem["reason"]["detections"].as_array().unwrap();
    assert!(
        zdets
            .iter()
            .any(|d| d == "inner/eicar.com: EICAR_Test_File"),
        "{zdets:?}"
    );

    // What is in quarantine is not detected again.
    vitrine()
        .args(["scan", "--no-progress", "--no-cache"])
        .arg(state.join("quarantine"))
        .assert()
        .code(0);

    // `show` prints the record.
    let id = item["id"].as_str().unwrap();
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .args(["show", &id[..10]])
        .assert()
        .success()
        .stdout(predicates::str::contains(bad.to_str().unwrap()));

    // Restore refuses to overwrite a file that took the place...
    std::fs::write(&bad, b"someone else").unwrap();
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .args(["restore", id])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("exists; not overwritten"));
    assert_eq!(std::fs::read(&bad).unwrap(), b"someone else");
    // ...and restores when the place is free, with mode and content.
    std::fs::remove_file(&bad).unwrap();
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .args(["restore", id])
        .assert()
        .success();
    assert_eq!(std::fs::read(&bad).unwrap(), eicar());
    assert_eq!(
        std::fs::metadata(&bad).unwrap().permissions().mode() & 0o7777,
        0o754
    );
    let zid = zitem["id"].as_str().unwrap();
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .args(["restore", zid])
        .assert()
        .success();
    assert_eq!(std::fs::read(&zipped).unwrap(), zipped_bytes);
    assert!(quarantine_list(&state).is_empty());
    // An unknown ID is an error naming it.
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .args(["delete", "nosuchitem"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no quarantined item nosuchitem"));
}

fn summary_line(out: &str, prefix: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn scan_text(state: &Path, extra: &[&str], target: &Path) -> (i32, String) {
    let out = vitrine()
        .args(["scan", "--no-progress", "--state"])
        .arg(state)
        .args(extra)
        .arg(target)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn the_scan_cache_skips_unchanged_files_and_never_a_modified_one() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let files = t.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    for i in 0..20 {
        std::fs::write(files.join(format!("f{i}")), format!("clean file {i:04}")).unwrap();
    }
    // Timestamps within a second of a scan are not trusted (coarse clock).
    std::thread::sleep(Duration::from_millis(1200));
    const CACHED: &str = "Unchanged since a clean scan (cache):";
    let (code, out) = scan_text(&state, &[], &files);
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary_line(&out, CACHED), 0);
    let (code, out) = scan_text(&state, &[], &files);
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary_line(&out, CACHED), 20, "{out}");

    // Same size, old mtime put back: ctime still changed, so it is read.
    let victim = files.join("f7");
    let old = std::fs::metadata(&victim).unwrap().modified().unwrap();
    let mut planted = eicar();
    planted.truncate("clean file 0007".len());
    // Not EICAR at that length: use a hash signature of these exact bytes.
    std::fs::write(&victim, &planted).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&planted))
    };
    let hsb = t.path().join("sig.hsb");
    std::fs::write(&hsb, format!("{sha}:{}:Test.Planted\n", planted.len())).unwrap();
    // The rules changed too (new signature file): nothing comes from the
    // cache under other rules, and the planted file is found.
    let (code, out) = scan_text(&state, &["--hashes", hsb.to_str().unwrap()], &files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("f7: Test.Planted FOUND"), "{out}");
    assert_eq!(summary_line(&out, CACHED), 0, "{out}");

    // Back on the built-in rules: the cache was reset by the rules change,
    // so this scan reads everything again; the one after uses the cache
    // for the files that did not change and still reads the modified one.
    std::thread::sleep(Duration::from_millis(1200));
    let (_, out) = scan_text(&state, &[], &files);
    assert_eq!(summary_line(&out, CACHED), 0, "{out}");
    let (_, out) = scan_text(&state, &[], &files);
    assert_eq!(summary_line(&out, CACHED), 20, "{out}");
    std::fs::write(&victim, eicar()).unwrap();
    let (code, out) = scan_text(&state, &[], &files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("f7: EICAR_Test_File FOUND"), "{out}");
    assert_eq!(summary_line(&out, CACHED), 19, "{out}");
    // --no-cache reads everything.
    let (_, out) = scan_text(&state, &["--no-cache"], &files);
    assert_eq!(summary_line(&out, CACHED), 0, "{out}");
    // Machine output lists every file, cached ones marked as such; the
    // summary counts them as scanned.
    std::fs::remove_file(&victim).unwrap();
    let (_, _) = scan_text(&state, &[], &files);
    let (code, out) = scan_text(&state, &["--format", "json"], &files);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed = v["files"].as_array().unwrap();
    assert_eq!(listed.len(), 19);
    assert!(listed.iter().all(|f| f["cached"] == true), "{out}");
    assert_eq!(v["summary"]["cached"], 19);
    assert_eq!(v["summary"]["files_scanned"], 19);
}

/// Makes `p` impossible to remove: immutable as root, in a read-only
/// directory otherwise. Returns the undo.
fn pin(p: &Path) -> Box<dyn FnOnce()> {
    let p = p.to_path_buf();
    // A file this process just created is owned by its effective user.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&p).unwrap()) == 0;
    if root {
        let st = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "chattr +i failed");
        Box::new(move || {
            std::process::Command::new("chattr")
                .arg("-i")
                .arg(&p)
                .status()
                .unwrap();
        })
    } else {
        let dir = p.parent().unwrap().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        Box::new(move || {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        })
    }
}

#[test]
fn a_failed_quarantine_is_an_error_and_never_wedges_the_store() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let files = t.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let bad = files.join("eicar.com");
    std::fs::write(&bad, eicar()).unwrap();
    let unpin = pin(&bad);
    let out = vitrine()
        .args(["scan", "--no-progress", "--quarantine", "--state"])
        .arg(&state)
        .arg(&files)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("quarantine failed"), "{stdout}");
    assert!(stdout.contains("Errors: 1"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 file with detections could not be quarantined and was left in place"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&bad).unwrap(), eicar());
    // The store still works, and holds nothing.
    assert!(quarantine_list(&state).is_empty());
    unpin();
    // Listing the store never removes the file the scan left in place.
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .arg("list")
        .assert()
        .success();
    assert_eq!(std::fs::read(&bad).unwrap(), eicar());
    // A new scan moves it.
    vitrine()
        .args(["scan", "--no-progress", "--quarantine", "--state"])
        .arg(&state)
        .arg(&files)
        .assert()
        .code(1);
    assert!(!bad.exists());
    assert_eq!(quarantine_list(&state).len(), 1);
}

#[test]
fn a_store_others_can_write_is_refused_by_name() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .arg("list")
        .assert()
        .success();
    let journal = state.join("quarantine").join("journal");
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = vitrine()
        .args(["quarantine", "--state"])
        .arg(&state)
        .arg("list")
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("written by others"), "{err}");
}

#[test]
fn the_scanner_never_detects_itself() {
    let t = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vitrine");
    let dir = t.path().join("tools");
    std::fs::create_dir(&dir).unwrap();
    // A copy is another file: it must be clean on its own merits (the
    // built-in rules are not stored as text in the binary).
    std::fs::copy(&bin, dir.join("vitrine-copy")).unwrap();
    let state = t.path().join("state");
    let out = vitrine()
        .args(["scan", "--no-progress", "--quarantine", "--state"])
        .arg(&state)
        .arg(&dir)
        .arg(&bin)
        .assert()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Infected files: 0"), "{stdout}");
    assert!(dir.join("vitrine-copy").exists() && bin.exists());
}
