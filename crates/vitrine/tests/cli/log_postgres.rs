//! The log on PostgreSQL (`log init|serve --postgres`): what it logs is
//! in the database, served and verified, and survives a restart.

use crate::common::{
    log_with_publisher, log_with_publisher_on, spawn_server, vitrine, TestDatabase,
};

#[test]
fn a_log_on_postgresql_serves_what_it_logged_reports_its_health_and_survives_a_restart() {
    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // The log's key and authorized file in its directory, its state in
    // the database.
    let pg = db.url();
    let (log_vkey, pub_vkey) = log_with_publisher_on(
        d,
        "log.example/pg",
        "publisher.example/pg",
        &["--postgres", &pg],
    );
    let log_dir = d.join("log");
    let args = ["log", "serve", "--addr", "127.0.0.1:0", "--postgres", &pg];
    let (server, url) = spawn_server(&args, &log_dir);

    publish_versions(d, &url, &log_vkey, &pub_vkey, 2);
    let verify = |url: &str| {
        vitrine()
            .args(["log", "verify", url, "--log-key", &log_vkey, "--authorized"])
            .arg(log_dir.join("authorized"))
            .assert()
            .success()
            .stdout(predicates::str::contains("2 entries"))
    };
    verify(&url);

    // The tiles are in the database, not in the directory.
    let tiles: i64 = db
        .connect()
        .query_one("SELECT count(*) FROM vitrine_tiles", &[])
        .unwrap()
        .get(0);
    assert!(tiles >= 2, "{tiles} tiles in PostgreSQL");
    assert!(!log_dir.join("tile/entries").exists());

    // Health and metrics for operators: the storage answers, and what
    // was sequenced is counted in the Prometheus text format.
    let (status, body) = http(&url, "/healthz");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"status\":\"ok\"") && body.contains("\"size\":2"),
        "{body}"
    );
    let metrics = String::from_utf8(http_get(&url, "/metrics")).unwrap();
    assert!(metrics.contains("vitrine_log_entries_total 2"), "{metrics}");
    assert!(metrics.contains("vitrine_log_tree_size 2"), "{metrics}");
    assert!(
        metrics.contains("vitrine_log_batch_size_bucket"),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");

    // A restart finds the same log.
    drop(server);
    let (_server, url) = spawn_server(&args, &log_dir);
    verify(&url);

    let checkpoint = http_get(&url, "/checkpoint");
    let entries = http_get(&url, "/tile/entries/000.p/2");

    // The database gone: health says so (503) instead of pretending, and
    // what was published and served keeps being served (the checkpoint
    // from memory, tiles from the front end's cache: their bytes never
    // change).
    drop(db);
    let (status, body) = http(&url, "/healthz");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("unavailable") && body.contains("postgres"),
        "{body}"
    );
    assert_eq!(http_get(&url, "/checkpoint"), checkpoint);
    assert_eq!(http_get(&url, "/tile/entries/000.p/2"), entries);
}

/// A `quorum none` policy in `d/policy` for the log at `url`, and
/// `count` bundles (versions 1..=count, each with another rule) published
/// there by the publisher key `d/p.key`.
fn publish_versions(d: &std::path::Path, url: &str, log_vkey: &str, pub_vkey: &str, count: u64) {
    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", log_vkey])
        .args([
            "--log-url",
            url,
            "--quorum",
            "none",
            "--publisher",
            pub_vkey,
        ])
        .args(["--max-age", "600"])
        .assert()
        .success();
    std::fs::create_dir_all(d.join("rules")).unwrap();
    for version in 1..=count {
        std::fs::write(
            d.join("rules/a.yar"),
            format!("rule A{version} {{ condition: false }}\n"),
        )
        .unwrap();
        let bundle = format!("b{version}.bundle");
        vitrine()
            .current_dir(d)
            .args(["bundle", "build", "rules", "-o", &bundle, "--name", "t"])
            .args(["--version", &version.to_string()])
            .assert()
            .success();
        vitrine()
            .current_dir(d)
            .args(["publish", &bundle, "--log", url, "--key", "p.key"])
            .args(["--policy", "policy", "--wait", "20"])
            .assert()
            .success();
    }
}

/// The status of `POST url/path` with `body`.
fn http_post(url: &str, path: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response[9..12]).parse().unwrap()
}

/// The whole response to `head` and `body` sent to `url`, as text.
fn raw(url: &str, head: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// The body of `GET url/path`, which must answer 200.
fn http_get(url: &str, path: &str) -> Vec<u8> {
    let (status, body) = http(url, path);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

/// The status and body of `GET url/path` (HTTP/1.0 over a plain socket:
/// the test needs no client library for one request).
fn http(url: &str, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response")
        + 4;
    let status = String::from_utf8_lossy(&response[9..12]).parse().unwrap();
    (status, response[start..].to_vec())
}

#[test]
fn migrate_moves_a_log_to_postgresql_and_back_with_the_same_checkpoint() {
    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (log_vkey, pub_vkey) = log_with_publisher(d, "log.example/mig", "publisher.example/mig");
    let (server, url) = spawn_server(&["log", "serve", "--addr", "127.0.0.1:0"], &d.join("log"));
    publish_versions(d, &url, &log_vkey, &pub_vkey, 3);
    let checkpoint = http_get(&url, "/checkpoint");
    let tile = http_get(&url, "/tile/0/000.p/3");
    drop(server);

    // Into PostgreSQL: the same checkpoint and tiles, served and verified.
    vitrine()
        .args(["log", "migrate", "--data"])
        .arg(d.join("log"))
        .args(["--to-postgres", &db.url()])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "migrated a log of 3 entries to PostgreSQL",
        ));
    let pg = db.url();
    let serve_pg = ["log", "serve", "--addr", "127.0.0.1:0", "--postgres", &pg];
    let (server, url) = spawn_server(&serve_pg, &d.join("log"));
    assert_eq!(http_get(&url, "/checkpoint"), checkpoint);
    assert_eq!(http_get(&url, "/tile/0/000.p/3"), tile);
    let verify = |url: &str| {
        vitrine()
            .args(["log", "verify", url, "--log-key", &log_vkey, "--authorized"])
            .arg(d.join("log/authorized"))
            .assert()
            .success()
            .stdout(predicates::str::contains(
                "size 3, root verified from 3 entries",
            ));
    };
    verify(&url);
    drop(server);

    // A second migration into the same database is refused: it is not
    // empty, and nothing there changes.
    vitrine()
        .args(["log", "migrate", "--data"])
        .arg(d.join("log"))
        .args(["--to-postgres", &db.url()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already holds a log of size 3"));

    // And back into a new data directory with the same key.
    let back = d.join("back");
    std::fs::create_dir(&back).unwrap();
    for f in ["log.key", "authorized", "purpose"] {
        std::fs::copy(d.join("log").join(f), back.join(f)).unwrap();
    }
    vitrine()
        .args(["log", "migrate", "--data"])
        .arg(&back)
        .args(["--from-postgres", &db.url()])
        .assert()
        .success()
        .stdout(predicates::str::contains("into the data directory"));
    let (_server, url) = spawn_server(&["log", "serve", "--addr", "127.0.0.1:0"], &back);
    assert_eq!(http_get(&url, "/checkpoint"), checkpoint);
    verify(&url);
}

/// The database cut off under a running log: `/add` answers 503, what
/// was published stays readable, nothing acknowledged is lost, and the
/// log takes entries again by itself once the database is back.
#[test]
fn a_log_whose_database_goes_away_refuses_adds_keeps_serving_and_resumes() {
    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let pg = db.url();
    let (log_vkey, pub_vkey) = log_with_publisher_on(
        d,
        "log.example/cut",
        "publisher.example/cut",
        &["--postgres", &pg],
    );
    let log_dir = d.join("log");
    let args = ["log", "serve", "--addr", "127.0.0.1:0", "--postgres", &pg];
    let (_server, url) = spawn_server(&args, &log_dir);
    publish_versions(d, &url, &log_vkey, &pub_vkey, 1);
    let checkpoint = http_get(&url, "/checkpoint");
    let tile = http_get(&url, "/tile/0/000.p/1");
    let statement = std::fs::read(d.join("b1.bundle.statement")).unwrap();

    db.allow_connections(false);
    assert_eq!(http_post(&url, "/add", &statement), 503);
    assert_eq!(http_get(&url, "/checkpoint"), checkpoint);
    assert_eq!(http_get(&url, "/tile/0/000.p/1"), tile);

    db.allow_connections(true);
    // Resumed by itself: the same statement is answered with its index
    // (it was acknowledged before the cut, so it is still there), and a
    // new bundle is logged after it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http_post(&url, "/add", &statement) != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log did not resume"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::fs::write(d.join("rules/a.yar"), "rule After { condition: false }\n").unwrap();
    vitrine()
        .current_dir(d)
        .args(["bundle", "build", "rules", "-o", "b2.bundle", "--name", "t"])
        .args(["--version", "2"])
        .assert()
        .success();
    vitrine()
        .current_dir(d)
        .args(["publish", "b2.bundle", "--log", &url, "--key", "p.key"])
        .args(["--policy", "policy", "--wait", "20"])
        .assert()
        .success()
        .stdout(predicates::str::contains("at log index 1"));
    vitrine()
        .args([
            "log",
            "verify",
            &url,
            "--log-key",
            &log_vkey,
            "--authorized",
        ])
        .arg(log_dir.join("authorized"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "size 2, root verified from 2 entries",
        ));
}

/// The `role` and `epoch` a front end's `/healthz` reports.
fn role(url: &str) -> (String, u64) {
    let (_, body) = http(url, "/healthz");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (
        health["role"].as_str().unwrap_or_default().to_owned(),
        health["epoch"].as_u64().unwrap_or_default(),
    )
}

/// Waits until exactly one of `urls` says it leads; its position and
/// epoch.
fn one_leader(urls: &[&str]) -> (usize, u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let roles: Vec<(String, u64)> = urls.iter().map(|&u| role(u)).collect();
        let leaders: Vec<usize> = (0..urls.len())
            .filter(|&i| roles[i].0 == "leader")
            .collect();
        assert!(leaders.len() <= 1, "two leaders: {roles:?}");
        if let [one] = leaders[..] {
            return (one, roles[one].1);
        }
        assert!(std::time::Instant::now() < deadline, "no leader: {roles:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Bundle `version` (another rule each time) published through `url`.
fn publish_version(d: &std::path::Path, url: &str, version: u64) -> String {
    std::fs::write(
        d.join("rules/a.yar"),
        format!("rule A{version} {{ condition: false }}\n"),
    )
    .unwrap();
    let bundle = format!("b{version}.bundle");
    vitrine()
        .current_dir(d)
        .args(["bundle", "build", "rules", "-o", &bundle, "--name", "t"])
        .args(["--version", &version.to_string()])
        .assert()
        .success();
    crate::common::stdout(
        &vitrine()
            .current_dir(d)
            .args(["publish", &bundle, "--log", url, "--key", "p.key"])
            .args(["--policy", "policy", "--wait", "20"])
            .assert()
            .success(),
    )
}

/// Three front ends on one database: one leads, publishing works through
/// each (a follower forwards `/add` and serves the content, checkpoint and
/// tiles), and when the leader is killed another takes over in a newer
/// epoch and publishing goes on; the killed one comes back as a follower.
#[test]
fn three_front_ends_one_leader_adds_through_each_and_a_takeover_when_it_is_killed() {
    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let pg = db.url();
    let (log_vkey, pub_vkey) = log_with_publisher_on(
        d,
        "log.example/three",
        "publisher.example/three",
        &["--postgres", &pg],
    );
    let log_dir = d.join("log");
    let args = ["log", "serve", "--addr", "127.0.0.1:0", "--postgres", &pg];
    // One data directory (key, authorized, content) for all three.
    let mut servers: Vec<Option<(crate::common::Server, String)>> = (0..3)
        .map(|_| Some(spawn_server(&args, &log_dir)))
        .collect();
    let urls: Vec<String> = servers.iter().flatten().map(|(_, u)| u.clone()).collect();
    let all: Vec<&str> = urls.iter().map(String::as_str).collect();
    let (leader, epoch) = one_leader(&all);

    // A bundle through each front end, followers first.
    publish_versions(d, all[(leader + 1) % 3], &log_vkey, &pub_vkey, 1);
    let order = [(leader + 2) % 3, leader];
    for (version, &i) in (2..).zip(&order) {
        let out = publish_version(d, all[i], version);
        assert!(
            out.contains(&format!("at log index {}", version - 1)),
            "{out}"
        );
    }
    for url in &all {
        verify_at(url, &log_vkey, &log_dir, 3);
    }
    let metrics = String::from_utf8(http_get(all[leader], "/metrics")).unwrap();
    assert!(metrics.contains("vitrine_log_leader 1"), "{metrics}");
    assert!(
        metrics.contains("vitrine_log_takeovers_total 1"),
        "{metrics}"
    );
    let follower = String::from_utf8(http_get(all[(leader + 1) % 3], "/metrics")).unwrap();
    assert!(follower.contains("vitrine_log_leader 0"), "{follower}");
    // A forwarded add reaching a follower is not forwarded again (no
    // loops while leadership moves): 503, retry.
    let statement = std::fs::read(d.join("b1.bundle.statement")).unwrap();
    let answer = raw(
        all[(leader + 1) % 3],
        &format!(
            "POST /add HTTP/1.0\r\nVitrine-Forwarded: 1\r\nContent-Length: {}\r\n\r\n",
            statement.len()
        ),
        &statement,
    );
    assert_eq!(answer.get(9..12), Some("503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    assert_eq!(http_post(all[leader], "/add", &statement), 200);

    // kill -9 the leader: another takes over, publishing goes on.
    let killed = std::time::Instant::now();
    servers[leader].take();
    let rest: Vec<&str> = (0..3).filter(|&i| i != leader).map(|i| all[i]).collect();
    let (new, new_epoch) = one_leader(&rest);
    eprintln!("takeover after {:?}", killed.elapsed());
    assert!(new_epoch > epoch, "epoch {new_epoch} after {epoch}");
    let survivor = rest[1 - new];
    let out = publish_version(d, survivor, 4);
    assert!(out.contains("at log index 3"), "{out}");
    let out = publish_version(d, rest[new], 5);
    assert!(out.contains("at log index 4"), "{out}");

    // The killed one comes back (same address) and follows.
    let (_back, back_url) = spawn_server(&args, &log_dir);
    let (back_role, _) = role(&back_url);
    assert_eq!(back_role, "follower");
    for url in [survivor, rest[new], back_url.as_str()] {
        verify_at(url, &log_vkey, &log_dir, 5);
    }
}

/// Waits until the front end at `url` serves a checkpoint of `size` (a
/// follower reads it from the database at its next poll, every 0.5 s),
/// then checks it with `vitrine log verify`.
fn verify_at(url: &str, log_vkey: &str, log_dir: &std::path::Path, size: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let want = size.to_string();
    while String::from_utf8_lossy(&http_get(url, "/checkpoint"))
        .lines()
        .nth(1)
        != Some(want.as_str())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{url} never served size {size}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    vitrine()
        .args(["log", "verify", url, "--log-key", log_vkey, "--authorized"])
        .arg(log_dir.join("authorized"))
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "size {size}, root verified from {size} entries"
        )));
}

/// Entries acknowledged by the log, with their indices.
type Acked = Vec<(Vec<u8>, u64)>;

/// `POST url/add` of `body`: the index answered, or `None` for anything
/// a client retries (no connection, 5xx, a broken answer).
fn try_add(url: &str, body: &[u8]) -> Option<u64> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .ok()?;
    write!(
        s,
        "POST /add HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.get(9..12)?;
    assert!(
        status == "200" || status.starts_with('5'),
        "an add was refused: {text}"
    );
    if status != "200" {
        return None;
    }
    let (_, body) = text.split_once("\r\n\r\n")?;
    body.trim().parse().ok()
}

/// The short form of bench/log-pg-kill-test.sh: three front ends, a
/// writer through each, and three times the leader killed with SIGKILL and
/// restarted (as a follower) on its address. Another front end takes over
/// each time in a newer epoch, every acknowledged statement is at its
/// index at the end (submitting it again answers the same index), and
/// the log verifies on every front end.
#[test]
fn the_leader_killed_three_times_under_load_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, RwLock};
    use vitrine_note::{SignatureType, SignerKey};
    use vitrine_statements::{Rules, Sha256, Statement};

    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let log_dir = t.path().join("log");
    let pg = db.url();
    let log_vkey = crate::common::stdout(
        &vitrine()
            .args(["log", "init", "--origin", "log.example/kill", "--data"])
            .arg(&log_dir)
            .args(["--postgres", &pg])
            .assert()
            .success(),
    );
    let publisher = SignerKey::generate("publisher.example/kill", SignatureType::Ed25519).unwrap();
    std::fs::write(
        log_dir.join("authorized"),
        format!("rules {}\n", publisher.verifier()),
    )
    .unwrap();
    let serve = |addr: &str| {
        spawn_server(
            &["log", "serve", "--addr", addr, "--postgres", &pg],
            &log_dir,
        )
    };
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let (server, url) = serve("127.0.0.1:0");
        servers.push(Some(server));
        urls.push(url);
    }
    let all: Vec<&str> = urls.iter().map(String::as_str).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let targets = Arc::new(RwLock::new(urls.clone()));
    let writers: Vec<_> = (0..3u8)
        .map(|w| {
            let (stop, acked, targets) = (stop.clone(), acked.clone(), targets.clone());
            let publisher = publisher.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let mut digest = [w; 32];
                    digest[..8].copy_from_slice(&n.to_be_bytes());
                    let statement = Statement::Rules(Rules {
                        sha256: Sha256(digest),
                        size: 1,
                        version: n + 1,
                        created: 1_767_225_600,
                        expires: 1_767_225_600 + 86_400,
                        bundle: None,
                        allow: Vec::new(),
                    })
                    .sign(&publisher)
                    .unwrap();
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    loop {
                        let url = targets.read().unwrap()[usize::from(w)].clone();
                        if let Some(index) = try_add(&url, &statement) {
                            acked.lock().unwrap().push((statement, index));
                            break;
                        }
                        assert!(std::time::Instant::now() < deadline, "no answer for 30 s");
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    n += 1;
                }
            })
        })
        .collect();

    let (mut leader, mut epoch) = one_leader(&all);
    for cycle in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(700));
        let before = acked.lock().unwrap().len();
        let killed = std::time::Instant::now();
        servers[leader].take();
        let rest: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        let (new, new_epoch) = one_leader(&rest.iter().map(|&i| all[i]).collect::<Vec<_>>());
        eprintln!(
            "cycle {cycle}: front end {leader} killed, {} took over in {:?} ({before} acknowledged so far)",
            rest[new],
            killed.elapsed()
        );
        assert!(new_epoch > epoch, "epoch {new_epoch} after {epoch}");
        let addr = all[leader].trim_start_matches("http://");
        let (server, url) = serve(addr);
        assert_eq!(url, all[leader]);
        servers[leader] = Some(server);
        (leader, epoch) = (rest[new], new_epoch);
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 3, "only {} acknowledged", acked.len());
    for (statement, index) in acked.iter() {
        assert_eq!(try_add(all[leader], statement), Some(*index));
    }
    let size = acked.iter().map(|(_, i)| i + 1).max().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700)); // followers refresh
    for url in &all {
        let out = crate::common::stdout(
            &vitrine()
                .args(["log", "verify", url, "--log-key", &log_vkey, "--authorized"])
                .arg(log_dir.join("authorized"))
                .assert()
                .success(),
        );
        let served: u64 = out
            .split("size ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(served >= size, "{url} serves size {served} < {size}");
    }
}

/// The status and body of `POST url/add` with `body`.
fn add(url: &str, body: &[u8]) -> (u16, String) {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let head = format!(
        "POST /add HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let response = raw(url, &head, body);
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .trim()
        .to_owned();
    (status, body)
}

/// The database cut off while four clients keep adding: adds answer 503
/// while it is gone, the log takes entries again by itself once it is
/// back, and every entry acknowledged before, during or after the cut is
/// in the log at the index it was acknowledged with.
#[test]
fn a_database_cut_under_concurrent_load_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let pg = db.url();
    let (log_vkey, _) = log_with_publisher_on(
        d,
        "log.example/cutload",
        "publisher.example/cutload",
        &["--postgres", &pg],
    );
    let log_dir = d.join("log");
    let args = [
        "log",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--postgres",
        &pg,
        "--batch-wait-ms",
        "10",
    ];
    let (_server, url) = spawn_server(&args, &log_dir);
    let key_text = std::fs::read_to_string(d.join("p.key")).unwrap();
    let key = Arc::new(vitrine_note::SignerKey::parse(key_text.trim()).unwrap());
    let statement = move |n: u64| {
        use sha2::Digest;
        vitrine_statements::Statement::Rules(vitrine_statements::Rules {
            sha256: vitrine_statements::Sha256(sha2::Sha256::digest(n.to_be_bytes()).into()),
            size: 1,
            version: n + 1,
            created: 1_767_225_600,
            expires: 1_769_904_000,
            bundle: None,
            allow: Vec::new(),
        })
        .sign(&key)
        .unwrap()
    };

    let stop = Arc::new(AtomicBool::new(false));
    // Each acknowledged statement, with the index it was given.
    type Acked = Arc<Mutex<Vec<(Vec<u8>, u64)>>>;
    let acked: Acked = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (stop, acked, refused, url) =
                (stop.clone(), acked.clone(), refused.clone(), url.clone());
            let statement = statement.clone();
            std::thread::spawn(move || {
                let mut n = c * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let note = statement(n);
                    n += 1;
                    match add(&url, &note) {
                        (200, index) => acked.lock().unwrap().push((note, index.parse().unwrap())),
                        (503, _) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        (status, body) => panic!("add answered {status}: {body}"),
                    }
                }
            })
        })
        .collect();
    let count = || acked.lock().unwrap().len();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // A full tile of entries, published before the cut.
    wait_for("adds before the cut", &|| count() >= 300);
    let tile = http_get(&url, "/tile/entries/000");

    db.allow_connections(false);
    wait_for("503s while the database is gone", &|| {
        refused.load(Ordering::Relaxed) >= 20
    });
    // Published tiles are still served.
    assert_eq!(http_get(&url, "/tile/entries/000"), tile);
    let during = count();

    db.allow_connections(true);
    wait_for("the log to take adds again by itself", &|| {
        count() >= during + 50
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    // Every acknowledged entry is there, at its index: adding it again
    // answers the index it was given.
    let acked = acked.lock().unwrap();
    for (note, index) in acked.iter() {
        assert_eq!(add(&url, note), (200, index.to_string()));
    }
    let size = acked.iter().map(|(_, i)| i + 1).max().unwrap();
    vitrine()
        .args([
            "log",
            "verify",
            &url,
            "--log-key",
            &log_vkey,
            "--authorized",
        ])
        .arg(log_dir.join("authorized"))
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "size {size}, root verified from {size} entries"
        )));
}
