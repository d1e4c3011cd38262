//! The update check (DESIGN.md, "The update check", steps 1–7) and
//! activation.

use std::collections::BTreeSet;

use base64::Engine;
use sha2::{Digest, Sha256};
use vitrine_bundle::Bundle;
use vitrine_note::{Note, VerificationError, VerifiedSignature, Verifiers};
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
    /// `review` statements about the bundle, each with its tlog-proof.
    pub reviews: Vec<LoggedReview>,
}

/// A `review` statement and its tlog-proof. It counts only if the proof
/// includes it in the very checkpoint the update was verified under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggedReview {
    /// The signed `review` statement note, exactly as logged.
    pub statement: Vec<u8>,
    /// Its tlog-proof (c2sp.org/tlog-proof@v1).
    pub tlog_proof: Vec<u8>,
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
    /// The bundle is the active one: [`activate`] only advances the stored
    /// checkpoint ("up to date").
    pub already_active: bool,
    /// The policy's `on-expiry`, recorded with the bundle.
    pub on_expiry: crate::OnExpiry,
    /// The channel it is installed in: the bundle's name when the policy
    /// has `bundle` lines, `None` (the single channel) otherwise.
    pub channel: Option<String>,
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
/// evidence, and only proven evidence (see [`ForkKind`]), which is
/// compared first so that nothing else wrong in the input can hide it.
pub fn verify_update(
    policy: &TrustPolicy,
    state: &EndpointState,
    now: u64,
    input: UpdateInput,
) -> Result<VerifiedUpdate, UpdateError> {
    let limits = policy.limits();
    if input.tlog_proof.len() <= limits.proof {
        fork_precheck(policy, state, now, &input)?;
    }
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

    if let Some(b) = &rules.bundle {
        if b.as_str() != m.name {
            return Err(Rejection::BundleNameMismatch {
                manifest: m.name.clone(),
                statement: b.as_str().to_owned(),
            }
            .into());
        }
    }
    // Channels: with `bundle` lines, only a followed bundle, and each
    // channel keeps its own version order (step 6).
    let channel = if policy.bundles().is_empty() {
        None
    } else if policy.bundles().contains(&m.name) {
        Some(m.name.clone())
    } else {
        return Err(Rejection::NotFollowed {
            name: m.name.clone(),
            followed: policy.bundles().join(", "),
        }
        .into());
    };

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
    cp_note
        .verify(&Verifiers::from_keys([log.key.clone()]))
        .map_err(|_| Rejection::BadLogSignature {
            origin: origin.clone(),
        })?;
    let cosigs = verify_cosignatures(policy, cp_note)?;
    let names: BTreeSet<String> = policy.tlog().witness_names_for(&cosigs);
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
    // A proven fork was recorded before step 1; a proof that does not
    // verify is only a refusal.
    let stored = state.stored_checkpoint(&origin)?;
    let advances = match &stored {
        None => true,
        Some(old) => consistent_with_stored(old, &cp, &input.consistency_proof)?,
    };

    // Step 5: fresh cosignatures from a quorum (no freeze), bundle not expired.
    check_fresh(policy, &cosigs, now)?;
    if now >= rules.expires {
        return Err(Rejection::Expired {
            expires: rules.expires,
            now,
        }
        .into());
    }

    // Step 6: no rollback. The active bundle itself again is "up to date":
    // its checkpoint may still advance the stored one.
    let active = state.active_in(channel.as_deref())?;
    let mut already_active = false;
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
            if m.sha256 != hex::encode(rules.sha256.0) {
                return Err(Rejection::SameVersionDifferentBundle { version: m.version }.into());
            }
            already_active = true;
        }
    }

    // Step 7: no acknowledged finding the policy refuses; reviews, where
    // the policy demands them (checked when the active bundle was
    // installed).
    if !already_active {
        for a in &rules.allow {
            if let Some(pattern) = policy.refuses_finding(a.id_and_rule().0) {
                return Err(Rejection::RefusedFinding {
                    finding: a.finding.as_str().to_owned(),
                    reason: a.reason.as_str().to_owned(),
                    pattern: pattern.to_owned(),
                }
                .into());
            }
        }
        check_reviews(policy, &rules, &input.reviews, &cp)?;
    }

    Ok(VerifiedUpdate {
        bundle,
        origin,
        index: proof.index(),
        witnesses: names.into_iter().collect(),
        verified_at: now,
        advances_checkpoint: advances,
        already_active,
        on_expiry: policy.on_expiry(),
        channel,
        stored_before: stored.map(|s| (s.size, s.root)),
        checkpoint: cp,
        checkpoint_note: cp_bytes,
        active_before: active.map(|a| a.metadata),
        rules,
        input,
    })
}

/// Largest clock difference tolerated on a witness cosignature's timestamp:
/// a cosignature dated further in the future does not count as fresh.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// Verifies the policy witnesses' cosignatures on a checkpoint note and
/// checks that they make a quorum (step 3).
pub(crate) fn verify_cosignatures(
    policy: &TrustPolicy,
    note: &Note,
) -> Result<Vec<VerifiedSignature>, Rejection> {
    let cosigs = note
        .verify_known(&policy.tlog().witness_verifiers())
        .map_err(|e| Rejection::BadCosignature {
            reason: e.to_string(),
        })?;
    let names = policy.tlog().witness_names_for(&cosigs);
    if !policy.tlog().check_quorum(&names) {
        return Err(Rejection::QuorumNotMet {
            cosigned: names.into_iter().collect(),
        });
    }
    Ok(cosigs)
}

/// Step 5: the cosignatures that are fresh (at most max-age old, at most
/// [`MAX_CLOCK_SKEW`] in the future) must themselves make a quorum, and
/// there must be at least one: one witness with a wrong clock cannot keep
/// a checkpoint fresh, and `quorum none` accepts no update.
pub(crate) fn check_fresh(
    policy: &TrustPolicy,
    cosigs: &[VerifiedSignature],
    now: u64,
) -> Result<(), Rejection> {
    let fresh: Vec<VerifiedSignature> = cosigs
        .iter()
        .filter(|v| {
            v.timestamp().is_some_and(|t| {
                t <= now.saturating_add(MAX_CLOCK_SKEW) && now.saturating_sub(t) <= policy.max_age()
            })
        })
        .cloned()
        .collect();
    let names = policy.tlog().witness_names_for(&fresh);
    if names.is_empty() || !policy.tlog().check_quorum(&names) {
        return Err(Rejection::StaleCheckpoint {
            newest: cosigs.iter().filter_map(|v| v.timestamp()).max(),
            now,
            max_age: policy.max_age(),
            fresh: names.into_iter().collect(),
        });
    }
    Ok(())
}

/// What a consistency proof between two signed checkpoints shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consistency {
    /// The smaller tree is a prefix of the larger.
    Consistent,
    /// The proof's hashes reproduce the larger tree's signed root but give
    /// another root at the smaller size: the log signed two incompatible
    /// trees.
    Fork,
    /// The proof does not reproduce the larger root: it proves nothing.
    Unproven,
}

/// Judges a consistency proof from (`size1`, `root1`) to the larger
/// (`size2`, `root2`). A fork needs the larger tree's own hashes: the
/// RFC 9162 algorithm run on the proof must give `root2`, and the root it
/// gives at `size1` must differ from `root1`. When `size1` is a power of
/// two the RFC proof omits the node for `[0, size1)`; a proof that carries
/// it as an extra first hash can still prove a fork (the online path
/// builds one from tiles).
pub(crate) fn consistency_verdict(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Consistency {
    if size1 == 0 || size2 <= size1 {
        return Consistency::Unproven;
    }
    if verify_consistency(size1, size2, proof, root1, root2).is_ok() {
        return Consistency::Consistent;
    }
    let Some((first, rest)) = proof.split_first() else {
        return Consistency::Unproven;
    };
    match vitrine_tlog::consistency_roots(size1, size2, *first, rest) {
        Some((r1, r2)) if r2 == *root2 && r1 != *root1 => Consistency::Fork,
        _ => Consistency::Unproven,
    }
}

/// Step 4 refusals: whether `cp` is consistent with the stored checkpoint,
/// and whether it advances it.
fn consistent_with_stored(
    old: &Checkpoint,
    cp: &Checkpoint,
    cproof: &[Hash],
) -> Result<bool, Rejection> {
    if cp.size == old.size {
        // A different root was recorded as a fork before step 1.
        return if cp.root == old.root {
            Ok(false)
        } else {
            Err(Rejection::BadConsistencyProof {
                from: old.size,
                to: cp.size,
            })
        };
    }
    let (small, large) = if cp.size > old.size {
        (old, cp)
    } else {
        (cp, old)
    };
    if cproof.is_empty() {
        return Err(if cp.size > old.size {
            Rejection::MissingConsistencyProof {
                stored: old.size,
                new: cp.size,
            }
        } else {
            Rejection::OlderCheckpoint {
                stored: old.size,
                new: cp.size,
            }
        });
    }
    match consistency_verdict(small.size, large.size, cproof, &small.root, &large.root) {
        Consistency::Consistent => Ok(cp.size > old.size),
        _ => Err(Rejection::BadConsistencyProof {
            from: small.size,
            to: large.size,
        }),
    }
}

/// Records fork evidence if `cp` (validly signed by the log key and
/// cosigned by a quorum, which the caller checked) and the stored
/// checkpoint cannot both be true; returns
/// [`UpdateError::Fork`] then. Anything short of proof returns `Ok`.
pub(crate) fn check_fork(
    state: &EndpointState,
    now: u64,
    cp: &Checkpoint,
    cp_bytes: &[u8],
    cproof: &[Hash],
) -> Result<(), UpdateError> {
    let Some(old) = state.stored_checkpoint(&cp.origin)? else {
        return Ok(());
    };
    let proven = if cp.size == old.size {
        cp.root != old.root
    } else if cp.size > old.size {
        consistency_verdict(old.size, cp.size, cproof, &old.root, &cp.root) == Consistency::Fork
    } else {
        consistency_verdict(cp.size, old.size, cproof, &cp.root, &old.root) == Consistency::Fork
    };
    if !proven {
        return Ok(());
    }
    let kind = if cp.size == old.size {
        ForkKind::SameSizeDifferentRoot
    } else {
        ForkKind::DifferentPrefix
    };
    let stored_note = state
        .stored_checkpoint_note(&cp.origin)?
        .unwrap_or_default();
    let ev = ForkEvidence {
        origin: cp.origin.clone(),
        kind,
        detected_at: now,
        stored_checkpoint: String::from_utf8_lossy(&stored_note).into_owned(),
        new_checkpoint: String::from_utf8_lossy(cp_bytes).into_owned(),
        consistency_proof: cproof
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
            .collect(),
    };
    let evidence = state.record_fork(&ev)?;
    Err(UpdateError::Fork {
        origin: cp.origin.clone(),
        kind,
        evidence,
    })
}

/// Before any other check: a log frozen by evidence refuses everything,
/// and a checkpoint validly signed by the log key and cosigned by a quorum
/// of the policy's witnesses that contradicts the stored one is recorded as
/// evidence whatever else is wrong with the update (a bad bundle or
/// inclusion proof must not hide a fork). The quorum is required because
/// evidence freezes the log: a stolen log key alone must not be able to
/// freeze every endpoint; such a fork is refused at step 3 instead.
fn fork_precheck(
    policy: &TrustPolicy,
    state: &EndpointState,
    now: u64,
    input: &UpdateInput,
) -> Result<(), UpdateError> {
    let Ok(proof) = TlogProof::parse(&input.tlog_proof) else {
        return Ok(());
    };
    let cp = proof.checkpoint();
    let Some(log) = policy.tlog().log_for_origin(&cp.origin) else {
        return Ok(());
    };
    if let Some(ev) = state.fork_evidence(&cp.origin)? {
        return Err(UpdateError::LogFrozenByFork {
            evidence: state.fork_path(&ev.origin),
            origin: ev.origin,
        });
    }
    let note = proof.note();
    if note
        .verify(&Verifiers::from_keys([log.key.clone()]))
        .is_err()
        || verify_cosignatures(policy, note).is_err()
    {
        return Ok(());
    }
    check_fork(state, now, cp, &note.to_bytes(), &input.consistency_proof)
}

/// A `review` statement the policy counts: signed by one of its reviewer
/// keys that is not also a publisher key (a publisher cannot review its
/// own bundles or releases). `None` for anything else: not a review,
/// another signer, a bad signature. Endpoints (step 7), `vitrine review
/// list` and `vitrine release verify` all decide with this.
pub fn policy_review(
    policy: &TrustPolicy,
    note: &[u8],
) -> Option<(vitrine_statements::Review, vitrine_note::VerifierKey)> {
    let reviewers: Verifiers = policy.reviewers().iter().cloned().collect();
    let Ok((Statement::Review(review), key)) = Statement::open(note, &reviewers) else {
        return None;
    };
    let by_publisher = policy
        .publishers()
        .iter()
        .any(|p| p.public_key() == key.public_key());
    (!by_publisher).then_some((review, key))
}

/// Counts distinct policy reviewers approving the bundle (subject: the
/// bundle's SHA-256). Only logged reviews count: included, by their
/// tlog-proof, in the same checkpoint as the update. Any rejection by a
/// policy reviewer refuses it. Notes not logged there, not signed by a
/// policy reviewer, signed by a publisher key, not reviews, or about another
/// subject are ignored.
fn check_reviews(
    policy: &TrustPolicy,
    rules: &Rules,
    reviews: &[LoggedReview],
    cp: &Checkpoint,
) -> Result<(), Rejection> {
    let required = policy.require_reviews();
    if required == 0 {
        return Ok(());
    }
    let mut approvals = BTreeSet::new();
    for r in reviews.iter().take(1024) {
        if r.statement.len() > policy.limits().statement
            || r.tlog_proof.len() > policy.limits().proof
        {
            continue;
        }
        let Ok(proof) = TlogProof::parse(&r.tlog_proof) else {
            continue;
        };
        let pcp = proof.checkpoint();
        if pcp.origin != cp.origin || pcp.size != cp.size || pcp.root != cp.root {
            continue;
        }
        if verify_inclusion(
            proof.index(),
            cp.size,
            &leaf_hash(&r.statement),
            proof.proof(),
            &cp.root,
        )
        .is_err()
        {
            continue;
        }
        let Some((review, key)) = policy_review(policy, &r.statement) else {
            continue;
        };
        if review.subject != rules.sha256 {
            continue;
        }
        match review.verdict {
            Verdict::Reject => {
                return Err(Rejection::ReviewRejected {
                    reviewer: key.name().to_owned(),
                    index: proof.index(),
                    comment: review.comment.map(|c| c.as_str().to_owned()),
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
/// stored checkpoint and switches the active pointer. For the active
/// bundle itself ([`VerifiedUpdate::already_active`]) it only advances the
/// stored checkpoint. The active bundle is
/// only ever replaced by one rename, so any failure leaves it as it was.
pub fn activate(
    state: &EndpointState,
    verified: VerifiedUpdate,
    compile_check: impl FnOnce(&Bundle) -> Result<(), String>,
) -> Result<ActiveBundle, UpdateError> {
    if !verified.already_active {
        compile_check(&verified.bundle).map_err(|message| UpdateError::CompileCheck { message })?;
    }
    // Another update may have run since verification.
    let stored_now = state
        .stored_checkpoint(&verified.origin)?
        .map(|s| (s.size, s.root));
    let channel = verified.channel.as_deref();
    let active_now = state.active_in(channel)?.map(|a| a.metadata);
    // The stored checkpoint may also be the very one this update was
    // verified under: another channel's update of the same fetch stored it.
    let cp_now = Some((verified.checkpoint.size, verified.checkpoint.root));
    let stored_same = stored_now == cp_now;
    if (stored_now != verified.stored_before && !stored_same)
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
        on_expiry: verified.on_expiry,
    };
    let input = &verified.input;
    let files: [(&str, &[u8]); 3] = [
        (crate::BUNDLE_FILE, &input.bundle),
        (crate::STATEMENT_FILE, &input.statement),
        (crate::PROOF_FILE, &input.tlog_proof),
    ];
    // Checkpoint first: if the pointer switch then fails, the endpoint has
    // still verified that checkpoint, which is all the stored one means.
    if verified.advances_checkpoint && !stored_same {
        state.store_checkpoint(&verified.origin, &verified.checkpoint_note)?;
    }
    if verified.already_active {
        return state.active_in(channel)?.ok_or(UpdateError::StateChanged);
    }
    state.install(&files, &metadata, channel)
}
