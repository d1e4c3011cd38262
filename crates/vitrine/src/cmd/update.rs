//! `vitrine update` and `vitrine status`: the endpoint side of "The update
//! check" (DESIGN.md), over `vitrine-client`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vitrine_client::{escape, ActiveMetadata, EndpointState, FetchOptions};

/// Install a rule bundle, only if it passes every check of the update.
///
/// The bundle must match its logged statement, be signed by a publisher of
/// the policy, be included in a checkpoint of the policy's log cosigned by a
/// quorum of its witnesses, consistent with every checkpoint this endpoint
/// verified before, fresh, unexpired, newer than the active bundle, and
/// compile. Otherwise nothing changes. Online, every log entry since the
/// stored checkpoint is read and checked against the signed checkpoint, so
/// no newer bundle can be hidden; an endpoint already on the newest bundle
/// is "up to date" and advances its stored checkpoint.
///
/// Without --log or --from, the log URL named in the policy's `log` line is
/// used.
///
/// Exit status: 0 installed or up to date, 2 refused or failed.
#[derive(clap::Args)]
pub struct Args {
    /// The trust policy file (`vitrine trust init`) [default: the
    /// configuration's `policy`].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The endpoint state directory [default: $VITRINE_STATE, else the configuration's `state`,
    /// else /var/lib/vitrine for root and the `vitrine` user, else
    /// $XDG_DATA_HOME/vitrine or ~/.local/share/vitrine; `vitrine config
    /// show` says which].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Fetch the newest bundle from this log [default: the URL of the
    /// policy's `log` line].
    #[arg(long, value_parser = crate::util::http_url, value_name = "URL", conflicts_with = "from")]
    log: Option<String>,
    /// Read an offline update directory (`vitrine publish` writes one).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Online: take the statement at this log index instead of the newest.
    #[arg(long, conflicts_with = "from")]
    index: Option<u64>,
    /// Online: the whole update (every request, body transfers included)
    /// ends after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = vitrine_client::DEFAULT_DEADLINE_SECS)]
    deadline: u64,
    /// Online: one request (body transfer included) ends after this many
    /// seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

use vitrine_endpoint::state::{human_time, record_outcome};
use vitrine_endpoint::update::{update, Outcome, Source};

fn state_dir(arg: Option<PathBuf>) -> Result<PathBuf> {
    vitrine_endpoint::state::state_dir(arg.as_deref())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy_path = args.policy.context(
        "no --policy given, and the configuration has no `policy = \"/path/to/policy\"` \
         (see `vitrine config show`)",
    )?;
    let policy = crate::cmd::trust::read_policy(&policy_path)?;
    let dir = state_dir(args.state)?;
    let state =
        EndpointState::open(&dir).with_context(|| format!("opening state {}", dir.display()))?;
    if args.deadline == 0 || args.timeout == 0 {
        bail!("--deadline and --timeout must be at least 1 second");
    }
    let policy_url = policy.log_url();
    let opts = FetchOptions {
        index: args.index,
        deadline: std::time::Duration::from_secs(args.deadline),
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    let source = match (&args.log, &args.from, policy_url) {
        (Some(url), _, _) => Source::LogWith(url, opts),
        (None, Some(d), _) => Source::Dir(d),
        (None, None, Some(url)) => Source::LogWith(url, opts),
        (None, None, None) => bail!(
            "the policy {} names no log URL: give --log URL or --from DIR",
            policy_path.display()
        ),
    };
    let by = "the last `vitrine update`";
    match update(&policy, &state, source, "", &mut |line| println!("{line}")) {
        Ok(Outcome::Activated(m)) => {
            let message = format!("activated {} v{}", m.name, m.version);
            record_outcome(&dir, by, true, &message);
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::NothingToDo(v)) => {
            record_outcome(&dir, by, true, &format!("up to date (v{v})"));
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Refused(why)) => {
            record_outcome(&dir, by, false, &format!("refused: {why}"));
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            record_outcome(&dir, by, false, &format!("{e:#}"));
            Err(e)
        }
    }
}

/// Show the endpoint's active bundle, what it was verified under, and
/// anything that needs the owner.
///
/// With --policy it also asks the policy's log whether this very binary is
/// a logged release with the reviews the policy requires (`vitrine release
/// verify --running`).
///
/// Exit status: 0 all is well; 1 fork evidence stands (updates from that
/// log are frozen: `vitrine trust forks`), the active bundle has expired,
/// the last update failed, or (with --policy) this binary is not a logged,
/// reviewed release; 2 error.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The endpoint state directory [default: as for `update`].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Check the running binary against the log of this trust policy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::cmd::bundle::Format::Text)]
    format: crate::cmd::bundle::Format,
}

pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let dir = state_dir(args.state)?;
    let state = dir
        .exists()
        .then(|| EndpointState::open(&dir))
        .transpose()?;
    let bundles = match &state {
        Some(s) => s.actives()?,
        None => Vec::new(),
    };
    let mut acknowledged = Vec::new();
    for a in &bundles {
        acknowledged.push(a.rules()?);
    }
    let actives: Vec<ActiveMetadata> = bundles.into_iter().map(|a| a.metadata).collect();
    let records = match &state {
        Some(s) => s.fork_records()?,
        None => Vec::new(),
    };
    let standing: Vec<_> = records.iter().filter(|r| r.cleared_at.is_none()).collect();
    let now = vitrine_endpoint::state::now();
    let expired = actives.first().is_some_and(|m| m.expires <= now);
    let mut warnings = vitrine_endpoint::state::state_warnings(&dir)?;
    let binary = match &args.policy {
        Some(p) => {
            let policy = crate::cmd::trust::read_policy(p)?;
            let v = crate::cmd::release::check(Path::new("/proc/self/exe"), &policy, None)?;
            if v.verdict != "release" {
                warnings.push(format!(
                    "this binary is {}",
                    crate::cmd::release::running_summary(&v)
                ));
            }
            Some(v)
        }
        None => None,
    };
    match args.format {
        crate::cmd::bundle::Format::Json => {
            let v = serde_json::json!({
                "state": dir,
                // The first active bundle, as before channels; `bundles`
                // lists every one.
                "active": actives.first(),
                "active_expired": expired,
                "bundles": actives.iter().zip(&acknowledged).map(|(m, r)| serde_json::json!({
                    "bundle": m,
                    "expired": m.expires <= now,
                    "acknowledged_findings": r.allow.iter().map(|a| serde_json::json!({
                        "finding": a.finding.as_str(),
                        "severity": vitrine_lint::severity_of(a.id_and_rule().0).map(|s| s.as_str()),
                        "reason": a.reason.as_str(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "fork_evidence": standing.iter().map(|r| &r.path).collect::<Vec<_>>(),
                "binary": binary,
                "warnings": warnings,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        crate::cmd::bundle::Format::Text => {
            println!("state:          {}", escape(&dir.display().to_string()));
            if actives.is_empty() {
                println!("active bundle:  none (scans use the unverified built-in set)");
            }
            for (m, rules) in actives.iter().zip(&acknowledged) {
                let expired = m.expires <= now;
                println!("active bundle:  {} v{}", escape(&m.name), m.version);
                println!("sha256:         {} ({} bytes)", m.sha256, m.size);
                println!(
                    "log:            {} index {}",
                    escape(&m.log_origin),
                    m.log_index
                );
                println!(
                    "checkpoint:     size {} root {}",
                    m.checkpoint_size, m.checkpoint_root
                );
                println!("cosigned by:    {}", m.witnesses.join(", "));
                println!("verified at:    {}", human_time(m.verified_at));
                println!(
                    "expires:        {}{}",
                    human_time(m.expires),
                    if expired { " (EXPIRED)" } else { "" }
                );
                for line in vitrine_endpoint::update::acknowledged_lines(rules) {
                    println!("                {line}");
                }
            }
            if let Some(b) = &binary {
                println!(
                    "this binary:    {}",
                    crate::cmd::release::running_summary(b)
                );
            }
            for w in &warnings {
                println!("WARNING:        {w}");
            }
        }
    }
    Ok(if warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
