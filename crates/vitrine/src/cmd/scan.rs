//! `vitrine scan`: wires the scan engine to the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use vitrine_scan::{
    scan, FileReport, Outcome, Progress, RuleSet, SkipReason, Summary, Target, VarValue,
};

use crate::util::{count, human_bytes, parse_size};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// ClamAV style: `PATH: NAME FOUND`, then a summary.
    Text,
    /// One JSON document: rules, every file, summary.
    Json,
    /// One JSON object per line: each file, then the summary.
    Ndjson,
}

/// Scan files and directories with YARA rules and hash signatures.
///
/// With no --rules or --hashes, the active verified bundle of the endpoint
/// state is used (`vitrine update` installs it), and the summary says so;
/// without one, the built-in starter set (EICAR and a few well-known
/// families), which is not from the transparency log, and the summary says
/// that too.
///
/// Containers (zip, tar, gzip, bzip2, xz, 7z) are scanned inside, nested,
/// in memory, under limits; a detection inside one is printed as
/// `outer.zip!dir/inner.tar!file: NAME FOUND`. A container that exceeds a
/// limit, or is damaged, is reported as not scanned completely (with
/// --alert-exceeds-max, as a detection).
///
/// Files found clean are remembered in the scan cache (in the state
/// directory) and not read again until they change (device, inode, size,
/// mtime, ctime) or the rules or limits do; --no-cache reads everything.
///
/// With --quarantine, each file with a detection is moved into the
/// quarantine store, encoded (see `vitrine quarantine --help`); as in
/// ClamAV, --move DIR and --copy DIR put the file itself in DIR and
/// --remove deletes it (one of the four at most). With
/// --submit, each is first submitted under the owner's egress policy (see
/// `vitrine egress --help`): by default only metadata leaves.
///
/// Exit status, as ClamAV's: 0 nothing found, 1 something found, 2 an error
/// prevented a complete scan (and nothing was found).
///
/// Examples:
///
///   vitrine scan ~/Downloads
///
///   vitrine scan --quarantine ~/Downloads
///
///   vitrine scan --rules my-rules/ --hashes bad.hsb /srv
///
///   cat file | vitrine scan -
///
///   vitrine scan --format ndjson --exclude '*.iso' / > report.ndjson
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Files and directories to scan; `-` reads standard input.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,

    /// YARA rule file, or directory of .yar/.yara files (repeatable).
    /// Replaces the built-in set. (No short form: `-r` is ClamAV's
    /// --recursive.)
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,

    /// Accepted for ClamAV users and ignored: directories are always
    /// scanned recursively.
    #[arg(long, short = 'r')]
    recursive: bool,

    /// ClamAV hash-signature file, .hdb or .hsb, or a directory of them
    /// (repeatable). Replaces the built-in set.
    #[arg(long = "hashes", value_name = "FILE")]
    hashes: Vec<PathBuf>,

    /// The endpoint state directory holding the active verified bundle
    /// [default: $VITRINE_STATE, else the configuration's `state`,
    /// else /var/lib/vitrine for root and the `vitrine` user, else
    /// $XDG_DATA_HOME/vitrine or ~/.local/share/vitrine; `vitrine config
    /// show` says which].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,

    /// Define an external variable for the rules, as `yr` does: VAR=VALUE,
    /// where VALUE is true/false, an integer, a float or a string.
    /// (filename, filepath, extension, filetype and owner are set for each
    /// file automatically when a rule uses them.)
    #[arg(long = "define", short = 'd', value_name = "VAR=VALUE")]
    defines: Vec<String>,

    /// Number of scanning threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,

    /// Skip (and report) files larger than this: 4096, 512K, 100M, 2G;
    /// 0 means no limit, as in ClamAV (a file is read whole into memory).
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size)]
    max_filesize: u64,

    /// Per-file time limit for rule matching, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,

    /// Follow symbolic links while walking directories (loops are detected).
    #[arg(long)]
    follow_symlinks: bool,

    /// Stay on the file system of each path given.
    #[arg(long)]
    one_file_system: bool,

    /// Also walk into /proc, /sys and /dev when they are met below a path
    /// given (by default they are skipped, as ClamAV does; a path given
    /// is always scanned).
    #[arg(long)]
    scan_pseudo_filesystems: bool,

    /// Skip paths matching this glob (matched against the path and the file
    /// name; repeatable), e.g. '*.iso' or '**/node_modules'.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,

    /// Do not enter directories whose path matches this regular
    /// expression, as ClamAV's --exclude-dir (searched anywhere in the
    /// path, which is tried with and without a trailing `/`; repeatable),
    /// e.g. '^/srv/cache' or '/node_modules/'.
    #[arg(long, value_name = "REGEX")]
    exclude_dir: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Text output: print only detections and errors, not skipped files.
    #[arg(long, short = 'i')]
    infected: bool,

    /// Text output: print only detections and errors, no summary (as
    /// ClamAV's --quiet; the exit status says the rest). A --log file
    /// still gets the whole report.
    #[arg(long)]
    quiet: bool,

    /// Text output: do not print the summary (warnings about the rules
    /// go to standard error instead).
    #[arg(long)]
    no_summary: bool,

    /// Also append the text report to FILE (created if missing, mode
    /// 0600), as ClamAV's --log.
    #[arg(long, short = 'l', value_name = "FILE")]
    log: Option<PathBuf>,

    /// Never show the progress bar (it is shown only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,

    /// Do not look inside archives and compressed files.
    #[arg(long)]
    no_archive: bool,

    /// Containers nested deeper than this are not opened.
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_depth: usize,

    /// Members read from one file's containers, in all.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_members: u64,

    /// Bytes decompressed from one file's containers, in all.
    #[arg(long, value_name = "SIZE", default_value = "400M", value_parser = parse_size)]
    max_scansize: u64,

    /// Decompressed size of one member.
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size)]
    max_member_size: u64,

    /// How many times its own size a container may expand to (past the
    /// first 8 MiB): stops zip bombs.
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_ratio: u64,

    /// Report a container that exceeds a limit as a detection
    /// (Heuristics.Limits.Exceeded.*), as ClamAV's --alert-exceeds-max.
    #[arg(long)]
    alert_exceeds_max: bool,

    /// Read every file, ignoring and not updating the scan cache.
    #[arg(long)]
    no_cache: bool,

    /// Never report files or detections on this allowlist (lines
    /// `sha256 HEX` and `name DETECTION`, `#` comments); repeatable.
    /// STATE/allowlist is always read when it exists (`vitrine quarantine
    /// restore --allow` adds to it).
    #[arg(long, value_name = "FILE")]
    allowlist: Vec<PathBuf>,

    /// Never report a file with this SHA-256 (as ClamAV's .fp); repeatable.
    #[arg(long, value_name = "HEX")]
    allow_sha256: Vec<String>,

    /// Never report this detection name (as ClamAV's .ign2); repeatable.
    #[arg(long, value_name = "NAME")]
    allow_name: Vec<String>,

    /// Show each YARA detection's tags under it in text (`  tags: a, b`),
    /// as `yara -g`; JSON always has them.
    #[arg(short = 'g', long)]
    print_tags: bool,

    /// Show each YARA detection's metadata under it in text
    /// (`  meta: author="x", score=80`), as `yara -m`; JSON always has it.
    #[arg(short = 'm', long)]
    print_meta: bool,

    /// Show the strings each YARA rule matched, with their offsets, as
    /// `yr scan -s` does: `  0x1f:$a: matched text` under each detection
    /// (non-printable bytes as \xNN, at most 64 bytes), and a `strings`
    /// list in JSON.
    #[arg(short = 's', long)]
    print_strings: bool,

    /// Compile the rules even if STATE/rules-cache holds them compiled
    /// (and leave that cache alone). The cache is keyed by every rule
    /// source, variable and the yara-x version, so changed rules never
    /// load stale code.
    #[arg(long)]
    no_rules_cache: bool,

    /// Move each file with a detection into the quarantine store.
    #[arg(long)]
    quarantine: bool,

    /// The quarantine store [default: STATE/quarantine].
    #[arg(long, value_name = "DIR")]
    quarantine_dir: Option<PathBuf>,

    /// Move each file with a detection into DIR, which must exist, as
    /// ClamAV's --move: the file itself, not encoded (--quarantine keeps
    /// an encoded, restorable item instead); a name already in DIR gets a
    /// suffix .001, .002, ... DIR is never scanned.
    #[arg(long = "move", value_name = "DIR", conflicts_with_all = ["quarantine", "copy_to", "remove"])]
    move_to: Option<PathBuf>,

    /// Copy each file with a detection into DIR (mode 0600), as ClamAV's
    /// --copy; names as with --move.
    #[arg(long = "copy", value_name = "DIR", conflicts_with_all = ["quarantine", "remove"])]
    copy_to: Option<PathBuf>,

    /// Delete each file with a detection, as ClamAV's --remove
    /// (--remove=no is accepted). A whole container goes when a member
    /// has a detection.
    #[arg(
        long,
        value_name = "yes|no",
        num_args = 0..=1,
        require_equals = true,
        default_value = "no",
        default_missing_value = "yes",
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with = "quarantine"
    )]
    remove: bool,

    /// Submit each file with a detection under the egress policy (see
    /// `vitrine egress --help`): by default only its metadata leaves.
    #[arg(long)]
    submit: bool,

    /// The egress state directory [default: STATE/egress].
    #[arg(long, value_name = "DIR")]
    egress_state: Option<PathBuf>,

    /// Send the scan to a running `vitrine daemon` (like clamdscan) at
    /// SOCKET [default: STATE/clamd.sock]; the daemon's rules are used.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = "")]
    daemon: Option<PathBuf>,
}

use vitrine_endpoint::scan::Disposal;
use vitrine_endpoint::Action;

/// The owner's allowlist (the configuration's `[allow]`, STATE/allowlist,
/// every --allowlist file) and the --allow-sha256 and --allow-name flags.
fn load_allowlist(args: &Args) -> Result<vitrine_scan::Allowlist> {
    let mut allow =
        vitrine_endpoint::rules::read_allowlist(state_dir(args).ok().as_deref(), &args.allowlist)?;
    for h in &args.allow_sha256 {
        allow
            .add_sha256(h)
            .map_err(|e| anyhow::anyhow!("--allow-sha256: {e}"))?;
    }
    for n in &args.allow_name {
        allow.add_name(n);
    }
    Ok(allow)
}

/// Builds the rule set the arguments ask for.
fn load_rules(args: &Args) -> Result<RuleSet> {
    let mut builder = if args.rules.is_empty() && args.hashes.is_empty() {
        // A user with no bundle of their own uses the system's: the one
        // the service (or root) verified and installed there.
        let dir = state_dir(args).ok();
        vitrine_endpoint::rules::endpoint_rules(dir.as_deref(), args.state.is_none())?
    } else {
        vitrine_endpoint::rules::file_rules(&args.rules, &args.hashes)?
    };
    for d in &args.defines {
        let (name, value) = d
            .split_once('=')
            .with_context(|| format!("--define `{d}`: expected VAR=VALUE"))?;
        builder.define(name, VarValue::parse(value));
    }
    if args.no_rules_cache {
        return Ok(builder.build()?);
    }
    vitrine_endpoint::rules::build_rules(builder, state_dir(args).ok().as_deref())
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(sock) = &args.daemon {
        let sock = if sock.as_os_str().is_empty() {
            state_dir(&args)?.join("clamd.sock")
        } else {
            sock.clone()
        };
        return crate::cmd::daemon::scan_via(&sock, &args.paths);
    }
    check_text_only(&args)?;
    let mut log = open_log(&args)?;
    let rules = load_rules(&args).context("loading rules (nothing was scanned)")?;
    if !args.quiet {
        for w in rules.warnings() {
            eprintln!("vitrine: warning: {w}");
        }
    }
    // Standing fork evidence and an expired active bundle are said in the
    // summary: the owner must know the rules may be stale.
    let warnings = match state_dir(&args).ok() {
        Some(d) => vitrine_endpoint::state::state_warnings(&d)
            .unwrap_or_else(|e| vec![format!("cannot read the endpoint state: {e:#}")]),
        None => Vec::new(),
    };
    let settings = settings(&args)?;
    let prepared =
        vitrine_endpoint::scan::prepare(settings, &rules).context("nothing was scanned")?;
    for w in &prepared.warnings {
        eprintln!("vitrine: warning: {w}");
    }
    if let Some(r) = &prepared.recovery {
        crate::cmd::quarantine::report_recovery(r);
    }
    let (opts, actions) = (prepared.options, prepared.actions);
    let action = actions.action();
    let bundle_version = vitrine_endpoint::scan::bundle_version(&rules);
    let egress_state = match (&args.egress_state, args.submit) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => Some(state_dir(&args)?.join("egress")),
        _ => None,
    };
    let targets: Vec<Target> = args
        .paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Target::Stdin
            } else {
                Target::Path(p.clone())
            }
        })
        .collect();

    let progress = Progress::default();
    let show_bar =
        args.format == Format::Text && !args.no_progress && std::io::stderr().is_terminal();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_err: Option<std::io::Error> = None;

    let rules_json = serde_json::json!({
        "source": rules.source(),
        "description": rules.source().describe(),
        "yara_rules": rules.yara_rule_count(),
        "hash_signatures": rules.hash_count(),
    });
    if args.format == Format::Json {
        write!(
            out,
            "{{\"vitrine\":{},\"rules\":{},\"files\":[",
            serde_json::json!(env!("CARGO_PKG_VERSION")),
            rules_json
        )?;
    }

    let done = std::sync::atomic::AtomicBool::new(false);
    let mut quarantine_errors = 0u64;
    let mut submit_errors = 0u64;
    let mut summary = std::thread::scope(|s| -> Result<Summary> {
        let bar = show_bar.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .expect("invariant: the template is valid"),
            );
            bar
        });
        if let Some(bar) = &bar {
            let (bar, progress, done) = (bar.clone(), &progress, &done);
            s.spawn(move || {
                let start = std::time::Instant::now();
                while !done.load(Ordering::Relaxed) {
                    let files = progress.files.load(Ordering::Relaxed);
                    let bytes = progress.bytes.load(Ordering::Relaxed);
                    let rate = bytes as f64 / start.elapsed().as_secs_f64().max(0.001);
                    bar.set_message(format!(
                        "{files} files, {}, {}/s",
                        human_bytes(bytes),
                        human_bytes(rate as u64)
                    ));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            });
        }
        let mut first = true;
        let result = scan(&rules, &opts, &targets, &progress, |report| {
            if write_err.is_some() {
                return;
            }
            if args.submit && report.is_infected() && report.path != "stdin" {
                // Submitted before quarantine moves the file away. Rule
                // names only: member paths can carry document names.
                let mut names: Vec<String> = report
                    .all_detections()
                    .map(|(_, d)| d.name().to_string())
                    .collect();
                names.sort();
                names.dedup();
                let path = std::path::Path::new(&report.path);
                let run = || {
                    crate::cmd::submit::submit_after_scan(
                        egress_state.as_deref(),
                        path,
                        &names,
                        bundle_version,
                    )
                };
                let result = match &bar {
                    Some(b) => b.suspend(run),
                    None => run(),
                };
                match result {
                    Ok(o) => eprintln!(
                        "vitrine: submitted {}",
                        crate::cmd::submit::describe(path, &o)
                    ),
                    Err(e) => {
                        submit_errors += 1;
                        eprintln!("vitrine: submitting {} failed: {e:#}", report.path)
                    }
                }
            }
            let moved = actions.apply(report);
            if matches!(moved, Some((_, Err(_)))) {
                quarantine_errors += 1;
            }
            let shape = (
                args.format,
                Print {
                    tags: args.print_tags,
                    meta: args.print_meta,
                },
            );
            let mut emit = |out: &mut dyn Write| -> std::io::Result<()> {
                if args.format != Format::Text || (log.is_none() && !args.quiet) {
                    return write_report(out, shape, args.infected, report, moved.as_ref(), first);
                }
                // The log gets the report as the terminal would without
                // --quiet; --quiet keeps only detections and errors.
                let mut full = Vec::new();
                write_report(
                    &mut full,
                    shape,
                    args.infected,
                    report,
                    moved.as_ref(),
                    first,
                )?;
                if let Some((_, l)) = &mut log {
                    l.write_all(&full)?;
                }
                if args.quiet && !args.infected {
                    write_report(out, shape, true, report, moved.as_ref(), first)
                } else {
                    out.write_all(&full)
                }
            };
            let r = match &bar {
                Some(bar) => bar.suspend(|| emit(&mut out).and_then(|()| out.flush())),
                None => emit(&mut out),
            };
            first = false;
            if let Err(e) = r {
                write_err = Some(e);
            }
        });
        done.store(true, Ordering::Relaxed);
        Ok(result?)
    })?;
    if let Some(e) = write_err {
        return Err(e.into());
    }

    // A detection left in place because it could not be quarantined is an
    // error of this scan, not only a warning.
    summary.errors += quarantine_errors;
    write_summary(
        &mut out,
        log.as_mut().map(|(_, l)| l),
        &args,
        &rules,
        &summary,
        opts.thread_count(),
        &warnings,
        rules_json,
    )?;
    out.flush()?;
    if let Some((path, l)) = &mut log {
        l.flush()
            .with_context(|| format!("writing the log file {}", path.display()))?;
    }

    if submit_errors > 0 {
        eprintln!(
            "vitrine: {} failed; nothing was sent for {} beyond what the ledger records",
            count(submit_errors, "submission", "submissions"),
            if submit_errors == 1 { "it" } else { "them" }
        );
    }
    if let (true, Some(a)) = (quarantine_errors > 0, action) {
        eprintln!(
            "vitrine: {} could not be {}",
            count(
                quarantine_errors,
                "file with detections",
                "files with detections"
            ),
            a.failed(quarantine_errors == 1)
        );
    }
    Ok(ExitCode::from(vitrine_endpoint::scan::exit_status(
        &summary,
        quarantine_errors,
    )))
}

/// The summary, in the format asked for, and in the --log file.
#[allow(clippy::too_many_arguments)]
fn write_summary(
    out: &mut impl Write,
    mut log: Option<&mut std::io::BufWriter<std::fs::File>>,
    args: &Args,
    rules: &RuleSet,
    summary: &Summary,
    threads: usize,
    warnings: &[String],
    rules_json: serde_json::Value,
) -> Result<()> {
    match args.format {
        Format::Text if args.no_summary || args.quiet => {
            for w in warnings {
                eprintln!("vitrine: warning: {w}");
            }
            if let Some(l) = log.as_mut() {
                if !args.no_summary {
                    write_text_summary(l, rules, summary, threads)?;
                    for w in warnings {
                        writeln!(l, "WARNING: {w}")?;
                    }
                }
            }
        }
        Format::Text => {
            let mut text = Vec::new();
            write_text_summary(&mut text, rules, summary, threads)?;
            for w in warnings {
                writeln!(text, "WARNING: {w}")?;
            }
            out.write_all(&text)?;
            if let Some(l) = log.as_mut() {
                l.write_all(&text)?;
            }
        }
        Format::Json => {
            let mut v = serde_json::to_value(summary)?;
            v["warnings"] = serde_json::to_value(warnings)?;
            writeln!(out, "],\"summary\":{v}}}")?
        }
        Format::Ndjson => {
            let mut v = serde_json::to_value(summary)?;
            v["warnings"] = serde_json::to_value(warnings)?;
            v["type"] = "summary".into();
            v["rules"] = rules_json;
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}

/// --quiet, --no-summary and --log shape the text report only.
fn check_text_only(args: &Args) -> Result<()> {
    if args.format != Format::Text {
        let text_only = [
            (args.quiet, "--quiet"),
            (args.no_summary, "--no-summary"),
            (args.log.is_some(), "--log"),
        ];
        if let Some((_, flag)) = text_only.iter().find(|(set, _)| *set) {
            anyhow::bail!(
                "{flag} shapes the text report; with --format json or ndjson, \
                 filter or redirect standard output instead (nothing was scanned)"
            );
        }
    }
    Ok(())
}

/// The --log file, opened for appending (created 0600).
fn open_log(args: &Args) -> Result<Option<(PathBuf, std::io::BufWriter<std::fs::File>)>> {
    Ok(match &args.log {
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(p)
                .with_context(|| {
                    format!("opening the log file {} (nothing was scanned)", p.display())
                })?;
            Some((p.clone(), std::io::BufWriter::new(f)))
        }
        None => None,
    })
}

/// What the flags ask of the endpoint's scan.
fn settings(args: &Args) -> Result<vitrine_endpoint::scan::Settings> {
    let disposal = if args.quarantine {
        Disposal::Quarantine(args.quarantine_dir.clone())
    } else if let Some(d) = &args.move_to {
        Disposal::Move(d.clone())
    } else if let Some(d) = &args.copy_to {
        Disposal::Copy(d.clone())
    } else if args.remove {
        Disposal::Remove
    } else {
        Disposal::Report
    };
    Ok(vitrine_endpoint::scan::Settings {
        state: state_dir(args).ok(),
        max_filesize: args.max_filesize,
        timeout: Duration::from_secs(args.timeout),
        follow_symlinks: args.follow_symlinks,
        one_file_system: args.one_file_system,
        pseudo_filesystems: args.scan_pseudo_filesystems,
        threads: args.threads,
        archives: (!args.no_archive).then_some(vitrine_archive::Limits {
            max_depth: args.max_depth,
            max_members: args.max_members,
            max_total_bytes: args.max_scansize,
            max_member_size: args.max_member_size,
            max_ratio: args.max_ratio,
        }),
        alert_exceeds_max: args.alert_exceeds_max,
        print_strings: args.print_strings,
        compute_sha256: args.format != Format::Text,
        // Text lists only detections, errors and skips: files clean from
        // the cache are only counted.
        report_cached: args.format != Format::Text,
        use_cache: !args.no_cache,
        exclude: args.exclude.clone(),
        exclude_dir: args.exclude_dir.clone(),
        allow: load_allowlist(args).context("reading the allowlist (nothing was scanned)")?,
        disposal,
    })
}

fn state_dir(args: &Args) -> Result<PathBuf> {
    vitrine_endpoint::state::state_dir(args.state.as_deref())
}

/// What the text report shows under each detection besides its name.
#[derive(Clone, Copy)]
struct Print {
    tags: bool,
    meta: bool,
}

/// `s` in double quotes, with `"`, `\` and control characters escaped.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn write_report(
    out: &mut (impl Write + ?Sized),
    (format, print): (Format, Print),
    infected_only: bool,
    r: &FileReport,
    moved: Option<&(Action, Result<String, String>)>,
    first: bool,
) -> std::io::Result<()> {
    let moved_json = moved.map(|(a, m)| {
        let v = match (a, m) {
            (Action::Quarantine, Ok(id)) => serde_json::json!({ "id": id }),
            (Action::Move | Action::Copy, Ok(to)) => serde_json::json!({ "to": to }),
            (Action::Remove, Ok(_)) => serde_json::json!({ "removed": true }),
            (_, Err(e)) => serde_json::json!({ "error": e }),
        };
        (a.key(), v)
    });
    match format {
        Format::Text => {
            for (member, d) in r.all_detections() {
                if member.is_empty() {
                    writeln!(out, "{}: {} FOUND", r.path, d.name())?;
                } else {
                    writeln!(out, "{}!{member}: {} FOUND", r.path, d.name())?;
                }
                if let vitrine_scan::Detection::Yara {
                    strings,
                    tags,
                    meta,
                    ..
                } = d
                {
                    if print.tags && !tags.is_empty() {
                        writeln!(out, "  tags: {}", tags.join(", "))?;
                    }
                    if print.meta && !meta.is_empty() {
                        let items: Vec<String> = meta
                            .iter()
                            .map(|(k, v)| match v {
                                vitrine_scan::MetaValue::Str(s) => format!("{k}={}", quoted(s)),
                                vitrine_scan::MetaValue::Int(i) => format!("{k}={i}"),
                                vitrine_scan::MetaValue::Float(f) => format!("{k}={f}"),
                                vitrine_scan::MetaValue::Bool(b) => format!("{k}={b}"),
                            })
                            .collect();
                        writeln!(out, "  meta: {}", items.join(", "))?;
                    }
                    for m in strings {
                        writeln!(out, "  {:#x}:{}: {}", m.offset, m.identifier, m.data)?;
                    }
                }
            }
            for inc in &r.incomplete {
                let sep = if inc.path.is_empty() { "" } else { "!" };
                writeln!(out, "{}{sep}{}: Incomplete: {inc}", r.path, inc.path)?;
            }
            match moved {
                Some((Action::Quarantine, Ok(id))) => {
                    writeln!(out, "{}: moved to quarantine as {id}", r.path)?
                }
                Some((Action::Move, Ok(to))) => writeln!(out, "{}: moved to '{to}'", r.path)?,
                Some((Action::Copy, Ok(to))) => writeln!(out, "{}: copied to '{to}'", r.path)?,
                Some((Action::Remove, Ok(_))) => writeln!(out, "{}: Removed.", r.path)?,
                Some((a, Err(e))) => writeln!(out, "{}: {} failed: {e} ERROR", r.path, a.key())?,
                None => {}
            }
            match &r.outcome {
                Outcome::Error { message } => writeln!(out, "{}: {message} ERROR", r.path)?,
                // Counted by reason in the summary, not listed.
                Outcome::Skipped(SkipReason::Symlink | SkipReason::Excluded) => {}
                Outcome::Skipped(reason) if !infected_only => {
                    writeln!(out, "{}: Skipped: {reason}", r.path)?
                }
                _ => {}
            }
            Ok(())
        }
        Format::Json => {
            if !first {
                out.write_all(b",")?;
            }
            match moved_json {
                Some((key, m)) => {
                    let mut v = serde_json::to_value(r)?;
                    v[key] = m;
                    serde_json::to_writer(&mut *out, &v)?;
                }
                None => serde_json::to_writer(&mut *out, r)?,
            }
            Ok(())
        }
        Format::Ndjson => {
            let mut v = serde_json::to_value(r)?;
            v["type"] = "file".into();
            if let Some((key, m)) = moved_json {
                v[key] = m;
            }
            writeln!(out, "{v}")
        }
    }
}

fn write_text_summary(
    out: &mut (impl Write + ?Sized),
    rules: &RuleSet,
    s: &Summary,
    threads: usize,
) -> std::io::Result<()> {
    let rate = s.bytes_scanned as f64 / s.seconds.max(1e-9);
    writeln!(out)?;
    writeln!(out, "----------- SCAN SUMMARY -----------")?;
    writeln!(out, "Rules: {}", rules.source().describe())?;
    writeln!(
        out,
        "Loaded: {}, {}",
        count(rules.yara_rule_count() as u64, "YARA rule", "YARA rules"),
        count(
            rules.hash_count() as u64,
            "hash signature",
            "hash signatures"
        )
    )?;
    writeln!(out, "Scanned files: {}", s.files_scanned)?;
    if s.cached > 0 {
        writeln!(out, "Unchanged since a clean scan (cache): {}", s.cached)?;
    }
    if s.archive_members > 0 {
        writeln!(out, "Archive members: {}", s.archive_members)?;
    }
    if s.incomplete > 0 {
        writeln!(
            out,
            "Not scanned completely (archive limits, damage): {}",
            s.incomplete
        )?;
    }
    writeln!(out, "Scanned data: {}", human_bytes(s.bytes_scanned))?;
    writeln!(out, "Infected files: {}", s.infected_files)?;
    writeln!(out, "Detections: {}", s.detections)?;
    if s.skipped_by_reason.is_empty() {
        writeln!(out, "Skipped: {}", s.skipped)?;
    } else {
        let parts: Vec<String> = s
            .skipped_by_reason
            .iter()
            .map(|(key, n)| format!("{}: {n}", skip_label(key)))
            .collect();
        writeln!(out, "Skipped: {} ({})", s.skipped, parts.join(", "))?;
    }
    writeln!(out, "Errors: {}", s.errors)?;
    writeln!(
        out,
        "Time: {:.3} s ({}/s, {})",
        s.seconds,
        human_bytes(rate as u64),
        count(threads as u64, "thread", "threads")
    )
}

/// What a `Skipped:` reason key means, for the text summary.
fn skip_label(key: &str) -> &str {
    match key {
        "too_large" => "over --max-filesize",
        "not_regular" => "special files",
        "symlink" => "symbolic links",
        "symlink_loop" => "symbolic link loops",
        "own" => "Vitrine's own files",
        "pseudo_filesystem" => "pseudo-filesystems",
        "excluded" => "excluded",
        other => other,
    }
}
