//! The HTTP API against a server started in-process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256 as Sha};
use tokio::sync::oneshot;
use vitrine_log::{Authorization, DataDir, Log};
use vitrine_note::{SignatureType, SignerKey, Verifiers};
use vitrine_server::{content_put_message, router, AppState};
use vitrine_statements::{Rules, Sha256, Statement, StatementType};

struct Server {
    addr: SocketAddr,
    log: Arc<Log>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving and closes the log, releasing the data directory.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
        // Connection tasks may hold router state a moment after shutdown.
        let mut log = self.log;
        for _ in 0..500 {
            match Arc::try_unwrap(log) {
                Ok(log) => {
                    tokio::task::spawn_blocking(move || log.close())
                        .await
                        .unwrap();
                    return;
                }
                Err(shared) => log = shared,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("log still shared 5 s after shutdown");
    }
}

fn publisher() -> SignerKey {
    SignerKey::from_seed("publisher.example/p1", SignatureType::Ed25519, [9; 32]).unwrap()
}

async fn start(dir: &Path) -> Server {
    let data = DataDir::open(dir).unwrap();
    let auth = Authorization::new().allow(
        [StatementType::Rules, StatementType::Release],
        publisher().verifier(),
    );
    let log = Arc::new(
        Log::builder(data.storage.clone(), data.key.clone())
            .authorization(auth.clone())
            .batch(256, Duration::from_millis(5))
            .open()
            .unwrap(),
    );
    let publishers = Verifiers::from_keys(
        auth.verifiers_for(StatementType::Rules)
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
    );
    let app = router(AppState::new(log.clone()).content(data.content, publishers, 1 << 20));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        log,
        stop,
        task,
    }
}

fn rules(version: u64) -> Vec<u8> {
    Statement::Rules(Rules {
        sha256: Sha256([version as u8; 32]),
        size: 10,
        version,
        created: 1_767_225_600,
        expires: 1_769_904_000,
        bundle: None,
        allow: Vec::new(),
    })
    .sign(&publisher())
    .unwrap()
}

async fn add(client: &reqwest::Client, s: &Server, body: Vec<u8>) -> (u16, String) {
    let r = client.post(s.url("/add")).body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api() {
    let dir = tempfile::tempdir().unwrap();
    DataDir::init(dir.path(), "log.example/test").unwrap();
    let s = start(dir.path()).await;
    let c = reqwest::Client::new();

    // Checkpoint of the empty log.
    let r = c.get(s.url("/checkpoint")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.text().await.unwrap().starts_with("log.example/test\n0\n"));

    // Add, duplicate.
    assert_eq!(add(&c, &s, rules(1)).await, (200, "0\n".into()));
    assert_eq!(add(&c, &s, rules(2)).await, (200, "1\n".into()));
    assert_eq!(add(&c, &s, rules(1)).await, (200, "0\n".into()));
    let cp = c
        .get(s.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cp.starts_with("log.example/test\n2\n"), "{cp}");

    // Rejections.
    assert_eq!(add(&c, &s, b"junk".to_vec()).await.0, 400);
    let stranger = SignerKey::from_seed("x.example/1", SignatureType::Ed25519, [5; 32]).unwrap();
    let forbidden =
        Statement::parse(&rules(3)[..rules(3).iter().position(|&b| b == 0xe2).unwrap() - 1])
            .unwrap()
            .sign(&stranger)
            .unwrap();
    assert_eq!(add(&c, &s, forbidden).await.0, 403);
    // Just over the limit: a much larger body races the server's early 413
    // and the client can see a broken pipe instead of the answer.
    let over = vec![b'a'; vitrine_log::DEFAULT_MAX_ENTRY + 1];
    assert_eq!(add(&c, &s, over).await.0, 413);

    // Tiles.
    let get = |path: &str| c.get(s.url(path)).send();
    let r = get("/tile/0/000.p/2").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap().len(), 64);
    let r = get("/tile/entries/000.p/2").await.unwrap();
    assert_eq!(r.status(), 200);
    let entries = vitrine_tlog::decode_entry_bundle(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(entries, vec![rules(1), rules(2)]);
    for (path, status) in [
        ("/tile/0/000.p/3", 404),
        ("/tile/0/000", 404),
        ("/tile/1/000.p/1", 404),
        ("/tile/entries/001.p/1", 404),
        ("/tile/0/000.p/0", 400),
        ("/tile/0/00", 400),
        ("/tile/64/000", 400),
        ("/tile/0/000.p/2/x", 400),
        ("/tile/entries/x000/000", 400),
        ("/tile/", 404),
    ] {
        assert_eq!(get(path).await.unwrap().status(), status, "{path}");
    }

    // Fill the first tile: full tiles are immutable.
    let many: Vec<_> = (3..300).map(rules).collect();
    let results = futures_join(&c, &s, many).await;
    assert!(results.iter().all(|(st, _)| *st == 200));
    let r = get("/tile/0/000").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.bytes().await.unwrap().len(), 8192);
    assert_eq!(get("/tile/entries/000").await.unwrap().status(), 200);

    // Content.
    let blob = b"rule bundle bytes".to_vec();
    let hex = hex::encode(Sha::digest(&blob));
    let sig = publisher().sign(&content_put_message(&hex)).unwrap();
    let header = format!(
        "{} {}",
        sig.name(),
        base64::engine::general_purpose::STANDARD
            .encode([&sig.key_id().to_be_bytes()[..], sig.bytes()].concat())
    );
    let put = |name: &str, body: Vec<u8>, h: Option<&str>| {
        let mut r = c.put(s.url(&format!("/content/sha256/{name}"))).body(body);
        if let Some(h) = h {
            r = r.header("Vitrine-Signature", h);
        }
        r.send()
    };
    assert_eq!(put(&hex, blob.clone(), None).await.unwrap().status(), 401);
    let stranger_sig = stranger.sign(&content_put_message(&hex)).unwrap();
    let bad = format!(
        "{} {}",
        stranger_sig.name(),
        base64::engine::general_purpose::STANDARD.encode(
            [
                &stranger_sig.key_id().to_be_bytes()[..],
                stranger_sig.bytes()
            ]
            .concat()
        )
    );
    assert_eq!(
        put(&hex, blob.clone(), Some(&bad)).await.unwrap().status(),
        403
    );
    assert_eq!(
        put(&hex, b"other".to_vec(), Some(&header))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        put(&hex, blob.clone(), Some(&header))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        put(&hex, blob.clone(), Some(&header))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        put(&hex.to_uppercase(), blob.clone(), Some(&header))
            .await
            .unwrap()
            .status(),
        400
    );
    let r = get(&format!("/content/sha256/{hex}")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), blob);
    assert_eq!(
        get(&format!("/content/sha256/{}", "0".repeat(64)))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(get("/content/sha256/xyz").await.unwrap().status(), 400);

    // Restart keeps everything.
    let cp_before = c
        .get(s.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(c);
    s.shutdown().await;
    let s = start(dir.path()).await;
    let c = reqwest::Client::new();
    let cp_after = c
        .get(s.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cp_before, cp_after);
    assert_eq!(add(&c, &s, rules(2)).await, (200, "1\n".into()));
    assert_eq!(add(&c, &s, rules(1000)).await, (200, "299\n".into()));
    assert_eq!(
        c.get(s.url(&format!("/content/sha256/{hex}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.shutdown().await;
}

/// Sends every body concurrently.
async fn futures_join(c: &reqwest::Client, s: &Server, bodies: Vec<Vec<u8>>) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for b in bodies {
        let c = c.clone();
        let url = s.url("/add");
        tasks.push(tokio::spawn(async move {
            let r = c.post(url).body(b).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// A log reading its `authorized` file on each request, of purpose
/// `rules`: a custody statement is 403 whoever signs it; a broken file
/// refuses submissions and uploads (503) until it is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_file_and_purpose_over_http() {
    let dir = tempfile::tempdir().unwrap();
    DataDir::init_for(
        dir.path(),
        "log.example/p",
        Some(vitrine_log::Purpose::Rules),
    )
    .unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    let authorized = dir.path().join(vitrine_log::AUTHORIZED_FILE);
    std::fs::write(
        &authorized,
        format!("rules,deletion {}\n", publisher().verifier()),
    )
    .unwrap();
    let log = Arc::new(
        Log::builder(data.storage.clone(), data.key.clone())
            .purpose(data.purpose)
            .authorization_file(vitrine_log::AuthorizedFile::new(&authorized))
            .batch(256, Duration::from_millis(5))
            .open()
            .unwrap(),
    );
    let app = router(
        AppState::new(log.clone())
            .content(data.content, Verifiers::new(), 1 << 20)
            .publishers_from_log(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    let s = Server {
        addr,
        log,
        stop,
        task,
    };
    let c = reqwest::Client::new();

    let deletion = Statement::Deletion(vitrine_statements::Deletion {
        tenant: vitrine_statements::Token::new("t-1").unwrap(),
        sample: Sha256([1; 32]),
        reason: vitrine_statements::Text::new("test").unwrap(),
        time: 1,
    })
    .sign(&publisher())
    .unwrap();
    let (status, body) = add(&c, &s, deletion).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("deletion statements go to the custody log"),
        "{body}"
    );
    assert_eq!(add(&c, &s, rules(1)).await, (200, "0\n".into()));

    let blob = b"bundle bytes".to_vec();
    let hex = hex::encode(Sha::digest(&blob));
    let sig = publisher().sign(&content_put_message(&hex)).unwrap();
    let header = format!(
        "{} {}",
        sig.name(),
        base64::engine::general_purpose::STANDARD
            .encode([&sig.key_id().to_be_bytes()[..], sig.bytes()].concat())
    );
    let put = |blob: Vec<u8>| {
        c.put(s.url(&format!("/content/sha256/{hex}")))
            .header("Vitrine-Signature", header.clone())
            .body(blob)
            .send()
    };
    std::fs::write(&authorized, "rules not-a-key\n").unwrap();
    let (status, body) = add(&c, &s, rules(2)).await;
    assert_eq!(status, 503);
    assert!(body.contains("authorization file is broken"), "{body}");
    assert!(!body.contains(&dir.path().display().to_string()), "{body}");
    assert_eq!(put(blob.clone()).await.unwrap().status().as_u16(), 503);

    std::fs::write(&authorized, format!("rules {}\n", publisher().verifier())).unwrap();
    assert_eq!(add(&c, &s, rules(2)).await, (200, "1\n".into()));
    assert_eq!(put(blob.clone()).await.unwrap().status().as_u16(), 201);
    s.shutdown().await;
}
