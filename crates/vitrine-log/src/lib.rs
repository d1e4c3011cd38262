//! Vitrine's transparency log: the sequencer, its storage seam, and two
//! backends. No HTTP here; `vitrine-server` puts axum in front of it.
//!
//! Main types: [`Log`] (built with [`Log::builder`]), the [`Storage`] trait
//! with [`FsStorage`] (embedded default: a data directory plus SQLite) and
//! [`MemoryStorage`] (tests, with fault injection), [`PgStorage`]
//! (PostgreSQL, shared by several front ends, one of which leads: see
//! [`Node`]), [`Authorization`] (who
//! may make which statements) and the [`Cosigner`] hook for witnesses.
//!
//! What's in scope: accepting signed statements, deduplicating them,
//! sequencing them in batches into C2SP tlog-tiles (tiles, entry bundles,
//! checkpoint), durability and crash recovery, and [`replay`] to re-verify
//! a log. Out of scope: HTTP, the witness protocol, monitoring.
//!
//! # Guarantees
//!
//! - [`Log::add`] resolves only after the entry's tiles, its dedup row and
//!   a signed checkpoint covering it are durable in storage.
//! - The log never signs two inconsistent checkpoints. A checkpoint is
//!   durably recorded as signed ([`Storage::set_signed_checkpoint`]) before
//!   any witness or reader sees it, and from then on the log is committed
//!   to its entries: if cosigning or publishing fails, or the process
//!   dies, the sequencer publishes *that* checkpoint (retrying with each
//!   batch, every [`LogBuilder::retry_interval`], and on start) before it
//!   sequences anything else. So a witness that cosigned a failed attempt
//!   never sees a fork.
//! - On start and after any failure the sequencer re-derives its state from
//!   storage: the signed checkpoint if it is ahead, else the published one.
//!   Entries of a batch that failed before its checkpoint was signed may be
//!   lost, but were never acknowledged; entries of a batch that failed
//!   after it get their index on resubmission once it is published.
//! - Identical entry bytes get the same index.
//!
//! ```
//! use std::sync::Arc;
//! use vitrine_log::{init, Authorization, Log, MemoryStorage};
//! use vitrine_note::{SignatureType, SignerKey};
//! use vitrine_statements::{Deletion, Sha256, Statement, StatementType, Text};
//!
//! let log_key = SignerKey::generate("log.example/vitrine", SignatureType::Ed25519)?;
//! let intake = SignerKey::generate("intake.example/1", SignatureType::Ed25519)?;
//! let storage = Arc::new(MemoryStorage::new());
//! init(&*storage, &log_key)?;
//! let log = Log::builder(storage, log_key)
//!     .authorization(Authorization::new().allow([StatementType::Deletion], intake.verifier()))
//!     .open()?;
//! let note = Statement::Deletion(Deletion {
//!     tenant: vitrine_statements::Token::new("t-1").unwrap(),
//!     sample: Sha256([1; 32]),
//!     reason: Text::new("retention expired").unwrap(),
//!     time: 1_767_225_600,
//! })
//! .sign(&intake)?;
//! assert_eq!(log.add_blocking(note.clone())?, 0);
//! assert_eq!(log.add_blocking(note)?, 0); // deduplicated
//! assert_eq!(log.size(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod datadir;
mod follower;
mod fs;
mod leader;
mod log;
mod mem;
mod merkle;
mod metrics;
mod migrate;
mod pg;
mod purpose;
mod replay;
mod storage;
mod tile;

use std::sync::Arc;

pub use auth::{Authorization, AuthorizationError, AuthorizedFile};
pub use datadir::{ContentStore, DataDir, DirFiles, AUTHORIZED_FILE, KEY_FILE, PURPOSE_FILE};
pub use fs::FsStorage;
pub use leader::{Node, NodeOptions, Role, DEFAULT_POLL};
pub use log::{init, CosignError, CosignRequest, Cosigner, Log, LogBuilder, DEFAULT_MAX_ENTRY};
pub use mem::{Fault, FaultyStorage, MemStore, MemoryStorage, Op};
pub use metrics::LogMetrics;
pub use migrate::{migrate, MigrateError};
pub use pg::{LeaderRecord, PgStorage};
pub use purpose::{Purpose, UnknownPurpose};
pub use replay::{replay, ReplayError};
pub use storage::{BatchWrite, Storage, StorageError};
pub use tile::covered_size;
pub use vitrine_pg::TestDatabase;

use vitrine_statements::StatementType;

/// A log failure (storage, corruption, configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage backend failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The store has no checkpoint: run [`init`] first.
    #[error("log is not initialised (no checkpoint)")]
    NotInitialized,
    /// [`init`] found a checkpoint already.
    #[error("log is already initialised")]
    AlreadyInitialized,
    /// Stored state contradicts the published checkpoint; the log refuses
    /// to sequence rather than risk a fork.
    #[error("log state is corrupt: {what}")]
    Corrupt {
        /// What does not match.
        what: String,
    },
    /// Signing the checkpoint failed (wrong key type).
    #[error("signing checkpoint: {0}")]
    Sign(vitrine_tlog::Error),
    /// The cosigner hook failed.
    #[error(transparent)]
    Cosign(#[from] CosignError),
    /// The sequencer thread could not start.
    #[error("starting sequencer thread: {err}")]
    Thread {
        /// The OS error.
        err: std::io::Error,
    },
}

/// Why [`Log::add`] did not log an entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The entry is larger than the log accepts.
    #[error("entry is {len} bytes, more than {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a signed note.
    #[error("malformed note: {0}")]
    MalformedNote(vitrine_note::Error),
    /// The note text is not a valid statement.
    #[error("malformed statement: {0}")]
    MalformedStatement(vitrine_statements::ParseError),
    /// Well-formed, but the log will not accept it from this signer.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The log could not sequence it now (storage failure); retrying is
    /// safe: an entry that was in fact logged gets its same index.
    #[error("log unavailable: {0}")]
    Unavailable(Arc<Error>),
    /// The log is shutting down.
    #[error("log is closed")]
    Closed,
    /// The authorization file cannot be used (it does not parse or cannot
    /// be read); the log refuses every statement until it is fixed.
    #[error("authorization file {path}: {reason}")]
    Authorization {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A security decision against a statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Statements must carry exactly one signature.
    #[error("{found} signatures, the log takes exactly one")]
    SignatureCount {
        /// How many the note had.
        found: usize,
    },
    /// The signer is not allowed to make this type of statement.
    #[error("{signer} may not make {kind} statements")]
    NotAllowed {
        /// The statement's type.
        kind: StatementType,
        /// The signature's key name.
        signer: String,
    },
    /// The statement belongs in the other log: a rules log takes no
    /// custody statements and a custody log no rules statements, whoever
    /// signs them.
    #[error("{kind} statements go to the {} log; this is the {purpose} log", Purpose::of(*kind))]
    WrongLog {
        /// The statement's type.
        kind: StatementType,
        /// This log's purpose.
        purpose: Purpose,
    },
    /// An `access` statement's `who` is not the name of the key that
    /// signed it.
    #[error("access statement says who = {who} but is signed by {signer}")]
    WhoNotSigner {
        /// The `who` field.
        who: String,
        /// The signing key's name.
        signer: String,
    },
    /// The signature by an allowed key does not verify.
    #[error("bad signature: {err}")]
    BadSignature {
        /// The verification error.
        err: vitrine_note::Error,
    },
}
