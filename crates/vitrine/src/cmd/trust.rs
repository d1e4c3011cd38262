//! `vitrine trust`: write an endpoint's trust policy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vitrine_client::TrustPolicy;

/// Write an endpoint trust policy (which log, witnesses and publishers to trust).
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
    #[command(verbatim_doc_comment)]
    Init {
        /// The policy file to write (never overwritten).
        #[arg(short, long)]
        output: PathBuf,
        /// The log's verifier key; its name is the log's origin.
        #[arg(long)]
        log_key: String,
        /// The log's URL.
        #[arg(long)]
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
        } => {
            let witnesses = group_witnesses(witness)?;
            let text = policy_text(
                &log_key,
                log_url.as_deref(),
                &witnesses,
                &quorum,
                &publisher,
                max_age,
            )?;
            write_policy(&output, &text)?;
            println!("{}", output.display());
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
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads and parses a policy file.
pub fn read_policy(path: &Path) -> Result<TrustPolicy> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    TrustPolicy::parse(&bytes).with_context(|| format!("trust policy {}", path.display()))
}
