//! The `Storage` contract (crates/vitrine-log/src/storage.rs), checked the
//! same way against every backend: memory, the data directory, and
//! PostgreSQL (a database created for this run on the server at
//! `VITRINE_TEST_POSTGRES`, default 127.0.0.1:5432 as user postgres, and
//! dropped afterwards).

use std::sync::Arc;

use vitrine_log::{FsStorage, MemoryStorage, PgStorage, Storage, StorageError, TestDatabase};
use vitrine_tlog::TilePath;

fn tile(index: u64, width: u16) -> TilePath {
    TilePath::hashes(0, index, width).unwrap()
}

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Everything a backend promises, in one pass.
fn check_contract(s: &dyn Storage) {
    // Empty.
    assert_eq!(s.read_checkpoint().unwrap(), None);
    assert_eq!(s.signed_checkpoint().unwrap(), None);
    assert_eq!(s.staged_size().unwrap(), None);
    assert_eq!(s.read_tile(&tile(0, 256)).unwrap(), None);
    assert_eq!(s.lookup(&hash(1)).unwrap(), None);

    // The checkpoint is a compare-and-swap.
    s.swap_checkpoint(None, b"one").unwrap();
    assert!(matches!(
        s.swap_checkpoint(None, b"other"),
        Err(StorageError::Conflict)
    ));
    assert!(matches!(
        s.swap_checkpoint(Some(b"not it"), b"other"),
        Err(StorageError::Conflict)
    ));
    assert_eq!(s.read_checkpoint().unwrap().as_deref(), Some(&b"one"[..]));
    s.swap_checkpoint(Some(b"one"), b"two").unwrap();
    assert_eq!(s.read_checkpoint().unwrap().as_deref(), Some(&b"two"[..]));

    // Tiles: put, overwrite, delete (a missing one is fine), idempotent.
    let tiles = vec![
        (tile(0, 256), vec![1u8; 32 * 256]),
        (tile(1, 3), vec![2u8; 96]),
    ];
    s.write_tiles(&tiles).unwrap();
    s.write_tiles(&tiles).unwrap();
    assert_eq!(s.read_tile(&tile(1, 3)).unwrap(), Some(vec![2u8; 96]));
    s.write_tiles(&[(tile(1, 3), vec![3u8; 96])]).unwrap();
    assert_eq!(s.read_tile(&tile(1, 3)).unwrap(), Some(vec![3u8; 96]));
    // A partial tile and the full tile of the same index are two objects.
    assert_eq!(s.read_tile(&tile(1, 256)).unwrap(), None);
    s.delete_tiles(&[tile(1, 3), tile(9, 9)]).unwrap();
    s.delete_tiles(&[tile(1, 3)]).unwrap();
    assert_eq!(s.read_tile(&tile(1, 3)).unwrap(), None);
    assert_eq!(
        s.read_tile(&tile(0, 256)).unwrap(),
        Some(vec![1u8; 32 * 256])
    );

    // The index: record, replace, forget from a size.
    s.record(&[(hash(1), 0), (hash(2), 1), (hash(3), 2)])
        .unwrap();
    s.record(&[(hash(1), 0)]).unwrap();
    assert_eq!(s.lookup(&hash(2)).unwrap(), Some(1));
    s.record(&[(hash(3), 5)]).unwrap();
    assert_eq!(s.lookup(&hash(3)).unwrap(), Some(5));
    s.forget_from(1).unwrap();
    assert_eq!(s.lookup(&hash(1)).unwrap(), Some(0));
    assert_eq!(s.lookup(&hash(2)).unwrap(), None);
    assert_eq!(s.lookup(&hash(3)).unwrap(), None);
    s.forget_from(1).unwrap();

    // Staged size and signed checkpoint: plain replacements.
    s.set_staged_size(7).unwrap();
    s.set_staged_size(9).unwrap();
    assert_eq!(s.staged_size().unwrap(), Some(9));
    s.set_signed_checkpoint(b"signed one").unwrap();
    s.set_signed_checkpoint(b"signed two").unwrap();
    assert_eq!(
        s.signed_checkpoint().unwrap().as_deref(),
        Some(&b"signed two"[..])
    );
}

/// What a restart must find: everything written before it.
fn check_survived(s: &dyn Storage) {
    assert_eq!(s.read_checkpoint().unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(
        s.read_tile(&tile(0, 256)).unwrap(),
        Some(vec![1u8; 32 * 256])
    );
    assert_eq!(s.lookup(&hash(1)).unwrap(), Some(0));
    assert_eq!(s.staged_size().unwrap(), Some(9));
    assert_eq!(
        s.signed_checkpoint().unwrap().as_deref(),
        Some(&b"signed two"[..])
    );
}

#[test]
fn memory_backend_keeps_the_contract() {
    check_contract(&MemoryStorage::new());
}

#[test]
fn data_directory_backend_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = FsStorage::open(dir.path()).unwrap();
        check_contract(&s);
    }
    check_survived(&FsStorage::open(dir.path()).unwrap());
}

#[test]
fn postgresql_backend_keeps_the_contract_across_restarts_and_front_ends() {
    let db = TestDatabase::create();
    {
        let s = PgStorage::connect(&db.url(), 4).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        check_contract(&s);
    }
    // A restart (a new pool; migrations find the schema current).
    let s = Arc::new(PgStorage::connect(&db.url(), 4).unwrap());
    check_survived(s.as_ref());

    // Two front ends on one database: of two sequencers publishing from
    // the same checkpoint, exactly one wins; the log cannot fork.
    let other = Arc::new(PgStorage::connect(&db.url(), 4).unwrap());
    let threads: Vec<_> = [s.clone(), other.clone()]
        .into_iter()
        .enumerate()
        .map(|(i, st)| {
            std::thread::spawn(move || {
                let new = format!("three from {i}");
                st.swap_checkpoint(Some(b"two"), new.as_bytes()).is_ok()
            })
        })
        .collect();
    let won: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert_eq!(
        s.read_checkpoint().unwrap(),
        other.read_checkpoint().unwrap()
    );

    // Front ends starting together migrate once.
    let db2 = TestDatabase::create();
    let url = db2.url();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStorage::connect(&url, 1).map(|s| s.schema_version()))
        })
        .collect();
    for t in starts {
        assert_eq!(t.join().unwrap().unwrap().unwrap(), 2);
    }
}

#[test]
fn an_unreachable_database_is_a_typed_error_not_a_hang() {
    // Port 1 on loopback: nothing listens there.
    let started = std::time::Instant::now();
    let e = PgStorage::connect("host=127.0.0.1 port=1 user=postgres connect_timeout=2", 1)
        .err()
        .expect("no server, no storage");
    assert!(matches!(e, StorageError::Postgres(_)), "{e}");
    assert!(e.to_string().contains("gave up"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
