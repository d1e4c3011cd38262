/// Why [`crate::Witness::add_checkpoint`] did not cosign, or why a witness
/// could not be configured.
///
/// tlog-witness §add-checkpoint fixes an HTTP status for each refusal; the
/// mapping lives in the HTTP crate, and each variant names its status here
/// so the two can be checked against each other.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The request body is not an add-checkpoint request (bad old line,
    /// more than 63 proof lines, malformed checkpoint or note). 400.
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(#[source] vitrine_tlog::Error),
    /// The old size is larger than the checkpoint size. 400.
    #[error("old size {old_size} is larger than checkpoint size {checkpoint_size}")]
    OldSizeTooLarge {
        /// `old` line of the request.
        old_size: u64,
        /// Size in the checkpoint.
        checkpoint_size: u64,
    },
    /// This witness is not configured for the checkpoint's origin. 404.
    #[error("unknown log origin {origin:?}")]
    UnknownOrigin {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// A security decision against the checkpoint: see [`Refusal`].
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The state store failed; nothing was cosigned. 500.
    #[error("witness store: {0}")]
    Store(#[from] StoreError),
    /// Producing the cosignature failed (e.g. a clock beyond 2^63-1). 500.
    #[error("cosigning: {0}")]
    Cosign(#[source] vitrine_note::Error),
    /// A configured log key is unusable (not an Ed25519 `0x01` key).
    #[error("log key {name:?} has signature type {type_byte:#04x}, want Ed25519 (0x01)")]
    InvalidLogKey {
        /// Key name (the origin).
        name: String,
        /// Its signature type byte.
        type_byte: u8,
    },
    /// A line of a log list file (see [`crate::parse_log_list`]) is wrong.
    #[error("log list line {line}: {reason}")]
    LogList {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The witness refused to cosign a correctly formed request: the log is
/// untrusted, out of date, or misbehaving (tlog-witness §add-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No signature verified against the origin's trusted keys (or one from
    /// a trusted key failed). 403.
    #[error("checkpoint for {origin:?} has no valid signature from a trusted log key")]
    Untrusted {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// The old size is not the size this witness last cosigned. 409 with
    /// `current_size` in a `text/x.tlog.size` body.
    #[error("old size {old_size} does not match the latest cosigned size {current_size}")]
    OldSizeMismatch {
        /// `old` line of the request.
        old_size: u64,
        /// Size of the latest cosigned checkpoint (0 if none).
        current_size: u64,
    },
    /// Same size as the latest cosigned checkpoint but a different root
    /// hash: the log signed two different trees of one size (a fork). 409.
    #[error("checkpoint of size {size} has a different root than the one cosigned")]
    RootMismatch {
        /// The tree size of both checkpoints.
        size: u64,
    },
    /// The consistency proof does not link the cosigned checkpoint to the new
    /// one: the log may have forked. 422.
    #[error("consistency proof from {old_size} to {checkpoint_size} does not verify")]
    InconsistentProof {
        /// `old` line of the request (the cosigned size).
        old_size: u64,
        /// Size in the checkpoint.
        checkpoint_size: u64,
    },
    /// A non-empty proof where the spec requires none (old size 0, or old
    /// size equal to the checkpoint size). 422.
    #[error("consistency proof must be empty from size {old_size} to {checkpoint_size}")]
    ProofNotEmpty {
        /// `old` line of the request.
        old_size: u64,
        /// Size in the checkpoint.
        checkpoint_size: u64,
    },
}

impl Refusal {
    /// For a 409 on the old size, the size the client must resend from.
    pub fn current_size(&self) -> Option<u64> {
        match self {
            Refusal::OldSizeMismatch { current_size, .. } => Some(*current_size),
            Refusal::RootMismatch { size } => Some(*size),
            _ => None,
        }
    }
}

/// A [`crate::WitnessStore`] failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded SQLite database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed (after retries for lost
    /// connections).
    #[error("postgres: {0}")]
    Postgres(#[from] vitrine_pg::PgError),
    /// Stored data does not decode (a root that is not 32 bytes, a size
    /// beyond 2^63-1): the store was damaged or written by something else.
    #[error("corrupt witness state for {origin:?}: {what}")]
    Corrupt {
        /// The log whose row is damaged.
        origin: String,
        /// What does not decode.
        what: &'static str,
    },
    /// A tree size the database cannot hold (both store signed 64-bit
    /// integers).
    #[error("tree size {size} is beyond 2^63-1")]
    SizeOutOfRange {
        /// The size.
        size: u64,
    },
}
