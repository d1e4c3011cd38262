//! `AuthorizedFile`: edits apply on the next request; a broken file fails
//! closed.

use std::sync::Arc;

use vitrine_log::*;
use vitrine_note::{SignatureType, SignerKey};
use vitrine_statements::{Deletion, Sha256, Statement, StatementType, Text};

fn deletion(signer: &SignerKey, t: u64) -> Vec<u8> {
    Statement::Deletion(Deletion {
        tenant: vitrine_statements::Token::new("t-1").unwrap(),
        sample: Sha256([7; 32]),
        reason: Text::new("test").unwrap(),
        time: t,
    })
    .sign(signer)
    .unwrap()
}

#[test]
fn edits_apply_at_once_and_a_broken_file_refuses_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authorized");
    let a = SignerKey::from_seed("a.example/1", SignatureType::Ed25519, [1; 32]).unwrap();
    let b = SignerKey::from_seed("b.example/1", SignatureType::Ed25519, [2; 32]).unwrap();
    let log_key = SignerKey::from_seed("log.example/a", SignatureType::Ed25519, [3; 32]).unwrap();
    let storage = Arc::new(MemoryStorage::new());
    init(&*storage, &log_key).unwrap();
    let log = Log::builder(storage, log_key)
        .authorization_file(AuthorizedFile::new(&path))
        .open()
        .unwrap();
    let not_allowed = |r: Result<u64, AddError>| {
        matches!(r, Err(AddError::Rejected(Rejection::NotAllowed { .. })))
    };

    // Missing file: nobody.
    assert!(not_allowed(log.add_blocking(deletion(&a, 1))));
    std::fs::write(&path, format!("deletion {}\n", a.verifier())).unwrap();
    assert_eq!(log.add_blocking(deletion(&a, 1)).unwrap(), 0);
    assert!(not_allowed(log.add_blocking(deletion(&b, 2))));

    // b added, a revoked, in one quick edit of the same length.
    std::fs::write(&path, format!("deletion {}\n", b.verifier())).unwrap();
    assert_eq!(log.add_blocking(deletion(&b, 2)).unwrap(), 1);
    assert!(not_allowed(log.add_blocking(deletion(&a, 3))));
    assert_eq!(
        log.authorization()
            .unwrap()
            .verifiers_for(StatementType::Deletion)
            .len(),
        1
    );

    // Broken: everyone is refused, with the file and line named.
    std::fs::write(
        &path,
        format!("deletion {}\nrules nonsense\n", b.verifier()),
    )
    .unwrap();
    match log.add_blocking(deletion(&b, 4)) {
        Err(AddError::Authorization { path: p, reason }) => {
            assert_eq!(p, path.display().to_string());
            assert!(reason.contains("line 2"), "{reason}");
        }
        other => panic!("expected an authorization error, got {other:?}"),
    }
    // Fixed: back in business; removed: nobody again.
    std::fs::write(&path, format!("deletion {}\n", b.verifier())).unwrap();
    assert_eq!(log.add_blocking(deletion(&b, 4)).unwrap(), 2);
    std::fs::remove_file(&path).unwrap();
    assert!(not_allowed(log.add_blocking(deletion(&b, 5))));
}
