//! `vitrine update --log` against hostile logs on 127.0.0.1 (issue 12): a
//! log built in the test (tlog-tiles layout, signed and cosigned checkpoint,
//! content store) served by a small HTTP server that the test can make
//! drip, lie or shout control characters. Each refusal leaves the state
//! directory byte-identical.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;
use vitrine_note::{Cosigner, SignatureType, SignerKey};
use vitrine_statements::{Review, Rules, Sha256, Statement, Verdict};
use vitrine_tlog::{
    bundle_for_leaf, encode_entry_bundle, leaf_hash, tile_from_leaf_hashes, tiles_for_size,
    Checkpoint, Hash, MemoryTree,
};

use crate::common::vitrine;

const ORIGIN: &str = "hostile.example/log";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the server answers: a status, the body, and how long to wait
/// between body bytes (drip).
pub struct Reply {
    status: u16,
    body: Vec<u8>,
    drip: Option<Duration>,
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 (a port the OS picks) answering every
/// GET through `handler`, one thread per connection. It lives as long as
/// the test process.
pub fn serve(handler: Arc<Handler>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || answer(conn, &*handler));
        }
    });
    url
}

fn answer(mut conn: TcpStream, handler: &Handler) {
    loop {
        let mut reader = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        });
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        let path = request
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_owned();
        let reply = handler(&path);
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
            reply.status,
            reply.body.len()
        );
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        match reply.drip {
            None => {
                if conn.write_all(&reply.body).is_err() {
                    return;
                }
            }
            Some(d) => {
                for b in &reply.body {
                    if conn.write_all(&[*b]).and_then(|()| conn.flush()).is_err() {
                        return;
                    }
                    std::thread::sleep(d);
                }
            }
        }
    }
}

/// A log built in memory and laid out as tlog-tiles files.
pub struct TestLog {
    log: SignerKey,
    witnesses: Vec<Cosigner>,
    publisher: SignerKey,
    reviewer: SignerKey,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
    /// Path -> bytes, as served.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Cosignature time of the next checkpoint.
    pub cosign_time: u64,
}

impl TestLog {
    pub fn new() -> TestLog {
        TestLog {
            log: SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [1; 32]).unwrap(),
            witnesses: (0..3)
                .map(|i| {
                    Cosigner::new(
                        SignerKey::from_seed(
                            &format!("w{i}.hostile.example"),
                            SignatureType::CosignatureV1,
                            [10 + i; 32],
                        )
                        .unwrap(),
                    )
                    .unwrap()
                })
                .collect(),
            publisher: SignerKey::from_seed(
                "publisher.hostile.example",
                SignatureType::Ed25519,
                [2; 32],
            )
            .unwrap(),
            reviewer: SignerKey::from_seed(
                "reviewer.hostile.example",
                SignatureType::Ed25519,
                [3; 32],
            )
            .unwrap(),
            tree: MemoryTree::new(),
            entries: Vec::new(),
            files: BTreeMap::new(),
            cosign_time: now(),
        }
    }

    /// The policy for this log, at `url`, with `extra` lines.
    pub fn policy(&self, url: &str, extra: &str) -> String {
        format!(
            "log {} {url}\nwitness w0 {}\nwitness w1 {}\nwitness w2 {}\ngroup g 2 w0 w1 w2\nquorum g\npublisher {}\nreviewer {}\nmax-age 600\n{extra}",
            self.log.verifier(),
            self.witnesses[0].verifier(),
            self.witnesses[1].verifier(),
            self.witnesses[2].verifier(),
            self.publisher.verifier(),
            self.reviewer.verifier(),
        )
    }

    pub fn append(&mut self, entry: Vec<u8>) -> u64 {
        self.tree.push_data(&entry);
        self.entries.push(entry);
        self.tree.size() - 1
    }

    /// Builds bundle version `v`, stores it in the content store, logs its
    /// `rules` statement; returns (index, bundle sha256).
    pub fn publish(&mut self, v: u64) -> (u64, [u8; 32]) {
        self.publish_expiring(v, now() + 86_400)
    }

    pub fn publish_expiring(&mut self, v: u64, expires: u64) -> (u64, [u8; 32]) {
        let t = now();
        let bundle = vitrine_bundle::Bundle::build(
            "hostile",
            v,
            t - 100,
            expires,
            vec![(
                "rules/r.yar".to_owned(),
                format!("rule R{v} {{ condition: false }}\n").into_bytes(),
            )],
        )
        .unwrap();
        let sha: [u8; 32] = sha2::Sha256::digest(&bundle).into();
        let statement = Statement::Rules(Rules {
            sha256: Sha256(sha),
            size: bundle.len() as u64,
            version: v,
            created: t - 100,
            expires,
            bundle: None,
            allow: Vec::new(),
        })
        .sign(&self.publisher)
        .unwrap();
        self.files
            .insert(format!("content/sha256/{}", hex::encode(sha)), bundle);
        (self.append(statement), sha)
    }

    /// Logs an approving review of `sha` by `signer` (the policy reviewer
    /// if None).
    pub fn review(&mut self, sha: [u8; 32], signer: Option<&SignerKey>) -> Vec<u8> {
        let note = Statement::Review(Review {
            subject: Sha256(sha),
            verdict: Verdict::Approve,
            comment: None,
            report: None,
        })
        .sign(signer.unwrap_or(&self.reviewer))
        .unwrap();
        self.append(note.clone());
        note
    }

    /// Writes tiles, entry bundles and the checkpoint cosigned by w0, w1.
    pub fn checkpoint(&mut self) {
        let size = self.tree.size();
        let leaves: Vec<Hash> = self.entries.iter().map(|e| leaf_hash(e)).collect();
        for t in tiles_for_size(size) {
            self.files
                .insert(t.to_string(), tile_from_leaf_hashes(&leaves, &t).unwrap());
        }
        let mut leaf = 0;
        while leaf < size {
            let path = bundle_for_leaf(size, leaf).unwrap();
            let first = path.index() * 256;
            let last = first + u64::from(path.width());
            let data = encode_entry_bundle(&self.entries[first as usize..last as usize]).unwrap();
            self.files.insert(path.to_string(), data);
            leaf = last;
        }
        let mut note = Checkpoint::new(ORIGIN, size, self.tree.root())
            .sign(&self.log)
            .unwrap();
        for w in &self.witnesses[..2] {
            note.cosign(w, self.cosign_time).unwrap();
        }
        self.files.insert("checkpoint".into(), note.to_bytes());
    }

    /// Serves the files as they are now, through `tamper` (path, bytes) ->
    /// reply.
    pub fn serve_with(
        &self,
        tamper: impl Fn(&str, Option<Vec<u8>>) -> Reply + Send + Sync + 'static,
    ) -> String {
        let files = Arc::new(Mutex::new(self.files.clone()));
        serve(Arc::new(move |path: &str| {
            let f = files.lock().unwrap().get(path).cloned();
            tamper(path, f)
        }))
    }

    pub fn serve(&self) -> String {
        self.serve_with(honest)
    }
}

pub fn honest(_: &str, f: Option<Vec<u8>>) -> Reply {
    match f {
        Some(body) => Reply {
            status: 200,
            body,
            drip: None,
        },
        None => Reply {
            status: 404,
            body: b"not found".to_vec(),
            drip: None,
        },
    }
}

/// Every file under `dir`, for byte-identical comparisons; except the
/// record of the last update's outcome (`last-update.json`), which every
/// update writes so `status` can say why it failed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.file_name().is_some_and(|n| n != "last-update.json") {
                out.insert(
                    p.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// `vitrine update --policy POLICY --state STATE ARGS`.
pub fn update(policy: &Path, state: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = vitrine()
        .args(["update", "--policy"])
        .arg(policy)
        .arg("--state")
        .arg(state)
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// A test directory with a policy naming `url`.
fn setup(log: &TestLog, url: &str, extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy");
    std::fs::write(&policy, log.policy(url, extra)).unwrap();
    let state = tmp.path().join("state");
    (tmp, policy, state)
}

/// Issue 12, observation 2: a server dripping one byte a second ends the
/// update at its deadline, for the checkpoint and for the bundle body.
#[test]
fn a_dripping_server_is_cut_off_at_the_deadline() {
    let mut log = TestLog::new();
    let (_, sha) = log.publish(1);
    log.checkpoint();
    for dripped in [
        "checkpoint".to_owned(),
        format!("content/sha256/{}", hex::encode(sha)),
    ] {
        let target = dripped.clone();
        let url = log.serve_with(move |path, f| {
            let mut r = honest(path, f);
            if path == target {
                r.drip = Some(Duration::from_secs(1));
            }
            r
        });
        let (_tmp, policy, state) = setup(&log, &url, "");
        let run = update(&policy, &state, &["--deadline", "3"]);
        assert_eq!(run.code, 2, "{dripped}: {} {}", run.stdout, run.stderr);
        assert!(
            run.took < Duration::from_secs(10),
            "{dripped}: took {:?}",
            run.took
        );
        assert!(
            run.stderr.contains("deadline of 3 s passed"),
            "{dripped}: {}",
            run.stderr
        );
        assert!(snapshot(&state).is_empty(), "{dripped}: state written");
    }
}

/// Issue 12, observation 7: a server's error body is printed escaped (no
/// ESC, CR or BEL reaches the terminal), and the error says its cause once.
#[test]
fn error_bodies_are_escaped_and_causes_said_once() {
    let log = TestLog::new();
    let url = log.serve_with(|_, _| Reply {
        status: 500,
        body: b"\x1b[2K\rACTIVATED bundle evil v99\x07\n".to_vec(),
        drip: None,
    });
    let (_tmp, policy, state) = setup(&log, &url, "");
    let run = update(&policy, &state, &[]);
    assert_eq!(run.code, 2);
    for raw in ['\x1b', '\r', '\x07'] {
        assert!(
            !run.stdout.contains(raw) && !run.stderr.contains(raw),
            "{raw:?} printed raw: {:?}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
    assert!(
        run.stderr.contains("\\u{1b}[2K\\rACTIVATED"),
        "{}",
        run.stderr
    );

    // Nothing listens: the cause once, no "error sending request" chain.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = update(&policy, &state, &["--log", &dead]);
    assert_eq!(run.code, 2);
    assert!(
        !run.stderr.contains("error sending request"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches(&dead).count(),
        1,
        "URL repeated: {}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

/// Issue 12, item 7 of the brief: `update` takes the log URL from the
/// policy when --log is not given; installs; then is "up to date" (exit 0)
/// and advances its stored checkpoint over unrelated traffic.
#[test]
fn update_uses_the_policy_url_and_is_up_to_date_after() {
    let mut log = TestLog::new();
    log.publish(1);
    log.checkpoint();
    let url = log.serve();
    let (_tmp, policy, state) = setup(&log, &url, "");
    let run = update(&policy, &state, &[]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("from {url}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ACTIVATED bundle hostile v1"),
        "{}",
        run.stdout
    );

    // Unrelated traffic, a new checkpoint: up to date, checkpoint advanced.
    for i in 0..300u32 {
        log.append(format!("unrelated {i}").into_bytes());
    }
    log.checkpoint();
    let url2 = log.serve();
    let run = update(&policy, &state, &["--log", &url2]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "UP TO DATE: bundle hostile v1 is the newest; stored checkpoint advanced to size 301"
        ),
        "{}",
        run.stdout
    );
    let again = update(&policy, &state, &["--log", &url2]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("stored checkpoint unchanged"),
        "{}",
        again.stdout
    );
}

/// Issue 12, observation 3: replacing the entry that holds v2 with another
/// statement (same count) under the genuine, fresh checkpoint is refused;
/// it no longer reads as "nothing to do".
#[test]
fn a_hidden_newest_bundle_is_refused_not_up_to_date() {
    let mut log = TestLog::new();
    log.publish(1);
    log.checkpoint();
    let url = log.serve();
    let (_tmp, policy, state) = setup(&log, &url, "");
    assert_eq!(update(&policy, &state, &[]).code, 0);

    let (v2, _) = log.publish(2);
    log.checkpoint();
    let path = bundle_for_leaf(v2 + 1, v2).unwrap().to_string();
    let mut entries = vitrine_tlog::decode_entry_bundle(&log.files[&path]).unwrap();
    entries[v2 as usize] = b"an innocent-looking entry".to_vec();
    let forged = encode_entry_bundle(&entries).unwrap();
    let target = path.clone();
    let url = log.serve_with(move |p, f| {
        if p == target {
            return honest(p, Some(forged.clone()));
        }
        honest(p, f)
    });
    let before = snapshot(&state);
    let run = update(&policy, &state, &["--log", &url]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("REFUSED: the log's tiles and entries do not match the signed checkpoint"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("nothing to do"));
    assert_eq!(snapshot(&state), before);
    // The honest log installs v2.
    let run = update(&policy, &state, &["--log", &log.serve()]);
    assert!(
        run.stdout.contains("ACTIVATED bundle hostile v2"),
        "{}",
        run.stdout
    );
}

/// Issue 12, observation 4: thousands of entries logged after the newest
/// `rules` statement do not stop an online update (no 64-bundle window).
#[test]
fn a_flooded_log_still_updates() {
    let mut log = TestLog::new();
    log.publish(1);
    for i in 0..17_000u32 {
        log.append(format!("receipt {i}").into_bytes());
    }
    log.checkpoint();
    let url = log.serve();
    let (_tmp, policy, state) = setup(&log, &url, "");
    let run = update(&policy, &state, &[]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ACTIVATED bundle hostile v1"),
        "{}",
        run.stdout
    );
}

/// Issue 12, observation 1 over HTTP: one hash flipped in a level-0 tile
/// is a refusal, never fork evidence; the genuine log still updates.
#[test]
fn a_flipped_tile_hash_is_a_refusal_not_a_fork() {
    let mut log = TestLog::new();
    log.publish(1);
    for i in 0..300u32 {
        log.append(format!("unrelated {i}").into_bytes());
    }
    log.checkpoint();
    let url = log.serve();
    let (_tmp, policy, state) = setup(&log, &url, "");
    assert_eq!(update(&policy, &state, &[]).code, 0);
    log.publish(2);
    log.checkpoint();
    let url = log.serve_with(|p, f| {
        let mut r = honest(p, f);
        if p.starts_with("tile/0/") && r.status == 200 {
            r.body[40] ^= 1;
        }
        r
    });
    let before = snapshot(&state);
    let run = update(&policy, &state, &["--log", &url]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    assert!(!run.stdout.contains("forked"), "{}", run.stdout);
    assert_eq!(snapshot(&state), before);
    let run = update(&policy, &state, &["--log", &log.serve()]);
    assert!(
        run.stdout.contains("ACTIVATED bundle hostile v2"),
        "{}",
        run.stdout
    );
}

/// Issue 12, observation 7: quorum is checked before any tile or bundle
/// byte is fetched, and a bad cosignature is reported as such.
#[test]
fn quorum_and_cosignatures_are_checked_before_downloads() {
    let mut log = TestLog::new();
    log.publish(1);
    log.checkpoint();
    // Break w1's cosignature: flip a byte of its signature.
    let cp = String::from_utf8(log.files["checkpoint"].clone()).unwrap();
    let mut lines: Vec<String> = cp.lines().map(str::to_owned).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("\u{2014} w1.hostile.example "))
        .unwrap();
    let sig = lines[i].rsplit(' ').next().unwrap().to_owned();
    let mut raw = base64_decode(&sig);
    let last = raw.len() - 1;
    raw[last] ^= 1;
    lines[i] = format!("\u{2014} w1.hostile.example {}", base64_encode(&raw));
    log.files
        .insert("checkpoint".into(), (lines.join("\n") + "\n").into_bytes());
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requested.clone();
    let url = log.serve_with(move |p, f| {
        seen.lock().unwrap().push(p.to_owned());
        honest(p, f)
    });
    let (_tmp, policy, state) = setup(&log, &url, "");
    let run = update(&policy, &state, &[]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("REFUSED: invalid cosignature by a policy witness"),
        "{}",
        run.stdout
    );
    assert_eq!(*requested.lock().unwrap(), ["checkpoint"]);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        buf = buf << 6 | A.iter().position(|&x| x == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Issue 12, observation 5: online updates fetch the logged reviews; a
/// policy reviewer's logged approval counts, anyone else's does not.
#[test]
fn online_updates_fetch_logged_reviews() {
    let mut log = TestLog::new();
    let (_, sha) = log.publish(1);
    let stranger =
        SignerKey::from_seed("stranger.example", SignatureType::Ed25519, [9; 32]).unwrap();
    log.review(sha, Some(&stranger));
    log.checkpoint();
    let (_tmp, policy, state) = setup(&log, &log.serve(), "require-reviews 1\n");
    let before = snapshot(&state);
    let run = update(&policy, &state, &[]);
    assert_eq!(run.code, 2, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("REFUSED: 0 approving reviews, the policy requires 1"),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&state), before);
    log.review(sha, None);
    log.checkpoint();
    let run = update(&policy, &state, &["--log", &log.serve()]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ACTIVATED bundle hostile v1"),
        "{}",
        run.stdout
    );
}

/// Issue 12, observation 6: an expired active bundle is reported by
/// `status` (exit 1) and in the `scan` summary; the policy's `on-expiry`
/// says whether scans keep using it.
#[test]
fn an_expired_active_bundle_is_reported_and_the_policy_decides() {
    for (on_expiry, rules_line) in [
        ("", "Rules: verified bundle hostile v1"),
        ("on-expiry builtin\n", "UNVERIFIED"),
    ] {
        let mut log = TestLog::new();
        log.publish_expiring(1, now() + 3);
        log.checkpoint();
        let (tmp, policy, state) = setup(&log, &log.serve(), on_expiry);
        let run = update(&policy, &state, &[]);
        assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
        vitrine()
            .args(["status", "--state"])
            .arg(&state)
            .assert()
            .success();
        std::thread::sleep(Duration::from_secs(4));
        vitrine()
            .args(["status", "--state"])
            .arg(&state)
            .assert()
            .code(1)
            .stdout(predicates::str::contains("(EXPIRED)"))
            .stdout(predicates::str::contains(
                "WARNING:        the active bundle hostile v1 expired",
            ));
        let samples = tmp.path().join("samples");
        std::fs::create_dir_all(&samples).unwrap();
        std::fs::write(samples.join("a.txt"), "hello").unwrap();
        vitrine()
            .args(["scan", "--no-progress", "--state"])
            .arg(&state)
            .arg(&samples)
            .assert()
            .success()
            .stdout(predicates::str::contains(rules_line))
            .stdout(predicates::str::contains(
                "WARNING: the active bundle hostile v1 expired",
            ));
    }
}

/// Issue 12, observation 7: a FIFO named `bundle` in an update directory
/// does not hang `update --from`, and a symbolic link there is not
/// followed; both are refused, the state untouched.
#[test]
fn update_from_refuses_a_fifo_or_symlink_bundle() {
    let log = TestLog::new();
    let (tmp, policy, state) = setup(&log, "http://127.0.0.1:1", "");
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "not yours").unwrap();
    for kind in ["fifo", "symlink"] {
        let dir = tmp.path().join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("bundle");
        if kind == "fifo" {
            assert!(std::process::Command::new("mkfifo")
                .arg(&bundle)
                .status()
                .unwrap()
                .success());
        } else {
            std::os::unix::fs::symlink(&secret, &bundle).unwrap();
        }
        let run = update(&policy, &state, &["--from", dir.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{kind}: {} {}", run.stdout, run.stderr);
        assert!(run.took < Duration::from_secs(20), "{kind}: {:?}", run.took);
        assert!(
            run.stdout.contains("bundle is not a regular file"),
            "{kind}: {}",
            run.stdout
        );
        assert!(snapshot(&state).is_empty(), "{kind}: state written");
    }
}
