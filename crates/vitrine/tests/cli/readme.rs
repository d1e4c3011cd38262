//! The README's transparency loop, extracted from README.md (between its
//! marker comments) and run literally with bash in a temporary directory:
//! both blocks in an empty one, and the run block in what `vitrine demo
//! --keep` leaves. Only `PORT` is set, as the README documents.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../../../README.md");

/// The indented code lines between `<!-- transparency-loop: NAME -->` and
/// `<!-- /transparency-loop: NAME -->`, unindented.
fn block(name: &str) -> String {
    let begin = format!("<!-- transparency-loop: {name} -->");
    let end = format!("<!-- /transparency-loop: {name} -->");
    let start = README
        .find(&begin)
        .unwrap_or_else(|| panic!("README.md has no {begin}"));
    let stop = README[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("README.md has no {end}"));
    let mut script = String::new();
    for line in README[start + begin.len()..start + stop].lines() {
        if let Some(code) = line.strip_prefix("    ") {
            script.push_str(code);
            script.push('\n');
        } else {
            assert!(
                line.trim().is_empty(),
                "prose inside the {name} block: {line:?}"
            );
        }
    }
    assert!(script.lines().count() > 3, "{name} block is empty");
    script
}

/// A base port with the three above it free too (the log and witnesses).
fn free_ports() -> u16 {
    for _ in 0..100 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65000 {
            continue;
        }
        let all: Vec<_> = (0..4)
            .map(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if all.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no four free consecutive ports");
}

/// Kills a process group (the script and its background servers).
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .status();
    }
}

/// Runs `script` with bash -e in `dir`, `vitrine` on the PATH; returns its
/// standard output, panicking with both outputs if it fails.
fn run(script: &str, dir: &Path, port: u16) -> String {
    let bin = assert_cmd::cargo::cargo_bin("vitrine");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_path = dir.join(".stdout");
    let err_path = dir.join(".stderr");
    let mut child = Command::new("bash")
        .args(["-e", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("PORT", port.to_string())
        .env("VITRINE_STATE", dir.join(".default-state"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let _group = Group(child.id());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(300) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    match status {
        Some(s) if s.success() => stdout,
        other => panic!("script ended with {other:?}\n--- script\n{script}--- stdout\n{stdout}--- stderr\n{stderr}"),
    }
}

#[test]
fn readme_transparency_loop_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let setup = block("setup");
    let run_block = block("run");
    let port = free_ports();
    let out = run(&format!("{setup}{run_block}"), dir, port);
    assert!(out.contains("ACTIVATED bundle starter"), "{out}");
    // `log verify` recomputed the tree: one rules statement, none invalid.
    assert!(out.contains("statements: rules 1; invalid: 0"), "{out}");
    // The log's servers are gone: the script stopped what it started. (A
    // killed process may hold its port for a moment after the script
    // ends, so the port gets a few seconds to come free.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the log was not stopped: port {port} still taken"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readme_run_block_works_in_a_demo_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    crate::common::vitrine()
        .args(["demo", "--keep"])
        .arg(&dir)
        .timeout(Duration::from_secs(180))
        .assert()
        .success();
    // The kept policy names the README's default ports; move it to free
    // ones, as a user whose 8080 is taken would.
    let port = free_ports();
    let policy = dir.join("policy");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    for i in 0..4u16 {
        text = text.replace(
            &format!("http://127.0.0.1:{}", 8080 + i),
            &format!("http://127.0.0.1:{}", port + i),
        );
    }
    std::fs::write(&policy, text).unwrap();
    let out = run(&block("run"), &dir, port);
    assert!(out.contains("ACTIVATED bundle starter"), "{out}");
    // v1, v2 of the demo, and this one.
    assert!(out.contains("statements: rules 3; invalid: 0"), "{out}");
}
