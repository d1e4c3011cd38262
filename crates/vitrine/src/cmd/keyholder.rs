//! `vitrine keyholder`: an independent keyholder (see docs/egress.md,
//! "Keyholders").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use vitrine_keyholder::{Keyholder, KEY_FILE};
use vitrine_note::VerifierKey;

/// Run an independent keyholder: holds one share-unwrapping key and
/// releases its share of a sample's data key only for an `access`
/// statement logged in the custody log under a checkpoint its witness
/// quorum cosigned, fresh, for the tenant and sample named, by an analyst
/// it honours, and never honoured before.
///
/// Run by a party other than the vendor (an auditor, the customer): the
/// intake holds only shares sealed to keyholders' keys, so nobody who
/// reads the intake's data directory can decrypt a sample, and no access
/// escapes the public log. The data directory holds keyholder.key (mode
/// 0600), keyholder.toml (custody policy, analysts, limits),
/// custody.policy and keyholder.db (accesses already honoured).
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  vitrine keyholder init --data kh1 --name auditor.example/kh1 --custody-policy intake/custody.policy --analyst \"$(cat alice.vkey)\"\n  vitrine intake keyholder add \"$(vitrine keyholder key --data kh1)\" http://127.0.0.1:8095 --data intake\n  vitrine keyholder serve --data kh1 --addr 127.0.0.1:8095"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a keyholder: a new key and keyholder.toml. Prints the public
    /// key line the intake needs (`vitrine intake keyholder add`).
    Init {
        /// The data directory (created, mode 0700).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The keyholder's name, e.g. `auditor.example/kh1`.
        #[arg(long)]
        name: String,
        /// The custody log's tlog-policy (its `log` line, the witnesses and
        /// the quorum accesses must be cosigned by), e.g. the intake's
        /// custody.policy.
        #[arg(long, value_name = "FILE")]
        custody_policy: PathBuf,
        /// An analyst key (vkey) whose accesses this keyholder honours;
        /// repeat for several.
        #[arg(long, value_name = "VKEY")]
        analyst: Vec<String>,
        /// Honour those analysts only for these tenants (default: any).
        #[arg(long, value_name = "TENANT")]
        tenant: Vec<String>,
    },
    /// Print the keyholder's public key line (NAME+BASE64).
    Key {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Serve the keyholder API (POST /v1/share, GET /v1/key).
    Serve {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8095")]
        addr: SocketAddr,
        #[command(flatten)]
        limits: crate::util::ServerLimitArgs,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Init {
            data,
            name,
            custody_policy,
            analyst,
            tenant,
        } => {
            let policy = std::fs::read_to_string(&custody_policy)
                .with_context(|| format!("reading {}", custody_policy.display()))?;
            let tenants = (!tenant.is_empty()).then_some(tenant);
            let analysts = analyst
                .iter()
                .map(|a| {
                    a.parse::<VerifierKey>()
                        .map(|k| (k, tenants.clone()))
                        .with_context(|| format!("--analyst {a:?}: not a vkey"))
                })
                .collect::<Result<Vec<_>>>()?;
            let public = vitrine_keyholder::init(&data, &name, &policy, &analysts)
                .with_context(|| format!("creating keyholder in {}", data.display()))?;
            println!("{public}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { data } => {
            println!("{}", read_secret(&data)?.public());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { data, addr, limits } => serve(&data, addr, limits.limits()),
    }
}

fn read_secret(data: &Path) -> Result<vitrine_keyholder::KeyholderSecret> {
    let path = data.join(KEY_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    vitrine_keyholder::KeyholderSecret::parse(&text).with_context(|| path.display().to_string())
}

fn serve(
    data: &Path,
    addr: SocketAddr,
    limits: vitrine_server::harden::Limits,
) -> Result<ExitCode> {
    let keyholder =
        Arc::new(Keyholder::open(data).with_context(|| format!("opening {}", data.display()))?);
    let name = keyholder.name().to_owned();
    crate::util::serve_http(
        addr,
        |a| format!("vitrine: keyholder {name} listening on http://{a}"),
        |listener| async move {
            vitrine_keyholder::server::serve_with(
                keyholder,
                listener,
                limits,
                crate::util::ctrl_c(),
            )
            .await
            .context("serving")
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
