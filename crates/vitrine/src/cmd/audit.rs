//! `vitrine audit`: the monitor. Follows a log, verifies it, lints every
//! bundle it logs and prints what changed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use vitrine_audit::{AuditReport, Auditor, HttpSource};
use vitrine_note::VerifierKey;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document per pass (one line each with --follow).
    Json,
}

/// Monitor a log: verify every checkpoint, entry and bundle, and lint
/// every rule ever published.
///
/// Each pass verifies the log's signature on its checkpoint, that the new
/// entries extend the tree verified before to exactly that checkpoint (a
/// fork is an alarm; both checkpoints are kept under DIR/forks), that every
/// entry is a valid statement signed by a key the authorization file allows
/// to make its type, and that every logged bundle can be fetched from the
/// log's content store and hashes right. Every bundle is linted (see
/// `vitrine lint`) and compared with the previous version of the same
/// bundle: rules added, removed, changed.
///
/// State (what was verified, the previous bundles' rules) lives in
/// --state DIR, so the next run only reads new entries.
///
/// Exit status: 0 nothing to report, 1 an alarm or a high-severity finding
/// the publisher did not acknowledge, 2 the audit could not run (log
/// unreachable, bad arguments).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  vitrine audit --log http://127.0.0.1:8080 --log-key LOG_VKEY --authorized log/authorized --state audit/\n  vitrine audit ... --follow --interval 60 --format json >> audit.ndjson"
)]
pub struct Args {
    /// The log's URL.
    #[arg(long, value_parser = crate::util::http_url)]
    log: String,
    /// The log's verifier key (printed by `vitrine log init`).
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    /// Who may log which statement types: the log's `authorized` file
    /// (lines `rules,release VKEY`).
    #[arg(long, value_name = "FILE")]
    authorized: PathBuf,
    /// The monitor's state directory (created).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Keep watching: run a pass every --interval seconds.
    #[arg(long)]
    follow: bool,
    /// Seconds between passes with --follow (at least 1).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The canary scan of every bundle (see `vitrine lint --help`).
    #[command(flatten)]
    canary: crate::cmd::lint::CanaryArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key: VerifierKey = args.log_key.parse().context("parsing --log-key")?;
    let auth = crate::util::read_authorization(&args.authorized)?;
    let source = HttpSource::new(&args.log)?;
    let mut auditor = Auditor::new(source, key, auth, &args.state)?;
    if let Some(corpus) = args.canary.corpus()? {
        auditor = auditor.with_canaries(corpus);
    }
    let mut attention = false;
    loop {
        let report = auditor.run_once().context("auditing")?;
        attention |= report.needs_attention();
        let mut out = std::io::stdout().lock();
        match args.format {
            Format::Json => {
                serde_json::to_writer(&mut out, &report)?;
                writeln!(out)?;
            }
            Format::Text => print_text(&mut out, &report)?,
        }
        out.flush()?;
        if !args.follow {
            break;
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
    Ok(if attention {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_text(out: &mut impl Write, r: &AuditReport) -> Result<()> {
    for a in &r.alarms {
        writeln!(out, "ALARM: {a}")?;
    }
    for b in &r.bundles {
        writeln!(
            out,
            "log index {}: bundle {} v{} sha256 {}: {}{}",
            b.index,
            b.name,
            b.version,
            b.sha256,
            crate::util::count(b.rules as u64, "rule", "rules"),
            match b.previous_version {
                Some(v) => format!(
                    ", since v{v}: {} added, {} removed, {} changed",
                    b.added.len(),
                    b.removed.len(),
                    b.changed.len()
                ),
                None => ", first version seen".to_owned(),
            }
        )?;
        for (sign, list) in [("+", &b.added), ("-", &b.removed), ("~", &b.changed)] {
            if b.previous_version.is_some() {
                for rule in list.iter() {
                    writeln!(out, "  {sign} {rule}")?;
                }
            }
        }
        for f in &b.findings {
            writeln!(
                out,
                "  {}{}",
                crate::cmd::lint::text(&f.finding),
                match &f.acknowledged {
                    Some(reason) => format!(" [acknowledged by the publisher: {reason}]"),
                    None => String::new(),
                }
            )?;
        }
    }
    let counts: Vec<String> = r
        .statements
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    writeln!(
        out,
        "log {}: verified size {} (was {}); new statements: {}; {} bundles, {} alarms",
        r.origin,
        r.size,
        r.previous_size,
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        },
        r.bundles.len(),
        r.alarms.len()
    )?;
    Ok(())
}
