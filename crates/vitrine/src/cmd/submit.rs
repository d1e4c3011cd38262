//! `vitrine submit FILE`, and [`submit_after_scan`] for automatic
//! submission: both go through the egress policy and the ledger.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vitrine_endpoint::state::now;

use anyhow::{Context, Result};
use vitrine_egress::{ContentDecision, Decision};
use vitrine_intake::endpoint::{ConsentAnswer, Endpoint, SubmitOutcome, Via};

/// Submit a file to the vendor under your egress policy.
///
/// The policy decides from the file's content what leaves: by default only
/// metadata (hash, size, detected type, detection names, redacted path).
/// Content leaves only for kinds the policy enables, never documents, never
/// archives holding one. With `consent = "ask"` you are asked on the
/// terminal; with no terminal, content stays. The egress is written to the
/// ledger before anything is sent, and the intake's receipt is verified
/// (signed, and included in the vendor's log) and recorded.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  vitrine submit ./suspicious.bin\n  vitrine submit ./a.out --detection Linux.Miner --format json"
)]
pub struct Args {
    /// The file.
    file: PathBuf,
    /// The egress state directory [default: see `vitrine egress --help`].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// A detection name to report with it. Repeatable.
    #[arg(long, value_name = "NAME")]
    detection: Vec<String>,
    /// The rule bundle version that detected it.
    #[arg(long, value_name = "N")]
    bundle_version: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Asks on the terminal; never when stdin or stderr is not one.
fn ask<'a>(path: &'a Path, destination: &'a str) -> impl FnMut(&Decision) -> ConsentAnswer + 'a {
    move |d: &Decision| {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return ConsentAnswer::CannotAsk;
        }
        eprint!(
            "Send the content of {} ({}, {} bytes, sha256 {}) to {destination}? [y/N] ",
            path.display(),
            d.metadata.kind,
            d.metadata.size,
            d.metadata.sha256
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return ConsentAnswer::CannotAsk;
        }
        if matches!(line.trim(), "y" | "Y" | "yes" | "YES") {
            ConsentAnswer::Yes
        } else {
            ConsentAnswer::No
        }
    }
}

fn submit(
    state: Option<&Path>,
    path: &Path,
    detections: Vec<String>,
    bundle_version: Option<u64>,
    via: Via,
) -> Result<SubmitOutcome> {
    let dir = crate::cmd::egress::state_dir(state)?;
    let ep = Endpoint::open(&dir)
        .and_then(|e| e.with_pin(&vitrine_intake::endpoint::pin_path()))
        .with_context(|| format!("opening egress state {}", dir.display()))?;
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let destination = ep
        .destination()
        .map(|d| d.intake.clone())
        .unwrap_or_default();
    let mut consent = ask(path, &destination);
    Ok(ep.submit(
        path,
        &data,
        detections,
        bundle_version,
        via,
        &mut consent,
        now(),
    )?)
}

/// Automatic submission of one detected file after a scan (`vitrine scan
/// --submit`). Applies the egress policy in the egress state directory
/// (`state`, default as for `vitrine egress`), records the egress in the
/// ledger, sends, and verifies the receipt. Content the policy allows with
/// `consent = "ask"` is sent only if the owner says yes on a terminal.
/// Returns the outcome; an error means nothing was confirmed received (the
/// ledger records the attempt either way).
pub fn submit_after_scan(
    state: Option<&Path>,
    path: &Path,
    detections: &[String],
    bundle_version: Option<u64>,
) -> Result<SubmitOutcome> {
    submit(state, path, detections.to_vec(), bundle_version, Via::Scan)
}

/// One line for people about an outcome.
pub fn describe(path: &Path, out: &SubmitOutcome) -> String {
    let what = match &out.decision.content {
        ContentDecision::Allowed { .. } => "metadata and content sent".to_owned(),
        ContentDecision::Denied(r) => format!("metadata only ({r})"),
    };
    format!(
        "{}: {what}; receipt logged at index {}, ledger entry #{}",
        path.display(),
        out.receipt.index,
        out.seq
    )
}

pub fn run(args: Args) -> Result<ExitCode> {
    let out = submit(
        args.state.as_deref(),
        &args.file,
        args.detection,
        args.bundle_version,
        Via::Submit,
    )?;
    if args.format == Format::Json {
        let (content, reason) = match &out.decision.content {
            ContentDecision::Allowed { .. } => (true, None),
            ContentDecision::Denied(r) => (false, Some(r.to_string())),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "metadata": out.decision.metadata,
                "content_sent": content,
                "content_denied": reason,
                "ledger_seq": out.seq,
                "receipt_index": out.receipt.index,
            }))?
        );
    } else {
        println!("{}", describe(&args.file, &out));
    }
    Ok(ExitCode::SUCCESS)
}
