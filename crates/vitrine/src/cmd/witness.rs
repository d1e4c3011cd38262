//! `vitrine witness`: run an independent witness (c2sp.org/tlog-witness).
//!
//! A witness data directory holds:
//!
//! - `witness.key`: the `cosignature/v1` private key (mode 0600);
//! - `logs`: the logs it cosigns, one `log <vkey> [<url>]` line each, as in
//!   tlog-policy; `#` comments and blank lines allowed;
//! - `witness.sqlite`: the latest cosigned checkpoint of each log, and
//!   refused checkpoints kept as evidence of forks; or, with `serve
//!   --postgres URL`, the same in a PostgreSQL database, which several
//!   witness processes can share (the key and log list stay in DIR).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use vitrine_note::{Cosigner, SignatureType, SignerKey, VerifierKey};
use vitrine_witness::{
    format_log_line, parse_log_list, PgStore, SqliteStore, Witness, WitnessStore,
};

const KEY_FILE: &str = "witness.key";
const LOGS_FILE: &str = "logs";
const DB_FILE: &str = "witness.sqlite";

/// Run an independent witness that cosigns consistent log checkpoints.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a witness in DIR: its key (DIR/witness.key, mode 0600) and an
    /// empty DIR/logs. Prints the witness's cosignature verifier key.
    Init {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// The witness name, e.g. `witness.example/w1`.
        #[arg(long)]
        name: String,
    },
    /// Cosign checkpoints of the log with this verifier key (appends a
    /// `log <vkey>` line to DIR/logs; takes effect on the next serve).
    AddLog {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// The log's verifier key; its name is the log's origin.
        vkey: String,
    },
    /// Serve POST /add-checkpoint (and GET /metrics, OpenMetrics text).
    Serve {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Keep what the witness cosigned (and fork evidence) in this
        /// PostgreSQL database instead of DIR/witness.sqlite, e.g.
        /// `postgres://witness@db.internal/witness`: the witness then keeps
        /// no state on this machine, and several witness processes may
        /// share the database (each compare-and-swap locks the log's row).
        /// The key and the log list stay in DIR.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        #[command(flatten)]
        limits: crate::util::ServerLimitArgs,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Init { data, name } => init(&data, &name),
        Command::AddLog { data, vkey } => add_log(&data, &vkey),
        Command::Serve {
            data,
            postgres,
            addr,
            limits,
        } => serve(&data, postgres.as_deref(), addr, limits.limits()),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn write_new(path: &Path, mode: u32, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn init(data: &Path, name: &str) -> Result<()> {
    let key = SignerKey::generate(name, SignatureType::CosignatureV1)
        .with_context(|| format!("generating witness key {name:?}"))?;
    fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let key_path = data.join(KEY_FILE);
    if key_path.exists() {
        bail!("{} already exists", key_path.display());
    }
    write_new(
        &key_path,
        0o600,
        format!("{}\n", key.to_private_text()).as_bytes(),
    )?;
    let logs = data.join(LOGS_FILE);
    if !logs.exists() {
        write_new(
            &logs,
            0o644,
            b"# Logs this witness cosigns: one `log <vkey> [<url>]` line each.\n",
        )?;
    }
    println!("{}", key.verifier());
    Ok(())
}

fn read_logs(data: &Path) -> Result<(String, Vec<VerifierKey>)> {
    let path = data.join(LOGS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let keys = parse_log_list(&text).with_context(|| format!("in {}", path.display()))?;
    Ok((text, keys))
}

fn add_log(data: &Path, vkey: &str) -> Result<()> {
    let line = format!("log {vkey}\n");
    let key = parse_log_list(&line)
        .context("not a log verifier key")?
        .pop()
        .context("not a log verifier key")?;
    let (text, keys) = read_logs(data)?;
    if keys.iter().any(|k| k.public_key() == key.public_key()) {
        bail!("{} already lists this key", data.join(LOGS_FILE).display());
    }
    // Write the whole list anew and rename it into place: never a torn file.
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&format_log_line(&key));
    vitrine_fs::write_atomic(&data.join(LOGS_FILE), new.as_bytes(), 0o644)
        .context("replacing the log list")?;
    eprintln!("witness now follows {}", key.name());
    Ok(())
}

fn serve(
    data: &Path,
    postgres: Option<&str>,
    addr: SocketAddr,
    limits: vitrine_server::harden::Limits,
) -> Result<()> {
    let key_path = data.join(KEY_FILE);
    let key_text = fs::read_to_string(&key_path).with_context(|| {
        format!(
            "reading {} (run `vitrine witness init`)",
            key_path.display()
        )
    })?;
    let key = SignerKey::parse(key_text.trim_end()).context("parsing the witness key")?;
    let cosigner = Cosigner::new(key).context("the witness key is not a cosignature key")?;
    let (_, logs) = read_logs(data)?;
    if logs.is_empty() {
        eprintln!(
            "vitrine: warning: {} lists no logs: every request will get 404",
            data.join(LOGS_FILE).display()
        );
    }
    let store: Arc<dyn WitnessStore> = match postgres {
        Some(url) => {
            Arc::new(PgStore::connect(url, 8).context("opening the witness's PostgreSQL database")?)
        }
        None => {
            Arc::new(SqliteStore::open(data.join(DB_FILE)).context("opening the witness database")?)
        }
    };
    let witness = Witness::builder(cosigner)
        .logs(logs)
        .store(store)
        .build()
        .context("configuring the witness")?;
    let (name, logs) = (witness.name().to_string(), witness.origins().count());
    crate::util::serve_http(
        addr,
        |a| format!("witness {name} listening on http://{a} ({logs} logs)"),
        |listener| async move {
            let app = vitrine_server::witness::router(Arc::new(witness));
            let app = vitrine_server::harden::harden(app, &limits);
            vitrine_server::harden::serve(listener, app, limits, crate::util::ctrl_c())
                .await
                .context("serving")
        },
    )
}
