//! Vitrine's update client: the endpoint side of "The update check"
//! (DESIGN.md). An endpoint installs a rule bundle only if it is logged in
//! the policy's transparency log under a checkpoint cosigned by a quorum of
//! the policy's witnesses, consistent with everything it verified before,
//! fresh, unexpired, newer than the active one and, where required,
//! reviewed.
//!
//! # What's in scope / out of scope
//!
//! In scope: the [`TrustPolicy`] file, the [`EndpointState`] directory
//! (newest verified checkpoint, active bundle, fork evidence; atomic
//! writes), [`verify_update`] and [`activate`], fetching an update from a
//! log over HTTP ([`fetch_update`]) or from an update directory
//! ([`read_update_dir`]), and the publishing helper ([`publish`]).
//! Out of scope: compiling rules (the caller passes a compile check to
//! [`activate`]; the binary uses `vitrine-scan`), scanning, and the CLI.
//!
//! # Main types
//!
//! [`TrustPolicy`], [`EndpointState`], [`UpdateInput`], [`VerifiedUpdate`],
//! and [`UpdateError`] with the security verdicts in [`Rejection`].
//!
//! Verification cannot be weakened: there is no switch to skip a step.
//!
//! # Example
//!
//! ```
//! use vitrine_note::{Cosigner, SignatureType, SignerKey};
//!
//! let log = SignerKey::from_seed("example.com/log", SignatureType::Ed25519, [1; 32])?;
//! let w = Cosigner::new(SignerKey::from_seed("w.example", SignatureType::CosignatureV1, [2; 32])?)?;
//! let publisher = SignerKey::from_seed("publisher.example", SignatureType::Ed25519, [3; 32])?;
//! let text = format!(
//!     "log {}\nwitness w {}\nquorum w\npublisher {}\nmax-age 86400\n",
//!     log.verifier(), w.verifier(), publisher.verifier()
//! );
//! let policy = vitrine_client::TrustPolicy::parse(text.as_bytes())?;
//! assert_eq!(policy.max_age(), 86400);
//! assert_eq!(vitrine_client::TrustPolicy::parse(policy.to_text().as_bytes())?, policy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod net;
mod policy;
mod state;
mod verify;

pub use error::{FetchError, ForkKind, PolicyError, Rejection, UpdateError};
pub use net::{fetch_update, publish, FetchOptions, PublishOptions};
pub use policy::{TrustPolicy, UpdateLimits};
pub use state::{
    log_id, write_atomic, ActiveBundle, ActiveMetadata, CheckpointAfterClear, EndpointState,
    ForkEvidence,
};
pub use verify::{activate, verify_update, UpdateInput, VerifiedUpdate};

use std::io::Read;
use std::path::Path;

use base64::Engine;
use vitrine_tlog::Hash;

/// Bundle bytes, in an update directory and a stored bundle directory.
pub const BUNDLE_FILE: &str = "bundle";
/// The signed statement note.
pub const STATEMENT_FILE: &str = "bundle.statement";
/// The tlog-proof.
pub const PROOF_FILE: &str = "bundle.tlog-proof";
/// Optional consistency proof: base64 hashes, one per line.
pub const CONSISTENCY_FILE: &str = "bundle.consistency";
/// Optional directory of review statement notes (`*.statement`).
pub const REVIEWS_DIR: &str = "reviews";
/// Stored bundle metadata.
pub const METADATA_FILE: &str = "metadata.json";

/// Reads at most `limit` bytes of a file; more is an [`Rejection::Oversized`].
fn read_limited(path: &Path, what: &'static str, limit: usize) -> Result<Vec<u8>, UpdateError> {
    let io = |source| UpdateError::Io {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut data = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() > limit {
        return Err(Rejection::Oversized {
            what,
            size: data.len() as u64,
            limit: limit as u64,
        }
        .into());
    }
    Ok(data)
}

/// Formats a consistency proof for [`CONSISTENCY_FILE`].
pub fn format_consistency_proof(proof: &[Hash]) -> String {
    proof
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.encode(h) + "\n")
        .collect()
}

/// Parses a [`CONSISTENCY_FILE`]: up to 64 base64 hashes, one per line.
pub fn parse_consistency_proof(data: &[u8]) -> Result<Vec<Hash>, Rejection> {
    let bad = |reason: &str| Rejection::MalformedProof {
        reason: format!("consistency proof: {reason}"),
    };
    let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        if out.len() == vitrine_tlog::MAX_PROOF_HASHES {
            return Err(bad("too many lines"));
        }
        let h = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| bad("bad base64"))?;
        out.push(h.try_into().map_err(|_| bad("hash is not 32 bytes"))?);
    }
    Ok(out)
}

/// Reads an offline update directory (for air-gapped endpoints): `bundle`,
/// `bundle.statement`, `bundle.tlog-proof`, optional `bundle.consistency`
/// and `reviews/*.statement`, each read no further than its limit.
pub fn read_update_dir(dir: &Path, limits: &UpdateLimits) -> Result<UpdateInput, UpdateError> {
    let bundle = read_limited(&dir.join(BUNDLE_FILE), "bundle", limits.bundle)?;
    let statement = read_limited(&dir.join(STATEMENT_FILE), "statement", limits.statement)?;
    let tlog_proof = read_limited(&dir.join(PROOF_FILE), "tlog-proof", limits.proof)?;
    let cpath = dir.join(CONSISTENCY_FILE);
    let consistency_proof = if cpath.exists() {
        parse_consistency_proof(&read_limited(&cpath, "tlog-proof", limits.proof)?)?
    } else {
        Vec::new()
    };
    let mut reviews = Vec::new();
    let rdir = dir.join(REVIEWS_DIR);
    if rdir.is_dir() {
        let mut paths: Vec<_> = std::fs::read_dir(&rdir)
            .map_err(|source| UpdateError::Io {
                path: rdir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "statement"))
            .collect();
        paths.sort();
        for p in paths.into_iter().take(256) {
            reviews.push(read_limited(&p, "statement", limits.statement)?);
        }
    }
    Ok(UpdateInput {
        bundle,
        statement,
        tlog_proof,
        consistency_proof,
        reviews,
    })
}

/// Writes an offline update directory that [`read_update_dir`] reads.
pub fn write_update_dir(dir: &Path, input: &UpdateInput) -> Result<(), UpdateError> {
    std::fs::create_dir_all(dir).map_err(|source| UpdateError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_atomic(&dir.join(BUNDLE_FILE), &input.bundle)?;
    write_atomic(&dir.join(STATEMENT_FILE), &input.statement)?;
    write_atomic(&dir.join(PROOF_FILE), &input.tlog_proof)?;
    if !input.consistency_proof.is_empty() {
        write_atomic(
            &dir.join(CONSISTENCY_FILE),
            format_consistency_proof(&input.consistency_proof).as_bytes(),
        )?;
    }
    Ok(())
}
