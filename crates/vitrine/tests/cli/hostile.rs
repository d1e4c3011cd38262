//! The hostile-file suite, generated at test time: each case finishes in
//! bounded time and memory with the right verdict.

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{eicar, vitrine};

fn zip(members: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(true);
    for (n, d) in members {
        w.start_file(*n, opts).unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, d) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_path(n).unwrap();
        h.set_cksum();
        b.append(&h, *d).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn sevenz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    for (n, d) in members {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(n), Some(*d))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Runs `vitrine scan ARGS` and returns (exit code, stdout, peak RSS in
/// KiB read from /proc while it ran, wall time).
fn scan_measured(args: &[&str], state: &Path) -> (i32, String, u64, Duration) {
    let bin = assert_cmd::cargo::cargo_bin("vitrine");
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("scan")
        .args(["--no-progress", "--state"])
        .arg(state)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut peak = 0;
    let code = loop {
        // VmHWM is the peak resident set so far: the last value read
        // before exit is the peak, give or take the last 5 ms.
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().expect("vitrine was killed by a signal");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "scan hung");
        std::thread::sleep(Duration::from_millis(5));
    };
    (code, reader.join().unwrap(), peak, start.elapsed())
}

#[test]
fn a_zip_bomb_is_reported_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of zeros deflate to about 64 KiB; sixteen of those stored in
    // an outer zip make 1 MiB that expands to 1 GiB.
    let inner = zip(&[("zeros.bin", &vec![0u8; 64 << 20])], true);
    let names: Vec<String> = (0..16).map(|i| format!("part{i}.zip")).collect();
    let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &inner[..])).collect();
    let bomb = zip(&members, false);
    assert!(bomb.len() < 2 << 20);
    std::fs::write(dir.path().join("bomb.zip"), &bomb).unwrap();
    let target = dir.path().join("bomb.zip");
    let (code, out, peak_kb, took) = scan_measured(&[target.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("bomb.zip!part0.zip!zeros.bin: Incomplete: archive compression ratio limit exceeded (Heuristics.Limits.Exceeded.MaxRatio)"),
        "{out}"
    );
    assert!(peak_kb < 400 << 10, "peak RSS {peak_kb} KiB");
    assert!(took < Duration::from_secs(60));
    // With --alert-exceeds-max it is a detection.
    let (code, out, _, _) = scan_measured(
        &["--alert-exceeds-max", target.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bomb.zip: Heuristics.Limits.Exceeded.MaxRatio FOUND"),
        "{out}"
    );
}

#[test]
fn an_archive_nested_a_hundred_deep_stops_at_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = eicar();
    for i in (0..100).rev() {
        data = zip(&[(&format!("l{i}.zip"), &data)], true);
    }
    let p = dir.path().join("deep.zip");
    std::fs::write(&p, &data).unwrap();
    let (code, out, _, _) = scan_measured(&[p.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Incomplete: archive nesting depth limit exceeded (Heuristics.Limits.Exceeded.MaxRecursion)"), "{out}");
    // Deep enough, the payload is found a hundred levels down.
    let (code, out, _, _) = scan_measured(&["--max-depth", "101", p.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("l98.zip!l99.zip: EICAR_Test_File FOUND"),
        "{out}"
    );
}

#[test]
fn traversing_and_absolute_member_names_are_only_names() {
    let dir = tempfile::tempdir().unwrap();
    let scan_dir = dir.path().join("a/b");
    std::fs::create_dir_all(&scan_dir).unwrap();
    let z = zip(
        &[
            ("../../escaped.com", &eicar()),
            ("/tmp/vitrine-absolute-test.com", &eicar()),
        ],
        true,
    );
    std::fs::write(scan_dir.join("evil.zip"), z).unwrap();
    let (code, out, _, _) = scan_measured(&[scan_dir.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("evil.zip!../../escaped.com: EICAR_Test_File FOUND"),
        "{out}"
    );
    assert!(
        out.contains("evil.zip!/tmp/vitrine-absolute-test.com: EICAR_Test_File FOUND"),
        "{out}"
    );
    // Nothing was written anywhere: not where the names point, and not
    // beside the archive.
    assert!(!dir.path().join("escaped.com").exists());
    assert!(!Path::new("/tmp/vitrine-absolute-test.com").exists());
    let entries: Vec<_> = std::fs::read_dir(&scan_dir).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn truncated_and_corrupt_archives_are_reported_and_what_precedes_the_damage_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let filler: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i * 7919).to_le_bytes())
        .collect();
    let z = zip(&[("first.com", &eicar()), ("second.bin", &filler)], true);
    std::fs::write(dir.path().join("truncated.zip"), &z[..z.len() / 2]).unwrap();
    let mut corrupt = b"PK\x03\x04".to_vec();
    corrupt.extend((0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(dir.path().join("corrupt.zip"), &corrupt).unwrap();
    let mut bad7z = sevenz(&[("x", &filler)]);
    bad7z.truncate(bad7z.len() / 3);
    std::fs::write(dir.path().join("cut.7z"), &bad7z).unwrap();
    let (code, out, _, _) =
        scan_measured(&[dir.path().to_str().unwrap()], &dir.path().join("state"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("truncated.zip!first.com: EICAR_Test_File FOUND"),
        "{out}"
    );
    for f in ["truncated.zip", "corrupt.zip", "cut.7z"] {
        assert!(
            out.lines()
                .any(|l| l.contains(f) && l.contains("Incomplete: damaged container")),
            "{f}: {out}"
        );
    }
}

#[test]
fn eicar_three_archives_deep_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let inner = sevenz(&[("payload/eicar.com", &eicar())]);
    let middle = tar_gz(&[("dir/inner.7z", &inner)]);
    let outer = zip(
        &[
            ("docs/readme.txt", b"hello"),
            ("dir/middle.tar.gz", &middle),
        ],
        true,
    );
    std::fs::write(dir.path().join("outer.zip"), outer).unwrap();
    let out = vitrine()
        .args(["scan", "--no-progress", "--format", "ndjson"])
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let file: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "file")
        .unwrap();
    assert_eq!(
        file["members"][0]["path"],
        "dir/middle.tar.gz!(gzip)!dir/inner.7z!payload/eicar.com"
    );
    let rules: Vec<_> = file["members"][0]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["rule"].as_str())
        .collect();
    assert_eq!(rules, ["EICAR_Test_File"]);
    // And as text, the ClamAV way.
    vitrine()
        .args(["scan", "--no-progress"])
        .arg(dir.path().join("outer.zip"))
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "outer.zip!dir/middle.tar.gz!(gzip)!dir/inner.7z!payload/eicar.com: EICAR_Test_File FOUND",
        ));
}

#[test]
fn files_growing_or_truncated_while_scanned_never_crash_the_scanner() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("moving.bin");
    std::fs::write(&victim, vec![1u8; 4 << 20]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, victim) = (stop.clone(), victim.clone());
        std::thread::spawn(move || {
            let block = vec![2u8; 1 << 20];
            let mut grow = true;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&victim)
                    .unwrap();
                if grow {
                    // Grows by appending...
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&victim)
                        .unwrap();
                    for _ in 0..8 {
                        f.write_all(&block).unwrap();
                    }
                } else {
                    // ...then is cut back to nothing and refilled.
                    f.set_len(0).unwrap();
                    let mut f = f;
                    f.write_all(&block).unwrap();
                }
                grow = !grow;
            }
        })
    };
    for _ in 0..15 {
        let (code, out, _, took) = scan_measured(
            &[
                "--no-cache",
                "--max-filesize",
                "64M",
                victim.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(code == 0 || code == 2, "{code}: {out}");
        assert!(out.contains("Scanned files:"), "{out}");
        assert!(took < Duration::from_secs(30));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn a_hundred_thousand_small_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("many");
    for d in 0..100 {
        let sub = root.join(format!("d{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..1000 {
            std::fs::write(sub.join(format!("f{f:04}")), format!("{d}:{f}")).unwrap();
        }
    }
    std::fs::write(root.join("d050/f0500"), eicar()).unwrap();
    let (code, out, peak_kb, took) =
        scan_measured(&["--no-cache", "-i", root.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Scanned files: 100000"), "{out}");
    assert!(out.contains("d050/f0500: EICAR_Test_File FOUND"), "{out}");
    let found: Vec<_> = out.lines().filter(|l| l.ends_with(" FOUND")).collect();
    assert!(
        !found.is_empty() && found.iter().all(|l| l.contains("d050/f0500: ")),
        "{found:?}"
    );
    assert!(peak_kb < 300 << 10, "peak RSS {peak_kb} KiB");
    assert!(took < Duration::from_secs(100), "{took:?}");
}
