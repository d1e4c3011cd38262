//! `vitrine vault`: the only way to read a sample, and deletion.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use vitrine_endpoint::state::now;

use anyhow::{Context, Result};
use vitrine_intake::{Vault, VaultError};

/// Open or delete samples held by the intake.
///
/// `open` first logs an `access` statement (who, why, whose copy, which
/// sample, an expiry and a one-time key) signed by the analyst's key in
/// the vendor's custody log, proves it included under a checkpoint the
/// custody policy's witness quorum cosigned, and asks the keyholders for
/// their shares of the sample's key; each checks the access for itself and
/// honours it once. With enough shares (default 2 of 3) it decrypts and
/// writes the sample; with fewer it names each keyholder's refusal and
/// writes nothing. The data owner sees every access with `vitrine egress
/// audit`. `delete` destroys the tenant's copy and its key shares and logs
/// a `deletion` naming the tenant.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  vitrine vault open 3f1c…e0 --purpose \"triage of Linux.Miner, ticket 8812\" --key alice.key --data intake --out sample.bin\n  vitrine vault delete 3f1c…e0 --tenant t-5f2a9c --reason \"owner request\" --data intake\n  vitrine vault expire --data intake"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Log an access, then release the sample to --out.
    Open {
        /// The sample's SHA-256.
        sample: String,
        /// Why you open it; logged publicly for the data owner to read.
        #[arg(long)]
        purpose: String,
        /// The analyst's secret key (signs the access statement).
        #[arg(long, value_name = "ANALYST.key")]
        key: PathBuf,
        /// The intake's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The intake's PostgreSQL database, if it serves with `--postgres`.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// The tenant whose copy to open, if several hold it.
        #[arg(long)]
        tenant: Option<String>,
        /// Where to write the sample (created new, mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Destroy a sample and its key now, and log a deletion.
    Delete {
        /// The sample's SHA-256.
        sample: String,
        /// The tenant whose copy to destroy.
        #[arg(long)]
        tenant: String,
        /// Why; logged publicly.
        #[arg(long, default_value = "deleted on request")]
        reason: String,
        /// The intake's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The intake's PostgreSQL database, if it serves with `--postgres`.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Destroy every sample past its tenant's retention period now.
    Expire {
        /// The intake's data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The intake's PostgreSQL database, if it serves with `--postgres`.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
}

fn sha(s: &str) -> Result<[u8; 32]> {
    hex::decode(s)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .with_context(|| format!("SAMPLE {s:?}: not a SHA-256 (64 hex digits)"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Open {
            sample,
            purpose,
            key,
            data,
            postgres,
            tenant,
            out,
        } => {
            let sample = sha(&sample)?;
            let analyst = crate::cmd::key::read_key(&key)?;
            let intake = crate::cmd::intake::open(&data, postgres.as_deref())?;
            let vault = Vault::new(intake.store(), intake.config(), intake.key())?;
            // Fail before logging if the output cannot be created; the
            // file itself is created only after release.
            if out.exists() {
                anyhow::bail!("{} exists; not overwriting", out.display());
            }
            let released = match vault.open(
                &sample,
                tenant.as_deref(),
                &purpose,
                &analyst,
                now(),
                &mut |_| Ok(()),
            ) {
                Ok(r) => r,
                Err(e) => {
                    return match e {
                        VaultError::NotAnAnalyst { .. }
                        | VaultError::NoSuchSample { .. }
                        | VaultError::Ambiguous { .. }
                        | VaultError::BadValue { .. }
                        | VaultError::AccessNotLogged { .. } => {
                            eprintln!("vitrine: vault refused: {e}");
                            Ok(ExitCode::from(1))
                        }
                        e => Err(e.into()),
                    };
                }
            };
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            f.write_all(&released.plaintext)?;
            f.sync_all()?;
            eprintln!(
                "access logged at index {} (checkpoint size {}); wrote {} bytes to {}",
                released.index,
                released.access.proof().checkpoint().size,
                released.plaintext.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete {
            sample,
            tenant,
            reason,
            data,
            postgres,
        } => {
            let sample = sha(&sample)?;
            let intake = crate::cmd::intake::open(&data, postgres.as_deref())?;
            let vault = Vault::new(intake.store(), intake.config(), intake.key())?;
            let d = vault.delete(&sample, &tenant, &reason, now())?;
            println!(
                "destroyed {} of {}; deletion logged at index {}",
                hex::encode(d.sample),
                d.tenant,
                d.index
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Expire { data, postgres } => {
            let intake = crate::cmd::intake::open(&data, postgres.as_deref())?;
            let vault = Vault::new(intake.store(), intake.config(), intake.key())?;
            let done = vault.expire(now())?;
            for d in &done {
                println!(
                    "destroyed {} of {}; deletion logged at index {}",
                    hex::encode(d.sample),
                    d.tenant,
                    d.index
                );
            }
            if done.is_empty() {
                println!("nothing past retention");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
