//! `vitrine lint`: judge YARA rules for surveillance rather than malware
//! detection.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;
use vitrine_lint::{Finding, Severity};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// Severities for `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Any finding.
    Info,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High only.
    High,
}

impl From<Level> for Severity {
    fn from(l: Level) -> Severity {
        match l {
            Level::Info => Severity::Info,
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
        }
    }
}

/// Check YARA rules for surveillance: classification markings, personal
/// data, document and person targeting, overbroad and hidden logic.
///
/// Reads .yar/.yara files, directories (recursively) and rule bundles
/// through yara-x's parser. Every finding has a stable ID (VL101…), a
/// severity, the rule, file:line:column and an explanation; the IDs are
/// listed in docs/lint.md and by `--list`.
///
/// With --canaries the rules are also compiled and run over a generated
/// corpus of documents that hold classification markings and personal data
/// and nothing executable (text, DOCX, XLSX, ODT, PDF, RTF, e-mail, zipped;
/// nine countries' markings; several encodings): a rule that matches one
/// is a high finding, VL701, naming the canaries. The corpus is generated
/// from --seed (vary it, so a rule cannot be tuned to one corpus) plus the
/// documents in --canary-dir.
///
/// Exit status: 0 no finding at or above --fail-on, 1 there is one, 2 an
/// error (unreadable file, syntax error, malformed bundle).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  vitrine lint rules/\n  vitrine lint --format json daily.bundle\n  vitrine lint --fail-on medium a.yar b.yar\n  vitrine lint --canaries --seed 7 --canary-dir my-docs/ rules/\n  vitrine lint --list"
)]
pub struct Args {
    /// Rule files, directories or bundles.
    #[arg(required_unless_present = "list")]
    rules: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = Level::High)]
    fail_on: Level,
    /// Print every finding ID with its title and exit.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    canary: CanaryArgs,
}

/// The canary scan's options, shared by `lint` and `audit`.
#[derive(clap::Args)]
pub struct CanaryArgs {
    /// Also compile the rules and scan the canary corpus (VL701).
    #[arg(long)]
    canaries: bool,
    /// Seed of the generated canary corpus; vary it between runs.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "canaries")]
    seed: u64,
    /// A directory of the operator's own canary documents, added to the
    /// generated ones.
    #[arg(long, value_name = "DIR", requires = "canaries")]
    canary_dir: Option<PathBuf>,
}

impl CanaryArgs {
    /// The corpus asked for, or `None` without `--canaries`.
    pub fn corpus(&self) -> Result<Option<Vec<vitrine_canary::Canary>>> {
        if !self.canaries {
            return Ok(None);
        }
        let mut corpus = vitrine_canary::generate(self.seed);
        if let Some(dir) = &self.canary_dir {
            corpus.extend(vitrine_canary::operator_canaries(dir)?);
        }
        Ok(Some(corpus))
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.list {
        for (id, title) in vitrine_lint::FINDING_IDS {
            writeln!(out, "{id}  {title}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut sources = Vec::new();
    for path in &args.rules {
        sources.extend(vitrine_lint::sources_of(path)?);
    }
    let refs: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    let mut report = vitrine_lint::lint_sources(refs.iter().copied())?;
    if let Some(corpus) = args.canary.corpus()? {
        let hits = vitrine_canary::scan(&refs, &corpus)?;
        report.findings.extend(vitrine_canary::findings(&hits));
    }
    let fail_on = Severity::from(args.fail_on);
    let failing = report.at_least(fail_on).count();
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "rules": report.rules.len(),
                "findings": report.findings,
                "fail_on": fail_on,
                "failing": failing,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => {
            for f in &report.findings {
                writeln!(out, "{}", text(f))?;
            }
            let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
            writeln!(
                out,
                "{}, {} ({} high, {} medium, {} low, {} info)",
                crate::util::count(report.rules.len() as u64, "rule", "rules"),
                crate::util::count(report.findings.len() as u64, "finding", "findings"),
                count(Severity::High),
                count(Severity::Medium),
                count(Severity::Low),
                count(Severity::Info),
            )?;
        }
    }
    Ok(if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One finding for people: `file:line:col: high VL101 rule: message`.
pub fn text(f: &Finding) -> String {
    format!(
        "{}:{}:{}: {} {} {}: {}",
        f.file, f.line, f.column, f.severity, f.id, f.rule, f.message
    )
}
