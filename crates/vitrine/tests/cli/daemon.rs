//! `vitrine daemon`: the clamd protocol, spoken by hand and by real ClamAV
//! clients (Debian's `clamdscan`, and the `clamd` package from PyPI).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{eicar, Server};

/// One YARA rule for the EICAR file, so every reply names one detection.
const EICAR_RULE: &str = r#"rule EICAR_Test_File {
    strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
    condition: $a
}"#;

/// A daemon on a socket in `dir`, with one EICAR rule.
fn daemon(dir: &Path, extra: &[&str]) -> (Server, PathBuf) {
    let sock = dir.join("clamd.sock");
    let rules = dir.join("eicar.yar");
    std::fs::write(&rules, EICAR_RULE).unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .arg("daemon")
        .arg("--socket")
        .arg(&sock)
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--rules")
        .arg(&rules)
        .args(extra)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, sock)
}

/// Sends `request` and reads the reply until the server closes.
fn ask(sock: &Path, request: &[u8]) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn instream(cmd: &[u8], chunks: &[&[u8]]) -> Vec<u8> {
    let mut v = cmd.to_vec();
    for c in chunks {
        v.extend_from_slice(&(c.len() as u32).to_be_bytes());
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// A tree with two infected files (one inside a zip) and a clean one.
fn tree(dir: &Path) -> PathBuf {
    let t = dir.join("tree");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("eicar.com"), eicar()).unwrap();
    std::fs::write(t.join("sub/eicar.txt"), eicar()).unwrap();
    std::fs::write(t.join("sub/clean.txt"), b"nothing to see here").unwrap();
    t
}

#[test]
fn the_daemon_speaks_the_clamd_protocol() {
    let t = tempfile::tempdir().unwrap();
    let (_d, sock) = daemon(t.path(), &["--stream-max-length", "1000"]);
    assert_eq!(ask(&sock, b"zPING\0"), "PONG\0");
    assert_eq!(ask(&sock, b"PING\n"), "PONG\n");
    assert!(ask(&sock, b"nVERSION\n").starts_with("Vitrine "));
    let vc = ask(&sock, b"nVERSIONCOMMANDS\n");
    assert!(
        vc.contains("| COMMANDS: ") && vc.contains("INSTREAM"),
        "{vc}"
    );

    let e = eicar();
    assert_eq!(
        ask(&sock, &instream(b"zINSTREAM\0", &[&e[..30], &e[30..]])),
        "stream: EICAR_Test_File FOUND\0"
    );
    assert_eq!(
        ask(&sock, &instream(b"nINSTREAM\n", &[b"clean bytes"])),
        "stream: OK\n"
    );
    assert_eq!(
        ask(
            &sock,
            &instream(b"zINSTREAM\0", &[&[0u8; 600], &[0u8; 600]])
        ),
        "INSTREAM size limit exceeded. ERROR\0"
    );

    let tr = tree(t.path());
    let cont = ask(&sock, format!("zCONTSCAN {}\0", tr.display()).as_bytes());
    let mut lines: Vec<&str> = cont.split('\0').filter(|l| !l.is_empty()).collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("{}/eicar.com: EICAR_Test_File FOUND", tr.display()),
            format!("{}/sub/eicar.txt: EICAR_Test_File FOUND", tr.display()),
        ]
    );
    let multi = ask(&sock, format!("nMULTISCAN {}\n", tr.display()).as_bytes());
    assert_eq!(multi.lines().count(), 2, "{multi}");
    let first = ask(&sock, format!("nSCAN {}\n", tr.display()).as_bytes());
    assert_eq!(first.lines().count(), 1, "SCAN stops at the first: {first}");
    let clean = tr.join("sub/clean.txt");
    assert_eq!(
        ask(&sock, format!("zSCAN {}\0", clean.display()).as_bytes()),
        format!("{}: OK\0", clean.display())
    );
    let missing = ask(&sock, b"zSCAN /no/such/file\0");
    assert!(
        missing.starts_with("/no/such/file: lstat() failed") && missing.ends_with(" ERROR\0"),
        "{missing}"
    );

    // A session: numbered replies on one connection.
    let mut req = b"zIDSESSION\0zPING\0".to_vec();
    req.extend(instream(b"zINSTREAM\0", &[&e]));
    req.extend_from_slice(b"zEND\0");
    assert_eq!(
        ask(&sock, &req),
        "1: PONG\u{0}2: stream: EICAR_Test_File FOUND\0"
    );
    // CONTSCAN is not allowed inside a session.
    let bad = ask(
        &sock,
        format!("zIDSESSION\0zCONTSCAN {}\0", tr.display()).as_bytes(),
    );
    assert!(bad.ends_with(" ERROR\0"), "{bad}");

    let stats = ask(&sock, b"zSTATS\0");
    assert!(
        stats.contains("POOLS:") && stats.ends_with("END\0"),
        "{stats}"
    );
    assert!(stats.contains("found "), "{stats}");

    assert_eq!(ask(&sock, b"nHELLO\n"), "UNKNOWN COMMAND\n");
    let escaped = ask(&sock, b"zSCAN relative\0");
    assert!(escaped.contains("absolute path"), "{escaped}");
}

#[test]
fn fildes_scans_a_passed_descriptor() {
    use std::os::fd::AsRawFd;
    let t = tempfile::tempdir().unwrap();
    let (_d, sock) = daemon(t.path(), &[]);
    let f = t.path().join("e.com");
    std::fs::write(&f, eicar()).unwrap();
    let file = std::fs::File::open(&f).unwrap();
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"zFILDES\0").unwrap();
    send_fd(s.as_raw_fd(), file.as_raw_fd());
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("fd[") && out.ends_with("]: EICAR_Test_File FOUND\0"),
        "{out}"
    );
}

/// Sends one dummy byte carrying `fd` (SCM_RIGHTS), as clamdscan does.
fn send_fd(sock: i32, fd: i32) {
    let mut byte = *b"x";
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: builds one SCM_RIGHTS control message in an aligned buffer
    // large enough for it, then sends it.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd);
        assert_eq!(libc::sendmsg(sock, &msg, 0), 1);
    }
}

#[test]
fn shutdown_stops_the_daemon_and_removes_its_socket() {
    let t = tempfile::tempdir().unwrap();
    let (mut d, sock) = daemon(t.path(), &[]);
    assert_eq!(ask(&sock, b"zSHUTDOWN\0"), "");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = d.0.try_wait().unwrap() {
            assert!(st.success());
            break;
        }
        assert!(Instant::now() < deadline, "still running after SHUTDOWN");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!sock.exists());
}

#[test]
fn reloads_under_load_never_drop_or_mix_an_answer() {
    let t = tempfile::tempdir().unwrap();
    let (_d, sock) = daemon(t.path(), &[]);
    let sock2 = sock.clone();
    let reloader = std::thread::spawn(move || {
        for _ in 0..10 {
            assert_eq!(ask(&sock2, b"zRELOAD\0"), "RELOADING\0");
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                for n in 0..40 {
                    let infected = (i + n) % 2 == 0;
                    let data = if infected { eicar() } else { b"clean".to_vec() };
                    let got = ask(&sock, &instream(b"zINSTREAM\0", &[&data]));
                    let want = if infected {
                        "stream: EICAR_Test_File FOUND\0"
                    } else {
                        "stream: OK\0"
                    };
                    assert_eq!(got, want, "client {i} request {n}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    reloader.join().unwrap();
    // The reloads happened (in the background after RELOADING; requests
    // made while one waits are served by it), and none failed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = ask(&sock, b"zSTATS\0");
        let reloads: u64 = stats
            .split("reloads ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if reloads >= 1 && stats.contains("reload-failures 0") {
            break;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Debian's clamdscan and the PyPI `clamd` package, unchanged, against the
/// daemon. `.ci/run` installs both when they are missing.
#[test]
fn real_clamav_clients_work_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let (_d, sock) = daemon(t.path(), &[]);
    let conf = t.path().join("clamd.conf");
    std::fs::write(&conf, format!("LocalSocket {}\n", sock.display())).unwrap();
    let tr = tree(t.path());
    let infected = tr.join("eicar.com");
    let clean = tr.join("sub/clean.txt");
    for mode in [&[][..], &["--stream"], &["--fdpass"], &["--multiscan"]] {
        let out = std::process::Command::new("clamdscan")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--no-summary")
            .args(mode)
            .arg(&tr)
            .output()
            .expect("clamdscan (Debian package clamav-daemon) is installed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{mode:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("EICAR_Test_File FOUND"),
            "{mode:?}: {stdout}"
        );
        assert!(stdout.contains("eicar.com"), "{mode:?}: {stdout}");
        let out = std::process::Command::new("clamdscan")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--no-summary")
            .args(mode)
            .arg(&clean)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = infected;

    let script = r#"
import io, json, sys, clamd
c = clamd.ClamdUnixSocket(path=sys.argv[1])
out = {
    "ping": c.ping(),
    "version": c.version(),
    "eicar": c.instream(io.BytesIO(bytes.fromhex(sys.argv[3]))),
    "clean": c.instream(io.BytesIO(b"clean")),
    "contscan": c.contscan(sys.argv[2]),
    "multiscan": c.multiscan(sys.argv[2]),
    "stats": c.stats(),
}
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&sock)
        .arg(&tr)
        .arg(hex::encode(eicar()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python clamd (pip install clamd): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ping"], "PONG");
    assert!(v["version"].as_str().unwrap().starts_with("Vitrine "));
    assert_eq!(
        v["eicar"]["stream"],
        serde_json::json!(["FOUND", "EICAR_Test_File"])
    );
    assert_eq!(v["clean"]["stream"], serde_json::json!(["OK", null]));
    for k in ["contscan", "multiscan"] {
        let found = v[k].as_object().unwrap();
        assert_eq!(found.len(), 2, "{k}: {found:?}");
        assert!(found.values().all(|r| r[0] == "FOUND"), "{k}: {found:?}");
    }
    assert!(v["stats"].as_str().unwrap().contains("POOLS"));
}

/// A daemon with on-access scanning of `watched` (and `extra` flags), its
/// socket in `dir`, built-in rules; returned once it says it is watching,
/// with the lines it printed until then. Its standard error keeps being
/// read into the returned buffer.
fn on_access_daemon(
    dir: &Path,
    watched: &Path,
    extra: &[&str],
) -> (Server, PathBuf, std::sync::Arc<std::sync::Mutex<String>>) {
    on_access_daemon_as(dir, watched, extra, false)
}

/// `vitrine`, or (`unprivileged`, when we are root) a copy of it in `dir`
/// run as nobody, without CAP_SYS_ADMIN.
fn vitrine_as(dir: &Path, unprivileged: bool) -> std::process::Command {
    use std::os::unix::fs::PermissionsExt;
    if !(unprivileged && is_root()) {
        return std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"));
    }
    let bin = dir.join("vitrine");
    if !bin.exists() {
        std::fs::copy(assert_cmd::cargo::cargo_bin("vitrine"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin);
    c
}

fn on_access_daemon_as(
    dir: &Path,
    watched: &Path,
    extra: &[&str],
    unprivileged: bool,
) -> (Server, PathBuf, std::sync::Arc<std::sync::Mutex<String>>) {
    use std::io::BufRead;
    let sock = dir.join("oa.sock");
    let mut child = vitrine_as(dir, unprivileged)
        .arg("daemon")
        .arg("--socket")
        .arg(&sock)
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--on-access")
        .arg(watched)
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines = std::io::BufReader::new(stderr).lines();
    loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("the daemon stopped: {}", seen.lock().unwrap());
        };
        let mut s = seen.lock().unwrap();
        s.push_str(&line);
        s.push('\n');
        if line.contains("watching") {
            break;
        }
    }
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let mut s = seen2.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, sock, seen)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The number after `key ` in a STATS reply.
fn stat(stats: &str, key: &str) -> u64 {
    stats
        .split(&format!("{key} "))
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {stats}"))
}

/// Asks for STATS until `done` holds for them (within a minute).
fn stats_until(sock: &Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = ask(sock, b"zSTATS\0");
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Blocking on-access scanning: opening a planted EICAR file under a
/// watched directory is denied, a clean file opens. fanotify permission
/// events need root (see the inotify tests for the other case).
#[test]
fn on_access_denies_opening_a_detected_file() {
    if !is_root() {
        eprintln!("skipped: fanotify permission events need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let watched = t.path().join("watched");
    std::fs::create_dir_all(watched.join("sub")).unwrap();
    let bad = watched.join("sub/eicar.com");
    std::fs::write(&bad, eicar()).unwrap();
    let good = watched.join("clean.txt");
    std::fs::write(&good, b"harmless").unwrap();
    let (_server, _sock, seen) = on_access_daemon(t.path(), &watched, &[]);
    assert!(
        !seen.lock().unwrap().contains("error"),
        "{}",
        seen.lock().unwrap()
    );
    let err = std::fs::read(&bad).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert_eq!(std::fs::read(&good).unwrap(), b"harmless");
    // Still there, untouched: denied, not deleted.
    assert!(bad.exists());
}

/// Directories made under a watched tree while the daemon runs (one by
/// one, several levels at once, or a tree moved in from outside) are
/// marked as they appear: an EICAR file planted in them cannot be opened.
#[test]
fn on_access_covers_directories_made_after_start() {
    if !is_root() {
        eprintln!("skipped: fanotify permission events need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let watched = t.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let (_server, sock, _seen) = on_access_daemon(t.path(), &watched, &[]);
    let at_start = stat(&ask(&sock, b"zSTATS\0"), "directories");
    assert_eq!(at_start, 1);

    std::fs::create_dir(watched.join("new")).unwrap();
    std::fs::create_dir_all(watched.join("deep/a/b")).unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    std::fs::write(outside.join("inner/eicar.com"), eicar()).unwrap();
    std::fs::rename(&outside, watched.join("moved")).unwrap();
    // new, deep, deep/a, deep/a/b, moved, moved/inner.
    stats_until(&sock, |s| stat(s, "directories") >= at_start + 6);

    for dir in ["new", "deep/a/b", "moved/inner"] {
        let bad = watched.join(dir).join("eicar.com");
        if dir != "moved/inner" {
            std::fs::write(&bad, eicar()).unwrap();
        }
        let err = std::fs::read(&bad).unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{dir}: {err}"
        );
        let good = watched.join(dir).join("clean.txt");
        std::fs::write(&good, b"harmless").unwrap();
        assert_eq!(std::fs::read(&good).unwrap(), b"harmless");
    }
    let stats = ask(&sock, b"zSTATS\0");
    assert_eq!(stat(&stats, "denied"), 3, "{stats}");
}

/// The inotify backend (chosen here; what `auto` falls back to where
/// fanotify is unavailable): a file written into the watched tree, into a
/// directory made after start, or moved in with its directory, is scanned
/// once written; the detection is logged and counted in STATS, and the
/// daemon says, once in its log and in STATS, that it cannot block.
#[test]
fn on_access_inotify_backend_detects_written_files() {
    let t = tempfile::tempdir().unwrap();
    let watched = t.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let (_server, sock, seen) =
        on_access_daemon(t.path(), &watched, &["--on-access-backend", "inotify"]);
    let stats = ask(&sock, b"zSTATS\0");
    assert!(
        stats.contains("ON-ACCESS: backend inotify blocking no "),
        "{stats}"
    );
    assert!(
        stats.contains("ON-ACCESS-WARNING: ") && stats.contains("opens are NOT blocked"),
        "{stats}"
    );

    std::fs::write(watched.join("clean.txt"), b"harmless").unwrap();
    let top = watched.join("eicar.com");
    std::fs::write(&top, eicar()).unwrap();
    std::fs::create_dir(watched.join("new")).unwrap();
    let in_new = watched.join("new/eicar.txt");
    std::fs::write(&in_new, eicar()).unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    std::fs::write(outside.join("inner/eicar.bin"), eicar()).unwrap();
    std::fs::rename(&outside, watched.join("moved")).unwrap();
    let moved = watched.join("moved/inner/eicar.bin");

    let stats = stats_until(&sock, |s| stat(s, "detected") >= 3);
    assert_eq!(stat(&stats, "denied"), 0, "{stats}");
    assert_eq!(stat(&stats, "failed"), 0, "{stats}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = seen.lock().unwrap().clone();
        let logged = |p: &Path| {
            log.lines()
                .any(|l| l.contains("on-access detection") && l.contains(p.to_str().unwrap()))
        };
        if logged(&top) && logged(&in_new) && logged(&moved) {
            assert!(!log.contains("clean.txt"), "{log}");
            assert_eq!(log.matches("opens are NOT blocked").count(), 1, "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Notification only: nothing was blocked or removed.
    assert_eq!(std::fs::read(&top).unwrap(), eicar());
}

/// Where fanotify is unavailable (here the daemon runs without
/// CAP_SYS_ADMIN: as nobody when we are root), the default backend says
/// so once and falls back to inotify, and detections are still reported;
/// `--on-access-backend fanotify` refuses to start instead.
#[test]
fn on_access_falls_back_to_inotify_without_fanotify() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = t.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let watched = t.path().join("watched");
    std::fs::create_dir(&watched).unwrap();

    let out = vitrine_as(&run, true)
        .arg("daemon")
        .arg("--socket")
        .arg(run.join("refused.sock"))
        .arg("--state")
        .arg(run.join("state"))
        .arg("--on-access")
        .arg(&watched)
        .args(["--on-access-backend", "fanotify"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("fanotify_init") && stderr.contains("CAP_SYS_ADMIN"),
        "{stderr}"
    );

    let (_server, sock, seen) = on_access_daemon_as(&run, &watched, &[], true);
    let stats = ask(&sock, b"zSTATS\0");
    assert!(
        stats.contains("ON-ACCESS: backend inotify blocking no "),
        "{stats}"
    );
    assert!(stats.contains("fanotify is unavailable"), "{stats}");
    let log = seen.lock().unwrap().clone();
    assert_eq!(log.matches("fanotify is unavailable").count(), 1, "{log}");
    assert!(log.contains("WARN"), "{log}");
    std::fs::write(watched.join("eicar.com"), eicar()).unwrap();
    stats_until(&sock, |s| stat(s, "detected") == 1);
}

#[test]
fn scan_daemon_sends_the_work_to_the_daemon() {
    let t = tempfile::tempdir().unwrap();
    let (_d, sock) = daemon(t.path(), &[]);
    let tr = tree(t.path());
    let out = crate::common::vitrine()
        .args(["scan", "--daemon"])
        .arg(&sock)
        .arg(&tr)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("EICAR_Test_File FOUND").count(), 2, "{out}");
    assert!(out.contains("Infected files: 2"), "{out}");
    crate::common::vitrine()
        .args(["scan", "--daemon"])
        .arg(&sock)
        .arg("-")
        .write_stdin(eicar())
        .assert()
        .code(1)
        .stdout(predicates::str::contains("stream: EICAR_Test_File FOUND"));
    crate::common::vitrine()
        .args(["scan", "--daemon"])
        .arg(&sock)
        .arg(tr.join("sub/clean.txt"))
        .assert()
        .success();
    // No daemon there: an error naming the socket.
    crate::common::vitrine()
        .args(["scan", "--daemon"])
        .arg(t.path().join("nothing.sock"))
        .arg(&tr)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nothing.sock"));
}

/// Scheduled updates: a failing update (the log cannot be reached) never
/// removes the active rules; it shows in STATS and in `vitrine status`.
#[test]
fn a_failing_scheduled_update_keeps_the_rules_and_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (log_vkey, pub_vkey) =
        crate::common::log_with_publisher(d, "log.example/sched", "publisher.example/p");
    crate::common::vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args(["--log-url", "http://127.0.0.1:1", "--quorum", "none"])
        .args(["--publisher", &pub_vkey, "--max-age", "600"])
        .assert()
        .success();
    let policy = d.join("policy");
    let (_d, sock) = daemon(
        d,
        &["--update-every", "1", "--policy", policy.to_str().unwrap()],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let stats = loop {
        let stats = ask(&sock, b"zSTATS\0");
        if stats.contains("UPDATES: ok 0 failed ") {
            break stats;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(stats.contains("LAST-UPDATE-ERROR"), "{stats}");
    // The rules still answer.
    assert_eq!(
        ask(&sock, &instream(b"zINSTREAM\0", &[&eicar()])),
        "stream: EICAR_Test_File FOUND\0"
    );
    let out = crate::common::vitrine()
        .args(["status", "--state"])
        .arg(d.join("state"))
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("the daemon's scheduled update failed"),
        "{out}"
    );
}

/// Issue 15: the daemon honours STATE/allowlist (read at start) and keeps
/// its compiled rules in STATE/rules-cache like `vitrine scan`.
#[test]
fn the_daemon_reads_the_allowlist_and_caches_its_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut bumped = eicar();
    bumped.extend_from_slice(b"\n");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bumped));
    std::fs::create_dir_all(d.join("state")).unwrap();
    std::fs::write(d.join("state/allowlist"), format!("sha256 {sha}  # ours\n")).unwrap();
    let (_server, sock) = daemon(d, &[]);
    // The allowed bytes are clean; EICAR itself is still found.
    assert_eq!(
        ask(&sock, &instream(b"zINSTREAM\0", &[&bumped])),
        "stream: OK\0"
    );
    assert!(ask(&sock, &instream(b"zINSTREAM\0", &[&eicar()])).contains("FOUND"));
    let cached: Vec<_> = std::fs::read_dir(d.join("state/rules-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
}

/// A hot swap to a newly verified bundle under load: the daemon runs on
/// bundle v1 (one EICAR rule) with scheduled updates; while four clients
/// keep sending INSTREAMs, v2 (the same EICAR rule and a rule for a
/// marker only v2 detects) is published to a witnessed log and the
/// daemon's own update installs and swaps it in. Every answer is the old
/// or the new set's verdict for its payload, none is dropped, each client
/// sees the change once and never goes back, and afterwards the daemon
/// gives the new verdict and names v2.
#[test]
fn a_newly_verified_bundle_is_swapped_in_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_servers, url) = crate::update::witnessed_log(d, "swap");
    let eicar_rule =
        "rule Swap_Eicar { strings: $a = \"EICAR-STANDARD-ANTIVIRUS-TEST-FILE\" condition: $a }\n";
    crate::update::publish_named(d, &url, "swap", 1, eicar_rule);
    let state = d.join("state");
    crate::common::vitrine()
        .current_dir(d)
        .args(["update", "--policy", "policy", "--state"])
        .arg(&state)
        .args(["--log", &url])
        .assert()
        .success()
        .stdout(predicates::str::contains("ACTIVATED bundle swap v1"));
    let sock = d.join("swap.sock");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .arg("daemon")
        .arg("--socket")
        .arg(&sock)
        .arg("--state")
        .arg(&state)
        .args(["--update-every", "1", "--policy"])
        .arg(d.join("policy"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ask(&sock, b"zVERSION\0").contains("/1/"));

    let marker = b"vitrine hot swap marker 7f3a91".to_vec();
    const OLD: &str = "stream: OK\0";
    const NEW: &str = "stream: Swap_Marker FOUND\0";
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (sock, stop, marker) = (sock.clone(), stop.clone(), marker.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut swapped_at = None;
                let mut n = 0u64;
                // Until told to stop, and then on until 20 requests after
                // this client saw the new set.
                while !stop.load(Ordering::Relaxed) || swapped_at.is_none_or(|at| n < at + 20) {
                    let (data, kind) = match n % 3 {
                        0 => (eicar(), "eicar"),
                        1 => (marker.clone(), "marker"),
                        _ => (b"clean bytes".to_vec(), "clean"),
                    };
                    let got = ask(&sock, &instream(b"zINSTREAM\0", &[&data]));
                    match kind {
                        "eicar" => assert_eq!(got, "stream: Swap_Eicar FOUND\0", "client {i} #{n}"),
                        "clean" => assert_eq!(got, "stream: OK\0", "client {i} #{n}"),
                        _ if got == NEW => {
                            swapped_at.get_or_insert(n);
                        }
                        _ => {
                            assert_eq!(got, OLD, "client {i} #{n}");
                            assert!(swapped_at.is_none(), "client {i} #{n}: back to the old set");
                        }
                    }
                    n += 1;
                    assert!(
                        started.elapsed() < Duration::from_secs(300),
                        "client {i}: no swap seen"
                    );
                }
                n
            })
        })
        .collect();
    let v2 = format!(
        "{eicar_rule}rule Swap_Marker {{ strings: $m = \"hot swap marker 7f3a91\" condition: $m }}\n"
    );
    crate::update::publish_named(d, &url, "swap", 2, &v2);
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        total += c.join().unwrap();
    }
    assert!(total > 100, "only {total} requests under load");
    assert_eq!(ask(&sock, &instream(b"zINSTREAM\0", &[&marker])), NEW);
    assert!(ask(&sock, b"zVERSION\0").contains("/2/"));
    let stats = ask(&sock, b"zSTATS\0");
    assert!(stats.contains("verified bundle swap v2"), "{stats}");
    assert!(stats.contains("reload-failures 0"), "{stats}");
}

/// Peak memory follows the load, not --max-threads: after eight clients
/// at once (eight workers started), one client sending 10 MiB streams one
/// after another costs about one stream's memory. Workers used to keep
/// the buffer of the last stream they scanned, and glibc kept freed
/// buffers in the threads' arenas: this test peaked at 124 MB before,
/// and stays under 100 MB now (debug build).
#[test]
fn memory_follows_the_streams_in_flight_not_the_largest_seen() {
    let t = tempfile::tempdir().unwrap();
    let (d, sock) = daemon(t.path(), &["--max-threads", "10"]);
    let small: Vec<_> = (0..8)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(
                        ask(&sock, &instream(b"zINSTREAM\0", &[b"small"])),
                        "stream: OK\0"
                    );
                }
            })
        })
        .collect();
    for c in small {
        c.join().unwrap();
    }
    let big = vec![b'a'; 10 << 20];
    for _ in 0..12 {
        assert_eq!(
            ask(&sock, &instream(b"zINSTREAM\0", &[&big])),
            "stream: OK\0"
        );
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.0.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(peak_kb < 100 * 1024, "peak RSS {peak_kb} kB");
}
