//! Errors of the egress crate.

use std::path::PathBuf;

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is larger than [`crate::policy::MAX_POLICY_SIZE`].
    #[error("policy file is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("policy file is not UTF-8")]
    NotUtf8,
    /// TOML syntax, an unknown key, a wrong type or a missing key.
    #[error("{}{message}", span.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
    Toml {
        /// What the TOML reader said (names the key).
        message: String,
        /// 1-based line and column.
        span: Option<(usize, usize)>,
    },
    /// A value that parses but is not allowed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `content.kinds`.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Larger than [`crate::receipt::MAX_RECEIPT_SIZE`].
    #[error("receipt is {size} bytes, too large")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Not the receipt JSON form.
    #[error("malformed receipt: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The note is not a statement signed by the intake key.
    #[error("receipt statement refused: {reason}")]
    BadStatement {
        /// What is wrong.
        reason: String,
    },
    /// A statement of another type.
    #[error("expected a receipt statement, found {found}")]
    WrongType {
        /// The type found.
        found: &'static str,
    },
    /// A receipt for another sample.
    #[error("the receipt is for sample {found}, not {expected}")]
    WrongSample {
        /// What was sent.
        expected: String,
        /// What the receipt names.
        found: String,
    },
    /// A receipt naming another policy.
    #[error("the receipt names policy {found}, not {expected}")]
    WrongPolicy {
        /// The policy it was sent under.
        expected: String,
        /// What the receipt names.
        found: String,
    },
    /// A receipt for another tenant.
    #[error("the receipt is for tenant {found:?}, not {expected:?}")]
    WrongTenant {
        /// This endpoint's tenant.
        expected: String,
        /// What the receipt names.
        found: String,
    },
    /// A receipt for another endpoint's ledger.
    #[error("the receipt names endpoint key {found}, not this endpoint's {expected}")]
    WrongEndpoint {
        /// This endpoint's key id.
        expected: String,
        /// What the receipt names.
        found: String,
    },
    /// A receipt for another submission (replayed).
    #[error("the receipt carries nonce {found}, the submission sent {expected} (a receipt for another submission)")]
    WrongNonce {
        /// The submission's nonce.
        expected: String,
        /// What the receipt names.
        found: String,
    },
    /// A receipt naming another ledger position.
    #[error("the receipt names ledger entry {found_seq} with head {found_head}, the submission was entry {expected_seq} with head {expected_head}")]
    WrongLedgerPosition {
        /// The `sent` entry's sequence number.
        expected_seq: u64,
        /// Its hash.
        expected_head: String,
        /// What the receipt names.
        found_seq: u64,
        /// What the receipt names.
        found_head: String,
    },
    /// A receipt dated too far from the submission (replayed or stale).
    #[error("the receipt is dated {receipt_time}, the submission {sent_time}: more than {window} s apart (stale or replayed)")]
    Stale {
        /// The receipt's time.
        receipt_time: u64,
        /// The `sent` entry's time.
        sent_time: u64,
        /// The window allowed.
        window: u64,
    },
    /// The checkpoint it is proven in is not cosigned by a quorum of the
    /// configured witnesses.
    #[error("the receipt's checkpoint (size {size}) is not cosigned by a quorum of the configured witnesses (cosigned by: {})", if cosigned.is_empty() { "none".to_owned() } else { cosigned.join(", ") })]
    QuorumNotMet {
        /// The checkpoint's size.
        size: u64,
        /// Policy names of the witnesses that did cosign.
        cosigned: Vec<String>,
    },
    /// Its inclusion in the vendor's log could not be verified.
    #[error("the receipt is not proven to be in the vendor's log: {reason}")]
    NotIncluded {
        /// Why.
        reason: String,
    },
}

/// Why a ledger is not intact, or could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ledger directory is open to other users, or a file in it could
    /// not be written safely.
    #[error(transparent)]
    Private(#[from] vitrine_fs::FsError),
    /// A line that is not a ledger entry.
    #[error("ledger line {line}: malformed entry: {reason}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The entry's signature does not verify: it was changed, or signed by
    /// another key.
    #[error("ledger line {line}: entry {seq} does not carry a valid signature by the endpoint key (changed?)")]
    BadSignature {
        /// 1-based line.
        line: usize,
        /// The entry's sequence number.
        seq: u64,
    },
    /// The entry's sequence number is not its position: entries were
    /// removed or reordered.
    #[error("ledger line {line}: entry has sequence number {seq}, expected {expected} (entries removed or reordered)")]
    OutOfSequence {
        /// 1-based line.
        line: usize,
        /// Found.
        seq: u64,
        /// Expected.
        expected: u64,
    },
    /// The entry does not chain to the one before it.
    #[error(
        "ledger line {line}: entry {seq} does not follow the entry before it (hash chain broken)"
    )]
    ChainBroken {
        /// 1-based line.
        line: usize,
        /// The entry's sequence number.
        seq: u64,
    },
    /// The signed head names a longer or different ledger: entries were
    /// removed from the end, or the head does not belong to this ledger.
    #[error("the signed ledger head says {head_size} entries ending in {head_hash}, the ledger has {size} ending in {hash}")]
    HeadMismatch {
        /// Entries per the head.
        head_size: u64,
        /// Last entry hash per the head.
        head_hash: String,
        /// Entries in the file.
        size: u64,
        /// Last entry hash in the file.
        hash: String,
    },
    /// The head file is missing though entries exist, or is not signed by
    /// the endpoint key.
    #[error("ledger head: {reason}")]
    BadHead {
        /// What is wrong.
        reason: String,
    },
    /// A receipt that refers to no earlier egress entry.
    #[error("ledger entry {seq}: receipt for entry {of}, which is not an earlier egress")]
    DanglingReceipt {
        /// The receipt entry.
        seq: u64,
        /// The entry it refers to.
        of: u64,
    },
    /// The same receipt answers a second ledger entry.
    #[error("ledger entry {seq}: the receipt at log index {index} already answered ledger entry {first} (one receipt answers one submission)")]
    ReceiptReused {
        /// The receipt entry.
        seq: u64,
        /// The receipt's log index.
        index: u64,
        /// The receipt entry that used it first.
        first: u64,
    },
    /// A second receipt for a `sent` entry already answered.
    #[error("ledger entry {seq}: entry {of} already has a receipt (entry {first})")]
    AnsweredTwice {
        /// The receipt entry.
        seq: u64,
        /// The `sent` entry.
        of: u64,
        /// The receipt entry that answered it first.
        first: u64,
    },
    /// The custody log holds a receipt for this endpoint's ledger entry
    /// past the end of the local ledger: the ledger was rolled back
    /// (restored from an older copy) or removed.
    #[error("the vendor's log holds a receipt (log index {index}) for ledger entry {log_seq} of this endpoint, but the ledger has only {size} entries: it was rolled back or removed")]
    RolledBack {
        /// The receipt's log index.
        index: u64,
        /// The ledger entry it names.
        log_seq: u64,
        /// Entries in the local ledger.
        size: u64,
    },
    /// The custody log holds a receipt naming a different entry at a
    /// position of the local ledger: the ledger was replaced.
    #[error("the vendor's log holds a receipt (log index {index}) for ledger entry {log_seq} with head {log_head}, but the local entry {log_seq} hashes to {local_head}: the ledger was replaced")]
    Diverged {
        /// The receipt's log index.
        index: u64,
        /// The ledger entry it names.
        log_seq: u64,
        /// The head the receipt names.
        log_head: String,
        /// The local entry's hash.
        local_head: String,
    },
    /// The endpoint key is not the pinned one.
    #[error("the ledger key {found} is not the pinned endpoint key {pinned}")]
    NotPinned {
        /// The pinned key.
        pinned: String,
        /// The key found.
        found: String,
    },
    /// A receipt that does not verify.
    #[error("ledger entry {seq}: {source}")]
    Receipt {
        /// The receipt entry.
        seq: u64,
        /// Why it failed.
        source: ReceiptError,
    },
    /// Signing failed.
    #[error("signing the ledger: {0}")]
    Sign(#[from] vitrine_note::Error),
}
