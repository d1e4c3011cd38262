/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signed note layer rejected the input (format or signatures).
    #[error(transparent)]
    Note(#[from] vitrine_note::Error),
    /// A checkpoint body does not follow tlog-checkpoint §Note text.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// What is wrong.
        reason: &'static str,
    },
    /// A decimal number is empty, has leading zeros, non-digits or overflows.
    #[error("invalid decimal number in {field}")]
    InvalidNumber {
        /// Which field.
        field: &'static str,
    },
    /// Base64 that is not canonical standard encoding.
    #[error("invalid base64 in {field}")]
    InvalidBase64 {
        /// Which field.
        field: &'static str,
    },
    /// A hash that is not 32 bytes.
    #[error("{field} is {len} bytes, want 32")]
    InvalidHashLength {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A tile path does not follow tlog-tiles §Merkle Tree.
    #[error("malformed tile path: {reason}")]
    MalformedTilePath {
        /// What is wrong.
        reason: &'static str,
    },
    /// Tile contents of the wrong length for their path.
    #[error("tile {path} is {len} bytes, want {want}")]
    MalformedTile {
        /// The tile's path.
        path: String,
        /// Length received.
        len: usize,
        /// Length required by the width.
        want: usize,
    },
    /// A tile could not be fetched (returned by tile-fetching callbacks).
    #[error("tile {path} unavailable")]
    TileUnavailable {
        /// The tile's path.
        path: String,
    },
    /// An entry bundle does not follow tlog-tiles §Log entries.
    #[error("malformed entry bundle: {reason}")]
    MalformedEntryBundle {
        /// What is wrong.
        reason: &'static str,
    },
    /// A tree node or leaf outside the tree, or a size pair out of order.
    #[error("node (level {level}, index {index}) is not in a tree of size {size}")]
    OutOfRange {
        /// Node level (0 for leaves).
        level: u8,
        /// Node index within its level.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A hash source does not have a node it should have.
    #[error("hash for node (level {level}, index {index}) unavailable")]
    HashUnavailable {
        /// Node level.
        level: u8,
        /// Node index within its level.
        index: u64,
    },
    /// A tlog-proof does not follow c2sp.org/tlog-proof@v1 §Format.
    #[error("malformed tlog-proof: {reason}")]
    MalformedTlogProof {
        /// What is wrong.
        reason: &'static str,
    },
    /// A tlog-witness request or response body is malformed.
    #[error("malformed witness message: {reason}")]
    MalformedWitnessMessage {
        /// What is wrong.
        reason: &'static str,
    },
    /// A policy file does not follow tlog-policy.
    #[error("policy line {line}: {reason}")]
    MalformedPolicy {
        /// 1-based line number (0 for whole-file problems).
        line: usize,
        /// What is wrong.
        reason: PolicyIssue,
    },
    /// A proof or signature check failed: a security decision, see
    /// [`ProofError`].
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Why a policy line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyIssue {
    /// A byte outside the allowed character set.
    #[error("forbidden byte {byte:#04x}")]
    ForbiddenByte {
        /// The byte.
        byte: u8,
    },
    /// Names, keys and URLs must be UTF-8 in this implementation.
    #[error("not UTF-8")]
    NotUtf8,
    /// Wrong number of items on a line.
    #[error("wrong number of items")]
    Arity,
    /// The keyword is not one of log, witness, group, quorum.
    #[error("unknown keyword {keyword:?}")]
    UnknownKeyword {
        /// The keyword.
        keyword: String,
    },
    /// A vkey did not parse or has the wrong signature type.
    #[error("bad key: {reason}")]
    BadKey {
        /// What is wrong.
        reason: String,
    },
    /// The same public key is listed twice.
    #[error("duplicate key")]
    DuplicateKey,
    /// A name is defined twice, or is the reserved `none`.
    #[error("name {name:?} already defined or reserved")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A name is used before being defined.
    #[error("name {name:?} not defined on an earlier line")]
    UndefinedName {
        /// The name.
        name: String,
    },
    /// A name is listed as a group member more than once.
    #[error("name {name:?} is already a group member")]
    MemberListedTwice {
        /// The name.
        name: String,
    },
    /// The threshold is not all, any or 1 <= k <= n in decimal.
    #[error("bad threshold")]
    BadThreshold,
    /// Zero or several quorum lines.
    #[error("policy must have exactly one quorum line")]
    Quorum,
    /// An implementation limit was hit.
    #[error("too many {what}")]
    TooMany {
        /// logs, witnesses or groups.
        what: &'static str,
    },
}

/// Why a proof, checkpoint or tlog-proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The inclusion proof does not bind the leaf to the root.
    #[error("inclusion proof does not verify")]
    Inclusion,
    /// The consistency proof does not link the two roots.
    #[error("consistency proof does not verify")]
    Consistency,
    /// The checkpoint origin does not match the log key name.
    #[error("checkpoint origin {origin:?} does not match log key {key_name:?}")]
    OriginMismatch {
        /// Origin in the checkpoint.
        origin: String,
        /// Name of the log's verifier key.
        key_name: String,
    },
}
