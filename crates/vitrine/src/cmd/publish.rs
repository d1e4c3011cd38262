//! `vitrine publish`: sign a bundle's `rules` statement, log it, and write
//! the offline update directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_client::{PublishOptions, TrustPolicy, UpdateInput};
use vitrine_note::SignerKey;
use vitrine_statements::{Allow, Rules, Statement};

/// Publish a rule bundle: upload it, log its signed `rules` statement, wait
/// for a witness-cosigned checkpoint covering it, and write the update.
///
/// Writes FILE.statement and FILE.tlog-proof beside the bundle, and an
/// update directory (`bundle`, `bundle.statement`, `bundle.tlog-proof`)
/// that `vitrine update --from DIR` reads on an offline endpoint.
///
/// The bundle is linted first (see `vitrine lint` and docs/lint.md): a
/// high-severity finding refuses it unless acknowledged with `--allow
/// ID:RULE --reason TEXT`. Acknowledgements and reasons are written into
/// the logged statement for every auditor to read.
#[derive(clap::Args)]
#[command(
    after_help = "Example, shipping a rule the linter flags:\n  vitrine publish daily.bundle --log URL --key alice.key --policy policy \\\n    --allow VL302:Extortion_Leak_Names --reason \"names of files leaked by the X gang, case 4711\""
)]
pub struct Args {
    /// The bundle file (from `vitrine bundle build`).
    file: PathBuf,
    /// The log's URL.
    #[arg(long, value_parser = crate::util::http_url)]
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
    /// Acknowledge a lint finding, as ID:RULE (e.g. VL101:My_Rule); pair
    /// each with a --reason, in order. Repeatable.
    #[arg(long, value_name = "ID:RULE")]
    allow: Vec<String>,
    /// Why the finding named by the matching --allow ships anyway; logged.
    #[arg(long, value_name = "TEXT")]
    reason: Vec<String>,
    /// Read acknowledgements from a file, one a line: `ID:RULE reason`
    /// (blank lines and lines starting with `#` are skipped). Adds to
    /// --allow.
    #[arg(long, value_name = "FILE")]
    allow_file: Option<PathBuf>,
}

/// Reads an acknowledgement file: `ID:RULE reason text` a line, `#`
/// comments and blank lines skipped. Errors name the file and line.
pub fn read_allow_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((finding, reason)) = line.split_once(char::is_whitespace) else {
            anyhow::bail!(
                "{} line {}: an acknowledgement is ID:RULE followed by the reason",
                path.display(),
                i + 1
            );
        };
        out.push((finding.to_owned(), reason.trim().to_owned()));
    }
    Ok(out)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(&args.policy)?;
    let key = crate::cmd::key::read_key(&args.key)?;
    let bundle =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let (mut allows, mut reasons) = (args.allow.clone(), args.reason.clone());
    if let Some(file) = &args.allow_file {
        for (finding, reason) in read_allow_file(file)? {
            allows.push(finding);
            reasons.push(reason);
        }
    }
    let allow = acknowledge(&bundle, &allows, &reasons)?;
    let opts = PublishOptions {
        wait: std::time::Duration::from_secs(args.wait),
        ..PublishOptions::default()
    };
    let input = publish_bundle_with(&policy, &args.log, &key, bundle, &opts, allow)?;
    let beside = |ext: &str| crate::util::with_suffix(&args.file, ext);
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

/// Lints a bundle and matches its findings with the acknowledgements
/// (`--allow ID:RULE` paired with `--reason TEXT`). Fails while a high
/// finding is unacknowledged, and for an acknowledgement that matches no
/// finding (a typo must not look like consent).
pub fn acknowledge(bundle: &[u8], allow: &[String], reasons: &[String]) -> Result<Vec<Allow>> {
    if allow.len() != reasons.len() {
        anyhow::bail!(
            "{} --allow but {} --reason: give one --reason after each --allow",
            allow.len(),
            reasons.len()
        );
    }
    let mut report = vitrine_lint::lint_bundle("bundle", bundle).context("linting the bundle")?;
    report.findings.extend(canary_findings(bundle)?);
    let keys: std::collections::BTreeSet<String> =
        report.findings.iter().map(|f| f.key()).collect();
    let mut out = Vec::new();
    for (finding, reason) in allow.iter().zip(reasons) {
        if !keys.contains(finding) {
            let same_id: Vec<&str> = keys
                .iter()
                .filter(|k| k.split(':').next() == finding.split(':').next())
                .map(String::as_str)
                .collect();
            anyhow::bail!(
                "--allow {finding}: the bundle has no such finding (a finding is named ID:RULE{})",
                if same_id.is_empty() {
                    String::new()
                } else {
                    format!("; with this ID: {}", same_id.join(", "))
                }
            );
        }
        out.push(Allow {
            finding: vitrine_statements::Token::new(finding.as_str())
                .with_context(|| format!("--allow {finding}"))?,
            reason: vitrine_statements::Text::new(reason.as_str())
                .with_context(|| format!("--reason for {finding}: must be 1-1024 bytes of text, no control characters, no spaces at either end"))?,
        });
    }
    out.sort_by(|a, b| a.finding.as_str().cmp(b.finding.as_str()));
    if let Some(w) = out.windows(2).find(|w| w[0].finding == w[1].finding) {
        anyhow::bail!("--allow {} is given twice", w[0].finding);
    }
    let open: Vec<&vitrine_lint::Finding> = report
        .at_least(vitrine_lint::Severity::High)
        .filter(|f| !out.iter().any(|a| a.finding.as_str() == f.key()))
        .collect();
    if !open.is_empty() {
        for f in &open {
            eprintln!("{}", crate::cmd::lint::text(f));
        }
        anyhow::bail!(
            "refusing to publish: {} high-severity lint finding(s) not acknowledged; \
             review them, then acknowledge each with --allow ID:RULE --reason TEXT (e.g. --allow {})",
            open.len(),
            open[0].key()
        );
    }
    for a in &out {
        println!("acknowledged {}: {}", a.finding, a.reason);
    }
    Ok(out)
}

/// The canary scan of a bundle's YARA files (seed 1, so a publisher's
/// acknowledgement names a finding that stays the same): `VL701` for each
/// rule that matches a marked document.
fn canary_findings(bundle: &[u8]) -> Result<Vec<vitrine_lint::Finding>> {
    let parsed = vitrine_bundle::Bundle::parse(bundle, &vitrine_bundle::Limits::default())
        .context("reading the bundle")?;
    vitrine_canary::bundle_findings(&parsed, &vitrine_canary::generate(1))
        .context("scanning the canary corpus")
}

/// The signed `rules` statement for bundle bytes.
pub fn statement_for(bundle: &[u8], key: &SignerKey) -> Result<Vec<u8>> {
    statement_with(bundle, key, Vec::new())
}

/// The signed `rules` statement for bundle bytes, carrying acknowledged
/// lint findings.
pub fn statement_with(bundle: &[u8], key: &SignerKey, allow: Vec<Allow>) -> Result<Vec<u8>> {
    let parsed = Bundle::parse(bundle, &Limits::default()).context("not a valid bundle")?;
    let m = parsed.manifest();
    Statement::Rules(Rules {
        sha256: vitrine_statements::Sha256(Sha256::digest(bundle).into()),
        size: bundle.len() as u64,
        version: m.version,
        created: m.created,
        expires: m.expires,
        bundle: Some(
            vitrine_statements::Token::new(m.name.clone())
                .map_err(|e| anyhow::anyhow!("bundle name {:?}: {e}", m.name))?,
        ),
        allow,
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
    publish_bundle_with(policy, log_url, key, bundle, opts, Vec::new())
}

/// [`publish_bundle`] with acknowledged lint findings in the statement.
pub fn publish_bundle_with(
    policy: &TrustPolicy,
    log_url: &str,
    key: &SignerKey,
    bundle: Vec<u8>,
    opts: &PublishOptions,
    allow: Vec<Allow>,
) -> Result<UpdateInput> {
    let statement = statement_with(&bundle, key, allow)?;
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
