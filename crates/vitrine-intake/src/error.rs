//! Errors of the intake and vault.

use std::path::PathBuf;

/// Why `intake.toml` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// TOML syntax, unknown key, wrong type or missing key.
    #[error("{message}")]
    Toml {
        /// What the TOML reader said (names the key).
        message: String,
    },
    /// A value that parses but is not allowed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `tenant[0].id`.
        field: String,
        /// Why.
        reason: String,
    },
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL failed (after retries for lost connections).
    #[error("postgres: {0}")]
    Postgres(#[from] vitrine_pg::PgError),
    /// Content arrived but no keyholder is configured to seal its key to.
    #[error("no keyholders are configured: content cannot be stored (add one with `vitrine intake keyholder add`)")]
    NoKeyholders,
    /// Splitting or sealing the data key failed.
    #[error("sealing the data key's shares: {0}")]
    Shares(String),
    /// The sample has no content to decrypt (metadata only, or destroyed).
    #[error("no content is held for this sample (metadata only, or destroyed)")]
    NoContent,
    /// Authenticated decryption failed: wrong key or damaged data.
    #[error("the sample does not decrypt (wrong key or damaged data)")]
    Decrypt,
    /// The data directory (or a file in it) is open to other users, or a
    /// private file could not be written safely.
    #[error(transparent)]
    Private(#[from] vitrine_fs::FsError),
}

/// Talking to the vendor's log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The request failed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The log answered an error status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The log's answer made no sense.
    #[error("log protocol: {reason}")]
    Protocol {
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint is not signed by the log key.
    #[error("log checkpoint refused: {reason}")]
    Checkpoint {
        /// Why.
        reason: String,
    },
    /// No checkpoint covered the entry in time.
    #[error("no checkpoint covers index {index} yet")]
    NotCovered {
        /// The entry's index.
        index: u64,
    },
    /// The inclusion proof does not verify.
    #[error("inclusion proof: {reason}")]
    Proof {
        /// Why.
        reason: String,
    },
}

/// Why the vault refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The key is not one of the configured analysts.
    #[error("{name} is not an analyst of this intake")]
    NotAnAnalyst {
        /// The key's name.
        name: String,
    },
    /// No tenant holds content for this sample.
    #[error("no sample {sample} with content is held")]
    NoSuchSample {
        /// The sample.
        sample: String,
    },
    /// Several tenants hold the sample; name one.
    #[error("sample {sample} is held for several tenants ({tenants}); name one with --tenant")]
    Ambiguous {
        /// The sample.
        sample: String,
        /// The tenants.
        tenants: String,
    },
    /// The purpose or analyst name is not a valid statement value.
    #[error("{field}: {reason}")]
    BadValue {
        /// `purpose` or `who`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The access is not (provably) logged: nothing is released.
    #[error("access not logged, nothing released: {reason}")]
    AccessNotLogged {
        /// Why.
        reason: String,
    },
    /// Fewer keyholders than the threshold released their share: nothing
    /// was decrypted. Lists each keyholder's answer.
    #[error("{released} of {needed} keyholder shares released, nothing decrypted:{}", failures.iter().map(|(k, e)| format!("\n  {k}: {e}")).collect::<String>())]
    TooFewShares {
        /// Shares released.
        released: usize,
        /// Shares needed.
        needed: usize,
        /// Each keyholder that did not release, and why.
        failures: Vec<(String, String)>,
    },
    /// The intake's configuration lacks what the vault needs.
    #[error("intake configuration: {0}")]
    Config(String),
    /// A test hook stopped the vault (stands in for a crash).
    #[error("stopped at failpoint {0}")]
    Failpoint(&'static str),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an endpoint could not submit, verify or audit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The endpoint key file is invalid.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The policy file is invalid.
    #[error("{}: {source}", path.display())]
    Policy {
        /// The file.
        path: PathBuf,
        /// Why.
        source: vitrine_egress::PolicyError,
    },
    /// The destination file is invalid.
    #[error("{}: {source}", path.display())]
    Destination {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ConfigError,
    },
    /// No pinned endpoint key: verification has nothing outside the
    /// state directory to trust.
    #[error("no pinned endpoint key at {}: `vitrine egress init` pins it (or set VITRINE_EGRESS_PIN / --pin to the file that holds it)", path.display())]
    NoPin {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The custody log's current checkpoint is not cosigned by a quorum
    /// of the configured witnesses: its entries cannot anchor the ledger.
    #[error("the custody log's current checkpoint (size {size}) is not cosigned by a quorum of the configured witnesses (cosigned by: {}): it cannot anchor the ledger", if cosigned.is_empty() { "none".to_owned() } else { cosigned.join(", ") })]
    LogQuorumNotMet {
        /// The checkpoint's size.
        size: u64,
        /// Policy names of the witnesses that did cosign.
        cosigned: Vec<String>,
    },
    /// The pin file is invalid.
    #[error("{}: {reason}", path.display())]
    Pin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No destination is configured.
    #[error("no destination configured: write {} (see `vitrine egress init --help`)", path.display())]
    NoDestination {
        /// Where it is expected.
        path: PathBuf,
    },
    /// The ledger is not intact or could not be written.
    #[error(transparent)]
    Ledger(#[from] vitrine_egress::LedgerError),
    /// Sending failed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The intake refused the submission.
    #[error("the intake refused the submission: HTTP {status}: {body}")]
    Refused {
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
    /// The receipt did not verify.
    #[error(transparent)]
    Receipt(#[from] vitrine_egress::ReceiptError),
    /// The egress state directory is open to other users, or a private
    /// file in it could not be written safely.
    #[error(transparent)]
    Private(#[from] vitrine_fs::FsError),
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A receipt's checkpoint is not consistent with the log's current
    /// one: the log forked (or the proof is forged).
    #[error(
        "ledger entry {seq}: the receipt's checkpoint is not consistent with the log: {source}"
    )]
    Inconsistent {
        /// The receipt entry.
        seq: u64,
        /// Why.
        source: LogError,
    },
}
