//! The verified update: DESIGN.md's "The update check" over
//! `vitrine-client`, with every check said as it passes. `vitrine update`
//! prints what it says; the daemon's schedule logs it.

use anyhow::{bail, Result};
use std::path::Path;
use vitrine_client::{
    activate, escape, fetch_update, read_update_dir, store_up_to_date, verify_update,
    ActiveMetadata, EndpointState, FetchError, FetchOptions, Fetched, Rejection, TrustPolicy,
    UpToDate, UpdateError, VerifiedUpdate,
};
use vitrine_scan::RuleSource;

/// Where each line of an update's account goes.
pub type Say<'a> = &'a mut dyn FnMut(&str);

/// Where an update comes from.
pub enum Source<'a> {
    /// A log's URL, optionally a given index (default deadlines).
    Log(&'a str, Option<u64>),
    /// A log's URL with explicit fetch options.
    LogWith(&'a str, FetchOptions),
    /// An update directory.
    Dir(&'a Path),
}

/// How an update ended, when it did not fail for a plumbing reason.
#[derive(Debug)]
pub enum Outcome {
    /// The bundle is now active.
    Activated(ActiveMetadata),
    /// That very bundle was already active.
    NothingToDo(u64),
    /// A security check refused it; the state is unchanged.
    Refused(String),
}

/// The step of DESIGN.md's update check a rejection belongs to.
fn step(r: &Rejection) -> (u8, &'static str) {
    use Rejection::*;
    match r {
        Oversized { .. }
        | MalformedStatement { .. }
        | WrongStatementType { .. }
        | BundleHashMismatch { .. }
        | BundleSizeMismatch { .. }
        | InvalidBundle { .. }
        | ManifestMismatch { .. }
        | BundleNameMismatch { .. }
        | NotARegularFile { .. } => (1, "bundle matches its logged statement"),
        NotFollowed { .. } => (0, "a bundle the policy follows (its bundle lines)"),
        UnknownPublisher | BadPublisherSignature { .. } => (2, "signed by a trusted publisher"),
        MalformedProof { .. }
        | UnknownLog { .. }
        | BadLogSignature { .. }
        | BadCosignature { .. }
        | QuorumNotMet { .. }
        | NotIncluded { .. }
        | LogDataMismatch { .. } => (3, "logged under a witness-cosigned checkpoint"),
        MissingConsistencyProof { .. } | OlderCheckpoint { .. } | BadConsistencyProof { .. } => (
            4,
            "consistent with the checkpoint this endpoint verified before",
        ),
        StaleCheckpoint { .. } | Expired { .. } => (5, "fresh and unexpired"),
        Rollback { .. } | SameVersionDifferentBundle { .. } => (6, "newer than the active bundle"),
        ReviewRejected { .. } | NotEnoughReviews { .. } | RefusedFinding { .. } => {
            (7, "reviewed, no acknowledged finding the policy refuses")
        }
        _ => (0, "update check"),
    }
}

/// Verifies and activates an update, printing each check as it passes
/// (each line prefixed with `indent`). Refusals are an [`Outcome`];
/// plumbing failures are errors. A refusal leaves the state untouched
/// (except fork evidence, which is kept).
pub fn update(
    policy: &TrustPolicy,
    state: &EndpointState,
    source: Source<'_>,
    indent: &str,
    say: Say<'_>,
) -> Result<Outcome> {
    let now = crate::state::now();
    let verified = match source {
        Source::Log(url, index) => {
            let opts = FetchOptions {
                index,
                ..FetchOptions::default()
            };
            fetch(policy, state, url, now, &opts, indent, say)
        }
        Source::LogWith(url, opts) => fetch(policy, state, url, now, &opts, indent, say),
        Source::Dir(dir) => {
            say(&format!(
                "{indent}reading update directory {}",
                escape(&dir.display().to_string())
            ));
            read_update_dir(dir, policy.limits())
                .and_then(|input| verify_update(policy, state, now, input))
                .map(|v| Fetched::Update(Box::new(v)))
        }
    };
    let verified = match verified {
        Ok(Fetched::Update(v)) => *v,
        Ok(Fetched::UpToDate(up)) => return up_to_date(state, &up, indent, say),
        Ok(Fetched::Channels(all)) => {
            // Every channel's newest bundle passed the update check under
            // one checkpoint; each is activated (or found already active).
            // All must compile first: once one channel stored the
            // checkpoint, a later failure would hide that channel's bundle
            // from the next online search.
            for v in all.iter().filter(|v| !v.already_active) {
                let source = RuleSource::VerifiedBundle {
                    name: v.bundle.manifest().name.clone(),
                    version: v.bundle.manifest().version,
                    log_index: v.index,
                };
                if let Err(e) = crate::rules::compile(&v.bundle, source) {
                    return refusal(
                        UpdateError::CompileCheck {
                            message: format!("bundle {}: {e:#}", escape(&v.bundle.manifest().name)),
                        },
                        indent,
                        say,
                    );
                }
            }
            let mut last = None;
            for v in all {
                let channel = v.channel.clone().unwrap_or_default();
                say(&format!("{indent}channel {}:", escape(&channel)));
                let o = install_verified(policy, state, v, &format!("{indent}  "), say)?;
                if matches!(o, Outcome::Refused(_)) {
                    return Ok(o);
                }
                last = Some(o);
            }
            return Ok(last.expect("invariant: at least one channel"));
        }
        Err(e) => return refusal(e, indent, say),
    };
    install_verified(policy, state, verified, indent, say)
}

/// Prints the checks a verified update passed and activates it.
fn install_verified(
    policy: &TrustPolicy,
    state: &EndpointState,
    verified: VerifiedUpdate,
    indent: &str,
    say: Say<'_>,
) -> Result<Outcome> {
    let active_before = state
        .active_in(verified.channel.as_deref())?
        .map(|a| a.metadata);
    print_checks(
        policy,
        state,
        &verified,
        active_before.as_ref(),
        indent,
        say,
    )?;
    if verified.already_active {
        let version = verified.rules.version;
        let size = verified.checkpoint.size;
        let advanced = verified.advances_checkpoint;
        return match activate(state, verified, |_| Ok(())) {
            Ok(_) => {
                say(&format!(
                    "{indent}UP TO DATE: bundle version {version} is already active, nothing to do{}",
                    if advanced {
                        format!("; stored checkpoint advanced to size {size}")
                    } else {
                        String::new()
                    }
                ));
                Ok(Outcome::NothingToDo(version))
            }
            Err(e) => refusal(e, indent, say),
        };
    }
    let mut counts = (0, 0);
    let result = activate(state, verified, |bundle| {
        let source = RuleSource::VerifiedBundle {
            name: bundle.manifest().name.clone(),
            version: bundle.manifest().version,
            log_index: 0,
        };
        let rules = crate::rules::compile(bundle, source).map_err(|e| e.to_string())?;
        counts = (rules.yara_rule_count(), rules.hash_count());
        Ok(())
    });
    match result {
        Ok(active) => {
            say(&format!(
                "{indent}  [ok] rules compile: {}, {}",
                crate::count(counts.0 as u64, "YARA rule", "YARA rules"),
                crate::count(counts.1 as u64, "hash signature", "hash signatures")
            ));
            let m = active.metadata;
            say(&format!(
                "{indent}ACTIVATED bundle {} v{} (log index {})",
                escape(&m.name),
                m.version,
                m.log_index
            ));
            Ok(Outcome::Activated(m))
        }
        Err(e) => refusal(e, indent, say),
    }
}

fn fetch(
    policy: &TrustPolicy,
    state: &EndpointState,
    url: &str,
    now: u64,
    opts: &FetchOptions,
    indent: &str,
    say: Say<'_>,
) -> Result<Fetched, UpdateError> {
    let url_shown = escape(url);
    match opts.index {
        Some(i) => say(&format!(
            "{indent}fetching the bundle at log index {i} from {url_shown}"
        )),
        None => say(&format!(
            "{indent}fetching the newest bundle from {url_shown} (deadline {} s)",
            opts.deadline.as_secs()
        )),
    }
    fetch_update(policy, state, url, now, opts)
}

/// No rules statement since the stored checkpoint: the active bundle is the
/// newest. The verified checkpoint becomes the stored one.
fn up_to_date(state: &EndpointState, up: &UpToDate, indent: &str, say: Say<'_>) -> Result<Outcome> {
    let actives: Vec<ActiveMetadata> = state.actives()?.into_iter().map(|a| a.metadata).collect();
    let Some(first) = actives.first().cloned() else {
        bail!("up to date, but no bundle is active");
    };
    let advanced = match store_up_to_date(state, up) {
        Ok(a) => a,
        Err(e) => return refusal(e, indent, say),
    };
    say(&format!(
        "{indent}  [ok] checkpoint {} size {} cosigned by {} (quorum met, fresh), consistent with the stored one",
        escape(&up.origin),
        up.checkpoint.size,
        up.witnesses.join(", ")
    ));
    let stored = if advanced {
        format!("stored checkpoint advanced to size {}", up.checkpoint.size)
    } else {
        "stored checkpoint unchanged".to_owned()
    };
    let bundles: Vec<String> = actives
        .iter()
        .map(|a| format!("{} v{}", escape(&a.name), a.version))
        .collect();
    if let [only] = bundles.as_slice() {
        say(&format!(
            "{indent}UP TO DATE: bundle {only} is the newest; {stored}"
        ));
    } else {
        say(&format!(
            "{indent}UP TO DATE: bundles {} are the newest of their channels; {stored}",
            bundles.join(", ")
        ));
    }
    for a in &actives {
        if a.expires <= crate::state::now() {
            say(&format!(
                "{indent}WARNING: the active bundle {} expired at {}",
                escape(&a.name),
                crate::state::human_time(a.expires)
            ));
        }
    }
    Ok(Outcome::NothingToDo(first.version))
}

fn refusal(e: UpdateError, indent: &str, say: Say<'_>) -> Result<Outcome> {
    let (step, what, reason) = match &e {
        UpdateError::Rejected(r) | UpdateError::Fetch(FetchError::Checkpoint(r)) => {
            let (n, what) = step(r);
            (n, what, r.to_string())
        }
        UpdateError::Fork { .. } | UpdateError::LogFrozenByFork { .. } => (
            4,
            "consistent with the checkpoint this endpoint verified before",
            e.to_string(),
        ),
        UpdateError::CompileCheck { message } => {
            (0, "rules compile", format!("does not compile: {message}"))
        }
        // One line, escaped: the message may carry a server's bytes, and
        // its causes are already in it.
        _ => bail!(
            "update failed; nothing was changed: {}",
            escape(&e.to_string())
        ),
    };
    if step > 0 {
        say(&format!("{indent}  [FAIL] {step}. {what}"));
    } else {
        say(&format!("{indent}  [FAIL] {what}"));
    }
    say(&format!("{indent}REFUSED: {}", escape(&reason)));
    if matches!(
        e,
        UpdateError::Fork { .. } | UpdateError::LogFrozenByFork { .. }
    ) {
        say(&format!(
            "{indent}review the evidence with `vitrine trust forks list`"
        ));
    }
    say(&format!("{indent}the active rules are unchanged"));
    Ok(Outcome::Refused(reason))
}

fn print_checks(
    policy: &TrustPolicy,
    state: &EndpointState,
    v: &VerifiedUpdate,
    active: Option<&ActiveMetadata>,
    indent: &str,
    say: Say<'_>,
) -> Result<()> {
    let mut ok = |n: u8, text: String| say(&format!("{indent}  [ok] {n}. {text}"));
    ok(
        1,
        format!(
            "bundle {} v{} ({} bytes, sha256 {}) matches its logged statement",
            v.bundle.manifest().name,
            v.rules.version,
            v.rules.size,
            hex::encode(v.rules.sha256.0)
        ),
    );
    ok(2, "statement signed by a publisher of the policy".into());
    ok(
        3,
        format!(
            "included at index {} of checkpoint {} size {}, cosigned by {} (quorum met)",
            v.index,
            v.origin,
            v.checkpoint.size,
            v.witnesses.join(", ")
        ),
    );
    let stored = state.stored_checkpoint(&v.origin)?;
    ok(
        4,
        match stored {
            None => "first checkpoint this endpoint sees of this log: stored from now on".into(),
            Some(s) if s.size == v.checkpoint.size => {
                format!("same checkpoint as the one stored (size {})", s.size)
            }
            Some(s) => format!(
                "consistent with the stored checkpoint of size {} (consistency proof verified)",
                s.size
            ),
        },
    );
    ok(
        5,
        format!(
            "cosigned within the policy's max-age of {} s; bundle expires at {}",
            policy.max_age(),
            crate::state::human_time(v.rules.expires)
        ),
    );
    ok(
        6,
        match (active, &v.channel) {
            (None, None) => format!("version {}: no bundle active yet", v.rules.version),
            (None, Some(c)) => format!(
                "version {}: no bundle active yet in channel {c}",
                v.rules.version
            ),
            (Some(a), None) => format!(
                "version {} is newer than the active {}",
                v.rules.version, a.version
            ),
            (Some(a), Some(c)) => format!(
                "version {} is newer than the active {} of channel {c}",
                v.rules.version, a.version
            ),
        },
    );
    ok(
        7,
        match policy.require_reviews() {
            0 => "no reviews required by the policy".into(),
            n => format!("{n} approving reviews logged"),
        } + &match (policy.refuse_findings(), v.rules.allow.len()) {
            ([], _) => String::new(),
            (_, 0) => "; no acknowledged finding".to_owned(),
            (p, _) => format!(
                "; no acknowledged finding the policy refuses ({})",
                p.join(", ")
            ),
        },
    );
    for line in acknowledged_lines(&v.rules) {
        say(&format!("{indent}  {line}"));
    }
    Ok(())
}

/// One line per lint finding the publisher acknowledged in a `rules`
/// statement: ID, severity, rule and the publisher's reason.
pub fn acknowledged_lines(rules: &vitrine_statements::Rules) -> Vec<String> {
    rules
        .allow
        .iter()
        .map(|a| {
            let (id, rule) = a.id_and_rule();
            let severity = vitrine_lint::severity_of(id).map_or("unknown", |s| s.as_str());
            format!(
                "acknowledged finding {} ({severity}) in rule {}: {}",
                escape(id),
                escape(rule),
                escape(a.reason.as_str())
            )
        })
        .collect()
}
