//! `vitrine release`: log builds of `vitrine` (one `release` statement per
//! artifact) and tell whether a binary or package is a logged release with
//! the reviews a policy requires.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_client::{escape, FetchOptions, PublishOptions, TrustPolicy};
use vitrine_statements::{CommitId, Release, Statement, Token, Verdict};

/// Log releases of vitrine and verify binaries against the log.
///
/// `publish` logs one `release` statement per artifact (a binary for a
/// target, a .deb): version, source commit, SHA-256 of the source archive
/// (`git archive` of the commit), of Cargo.lock and of the build recipe
/// (uploaded to the log's content store), and the toolchain. `verify`
/// says whether a file (or the running binary) is such an artifact, logged
/// by a publisher of the policy, with the reviews the policy requires
/// (`vitrine review sign --subject FILE`) and no rejection.
///
/// Examples:
///
///   vitrine release publish --version 0.4.0 --commit "$(git rev-parse HEAD)"
///     --artifact x86_64-unknown-linux-gnu=target/release/vitrine
///     --artifact x86_64-unknown-linux-gnu.deb=vitrine_0.4.0_amd64.deb
///     --recipe bench/repro.sh --key keys/publisher.key --policy policy
///   vitrine release verify /usr/bin/vitrine --policy policy
///   vitrine release verify --running --policy policy
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Sign and log a release statement for each artifact.
    Publish {
        /// The release's version (e.g. 0.4.0).
        #[arg(long)]
        version: String,
        /// An artifact: its target (a triple, `.deb` added for a package)
        /// and its file. Repeatable.
        #[arg(long, value_name = "TARGET=FILE", required = true)]
        artifact: Vec<String>,
        /// The source commit [default: `git rev-parse HEAD` here].
        #[arg(long)]
        commit: Option<String>,
        /// The source archive [default: `git archive --format=tar COMMIT`
        /// run here].
        #[arg(long, value_name = "FILE")]
        source_archive: Option<PathBuf>,
        /// The lock file the build used.
        #[arg(long, value_name = "FILE", default_value = "Cargo.lock")]
        lockfile: PathBuf,
        /// The build recipe: the script that rebuilds the artifacts.
        #[arg(long, value_name = "FILE")]
        recipe: PathBuf,
        /// The toolchain, e.g. rustc-1.95.0 [default: from `rustc
        /// --version`].
        #[arg(long)]
        toolchain: Option<String>,
        /// The publisher's secret key file.
        #[arg(long, value_name = "PUBLISHER.key")]
        key: PathBuf,
        /// A trust policy naming the log and its witnesses.
        #[arg(long)]
        policy: PathBuf,
        /// The log's URL [default: the URL of the policy's `log` line].
        #[arg(long, value_parser = crate::util::http_url, value_name = "URL")]
        log: Option<String>,
        /// How long to wait for a cosigned checkpoint, in seconds.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Whether a file is a logged release with the reviews the policy
    /// requires. Exit 0 yes, 1 no, 2 error.
    Verify {
        /// The binary or package to check.
        #[arg(required_unless_present = "running", conflicts_with = "running")]
        file: Option<PathBuf>,
        /// Check the running `vitrine` binary (/proc/self/exe).
        #[arg(long)]
        running: bool,
        /// A trust policy naming the log, its witnesses, publishers and
        /// reviewers (`require-reviews`).
        #[arg(long)]
        policy: PathBuf,
        /// The log's URL [default: the URL of the policy's `log` line].
        #[arg(long, value_parser = crate::util::http_url, value_name = "URL")]
        log: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::cmd::bundle::Format::Text)]
        format: crate::cmd::bundle::Format,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Publish {
            version,
            artifact,
            commit,
            source_archive,
            lockfile,
            recipe,
            toolchain,
            key,
            policy,
            log,
            wait,
        } => {
            let input = PublishInput {
                version,
                artifacts: artifact,
                commit,
                source_archive,
                lockfile,
                recipe,
                toolchain,
            };
            publish(&input, &key, &policy, log, wait)
        }
        Command::Verify {
            file,
            running,
            policy,
            log,
            format,
        } => {
            let path = match (file, running) {
                (Some(f), _) => f,
                (None, _) => PathBuf::from("/proc/self/exe"),
            };
            verify(&path, &policy, log, format)
        }
    }
}

struct PublishInput {
    version: String,
    artifacts: Vec<String>,
    commit: Option<String>,
    source_archive: Option<PathBuf>,
    lockfile: PathBuf,
    recipe: PathBuf,
    toolchain: Option<String>,
}

/// A command's standard output ([`crate::util::command_output`]).
fn output_of(program: &str, args: &[&str]) -> Result<Vec<u8>> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    crate::util::command_output(program, &args)
}

fn publish(
    input: &PublishInput,
    key: &Path,
    policy: &Path,
    log: Option<String>,
    wait: u64,
) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(policy)?;
    let key = crate::cmd::key::read_key(key)?;
    let version = Token::new(input.version.as_str())
        .map_err(|e| anyhow::anyhow!("--version {}: {e}", escape(&input.version)))?;
    let commit_text = match &input.commit {
        Some(c) => c.clone(),
        None => String::from_utf8_lossy(&output_of("git", &["rev-parse", "HEAD"])?)
            .trim()
            .to_owned(),
    };
    let commit = CommitId::parse(&commit_text)
        .map_err(|e| anyhow::anyhow!("commit {}: {e}", escape(&commit_text)))?;
    let source: [u8; 32] = match &input.source_archive {
        Some(p) => crate::util::file_sha256(p)?,
        None => Sha256::digest(output_of(
            "git",
            &["archive", "--format=tar", &commit_text],
        )?)
        .into(),
    };
    let toolchain_text = match &input.toolchain {
        Some(t) => t.clone(),
        None => {
            // "rustc 1.95.0 (59807616e 2026-04-14)" -> "rustc-1.95.0"
            let v = String::from_utf8_lossy(&output_of("rustc", &["--version"])?).into_owned();
            v.split_whitespace().take(2).collect::<Vec<_>>().join("-")
        }
    };
    let toolchain = Token::new(toolchain_text.as_str())
        .map_err(|e| anyhow::anyhow!("toolchain {}: {e}", escape(&toolchain_text)))?;
    let lockfile = crate::util::file_sha256(&input.lockfile)?;
    let recipe = std::fs::read(&input.recipe)
        .with_context(|| format!("reading {}", input.recipe.display()))?;
    let recipe_sha: [u8; 32] = Sha256::digest(&recipe).into();
    let mut artifacts = Vec::new();
    for a in &input.artifacts {
        let Some((target, file)) = a.split_once('=') else {
            bail!("--artifact {}: give TARGET=FILE", escape(a));
        };
        let target = Token::new(target)
            .map_err(|e| anyhow::anyhow!("--artifact {}: target: {e}", escape(a)))?;
        let file = PathBuf::from(file);
        let sha = crate::util::file_sha256(&file)?;
        artifacts.push((target, file, sha));
    }
    let url = crate::cmd::trust::log_url(&policy, log)?;
    let opts = PublishOptions {
        wait: std::time::Duration::from_secs(wait),
        ..PublishOptions::default()
    };
    for (target, file, sha) in artifacts {
        let statement = Statement::Release(Release {
            version: version.clone(),
            target: target.clone(),
            sha256: vitrine_statements::Sha256(sha),
            commit: commit.clone(),
            source_sha256: vitrine_statements::Sha256(source),
            lockfile_sha256: vitrine_statements::Sha256(lockfile),
            recipe_sha256: vitrine_statements::Sha256(recipe_sha),
            toolchain: toolchain.clone(),
        })
        .sign(&key)
        .context("signing the release statement")?;
        // The recipe goes to the content store (by its hash), the
        // statement to the log.
        let proof = vitrine_client::publish(&policy, &url, &key, &recipe, &statement, &opts)
            .with_context(|| format!("logging the release of {}", file.display()))?;
        let parsed = vitrine_tlog::TlogProof::parse(&proof).context("parsing our tlog-proof")?;
        let beside = |ext: &str| crate::util::with_suffix(&file, ext);
        crate::cmd::bundle::write_file(&beside(".release"), &statement)?;
        crate::cmd::bundle::write_file(&beside(".release.tlog-proof"), &proof)?;
        println!(
            "logged release {} {} ({}) sha256 {} at log index {}, in checkpoint size {} with a witness quorum",
            version.as_str(),
            escape(target.as_str()),
            escape(&file.display().to_string()),
            hex::encode(sha),
            parsed.index(),
            parsed.checkpoint().size
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Found {
    index: u64,
    version: String,
    target: String,
    commit: String,
    source_sha256: String,
    lockfile_sha256: String,
    recipe_sha256: String,
    toolchain: String,
    publisher: String,
}

/// What [`check`] found about one file.
#[derive(Serialize)]
pub struct Verdicts {
    file: String,
    sha256: String,
    /// `release`, `not_logged`, `rejected` or `not_enough_reviews`.
    pub verdict: &'static str,
    releases: Vec<Found>,
    approvals: Vec<String>,
    rejections: Vec<String>,
    required_reviews: u64,
    log: String,
    checkpoint_size: u64,
}

/// The policy reviewers' logged verdicts on `subject`: (approving reviewer
/// names, rejections as "name (log index N): comment"). Reviews signed by
/// a publisher key do not count.
fn verdicts_on(
    policy: &TrustPolicy,
    subject: &[u8; 32],
    reviews: &[(u64, Vec<u8>)],
) -> (Vec<String>, Vec<String>) {
    let mut approvals = BTreeSet::new();
    let mut rejections = Vec::new();
    for (index, note) in reviews {
        let Some((r, key)) = vitrine_client::policy_review(policy, note) else {
            continue;
        };
        if &r.subject.0 != subject {
            continue;
        }
        match r.verdict {
            Verdict::Approve => {
                approvals.insert(key.name().to_owned());
            }
            Verdict::Reject => rejections.push(format!(
                "{} (log index {index}){}",
                key.name(),
                r.comment
                    .map(|c| format!(": {}", c.as_str()))
                    .unwrap_or_default()
            )),
        }
    }
    (approvals.into_iter().collect(), rejections)
}

fn verify(
    path: &Path,
    policy_path: &Path,
    log: Option<String>,
    format: crate::cmd::bundle::Format,
) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(policy_path)?;
    let v = check(path, &policy, log)?;
    match format {
        crate::cmd::bundle::Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        crate::cmd::bundle::Format::Text => print_verdict(&v),
    }
    Ok(if v.verdict == "release" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Looks a file's SHA-256 up among the logged `release` statements of the
/// policy's publishers and counts the policy reviewers' logged verdicts
/// on it, all read under a checkpoint with the policy's witness quorum.
pub fn check(path: &Path, policy: &TrustPolicy, log: Option<String>) -> Result<Verdicts> {
    let sha = crate::util::file_sha256(path)?;
    let url = crate::cmd::trust::log_url(policy, log)?;
    let logged = vitrine_client::read_log(policy, &url, &FetchOptions::default())
        .with_context(|| format!("reading the log at {}", escape(&url)))?;
    let publishers = policy.publisher_verifiers();
    let mut releases = Vec::new();
    for (index, note) in &logged.releases {
        let Ok((Statement::Release(r), key)) = Statement::open(note, &publishers) else {
            continue;
        };
        if r.sha256.0 != sha {
            continue;
        }
        releases.push(Found {
            index: *index,
            version: r.version.as_str().to_owned(),
            target: r.target.as_str().to_owned(),
            commit: hex::encode(r.commit.as_bytes()),
            source_sha256: hex::encode(r.source_sha256.0),
            lockfile_sha256: hex::encode(r.lockfile_sha256.0),
            recipe_sha256: hex::encode(r.recipe_sha256.0),
            toolchain: r.toolchain.as_str().to_owned(),
            publisher: key.name().to_owned(),
        });
    }
    let (approvals, rejections) = verdicts_on(policy, &sha, &logged.reviews);
    let required = policy.require_reviews();
    let verdict = if releases.is_empty() {
        "not_logged"
    } else if !rejections.is_empty() && required > 0 {
        "rejected"
    } else if (approvals.len() as u64) < required {
        "not_enough_reviews"
    } else {
        "release"
    };
    let shown = if path == Path::new("/proc/self/exe") {
        "the running vitrine".to_owned()
    } else {
        path.display().to_string()
    };
    Ok(Verdicts {
        file: shown,
        sha256: hex::encode(sha),
        verdict,
        releases,
        approvals,
        rejections,
        required_reviews: required,
        log: logged.checkpoint.origin.clone(),
        checkpoint_size: logged.checkpoint.size,
    })
}

fn print_verdict(v: &Verdicts) {
    println!(
        "{} (sha256 {}) in log {} at size {}:",
        escape(&v.file),
        v.sha256,
        escape(&v.log),
        v.checkpoint_size
    );
    for r in &v.releases {
        println!(
            "  logged release {} for {} at index {} by {}: commit {}, source archive {}, Cargo.lock {}, recipe {}, {}",
            escape(&r.version),
            escape(&r.target),
            r.index,
            escape(&r.publisher),
            r.commit,
            r.source_sha256,
            r.lockfile_sha256,
            r.recipe_sha256,
            escape(&r.toolchain)
        );
    }
    for a in &v.approvals {
        println!("  approved by {}", escape(a));
    }
    for r in &v.rejections {
        println!("  rejected by {}", escape(r));
    }
    match v.verdict {
        "release" => println!(
            "LOGGED RELEASE: {} approving review(s), the policy requires {}",
            v.approvals.len(),
            v.required_reviews
        ),
        "not_logged" => println!(
            "NOT A LOGGED RELEASE: no release statement by a publisher of the policy names this SHA-256"
        ),
        "rejected" => println!("REJECTED: a reviewer of the policy rejected this release"),
        _ => println!(
            "NOT ENOUGH REVIEWS: {} approving review(s), the policy requires {}",
            v.approvals.len(),
            v.required_reviews
        ),
    }
}

/// One line for `vitrine status --policy`: what the log says of the
/// running binary.
pub fn running_summary(v: &Verdicts) -> String {
    match v.verdict {
        "release" => {
            let r = &v.releases[0];
            format!(
                "logged release {} for {} (log index {}), {} approving review(s), the policy requires {}",
                escape(&r.version),
                escape(&r.target),
                r.index,
                v.approvals.len(),
                v.required_reviews
            )
        }
        "not_logged" => format!("sha256 {}: not a logged release", v.sha256),
        "rejected" => format!(
            "sha256 {}: a logged release rejected by {}",
            v.sha256,
            escape(&v.rejections.join("; "))
        ),
        _ => format!(
            "sha256 {}: a logged release with {} approving review(s), the policy requires {}",
            v.sha256,
            v.approvals.len(),
            v.required_reviews
        ),
    }
}
