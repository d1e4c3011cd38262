//! `vitrine trust`: write an endpoint's trust policy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vitrine_client::{escape, CheckpointAfterClear, EndpointState, ForkRecord, TrustPolicy};

/// Write an endpoint trust policy (which log, witnesses and publishers to
/// trust) and review fork evidence.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Write a trust policy file (tlog-policy plus publisher and max-age).
    ///
    /// Example:
    ///
    ///   vitrine trust init -o policy --log-key "$LOG_VKEY" --log-url http://127.0.0.1:8080
    ///     --witness w1 "$W1_VKEY" http://127.0.0.1:8081 --witness w2 "$W2_VKEY"
    ///     --quorum 2 --publisher "$PUB_VKEY" --max-age 86400
    ///     --reviewer "$REVIEWER_VKEY" --require-reviews 1 --refuse-finding VL1*
    #[command(verbatim_doc_comment)]
    Init {
        /// The policy file to write (never overwritten).
        #[arg(short, long)]
        output: PathBuf,
        /// The log's verifier key; its name is the log's origin.
        #[arg(long)]
        log_key: String,
        /// The log's URL.
        #[arg(long, value_parser = crate::util::http_url)]
        log_url: Option<String>,
        /// A witness: NAME VKEY [URL] (repeatable).
        #[arg(long, num_args = 2..=3, value_names = ["NAME", "VKEY", "URL"])]
        witness: Vec<String>,
        /// How many witnesses must cosign: a number, `all`, `any`, or `none`.
        #[arg(long)]
        quorum: String,
        /// A publisher's verifier key (repeatable).
        #[arg(long, required = true)]
        publisher: Vec<String>,
        /// Reject checkpoints whose newest witness cosignature is older
        /// than this many seconds.
        #[arg(long, value_name = "SECS")]
        max_age: u64,
        /// A reviewer's verifier key (repeatable): their logged `review`
        /// statements count (`vitrine review`). Not a publisher's key.
        #[arg(long, value_name = "VKEY")]
        reviewer: Vec<String>,
        /// Install a bundle only with this many logged approvals from
        /// distinct --reviewer keys, and no logged rejection by any of
        /// them [default: 0].
        #[arg(long, value_name = "N", requires = "reviewer")]
        require_reviews: Option<u64>,
        /// Refuse bundles whose statement acknowledges a lint finding of
        /// this ID (VL302), ID prefix (VL1*) or severity (high, medium,
        /// low); repeatable.
        #[arg(long, value_name = "PATTERN")]
        refuse_finding: Vec<String>,
    },
    /// Fork evidence: list, show, export for auditors, clear.
    ///
    /// An endpoint records fork evidence only when its log's key signed two
    /// checkpoints that cannot both be true; updates from that log are then
    /// refused until the owner clears it. Clearing is recorded in the state
    /// (the evidence is kept, renamed `<log-id>.cleared-<time>.json`).
    ///
    /// Examples:
    ///
    ///   vitrine trust forks list
    ///   vitrine trust forks show 3f2a...
    ///   vitrine trust forks export 3f2a... -o evidence.json
    ///   vitrine trust forks clear 3f2a...
    #[command(verbatim_doc_comment)]
    Forks {
        #[command(subcommand)]
        command: ForksCommand,
    },
}

#[derive(clap::Subcommand)]
enum ForksCommand {
    /// List fork evidence, standing and cleared.
    List {
        /// The endpoint state directory [default: as for `update`].
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::cmd::bundle::Format::Text)]
        format: crate::cmd::bundle::Format,
    },
    /// Show one record: both signed checkpoints, the kind, the proof.
    Show {
        /// The log id (from `list`) or the log's origin.
        log: String,
        /// The endpoint state directory [default: as for `update`].
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Write the standing evidence as JSON (both checkpoint notes verbatim,
    /// the consistency proof) for auditors.
    Export {
        /// The log id (from `list`) or the log's origin.
        log: String,
        /// The endpoint state directory [default: as for `update`].
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Write here (never overwritten) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Unfreeze the log after reviewing the evidence (kept, marked cleared).
    Clear {
        /// The log id (from `list`) or the log's origin.
        log: String,
        /// The endpoint state directory [default: as for `update`].
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Also forget the stored checkpoint of that log: the next verified
        /// checkpoint is trusted on first use. Without it, updates must
        /// still be consistent with the stored checkpoint.
        #[arg(long)]
        forget_checkpoint: bool,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Init {
            output,
            log_key,
            log_url,
            witness,
            quorum,
            publisher,
            max_age,
            reviewer,
            require_reviews,
            refuse_finding,
        } => {
            let witnesses = group_witnesses(witness)?;
            let mut text = policy_text(
                &log_key,
                log_url.as_deref(),
                &witnesses,
                &quorum,
                &publisher,
                max_age,
            )?;
            for r in &reviewer {
                text.push_str(&format!("reviewer {r}\n"));
            }
            if let Some(n) = require_reviews {
                text.push_str(&format!("require-reviews {n}\n"));
            }
            for p in &refuse_finding {
                text.push_str(&format!("refuse-finding {p}\n"));
            }
            TrustPolicy::parse(text.as_bytes()).context("the policy does not check out")?;
            write_policy(&output, &text)?;
            println!("{}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Forks { command } => forks(command),
    }
}

fn open_state(dir: Option<PathBuf>) -> Result<EndpointState> {
    let dir = dir.map_or_else(vitrine_endpoint::state::default_state_dir, Ok)?;
    if !dir.is_dir() {
        bail!("no endpoint state directory {}", dir.display());
    }
    EndpointState::open(&dir).with_context(|| format!("opening state {}", dir.display()))
}

/// The standing record for a log id or origin.
fn standing(state: &EndpointState, log: &str) -> Result<ForkRecord> {
    let id = if log.len() == 32 && log.bytes().all(|b| b.is_ascii_hexdigit()) {
        log.to_ascii_lowercase()
    } else {
        vitrine_client::log_id(log)
    };
    state
        .fork_records()?
        .into_iter()
        .find(|r| r.id == id && r.cleared_at.is_none())
        .with_context(|| {
            format!(
                "no standing fork evidence for {} in {} (see `vitrine trust forks list`)",
                escape(log),
                state.dir().display()
            )
        })
}

fn evidence_json(r: &ForkRecord) -> serde_json::Value {
    serde_json::json!({
        "log_id": r.id,
        "origin": r.evidence.origin,
        "kind": r.evidence.kind,
        "detected_at": r.evidence.detected_at,
        "cleared_at": r.cleared_at,
        "stored_checkpoint": r.evidence.stored_checkpoint,
        "new_checkpoint": r.evidence.new_checkpoint,
        "consistency_proof": r.evidence.consistency_proof,
    })
}

fn forks(command: ForksCommand) -> Result<ExitCode> {
    use vitrine_endpoint::state::human_time;
    match command {
        ForksCommand::List { state, format } => {
            let state = open_state(state)?;
            let records = state.fork_records()?;
            match format {
                crate::cmd::bundle::Format::Json => {
                    let v: Vec<_> = records.iter().map(evidence_json).collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                crate::cmd::bundle::Format::Text => {
                    if records.is_empty() {
                        println!("no fork evidence");
                    }
                    for r in &records {
                        let status = match r.cleared_at {
                            None => "STANDING (updates from this log are frozen)".to_owned(),
                            Some(t) => format!("cleared {}", human_time(t)),
                        };
                        println!(
                            "{}  {}  {}  detected {}  {status}",
                            r.id,
                            escape(&r.evidence.origin),
                            r.evidence.kind,
                            human_time(r.evidence.detected_at)
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ForksCommand::Show { log, state } => {
            let state = open_state(state)?;
            let r = standing(&state, &log)?;
            let ev = &r.evidence;
            println!("log:        {}", escape(&ev.origin));
            println!("log id:     {}", r.id);
            println!("kind:       {}", ev.kind);
            println!("detected:   {}", human_time(ev.detected_at));
            println!("file:       {}", r.path.display());
            println!("stored checkpoint (verified earlier):");
            for l in ev.stored_checkpoint.lines() {
                println!("  {}", escape(l));
            }
            println!("new checkpoint (signed by the same log key):");
            for l in ev.new_checkpoint.lines() {
                println!("  {}", escape(l));
            }
            if !ev.consistency_proof.is_empty() {
                println!("consistency proof ({} hashes):", ev.consistency_proof.len());
                for h in &ev.consistency_proof {
                    println!("  {}", escape(h));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ForksCommand::Export { log, state, output } => {
            let state = open_state(state)?;
            let r = standing(&state, &log)?;
            let json = serde_json::to_string_pretty(&evidence_json(&r))? + "\n";
            match output {
                None => print!("{json}"),
                Some(p) => {
                    write_policy(&p, &json)?;
                    println!("{}", p.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ForksCommand::Clear {
            log,
            state,
            forget_checkpoint,
        } => {
            let state = open_state(state)?;
            let r = standing(&state, &log)?;
            let keep = if forget_checkpoint {
                CheckpointAfterClear::Forget
            } else {
                CheckpointAfterClear::Keep
            };
            state.clear_fork(&r.evidence.origin, vitrine_endpoint::state::now(), keep)?;
            println!(
                "cleared the fork evidence for {}; it is kept as cleared in {}",
                escape(&r.evidence.origin),
                state.dir().join("forks").display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Splits the values of every `--witness NAME VKEY [URL]` (clap flattens
/// them): a URL is a value starting with `http://` or `https://`.
fn group_witnesses(values: Vec<String>) -> Result<Vec<(String, String, Option<String>)>> {
    let mut out = Vec::new();
    let mut it = values.into_iter().peekable();
    while let Some(name) = it.next() {
        let Some(key) = it.next() else {
            bail!("--witness {name}: expected NAME VKEY [URL]");
        };
        let url = it.next_if(|v| v.starts_with("http://") || v.starts_with("https://"));
        out.push((name, key, url));
    }
    Ok(out)
}

/// The policy text; checked by parsing it back.
pub fn policy_text(
    log_key: &str,
    log_url: Option<&str>,
    witnesses: &[(String, String, Option<String>)],
    quorum: &str,
    publishers: &[String],
    max_age: u64,
) -> Result<String> {
    let mut s = format!("log {log_key}");
    if let Some(u) = log_url {
        s.push_str(&format!(" {u}"));
    }
    s.push('\n');
    for (name, key, url) in witnesses {
        s.push_str(&format!("witness {name} {key}"));
        if let Some(u) = url {
            s.push_str(&format!(" {u}"));
        }
        s.push('\n');
    }
    match quorum {
        "none" => s.push_str("quorum none\n"),
        q => {
            if witnesses.is_empty() {
                bail!("--quorum {q} needs at least one --witness");
            }
            if q != "all" && q != "any" && q.parse::<u64>().is_err() {
                bail!("--quorum must be a number, all, any or none");
            }
            let names: Vec<&str> = witnesses.iter().map(|w| w.0.as_str()).collect();
            s.push_str(&format!("group witnesses {q} {}\n", names.join(" ")));
            s.push_str("quorum witnesses\n");
        }
    }
    for p in publishers {
        s.push_str(&format!("publisher {p}\n"));
    }
    s.push_str(&format!("max-age {max_age}\n"));
    TrustPolicy::parse(s.as_bytes()).context("the policy does not check out")?;
    Ok(s)
}

/// Writes a new policy file; refuses to replace one.
pub fn write_policy(path: &Path, text: &str) -> Result<()> {
    crate::util::write_new(path, text.as_bytes())
}

/// The log to talk to: `--log URL` if given, else the policy's log URL.
pub fn log_url(policy: &TrustPolicy, log: Option<String>) -> Result<String> {
    match log.or_else(|| policy.log_url().map(str::to_owned)) {
        Some(u) => Ok(u),
        None => bail!("the policy names no log URL: give --log URL"),
    }
}

/// Reads and parses a policy file.
pub fn read_policy(path: &Path) -> Result<TrustPolicy> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    TrustPolicy::parse(&bytes).with_context(|| format!("trust policy {}", path.display()))
}
