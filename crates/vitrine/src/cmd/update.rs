//! `vitrine update` and `vitrine status`: the endpoint side of "The update
//! check" (DESIGN.md), over `vitrine-client`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_client::{
    activate, escape, fetch_update, read_update_dir, store_up_to_date, verify_update,
    ActiveMetadata, EndpointState, FetchError, FetchOptions, Fetched, Rejection, TrustPolicy,
    UpToDate, UpdateError, VerifiedUpdate,
};
use vitrine_scan::{RuleSource, RulesBuilder};

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
    /// The trust policy file (`vitrine trust init`).
    #[arg(long)]
    policy: PathBuf,
    /// The endpoint state directory [default: $VITRINE_STATE, else
    /// $XDG_DATA_HOME/vitrine, else ~/.local/share/vitrine].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Fetch the newest bundle from this log [default: the URL of the
    /// policy's `log` line].
    #[arg(long, value_name = "URL", conflicts_with = "from")]
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

/// The system's endpoint state: where the service (`vitrine daemon
/// --state`, or root's `vitrine update --state`) keeps the verified bundle
/// every user's scan falls back to. `VITRINE_SYSTEM_STATE` overrides it.
pub fn system_state_dir() -> PathBuf {
    std::env::var_os("VITRINE_SYSTEM_STATE")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/var/lib/vitrine"), PathBuf::from)
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
            args.policy.display()
        ),
    };
    let by = "the last `vitrine update`";
    match update(&policy, &state, source, "") {
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
) -> Result<Outcome> {
    let now = now();
    let verified = match source {
        Source::Log(url, index) => {
            let opts = FetchOptions {
                index,
                ..FetchOptions::default()
            };
            fetch(policy, state, url, now, &opts, indent)
        }
        Source::LogWith(url, opts) => fetch(policy, state, url, now, &opts, indent),
        Source::Dir(dir) => {
            println!(
                "{indent}reading update directory {}",
                escape(&dir.display().to_string())
            );
            read_update_dir(dir, policy.limits())
                .and_then(|input| verify_update(policy, state, now, input))
                .map(|v| Fetched::Update(Box::new(v)))
        }
    };
    let verified = match verified {
        Ok(Fetched::Update(v)) => *v,
        Ok(Fetched::UpToDate(up)) => return up_to_date(state, &up, indent),
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
                if let Err(e) = crate::cmd::bundle::compile(&v.bundle, source) {
                    return refusal(
                        UpdateError::CompileCheck {
                            message: format!("bundle {}: {e:#}", escape(&v.bundle.manifest().name)),
                        },
                        indent,
                    );
                }
            }
            let mut last = None;
            for v in all {
                let channel = v.channel.clone().unwrap_or_default();
                println!("{indent}channel {}:", escape(&channel));
                let o = install_verified(policy, state, v, &format!("{indent}  "))?;
                if matches!(o, Outcome::Refused(_)) {
                    return Ok(o);
                }
                last = Some(o);
            }
            return Ok(last.expect("invariant: at least one channel"));
        }
        Err(e) => return refusal(e, indent),
    };
    install_verified(policy, state, verified, indent)
}

/// Prints the checks a verified update passed and activates it.
fn install_verified(
    policy: &TrustPolicy,
    state: &EndpointState,
    verified: VerifiedUpdate,
    indent: &str,
) -> Result<Outcome> {
    let active_before = state
        .active_in(verified.channel.as_deref())?
        .map(|a| a.metadata);
    print_checks(policy, state, &verified, active_before.as_ref(), indent)?;
    if verified.already_active {
        let version = verified.rules.version;
        let size = verified.checkpoint.size;
        let advanced = verified.advances_checkpoint;
        return match activate(state, verified, |_| Ok(())) {
            Ok(_) => {
                println!(
                    "{indent}UP TO DATE: bundle version {version} is already active, nothing to do{}",
                    if advanced {
                        format!("; stored checkpoint advanced to size {size}")
                    } else {
                        String::new()
                    }
                );
                Ok(Outcome::NothingToDo(version))
            }
            Err(e) => refusal(e, indent),
        };
    }
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
                escape(&m.name),
                m.version,
                m.log_index
            );
            Ok(Outcome::Activated(m))
        }
        Err(e) => refusal(e, indent),
    }
}

fn fetch(
    policy: &TrustPolicy,
    state: &EndpointState,
    url: &str,
    now: u64,
    opts: &FetchOptions,
    indent: &str,
) -> Result<Fetched, UpdateError> {
    let url_shown = escape(url);
    match opts.index {
        Some(i) => println!("{indent}fetching the bundle at log index {i} from {url_shown}"),
        None => println!(
            "{indent}fetching the newest bundle from {url_shown} (deadline {} s)",
            opts.deadline.as_secs()
        ),
    }
    fetch_update(policy, state, url, now, opts)
}

/// No rules statement since the stored checkpoint: the active bundle is the
/// newest. The verified checkpoint becomes the stored one.
fn up_to_date(state: &EndpointState, up: &UpToDate, indent: &str) -> Result<Outcome> {
    let actives: Vec<ActiveMetadata> = state.actives()?.into_iter().map(|a| a.metadata).collect();
    let Some(first) = actives.first().cloned() else {
        bail!("up to date, but no bundle is active");
    };
    let advanced = match store_up_to_date(state, up) {
        Ok(a) => a,
        Err(e) => return refusal(e, indent),
    };
    println!(
        "{indent}  [ok] checkpoint {} size {} cosigned by {} (quorum met, fresh), consistent with the stored one",
        escape(&up.origin),
        up.checkpoint.size,
        up.witnesses.join(", ")
    );
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
        println!("{indent}UP TO DATE: bundle {only} is the newest; {stored}");
    } else {
        println!(
            "{indent}UP TO DATE: bundles {} are the newest of their channels; {stored}",
            bundles.join(", ")
        );
    }
    for a in &actives {
        if a.expires <= now() {
            println!(
                "{indent}WARNING: the active bundle {} expired at {}",
                escape(&a.name),
                human_time(a.expires)
            );
        }
    }
    Ok(Outcome::NothingToDo(first.version))
}

fn refusal(e: UpdateError, indent: &str) -> Result<Outcome> {
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
        println!("{indent}  [FAIL] {step}. {what}");
    } else {
        println!("{indent}  [FAIL] {what}");
    }
    println!("{indent}REFUSED: {}", escape(&reason));
    if matches!(
        e,
        UpdateError::Fork { .. } | UpdateError::LogFrozenByFork { .. }
    ) {
        println!("{indent}review the evidence with `vitrine trust forks list`");
    }
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
        println!("{indent}  {line}");
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

/// The active verified bundles' rules (every channel's), if the state
/// directory has any. Each bundle's bytes are checked against its recorded
/// SHA-256 first; each bundle's YARA rules get their own namespace.
pub fn active_rules(state_dir: &Path) -> Result<Option<RulesBuilder>> {
    if !state_dir.join("active").exists() && !state_dir.join("channels").is_dir() {
        return Ok(None);
    }
    let state = EndpointState::open(state_dir)?;
    let mut used = Vec::new();
    for active in state.actives()? {
        let m = active.metadata.clone();
        if m.expires <= now() && m.on_expiry == vitrine_client::OnExpiry::Builtin {
            // The policy said: once expired, do not scan with it (the
            // summary says the bundle expired).
            continue;
        }
        let path = active.bundle_path();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if hex::encode(Sha256::digest(&bytes)) != m.sha256 {
            bail!(
                "the active bundle {} does not hash to its verified SHA-256: run `vitrine update` again",
                path.display()
            );
        }
        let bundle = Bundle::parse(&bytes, &Limits::default())
            .with_context(|| format!("parsing {}", path.display()))?;
        used.push((m, bundle));
    }
    let (first, rest) = match used.split_first() {
        None => return Ok(None),
        Some(x) => x,
    };
    let source = |m: &ActiveMetadata| RuleSource::VerifiedBundle {
        name: m.name.clone(),
        version: m.version,
        log_index: m.log_index,
    };
    if rest.is_empty() {
        return Ok(Some(crate::cmd::bundle::builder(
            &first.1,
            source(&first.0),
        )));
    }
    let mut b = RulesBuilder::new();
    for (m, bundle) in &used {
        b.namespace(Some(&m.name));
        crate::cmd::bundle::add_bundle(&mut b, bundle);
    }
    b.namespace(None);
    b.source(RuleSource::VerifiedBundles {
        bundles: used
            .iter()
            .map(|(m, _)| vitrine_scan::BundleRef {
                name: m.name.clone(),
                version: m.version,
                log_index: m.log_index,
            })
            .collect(),
    });
    Ok(Some(b))
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

/// A date people and programs can read, in ISO 8601 (UTC):
/// `2026-11-30T15:42:08Z`.
pub fn human_time(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil from days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Where the outcome of the last update (`vitrine update` or the
/// daemon's schedule) is recorded in the state directory.
const UPDATE_RECORD: &str = "last-update.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct UpdateRecord {
    /// Unix seconds.
    at: u64,
    /// Who ran it.
    by: String,
    ok: bool,
    message: String,
}

/// Records how an update ended, so `vitrine status` and `scan` can say
/// why the last one failed until one succeeds. A failure to record is
/// logged, not fatal: the update's own outcome stands.
pub fn record_outcome(state: &Path, by: &str, ok: bool, message: &str) {
    let record = UpdateRecord {
        at: now(),
        by: by.to_owned(),
        ok,
        message: message.to_owned(),
    };
    let path = state.join(UPDATE_RECORD);
    let written = serde_json::to_vec_pretty(&record)
        .map_err(std::io::Error::other)
        .and_then(|b| vitrine_fs::write_atomic(&path, &b, 0o644).map_err(std::io::Error::other));
    if let Err(e) = written {
        tracing::error!(error = %e, path = %path.display(), "recording the update outcome");
    }
}

/// The warning `vitrine status` and `scan` show while the last update
/// failed or was refused.
pub fn last_update_warning(state: &Path) -> Option<String> {
    let bytes = std::fs::read(state.join(UPDATE_RECORD)).ok()?;
    let r: UpdateRecord = serde_json::from_slice(&bytes).ok()?;
    (!r.ok).then(|| {
        format!(
            "{} failed at {}: {}; the active rules stay in use",
            escape(&r.by),
            human_time(r.at),
            escape(&r.message)
        )
    })
}

/// What needs the owner's attention in a state directory: standing fork
/// evidence and an expired active bundle. For `status` and `scan`.
pub fn state_warnings(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(w) = last_update_warning(dir) {
        out.push(w);
    }
    // Not an endpoint state (yet): nothing to say, and nothing created.
    if !dir.join("forks").is_dir() && !dir.join("active").exists() && !dir.join("channels").is_dir()
    {
        return Ok(out);
    }
    let state = EndpointState::open(dir)?;
    for r in state.fork_records()? {
        if r.cleared_at.is_none() {
            out.push(format!(
                "fork evidence for log {} ({}): updates from it are frozen; see `vitrine trust forks show {}`",
                escape(&r.evidence.origin),
                r.evidence.kind,
                r.id
            ));
        }
    }
    for a in state.actives()? {
        let m = a.metadata;
        if m.expires <= now() {
            out.push(format!(
                "the active bundle {} v{} expired at {}; {}; run `vitrine update`",
                escape(&m.name),
                m.version,
                human_time(m.expires),
                match m.on_expiry {
                    vitrine_client::OnExpiry::Keep => "scans still use it (policy on-expiry keep)",
                    vitrine_client::OnExpiry::Builtin =>
                        "scans use the unverified built-in set instead (policy on-expiry builtin)",
                }
            ));
        }
    }
    Ok(out)
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
    let now = now();
    let expired = actives.first().is_some_and(|m| m.expires <= now);
    let mut warnings = state_warnings(&dir)?;
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
                for line in acknowledged_lines(rules) {
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

#[cfg(test)]
mod tests {
    use super::human_time;

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(human_time(0), "1970-01-01T00:00:00Z");
        // A leap day, and the end of a day.
        assert_eq!(human_time(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(human_time(1_796_077_378), "2026-11-30T22:22:58Z");
    }
}
