use std::path::PathBuf;

/// Why an update was not installed. Security decisions are in
/// [`Rejection`] and the fork variants; everything else is plumbing (I/O,
/// network).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The update failed a security check; the active bundle is unchanged.
    /// (Not a `#[source]`: the message already says it, and error chains
    /// must not repeat their causes.)
    #[error("update rejected: {0}")]
    Rejected(Rejection),
    /// The log key signed two checkpoints that cannot both be true (proven,
    /// see [`ForkKind`]): fork evidence was written to `evidence` and the
    /// log is frozen until the owner clears it.
    #[error("log {origin:?} forked ({kind}); evidence kept in {}", evidence.display())]
    Fork {
        /// The log's origin.
        origin: String,
        /// What is inconsistent.
        kind: ForkKind,
        /// The evidence file.
        evidence: PathBuf,
    },
    /// Fork evidence for this log is on record; every update is refused
    /// until the owner clears it ([`crate::EndpointState::clear_fork`]).
    #[error("log {origin:?} is frozen by fork evidence in {}", evidence.display())]
    LogFrozenByFork {
        /// The log's origin.
        origin: String,
        /// The evidence file.
        evidence: PathBuf,
    },
    /// The compile check refused the bundle; the active bundle is unchanged.
    #[error("bundle does not compile: {message}")]
    CompileCheck {
        /// The compiler's message.
        message: String,
    },
    /// The endpoint state changed between verification and activation
    /// (another update ran); verify again.
    #[error("endpoint state changed since verification; verify again")]
    StateChanged,
    /// Reading or writing the endpoint state or update directory failed.
    /// (The I/O error is part of the message, not a `#[source]`: error
    /// chains must not repeat their causes.)
    #[error("{}: {error}", crate::escape(&path.display().to_string()))]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The endpoint state is corrupt (a file we wrote does not parse).
    #[error("corrupt endpoint state {}: {reason}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Talking to the log or content store failed.
    #[error("network: {0}")]
    Fetch(FetchError),
}

impl From<Rejection> for UpdateError {
    fn from(r: Rejection) -> Self {
        UpdateError::Rejected(r)
    }
}

impl From<FetchError> for UpdateError {
    fn from(e: FetchError) -> Self {
        UpdateError::Fetch(e)
    }
}

/// Which inconsistency a fork is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ForkKind {
    /// Two signed checkpoints of the same size with different roots.
    SameSizeDifferentRoot,
    /// The larger tree's own hashes (a consistency proof that reproduces
    /// its signed root) give another root at the smaller checkpoint's size.
    DifferentPrefix,
    /// Written by earlier versions when a consistency proof merely failed
    /// to verify; that is not proof of a fork. Still read, so that such
    /// records can be listed and cleared; never written.
    ConsistencyProofFailed,
}

impl std::fmt::Display for ForkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForkKind::SameSizeDifferentRoot => "same size, different root",
            ForkKind::DifferentPrefix => "the larger tree has another root at the smaller size",
            ForkKind::ConsistencyProofFailed => "consistency proof failed (not proof of a fork)",
        })
    }
}

/// A security check of the update failed (DESIGN.md, "The update check").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// An input exceeds its size limit (step 1: no endless data).
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    Oversized {
        /// `bundle`, `statement`, `tlog-proof` or `checkpoint`.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A file of an update directory is a symbolic link, FIFO, device or
    /// directory rather than a regular file (step 1).
    #[error("{} is not a regular file", crate::escape(&path.display().to_string()))]
    NotARegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The statement is not a well-formed signed note or statement.
    #[error("malformed statement: {reason}")]
    MalformedStatement {
        /// The parser's message.
        reason: String,
    },
    /// The statement is not of type `rules`.
    #[error("statement is of type {found}, not rules")]
    WrongStatementType {
        /// The type found.
        found: &'static str,
    },
    /// The bundle's SHA-256 is not the statement's (step 1).
    #[error("bundle hashes to {actual}, statement says {expected}")]
    BundleHashMismatch {
        /// From the statement, hex.
        expected: String,
        /// Of the bytes, hex.
        actual: String,
    },
    /// The bundle's size is not the statement's (step 1).
    #[error("bundle is {actual} bytes, statement says {expected}")]
    BundleSizeMismatch {
        /// From the statement.
        expected: u64,
        /// Of the bytes.
        actual: u64,
    },
    /// The bundle archive is invalid.
    #[error("invalid bundle: {reason}")]
    InvalidBundle {
        /// The parser's message.
        reason: String,
    },
    /// The statement names another bundle than the manifest does.
    #[error("manifest name is {manifest:?}, statement names bundle {statement:?}")]
    BundleNameMismatch {
        /// Manifest `name`.
        manifest: String,
        /// Statement `bundle`.
        statement: String,
    },
    /// The policy has `bundle` lines and none names this bundle: the
    /// endpoint does not follow its channel.
    #[error("bundle {name:?} is not a channel this policy follows (its bundle lines: {followed})")]
    NotFollowed {
        /// The bundle's name.
        name: String,
        /// The policy's channels, comma-separated.
        followed: String,
    },
    /// The manifest disagrees with the statement on version or times.
    #[error("manifest {field} is {manifest}, statement says {statement}")]
    ManifestMismatch {
        /// Which field.
        field: &'static str,
        /// Manifest value.
        manifest: u64,
        /// Statement value.
        statement: u64,
    },
    /// No publisher key of the policy signed the statement (step 2).
    #[error("statement is not signed by a publisher key of the policy")]
    UnknownPublisher,
    /// A publisher key's signature on the statement is invalid (step 2).
    #[error("statement signature by publisher {name:?} does not verify")]
    BadPublisherSignature {
        /// Key name.
        name: String,
    },
    /// The tlog-proof does not parse.
    #[error("malformed tlog-proof: {reason}")]
    MalformedProof {
        /// The parser's message.
        reason: String,
    },
    /// The checkpoint's origin is not a log of the policy (step 3).
    #[error("checkpoint origin {origin:?} is not a log of the policy")]
    UnknownLog {
        /// The origin.
        origin: String,
    },
    /// The checkpoint is not validly signed by the policy's log key (step 3).
    #[error("checkpoint for {origin:?} is not signed by the policy's log key")]
    BadLogSignature {
        /// The origin.
        origin: String,
    },
    /// A policy witness's cosignature is present but invalid (step 3).
    #[error("invalid cosignature by a policy witness: {reason}")]
    BadCosignature {
        /// The verifier's message.
        reason: String,
    },
    /// The policy witnesses that cosigned do not make a quorum (step 3).
    #[error("cosigned by {cosigned:?}: below the policy's quorum")]
    QuorumNotMet {
        /// Policy names of the witnesses that did cosign.
        cosigned: Vec<String>,
    },
    /// The inclusion proof does not bind the statement to the checkpoint
    /// (step 3).
    #[error("statement is not included at index {index} of the checkpoint")]
    NotIncluded {
        /// The claimed index.
        index: u64,
    },
    /// The new checkpoint is larger than the stored one but no consistency
    /// proof was given (step 4).
    #[error("no consistency proof from stored size {stored} to {new}")]
    MissingConsistencyProof {
        /// Stored tree size.
        stored: u64,
        /// New tree size.
        new: u64,
    },
    /// The consistency proof between the stored and the new checkpoint does
    /// not verify (step 4). Not evidence of a fork: a proof that does not
    /// reproduce the larger tree's signed root proves nothing.
    #[error("the consistency proof from size {from} to {to} does not verify")]
    BadConsistencyProof {
        /// The smaller tree size.
        from: u64,
        /// The larger tree size.
        to: u64,
    },
    /// The log's tiles and entry bundles do not hash to the signed
    /// checkpoint's root (step 3): a cache, a CDN or the log served wrong
    /// data.
    #[error("the log's tiles and entries do not match the signed checkpoint of size {size}")]
    LogDataMismatch {
        /// The checkpoint's tree size.
        size: u64,
    },
    /// The new checkpoint is smaller than the stored one and no proof shows
    /// it is a prefix of it (step 4).
    #[error("checkpoint size {new} is smaller than the stored {stored}")]
    OlderCheckpoint {
        /// Stored tree size.
        stored: u64,
        /// New tree size.
        new: u64,
    },
    /// The policy witnesses whose cosignatures are fresh (at most max-age
    /// old, not dated in the future beyond a small clock skew) do not make
    /// a quorum, or there are none (step 5: freeze attack).
    #[error("checkpoint is stale: fresh cosignatures from {fresh:?} do not make a quorum (newest cosignature {newest:?}, now {now}, max age {max_age}s)")]
    StaleCheckpoint {
        /// Newest policy-witness cosignature timestamp.
        newest: Option<u64>,
        /// Policy names of the witnesses whose cosignatures are fresh.
        fresh: Vec<String>,
        /// The time of the check.
        now: u64,
        /// The policy's max-age.
        max_age: u64,
    },
    /// The bundle expired (step 5).
    #[error("bundle expired at {expires}, now {now}")]
    Expired {
        /// The statement's expiry.
        expires: u64,
        /// The time of the check.
        now: u64,
    },
    /// The version is older than the active one (step 6).
    #[error("version {offered} is older than the active {active}: rollback")]
    Rollback {
        /// Active version.
        active: u64,
        /// Offered version.
        offered: u64,
    },
    /// The active version with different bytes (step 6): a publisher signed
    /// two bundles with one version.
    #[error("version {version} is active with different bytes")]
    SameVersionDifferentBundle {
        /// The version.
        version: u64,
    },
    /// A policy reviewer rejected the bundle (step 7).
    #[error("reviewer {} rejected the bundle (review at log index {index}{})", crate::escape(reviewer), comment.as_deref().map(|c| format!(": {}", crate::escape(c))).unwrap_or_default())]
    ReviewRejected {
        /// Reviewer key name.
        reviewer: String,
        /// Log index of the review.
        index: u64,
        /// The review's comment, if any.
        comment: Option<String>,
    },
    /// The statement acknowledges a lint finding the policy refuses
    /// (`refuse-finding`, step 7).
    #[error("the publisher acknowledged finding {} ({}), which the policy refuses (refuse-finding {pattern})", crate::escape(finding), crate::escape(reason))]
    RefusedFinding {
        /// The finding, `ID:RULE`.
        finding: String,
        /// The publisher's reason.
        reason: String,
        /// The policy's pattern that refuses it.
        pattern: String,
    },
    /// Too few policy reviewers approved the bundle (step 7).
    #[error("{approvals} approving reviews, the policy requires {required}")]
    NotEnoughReviews {
        /// Distinct approving policy reviewers.
        approvals: u64,
        /// The policy's require-reviews.
        required: u64,
    },
}

/// A network or protocol failure talking to the log or content store. Not
/// a security verdict: the update check runs on what was fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTP request failed.
    #[error("{}: {reason}", crate::escape(url))]
    Http {
        /// The URL.
        url: String,
        /// What failed: the innermost cause, said once.
        reason: String,
    },
    /// The server answered with an unexpected status.
    #[error("{}: HTTP {status}: {}", crate::escape(url), crate::escape(body))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body (as received; escaped when displayed).
        body: String,
    },
    /// The update's overall deadline passed (a slow or dripping server).
    #[error(
        "{}: the update's deadline of {} s passed",
        crate::escape(url),
        deadline_secs
    )]
    Deadline {
        /// The URL being fetched when it passed.
        url: String,
        /// The deadline, in seconds.
        deadline_secs: u64,
    },
    /// The response exceeds its size limit (reading stopped there).
    #[error("{}: response over {limit} bytes", crate::escape(url))]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The log's data does not fit together (malformed checkpoint, tile,
    /// entry bundle; no rules statement; proof construction failed).
    #[error("log data: {}", crate::escape(reason))]
    Log {
        /// What is wrong.
        reason: String,
    },
    /// The log served a checkpoint that fails the policy.
    #[error("checkpoint: {0}")]
    Checkpoint(Rejection),
    /// No quorum-cosigned checkpoint covering the entry appeared in time.
    #[error("no checkpoint with a witness quorum covering index {index} after {waited_ms} ms")]
    Timeout {
        /// The entry index.
        index: u64,
        /// Time waited.
        waited_ms: u64,
    },
}

/// Why a trust policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A tlog-policy line is invalid (`log`, `witness`, `group`, `quorum`).
    #[error("{0}")]
    Tlog(vitrine_tlog::Error),
    /// A Vitrine extension line is invalid.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A required line is absent.
    #[error("policy has no {keyword} line")]
    Missing {
        /// The keyword.
        keyword: &'static str,
    },
}
