//! `vitrine intake`: the vendor's sample intake (see docs/egress.md).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser as _;
use vitrine_intake::server::{open_dir, open_dir_with, Intake, CONFIG_FILE, KEY_FILE};
use vitrine_intake::{new_token, token_hash, Config, PgStore};
use vitrine_note::{SignatureType, SignerKey, VerifierKey};

/// Run the sample intake: receives submissions from endpoints, stores
/// samples encrypted per tenant, logs signed receipts in the vendor's custody log.
///
/// The data directory holds intake.toml (log, tenants, analysts,
/// keyholders), custody.policy (the custody log's witnesses and quorum),
/// intake.key (the receipt signing key), intake.db (with each sample's key
/// shares, sealed to the keyholders) and the encrypted samples: nothing in
/// it decrypts a sample without the keyholders. With `serve --postgres URL`
/// the samples, sealed shares, receipts and audit events are in that
/// PostgreSQL database instead, and the directory keeps only intake.toml,
/// custody.policy and intake.key. The intake key must be allowed to make `receipt` and
/// `deletion` statements in the log's `authorized` file. The log is a
/// custody log (`vitrine log init --purpose custody`), never the rules
/// log endpoints update from, which refuses these statements.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  vitrine intake init --data intake --name intake.example/i1 --log http://127.0.0.1:8088 --log-key \"$(vitrine key show custody/log.key)\"\n  echo \"receipt,deletion $(vitrine intake key --data intake)\" >> custody/authorized\n  vitrine intake tenant add t-5f2a9c --data intake > tenant.token\n  vitrine intake analyst add \"$(cat analyst.vkey)\" --data intake\n  vitrine intake keyholder add \"$(vitrine keyholder key --data kh1)\" http://127.0.0.1:8095 --data intake\n  vitrine intake serve --data intake --addr 127.0.0.1:8090"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a data directory: a new intake key and intake.toml.
    Init {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The intake key's name.
        #[arg(long, default_value = "intake.example/vitrine")]
        name: String,
        /// The vendor's custody log's URL.
        #[arg(long, value_parser = crate::util::http_url)]
        log: String,
        /// The vendor's custody log's key (vkey).
        #[arg(long, value_name = "VKEY")]
        log_key: String,
        /// The custody log's witnesses: a tlog-policy (`witness`, `group`,
        /// `quorum` lines; a `log` line is replaced by --log/--log-key),
        /// e.g. the file the log serves with `--witnesses`. The vault and
        /// the keyholders require accesses proven under a checkpoint this
        /// quorum cosigned. Without it: `quorum none` (the log's signature
        /// alone), with a warning.
        #[arg(long, value_name = "POLICY")]
        witnesses: Option<PathBuf>,
    },
    /// Print the intake's receipt key (vkey).
    Key {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage analysts (who may open samples through the vault).
    Analyst {
        #[command(subcommand)]
        command: AnalystCommand,
    },
    /// Manage keyholders (who each hold one share of every sample's key).
    Keyholder {
        #[command(subcommand)]
        command: KeyholderCommand,
    },
    /// Serve the intake API (and GET /metrics, OpenMetrics text); also
    /// destroys samples past retention.
    Serve {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Keep the samples (encrypted), their sealed key shares, receipts
        /// and audit events in this PostgreSQL database instead of
        /// DIR/intake.db and DIR/samples, e.g.
        /// `postgres://intake@db.internal/vitrine`: the intake then keeps
        /// no state on this machine besides intake.toml, custody.policy and
        /// intake.key, and several intake processes may share the database.
        /// Tables are named vitrine_intake_*; the vault commands take the
        /// same --postgres. Destroyed samples leave dead rows, WAL and
        /// backups behind, which open nothing without the keyholders
        /// (docs/egress.md, "Storage").
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: SocketAddr,
        /// Most requests of one tenant served at once; more are refused
        /// (429) before their body is read.
        #[arg(long, value_name = "N", default_value_t = vitrine_intake::server::DEFAULT_TENANT_CONCURRENCY, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
        tenant_concurrency: usize,
        #[command(flatten)]
        limits: crate::util::ServerLimitArgs,
    },
}

#[derive(clap::Subcommand)]
enum TenantCommand {
    /// Add a tenant; prints its bearer token once (only its hash is kept).
    Add {
        /// The tenant's pseudonym (goes into public receipts; never a name).
        id: String,
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Days a sample is kept.
        #[arg(long, default_value_t = vitrine_intake::DEFAULT_RETENTION_DAYS)]
        retention_days: u64,
        /// Requests per minute.
        #[arg(long, default_value_t = vitrine_intake::DEFAULT_RATE_PER_MINUTE)]
        rate_per_minute: u32,
    },
}

#[derive(clap::Subcommand)]
enum AnalystCommand {
    /// Allow an analyst key to open samples (its access statements must
    /// also be authorized in the log).
    Add {
        /// The analyst's vkey.
        vkey: String,
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(clap::Subcommand)]
enum KeyholderCommand {
    /// Seal a share of every new sample's key to this keyholder. The
    /// default threshold is 2 of 3 or more keyholders (all of one or two);
    /// set `keyholder-threshold = K` at the top of intake.toml to change it.
    Add {
        /// The keyholder's public key line (`vitrine keyholder key`).
        key: String,
        /// The keyholder's URL, e.g. http://127.0.0.1:8095.
        #[arg(value_parser = crate::util::http_url)]
        url: String,
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Init {
            data,
            name,
            log,
            log_key,
            witnesses,
        } => init(&data, &name, &log, &log_key, witnesses.as_deref()),
        Command::Key { data } => {
            let key = read_intake_key(&data)?;
            println!("{}", key.verifier());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant {
            command:
                TenantCommand::Add {
                    id,
                    data,
                    retention_days,
                    rate_per_minute,
                },
        } => {
            let token = new_token();
            append_config(
                &data,
                &format!(
                    "\n[[tenant]]\nid = {id:?}\ntoken-sha256 = \"{}\"\nretention-days = {retention_days}\nrate-per-minute = {rate_per_minute}\n",
                    hex::encode(token_hash(&token))
                ),
            )?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyst {
            command: AnalystCommand::Add { vkey, data },
        } => {
            let key: VerifierKey = vkey.parse().context("not a vkey")?;
            append_config(&data, &format!("\n[[analyst]]\nkey = \"{key}\"\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keyholder {
            command: KeyholderCommand::Add { key, url, data },
        } => {
            let key: vitrine_keyholder::KeyholderKey = key
                .parse()
                .with_context(|| format!("{key:?}: not a keyholder key line (NAME+BASE64)"))?;
            append_config(
                &data,
                &format!("\n[[keyholder]]\nkey = \"{key}\"\nurl = {url:?}\n"),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data,
            postgres,
            addr,
            tenant_concurrency,
            limits,
        } => serve(
            &data,
            postgres.as_deref(),
            addr,
            tenant_concurrency,
            limits.limits(),
        ),
    }
}

fn read_intake_key(data: &Path) -> Result<SignerKey> {
    crate::cmd::key::read_key(&data.join(KEY_FILE))
}

/// The custody policy: this log, and the witness lines of `witnesses`.
fn custody_policy(log: &str, log_key: &str, witnesses: Option<&Path>) -> Result<String> {
    let mut text = format!("log {log_key} {log}\n");
    match witnesses {
        Some(path) => {
            let w = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            for line in w.lines() {
                let word = line.split_whitespace().next().unwrap_or("");
                if matches!(word, "witness" | "group" | "quorum") {
                    text.push_str(line.trim());
                    text.push('\n');
                }
            }
        }
        None => {
            eprintln!(
                "vitrine: warning: no --witnesses: the vault and keyholders will accept accesses proven under the log's signature alone (quorum none)"
            );
            text.push_str("quorum none\n");
        }
    }
    vitrine_tlog::Policy::parse(text.as_bytes()).with_context(|| {
        format!(
            "the custody policy built from --log, --log-key{}",
            witnesses.map_or(String::new(), |p| format!(" and {}", p.display()))
        )
    })?;
    Ok(text)
}

fn init(
    data: &Path,
    name: &str,
    log: &str,
    log_key: &str,
    witnesses: Option<&Path>,
) -> Result<ExitCode> {
    // The key, the tenants' token hashes and the samples: closed to other
    // users (0700; a directory they can write is refused).
    vitrine_fs::private_dir(data)?;
    let config = data.join(CONFIG_FILE);
    if config.exists() {
        bail!("{} exists; not overwriting", config.display());
    }
    let key = SignerKey::generate(name, SignatureType::Ed25519)
        .with_context(|| format!("--name {name:?}"))?;
    let text =
        format!("log-url = {log:?}\nlog-key = {log_key:?}\ncustody-policy = \"custody.policy\"\n");
    Config::parse(&text).context("invalid --log or --log-key")?;
    let policy = custody_policy(log, log_key, witnesses)?;
    let key_path = data.join(KEY_FILE);
    let mut f = vitrine_fs::create_new(&key_path, 0o600)?;
    f.write_all(key.to_private_text().as_bytes())?;
    f.sync_all()?;
    vitrine_fs::write_atomic(&data.join("custody.policy"), policy.as_bytes(), 0o600)?;
    vitrine_fs::write_atomic(&config, text.as_bytes(), 0o600)?;
    println!("{}", key.verifier());
    Ok(ExitCode::SUCCESS)
}

/// Appends to intake.toml, keeping the file valid.
fn append_config(data: &Path, block: &str) -> Result<()> {
    let path = data.join(CONFIG_FILE);
    let mut text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.push_str(block);
    Config::parse(&text).with_context(|| format!("{} after the change", path.display()))?;
    vitrine_fs::check_private_dir(data)?;
    vitrine_fs::write_atomic(&path, text.as_bytes(), 0o600)?;
    Ok(())
}

/// Opens the intake in `data`, its state in `data` or, with `postgres`,
/// in that PostgreSQL database (for `intake serve` and the vault).
pub fn open(data: &Path, postgres: Option<&str>) -> Result<Intake> {
    match postgres {
        None => open_dir(data).with_context(|| format!("opening {}", data.display())),
        Some(url) => {
            let store = PgStore::connect(url, 8)
                .context("opening the intake's PostgreSQL database (--postgres)")?;
            open_dir_with(data, Arc::new(store))
                .with_context(|| format!("opening {}", data.display()))
        }
    }
}

fn serve(
    data: &Path,
    postgres: Option<&str>,
    addr: SocketAddr,
    tenant_concurrency: usize,
    limits: vitrine_server::harden::Limits,
) -> Result<ExitCode> {
    let intake = Arc::new(open(data, postgres)?.tenant_concurrency(tenant_concurrency));
    if intake.config().keyholders.is_empty() {
        anyhow::bail!(
            "{}: no keyholders: a sample's key must be split among keyholders; add one with `vitrine intake keyholder add` (docs/egress.md, \"Keyholders\")",
            data.join(CONFIG_FILE).display()
        );
    }
    if intake.config().tenants.is_empty() {
        eprintln!("vitrine: warning: no tenants in intake.toml: every request will be refused");
    }
    let name = intake.key().name().to_string();
    crate::util::serve_http(
        addr,
        |a| format!("vitrine: intake {name} listening on http://{a}"),
        |listener| async move {
            vitrine_intake::server::serve_with(intake, listener, limits, crate::util::ctrl_c())
                .await
                .context("serving")
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
