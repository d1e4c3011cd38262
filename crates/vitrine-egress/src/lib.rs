//! Vitrine's endpoint egress control (DESIGN.md, "Egress and the vault"):
//! nothing leaves an endpoint that its owner's policy does not allow, and
//! everything that leaves is written to a signed, tamper-evident ledger.
//!
//! # What's in scope / out of scope
//!
//! In scope: the egress [`Policy`] file (TOML, strict), the pure
//! [`decide`] function over [`FileFacts`] gathered from content by
//! [`inspect`], the [`Ledger`] (append, [`verify`], [`verify_receipts`]) and
//! the intake's [`ReceiptBundle`]. Out of scope: sending (HTTP lives in the
//! binary), prompting for consent, and the intake server (`vitrine-intake`).
//!
//! # Main types
//!
//! [`Policy`], [`FileFacts`], [`Decision`] with [`DenyReason`], [`Ledger`]
//! with [`LedgerEvent`], [`ReceiptBundle`] checked against what one
//! submission must get back ([`Expected`], [`ReceiptContext`]), the
//! custody log's [`Anchor`] of the ledger ([`check_anchor`]) and the pinned
//! endpoint key ([`verify_pinned`]); errors [`PolicyError`],
//! [`LedgerError`], [`ReceiptError`].
//!
//! # Example
//!
//! ```
//! use vitrine_egress::{decide, inspect, ContentDecision, Policy, Redactor};
//!
//! let policy = Policy::default(); // metadata only
//! let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0rest of an executable";
//! let facts = inspect("/home/alice/a.out".as_ref(), elf, vec!["Test.Rule".into()], Some(7));
//! let redactor = Redactor { home: Some("/home/alice".into()), user: Some("alice".into()) };
//! let d = decide(&policy, &facts, &redactor);
//! assert!(matches!(d.content, ContentDecision::Denied(_)));
//! assert_eq!(d.metadata.path.as_deref(), Some("~/a.out"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decide;
mod error;
mod ledger;
mod policy;
mod receipt;

pub use decide::{
    decide, inspect, inspect_archive, ArchiveFacts, ContentDecision, Decision, DenyReason,
    FileFacts, Metadata, Redactor,
};
pub use error::{LedgerError, PolicyError, ReceiptError};
pub use ledger::{
    check_anchor, expected_for, read_unverified, verify, verify_pinned, verify_receipts, Anchor,
    Entry, Ledger, LedgerEvent, ReceiptContext, HEAD_FILE, LEDGER_FILE,
};
pub use policy::{
    Consent, PathMode, Policy, PolicySummary, SendableKind, DEFAULT_MAX_SIZE, DEFAULT_POLICY,
    MAX_POLICY_SIZE,
};
pub use receipt::{
    endpoint_id, Expected, ReceiptBundle, VerifiedReceipt, MAX_RECEIPT_SIZE, RECEIPT_WINDOW,
};

/// Fuzzing entry points (used by `fuzz/`).
#[doc(hidden)]
pub mod fuzz {
    /// Policy parser: no panic, and no policy that parses lets a document
    /// leave, or an archive holding one.
    pub fn policy(data: &[u8]) {
        let Ok(policy) = crate::Policy::parse(data) else {
            return;
        };
        use vitrine_archive::FileKind;
        for kind in FileKind::ALL {
            let archive = kind
                .is_container()
                .then(|| crate::ArchiveFacts::ContainsDocument {
                    member: "a.docx".into(),
                    kind: "ooxml",
                });
            let facts = crate::FileFacts {
                path: "/x".into(),
                sha256: [0; 32],
                size: 1,
                kind,
                archive,
                detections: Vec::new(),
                bundle_version: None,
            };
            let d = crate::decide(&policy, &facts, &crate::Redactor::default());
            if kind.is_document() || kind.is_container() {
                assert!(
                    matches!(d.content, crate::ContentDecision::Denied(_)),
                    "{kind:?} allowed by {policy:?}"
                );
            }
        }
    }

    /// Receipt parser and verifier with fixed keys: no panic.
    pub fn receipt(data: &[u8]) {
        use vitrine_note::{SignatureType, SignerKey};
        let Ok(r) = crate::ReceiptBundle::parse(data) else {
            return;
        };
        let k = |name, seed| {
            SignerKey::from_seed(name, SignatureType::Ed25519, [seed; 32])
                .expect("invariant: fixed key")
                .verifier()
        };
        let none = vitrine_tlog::Policy::parse(b"quorum none\n").expect("invariant: valid policy");
        let _ = r.verify(
            &k("intake.example", 1),
            &k("log.example", 2),
            &none,
            &crate::Expected {
                sample: [0; 32],
                policy_sha256: [0; 32],
                tenant: "t-1",
                endpoint: [0; 32],
                nonce: [0; 32],
                ledger_seq: 0,
                ledger_head: [0; 32],
                time: 1,
            },
        );
    }
}
