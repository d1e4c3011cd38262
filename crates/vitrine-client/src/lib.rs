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
pub use net::{
    fetch_update, publish, read_log, store_up_to_date, FetchOptions, Fetched, LogStatements,
    PublishOptions, UpToDate, DEFAULT_DEADLINE_SECS,
};
pub use policy::{valid_channel, OnExpiry, TrustPolicy, UpdateLimits};
pub use state::{
    log_id, write_atomic, ActiveBundle, ActiveMetadata, CheckpointAfterClear, EndpointState,
    ForkEvidence, ForkRecord,
};
pub use verify::{
    activate, policy_review, verify_update, LoggedReview, UpdateInput, VerifiedUpdate,
    MAX_CLOCK_SKEW,
};

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
/// Optional directory of review statement notes (`NAME.statement`, each
/// with its `NAME.tlog-proof`).
pub const REVIEWS_DIR: &str = "reviews";
/// Stored bundle metadata.
pub const METADATA_FILE: &str = "metadata.json";

/// Opens a file of an update directory for reading without following a
/// symbolic link and without blocking on a FIFO or device (`O_NOFOLLOW`,
/// `O_NONBLOCK`), and refuses anything but a regular file.
fn open_regular(path: &Path) -> Result<std::fs::File, UpdateError> {
    let io = |source| UpdateError::Io {
        path: path.to_owned(),
        error: source,
    };
    let not_regular = || {
        UpdateError::from(Rejection::NotARegularFile {
            path: path.to_owned(),
        })
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = match opts.open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a symbolic link fails with ELOOP.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_regular()),
        Err(e) => return Err(io(e)),
    };
    if !f.metadata().map_err(io)?.is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

/// Whether an entry of an update directory exists, without following a
/// symbolic link (a link is then refused by [`open_regular`]).
fn entry_exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Reads at most `limit` bytes of a regular file; more is an
/// [`Rejection::Oversized`].
fn read_limited(path: &Path, what: &'static str, limit: usize) -> Result<Vec<u8>, UpdateError> {
    let f = open_regular(path)?;
    let mut data = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|source| UpdateError::Io {
            path: path.to_owned(),
            error: source,
        })?;
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

/// Escapes what came from the network or from file names for a terminal:
/// control characters (C0, DEL, C1) and Unicode bidirectional controls
/// become `\u{..}` escapes (`\n`, `\r`, `\t` as such), so a hostile
/// server cannot move the cursor, ring the bell or fake output lines.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`escape`] of bytes, invalid UTF-8 replaced.
pub fn escape_bytes(b: &[u8]) -> String {
    escape(&String::from_utf8_lossy(b))
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
/// and `reviews/NAME.statement` with `reviews/NAME.tlog-proof`, each read
/// no further than its limit. Every
/// file must be a regular file: a symbolic link, FIFO or device is refused
/// ([`Rejection::NotARegularFile`]) without being opened for reading.
pub fn read_update_dir(dir: &Path, limits: &UpdateLimits) -> Result<UpdateInput, UpdateError> {
    let bundle = read_limited(&dir.join(BUNDLE_FILE), "bundle", limits.bundle)?;
    let statement = read_limited(&dir.join(STATEMENT_FILE), "statement", limits.statement)?;
    let tlog_proof = read_limited(&dir.join(PROOF_FILE), "tlog-proof", limits.proof)?;
    let cpath = dir.join(CONSISTENCY_FILE);
    let consistency_proof = if entry_exists(&cpath) {
        parse_consistency_proof(&read_limited(&cpath, "tlog-proof", limits.proof)?)?
    } else {
        Vec::new()
    };
    let mut reviews = Vec::new();
    let rdir = dir.join(REVIEWS_DIR);
    let rdir_is_dir = std::fs::symlink_metadata(&rdir).is_ok_and(|m| m.is_dir());
    if entry_exists(&rdir) && !rdir_is_dir {
        return Err(Rejection::NotARegularFile { path: rdir }.into());
    }
    if rdir_is_dir {
        let mut paths: Vec<_> = std::fs::read_dir(&rdir)
            .map_err(|source| UpdateError::Io {
                path: rdir.clone(),
                error: source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "statement"))
            .collect();
        paths.sort();
        for p in paths.into_iter().take(256) {
            let statement = read_limited(&p, "statement", limits.statement)?;
            let proof_path = p.with_extension("tlog-proof");
            let tlog_proof = if entry_exists(&proof_path) {
                read_limited(&proof_path, "tlog-proof", limits.proof)?
            } else {
                Vec::new() // not logged: does not count
            };
            reviews.push(LoggedReview {
                statement,
                tlog_proof,
            });
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
        error: source,
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
    if !input.reviews.is_empty() {
        let rdir = dir.join(REVIEWS_DIR);
        std::fs::create_dir_all(&rdir).map_err(|source| UpdateError::Io {
            path: rdir.clone(),
            error: source,
        })?;
        for (i, r) in input.reviews.iter().enumerate() {
            write_atomic(&rdir.join(format!("{i:03}.statement")), &r.statement)?;
            if !r.tlog_proof.is_empty() {
                write_atomic(&rdir.join(format!("{i:03}.tlog-proof")), &r.tlog_proof)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_terminal_control() {
        assert_eq!(
            escape("\u{1b}[2K\rACTIVATED\u{7}\n\u{202e}x\u{9b}ok é"),
            "\\u{1b}[2K\\rACTIVATED\\u{7}\\n\\u{202e}x\\u{9b}ok é"
        );
        assert_eq!(escape_bytes(b"a\xffb\x00"), "a\u{fffd}b\\u{0}");
    }
}
