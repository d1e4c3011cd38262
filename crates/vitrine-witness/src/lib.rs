//! A [C2SP tlog-witness](https://c2sp.org/tlog-witness@v1.0.0): the
//! add-checkpoint state machine and the store that makes it durable.
//!
//! # What's in scope / out of scope
//!
//! In scope: the checks of tlog-witness §add-checkpoint in the spec's order
//! (origin, log signature, old size, stored size, root, consistency proof),
//! `cosignature/v1` signing, persisting the latest cosigned checkpoint per
//! log atomically with the check, keeping refused-but-signed requests as
//! evidence of a fork, and the log list file a witness is configured with.
//!
//! Out of scope: HTTP and its status codes (`vitrine-witness-http`), async,
//! key storage, and the log side of the protocol.
//!
//! # Main types
//!
//! - [`Witness`], built with [`Witness::builder`]: [`Witness::add_checkpoint`]
//!   takes a request body and returns the cosignature, or a
//!   [`WitnessError`] whose security outcomes are in [`Refusal`].
//! - The [`WitnessStore`] trait (its contract is a compare-and-swap), with
//!   [`MemoryStore`], [`SqliteStore`] (the embedded default) and [`PgStore`]
//!   (PostgreSQL, for witnesses without local state).
//! - [`Evidence`]: what a refused fork leaves behind.
//!
//! # Trust model
//!
//! A witness trusts nobody who talks to it: requests carry no
//! authentication beyond the log's signature on the checkpoint. Its one
//! promise is that it never cosigns two checkpoints of one log that are not
//! consistent with each other; that rests on the store's compare-and-swap
//! and on the witness key staying secret.
//!
//! # Example
//!
//! ```
//! use vitrine_note::{Cosigner, SignatureType, SignerKey, Verifiers};
//! use vitrine_tlog::{consistency_proof, AddCheckpointRequest, Checkpoint, MemoryTree};
//! use vitrine_witness::{Refusal, Witness, WitnessError};
//!
//! let log = SignerKey::generate("log.example/a", SignatureType::Ed25519)?;
//! let key = SignerKey::generate("witness.example/w1", SignatureType::CosignatureV1)?;
//! let witness = Witness::builder(Cosigner::new(key)?).log(log.verifier()).build()?;
//!
//! let mut tree = MemoryTree::new();
//! for i in 0..5u8 {
//!     tree.push_data(&[i]);
//! }
//! let note = Checkpoint::new("log.example/a", 5, tree.root()).sign(&log)?;
//! // First contact: old size 0, empty proof.
//! let req = AddCheckpointRequest::new(0, vec![], note.clone())?;
//! let sigs = witness.add_checkpoint(&req.to_bytes())?;
//!
//! let mut cosigned = note.clone();
//! cosigned.add_signature(sigs[0].clone());
//! cosigned.verify(&Verifiers::from_keys([witness.verifier()]))?;
//!
//! // Replaying the first request is now stale: 409 with the size to use.
//! let err = witness.add_checkpoint(&req.to_bytes()).unwrap_err();
//! assert!(matches!(err, WitnessError::Refused(Refusal::OldSizeMismatch { current_size: 5, .. })));
//!
//! tree.push_data(b"six");
//! let next = Checkpoint::new("log.example/a", 6, tree.root()).sign(&log)?;
//! let proof = consistency_proof(&tree, 5, 6)?;
//! witness.add_checkpoint(&AddCheckpointRequest::new(5, proof, next)?.to_bytes())?;
//! assert_eq!(witness.state("log.example/a")?.map(|s| s.size), Some(6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod pg;
mod sqlite;
mod store;
mod witness;

pub use error::{Refusal, StoreError, WitnessError};
pub use pg::PgStore;
pub use sqlite::SqliteStore;
pub use store::{
    Evidence, EvidenceKind, LogState, MemoryStore, WitnessStore, MAX_EVIDENCE_PER_LOG,
};
pub use witness::{format_log_line, parse_log_list, Witness, WitnessBuilder};
