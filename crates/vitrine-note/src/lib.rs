//! C2SP [signed notes](https://c2sp.org/signed-note@v1.0.0) with Ed25519
//! signatures (type `0x01`) and timestamped Ed25519 witness cosignatures
//! ([`cosignature/v1`](https://c2sp.org/tlog-cosignature@v1.0.1), type `0x04`).
//!
//! # What's in scope / out of scope
//!
//! In scope: key IDs and key-name rules, verifier-key (`vkey`) and signer-key
//! text forms, strict parsing and byte-exact formatting of signed notes with
//! size and signature-count limits, signing, and verification following the
//! spec's rules for unknown, known and failing keys. Cosignature v1 signing
//! and verification, including the timestamp.
//!
//! Out of scope: any I/O (HTTP, storage, files), async, other signature types
//! (ECDSA `0x02`, RFC 6962 `0x05`, ML-DSA), and the meaning of the note text —
//! checkpoints live in `vitrine-tlog`.
//!
//! # Main types
//!
//! - [`Note`]: a parsed signed note (text plus [`Signature`] lines).
//! - [`VerifierKey`] and the [`Verifiers`] collection: public keys a note is
//!   checked against; [`Note::verify`] returns [`VerifiedSignature`]s.
//! - [`SignerKey`]: a private key (`PRIVATE+KEY+...` text form, as Go's
//!   `golang.org/x/mod/sumdb/note`), and [`Cosigner`] for `cosignature/v1`.
//! - [`Error`], with the security outcomes in [`VerificationError`].
//!
//! # Example
//!
//! ```
//! use vitrine_note::{Note, VerifierKey, Verifiers};
//!
//! // The worked example from signed-note §Verifier keys.
//! let vkey: VerifierKey =
//!     "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".parse()?;
//! let note = Note::parse(
//!     "This is an example message.\n\n\
//!      — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
//!         .as_bytes(),
//! )?;
//! let verified = note.verify(&Verifiers::from_keys([vkey]))?;
//! assert_eq!(verified[0].name(), "example.com/foo");
//! assert_eq!(note.text(), "This is an example message.\n");
//! # Ok::<(), vitrine_note::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod key;
mod note;

pub use error::{Error, VerificationError};
pub use key::{
    cosignature_message, key_id, validate_key_name, Cosigner, SignatureType, SignerKey,
    VerifierKey, Verifiers,
};
pub use note::{Limits, Note, Signature, VerifiedSignature};

/// Default maximum size of a whole signed note in bytes (1 MiB).
pub const DEFAULT_MAX_NOTE_SIZE: usize = 1 << 20;

/// Default maximum number of signature lines (the spec requires at least 16).
pub const DEFAULT_MAX_SIGNATURES: usize = 100;

/// Largest timestamp a `cosignature/v1` may carry (tlog-cosignature §Format).
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = (1 << 63) - 1;
