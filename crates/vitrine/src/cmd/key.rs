//! `vitrine key`: signer keys for publishers, reviewers, intake, witnesses.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vitrine_note::{SignatureType, SignerKey};

/// Manage signing keys.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Generate an Ed25519 signer key: the secret goes to a file (mode
    /// 0600, never overwritten), the verifier key (vkey) to stdout.
    Generate {
        /// Key name, e.g. `publisher.example/p1` (no spaces or `+`).
        name: String,
        /// Where to write the secret key [default: NAME with `/` as `_`, plus `.key`].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print the verifier key (vkey) of a secret key file again: one made
    /// by `key generate`, a log's DIR/log.key, a witness's
    /// DIR/witness.key. The secret is never printed.
    Show {
        /// The secret key file.
        file: PathBuf,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Generate { name, output } => {
            let key = SignerKey::generate(&name, SignatureType::Ed25519)
                .with_context(|| format!("generating key {name:?}"))?;
            let path =
                output.unwrap_or_else(|| PathBuf::from(format!("{}.key", name.replace('/', "_"))));
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            f.write_all(format!("{}\n", key.to_private_text()).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("{}", key.verifier());
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { file } => {
            println!("{}", read_key(&file)?.verifier());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a secret key file (`PRIVATE+KEY+...`). The error names the file
/// but never quotes its content.
pub fn read_key(path: &Path) -> Result<SignerKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SignerKey::parse(text.trim_end()).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a secret key file (PRIVATE+KEY+NAME+...): {e}",
            path.display()
        )
    })
}
