//! `vitrine quarantine`: list, show, restore and delete quarantined files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use vitrine_quarantine::{Item, Recovery, RestoreOptions, Store};

/// Manage the quarantine store.
///
/// `vitrine scan --quarantine` moves each file with a detection here. A
/// quarantined file is encoded (it can neither run nor be detected again)
/// and kept with its original path, owner, mode, times, SHA-256,
/// detections and the rules that found it. Moving in is crash-safe: copy,
/// fsync, record, then remove the original; an interrupted move is
/// finished or undone the next time the store is opened.
///
/// Items are named by ID; a unique prefix of 6 or more characters will do.
///
/// Examples:
///
///   vitrine quarantine list
///
///   vitrine quarantine show 9f3a51
///
///   vitrine quarantine restore 9f3a51
///
///   vitrine quarantine restore 9f3a51 --to /tmp/sample.bin
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The quarantine store [default: STATE/quarantine].
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,

    /// The endpoint state directory [default: $VITRINE_STATE, else the configuration's `state`,
    /// else /var/lib/vitrine for root and the `vitrine` user, else
    /// $XDG_DATA_HOME/vitrine or ~/.local/share/vitrine; `vitrine config
    /// show` says which].
    #[arg(long, value_name = "DIR", global = true)]
    state: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,

    #[command(subcommand)]
    command: Cmd,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// JSON.
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List quarantined files, oldest first.
    List,
    /// Show everything recorded about one item.
    Show {
        /// Item ID (or a unique prefix).
        id: String,
    },
    /// Put an item back where it was, with its mode and times. Refuses to
    /// overwrite an existing file unless --overwrite.
    Restore {
        /// Item ID (or a unique prefix).
        id: String,
        /// Restore to this path instead of the original one.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// Replace a file already at the destination.
        #[arg(long)]
        overwrite: bool,
        /// Also add the file's SHA-256 to STATE/allowlist, so scans no
        /// longer report it, under any name (a false positive).
        #[arg(long)]
        allow: bool,
    },
    /// Delete an item for good.
    Delete {
        /// Item ID (or a unique prefix).
        id: String,
    },
}

/// Prints what opening a store repaired, on standard error.
pub fn report_recovery(r: &Recovery) {
    for id in &r.completed {
        eprintln!("vitrine: quarantine: finished an interrupted move ({id})");
    }
    for id in &r.rolled_back {
        eprintln!(
            "vitrine: quarantine: undid an interrupted move ({id}); the file stayed in place"
        );
    }
    for id in &r.finished {
        eprintln!("vitrine: quarantine: finished an interrupted restore or delete ({id})");
    }
    for (name, why) in &r.rejected {
        eprintln!(
            "vitrine: quarantine: journal entry \"{}\" ignored and left for inspection: {why}",
            name.escape_debug()
        );
    }
}

fn open(args: &Args) -> Result<Store> {
    let dir = match (&args.dir, &args.state) {
        (Some(d), _) => d.clone(),
        (None, Some(s)) => s.join("quarantine"),
        (None, None) => vitrine_endpoint::state::default_state_dir()?.join("quarantine"),
    };
    let (store, recovery) = Store::open(&dir)
        .with_context(|| format!("opening the quarantine store {}", dir.display()))?;
    report_recovery(&recovery);
    Ok(store)
}

/// Appends `sha256 HEX  # restored ...` to STATE/allowlist (kept 0600).
fn allow_sha256(state: &std::path::Path, item: &Item) -> Result<PathBuf> {
    let file = state.join(vitrine_endpoint::rules::ALLOWLIST_FILE);
    let mut text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "sha256 {}  # restored from quarantine {} on {}\n",
        item.sha256,
        item.id,
        vitrine_endpoint::state::human_time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        )
    ));
    vitrine_fs::private_dir(state)?;
    vitrine_fs::write_atomic(&file, text.as_bytes(), 0o600)?;
    Ok(file)
}

fn show(item: &Item) {
    println!("id:          {}", item.id);
    println!("path:        {}", item.original_path.display());
    println!("size:        {} bytes", item.size);
    println!("sha256:      {}", item.sha256);
    println!("mode:        {:04o}", item.mode);
    println!("owner:       {}:{}", item.uid, item.gid);
    println!(
        "quarantined: {}",
        vitrine_endpoint::state::human_time(item.quarantined_at)
    );
    println!("rules:       {}", item.reason.rules);
    for d in &item.reason.detections {
        println!("detection:   {d}");
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let store = open(&args)?;
    let json = args.format == Format::Json;
    match &args.command {
        Cmd::List => {
            let items = store.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!("The quarantine is empty.");
            } else {
                for i in &items {
                    println!(
                        "{}  {}  {}  {}",
                        i.id,
                        vitrine_endpoint::state::human_time(i.quarantined_at),
                        i.original_path.display(),
                        i.reason.detections.join(", ")
                    );
                }
            }
        }
        Cmd::Show { id } => {
            let item = store.get(id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&item)?);
            } else {
                show(&item);
            }
        }
        Cmd::Restore {
            id,
            to,
            overwrite,
            allow,
        } => {
            let opts = RestoreOptions {
                to: to.clone(),
                overwrite: *overwrite,
            };
            let item = store.get(id)?;
            let path = store.restore(id, &opts)?;
            if *allow {
                let state = match &args.state {
                    Some(s) => s.clone(),
                    None => vitrine_endpoint::state::default_state_dir()?,
                };
                let file = allow_sha256(&state, &item)?;
                if !json {
                    println!("allowed {} in {}", item.sha256, file.display());
                }
            }
            if json {
                println!("{}", serde_json::json!({ "restored": path }));
            } else {
                println!("restored {}", path.display());
            }
        }
        Cmd::Delete { id } => {
            let item = store.delete(id)?;
            if json {
                println!("{}", serde_json::json!({ "deleted": item.id }));
            } else {
                println!("deleted {} ({})", item.id, item.original_path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
