//! `vitrine config`: the system configuration (`/etc/vitrine/vitrine.toml`),
//! and how its settings become the defaults of every command's flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vitrine_client::escape;
use vitrine_endpoint::config::{current_source, Config, Located};

/// Show and check the system configuration.
///
/// Every command reads one TOML file, /etc/vitrine/vitrine.toml (or the
/// file named by --config or VITRINE_CONFIG), so root's `vitrine update`,
/// the daemon and every user's `vitrine scan` agree on the state
/// directory, the trust policy, scan limits and the owner's allowlist. A
/// flag on the command line wins over the file; a missing file at the
/// default place means every default. Unknown keys and bad values are
/// errors naming the file, the line and the key, and stop every command
/// but this one.
///
/// Example file:
///
///   state = "/var/lib/vitrine"
///   policy = "/etc/vitrine/policy"
///
///   [scan]
///   max-filesize = "100M"
///   exclude-dir = ["^/proc", "^/srv/backups"]
///
///   [allow]
///   sha256 = ["<64 hex digits>"]      # never report this file
///   names = ["Some.Detection.Name"]   # never report this detection
///
///   [update]
///   every = 3600                      # the daemon's verified updates
///
///   [daemon]
///   socket = "/run/vitrine/clamd.sock"
///
///   [on-access]
///   paths = ["/home"]
///   mode = "block"
///
/// Every key is in docs/endpoint.md, "The system configuration".
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Print the configuration in effect: which file, the state directory
    /// and why, and every setting the file makes.
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::cmd::bundle::Format::Text)]
        format: crate::cmd::bundle::Format,
    },
    /// Check a configuration file (default: the one in effect) and the
    /// files it names (trust policy, allowlists). Exit 0 if it is valid,
    /// 2 with the file, line and key at fault otherwise.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Sub::Show { format } => show(format),
        Sub::Check { file } => check(file.as_deref()),
    }
}

/// Whether the command is `vitrine config check`, which runs even when
/// the configuration in effect is broken (to say what is wrong).
pub fn is_check(command: &crate::Command) -> bool {
    matches!(
        command,
        crate::Command::Config(Args {
            command: Sub::Check { .. }
        })
    )
}

/// The configuration file named on the command line (`--config FILE` or
/// `--config=FILE` before `--`), read before the command line is parsed
/// because its settings become the flags' defaults.
pub fn flag(args: impl Iterator<Item = std::ffi::OsString>) -> Option<PathBuf> {
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// Leaks a default value: clap keeps `&'static str` defaults, and these
/// are made once per process.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `cmd` with the configuration's settings as the defaults of the flags
/// they stand for (a flag given on the command line wins).
pub fn with_defaults(cmd: clap::Command, c: &Config) -> clap::Command {
    // (subcommand, flag id, values)
    let mut set: Vec<(&str, &str, Vec<String>)> = Vec::new();
    let one = |v: Option<String>| v.into_iter().collect::<Vec<_>>();
    let s = &c.scan;
    let scan_values = [
        ("threads", one(s.threads.map(|n| n.0.to_string()))),
        ("max_filesize", one(s.max_filesize.map(|n| n.0.to_string()))),
        ("timeout", one(s.timeout.map(|n| n.0.to_string()))),
        ("exclude", s.exclude.clone()),
        ("exclude_dir", s.exclude_dir.clone()),
        ("max_depth", one(s.max_depth.map(|n| n.to_string()))),
        ("max_members", one(s.max_members.map(|n| n.0.to_string()))),
        ("max_scansize", one(s.max_scansize.map(|n| n.0.to_string()))),
        (
            "max_member_size",
            one(s.max_member_size.map(|n| n.0.to_string())),
        ),
        ("max_ratio", one(s.max_ratio.map(|n| n.0.to_string()))),
    ];
    for (id, v) in scan_values {
        set.push(("scan", id, v));
    }
    let u = &c.update;
    let policy = one(c.policy.as_ref().map(|p| p.0.display().to_string()));
    set.push(("update", "policy", policy.clone()));
    set.push(("update", "log", one(u.log.as_ref().map(|l| l.0.clone()))));
    set.push((
        "update",
        "deadline",
        one(u.deadline.map(|n| n.0.to_string())),
    ));
    set.push(("update", "timeout", one(u.timeout.map(|n| n.0.to_string()))));
    let d = &c.daemon;
    let o = &c.on_access;
    let daemon_values = [
        (
            "socket",
            one(d.socket.as_ref().map(|p| p.0.display().to_string())),
        ),
        (
            "socket_mode",
            one(d.socket_mode.map(|m| format!("{:o}", m.0))),
        ),
        ("tcp", one(d.tcp.map(|a| a.0.to_string()))),
        ("max_threads", one(d.max_threads.map(|n| n.0.to_string()))),
        ("max_queue", one(d.max_queue.map(|n| n.to_string()))),
        (
            "stream_max_length",
            one(d.stream_max_length.map(|n| n.0.to_string())),
        ),
        (
            "max_filesize",
            // The daemon's own limit, else the scan's: one limit for both
            // unless the owner says otherwise. 0 is no limit, as in scan.
            one(d.max_filesize.or(s.max_filesize).map(|n| match n.0 {
                0 => u64::MAX.to_string(),
                n => n.to_string(),
            })),
        ),
        ("read_timeout", one(d.read_timeout.map(|n| n.0.to_string()))),
        ("update_every", one(u.every.map(|n| n.0.to_string()))),
        // The policy only matters with a schedule (`--policy` requires
        // `--update-every`).
        (
            "policy",
            if u.every.is_some() {
                policy
            } else {
                Vec::new()
            },
        ),
        (
            "on_access",
            o.paths.iter().map(|p| p.0.display().to_string()).collect(),
        ),
        (
            "on_access_mode",
            one(o.mode.map(|m| {
                match m {
                    vitrine_endpoint::config::OnAccessMode::Block => "block",
                    vitrine_endpoint::config::OnAccessMode::Notify => "notify",
                }
                .to_owned()
            })),
        ),
        (
            "on_access_fail",
            one(o.fail.map(|f| {
                match f {
                    vitrine_endpoint::config::FailMode::Open => "open",
                    vitrine_endpoint::config::FailMode::Closed => "closed",
                }
                .to_owned()
            })),
        ),
        ("on_access_timeout", one(o.timeout.map(|n| n.0.to_string()))),
        (
            "on_access_backend",
            one(o.backend.map(|b| {
                match b {
                    vitrine_endpoint::config::OnAccessBackend::Auto => "auto",
                    vitrine_endpoint::config::OnAccessBackend::Fanotify => "fanotify",
                    vitrine_endpoint::config::OnAccessBackend::Inotify => "inotify",
                }
                .to_owned()
            })),
        ),
        ("on_access_threads", one(o.threads.map(|n| n.0.to_string()))),
        ("on_access_exclude", o.exclude.clone()),
    ];
    for (id, v) in daemon_values {
        set.push(("daemon", id, v));
    }
    let mut cmd = cmd;
    for (sub, id, values) in set {
        if values.is_empty() {
            continue;
        }
        let values: Vec<&'static str> = values.into_iter().map(leak).collect();
        cmd = cmd.mut_subcommand(sub, |c| {
            c.mut_arg(id, |a| {
                let a = a.required(false);
                if values.len() == 1 && !matches!(a.get_action(), clap::ArgAction::Append) {
                    a.default_value(values[0])
                } else {
                    a.default_values(values)
                }
            })
        });
    }
    cmd
}

fn show(format: crate::cmd::bundle::Format) -> Result<ExitCode> {
    let c = vitrine_endpoint::config::current();
    let (at, exists) = match current_source() {
        Some((l, e)) => (l.clone(), e),
        None => (Located::find(None), false),
    };
    let state = vitrine_endpoint::state::default_state_dir_why();
    match format {
        crate::cmd::bundle::Format::Json => {
            let (dir, why) = match &state {
                Ok((d, w)) => (Some(d.clone()), Some(*w)),
                Err(_) => (None, None),
            };
            let v = serde_json::json!({
                "path": at.path,
                "exists": exists,
                "state": dir,
                "state_from": why,
                "settings": c,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        crate::cmd::bundle::Format::Text => {
            let shown = escape(&at.path.display().to_string());
            if exists {
                println!("configuration: {shown}");
            } else {
                println!("configuration: {shown} (not found: every setting is its default)");
            }
            match &state {
                Ok((d, why)) => {
                    println!(
                        "state:         {} ({why})",
                        escape(&d.display().to_string())
                    )
                }
                Err(e) => println!("state:         none: {e:#}"),
            }
            match &c.policy {
                Some(p) => println!("policy:        {}", escape(&p.0.display().to_string())),
                None => println!("policy:        none (`vitrine update` needs --policy)"),
            }
            let text = c.to_toml();
            if !text.is_empty() {
                println!("\n# the file's settings\n{}", text.trim_end());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(file: Option<&Path>) -> Result<ExitCode> {
    let at = match file {
        Some(f) => Located {
            path: f.to_owned(),
            explicit: true,
        },
        None => match current_source() {
            Some((l, _)) => l.clone(),
            None => Located::find(None),
        },
    };
    let shown = escape(&at.path.display().to_string());
    let (config, exists) = match Config::load(&at) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("vitrine: error: {}", escape_lines(&e.to_string()));
            return Ok(ExitCode::from(2));
        }
    };
    if !exists {
        println!("{shown}: not found; every setting is its default");
        return Ok(ExitCode::SUCCESS);
    }
    let mut problems = Vec::new();
    if let Some(p) = &config.policy {
        if let Err(e) = crate::cmd::trust::read_policy(&p.0) {
            problems.push(format!("policy: {e:#}"));
        }
    }
    for f in &config.allow.files {
        let read = std::fs::read_to_string(&f.0)
            .with_context(|| format!("reading {}", f.0.display()))
            .and_then(|text| {
                vitrine_scan::Allowlist::new()
                    .add_text(&f.0, &text)
                    .map_err(anyhow::Error::from)
            });
        if let Err(e) = read {
            problems.push(format!("[allow] files: {e:#}"));
        }
    }
    for (key, globs) in [
        ("[scan] exclude", &config.scan.exclude),
        ("[on-access] exclude", &config.on_access.exclude),
    ] {
        for g in globs {
            if let Err(e) = globset::Glob::new(g) {
                problems.push(format!("{key}: `{}`: {e}", escape(g)));
            }
        }
    }
    for r in &config.scan.exclude_dir {
        if let Err(e) = regex_ok(r) {
            problems.push(format!("[scan] exclude-dir: `{}`: {e}", escape(r)));
        }
    }
    if problems.is_empty() {
        println!("{shown}: OK");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("vitrine: error: {shown}: {}", escape_lines(p));
        }
        Ok(ExitCode::from(2))
    }
}

/// Whether `vitrine scan` will accept this --exclude-dir expression (its
/// walker builds a `regex::RegexSet` of them).
fn regex_ok(r: &str) -> Result<(), String> {
    regex::Regex::new(r).map(|_| ()).map_err(|e| e.to_string())
}

/// `s` escaped line by line (a toml error shows a snippet of the file
/// over several lines).
pub fn escape_lines(s: &str) -> String {
    s.lines().map(escape).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting of the file names a flag that exists (clap panics on
    /// an unknown one), and its value parses as that flag's value.
    #[test]
    fn every_setting_becomes_a_flag_default_that_parses() {
        use clap::CommandFactory;
        let text = include_str!("../../../../packaging/vitrine.toml");
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = "))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let mut config = Config::parse(Path::new("vitrine.toml"), &uncommented).unwrap();
        config.scan.threads = Some(vitrine_endpoint::config::Positive(3));
        config.daemon.max_threads = Some(vitrine_endpoint::config::Positive(4));
        config.on_access.backend = Some(vitrine_endpoint::config::OnAccessBackend::Inotify);
        config.on_access.threads = Some(vitrine_endpoint::config::Positive(2));
        config.daemon.tcp = Some(vitrine_endpoint::config::Loopback(
            "127.0.0.1:3310".parse().unwrap(),
        ));
        let command = with_defaults(crate::Cli::command(), &config);
        command.clone().debug_assert();
        let m = command
            .try_get_matches_from(["vitrine", "daemon"])
            .expect("the configured defaults parse");
        let d = m.subcommand_matches("daemon").unwrap();
        assert_eq!(d.get_one::<usize>("max_threads"), Some(&4));
        assert_eq!(
            d.get_many::<PathBuf>("on_access")
                .unwrap()
                .cloned()
                .collect::<Vec<_>>(),
            vec![PathBuf::from("/home")]
        );
        let m = with_defaults(crate::Cli::command(), &config)
            .try_get_matches_from(["vitrine", "scan"])
            .unwrap();
        let s = m.subcommand_matches("scan").unwrap();
        assert_eq!(s.get_one::<usize>("threads"), Some(&3));
        assert_eq!(s.get_one::<u64>("max_filesize"), Some(&(100 << 20)));
    }
}
