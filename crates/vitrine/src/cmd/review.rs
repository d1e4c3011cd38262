//! `vitrine review`: independent review of rule bundles. A reviewer reads
//! a packet (`prepare`), signs a verdict with a report (`sign`), logs both
//! (`submit`); anyone lists a subject's logged reviews (`list`). Endpoints
//! count logged approvals under the policy's `require-reviews`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, Limits};
use vitrine_client::{escape, FetchOptions, PublishOptions};
use vitrine_note::{Note, Verifiers};
use vitrine_statements::{Review, Statement, Text, Verdict};

/// Review rule bundles: prepare the packet a reviewer reads, sign a
/// verdict, log it, list the reviews of a bundle.
///
/// A bundle is installed by an endpoint whose policy says `require-reviews
/// N` only with N logged approvals by distinct policy reviewers (never the
/// publisher's own key) and no logged rejection by any of them.
///
/// Example, reviewing version 2 of a bundle:
///
///   vitrine review prepare daily-2.bundle --since daily-1.bundle
///   (read daily-2.bundle.review/packet.md, write report.md)
///   vitrine review sign --key carol.key --subject daily-2.bundle
///     --verdict approve --report report.md -o daily-2.review
///   vitrine review submit daily-2.review --report report.md --key carol.key
///     --log URL --policy policy
///   vitrine review list --subject daily-2.bundle --policy policy
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Write the packet a reviewer reads (packet.md and packet.json): the
    /// rules added, removed and changed since the previous version (as a
    /// diff), the lint findings and the publisher's acknowledgements with
    /// their reasons, the hash signatures added and removed.
    Prepare {
        /// The bundle under review.
        bundle: PathBuf,
        /// The previous version of the bundle [default: none, every rule
        /// is new].
        #[arg(long, value_name = "BUNDLE")]
        since: Option<PathBuf>,
        /// The bundle's signed `rules` statement, for the publisher's
        /// acknowledgements [default: BUNDLE.statement, as `vitrine
        /// publish` writes it, if present].
        #[arg(long, value_name = "FILE")]
        statement: Option<PathBuf>,
        /// The directory to write [default: BUNDLE.review]; must not exist.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Write the packet a reviewer of a release reads (packet.md and
    /// packet.json), from a git checkout of the source: the release's
    /// commit and the source archive's SHA-256, the commits and files
    /// changed since the previous release, the dependencies added, removed
    /// and upgraded (Cargo.lock), and the build recipe.
    PrepareRelease {
        /// The release's commit (anything `git rev-parse` takes).
        #[arg(long)]
        commit: String,
        /// The previous release's commit [default: none, every dependency
        /// is new].
        #[arg(long, value_name = "COMMIT")]
        since: Option<String>,
        /// The build recipe: a path in the repository.
        #[arg(long, value_name = "PATH", default_value = "bench/repro.sh")]
        recipe: String,
        /// The git repository.
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
        /// The directory to write [default: release-COMMIT.review]; must
        /// not exist.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Sign a `review` statement: the verdict on a subject, with the
    /// SHA-256 of the report.
    Sign {
        /// The reviewer's secret key file (`vitrine key generate`).
        #[arg(long, value_name = "REVIEWER.key")]
        key: PathBuf,
        /// What was reviewed: a SHA-256 (64 hex digits) or a file (a
        /// bundle, a release binary), which is hashed.
        #[arg(long, value_name = "SHA256|FILE")]
        subject: String,
        /// approve or reject.
        #[arg(long, value_enum)]
        verdict: VerdictArg,
        /// The reviewer's report; its SHA-256 goes into the statement and
        /// `submit` uploads it.
        #[arg(long, value_name = "FILE")]
        report: PathBuf,
        /// A one-line remark for people (at most 1,024 bytes).
        #[arg(long)]
        comment: Option<String>,
        /// Where to write the signed statement (never overwritten).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Log a signed review: upload the report to the log's content store,
    /// submit the statement, wait for a witness-cosigned checkpoint and
    /// write its tlog-proof beside it (STATEMENT.tlog-proof).
    Submit {
        /// The signed statement (`vitrine review sign`).
        statement: PathBuf,
        /// The report the statement names.
        #[arg(long, value_name = "FILE")]
        report: PathBuf,
        /// The reviewer's secret key file (authenticates the upload).
        #[arg(long, value_name = "REVIEWER.key")]
        key: PathBuf,
        /// The log's URL [default: the URL of the policy's `log` line].
        #[arg(long, value_parser = crate::util::http_url, value_name = "URL")]
        log: Option<String>,
        /// A trust policy naming the log and its witnesses.
        #[arg(long)]
        policy: PathBuf,
        /// How long to wait for a cosigned checkpoint, in seconds.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// List the reviews logged in the log, read under a checkpoint with
    /// the policy's witness quorum; each says whether the policy counts
    /// it.
    List {
        /// Only reviews of this subject: a SHA-256 or a file, hashed.
        #[arg(long, value_name = "SHA256|FILE")]
        subject: Option<String>,
        /// A trust policy naming the log, its witnesses and reviewers.
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

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum VerdictArg {
    /// The subject is fit to be used.
    Approve,
    /// The subject must not be used.
    Reject,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Prepare {
            bundle,
            since,
            statement,
            output,
        } => prepare(&bundle, since.as_deref(), statement, output),
        Command::PrepareRelease {
            commit,
            since,
            recipe,
            repo,
            output,
        } => crate::cmd::review_release::prepare(&repo, &commit, since.as_deref(), &recipe, output),
        Command::Sign {
            key,
            subject,
            verdict,
            report,
            comment,
            output,
        } => sign(&key, &subject, verdict, &report, comment, &output),
        Command::Submit {
            statement,
            report,
            key,
            log,
            policy,
            wait,
        } => submit(&statement, &report, &key, log, &policy, wait),
        Command::List {
            subject,
            policy,
            log,
            format,
        } => list(subject.as_deref(), &policy, log, format),
    }
}

/// A SHA-256 given as 64 hex digits, or the SHA-256 of the file so named.
fn subject_hash(subject: &str) -> Result<[u8; 32]> {
    if subject.len() == 64 && subject.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; 32];
        hex::decode_to_slice(subject, &mut out).context("--subject")?;
        return Ok(out);
    }
    let path = Path::new(subject);
    if !path.is_file() {
        bail!(
            "--subject {}: neither a SHA-256 (64 hex digits) nor a file",
            escape(subject)
        );
    }
    crate::util::file_sha256(path)
}

fn sign(
    key: &Path,
    subject: &str,
    verdict: VerdictArg,
    report: &Path,
    comment: Option<String>,
    output: &Path,
) -> Result<ExitCode> {
    let key = crate::cmd::key::read_key(key)?;
    let subject = subject_hash(subject)?;
    let report_bytes =
        std::fs::read(report).with_context(|| format!("reading {}", report.display()))?;
    if report_bytes.is_empty() {
        bail!("{}: the report is empty", report.display());
    }
    let comment = comment
        .map(|c| Text::new(c.as_str()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--comment: {e}"))?;
    let statement = Statement::Review(Review {
        subject: vitrine_statements::Sha256(subject),
        verdict: match verdict {
            VerdictArg::Approve => Verdict::Approve,
            VerdictArg::Reject => Verdict::Reject,
        },
        comment,
        report: Some(vitrine_statements::Sha256(
            Sha256::digest(&report_bytes).into(),
        )),
    })
    .sign(&key)
    .context("signing the review")?;
    crate::util::write_new(output, &statement)?;
    println!(
        "signed review of {} ({}) by {}: {}",
        hex::encode(subject),
        match verdict {
            VerdictArg::Approve => "approve",
            VerdictArg::Reject => "reject",
        },
        escape(key.name()),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn submit(
    statement_path: &Path,
    report: &Path,
    key: &Path,
    log: Option<String>,
    policy: &Path,
    wait: u64,
) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(policy)?;
    let key = crate::cmd::key::read_key(key)?;
    let statement = std::fs::read(statement_path)
        .with_context(|| format!("reading {}", statement_path.display()))?;
    let report_bytes =
        std::fs::read(report).with_context(|| format!("reading {}", report.display()))?;
    // Check what is about to be logged: a review, signed by this key,
    // naming this report.
    let verifiers = Verifiers::from_keys([key.verifier()]);
    let review = match Statement::open(&statement, &verifiers) {
        Ok((Statement::Review(r), _)) => r,
        Ok((other, _)) => bail!(
            "{}: a {} statement, not a review",
            statement_path.display(),
            other.kind().name()
        ),
        Err(e) => bail!(
            "{}: not a review signed by {}: {e}",
            statement_path.display(),
            escape(key.name())
        ),
    };
    let report_hash: [u8; 32] = Sha256::digest(&report_bytes).into();
    if review.report.map(|r| r.0) != Some(report_hash) {
        bail!(
            "{}: the statement names another report than {} (SHA-256 {})",
            statement_path.display(),
            report.display(),
            hex::encode(report_hash)
        );
    }
    let url = crate::cmd::trust::log_url(&policy, log)?;
    let opts = PublishOptions {
        wait: std::time::Duration::from_secs(wait),
        ..PublishOptions::default()
    };
    let proof = vitrine_client::publish(&policy, &url, &key, &report_bytes, &statement, &opts)
        .context("logging the review")?;
    let parsed = vitrine_tlog::TlogProof::parse(&proof).context("parsing our tlog-proof")?;
    let out = crate::util::with_suffix(statement_path, ".tlog-proof");
    crate::cmd::bundle::write_file(&out, &proof)?;
    println!(
        "logged review of {} ({}) at log index {}, in checkpoint size {} with a witness quorum; report {} in the content store; proof {}",
        hex::encode(review.subject.0),
        review.verdict.as_str(),
        parsed.index(),
        parsed.checkpoint().size,
        hex::encode(report_hash),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One logged review, as `list` shows it.
#[derive(Serialize)]
struct Listed {
    index: u64,
    subject: String,
    verdict: &'static str,
    reviewer: String,
    /// Whether the policy counts it: signed by a policy reviewer who is
    /// not a publisher.
    counted: bool,
    comment: Option<String>,
    report: Option<String>,
}

fn list(
    subject: Option<&str>,
    policy_path: &Path,
    log: Option<String>,
    format: crate::cmd::bundle::Format,
) -> Result<ExitCode> {
    let policy = crate::cmd::trust::read_policy(policy_path)?;
    let subject = subject.map(subject_hash).transpose()?;
    let url = crate::cmd::trust::log_url(&policy, log)?;
    let logged = vitrine_client::read_log(&policy, &url, &FetchOptions::default())
        .with_context(|| format!("reading the log at {}", escape(&url)))?;
    let mut out = Vec::new();
    for (index, note) in &logged.reviews {
        let Ok(parsed) = Note::parse(note) else {
            continue;
        };
        let Ok(Statement::Review(review)) = Statement::parse(parsed.text().as_bytes()) else {
            continue;
        };
        if subject.is_some_and(|s| s != review.subject.0) {
            continue;
        }
        let counted = vitrine_client::policy_review(&policy, note).is_some();
        let reviewer = parsed
            .signatures()
            .first()
            .map(|s| s.name().to_owned())
            .unwrap_or_default();
        out.push(Listed {
            index: *index,
            subject: hex::encode(review.subject.0),
            verdict: review.verdict.as_str(),
            reviewer,
            counted,
            comment: review.comment.map(|c| c.as_str().to_owned()),
            report: review.report.map(|r| hex::encode(r.0)),
        });
    }
    match format {
        crate::cmd::bundle::Format::Json => {
            let v = serde_json::json!({
                "log": logged.checkpoint.origin,
                "checkpoint_size": logged.checkpoint.size,
                "witnesses": logged.witnesses,
                "reviews": out,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        crate::cmd::bundle::Format::Text => {
            println!(
                "log {} at size {}, cosigned by {}",
                escape(&logged.checkpoint.origin),
                logged.checkpoint.size,
                logged.witnesses.join(", ")
            );
            if out.is_empty() {
                println!(
                    "no reviews logged{}",
                    if subject.is_some() {
                        " for this subject"
                    } else {
                        ""
                    }
                );
            }
            for r in &out {
                println!(
                    "index {}  {}  {}  by {}{}{}",
                    r.index,
                    r.subject,
                    r.verdict,
                    escape(&r.reviewer),
                    if r.counted {
                        ""
                    } else {
                        " (not a reviewer of this policy: not counted)"
                    },
                    r.comment
                        .as_deref()
                        .map(|c| format!(": {}", escape(c)))
                        .unwrap_or_default()
                );
                if let Some(rep) = &r.report {
                    println!(
                        "  report: {url}/content/sha256/{rep}",
                        url = escape(url.trim_end_matches('/'))
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every YARA rule of a bundle with its text, and the lint report.
fn rule_texts(
    bundle: &Bundle,
) -> Result<(
    BTreeMap<String, vitrine_lint::RuleText>,
    vitrine_lint::Report,
)> {
    vitrine_lint::rule_texts(bundle).context("reading the bundle's rules")
}

/// Every hash signature line of a bundle's hash lists, as `file: line`.
fn hash_lines(bundle: &Bundle) -> BTreeSet<String> {
    bundle
        .hash_files()
        .flat_map(|f| {
            String::from_utf8_lossy(&f.data)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| format!("{}: {l}", f.path))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[derive(Serialize)]
struct PacketBundle {
    name: String,
    version: u64,
    sha256: String,
    size: u64,
}

#[derive(Serialize)]
struct PacketFinding {
    id: &'static str,
    severity: &'static str,
    rule: String,
    file: String,
    line: usize,
    message: String,
    /// The publisher's reason, when the statement acknowledges it.
    acknowledged: Option<String>,
}

#[derive(Serialize)]
struct Packet {
    subject: PacketBundle,
    previous: Option<PacketBundle>,
    statement: Option<String>,
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    /// Unified diffs of the changed rules, and the full text of added and
    /// removed ones, by `file:rule`.
    diffs: BTreeMap<String, String>,
    findings: Vec<PacketFinding>,
    hashes_added: Vec<String>,
    hashes_removed: Vec<String>,
}

fn read_bundle(path: &Path) -> Result<(Vec<u8>, Bundle)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = Bundle::parse(&bytes, &Limits::default())
        .with_context(|| format!("{}: not a valid bundle", path.display()))?;
    Ok((bytes, bundle))
}

fn describe(bytes: &[u8], bundle: &Bundle) -> PacketBundle {
    PacketBundle {
        name: bundle.manifest().name.clone(),
        version: bundle.manifest().version,
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
    }
}

fn prepare(
    path: &Path,
    since: Option<&Path>,
    statement: Option<PathBuf>,
    output: Option<PathBuf>,
) -> Result<ExitCode> {
    let (bytes, bundle) = read_bundle(path)?;
    let subject = describe(&bytes, &bundle);
    let previous = since.map(read_bundle).transpose()?;
    if let Some((_, old)) = &previous {
        if old.manifest().name != bundle.manifest().name {
            bail!(
                "--since names bundle {}, the subject is {}",
                escape(&old.manifest().name),
                escape(&bundle.manifest().name)
            );
        }
        if old.manifest().version >= bundle.manifest().version {
            bail!(
                "--since is version {}, not older than the subject's {}",
                old.manifest().version,
                bundle.manifest().version
            );
        }
    }
    // The publisher's acknowledgements, from the signed statement.
    let beside = crate::util::with_suffix(path, ".statement");
    let statement = statement.or_else(|| beside.is_file().then_some(beside));
    let mut acks: BTreeMap<String, String> = BTreeMap::new();
    if let Some(sp) = &statement {
        let note = std::fs::read(sp).with_context(|| format!("reading {}", sp.display()))?;
        let parsed =
            Note::parse(&note).with_context(|| format!("{}: not a signed note", sp.display()))?;
        match Statement::parse(parsed.text().as_bytes()) {
            Ok(Statement::Rules(r)) => {
                if r.sha256.0.as_slice() != Sha256::digest(&bytes).as_slice() {
                    bail!("{}: the statement is about another bundle", sp.display());
                }
                for a in r.allow {
                    acks.insert(a.finding.as_str().to_owned(), a.reason.as_str().to_owned());
                }
            }
            Ok(other) => bail!(
                "{}: a {} statement, not rules",
                sp.display(),
                other.kind().name()
            ),
            Err(e) => bail!("{}: {e}", sp.display()),
        }
    }

    let (now, report) = rule_texts(&bundle)?;
    let (before, old_hashes) = match &previous {
        Some((_, old)) => (rule_texts(old)?.0, hash_lines(old)),
        None => (BTreeMap::new(), BTreeSet::new()),
    };
    let mut diffs = BTreeMap::new();
    let added: Vec<String> = now
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let removed: Vec<String> = before
        .keys()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    let mut changed = Vec::new();
    for (k, r) in &now {
        match before.get(k) {
            None => {
                diffs.insert(k.clone(), r.text.clone());
            }
            Some(o) if o.digest != r.digest => {
                changed.push(k.clone());
                let diff = similar::TextDiff::from_lines(&o.text, &r.text)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{k} (previous)"), &format!("{k} (this version)"))
                    .to_string();
                diffs.insert(k.clone(), diff);
            }
            Some(_) => {}
        }
    }
    for k in &removed {
        diffs.insert(k.clone(), before[k].text.clone());
    }
    let new_hashes = hash_lines(&bundle);
    let findings: Vec<PacketFinding> = report
        .findings
        .iter()
        .map(|f| PacketFinding {
            id: f.id,
            severity: f.severity.as_str(),
            rule: f.rule.clone(),
            file: f.file.clone(),
            line: f.line,
            message: f.message.clone(),
            acknowledged: acks.get(&f.key()).cloned(),
        })
        .collect();
    let packet = Packet {
        subject,
        previous: previous.as_ref().map(|(b, p)| describe(b, p)),
        statement: statement.as_ref().map(|p| p.display().to_string()),
        added,
        removed,
        changed,
        diffs,
        findings,
        hashes_added: new_hashes.difference(&old_hashes).cloned().collect(),
        hashes_removed: old_hashes.difference(&new_hashes).cloned().collect(),
    };

    let dir = output.unwrap_or_else(|| crate::util::with_suffix(path, ".review"));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(&packet)?;
    crate::util::write_new(&dir.join("packet.json"), &json)?;
    crate::util::write_new(&dir.join("packet.md"), markdown(&packet).as_bytes())?;
    println!(
        "review packet for {} v{} (sha256 {}): {} added, {} removed, {} changed; {} ({} acknowledged); {} added, {} removed",
        escape(&packet.subject.name),
        packet.subject.version,
        packet.subject.sha256,
        crate::util::count(packet.added.len() as u64, "rule", "rules"),
        packet.removed.len(),
        packet.changed.len(),
        crate::util::count(packet.findings.len() as u64, "lint finding", "lint findings"),
        packet.findings.iter().filter(|f| f.acknowledged.is_some()).count(),
        crate::util::count(
            packet.hashes_added.len() as u64,
            "hash signature",
            "hash signatures"
        ),
        packet.hashes_removed.len(),
    );
    println!("{}", dir.join("packet.md").display());
    println!("{}", dir.join("packet.json").display());
    Ok(ExitCode::SUCCESS)
}

/// Markdown inside a code fence: a fence longer than any run of backticks
/// in the text.
pub(crate) fn fenced(lang: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{lang}\n{}{}{fence}\n",
        text,
        if text.ends_with('\n') { "" } else { "\n" }
    )
}

fn markdown(p: &Packet) -> String {
    let mut s = format!(
        "# Review packet: {} version {}\n\n- SHA-256: `{}` ({} bytes) — the subject of `vitrine review sign`\n",
        p.subject.name, p.subject.version, p.subject.sha256, p.subject.size
    );
    match &p.previous {
        Some(o) => s.push_str(&format!(
            "- Compared with version {} (SHA-256 `{}`)\n",
            o.version, o.sha256
        )),
        None => s.push_str("- No previous version given: every rule is new\n"),
    }
    match &p.statement {
        Some(_) => s.push_str("- Acknowledgements read from the publisher's signed statement\n"),
        None => s.push_str("- No signed statement given: acknowledgements unknown\n"),
    }
    s.push_str(&format!(
        "\n## Summary\n\n| | count |\n|---|---|\n| rules added | {} |\n| rules removed | {} |\n| rules changed | {} |\n| lint findings | {} |\n| acknowledged by the publisher | {} |\n| hash signatures added | {} |\n| hash signatures removed | {} |\n",
        p.added.len(),
        p.removed.len(),
        p.changed.len(),
        p.findings.len(),
        p.findings.iter().filter(|f| f.acknowledged.is_some()).count(),
        p.hashes_added.len(),
        p.hashes_removed.len()
    ));
    s.push_str("\n## Lint findings\n\n");
    if p.findings.is_empty() {
        s.push_str("None.\n");
    }
    for f in &p.findings {
        s.push_str(&format!(
            "- **{}** ({}) `{}` at {}:{}: {}{}\n",
            f.id,
            f.severity,
            f.rule,
            f.file,
            f.line,
            f.message,
            f.acknowledged
                .as_deref()
                .map(|r| format!("\n  - acknowledged by the publisher: {r}"))
                .unwrap_or_default()
        ));
    }
    for (title, keys, lang) in [
        ("Rules changed", &p.changed, "diff"),
        ("Rules added", &p.added, "yara"),
        ("Rules removed", &p.removed, "yara"),
    ] {
        s.push_str(&format!("\n## {title} ({})\n", keys.len()));
        for k in keys {
            s.push_str(&format!("\n### `{k}`\n\n"));
            s.push_str(&fenced(lang, p.diffs.get(k).map_or("", String::as_str)));
        }
    }
    for (title, lines) in [
        ("Hash signatures added", &p.hashes_added),
        ("Hash signatures removed", &p.hashes_removed),
    ] {
        s.push_str(&format!("\n## {title} ({})\n\n", lines.len()));
        if !lines.is_empty() {
            s.push_str(&fenced("", &(lines.join("\n") + "\n")));
        }
    }
    s
}
