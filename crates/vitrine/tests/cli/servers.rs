//! The servers check before they read (issue 14, observation 7): real
//! `vitrine intake serve`, `log serve` and `witness serve` processes on
//! 127.0.0.1, spoken to over raw TCP so a test can send half a request
//! and see when (and whether) the answer comes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{spawn_server as spawn, stdout, vitrine, Server};

/// `host:port` of a server URL.
fn addr(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Connects, sends `head` (and `body`), leaves the connection open.
fn send(url: &str, head: &str, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr(url)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s
}

/// Whatever arrives within `wait` (until the server closes or goes quiet),
/// and how long the first byte took.
fn answer(s: &mut TcpStream, wait: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 4096];
    while start.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                first.get_or_insert(start.elapsed());
                got.extend_from_slice(&buf[..n]);
                // A whole JSON answer: stop reading.
                if got.ends_with(b"}}\n") || got.ends_with(b"}}") {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), first)
}

/// Whether the server closed `s` within `wait`, and after how long.
fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// An intake (its log is never reached in these tests) with one tenant;
/// returns the server, its URL and the tenant's token.
fn intake(d: &Path, extra: &[&str]) -> (Server, String, String) {
    let log_key = stdout(
        &vitrine()
            .args(["log", "init", "--origin", "log.example/s", "--purpose"])
            .args(["custody", "--data"])
            .arg(d.join("log"))
            .assert()
            .success(),
    );
    vitrine()
        .args(["intake", "init", "--log", "http://127.0.0.1:1", "--log-key"])
        .arg(&log_key)
        .arg("--data")
        .arg(d.join("intake"))
        .assert()
        .success();
    let token = stdout(
        &vitrine()
            .args(["intake", "tenant", "add", "t-s", "--data"])
            .arg(d.join("intake"))
            .assert()
            .success(),
    );
    // One keyholder (not running: these requests never reach one).
    let public = stdout(
        &vitrine()
            .args([
                "keyholder",
                "init",
                "--name",
                "kh.example/s",
                "--custody-policy",
            ])
            .arg(d.join("intake/custody.policy"))
            .arg("--data")
            .arg(d.join("kh"))
            .assert()
            .success(),
    );
    vitrine()
        .args(["intake", "keyholder", "add", &public, "http://127.0.0.1:1"])
        .arg("--data")
        .arg(d.join("intake"))
        .assert()
        .success();
    let mut args = vec!["intake", "serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (server, url) = spawn(&args, &d.join("intake"));
    (server, url, token)
}

fn submission_head(token: &str, length: usize) -> String {
    format!(
        "POST /v1/submissions HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A wrong token with a 32 MiB body announced is answered 401 at once,
/// after a few bytes of the body and nothing more; eight such clients
/// pushing their whole bodies leave the intake's memory where it was.
#[test]
fn the_intake_refuses_a_wrong_token_before_reading_the_body() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, url, _token) = intake(tmp.path(), &[]);

    let mut s = send(&url, &submission_head("wrong", 32 << 20), b"{\"policy");
    let (text, first) = answer(&mut s, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 401"), "{text:?}");
    assert!(
        text.contains(r#"{"error":{"code":"unauthorized","message":"unknown tenant token"}}"#),
        "{text:?}"
    );
    assert!(first.unwrap() < Duration::from_secs(2), "{first:?}");

    let pid = server.0.id();
    let before = peak_rss_kib(pid);
    let body = vec![b' '; 32 << 20];
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                let mut s = send(&url, &submission_head("wrong", body.len()), b"");
                // The server stops reading: the write fails or stalls.
                s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(&body);
                answer(&mut s, Duration::from_secs(5)).0
            })
        })
        .collect();
    for c in clients {
        let text = c.join().unwrap();
        // Each one is refused (unless the refusal was lost to the reset
        // of a connection the client was still writing to).
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 401"),
            "{text:?}"
        );
    }
    let after = peak_rss_kib(pid);
    eprintln!(
        "intake peak RSS {before} KiB before, {after} KiB after 8 x 32 MiB wrong-token uploads"
    );
    assert!(
        after < before + 32 * 1024,
        "peak RSS grew from {before} to {after} KiB"
    );
}

/// A right token, and then a body that never finishes: 408 at the body
/// timeout, as JSON. While it hangs, the tenant's one concurrent request
/// is taken: a second one is refused (429) before its body is read.
#[test]
fn the_intake_times_out_slow_bodies_and_caps_a_tenants_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url, token) = intake(
        tmp.path(),
        &["--body-timeout", "2", "--tenant-concurrency", "1"],
    );
    let mut slow = send(&url, &submission_head(&token, 1000), b"{\"policy_id\"");
    std::thread::sleep(Duration::from_millis(300));
    let mut second = send(&url, &submission_head(&token, 1000), b"{");
    let (text, first) = answer(&mut second, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 429"), "{text:?}");
    assert!(text.contains(r#""code":"too_many_concurrent""#), "{text:?}");
    assert!(first.unwrap() < Duration::from_secs(1), "{first:?}");

    let (text, first) = answer(&mut slow, Duration::from_secs(8));
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains(r#""code":"timeout""#), "{text:?}");
    assert!(first.unwrap() > Duration::from_millis(1000), "{first:?}");

    // The slot is free again: the tenant is served (400: an empty object
    // is no submission, but it was read and judged).
    let mut third = send(&url, &submission_head(&token, 2), b"{}");
    let (text, _) = answer(&mut third, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 400"), "{text:?}");
}

/// A log (rules purpose) with one publisher; the server and its URL.
fn log(d: &Path, extra: &[&str]) -> (Server, String) {
    crate::common::log_with_publisher(d, "log.example/s", "publisher.example/p");
    let mut args = vec!["log", "serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    spawn(&args, &d.join("log"))
}

/// `PUT /content` without a signature, or with one by nobody the log
/// knows, is refused at once, before its 60 MiB body.
#[test]
fn the_log_refuses_unsigned_content_before_the_body() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url) = log(tmp.path(), &[]);
    let hex = "ab".repeat(32);
    let head = |sig: &str| {
        format!(
            "PUT /content/sha256/{hex} HTTP/1.1\r\nHost: log\r\n{sig}Content-Length: {}\r\n\r\n",
            60 << 20
        )
    };
    let mut s = send(&url, &head(""), b"MZ");
    let (text, first) = answer(&mut s, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 401"), "{text:?}");
    assert!(
        text.contains(
            r#"{"error":{"code":"unauthorized","message":"missing Vitrine-Signature header"}}"#
        ),
        "{text:?}"
    );
    assert!(first.unwrap() < Duration::from_secs(2), "{first:?}");

    // A well-formed signature line by a key the log does not allow.
    // (base64 of a 4-byte key ID and a 64-byte Ed25519 signature)
    let sig = format!(
        "Vitrine-Signature: mallory.example/m {}=\r\n",
        "A".repeat(91)
    );
    let sig = sig.as_str();
    let mut s = send(&url, &head(sig), b"MZ");
    let (text, first) = answer(&mut s, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 403"), "{text:?}");
    assert!(text.contains(r#""code":"forbidden""#), "{text:?}");
    assert!(first.unwrap() < Duration::from_secs(2), "{first:?}");
}

/// Half a request's headers, then nothing: the connection is closed at
/// the header timeout, not held open.
#[test]
fn half_the_headers_is_cut_off_at_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, url) = log(tmp.path(), &["--header-timeout", "1"]);
    let mut s = send(&url, "GET /checkpoint HTTP/1.1\r\nHost: lo", b"");
    let after = closed_within(&mut s, Duration::from_secs(6)).expect("closed");
    assert!(after > Duration::from_millis(700), "{after:?}");
    assert!(after < Duration::from_secs(4), "{after:?}");
    // A connection that sends nothing at all goes the same way.
    let mut s = send(&url, "", b"");
    assert!(closed_within(&mut s, Duration::from_secs(6)).is_some());
}

/// Over the connection cap, one more connection is answered 503 with a
/// JSON reason and closed; once a connection is free, requests are
/// served again. The witness, out of connections, keeps serving.
#[test]
fn connections_over_the_cap_are_refused_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    vitrine()
        .args(["witness", "init", "--name", "witness.example/w", "--data"])
        .arg(d.join("w"))
        .assert()
        .success();
    let (_server, url) = spawn(
        &[
            "witness",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--max-connections",
            "2",
            "--header-timeout",
            "30",
        ],
        &d.join("w"),
    );
    let held: Vec<_> = (0..2).map(|_| send(&url, "", b"")).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        let mut s = send(&url, "", b"");
        let (text, first) = answer(&mut s, Duration::from_secs(5));
        assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
        assert!(
            text.contains(r#""code":"too_many_connections""#),
            "{text:?}"
        );
        assert!(first.unwrap() < Duration::from_secs(1));
    }
    drop(held);
    // Served again (the witness follows no log: 404, as JSON).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = "old 0\n\nlog.example/x\n1\nAAAA\n\n";
        let mut s = send(
            &url,
            &format!(
                "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            body.as_bytes(),
        );
        let (text, _) = answer(&mut s, Duration::from_secs(5));
        if text.starts_with("HTTP/1.1 503") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert!(text.starts_with("HTTP/1.1 4"), "{text:?}");
        assert!(text.contains(r#"{"error":{"code":"#), "{text:?}");
        break;
    }
}

/// Under a file-descriptor limit of 100 and the default cap of 256
/// connections, the witness serves at most what the limit holds: 150
/// connections at once never leave it out of descriptors; the ones over
/// its cap are answered 503 at once, and it serves again afterwards.
#[test]
fn a_server_never_runs_out_of_file_descriptors() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    vitrine()
        .args(["witness", "init", "--name", "witness.example/w", "--data"])
        .arg(d.join("w"))
        .assert()
        .success();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 100 && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("vitrine"))
        .args(["witness", "serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(d.join("w"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let _server = Server(child);
    let mut seen = String::new();
    let url = loop {
        let line = lines.next().expect("a URL").unwrap();
        if let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break u.to_owned();
        }
        seen.push_str(&line);
    };
    assert!(seen.contains("serving at most 36 connections"), "{seen}");
    std::thread::spawn(move || for _ in lines {});

    let held: Vec<_> = (0..36).map(|_| send(&url, "", b"")).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..114 {
        let mut s = send(&url, "", b"");
        let (text, first) = answer(&mut s, Duration::from_secs(5));
        assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
        assert!(first.unwrap() < Duration::from_secs(1));
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = send(&url, "GET /add-checkpoint HTTP/1.1\r\nHost: w\r\n\r\n", b"");
        let (text, _) = answer(&mut s, Duration::from_secs(5));
        if text.starts_with("HTTP/1.1 503") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert!(text.starts_with("HTTP/1.1 405"), "{text:?}");
        break;
    }
}
