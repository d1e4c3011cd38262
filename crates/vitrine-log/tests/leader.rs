//! Several front ends on one PostgreSQL database: fencing of a deposed
//! leader, and the election ([`vitrine_log::Node`]). Needs PostgreSQL
//! (see [`TestDatabase`]); each test makes and drops its own database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vitrine_log::{
    init, AddError, Authorization, AuthorizedFile, Error, Log, Node, NodeOptions, PgStorage, Role,
    Storage, StorageError, TestDatabase,
};
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Deletion, Sha256, Statement, StatementType, Text, Token};
use vitrine_tlog::TilePath;

fn keys() -> (SignerKey, SignerKey) {
    (
        SignerKey::generate("log.example/leader", SignatureType::Ed25519).unwrap(),
        SignerKey::generate("intake.example/leader", SignatureType::Ed25519).unwrap(),
    )
}

/// A distinct signed statement for each `n`.
fn statement(intake: &SignerKey, n: u8) -> Vec<u8> {
    Statement::Deletion(Deletion {
        tenant: Token::new("t-1").unwrap(),
        sample: Sha256([n; 32]),
        reason: Text::new("retention expired").unwrap(),
        time: 1_767_225_600,
    })
    .sign(intake)
    .unwrap()
}

fn open_log(storage: Arc<dyn Storage>, key: &SignerKey, intake: &SignerKey) -> Log {
    Log::builder(storage, key.clone())
        .authorization(Authorization::new().allow([StatementType::Deletion], intake.verifier()))
        .batch(16, Duration::from_millis(5))
        .open()
        .unwrap()
}

fn fenced(result: Result<(), StorageError>, mine: u64, current: u64) {
    match result {
        Err(StorageError::Fenced {
            mine: m,
            current: c,
        }) => {
            assert_eq!((m, c), (mine, current));
        }
        other => panic!("expected Fenced {{ {mine}, {current} }}, got {other:?}"),
    }
}

/// A leader that was deposed (another front end began a newer epoch while
/// it still ran) can write nothing: every kind of write is refused with
/// `Fenced`, and its log answers adds with an error instead of an index;
/// the database keeps what the new leader sees, and the new leader goes on
/// from there.
#[test]
fn a_deposed_leader_can_write_nothing_after_a_takeover() {
    let db = TestDatabase::create();
    let (key, intake) = keys();
    let old = Arc::new(PgStorage::connect(&db.url(), 4).unwrap());
    // Nobody was elected yet: `log init` (epoch 0) may write.
    init(&*old, &key).unwrap();
    assert_eq!(old.begin_epoch("http://old.example").unwrap(), 1);
    let old_log = open_log(old.clone(), &key, &intake);
    assert_eq!(old_log.add_blocking(statement(&intake, 1)).unwrap(), 0);

    let new = Arc::new(PgStorage::connect(&db.url(), 4).unwrap());
    assert_eq!(new.begin_epoch("http://new.example").unwrap(), 2);
    let record = new.leader().unwrap();
    assert_eq!(record.epoch, 2);
    assert_eq!(record.address.as_deref(), Some("http://new.example"));
    let checkpoint = new.read_checkpoint().unwrap().unwrap();
    let signed = new.signed_checkpoint().unwrap();

    // Every write of the old epoch is refused and changes nothing.
    let tile = TilePath::parse("tile/0/000.p/2").unwrap();
    fenced(old.write_tiles(&[(tile, vec![7; 64])]), 1, 2);
    fenced(
        old.delete_tiles(&[TilePath::parse("tile/0/000.p/1").unwrap()]),
        1,
        2,
    );
    fenced(old.swap_checkpoint(Some(&checkpoint), b"forged"), 1, 2);
    fenced(old.set_signed_checkpoint(b"forged"), 1, 2);
    fenced(old.set_staged_size(99), 1, 2);
    fenced(old.record(&[([9; 32], 5)]), 1, 2);
    fenced(old.forget_from(0), 1, 2);
    // A storage that never began an epoch may not write either, once
    // someone was elected.
    let stranger = PgStorage::connect(&db.url(), 1).unwrap();
    fenced(stranger.set_staged_size(99), 0, 2);

    // The old leader's log: its next batch fails (fenced), nothing is
    // acknowledged.
    match old_log.add_blocking(statement(&intake, 2)) {
        Err(AddError::Unavailable(err)) => assert!(
            matches!(&*err, Error::Storage(StorageError::Fenced { .. })),
            "{err}"
        ),
        other => panic!("a deposed leader acknowledged an add: {other:?}"),
    }
    assert_eq!(new.read_checkpoint().unwrap().unwrap(), checkpoint);
    assert_eq!(new.signed_checkpoint().unwrap(), signed);
    assert_eq!(new.read_tile(&tile).unwrap(), None);
    assert_eq!(new.lookup(&[9; 32]).unwrap(), None);

    // The new leader goes on from the published log.
    let new_log = open_log(new.clone(), &key, &intake);
    assert_eq!(new_log.size(), 1);
    assert_eq!(new_log.add_blocking(statement(&intake, 1)).unwrap(), 0);
    assert_eq!(new_log.add_blocking(statement(&intake, 2)).unwrap(), 1);
    drop(old_log);
}

fn start_node(db: &TestDatabase, name: &str, key: &SignerKey, intake: &SignerKey) -> Node {
    let storage = Arc::new(PgStorage::connect(&db.url(), 4).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let options = NodeOptions {
        url: db.url(),
        advertise: format!("http://{name}.example"),
        poll: Duration::from_millis(100),
        authorization: AuthorizedFile::new(dir.path().join("authorized")),
        max_entry: vitrine_log::DEFAULT_MAX_ENTRY,
    };
    let (key, intake) = (key.clone(), intake.clone());
    Node::start(storage, key.verifier(), options, move |storage| {
        Log::builder(storage, key.clone())
            .authorization(Authorization::new().allow([StatementType::Deletion], intake.verifier()))
            .batch(16, Duration::from_millis(5))
    })
    .unwrap()
}

/// Waits until exactly one of `nodes` leads; returns its position.
fn one_leader(nodes: &[&Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].role() == Role::Leader)
            .collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if let [one] = leaders[..] {
            return one;
        }
        assert!(Instant::now() < deadline, "nobody took the lead");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Three front ends elect exactly one leader; the followers know where to
/// forward and serve what it published; when the leader goes, another
/// takes over in a new epoch, with the log as it was.
#[test]
fn front_ends_elect_one_leader_and_another_takes_over_when_it_goes() {
    let db = TestDatabase::create();
    let (key, intake) = keys();
    init(&PgStorage::connect(&db.url(), 1).unwrap(), &key).unwrap();
    let mut nodes: Vec<Option<Node>> = ["a", "b", "c"]
        .iter()
        .map(|n| Some(start_node(&db, n, &key, &intake)))
        .collect();
    fn refs(nodes: &[Option<Node>]) -> Vec<&Node> {
        nodes.iter().flatten().collect()
    }

    let first = one_leader(&refs(&nodes));
    let leader = nodes[first].as_ref().unwrap();
    let epoch = leader.epoch();
    assert!(epoch >= 1);
    let log = leader.leader().unwrap();
    assert_eq!(log.add_blocking(statement(&intake, 1)).unwrap(), 0);
    assert_eq!(log.add_blocking(statement(&intake, 2)).unwrap(), 1);
    drop(log);
    let advertised = format!("http://{}.example", ["a", "b", "c"][first]);
    for i in (0..nodes.len()).filter(|&i| i != first) {
        let follower = nodes[i].as_ref().unwrap();
        follower.refresh().unwrap();
        assert_eq!(follower.role(), Role::Follower);
        assert_eq!(follower.forward_to().as_deref(), Some(advertised.as_str()));
        assert_eq!(follower.size(), 2);
        assert_eq!(follower.epoch(), epoch);
        let bundle = TilePath::parse("tile/entries/000.p/2").unwrap();
        assert!(follower.read_tile(&bundle).unwrap().is_some());
        // Nothing past the published size is served.
        let beyond = TilePath::parse("tile/entries/000.p/3").unwrap();
        assert_eq!(follower.read_tile(&beyond).unwrap(), None);
        assert!(follower.metrics().text().contains("vitrine_log_leader 0"));
    }
    assert!(leader.metrics().text().contains("vitrine_log_leader 1"));
    assert!(leader
        .metrics()
        .text()
        .contains("vitrine_log_takeovers_total 1"));

    // The leader goes (its session ends); another takes over.
    let gone = Instant::now();
    nodes[first].take();
    let second_pos = one_leader(&refs(&nodes));
    let took = gone.elapsed();
    let second = refs(&nodes)[second_pos];
    assert!(second.epoch() > epoch, "{} after {epoch}", second.epoch());
    assert!(took < Duration::from_secs(5), "takeover took {took:?}");
    let log = second.leader().unwrap();
    assert_eq!(log.size(), 2);
    assert_eq!(log.add_blocking(statement(&intake, 2)).unwrap(), 1);
    assert_eq!(log.add_blocking(statement(&intake, 3)).unwrap(), 2);
    assert!(second
        .metrics()
        .text()
        .contains("vitrine_log_takeovers_total 1"));
}

/// A database written by a version 1 program (before leader epochs) is
/// brought to version 2 at connect, in place: the same checkpoint, the
/// same entries at the same indexes, and the log goes on from there. A
/// database newer than this program is refused with a message that says
/// so, never written.
#[test]
fn a_version_1_database_is_upgraded_in_place_and_a_newer_one_refused() {
    let db = TestDatabase::create();
    let (key, intake) = keys();
    let storage = Arc::new(PgStorage::connect(&db.url(), 2).unwrap());
    init(&*storage, &key).unwrap();
    let log = open_log(storage.clone(), &key, &intake);
    for n in 0..3u8 {
        assert_eq!(
            log.add_blocking(statement(&intake, n)).unwrap(),
            u64::from(n)
        );
    }
    drop(log);
    let checkpoint = storage.read_checkpoint().unwrap().unwrap();
    drop(storage);

    // What a version 1 program left: no leader table, version 1.
    db.connect()
        .batch_execute("DROP TABLE vitrine_leader; UPDATE vitrine_schema SET version = 1")
        .unwrap();
    let storage = Arc::new(PgStorage::connect(&db.url(), 2).unwrap());
    assert_eq!(storage.schema_version().unwrap(), 2);
    assert_eq!(storage.read_checkpoint().unwrap().unwrap(), checkpoint);
    let log = open_log(storage.clone(), &key, &intake);
    // The same entries at the same indexes (deduplicated), then more.
    for n in 0..3u8 {
        assert_eq!(
            log.add_blocking(statement(&intake, n)).unwrap(),
            u64::from(n)
        );
    }
    assert_eq!(log.add_blocking(statement(&intake, 3)).unwrap(), 3);
    drop(log);
    drop(storage);

    db.connect()
        .batch_execute("UPDATE vitrine_schema SET version = 3")
        .unwrap();
    let err = PgStorage::connect(&db.url(), 2)
        .err()
        .expect("a newer schema is refused");
    assert!(
        err.to_string()
            .contains("version 3, newer than this program's 2"),
        "{err}"
    );
}
