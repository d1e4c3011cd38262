//! `vitrine log`: run a log, submit to it, verify one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use vitrine_log::{
    replay, AuthorizedFile, DataDir, DirFiles, Log, Node, NodeOptions, Purpose, AUTHORIZED_FILE,
};
use vitrine_note::{VerifierKey, Verifiers};
use vitrine_statements::StatementType;
use vitrine_tlog::{open_checkpoint, TilePath};

/// Run, feed and verify a transparency log.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a log in DIR: its key (DIR/log.key) and its first checkpoint.
    /// Prints the log's verifier key (`vitrine key show DIR/log.key` prints
    /// it again). Write DIR/authorized to let signers in.
    Init {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// The log's origin and key name, e.g. `log.example/vitrine`.
        #[arg(long)]
        origin: String,
        /// What the log is for (recorded in DIR/purpose): `rules` takes
        /// `rules`, `release` and `review` statements, what endpoints read;
        /// `custody` takes `receipt`, `access` and `deletion`, what the
        /// intake and the vault write. Each kind goes to its own log, with
        /// its own origin and witnesses, so custody traffic never slows an
        /// endpoint's update.
        #[arg(long, default_value = "rules", value_parser = ["rules", "custody"])]
        purpose: String,
        /// Keep the log's entries, tiles and checkpoints in this PostgreSQL
        /// database (`host=H port=P user=U dbname=D` or
        /// `postgres://U@H:P/D`) instead of DIR; its schema is created.
        /// DIR still holds the key, `authorized` and content. Give `log
        /// serve` the same --postgres.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Serve the log over HTTP (tlog-tiles read API, /add, /content).
    ///
    /// DIR/authorized (who may log what) is read again whenever it
    /// changes: an edit takes effect on the next request, no restart. If
    /// it stops parsing, every submission is refused until it is fixed.
    ///
    /// With --postgres, run as many `log serve` processes on one database
    /// as you like (front ends, on one machine sharing DIR or on several
    /// with copies of it): exactly one, the leader, sequences. The others
    /// follow: they serve the checkpoint, tiles and entry bundles from the
    /// database and forward /add to the leader (its --advertise URL),
    /// answering once the entry is published, or 503 with Retry-After
    /// while no leader is known. Every front end polls a PostgreSQL
    /// advisory lock every half second; when the leader dies another takes
    /// over within about a second, and a leader epoch checked in every
    /// write keeps a deposed leader from writing anything. /healthz says
    /// the role and epoch; /metrics has vitrine_log_leader and
    /// vitrine_log_takeovers_total.
    Serve {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// The log's PostgreSQL database, as given to `log init
        /// --postgres` (entries, tiles and checkpoints there; the key,
        /// `authorized` and content in DIR).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// With --postgres: the URL where the other front ends reach this
        /// one's /add while it leads (default: http:// and the address it
        /// listens on).
        #[arg(long, value_name = "URL", requires = "postgres", value_parser = crate::util::http_url)]
        advertise: Option<String>,
        /// Longest a batch waits for more entries, in milliseconds.
        #[arg(long, default_value_t = 50)]
        batch_wait_ms: u64,
        /// Most entries in one batch.
        #[arg(long, default_value_t = 256)]
        batch_max: usize,
        /// Witness policy: the endpoints' trust policy file itself (as
        /// `vitrine trust init` writes it; its `log` line must be this
        /// log), or a bare tlog-policy (`witness NAME VKEY URL`, `group`,
        /// `quorum` lines). Every new checkpoint is sent to these witnesses
        /// and published only once their quorum has cosigned it. Without
        /// it checkpoints carry the log's signature alone, and endpoints
        /// that require witnesses will refuse them.
        #[arg(long, value_name = "POLICY")]
        witnesses: Option<PathBuf>,
        /// How long to wait for each witness, in seconds.
        #[arg(long, default_value_t = 5)]
        witness_timeout: u64,
        /// With --witnesses: when nothing was published for this many
        /// seconds, ask the witnesses to cosign the current checkpoint
        /// again, so it never looks stale on a quiet log. Endpoints refuse
        /// checkpoints whose cosignatures are older than their policy's
        /// `max-age`: keep this plus --witness-timeout well below it (a
        /// third of it is comfortable). 0 turns it off.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        recosign_interval: u64,
        #[command(flatten)]
        limits: crate::util::ServerLimitArgs,
    },
    /// Copy a stopped log between its data directory and PostgreSQL.
    ///
    /// `--to-postgres URL` copies DIR's log into the (empty) database;
    /// `--from-postgres URL` copies the database's log into DIR, whose own
    /// log must be empty (as `log init` leaves it). Every hash tile and
    /// entry bundle of the published tree is copied, the deduplication
    /// index rebuilt from the entries, and the published checkpoint is
    /// copied last (the commit point): the log served afterwards has the
    /// same checkpoint and the same tiles; check it with `vitrine log
    /// verify`. Stop `log serve` first: a log that sequences meanwhile
    /// would leave the copy behind.
    Migrate {
        /// The data directory (its key checks the checkpoints).
        #[arg(long)]
        data: PathBuf,
        /// Copy DIR's log into this PostgreSQL database.
        #[arg(
            long,
            value_name = "URL",
            conflicts_with = "from_postgres",
            required_unless_present = "from_postgres"
        )]
        to_postgres: Option<String>,
        /// Copy this PostgreSQL database's log into DIR.
        #[arg(long, value_name = "URL")]
        from_postgres: Option<String>,
    },
    /// Submit a signed statement; prints its index.
    Add {
        /// The signed statement note.
        file: PathBuf,
        /// The log's URL, e.g. `http://127.0.0.1:8080`.
        #[arg(long, value_parser = crate::util::http_url)]
        log: String,
    },
    /// Fetch a whole log, recompute its tree, and check every statement.
    Verify {
        /// The log's URL.
        #[arg(value_parser = crate::util::http_url)]
        url: String,
        /// The log's verifier key (checks the checkpoint signature).
        #[arg(long)]
        log_key: String,
        /// Who may make which statements, in the `authorized` file format
        /// (e.g. the log's DIR/authorized).
        #[arg(long)]
        authorized: PathBuf,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Init {
            data,
            origin,
            purpose,
            postgres,
        } => {
            let purpose: Purpose = purpose.parse().context("--purpose")?;
            let vkey = DataDir::init_for(&data, &origin, Some(purpose))
                .with_context(|| format!("initialising log in {}", data.display()))?;
            if let Some(url) = postgres {
                let pg = vitrine_log::PgStorage::connect(&url, 2)
                    .context("connecting to the log's PostgreSQL database")?;
                let dir = DataDir::open(&data)?;
                vitrine_log::init(&pg, &dir.key)
                    .context("writing the first checkpoint to PostgreSQL")?;
            }
            println!("{vkey}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data,
            postgres,
            addr,
            advertise,
            batch_wait_ms,
            batch_max,
            witnesses,
            witness_timeout,
            recosign_interval,
            limits,
        } => serve(
            data,
            postgres.map(|url| (url, advertise)),
            addr,
            Duration::from_millis(batch_wait_ms),
            batch_max,
            witnesses.map(|p| Witnessing {
                policy: p,
                timeout: Duration::from_secs(witness_timeout.max(1)),
                recosign: (recosign_interval > 0).then(|| Duration::from_secs(recosign_interval)),
            }),
            limits.limits(),
        ),
        Command::Migrate {
            data,
            to_postgres,
            from_postgres,
        } => {
            let dir =
                DataDir::open(&data).with_context(|| format!("opening {}", data.display()))?;
            let url = to_postgres
                .as_deref()
                .or(from_postgres.as_deref())
                .expect("clap: one is required");
            let pg = vitrine_log::PgStorage::connect(url, 2)
                .context("connecting to the log's PostgreSQL database")?;
            let (from, to): (&dyn vitrine_log::Storage, &dyn vitrine_log::Storage) =
                if to_postgres.is_some() {
                    (dir.storage.as_ref(), &pg)
                } else {
                    (&pg, dir.storage.as_ref())
                };
            let size = vitrine_log::migrate(from, to, &dir.key.verifier(), &mut |line| {
                eprintln!("vitrine: {line}")
            })
            .context("migrating the log (nothing was published at the destination)")?;
            println!(
                "migrated a log of {} {}",
                crate::util::count(size, "entry", "entries"),
                if to_postgres.is_some() {
                    "to PostgreSQL"
                } else {
                    "into the data directory"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Add { file, log } => {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let resp = client()?
                .post(format!("{}/add", log.trim_end_matches('/')))
                .body(body)
                .send()
                .context("submitting")?;
            let status = resp.status();
            let text = resp.text().unwrap_or_default();
            if !status.is_success() {
                bail!(
                    "log refused the statement ({status}): {}",
                    printable(text.trim(), 200)
                );
            }
            println!("{}", printable(text.trim(), 40));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            url,
            log_key,
            authorized,
        } => verify(&url, &log_key, &authorized),
    }
}

/// Text that came from the network, safe for a terminal: control
/// characters (escape sequences, CR, BEL, ...) are shown escaped, never
/// sent raw, and it is cut after `max` characters.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building HTTP client")
}

/// `log serve --witnesses` and its options.
struct Witnessing {
    policy: PathBuf,
    timeout: Duration,
    recosign: Option<Duration>,
}

/// The witness part of a `--witnesses` file: an endpoint trust policy
/// (which must name this log; its `max-age` is returned too) or a bare
/// tlog-policy.
pub fn witness_policy(
    path: &Path,
    log: &vitrine_note::VerifierKey,
) -> Result<(vitrine_tlog::Policy, Option<u64>)> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (policy, max_age) = match vitrine_client::TrustPolicy::parse(&text) {
        Ok(trust) => (trust.tlog().clone(), Some(trust.max_age())),
        Err(trust_err) => match vitrine_tlog::Policy::parse(&text) {
            Ok(p) => (p, None),
            Err(tlog_err) => bail!(
                "witness policy {}: neither a trust policy ({trust_err}) nor a tlog-policy ({tlog_err})",
                path.display()
            ),
        },
    };
    if !policy.logs().is_empty() && !policy.logs().iter().any(|l| l.key == *log) {
        bail!(
            "witness policy {}: it names other logs, not this one ({})",
            path.display(),
            log
        );
    }
    Ok((policy, max_age))
}

/// Why `recosign` (with witnesses answering within `timeout`) cannot keep
/// a quiet log fresh for endpoints whose policy says `max_age`, if so.
fn stale_warning(max_age: u64, recosign: Option<Duration>, timeout: Duration) -> Option<String> {
    match recosign {
        None => Some(format!(
            "re-cosigning is off: endpoints of this policy (max-age {max_age} s) will refuse the checkpoint {max_age} s after the last publication"
        )),
        Some(every) if (every + timeout).as_secs() * 2 > max_age => Some(format!(
            "--recosign-interval {} s plus --witness-timeout {} s is more than half the policy's max-age {max_age} s: a quiet log's checkpoint may go stale for endpoints; use at most a third of max-age",
            every.as_secs(),
            timeout.as_secs()
        )),
        Some(_) => None,
    }
}

fn serve(
    data: PathBuf,
    postgres: Option<(String, Option<String>)>,
    addr: SocketAddr,
    wait: Duration,
    max: usize,
    witnesses: Option<Witnessing>,
    limits: vitrine_server::harden::Limits,
) -> Result<ExitCode> {
    let open = || format!("opening {}", data.display());
    // Front ends on PostgreSQL may share DIR: they read its files and
    // take no lock on it.
    let (files, dir_storage) = match postgres {
        Some(_) => (DirFiles::open(&data).with_context(open)?, None),
        None => {
            let dir = DataDir::open(&data).with_context(open)?;
            let files = DirFiles {
                key: dir.key,
                authorization: dir.authorization,
                purpose: dir.purpose,
                content: dir.content,
            };
            (files, Some(dir.storage))
        }
    };
    if files.authorization.all_verifiers().is_empty() {
        eprintln!(
            "vitrine: warning: {} is empty or missing: nobody may add statements",
            data.join(AUTHORIZED_FILE).display()
        );
    }
    if let Some(purpose) = files.purpose {
        let foreign: Vec<&str> = StatementType::ALL
            .into_iter()
            .filter(|t| !purpose.accepts(*t) && !files.authorization.verifiers_for(*t).is_empty())
            .map(|t| t.name())
            .collect();
        if !foreign.is_empty() {
            eprintln!(
                "vitrine: warning: {} allows {} statements, which this {purpose} log refuses (they belong in the other log)",
                data.join(AUTHORIZED_FILE).display(),
                foreign.join(", ")
            );
        }
    }
    let pg = match &postgres {
        Some((url, _)) => Some(Arc::new(
            vitrine_log::PgStorage::connect(url, 16)
                .context("connecting to the log's PostgreSQL database")?,
        )),
        None => None,
    };
    let storage: Arc<dyn vitrine_log::Storage> = match (&pg, dir_storage) {
        (Some(pg), _) => pg.clone(),
        (None, Some(fs)) => fs,
        (None, None) => unreachable!("a data directory's storage without --postgres"),
    };
    let mut cosign: Option<(Arc<dyn vitrine_log::Cosigner>, Option<Duration>)> = None;
    if let Some(w) = &witnesses {
        let (policy, max_age) = witness_policy(&w.policy, &files.key.verifier())?;
        if let Some(warning) = max_age.and_then(|m| stale_warning(m, w.recosign, w.timeout)) {
            eprintln!("vitrine: warning: {warning}");
        }
        let client = vitrine_witness_client::WitnessClient::new(policy, w.timeout)
            .with_context(|| format!("witness policy {}", w.policy.display()))?;
        let hook = vitrine_witness_client::LogWitnesses::new(client, storage.clone())
            .context("starting the witness client")?;
        let hook: Arc<dyn vitrine_log::Cosigner> = Arc::new(hook);
        cosign = Some((hook, w.recosign));
    }
    let (key, purpose) = (files.key.clone(), files.purpose);
    let authorized = data.join(AUTHORIZED_FILE);
    let make_log = move |storage: Arc<dyn vitrine_log::Storage>| {
        let mut builder = Log::builder(storage, key.clone())
            .purpose(purpose)
            .authorization_file(AuthorizedFile::new(&authorized))
            .batch(max, wait);
        if let Some((hook, recosign)) = &cosign {
            builder = builder.cosigner(hook.clone()).recosign_interval(*recosign);
        }
        builder
    };
    // A single log opens now; front ends on PostgreSQL start their
    // election once they know the address they listen on.
    let single = match pg {
        Some(_) => None,
        None => Some(Arc::new(
            make_log(storage.clone())
                .open()
                .context("opening the log")?,
        )),
    };
    let name = files.key.name().to_string();
    let vkey = files.key.verifier();
    let content = files.content.clone();
    let authorized = data.join(AUTHORIZED_FILE);
    crate::util::serve_http(
        addr,
        |a| format!("vitrine: log {name} listening on http://{a}"),
        |listener| async move {
            let state = match (single, pg, postgres) {
                (Some(log), _, _) => vitrine_server::AppState::new(log),
                (None, Some(pg), Some((url, advertise))) => {
                    let advertise = match advertise {
                        Some(a) => a,
                        None => format!("http://{}", listener.local_addr()?),
                    };
                    let options = NodeOptions {
                        url,
                        advertise,
                        poll: vitrine_log::DEFAULT_POLL,
                        authorization: AuthorizedFile::new(&authorized),
                        max_entry: vitrine_log::DEFAULT_MAX_ENTRY,
                    };
                    let node = tokio::task::spawn_blocking(move || {
                        Node::start(pg, vkey, options, make_log)
                    })
                    .await
                    .context("starting the election")?
                    .context("opening the log")?;
                    vitrine_server::AppState::node(Arc::new(node))
                }
                _ => unreachable!("a log or a database"),
            }
            .content(
                content,
                Verifiers::new(),
                vitrine_server::DEFAULT_MAX_CONTENT,
            )
            .publishers_from_log();
            let app = vitrine_server::harden::harden(vitrine_server::router(state), &limits);
            vitrine_server::harden::serve(listener, app, limits, crate::util::ctrl_c())
                .await
                .context("serving")
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn verify(url: &str, log_key: &str, authorized: &std::path::Path) -> Result<ExitCode> {
    let url = url.trim_end_matches('/');
    let vkey: VerifierKey = log_key.parse().context("parsing --log-key")?;
    let auth = crate::util::read_authorization(authorized)?;
    let http = client()?;
    let get = |path: &str| -> Result<Option<Vec<u8>>> {
        let resp = http.get(format!("{url}/{path}")).send()?;
        match resp.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(resp.bytes()?.to_vec())),
            s => bail!("GET {path}: {s}"),
        }
    };
    let cp_bytes = get("checkpoint")?.context("the log serves no checkpoint")?;
    let cp = open_checkpoint(&cp_bytes, &vkey, &Verifiers::new())
        .context("checkpoint does not verify with the log key")?
        .checkpoint;
    let entries = replay(cp.size, &cp.root, |p: &TilePath| get(&p.to_string()))
        .context("the log's tiles do not match its checkpoint")?;
    let mut counts: BTreeMap<StatementType, u64> = BTreeMap::new();
    let mut bad = 0u64;
    for (i, e) in entries.iter().enumerate() {
        match auth.open(e) {
            Ok(st) => *counts.entry(st.kind()).or_default() += 1,
            Err(err) => {
                bad += 1;
                eprintln!("vitrine: entry {i}: {}", printable(&err.to_string(), 400));
            }
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "log {}: size {}, root verified from {} entries; statements: {}; invalid: {bad}",
        printable(&cp.origin, 200),
        cp.size,
        entries.len(),
        if summary.is_empty() {
            "none".into()
        } else {
            summary.join(", ")
        },
    );
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_recosigning_cannot_keep_up_with_max_age() {
        let s = Duration::from_secs;
        assert!(stale_warning(60, Some(s(20)), s(5)).is_none());
        assert!(stale_warning(86400, Some(s(300)), s(5)).is_none());
        let w = stale_warning(60, Some(s(300)), s(5)).unwrap();
        assert!(w.contains("--recosign-interval 300 s"), "{w}");
        assert!(stale_warning(60, Some(s(26)), s(5)).is_some());
        let off = stale_warning(3600, None, s(5)).unwrap();
        assert!(off.contains("re-cosigning is off"), "{off}");
    }
}
