//! Integration tests: the 2014 scenario at the library level, and ledger
//! tampering (changed, removed, reordered, truncated entries).

use std::io::Write;
use std::path::Path;

use vitrine_egress::{
    decide, inspect, verify, ContentDecision, DenyReason, Ledger, LedgerError, LedgerEvent,
    Metadata, Policy, Redactor, LEDGER_FILE,
};
use vitrine_note::{SignatureType, SignerKey};

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A minimal .docx whose text is marked TOP SECRET.
fn secret_docx() -> Vec<u8> {
    zip(&[
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        ),
        (
            "word/document.xml",
            b"<w:document><w:body><w:p><w:r><w:t>TOP SECRET//NOFORN design review</w:t></w:r></w:p></w:body></w:document>",
        ),
    ])
}

/// The owner enabled archives and executables, automatic consent: the
/// most permissive a policy gets.
const PERMISSIVE: &str = r#"id = "exec-and-archives"
[content]
kinds = ["elf", "pe", "script", "zip", "7z"]
consent = "auto"
"#;

/// 2014: a rule matches an archive holding source code and a TOP SECRET
/// document; automatic submission is on. Only metadata leaves.
#[test]
fn archive_with_classified_document_leaves_as_metadata_only() {
    let archive = zip(&[
        ("src/main.c", b"int main(void) { return 0; }\n"),
        ("docs/plan.docx", &secret_docx()),
    ]);
    let policy = Policy::parse(PERMISSIVE.as_bytes()).unwrap();
    let facts = inspect(
        Path::new("/home/contractor/Downloads/stuff.zip"),
        &archive,
        vec!["Equation.Loader".into()],
        Some(42),
    );
    let redactor = Redactor {
        home: Some("/home/contractor".into()),
        user: Some("contractor".into()),
    };
    let d = decide(&policy, &facts, &redactor);
    let ContentDecision::Denied(reason) = &d.content else {
        panic!("content allowed: {:?}", d.content);
    };
    assert!(
        matches!(reason, DenyReason::ArchiveHoldsDocument { .. }),
        "{reason}"
    );
    assert_eq!(d.metadata.path.as_deref(), Some("~/Downloads/stuff.zip"));
    assert_eq!(d.metadata.kind, "zip");

    // The egress is recorded, metadata only.
    let dir = tempfile::tempdir().unwrap();
    let key = SignerKey::generate("endpoint.example/e1", SignatureType::Ed25519).unwrap();
    let mut ledger = Ledger::open(dir.path(), key.clone()).unwrap();
    ledger
        .append(
            1_767_225_600,
            LedgerEvent::Sent {
                destination: "https://intake.example".into(),
                via: "scan".into(),
                policy_id: policy.id().into(),
                policy_sha256: hex::encode(policy.sha256()),
                metadata: d.metadata.clone(),
                content: false,
                nonce: hex::encode([7; 32]),
                content_denied: Some(reason.to_string()),
            },
        )
        .unwrap();
    let entries = verify(dir.path(), &key.verifier()).unwrap();
    assert_eq!(entries.len(), 1);
    let LedgerEvent::Sent {
        content, metadata, ..
    } = &entries[0].event
    else {
        panic!()
    };
    assert!(!content);
    assert_eq!(metadata, &d.metadata);
    // The document's text appears nowhere in what left.
    let text = std::fs::read_to_string(dir.path().join(LEDGER_FILE)).unwrap();
    assert!(!text.contains("TOP SECRET"));
    assert!(!text.contains("contractor"));
}

#[test]
fn the_docx_itself_is_a_document_even_renamed() {
    let policy = Policy::parse(PERMISSIVE.as_bytes()).unwrap();
    let facts = inspect(Path::new("/tmp/notes.exe"), &secret_docx(), vec![], None);
    assert!(matches!(
        decide(&policy, &facts, &Redactor::default()).content,
        ContentDecision::Denied(DenyReason::Document { kind: "ooxml" })
    ));
}

#[test]
fn archive_of_executables_may_leave() {
    let policy = Policy::parse(PERMISSIVE.as_bytes()).unwrap();
    let archive = zip(&[
        ("a.sh", b"#!/bin/sh\necho hi\n"),
        ("b", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0binary"),
    ]);
    let facts = inspect(Path::new("/tmp/x.zip"), &archive, vec![], None);
    assert_eq!(
        decide(&policy, &facts, &Redactor::default()).content,
        ContentDecision::Allowed {
            consent: vitrine_egress::Consent::Auto
        }
    );
}

#[test]
fn corrupt_archive_never_leaves() {
    let policy = Policy::parse(PERMISSIVE.as_bytes()).unwrap();
    let mut archive = zip(&[("a.sh", b"#!/bin/sh\necho hi\n")]);
    let n = archive.len();
    archive.truncate(n - 10);
    let facts = inspect(Path::new("/tmp/x.zip"), &archive, vec![], None);
    assert!(matches!(
        decide(&policy, &facts, &Redactor::default()).content,
        ContentDecision::Denied(DenyReason::ArchiveUninspectable { .. })
    ));
}

// ---- ledger tampering ----

fn meta(i: u8) -> Metadata {
    Metadata {
        sha256: hex::encode([i; 32]),
        size: u64::from(i),
        kind: "elf".into(),
        detections: vec![format!("Rule{i}")],
        bundle_version: Some(1),
        path: None,
    }
}

fn ledger_with(n: u8) -> (tempfile::TempDir, SignerKey) {
    let dir = tempfile::tempdir().unwrap();
    let key = SignerKey::generate("endpoint.example/e1", SignatureType::Ed25519).unwrap();
    let mut l = Ledger::open(dir.path(), key.clone()).unwrap();
    for i in 0..n {
        l.append(
            1000 + u64::from(i),
            LedgerEvent::Sent {
                destination: "https://intake.example".into(),
                via: "submit".into(),
                policy_id: "p".into(),
                policy_sha256: hex::encode([9; 32]),
                metadata: meta(i),
                content: false,
                nonce: hex::encode([i; 32]),
                content_denied: None,
            },
        )
        .unwrap();
    }
    (dir, key)
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(LEDGER_FILE))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join(LEDGER_FILE), text).unwrap();
}

#[test]
fn intact_ledger_verifies_and_reopens() {
    let (dir, key) = ledger_with(3);
    assert_eq!(verify(dir.path(), &key.verifier()).unwrap().len(), 3);
    let mut l = Ledger::open(dir.path(), key.clone()).unwrap();
    let e = l
        .append(
            5,
            LedgerEvent::Failed {
                of: 2,
                error: "x".into(),
            },
        )
        .unwrap();
    assert_eq!(e.seq, 3);
    assert_eq!(verify(dir.path(), &key.verifier()).unwrap().len(), 4);
}

#[test]
fn changed_entry_is_detected() {
    let (dir, key) = ledger_with(3);
    let mut l = lines(dir.path());
    l[1] = l[1].replace("Rule1", "Rule7");
    write_lines(dir.path(), &l);
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::BadSignature { line: 2, seq: 1 })
    ));
    // An endpoint does not append to a tampered ledger.
    assert!(Ledger::open(dir.path(), key).is_err());
}

#[test]
fn removed_entry_is_detected() {
    let (dir, key) = ledger_with(3);
    let mut l = lines(dir.path());
    l.remove(1);
    write_lines(dir.path(), &l);
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::OutOfSequence {
            line: 2,
            seq: 2,
            expected: 1
        })
    ));
}

#[test]
fn reordered_entries_are_detected() {
    let (dir, key) = ledger_with(3);
    let mut l = lines(dir.path());
    l.swap(0, 1);
    write_lines(dir.path(), &l);
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::OutOfSequence { line: 1, .. })
    ));
}

#[test]
fn removed_last_entry_is_detected_by_the_head() {
    let (dir, key) = ledger_with(3);
    let mut l = lines(dir.path());
    l.pop();
    write_lines(dir.path(), &l);
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::HeadMismatch {
            head_size: 3,
            size: 2,
            ..
        })
    ));
}

#[test]
fn resigned_by_another_key_is_detected() {
    let (dir, key) = ledger_with(2);
    let other = SignerKey::generate("endpoint.example/e1", SignatureType::Ed25519).unwrap();
    // Someone rebuilds the whole ledger with their own key.
    std::fs::remove_file(dir.path().join(LEDGER_FILE)).unwrap();
    std::fs::remove_file(dir.path().join(vitrine_egress::HEAD_FILE)).unwrap();
    let mut l = Ledger::open(dir.path(), other).unwrap();
    l.append(
        1,
        LedgerEvent::Failed {
            of: 0,
            error: "x".into(),
        },
    )
    .unwrap();
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::BadSignature { line: 1, seq: 0 })
    ));
}

#[test]
fn missing_head_and_garbage_are_detected() {
    let (dir, key) = ledger_with(1);
    std::fs::remove_file(dir.path().join(vitrine_egress::HEAD_FILE)).unwrap();
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::BadHead { .. })
    ));
    let (dir, key) = ledger_with(1);
    let mut l = lines(dir.path());
    l.push("{not json".into());
    write_lines(dir.path(), &l);
    assert!(matches!(
        verify(dir.path(), &key.verifier()),
        Err(LedgerError::Malformed { line: 2, .. })
    ));
}

// ---- the fuzz bodies on stable: seeded mutations of valid inputs ----

/// A receipt that verifies under the fuzz body's fixed keys.
fn valid_receipt_json() -> Vec<u8> {
    use vitrine_statements::{Receipt, Sha256, Statement, Token};
    let intake = SignerKey::from_seed("intake.example", SignatureType::Ed25519, [1; 32]).unwrap();
    let log = SignerKey::from_seed("log.example", SignatureType::Ed25519, [2; 32]).unwrap();
    let note = Statement::Receipt(Receipt {
        sample: Sha256([0; 32]),
        tenant: Token::new("t-1").unwrap(),
        policy: Token::new("p").unwrap(),
        policy_sha256: Sha256([0; 32]),
        time: 1,
        endpoint: Sha256([0; 32]),
        nonce: Sha256([0; 32]),
        ledger_seq: 0,
        ledger_head: Sha256([0; 32]),
    })
    .sign(&intake)
    .unwrap();
    let mut tree = vitrine_tlog::MemoryTree::new();
    tree.push_data(b"other");
    tree.push_data(&note);
    let cp = vitrine_tlog::Checkpoint::new("log.example", 2, tree.root());
    let proof = vitrine_tlog::TlogProof::new(
        None,
        1,
        vitrine_tlog::inclusion_proof(&tree, 1, 2).unwrap(),
        cp.sign(&log).unwrap(),
    )
    .unwrap();
    let bundle = vitrine_egress::ReceiptBundle {
        note: String::from_utf8(note).unwrap(),
        index: 1,
        tlog_proof: proof.to_string(),
    };
    // The seed really verifies, so mutations start from the deep end.
    bundle
        .verify(
            &intake.verifier(),
            &log.verifier(),
            &vitrine_tlog::Policy::parse(b"quorum none\n").unwrap(),
            &vitrine_egress::Expected {
                sample: [0; 32],
                policy_sha256: [0; 32],
                tenant: "t-1",
                endpoint: [0; 32],
                nonce: [0; 32],
                ledger_seq: 0,
                ledger_head: [0; 32],
                time: 1,
            },
        )
        .unwrap();
    serde_json::to_vec(&bundle).unwrap()
}

#[test]
fn fuzz_bodies_survive_mutations() {
    let seeds = [
        vitrine_egress::DEFAULT_POLICY.as_bytes().to_vec(),
        PERMISSIVE.as_bytes().to_vec(),
        valid_receipt_json(),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let mut data = seeds[round % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % data.len().max(1);
            match next() % 3 {
                0 if !data.is_empty() => data[i] = next() as u8,
                1 if !data.is_empty() => {
                    data.remove(i);
                }
                _ => data.insert(i.min(data.len()), next() as u8),
            }
        }
        vitrine_egress::fuzz::policy(&data);
        vitrine_egress::fuzz::receipt(&data);
    }
}
