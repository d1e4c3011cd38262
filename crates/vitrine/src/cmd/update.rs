//! `vitrine update` and `vitrine status`: the endpoint side of "The update
//! check" (DESIGN.md), over `vitrine-client`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_client::{
    activate, fetch_update, read_update_dir, verify_update, ActiveMetadata, EndpointState,
    FetchError, FetchOptions, Rejection, TrustPolicy, UpdateError, VerifiedUpdate,
};
use vitrine_scan::{RuleSource, RulesBuilder};

/// Install a rule bundle, only if it passes every check of the update.
///
/// The bundle must match its logged statement, be signed by a publisher of
/// the policy, be included in a checkpoint of the policy's log cosigned by a
/// quorum of its witnesses, consistent with every checkpoint this endpoint
/// verified before, fresh, unexpired, newer than the active bundle, and
/// compile. Otherwise nothing changes.
///
/// Exit status: 0 installed or nothing to do, 2 refused or failed.
#[derive(clap::Args)]
pub struct Args {
    /// The trust policy file (`vitrine trust init`).
    #[arg(long)]
    policy: PathBuf,
    /// The endpoint state directory [default: $VITRINE_STATE, else
    /// $XDG_DATA_HOME/vitrine, else ~/.local/share/vitrine].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Fetch the newest bundle from this log.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "from",
        required_unless_present = "from"
    )]
    log: Option<String>,
    /// Read an offline update directory (`vitrine publish` writes one).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// With --log: take the statement at this log index instead of the newest.
    #[arg(long, requires = "log")]
    index: Option<u64>,
}

/// Where an update comes from.
pub enum Source<'a> {
    /// A log's URL, optionally a given index.
    Log(&'a str, Option<u64>),
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

/// The default endpoint state directory.
pub fn default_state_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("VITRINE_STATE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("vitrine"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/vitrine")),
        None => bail!("no --state given and neither VITRINE_STATE, XDG_DATA_HOME nor HOME is set"),
    }
}

fn state_dir(arg: Option<PathBuf>) -> Result<PathBuf> {
    arg.map_or_else(default_state_dir, Ok)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(&args.policy)?;
    let dir = state_dir(args.state)?;
    let state =
        EndpointState::open(&dir).with_context(|| format!("opening state {}", dir.display()))?;
    let source = match (&args.log, &args.from) {
        (Some(url), _) => Source::Log(url, args.index),
        (None, Some(d)) => Source::Dir(d),
        (None, None) => bail!("give --log URL or --from DIR"),
    };
    Ok(match update(&policy, &state, source, "")? {
        Outcome::Activated(_) | Outcome::NothingToDo(_) => ExitCode::SUCCESS,
        Outcome::Refused(_) => ExitCode::from(2),
    })
}

fn now() -> u64 {
    crate::cmd::bundle::now()
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
        | ManifestMismatch { .. } => (1, "bundle matches its logged statement"),
        UnknownPublisher | BadPublisherSignature { .. } => (2, "signed by a trusted publisher"),
        MalformedProof { .. }
        | UnknownLog { .. }
        | BadLogSignature { .. }
        | BadCosignature { .. }
        | QuorumNotMet { .. }
        | NotIncluded { .. } => (3, "logged under a witness-cosigned checkpoint"),
        MissingConsistencyProof { .. } | OlderCheckpoint { .. } => (
            4,
            "consistent with the checkpoint this endpoint verified before",
        ),
        StaleCheckpoint { .. } | Expired { .. } => (5, "fresh and unexpired"),
        Rollback { .. } | SameVersionDifferentBundle { .. } => (6, "newer than the active bundle"),
        ReviewRejected { .. } | NotEnoughReviews { .. } => (7, "reviewed"),
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
) -> Result<Outcome> {
    let now = now();
    let active_before = state.active()?.map(|a| a.metadata);
    let verified = match source {
        Source::Log(url, index) => {
            match index {
                Some(i) => println!("{indent}fetching the bundle at log index {i} from {url}"),
                None => println!("{indent}fetching the newest bundle from {url}"),
            }
            let opts = FetchOptions {
                index,
                ..FetchOptions::default()
            };
            fetch_update(policy, state, url, now, &opts)
        }
        Source::Dir(dir) => {
            println!("{indent}reading update directory {}", dir.display());
            read_update_dir(dir, policy.limits())
                .and_then(|input| verify_update(policy, state, now, input))
        }
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => return refusal(e, indent),
    };
    print_checks(policy, state, &verified, active_before.as_ref(), indent)?;
    let mut counts = (0, 0);
    let result = activate(state, verified, |bundle| {
        let source = RuleSource::VerifiedBundle {
            name: bundle.manifest().name.clone(),
            version: bundle.manifest().version,
            log_index: 0,
        };
        let rules = crate::cmd::bundle::compile(bundle, source).map_err(|e| e.to_string())?;
        counts = (rules.yara_rule_count(), rules.hash_count());
        Ok(())
    });
    match result {
        Ok(active) => {
            println!(
                "{indent}  [ok] rules compile: {} YARA rules, {} hash signatures",
                counts.0, counts.1
            );
            let m = active.metadata;
            println!(
                "{indent}ACTIVATED bundle {} v{} (log index {})",
                m.name, m.version, m.log_index
            );
            Ok(Outcome::Activated(m))
        }
        Err(e) => refusal(e, indent),
    }
}

fn refusal(e: UpdateError, indent: &str) -> Result<Outcome> {
    let (step, what, reason) = match &e {
        UpdateError::AlreadyActive { version } => {
            println!("{indent}bundle version {version} is already active: nothing to do");
            return Ok(Outcome::NothingToDo(*version));
        }
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
        _ => return Err(anyhow::Error::new(e).context("update failed; nothing was changed")),
    };
    if step > 0 {
        println!("{indent}  [FAIL] {step}. {what}");
    } else {
        println!("{indent}  [FAIL] {what}");
    }
    println!("{indent}REFUSED: {reason}");
    println!("{indent}the active rules are unchanged");
    Ok(Outcome::Refused(reason))
}

fn print_checks(
    policy: &TrustPolicy,
    state: &EndpointState,
    v: &VerifiedUpdate,
    active: Option<&ActiveMetadata>,
    indent: &str,
) -> Result<()> {
    let ok = |n: u8, text: String| println!("{indent}  [ok] {n}. {text}");
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
            "cosigned within the policy's max-age of {}s; bundle expires at {}",
            policy.max_age(),
            v.rules.expires
        ),
    );
    ok(
        6,
        match active {
            None => format!("version {}: no bundle active yet", v.rules.version),
            Some(a) => format!(
                "version {} is newer than the active {}",
                v.rules.version, a.version
            ),
        },
    );
    ok(
        7,
        match policy.require_reviews() {
            0 => "no reviews required by the policy".into(),
            n => format!("{n} approving reviews logged"),
        },
    );
    Ok(())
}

/// The active verified bundle's rules, if the state directory has one. The
/// bundle's bytes are checked against the recorded SHA-256 first.
pub fn active_rules(state_dir: &Path) -> Result<Option<RulesBuilder>> {
    if !state_dir.join("active").exists() {
        return Ok(None);
    }
    let state = EndpointState::open(state_dir)?;
    let Some(active) = state.active()? else {
        return Ok(None);
    };
    let path = active.bundle_path();
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let m = &active.metadata;
    if hex::encode(Sha256::digest(&bytes)) != m.sha256 {
        bail!(
            "the active bundle {} does not hash to its verified SHA-256: run `vitrine update` again",
            path.display()
        );
    }
    let bundle = Bundle::parse(&bytes, &Limits::default())
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(crate::cmd::bundle::builder(
        &bundle,
        RuleSource::VerifiedBundle {
            name: m.name.clone(),
            version: m.version,
            log_index: m.log_index,
        },
    )))
}

/// Show the endpoint's active bundle and what it was verified under.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The endpoint state directory [default: as for `update`].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::cmd::bundle::Format::Text)]
    format: crate::cmd::bundle::Format,
}

fn fork_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("forks"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.contains(".cleared-"))
        })
        .collect();
    v.sort();
    v
}

pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let dir = state_dir(args.state)?;
    let active = if dir.join("active").exists() {
        EndpointState::open(&dir)?.active()?.map(|a| a.metadata)
    } else {
        None
    };
    let forks = fork_files(&dir);
    match args.format {
        crate::cmd::bundle::Format::Json => {
            let v = serde_json::json!({
                "state": dir,
                "active": active,
                "fork_evidence": forks,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        crate::cmd::bundle::Format::Text => {
            println!("state:          {}", dir.display());
            match &active {
                None => println!("active bundle:  none (scans use the unverified built-in set)"),
                Some(m) => {
                    println!("active bundle:  {} v{}", m.name, m.version);
                    println!("sha256:         {} ({} bytes)", m.sha256, m.size);
                    println!("log:            {} index {}", m.log_origin, m.log_index);
                    println!(
                        "checkpoint:     size {} root {}",
                        m.checkpoint_size, m.checkpoint_root
                    );
                    println!("cosigned by:    {}", m.witnesses.join(", "));
                    println!("verified at:    {}", m.verified_at);
                    println!("expires:        {}", m.expires);
                }
            }
            for f in &forks {
                println!(
                    "FORK EVIDENCE:  {} (updates from that log are frozen)",
                    f.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
