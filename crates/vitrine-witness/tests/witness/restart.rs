//! A witness on the embedded store, dropped and reopened, keeps refusing
//! what it refused and remembers what it cosigned.

use std::sync::Arc;

use tempfile::TempDir;
use vitrine_pg::TestDatabase;
use vitrine_witness::{EvidenceKind, PgStore, Refusal, SqliteStore, WitnessError, WitnessStore};

use crate::common::{witness, TestLog, ORIGIN};

#[test]
fn reopened_witness_keeps_refusing() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("witness.sqlite");
    reopened_keeps_refusing(&|| Arc::new(SqliteStore::open(&db).unwrap()));
}

#[test]
fn reopened_postgres_witness_keeps_refusing() {
    let db = TestDatabase::create();
    reopened_keeps_refusing(&|| Arc::new(PgStore::connect(&db.url(), 2).unwrap()));
}

/// `open()` opens the same durable store again, as a restarted process.
fn reopened_keeps_refusing<S: WitnessStore + 'static>(open: &dyn Fn() -> Arc<S>) {
    let mut honest = TestLog::new(5, 50);
    let mut fork = TestLog::new(5, 30);
    fork.grow(20, b"evil");

    let w = witness(&honest, 1, open());
    w.add_checkpoint(&honest.request(0, 30)).unwrap();
    w.add_checkpoint(&honest.request(30, 50)).unwrap();
    let before = w.add_checkpoint(&fork.request(50, 50)).unwrap_err();
    let cosigned = w.state(ORIGIN).unwrap().unwrap();
    drop(w);

    let w = witness(&honest, 1, open());
    assert_eq!(w.state(ORIGIN).unwrap().unwrap(), cosigned);
    let after = w.add_checkpoint(&fork.request(50, 50)).unwrap_err();
    assert_eq!(before.to_string(), after.to_string());
    assert!(matches!(
        after,
        WitnessError::Refused(Refusal::RootMismatch { size: 50 })
    ));
    // A stale request from before the restart is still stale.
    assert!(matches!(
        w.add_checkpoint(&honest.request(30, 50)).unwrap_err(),
        WitnessError::Refused(Refusal::OldSizeMismatch {
            current_size: 50,
            ..
        })
    ));
    let ev = w.evidence(ORIGIN).unwrap();
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.kind == EvidenceKind::RootMismatch));

    honest.grow(5, b"more");
    w.add_checkpoint(&honest.request(50, 55)).unwrap();
    drop(w);
    let w = witness(&honest, 1, open());
    assert_eq!(w.state(ORIGIN).unwrap().unwrap().size, 55);
}
