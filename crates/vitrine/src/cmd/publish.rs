//! `vitrine publish`: sign a bundle's `rules` statement, log it, and write
//! the offline update directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_client::{PublishOptions, TrustPolicy, UpdateInput};
use vitrine_note::SignerKey;
use vitrine_statements::{Rules, Statement};

/// Publish a rule bundle: upload it, log its signed `rules` statement, wait
/// for a witness-cosigned checkpoint covering it, and write the update.
///
/// Writes FILE.statement and FILE.tlog-proof beside the bundle, and an
/// update directory (`bundle`, `bundle.statement`, `bundle.tlog-proof`)
/// that `vitrine update --from DIR` reads on an offline endpoint.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle file (from `vitrine bundle build`).
    file: PathBuf,
    /// The log's URL.
    #[arg(long)]
    log: String,
    /// The publisher's secret key file (from `vitrine key generate`).
    #[arg(long, value_name = "PUBLISHER.key")]
    key: PathBuf,
    /// The trust policy (to know when enough witnesses have cosigned).
    #[arg(long)]
    policy: PathBuf,
    /// The update directory to write [default: FILE.update].
    #[arg(long, value_name = "DIR")]
    update_dir: Option<PathBuf>,
    /// How long to wait for a cosigned checkpoint, in seconds.
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(&args.policy)?;
    let key = read_key(&args.key)?;
    let bundle =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let opts = PublishOptions {
        wait: std::time::Duration::from_secs(args.wait),
        ..PublishOptions::default()
    };
    let input = publish_bundle(&policy, &args.log, &key, bundle, &opts)?;
    let beside = |ext: &str| {
        let mut p = args.file.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    for (path, data) in [
        (beside(".statement"), &input.statement),
        (beside(".tlog-proof"), &input.tlog_proof),
    ] {
        crate::cmd::bundle::write_file(&path, data)?;
    }
    let dir = args.update_dir.unwrap_or_else(|| beside(".update"));
    vitrine_client::write_update_dir(&dir, &input)
        .with_context(|| format!("writing {}", dir.display()))?;
    println!("update directory: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Reads a signer key file.
pub fn read_key(path: &Path) -> Result<SignerKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SignerKey::parse(text.trim_end()).with_context(|| format!("parsing key {}", path.display()))
}

/// The signed `rules` statement for bundle bytes.
pub fn statement_for(bundle: &[u8], key: &SignerKey) -> Result<Vec<u8>> {
    let parsed = Bundle::parse(bundle, &Limits::default()).context("not a valid bundle")?;
    let m = parsed.manifest();
    Statement::Rules(Rules {
        sha256: vitrine_statements::Sha256(Sha256::digest(bundle).into()),
        size: bundle.len() as u64,
        version: m.version,
        created: m.created,
        expires: m.expires,
    })
    .sign(key)
    .context("signing the rules statement")
}

/// Signs, uploads and logs a bundle; returns the update (bundle, statement,
/// tlog-proof), after printing what happened.
pub fn publish_bundle(
    policy: &TrustPolicy,
    log_url: &str,
    key: &SignerKey,
    bundle: Vec<u8>,
    opts: &PublishOptions,
) -> Result<UpdateInput> {
    let statement = statement_for(&bundle, key)?;
    let tlog_proof = vitrine_client::publish(policy, log_url, key, &bundle, &statement, opts)
        .context("publishing")?;
    let proof = vitrine_tlog::TlogProof::parse(&tlog_proof).context("parsing our tlog-proof")?;
    println!(
        "published bundle sha256 {} at log index {}, in checkpoint size {} with a witness quorum",
        hex::encode(Sha256::digest(&bundle)),
        proof.index(),
        proof.checkpoint().size,
    );
    Ok(UpdateInput {
        bundle,
        statement,
        tlog_proof,
        ..UpdateInput::default()
    })
}
