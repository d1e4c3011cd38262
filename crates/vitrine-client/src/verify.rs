//! The update check (DESIGN.md, "The update check", steps 1–7) and
//! activation.

use std::collections::BTreeSet;

use base64::Engine;
use sha2::{Digest, Sha256};
use vitrine_bundle::Bundle;
use vitrine_note::{Note, VerificationError, Verifiers};
use vitrine_statements::{Rules, Statement, Verdict};
use vitrine_tlog::{leaf_hash, verify_consistency, verify_inclusion, Checkpoint, Hash, TlogProof};

use crate::state::{hex_hash, ActiveBundle, ActiveMetadata, EndpointState, ForkEvidence};
use crate::{ForkKind, Rejection, TrustPolicy, UpdateError};

/// What an update consists of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateInput {
    /// The bundle archive.
    pub bundle: Vec<u8>,
    /// The signed `rules` statement note, exactly as logged.
    pub statement: Vec<u8>,
    /// The tlog-proof of the statement.
    pub tlog_proof: Vec<u8>,
    /// Consistency proof between the stored checkpoint and the proof's
    /// (from the smaller to the larger); empty if none is needed.
    pub consistency_proof: Vec<Hash>,
    /// Signed `review` statement notes about the bundle.
    pub reviews: Vec<Vec<u8>>,
}

/// An update that passed every check, ready for [`activate`].
#[derive(Debug, Clone)]
pub struct VerifiedUpdate {
    /// The parsed bundle.
    pub bundle: Bundle,
    /// The `rules` statement.
    pub rules: Rules,
    /// The log's origin.
    pub origin: String,
    /// The statement's index in the log.
    pub index: u64,
    /// The checkpoint it is included in.
    pub checkpoint: Checkpoint,
    /// Policy names of the witnesses that cosigned it.
    pub witnesses: Vec<String>,
    /// When it was verified.
    pub verified_at: u64,
    /// Whether the checkpoint is newer than the stored one.
    pub advances_checkpoint: bool,
    stored_before: Option<(u64, Hash)>,
    input: UpdateInput,
    checkpoint_note: Vec<u8>,
    active_before: Option<ActiveMetadata>,
}

fn oversized(what: &'static str, size: usize, limit: usize) -> Result<(), Rejection> {
    if size > limit {
        return Err(Rejection::Oversized {
            what,
            size: size as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// Runs the update check: DESIGN.md steps 1–7 in order, each failure with
/// its own [`Rejection`]. Reads the endpoint state; writes only fork
/// evidence (step 4).
pub fn verify_update(
    policy: &TrustPolicy,
    state: &EndpointState,
    now: u64,
    input: UpdateInput,
) -> Result<VerifiedUpdate, UpdateError> {
    let limits = policy.limits();
    // Step 1: size limits everywhere, then the bundle is what the statement names.
    oversized("bundle", input.bundle.len(), limits.bundle)?;
    oversized("statement", input.statement.len(), limits.statement)?;
    oversized("tlog-proof", input.tlog_proof.len(), limits.proof)?;
    let malformed = |e: &dyn std::fmt::Display| Rejection::MalformedStatement {
        reason: e.to_string(),
    };
    let note = Note::parse(&input.statement).map_err(|e| malformed(&e))?;
    let statement = Statement::parse(note.text().as_bytes()).map_err(|e| malformed(&e))?;
    let rules = match statement {
        Statement::Rules(r) => r,
        other => {
            return Err(Rejection::WrongStatementType {
                found: other.kind().name(),
            }
            .into())
        }
    };
    let digest: [u8; 32] = Sha256::digest(&input.bundle).into();
    if digest != rules.sha256.0 {
        return Err(Rejection::BundleHashMismatch {
            expected: hex::encode(rules.sha256.0),
            actual: hex::encode(digest),
        }
        .into());
    }
    if input.bundle.len() as u64 != rules.size {
        return Err(Rejection::BundleSizeMismatch {
            expected: rules.size,
            actual: input.bundle.len() as u64,
        }
        .into());
    }
    let bundle = Bundle::parse(&input.bundle, &limits.bundle_parts).map_err(|e| {
        Rejection::InvalidBundle {
            reason: e.to_string(),
        }
    })?;
    let m = bundle.manifest();
    for (field, manifest, statement) in [
        ("version", m.version, rules.version),
        ("created", m.created, rules.created),
        ("expires", m.expires, rules.expires),
    ] {
        if manifest != statement {
            return Err(Rejection::ManifestMismatch {
                field,
                manifest,
                statement,
            }
            .into());
        }
    }

    // Step 2: signed by a publisher of the policy.
    match note.verify(&policy.publisher_verifiers()) {
        Ok(_) => {}
        Err(vitrine_note::Error::Verification(VerificationError::BadSignature {
            name, ..
        })) => return Err(Rejection::BadPublisherSignature { name }.into()),
        Err(_) => return Err(Rejection::UnknownPublisher.into()),
    }

    // Step 3: included in a checkpoint of the policy's log, cosigned by a quorum.
    let proof = TlogProof::parse(&input.tlog_proof).map_err(|e| Rejection::MalformedProof {
        reason: e.to_string(),
    })?;
    let cp_note = proof.note();
    let cp_bytes = cp_note.to_bytes();
    oversized("checkpoint", cp_bytes.len(), limits.checkpoint)?;
    let cp = proof.checkpoint().clone();
    let origin = cp.origin.clone();
    let log = policy
        .tlog()
        .log_for_origin(&origin)
        .ok_or_else(|| Rejection::UnknownLog {
            origin: origin.clone(),
        })?;
    if let Some(ev) = state.fork_evidence(&origin)? {
        return Err(UpdateError::LogFrozenByFork {
            origin: ev.origin,
            evidence: state.fork_path(&origin),
        });
    }
    cp_note
        .verify(&Verifiers::from_keys([log.key.clone()]))
        .map_err(|_| Rejection::BadLogSignature {
            origin: origin.clone(),
        })?;
    let cosigs = cp_note
        .verify_known(&policy.tlog().witness_verifiers())
        .map_err(|e| Rejection::BadCosignature {
            reason: e.to_string(),
        })?;
    let names: BTreeSet<String> = policy.tlog().witness_names_for(&cosigs);
    if !policy.tlog().check_quorum(&names) {
        return Err(Rejection::QuorumNotMet {
            cosigned: names.into_iter().collect(),
        }
        .into());
    }
    verify_inclusion(
        proof.index(),
        cp.size,
        &leaf_hash(&input.statement),
        proof.proof(),
        &cp.root,
    )
    .map_err(|_| Rejection::NotIncluded {
        index: proof.index(),
    })?;

    // Step 4: consistent with the newest checkpoint this endpoint verified.
    let stored = state.stored_checkpoint(&origin)?;
    let mut advances = true;
    if let Some(old) = &stored {
        let fork = |kind| -> UpdateError {
            let stored_note = match state.stored_checkpoint_note(&origin) {
                Ok(n) => n.unwrap_or_default(),
                Err(e) => return e,
            };
            let ev = ForkEvidence {
                origin: origin.clone(),
                kind,
                detected_at: now,
                stored_checkpoint: String::from_utf8_lossy(&stored_note).into_owned(),
                new_checkpoint: String::from_utf8_lossy(&cp_bytes).into_owned(),
                consistency_proof: input
                    .consistency_proof
                    .iter()
                    .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
                    .collect(),
            };
            match state.record_fork(&ev) {
                Ok(evidence) => UpdateError::Fork {
                    origin: origin.clone(),
                    kind,
                    evidence,
                },
                Err(e) => e,
            }
        };
        let cproof = &input.consistency_proof;
        if cp.size == old.size {
            if cp.root != old.root {
                return Err(fork(ForkKind::SameSizeDifferentRoot));
            }
            advances = false;
        } else if cp.size > old.size {
            if cproof.is_empty() {
                return Err(Rejection::MissingConsistencyProof {
                    stored: old.size,
                    new: cp.size,
                }
                .into());
            }
            if verify_consistency(old.size, cp.size, cproof, &old.root, &cp.root).is_err() {
                return Err(fork(ForkKind::ConsistencyProofFailed));
            }
        } else {
            if cproof.is_empty() {
                return Err(Rejection::OlderCheckpoint {
                    stored: old.size,
                    new: cp.size,
                }
                .into());
            }
            if verify_consistency(cp.size, old.size, cproof, &cp.root, &old.root).is_err() {
                return Err(fork(ForkKind::ConsistencyProofFailed));
            }
            // An older, consistent checkpoint: keep the stored newer one.
            advances = false;
        }
    }

    // Step 5: fresh cosignatures (no freeze), bundle not expired.
    // Only policy witnesses' cosignatures were verified, so only theirs count.
    let newest = cosigs.iter().filter_map(|v| v.timestamp()).max();
    if newest.is_none_or(|t| now.saturating_sub(t) > policy.max_age()) {
        return Err(Rejection::StaleCheckpoint {
            newest,
            now,
            max_age: policy.max_age(),
        }
        .into());
    }
    if now >= rules.expires {
        return Err(Rejection::Expired {
            expires: rules.expires,
            now,
        }
        .into());
    }

    // Step 6: no rollback.
    let active = state.active()?;
    if let Some(a) = &active {
        let m = &a.metadata;
        if rules.version < m.version {
            return Err(Rejection::Rollback {
                active: m.version,
                offered: rules.version,
            }
            .into());
        }
        if rules.version == m.version {
            if m.sha256 == hex::encode(rules.sha256.0) {
                return Err(UpdateError::AlreadyActive { version: m.version });
            }
            return Err(Rejection::SameVersionDifferentBundle { version: m.version }.into());
        }
    }

    // Step 7: reviews, where the policy demands them.
    check_reviews(policy, &rules, &input.reviews)?;

    Ok(VerifiedUpdate {
        bundle,
        origin,
        index: proof.index(),
        witnesses: names.into_iter().collect(),
        verified_at: now,
        advances_checkpoint: advances,
        stored_before: stored.map(|s| (s.size, s.root)),
        checkpoint: cp,
        checkpoint_note: cp_bytes,
        active_before: active.map(|a| a.metadata),
        rules,
        input,
    })
}

/// Counts distinct policy reviewers approving the bundle (subject: the
/// bundle's SHA-256). Any rejection by a policy reviewer refuses it. Notes
/// not signed by a policy reviewer, not reviews, or about another subject
/// are ignored.
fn check_reviews(
    policy: &TrustPolicy,
    rules: &Rules,
    reviews: &[Vec<u8>],
) -> Result<(), Rejection> {
    let required = policy.require_reviews();
    if required == 0 {
        return Ok(());
    }
    let reviewers: Verifiers = policy.reviewers().iter().cloned().collect();
    let mut approvals = BTreeSet::new();
    for r in reviews.iter().take(1024) {
        if r.len() > policy.limits().statement {
            continue;
        }
        let Ok((Statement::Review(review), key)) = Statement::open(r, &reviewers) else {
            continue;
        };
        if review.subject != rules.sha256 {
            continue;
        }
        match review.verdict {
            Verdict::Reject => {
                return Err(Rejection::ReviewRejected {
                    reviewer: key.name().to_owned(),
                })
            }
            Verdict::Approve => {
                approvals.insert(key.public_key().to_bytes());
            }
        }
    }
    if (approvals.len() as u64) < required {
        return Err(Rejection::NotEnoughReviews {
            approvals: approvals.len() as u64,
            required,
        });
    }
    Ok(())
}

/// Activates a verified update: runs `compile_check` first (a failure
/// changes nothing), then writes the new bundle directory, advances the
/// stored checkpoint and switches the active pointer. The active bundle is
/// only ever replaced by one rename, so any failure leaves it as it was.
pub fn activate(
    state: &EndpointState,
    verified: VerifiedUpdate,
    compile_check: impl FnOnce(&Bundle) -> Result<(), String>,
) -> Result<ActiveBundle, UpdateError> {
    compile_check(&verified.bundle).map_err(|message| UpdateError::CompileCheck { message })?;
    // Another update may have run since verification.
    let stored_now = state
        .stored_checkpoint(&verified.origin)?
        .map(|s| (s.size, s.root));
    let active_now = state.active()?.map(|a| a.metadata);
    if stored_now != verified.stored_before
        || active_now != verified.active_before
        || state.fork_evidence(&verified.origin)?.is_some()
    {
        return Err(UpdateError::StateChanged);
    }
    let metadata = ActiveMetadata {
        name: verified.bundle.manifest().name.clone(),
        version: verified.rules.version,
        sha256: hex::encode(verified.rules.sha256.0),
        size: verified.rules.size,
        expires: verified.rules.expires,
        log_origin: verified.origin.clone(),
        log_index: verified.index,
        checkpoint_size: verified.checkpoint.size,
        checkpoint_root: hex_hash(&verified.checkpoint.root),
        witnesses: verified.witnesses.clone(),
        verified_at: verified.verified_at,
    };
    let input = &verified.input;
    let files: [(&str, &[u8]); 3] = [
        (crate::BUNDLE_FILE, &input.bundle),
        (crate::STATEMENT_FILE, &input.statement),
        (crate::PROOF_FILE, &input.tlog_proof),
    ];
    // Checkpoint first: if the pointer switch then fails, the endpoint has
    // still verified that checkpoint, which is all the stored one means.
    if verified.advances_checkpoint {
        state.store_checkpoint(&verified.origin, &verified.checkpoint_note)?;
    }
    state.install(&files, &metadata)
}
