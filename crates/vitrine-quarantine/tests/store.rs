//! The quarantine store: round trips, refusals, and crashes at every step.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use vitrine_quarantine::{Error, Reason, RestoreOptions, Step, Store};

fn eicar() -> Vec<u8> {
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

fn reason() -> Reason {
    Reason {
        detections: vec!["Eicar_Test_File".into()],
        rules: "builtin".into(),
    }
}

fn sample(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o751)).unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(1_500_000_000) + Duration::from_nanos(123_456_789);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
    p
}

fn all_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn quarantine_and_restore_round_trip_with_mode_and_times() {
    let t = tempfile::tempdir().unwrap();
    let (store, rec) = Store::open(&t.path().join("q")).unwrap();
    assert!(rec.is_empty());
    let p = sample(t.path(), "eicar.com", &eicar());
    let before = std::fs::metadata(&p).unwrap();
    let item = store.quarantine(&p, reason()).unwrap();
    assert!(!p.exists());
    assert_eq!(item.size, eicar().len() as u64);
    assert_eq!(item.mode, 0o751);
    assert_eq!(item.reason, reason());
    assert_eq!(store.list().unwrap(), vec![item.clone()]);
    // Nothing in the store contains the signature any more.
    let needle = b"EICAR-STANDARD";
    for f in all_files(&t.path().join("q")) {
        assert!(!f.windows(needle.len()).any(|w| w == needle));
    }
    let to = store
        .restore(&item.id[..8], &RestoreOptions::default())
        .unwrap();
    assert_eq!(to, p);
    assert_eq!(std::fs::read(&p).unwrap(), eicar());
    let after = std::fs::metadata(&p).unwrap();
    assert_eq!(after.permissions().mode() & 0o7777, 0o751);
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn restore_never_overwrites_unless_told() {
    let t = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&t.path().join("q")).unwrap();
    let p = sample(t.path(), "x", b"payload");
    let item = store.quarantine(&p, reason()).unwrap();
    std::fs::write(&p, b"new file").unwrap();
    let err = store
        .restore(&item.id, &RestoreOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::TargetExists { .. }), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), b"new file");
    assert_eq!(store.list().unwrap().len(), 1);
    // Elsewhere, then over the file when asked.
    let other = t.path().join("elsewhere");
    let opts = RestoreOptions {
        to: Some(other.clone()),
        overwrite: false,
    };
    store.restore(&item.id, &opts).unwrap();
    assert_eq!(std::fs::read(&other).unwrap(), b"payload");
    let p2 = sample(t.path(), "y", b"second");
    let item2 = store.quarantine(&p2, reason()).unwrap();
    std::fs::write(&p2, b"squatter").unwrap();
    let opts = RestoreOptions {
        to: None,
        overwrite: true,
    };
    store.restore(&item2.id, &opts).unwrap();
    assert_eq!(std::fs::read(&p2).unwrap(), b"second");
}

#[test]
fn refusals_are_typed() {
    let t = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&t.path().join("q")).unwrap();
    let err = store.quarantine(t.path(), reason()).unwrap_err();
    assert!(matches!(err, Error::NotRegular { .. }), "{err}");
    let link = t.path().join("link");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let err = store.quarantine(&link, reason()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(link.symlink_metadata().is_ok());
    for bad in ["", "nope", "../../etc", "zzzzzzzzzz"] {
        let err = store.get(bad).unwrap_err();
        assert!(matches!(err, Error::UnknownItem { .. }), "{bad}: {err}");
    }
    // A damaged object is refused, not restored as garbage.
    let p = sample(t.path(), "d", b"data to damage");
    let item = store.quarantine(&p, reason()).unwrap();
    let obj = t.path().join("q/objects").join(&item.id);
    let mut raw = std::fs::read(&obj).unwrap();
    *raw.last_mut().unwrap() ^= 1;
    std::fs::write(&obj, raw).unwrap();
    let err = store
        .restore(&item.id, &RestoreOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Damaged { .. }), "{err}");
    assert!(!p.exists());
}

#[test]
fn delete_removes_record_and_object() {
    let t = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&t.path().join("q")).unwrap();
    let p = sample(t.path(), "d", b"bye");
    let item = store.quarantine(&p, reason()).unwrap();
    store.delete(&item.id).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(std::fs::read_dir(t.path().join("q/objects"))
        .unwrap()
        .next()
        .is_none());
}

/// A crash after each step leaves the file in exactly one or both places,
/// and reopening the store settles it into exactly one, intact.
#[test]
fn a_crash_at_any_step_loses_nothing() {
    for step in [Step::Intent, Step::Object, Step::Record, Step::Removed] {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("q");
        let p = sample(t.path(), "f", &eicar());
        {
            let (mut store, _) = Store::open(&root).unwrap();
            store.crash_at(Some(step));
            store.quarantine(&p, reason()).unwrap_err();
        }
        let (store, rec) = Store::open(&root).unwrap();
        let items = store.list().unwrap();
        match step {
            Step::Intent | Step::Object => {
                assert_eq!(rec.rolled_back.len(), 1, "{step:?}");
                assert!(items.is_empty(), "{step:?}");
                assert_eq!(std::fs::read(&p).unwrap(), eicar(), "{step:?}");
                // No partial object is left behind.
                assert!(std::fs::read_dir(root.join("objects"))
                    .unwrap()
                    .next()
                    .is_none());
            }
            Step::Record | Step::Removed => {
                assert_eq!(rec.completed.len(), 1, "{step:?}");
                assert_eq!(items.len(), 1, "{step:?}");
                assert!(!p.exists(), "{step:?}");
                store
                    .restore(&items[0].id, &RestoreOptions::default())
                    .unwrap();
                assert_eq!(std::fs::read(&p).unwrap(), eicar(), "{step:?}");
            }
        }
        assert!(std::fs::read_dir(root.join("journal"))
            .unwrap()
            .next()
            .is_none());
    }
}

#[test]
fn recovery_keeps_a_file_written_after_the_copy() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    let p = sample(t.path(), "f", b"old content");
    {
        let (mut store, _) = Store::open(&root).unwrap();
        store.crash_at(Some(Step::Record));
        store.quarantine(&p, reason()).unwrap_err();
    }
    std::fs::write(&p, b"new content, written after the copy").unwrap();
    let (store, _) = Store::open(&root).unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        b"new content, written after the copy"
    );
    let items = store.list().unwrap();
    assert_eq!(store.content(&items[0].id).unwrap(), b"old content");
}

/// The store on another file system than the file (tmpfs in /dev/shm when
/// the machine has one): the move is a copy, never a rename, so it works
/// the same.
#[test]
fn quarantine_across_file_systems() {
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    let t = tempfile::tempdir().unwrap();
    let Ok(other) = tempfile::tempdir_in(shm) else {
        eprintln!("no /dev/shm here; the same-file-system tests cover the rest");
        return;
    };
    let p = sample(t.path(), "f", &eicar());
    let cross =
        std::fs::metadata(other.path()).unwrap().dev() != std::fs::metadata(&p).unwrap().dev();
    let (store, _) = Store::open(&other.path().join("q")).unwrap();
    let item = store.quarantine(&p, reason()).unwrap();
    assert!(!p.exists());
    store.restore(&item.id, &RestoreOptions::default()).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), eicar());
    eprintln!("across file systems: {cross}");
}

/// Makes `p` impossible to remove for this process: immutable as root
/// (root ignores permissions), a read-only directory otherwise. Returns
/// the undo.
fn pin(p: &Path) -> impl FnOnce() {
    let p = p.to_path_buf();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&p)
            .status()
            .expect("chattr runs")
            .success();
        assert!(ok, "chattr +i {} failed", p.display());
        Box::new(move || {
            std::process::Command::new("chattr")
                .arg("-i")
                .arg(&p)
                .status()
                .unwrap();
        }) as Box<dyn FnOnce()>
    } else {
        let dir = p.parent().unwrap().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        Box::new(move || {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        })
    }
}

fn store_is_empty(root: &Path) {
    for sub in ["items", "objects", "journal"] {
        let left: Vec<_> = std::fs::read_dir(root.join(sub)).unwrap().collect();
        assert!(left.is_empty(), "{sub} is not empty: {left:?}");
    }
}

#[test]
fn a_move_that_cannot_remove_the_original_is_undone_at_once() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    let (store, _) = Store::open(&root).unwrap();
    let dir = t.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let p = sample(&dir, "eicar.com", &eicar());
    let unpin = pin(&p);
    let err = store.quarantine(&p, reason()).unwrap_err();
    assert!(matches!(err, Error::NotRemoved { .. }), "{err}");
    assert!(err.to_string().contains("left in place"), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), eicar());
    store_is_empty(&root);
    // The store is not wedged: it opens, lists and quarantines again.
    let (store, rec) = Store::open(&root).unwrap();
    assert!(rec.is_empty(), "{rec:?}");
    assert!(store.list().unwrap().is_empty());
    // Once the file can be removed, opening the store does not remove it
    // behind the user's back; only a new quarantine moves it.
    unpin();
    let (store, rec) = Store::open(&root).unwrap();
    assert!(rec.is_empty(), "{rec:?}");
    assert_eq!(std::fs::read(&p).unwrap(), eicar());
    store.quarantine(&p, reason()).unwrap();
    assert!(!p.exists());
}

#[test]
fn recovery_rejects_journal_ids_that_leave_the_store() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    drop(Store::open(&root).unwrap());
    let victim = t.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // objects/../../victim is the victim.
    let intent = serde_json::json!({
        "op": "quarantine", "id": "../../victim",
        "path": victim, "dev": 0, "ino": 0
    });
    std::fs::write(
        root.join("journal").join("0123456789abcdef.json"),
        intent.to_string(),
    )
    .unwrap();
    let (_, rec) = Store::open(&root).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(rec.rejected.len(), 1, "{rec:?}");
    // A journal file whose own name is not an ID is rejected the same way.
    std::fs::write(
        root.join("journal").join("..victim.json"),
        serde_json::json!({"op": "delete", "id": "0123456789abcdef"}).to_string(),
    )
    .unwrap();
    let (_, rec) = Store::open(&root).unwrap();
    assert_eq!(rec.rejected.len(), 2, "{rec:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn recovery_removes_an_original_only_if_it_is_the_copied_file() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    let p = sample(t.path(), "eicar.com", &eicar());
    let mut store = Store::open(&root).unwrap().0;
    store.crash_at(Some(Step::Record));
    store.quarantine(&p, reason()).unwrap_err();
    // Replaced by another file with the same content: a different inode
    // (made before the old one is gone, so its number is not reused).
    let other = t.path().join("other");
    std::fs::write(&other, eicar()).unwrap();
    std::fs::rename(&other, &p).unwrap();
    let (store, rec) = Store::open(&root).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), eicar(), "{rec:?}");
    // Either way nothing is lost: the copy is kept as an item.
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn the_store_refuses_directories_others_can_write() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    drop(Store::open(&root).unwrap());
    for sub in ["", "journal", "objects", "items"] {
        let d = root.join(sub);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(&root).unwrap_err();
        assert!(matches!(err, Error::Insecure { .. }), "{sub}: {err}");
        assert!(err.to_string().contains(&d.display().to_string()), "{err}");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    drop(Store::open(&root).unwrap());
    // A symbolic link instead of a directory is refused too.
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir(root.join("journal")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("journal")).unwrap();
    assert!(matches!(
        Store::open(&root).unwrap_err(),
        Error::Insecure { .. }
    ));
}

#[test]
fn the_lock_file_is_never_a_symbolic_link() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("q");
    drop(Store::open(&root).unwrap());
    let target = t.path().join("target");
    std::fs::write(&target, b"keep").unwrap();
    std::fs::remove_file(root.join("lock")).unwrap();
    std::os::unix::fs::symlink(&target, root.join("lock")).unwrap();
    assert!(Store::open(&root).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}
