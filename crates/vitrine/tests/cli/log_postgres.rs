//! The log on PostgreSQL (`log init|serve --postgres`): what it logs is
//! in the database, served and verified, and survives a restart.

use crate::common::{log_with_publisher, spawn_server, stdout, vitrine, TestDatabase};

#[test]
fn a_log_on_postgresql_serves_what_it_logged_and_survives_a_restart() {
    let db = TestDatabase::create();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // The log's key and authorized file in its directory, its state in
    // the database.
    let (_, pub_vkey) = log_with_publisher(d, "log.example/unused", "publisher.example/pg");
    let log_dir = d.join("pglog");
    let log_vkey = stdout(
        &vitrine()
            .args(["log", "init", "--origin", "log.example/pg", "--data"])
            .arg(&log_dir)
            .args(["--postgres", &db.url()])
            .assert()
            .success(),
    );
    std::fs::write(log_dir.join("authorized"), format!("rules {pub_vkey}\n")).unwrap();
    let serve = ["log", "serve", "--addr", "127.0.0.1:0", "--postgres"];
    let mut args = serve.to_vec();
    let url_db = db.url();
    args.push(&url_db);
    let (server, url) = spawn_server(&args, &log_dir);

    vitrine()
        .current_dir(d)
        .args(["trust", "init", "-o", "policy", "--log-key", &log_vkey])
        .args([
            "--log-url",
            &url,
            "--quorum",
            "none",
            "--publisher",
            &pub_vkey,
        ])
        .args(["--max-age", "600"])
        .assert()
        .success();
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::write(d.join("rules/a.yar"), "rule A { condition: false }\n").unwrap();
    for version in ["1", "2"] {
        let bundle = format!("b{version}.bundle");
        vitrine()
            .current_dir(d)
            .args(["bundle", "build", "rules", "-o", &bundle, "--name", "t"])
            .args(["--version", version])
            .assert()
            .success();
        vitrine()
            .current_dir(d)
            .args(["publish", &bundle, "--log", &url, "--key", "p.key"])
            .args(["--policy", "policy", "--wait", "20"])
            .assert()
            .success();
    }
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

    // A restart finds the same log.
    drop(server);
    let (_server, url) = spawn_server(&args, &log_dir);
    verify(&url);
}
