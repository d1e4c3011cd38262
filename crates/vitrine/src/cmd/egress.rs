//! `vitrine egress`: the data owner's side of data protection. What may
//! leave (the policy), where it goes, what left (the ledger), and what the
//! vendor did with it (the audit, from the ledger and the public log).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use vitrine_egress::{read_unverified, LedgerEvent, Policy, DEFAULT_POLICY};
use vitrine_endpoint::state::human_time;
use vitrine_intake::endpoint::{
    pin_path, Destination, Endpoint, OnlineVerification, DESTINATION_FILE, POLICY_FILE,
};

/// Control and audit what leaves this machine.
///
/// By default only metadata leaves (hash, size, detected type, detection
/// names, rule bundle version; paths with the home directory and user name
/// redacted). File content leaves only for the kinds the egress policy
/// enables, never documents, never an archive holding one. Every egress is
/// written to a signed, tamper-evident ledger first. See docs/egress.md.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  vitrine egress policy show\n  vitrine egress policy check my-policy.toml\n  vitrine egress init --intake https://intake.example --tenant t-5f2a9c --token-file token \\\n    --intake-key 'intake.example+…' --log https://log.example --log-key 'log.example+…' \\\n    --witnesses witnesses.policy\n  vitrine egress log\n  vitrine egress verify\n  vitrine egress audit --format json"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Show, check or print the default egress policy.
    Policy(PolicyArgs),
    /// Configure where submissions go (writes destination.toml).
    Init(InitArgs),
    /// List everything that left, from the ledger.
    Log(ViewArgs),
    /// Verify the ledger (signatures by the pinned endpoint key, hash
    /// chain, signed head), that every receipt answers exactly its own
    /// submission (tenant, endpoint, nonce, ledger position, time), is
    /// signed by the intake and included in the log under a checkpoint
    /// consistent with the log's current one, and that the log shows no
    /// later or different ledger entry than this ledger (no rollback).
    Verify(VerifyArgs),
    /// The data owner's view: everything that left, every receipt, every
    /// access to those samples (who, why) and every deletion, from the
    /// ledger and the vendor's public log.
    Audit(ViewArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct StateArgs {
    /// The egress state directory [default: the endpoint state directory
    /// (see `vitrine update --help`) + `/egress`].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// The file pinning the endpoint key, kept outside the state directory
    /// [default: $VITRINE_EGRESS_PIN, else /etc/vitrine/egress-endpoint.vkey].
    #[arg(long, value_name = "FILE")]
    pin: Option<PathBuf>,
}

impl StateArgs {
    fn pin(&self) -> PathBuf {
        self.pin.clone().unwrap_or_else(pin_path)
    }
}

#[derive(clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Check receipts against their own proofs only; do not ask the log
    /// whether their checkpoints are consistent with its current one.
    #[arg(long)]
    offline: bool,
}

#[derive(clap::Args)]
struct ViewArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(clap::Subcommand)]
enum PolicyCommand {
    /// Show the policy in force (the default if no policy.toml).
    Show(ViewArgs),
    /// Check a policy file; errors name the line and field.
    Check {
        /// The policy file [default: the one in force].
        file: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the documented default policy (a starting point).
    Default,
}

#[derive(clap::Args)]
struct InitArgs {
    #[command(flatten)]
    state: StateArgs,
    /// The intake's URL.
    #[arg(long, value_parser = crate::util::http_url)]
    intake: String,
    /// This tenant's pseudonym (receipts must name it).
    #[arg(long, value_name = "ID")]
    tenant: String,
    /// File holding this tenant's bearer token.
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// The intake's receipt key (vkey).
    #[arg(long, value_name = "VKEY")]
    intake_key: String,
    /// The vendor's log URL.
    #[arg(long, value_parser = crate::util::http_url)]
    log: String,
    /// The log's key (vkey).
    #[arg(long, value_name = "VKEY")]
    log_key: String,
    /// The custody log's witnesses: a tlog-policy (`witness NAME VKEY
    /// [URL]`, `group`, `quorum` lines) or a trust policy naming this log.
    /// Every receipt must be proven under a checkpoint their quorum
    /// cosigned.
    #[arg(long, value_name = "FILE")]
    witnesses: PathBuf,
}

/// The egress state directory.
pub fn state_dir(arg: Option<&Path>) -> Result<PathBuf> {
    match arg {
        Some(d) => Ok(d.to_owned()),
        None => Ok(vitrine_endpoint::state::default_state_dir()?.join("egress")),
    }
}

fn open(state: &StateArgs) -> Result<Endpoint> {
    let dir = state_dir(state.state.as_deref())?;
    let pin = state.pin();
    Endpoint::open(&dir)
        .and_then(|e| e.with_pin(&pin))
        .with_context(|| format!("opening egress state {}", dir.display()))
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Policy(p) => policy(p),
        Command::Init(a) => init(a),
        Command::Log(v) => log(v),
        Command::Verify(s) => verify(s),
        Command::Audit(v) => audit(v),
    }
}

fn policy(args: PolicyArgs) -> Result<ExitCode> {
    match args.command {
        PolicyCommand::Default => {
            print!("{DEFAULT_POLICY}");
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check { file, state } => {
            let path = match file {
                Some(f) => f,
                None => state_dir(state.state.as_deref())?.join(POLICY_FILE),
            };
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            match Policy::parse(&data) {
                Ok(p) => {
                    println!(
                        "{}: ok (id {}, sha256 {})",
                        path.display(),
                        p.id(),
                        hex::encode(p.sha256())
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("vitrine: {}: {e}", path.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        PolicyCommand::Show(v) => {
            let ep = open(&v.state)?;
            let path = ep.dir().join(POLICY_FILE);
            let p = ep.policy();
            if v.format == Format::Json {
                let mut json = serde_json::to_value(p.summary())?;
                json["file"] =
                    serde_json::Value::from(path.exists().then(|| path.display().to_string()));
                println!("{}", serde_json::to_string_pretty(&json)?);
                return Ok(ExitCode::SUCCESS);
            }
            if path.exists() {
                println!("policy file: {}", path.display());
            } else {
                println!(
                    "policy file: none ({} absent): the default policy applies",
                    path.display()
                );
            }
            println!("id:          {}", p.id());
            println!("sha256:      {}", hex::encode(p.sha256()));
            println!(
                "paths:       {}",
                match p.paths() {
                    vitrine_egress::PathMode::None => "none (no path leaves with the metadata)",
                    vitrine_egress::PathMode::Redacted =>
                        "redacted (home directory and user name replaced by ~ and <user>)",
                    vitrine_egress::PathMode::Full => "full (the path as it is)",
                }
            );
            let kinds: Vec<_> = p.kinds().iter().map(|k| k.name()).collect();
            if kinds.is_empty() {
                println!("content:     never (metadata only)");
            } else {
                println!("content:     {}", kinds.join(", "));
                println!("max size:    {} bytes", p.max_size());
                println!("consent:     {}", p.consent().as_str());
                for e in p.summary().exclude {
                    println!("excluded:    {e}");
                }
            }
            println!("documents:   never leave, nor archives holding one");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(a: InitArgs) -> Result<ExitCode> {
    let dir = state_dir(a.state.state.as_deref())?;
    let token = std::fs::read_to_string(&a.token_file)
        .with_context(|| format!("reading {}", a.token_file.display()))?;
    let log_key: vitrine_note::VerifierKey = a.log_key.parse().context("--log-key: not a vkey")?;
    let dest = Destination {
        intake: a.intake,
        tenant: a.tenant,
        token: token.trim().to_owned(),
        intake_key: a.intake_key.parse().context("--intake-key: not a vkey")?,
        log: a.log,
        log_key: log_key.clone(),
        witnesses: crate::cmd::log::witness_policy(&a.witnesses, &log_key)
            .context("--witnesses")?
            .0,
    };
    let text = dest.to_toml();
    Destination::parse(&text).context("invalid destination")?;
    // destination.toml holds the tenant's bearer token: 0600 in a
    // directory closed to other users.
    vitrine_fs::private_dir(&dir)?;
    let path = dir.join(DESTINATION_FILE);
    vitrine_fs::write_atomic(&path, text.as_bytes(), 0o600)?;
    let ep = Endpoint::open(&dir)?;
    let pin = a.state.pin();
    ep.pin_key(&pin).with_context(|| {
        format!(
            "pinning the endpoint key in {} (use --pin FILE or VITRINE_EGRESS_PIN for another place outside the state directory)",
            pin.display()
        )
    })?;
    println!("wrote {}", path.display());
    println!("endpoint key (verifies this ledger): {}", ep.verifier());
    println!("pinned in {}", pin.display());
    Ok(ExitCode::SUCCESS)
}

fn log(v: ViewArgs) -> Result<ExitCode> {
    let ep = open(&v.state)?;
    let entries = read_unverified(&ep.ledger_dir())?;
    if v.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("nothing has left this machine (ledger empty)");
    }
    for e in &entries {
        match &e.event {
            LedgerEvent::Sent {
                destination,
                via,
                metadata,
                content,
                content_denied,
                policy_id,
                ..
            } => {
                println!(
                    "#{} {} sent via {via} to {destination} under policy {policy_id}: {} {} ({} bytes){}",
                    e.seq,
                    human_time(e.time),
                    metadata.kind,
                    metadata.sha256,
                    metadata.size,
                    metadata.path.as_deref().map(|p| format!(" {p}")).unwrap_or_default()
                );
                if *content {
                    println!("    content: sent");
                } else {
                    println!(
                        "    content: not sent ({})",
                        content_denied.as_deref().unwrap_or("metadata only")
                    );
                }
                if !metadata.detections.is_empty() {
                    println!("    detections: {}", metadata.detections.join(", "));
                }
            }
            LedgerEvent::Receipt { of, receipt } => {
                println!(
                    "#{} {} receipt for #{of}: log index {}",
                    e.seq,
                    human_time(e.time),
                    receipt.index
                )
            }
            LedgerEvent::Failed { of, error } => {
                println!(
                    "#{} {} sending #{of} failed: {error}",
                    e.seq,
                    human_time(e.time)
                )
            }
        }
    }
    eprintln!("(run `vitrine egress verify` to check the ledger and its receipts)");
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let ep = open(&args.state)?;
    if ep.destination().is_none() {
        return match ep.verify_ledger() {
            Ok(entries) => {
                println!(
                    "ledger ok: {} entries, signed by {}, hash chain and signed head intact",
                    entries.len(),
                    ep.verifier().name()
                );
                let receipts = entries
                    .iter()
                    .filter(|e| matches!(e.event, LedgerEvent::Receipt { .. }))
                    .count();
                if receipts > 0 {
                    eprintln!(
                        "vitrine: {receipts} receipts NOT checked: no destination.toml names the intake and log keys"
                    );
                    return Ok(ExitCode::from(1));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("vitrine: ledger NOT intact: {e}");
                Ok(ExitCode::from(1))
            }
        };
    }
    let result = if args.offline {
        ep.verify().map(|(e, u)| (e, u, None))
    } else {
        ep.verify_online().map(
            |OnlineVerification {
                 entries,
                 unanswered,
                 log_size,
                 anchor,
             }| (entries, unanswered, Some((log_size, anchor))),
        )
    };
    match result {
        Ok((entries, unanswered, online)) => {
            let receipts = entries
                .iter()
                .filter(|e| matches!(e.event, LedgerEvent::Receipt { .. }))
                .count();
            println!(
                "ledger ok: {} entries, signed by {}, hash chain and signed head intact",
                entries.len(),
                ep.verifier().name()
            );
            match online {
                Some((size, anchor)) => {
                    println!(
                        "receipts ok: {receipts} for this tenant, endpoint and submission, signed by the intake and included in the log, consistent with its current checkpoint (size {size})"
                    );
                    println!(
                        "anchored: the log holds {} receipts for this endpoint, the latest for entry {}; none past or different from this ledger",
                        anchor.receipts,
                        anchor
                            .highest_seq
                            .map_or_else(|| "(none)".to_owned(), |s| format!("#{s}"))
                    );
                }
                None => println!(
                    "receipts ok: {receipts} for this tenant, endpoint and submission, signed by the intake and included in the log (offline: consistency and rollback not checked)"
                ),
            }
            if !unanswered.is_empty() {
                println!(
                    "without receipt: entries {}",
                    unanswered
                        .iter()
                        .map(|s| format!("#{s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ vitrine_intake::EndpointError::Ledger(_)) => {
            eprintln!("vitrine: ledger NOT intact: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e @ vitrine_intake::EndpointError::Inconsistent { .. }) => {
            eprintln!("vitrine: receipts NOT consistent with the log: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e @ vitrine_intake::EndpointError::NoPin { .. }) => {
            eprintln!("vitrine: ledger NOT verified: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e @ vitrine_intake::EndpointError::LogQuorumNotMet { .. }) => {
            eprintln!("vitrine: ledger NOT anchored: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => bail!(e),
    }
}

fn audit(v: ViewArgs) -> Result<ExitCode> {
    let ep = open(&v.state)?;
    let audit = match ep.audit() {
        Ok(a) => a,
        Err(e @ vitrine_intake::EndpointError::Ledger(_)) => {
            eprintln!("vitrine: ledger NOT intact: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e @ vitrine_intake::EndpointError::NoPin { .. }) => {
            eprintln!("vitrine: ledger NOT verified: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if v.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&audit)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("left this machine ({}):", audit.sent.len());
    for s in &audit.sent {
        println!(
            "  #{} {} {} {} to {} via {} ({}){}",
            s.seq,
            human_time(s.time),
            s.kind,
            s.sha256,
            s.destination,
            s.via,
            if s.content {
                "with content".to_owned()
            } else {
                format!(
                    "metadata only: {}",
                    s.content_denied.as_deref().unwrap_or("policy")
                )
            },
            s.path
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        );
    }
    println!("receipts ({}, all verified):", audit.receipts.len());
    for r in &audit.receipts {
        println!("  for #{}: log index {}", r.of, r.log_index);
    }
    println!("accesses ({}):", audit.accesses.len());
    for a in &audit.accesses {
        println!(
            "  {} {} by {} (key {}): {} [log index {}]",
            human_time(a.time),
            a.sha256,
            a.who,
            a.signer,
            a.purpose,
            a.log_index
        );
    }
    println!("deletions ({}):", audit.deletions.len());
    for d in &audit.deletions {
        println!(
            "  {} {}: {} [log index {}]",
            human_time(d.time),
            d.sha256,
            d.reason,
            d.log_index
        );
    }
    if !audit.unanswered.is_empty() {
        println!(
            "egress without receipt: {}",
            audit
                .unanswered
                .iter()
                .map(|s| format!("#{s}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
