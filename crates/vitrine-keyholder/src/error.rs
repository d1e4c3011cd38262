//! Errors: key handling, opening a keyholder, and the refusals a keyholder
//! answers with (each its own variant, code and HTTP status).

use std::path::PathBuf;

/// A key, share or wrapping could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key's text form is malformed.
    #[error("keyholder key: {reason}")]
    Malformed {
        /// Why.
        reason: &'static str,
    },
    /// k-of-n with k = 0, k > n or n > 255.
    #[error("threshold {threshold} of {keyholders} keyholders: need 1 <= threshold <= keyholders <= 255")]
    Threshold {
        /// k.
        threshold: usize,
        /// n.
        keyholders: usize,
    },
    /// HPKE sealing failed (a bad recipient key).
    #[error("sealing a share failed")]
    Seal,
    /// A sealed share does not open with this key for this binding.
    #[error("the share does not open: wrong key, tenant, sample or access")]
    Open,
    /// Fewer shares than the threshold.
    #[error("{have} shares, {need} needed")]
    TooFewShares {
        /// Shares available.
        have: usize,
        /// The threshold.
        need: usize,
    },
}

/// A keyholder data directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A configuration, policy or key file is invalid.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The record of honoured accesses could not be opened.
    #[error("{}: {reason}", path.display())]
    Db {
        /// The database.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The data directory or a file in it is not private to this user.
    #[error(transparent)]
    Private(#[from] vitrine_fs::FsError),
    /// `init` on a directory that already holds a key.
    #[error("{} already exists: this directory is already a keyholder", path.display())]
    Exists {
        /// The key file.
        path: PathBuf,
    },
}

/// Why a keyholder refused to release its share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request is malformed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// Why.
        reason: String,
    },
    /// The access is not a statement signed by an analyst this keyholder
    /// honours.
    #[error("not signed by an analyst this keyholder honours: {reason}")]
    NotAnAnalyst {
        /// Why.
        reason: String,
    },
    /// A statement of another type.
    #[error("a {kind} statement, not an access")]
    NotAnAccess {
        /// Its type.
        kind: String,
    },
    /// `who` is not the signing key's name.
    #[error("the access says who = {who} but is signed by {signer}")]
    WhoNotSigner {
        /// The `who` field.
        who: String,
        /// The signer.
        signer: String,
    },
    /// The analyst may not open this tenant's samples.
    #[error("analyst {who} may not open samples of tenant {tenant}")]
    AnalystNotForTenant {
        /// The analyst.
        who: String,
        /// The tenant.
        tenant: String,
    },
    /// The access names another tenant than the request.
    #[error("the access is for tenant {access}, the request for {request}")]
    WrongTenant {
        /// In the access.
        access: String,
        /// In the request.
        request: String,
    },
    /// The access names another sample than the request.
    #[error("the access is for sample {access}, the request for {request}")]
    WrongSample {
        /// In the access.
        access: String,
        /// In the request.
        request: String,
    },
    /// The access is not proven included in the custody log.
    #[error("the access is not proven logged: {reason}")]
    NotLogged {
        /// Why.
        reason: String,
    },
    /// The checkpoint lacks the policy's witness quorum.
    #[error("the checkpoint is not cosigned by the witness quorum (cosigned by: {})", if cosigned.is_empty() { "nobody".to_owned() } else { cosigned.join(", ") })]
    NoQuorum {
        /// Witnesses (policy names) that did cosign.
        cosigned: Vec<String>,
    },
    /// The access has expired.
    #[error("the access expired at {expires} (now {now})")]
    Expired {
        /// Its expiry, unix seconds.
        expires: u64,
        /// Now.
        now: u64,
    },
    /// The access is dated in the future.
    #[error("the access is dated {time}, in the future (now {now})")]
    NotYetValid {
        /// Its time.
        time: u64,
        /// Now.
        now: u64,
    },
    /// The access is valid for longer than this keyholder allows.
    #[error("the access is valid for {seconds} s, more than the {max} s allowed")]
    LifetimeTooLong {
        /// `expires - time`.
        seconds: u64,
        /// The limit.
        max: u64,
    },
    /// This access was honoured before: each is good for one release.
    #[error("this access was already honoured (at {first_honoured}); each access is good once")]
    Replayed {
        /// When it was first honoured, unix seconds.
        first_honoured: u64,
    },
    /// The share does not open here for this tenant and sample.
    #[error("the share does not open with this keyholder's key for this tenant and sample")]
    BadShare,
    /// The access's recipient is not a usable key.
    #[error("the access's recipient is not a usable X25519 key")]
    BadRecipient,
    /// The keyholder's own store failed.
    #[error("keyholder store: {reason}")]
    Store {
        /// Why.
        reason: String,
    },
}

impl Refusal {
    /// A stable machine-readable code for the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadRequest { .. } => "bad_request",
            Refusal::NotAnAnalyst { .. } => "not_an_analyst",
            Refusal::NotAnAccess { .. } => "not_an_access",
            Refusal::WhoNotSigner { .. } => "who_not_signer",
            Refusal::AnalystNotForTenant { .. } => "analyst_not_for_tenant",
            Refusal::WrongTenant { .. } => "wrong_tenant",
            Refusal::WrongSample { .. } => "wrong_sample",
            Refusal::NotLogged { .. } => "not_logged",
            Refusal::NoQuorum { .. } => "no_quorum",
            Refusal::Expired { .. } => "expired",
            Refusal::NotYetValid { .. } => "not_yet_valid",
            Refusal::LifetimeTooLong { .. } => "lifetime_too_long",
            Refusal::Replayed { .. } => "replayed",
            Refusal::BadShare => "bad_share",
            Refusal::BadRecipient => "bad_recipient",
            Refusal::Store { .. } => "internal",
        }
    }

    /// The HTTP status for it.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest { .. } => 400,
            Refusal::Replayed { .. } => 409,
            Refusal::Store { .. } => 500,
            _ => 403,
        }
    }
}
