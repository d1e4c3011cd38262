//! `vitrine center`: the transparency center, a web view of everything
//! the monitor verified in the rules log and the custody log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use vitrine_center::{Config, LogKind, LogSource};
use vitrine_note::VerifierKey;

/// Serve the transparency center: the logs' heads and witnesses, every
/// rule bundle with its diffs, findings and reviews, releases, and what
/// the vendor did with customers' data.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Serve(Box<ServeArgs>),
}

/// Follow the logs and serve the center on a web address.
///
/// The center runs the monitor of `vitrine audit --follow` on each log
/// (every checkpoint, entry and bundle verified; forks kept as evidence
/// under --state; alarms raised), records what each pass verified in
/// STATE/center.sqlite, and serves it: pages rendered on the server that
/// work without JavaScript, and the same data as JSON at the same
/// addresses (`?format=json`; documented at /api). Witness cosignatures
/// are checked with the keys of the trust policy's `witness` lines.
///
/// Nothing it shows is taken on the log's word: a pass that does not
/// verify records nothing but its alarm.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  vitrine center serve --log http://127.0.0.1:8080 --log-key \"$(vitrine key show log/log.key)\" \\\n      --authorized log/authorized --policy policy --state center/ --addr 127.0.0.1:8090\n  then open http://127.0.0.1:8090/ (or curl 'http://127.0.0.1:8090/bundles?format=json')"
)]
pub struct ServeArgs {
    /// The rules log's URL.
    #[arg(long, value_parser = crate::util::http_url)]
    log: String,
    /// The rules log's verifier key.
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    /// Who may log what in the rules log (its `authorized` file).
    #[arg(long, value_name = "FILE")]
    authorized: PathBuf,
    /// The custody log's URL (receipts, accesses, deletions).
    #[arg(long, value_parser = crate::util::http_url, requires_all = ["custody_key", "custody_authorized"])]
    custody_log: Option<String>,
    /// The custody log's verifier key.
    #[arg(long, value_name = "VKEY", requires = "custody_log")]
    custody_key: Option<String>,
    /// Who may log what in the custody log.
    #[arg(long, value_name = "FILE", requires = "custody_log")]
    custody_authorized: Option<PathBuf>,
    /// The trust policy whose witnesses' cosignatures are shown.
    #[arg(long, value_name = "POLICY")]
    policy: PathBuf,
    /// The center's state directory: the monitors' state and the index
    /// (created).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: std::net::SocketAddr,
    /// Seconds between monitor passes (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    #[command(flatten)]
    limits: crate::util::ServerLimitArgs,
}

fn source(
    kind: LogKind,
    url: &str,
    key: &str,
    authorized: &std::path::Path,
    flag: &str,
) -> Result<LogSource> {
    let key: VerifierKey = key.parse().with_context(|| format!("parsing {flag}"))?;
    let auth = crate::util::read_authorization(authorized)?;
    Ok(LogSource {
        kind,
        url: url.to_owned(),
        key,
        auth,
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Command::Serve(a) = args.command;
    let rules = source(
        LogKind::Rules,
        &a.log,
        &a.log_key,
        &a.authorized,
        "--log-key",
    )?;
    let custody = match (&a.custody_log, &a.custody_key, &a.custody_authorized) {
        (Some(url), Some(key), Some(auth)) => {
            Some(source(LogKind::Custody, url, key, auth, "--custody-key")?)
        }
        _ => None,
    };
    let policy = crate::cmd::trust::read_policy(&a.policy)?;
    let config = Config {
        rules,
        custody,
        witnesses: policy.tlog().witness_verifiers(),
        state: a.state.clone(),
        interval: Duration::from_secs(a.interval),
    };
    let limits = a.limits.limits();
    let (monitors, router) = vitrine_center::start(&config).map_err(anyhow::Error::msg)?;
    crate::util::serve_http(
        a.addr,
        |addr| format!("vitrine: transparency center listening on http://{addr}"),
        |listener| async move {
            vitrine_server::harden::serve(listener, router, limits, crate::util::ctrl_c())
                .await
                .context("serving")
        },
    )?;
    drop(monitors);
    Ok(ExitCode::SUCCESS)
}
