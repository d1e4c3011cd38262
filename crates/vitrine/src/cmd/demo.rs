//! `vitrine demo`: the whole update story on one machine, in-process: a
//! log, three witnesses, a publisher, an endpoint, a scan, and two attacks
//! the endpoint refuses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use vitrine_client::{EndpointState, PublishOptions, TrustPolicy, UpdateInput};
use vitrine_log::{Authorization, DataDir, Log, MemoryStorage};
use vitrine_note::{Cosigner, Note, SignatureType, SignerKey, Verifiers};
use vitrine_scan::{scan, Progress, ScanOptions, Target};
use vitrine_server::AppState;
use vitrine_statements::StatementType;
use vitrine_witness::{SqliteStore, Witness};
use vitrine_witness_client::{storage_proofs, LogWitnesses, WitnessClient};

use vitrine_endpoint::{Outcome, Source};

/// The endpoint's verified update, each check printed.
fn update(
    policy: &vitrine_client::TrustPolicy,
    state: &EndpointState,
    source: Source<'_>,
    indent: &str,
) -> Result<Outcome> {
    vitrine_endpoint::update(policy, state, source, indent, &mut |line| {
        println!("{line}")
    })
}

/// The payload the demo's hash signature names: harmless text.
const DROPPER: &[u8] = b"Vitrine demo: a harmless stand-in for a known dropper payload.\n";

const ORIGIN: &str = "demo.vitrine.example/log";

/// The log's port in the README's transparency loop (`PORT`); witness `i`
/// listens on `PORT + i`. The policy `demo --keep` leaves names these.
const README_PORT: u16 = 8080;

/// Run a complete, self-contained demonstration on 127.0.0.1: a log and
/// three witnesses, a bundle published and installed with every check
/// shown, a scan, then a fork, a rollback and a fork cosigned by colluding
/// witnesses, all refused.
///
/// Everything runs in this process on ports the OS picks, in a temporary
/// directory removed at the end (unless --keep). Takes a few seconds.
#[derive(clap::Args)]
pub struct Args {
    /// Keep every artifact in DIR (created; keys, policy, update
    /// directories, endpoint state, samples) instead of a temporary one.
    /// DIR is laid out as the README's transparency loop expects (log/,
    /// witnesses/wN/, keys/publisher.key, policy, rules/), so its "run"
    /// commands work there; the kept policy names the log on
    /// 127.0.0.1:8080 and witness N on 127.0.0.1:808N.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

fn heading(s: &str) {
    println!();
    println!("== {s}");
}

async fn bind() -> Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding 127.0.0.1")?;
    let a = l.local_addr()?;
    Ok((l, a))
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

fn write_key(path: &Path, key: &SignerKey) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    write(path, format!("{}\n", key.to_private_text()).as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Writes a rules directory: the starter set plus the demo's hash list.
fn rules_dir(dir: &Path, extra: &[(&str, String)]) -> Result<()> {
    // The starter set, decoded from the binary (it is not stored as text).
    for (name, text) in vitrine_scan::starter_files() {
        let sub = if name.ends_with(".yar") {
            "rules"
        } else {
            "hashes"
        };
        write(&dir.join(sub).join(name), text.as_bytes())?;
    }
    for (p, t) in extra {
        write(&dir.join(p), t.as_bytes())?;
    }
    Ok(())
}

fn dropper_signature() -> String {
    format!(
        "{}:{}:Vitrine.Demo.Dropper\n",
        hex::encode(Sha256::digest(DROPPER)),
        DROPPER.len()
    )
}

fn eicar() -> Vec<u8> {
    // Stored reversed, so neither this source nor the binary holds the
    // test string (not even as two adjacent halves).
    let mut v = b"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X".to_vec();
    v.reverse();
    v
}

pub fn run(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let _tmp;
    let root = match &args.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            if std::fs::read_dir(d)?.next().is_some() {
                bail!("--keep {}: the directory must be empty", d.display());
            }
            d.clone()
        }
        None => {
            let t = tempfile::tempdir().context("creating a temporary directory")?;
            let p = t.path().to_owned();
            _tmp = t;
            p
        }
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = demo(&root, &rt);
    rt.shutdown_background();
    let ok = result?;
    println!();
    if args.keep.is_some() {
        println!("everything is kept in {}", root.display());
    }
    println!("demo finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs the story; `Ok(false)` if an attack was not refused.
fn demo(root: &Path, rt: &tokio::runtime::Runtime) -> Result<bool> {
    heading("Setting up: a log, three witnesses, a publisher (all on 127.0.0.1)");
    let publisher = SignerKey::generate("publisher.demo.vitrine.example", SignatureType::Ed25519)?;
    write_key(&root.join("keys/publisher.key"), &publisher)?;
    let log_dir = root.join("log");
    let log_vkey = DataDir::init_for(&log_dir, ORIGIN, Some(vitrine_log::Purpose::Rules))
        .context("creating the log")?;
    // The files `vitrine log serve --data DIR/log` and `log verify` read.
    write(
        &log_dir.join(vitrine_log::AUTHORIZED_FILE),
        format!("rules {}\n", publisher.verifier()).as_bytes(),
    )?;
    let log_data = DataDir::open(&log_dir)?;
    println!("log      {ORIGIN}: key {log_vkey}");
    println!("publisher key {}", publisher.verifier());

    let mut witnesses: Vec<(String, String, Option<String>)> = Vec::new();
    let mut witness_keys: Vec<Cosigner> = Vec::new();
    for i in 1..=3 {
        let name = format!("w{i}");
        let key = SignerKey::generate(
            &format!("{name}.demo.vitrine.example"),
            SignatureType::CosignatureV1,
        )?;
        let wdir = root.join("witnesses").join(&name);
        std::fs::create_dir_all(&wdir)?;
        write_key(&wdir.join("witness.key"), &key)?;
        // What `vitrine witness serve --data DIR/witnesses/wN` reads.
        write(
            &wdir.join("logs"),
            vitrine_witness::format_log_line(&log_vkey).as_bytes(),
        )?;
        witness_keys.push(Cosigner::new(key.clone())?);
        let store = SqliteStore::open(wdir.join("witness.sqlite"))?;
        let witness = Witness::builder(Cosigner::new(key)?)
            .log(log_vkey.clone())
            .store(Arc::new(store))
            .build()?;
        let vkey = witness.verifier().to_string();
        let (listener, addr) = rt.block_on(bind())?;
        let app = vitrine_server::witness::router(Arc::new(witness));
        rt.spawn(async move { axum::serve(listener, app).await });
        println!("witness  {name}: http://{addr}");
        witnesses.push((name, vkey, Some(format!("http://{addr}"))));
    }

    let (log_listener, log_addr) = rt.block_on(bind())?;
    let log_url = format!("http://{log_addr}");
    let policy_text = crate::cmd::trust::policy_text(
        &log_vkey.to_string(),
        Some(&log_url),
        &witnesses,
        "2",
        &[publisher.verifier().to_string()],
        3600,
    )?;
    write(&root.join("policy"), policy_text.as_bytes())?;
    let policy = TrustPolicy::parse(policy_text.as_bytes())?;
    println!("log      {ORIGIN}: {log_url}, publishes only checkpoints 2 of 3 witnesses cosign");
    println!("trust policy ({}):", root.join("policy").display());
    for line in policy_text.lines() {
        println!("    {line}");
    }

    let auth = Authorization::new().allow([StatementType::Rules], publisher.verifier());
    let client = WitnessClient::new(policy.tlog().clone(), Duration::from_secs(5))?;
    let hook = LogWitnesses::new(client, log_data.storage.clone())?;
    let log = Log::builder(log_data.storage.clone(), log_data.key.clone())
        .authorization(auth.clone())
        .batch(64, Duration::from_millis(10))
        .cosigner(Arc::new(hook))
        .open()
        .context("opening the log")?;
    let state = AppState::new(Arc::new(log)).content(
        log_data.content.clone(),
        Verifiers::from_keys([publisher.verifier()]),
        vitrine_server::DEFAULT_MAX_CONTENT,
    );
    let app = vitrine_server::router(state);
    rt.spawn(async move { axum::serve(log_listener, app).await });

    heading("Publisher: bundle the starter rules (v1) and publish them");
    let sig = ("hashes/demo.hsb", dropper_signature());
    rules_dir(&root.join("rules-v1"), std::slice::from_ref(&sig))?;
    let now = vitrine_endpoint::state::now();
    let v1 = crate::cmd::bundle::build(&root.join("rules-v1"), "starter", 1, now, 30)?;
    write(&root.join("bundles/starter-v1.bundle"), &v1)?;
    println!("built starter v1: {} bytes, rules compile", v1.len());
    let opts = PublishOptions {
        wait: Duration::from_secs(20),
        poll: Duration::from_millis(50),
        ..PublishOptions::default()
    };
    let up1 = crate::cmd::publish::publish_bundle(&policy, &log_url, &publisher, v1, &opts)?;
    vitrine_client::write_update_dir(&root.join("updates/v1"), &up1)?;
    let v1_index = vitrine_tlog::TlogProof::parse(&up1.tlog_proof)?.index();

    heading("Endpoint: install v1 from the log, verifying every step");
    let state_dir = root.join("endpoint");
    let endpoint = EndpointState::open(&state_dir)?;
    expect_activated(
        update(&policy, &endpoint, Source::Log(&log_url, None), "    ")?,
        1,
    )?;

    heading("Publisher: v2 (one more rule); endpoint updates again");
    let extra_rule = (
        "rules/demo.yar",
        "rule Vitrine_Demo_Marker\n{\n    strings:\n        $m = \"VITRINE-DEMO-MARKER\"\n    condition:\n        $m\n}\n"
            .to_owned(),
    );
    rules_dir(&root.join("rules-v2"), &[sig.clone(), extra_rule.clone()])?;
    // The README's transparency loop builds its next bundle from `rules/`.
    rules_dir(&root.join("rules"), &[sig.clone(), extra_rule])?;
    let v2 = crate::cmd::bundle::build(&root.join("rules-v2"), "starter", 2, now, 30)?;
    write(&root.join("bundles/starter-v2.bundle"), &v2)?;
    let up2 = crate::cmd::publish::publish_bundle(&policy, &log_url, &publisher, v2, &opts)?;
    vitrine_client::write_update_dir(&root.join("updates/v2"), &up2)?;
    expect_activated(
        update(&policy, &endpoint, Source::Log(&log_url, None), "    ")?,
        2,
    )?;

    heading("Endpoint: scan a sample directory with the verified bundle");
    let samples = root.join("samples");
    write(&samples.join("downloads/eicar.com"), &eicar())?;
    write(&samples.join("downloads/invoice.exe"), DROPPER)?;
    write(&samples.join("notes.txt"), b"nothing to see here\n")?;
    let rules = vitrine_endpoint::rules::active_rules(&state_dir)?
        .context("no active bundle after the update")?
        .build()?;
    println!("    rules: {}", rules.source().describe());
    let mut found = Vec::new();
    let summary = scan(
        &rules,
        &ScanOptions::default().threads(2),
        &[Target::Path(samples.clone())],
        &Progress::default(),
        |r| {
            for d in &r.detections {
                found.push(format!("{}: {} FOUND", r.path, d.name()));
            }
        },
    )?;
    found.sort();
    for f in &found {
        println!("    {f}");
    }
    println!(
        "    {} files scanned, {} infected",
        summary.files_scanned, summary.infected_files
    );
    if summary.infected_files != 2 {
        bail!(
            "expected 2 infected sample files, found {}",
            summary.infected_files
        );
    }

    heading("Attack (a): a fork. The log key is stolen; a second log instance with the same key but a different tree serves this endpoint alone a targeted bundle (v3, without the dropper signature)");
    let (fork_ok, fork) = fork_attack(
        root,
        rt,
        &policy,
        &log_data.key,
        &publisher,
        &up1,
        &auth,
        &endpoint,
    )?;

    heading("Attack (b): rollback. The log serves the old v1 bundle (really logged, validly signed) to the endpoint on v2");
    let outcome = update(
        &policy,
        &endpoint,
        Source::Log(&log_url, Some(v1_index)),
        "    ",
    )?;
    let rollback_ok = refused("rollback", &outcome);

    heading("Attack (c): the same fork, and the attacker also holds the keys of two of the three witnesses (w1, w2), so the fork has a quorum of cosignatures");
    let colluding_ok = colluding_fork(root, &policy, &fork, &witness_keys[..2], &endpoint)?;

    heading("Endpoint state after the attacks");
    let active = endpoint.active()?.context("no active bundle")?.metadata;
    println!(
        "    active bundle: {} v{} (log index {}, checkpoint size {}, cosigned by {})",
        active.name,
        active.version,
        active.log_index,
        active.checkpoint_size,
        active.witnesses.join(", ")
    );
    if active.version != 2 {
        bail!("the active bundle changed during the attacks");
    }
    // The servers above die with the demo; the kept policy names the
    // addresses the README's transparency loop starts them on again.
    let kept = crate::cmd::trust::policy_text(
        &log_vkey.to_string(),
        Some(&format!("http://127.0.0.1:{README_PORT}")),
        &witnesses
            .iter()
            .enumerate()
            .map(|(i, (name, vkey, _))| {
                let port = README_PORT + 1 + i as u16;
                (
                    name.clone(),
                    vkey.clone(),
                    Some(format!("http://127.0.0.1:{port}")),
                )
            })
            .collect::<Vec<_>>(),
        "2",
        &[publisher.verifier().to_string()],
        3600,
    )?;
    write(&root.join("policy"), kept.as_bytes())?;
    if let Some(ev) = endpoint.fork_evidence(ORIGIN)? {
        println!(
            "    fork evidence kept in {} ({}): both signed checkpoints, for the owner and auditors; updates from this log are frozen until the owner clears it",
            endpoint.fork_path(ORIGIN).display(),
            ev.kind
        );
    }
    Ok(fork_ok && rollback_ok && colluding_ok)
}

fn expect_activated(o: Outcome, version: u64) -> Result<()> {
    match o {
        Outcome::Activated(m) if m.version == version => Ok(()),
        Outcome::Activated(m) => bail!("expected v{version} active, got v{}", m.version),
        Outcome::NothingToDo(v) => bail!("expected an update, but v{v} was already active"),
        Outcome::Refused(r) => bail!("the honest update was refused: {r}"),
    }
}

fn refused(attack: &str, o: &Outcome) -> bool {
    match o {
        Outcome::Refused(reason) => {
            println!("    => {attack} attack REFUSED: {reason}");
            true
        }
        other => {
            println!("    => {attack} attack NOT refused: {other:?}");
            false
        }
    }
}

/// What the fork attack leaves for the colluding variant.
struct Fork {
    storage: Arc<MemoryStorage>,
    note: Note,
    bundle: Vec<u8>,
    statement: Vec<u8>,
    index: u64,
}

/// The fork, now cosigned by colluding witness keys: the endpoint's own
/// stored checkpoint catches it (step 4) and keeps the evidence.
fn colluding_fork(
    root: &Path,
    policy: &TrustPolicy,
    fork: &Fork,
    colluders: &[Cosigner],
    endpoint: &EndpointState,
) -> Result<bool> {
    let mut note = fork.note.clone();
    for c in colluders {
        note.cosign(c, vitrine_endpoint::state::now())?;
    }
    let cp = vitrine_tlog::Checkpoint::parse(note.text())?;
    let storage = fork.storage.clone();
    let reader = vitrine_tlog::TileHashReader::new(cp.size, move |p: &vitrine_tlog::TilePath| {
        vitrine_log::Storage::read_tile(&*storage, p)
            .ok()
            .flatten()
            .ok_or(vitrine_tlog::Error::TileUnavailable {
                path: p.to_string(),
            })
    });
    let proof = vitrine_tlog::inclusion_proof(&reader, fork.index, cp.size)?;
    let input = UpdateInput {
        bundle: fork.bundle.clone(),
        statement: fork.statement.clone(),
        tlog_proof: vitrine_tlog::TlogProof::new(None, fork.index, proof, note)?.to_bytes(),
        ..UpdateInput::default()
    };
    let dir = root.join("updates/fork-cosigned");
    vitrine_client::write_update_dir(&dir, &input)?;
    println!("    the cosigned fork is handed to the endpoint as an update directory:");
    let outcome = update(policy, endpoint, Source::Dir(&dir), "    ")?;
    Ok(refused("colluding fork", &outcome))
}

#[allow(clippy::too_many_arguments)]
fn fork_attack(
    root: &Path,
    rt: &tokio::runtime::Runtime,
    policy: &TrustPolicy,
    log_key: &SignerKey,
    publisher: &SignerKey,
    up1: &UpdateInput,
    auth: &Authorization,
    endpoint: &EndpointState,
) -> Result<(bool, Fork)> {
    // The attacker's log: same key, the real first entry, then the
    // targeted bundle where the real log has v2.
    let storage = Arc::new(MemoryStorage::new());
    vitrine_log::init(&*storage, log_key)?;
    let fork = Log::builder(storage.clone(), log_key.clone())
        .authorization(auth.clone())
        .batch(64, Duration::from_millis(10))
        .open()?;
    fork.add_blocking(up1.statement.clone())?;
    let now = vitrine_endpoint::state::now();
    rules_dir(&root.join("rules-targeted"), &[])?;
    let v3 = crate::cmd::bundle::build(&root.join("rules-targeted"), "starter", 3, now, 30)?;
    let st3 = crate::cmd::publish::statement_for(&v3, publisher)?;
    let index = fork.add_blocking(st3.clone())?;
    let content = vitrine_log::ContentStore::new(root.join("fork/content"));
    content.put(&hex::encode(Sha256::digest(&v3)), &v3)?;
    let note_bytes = fork.checkpoint().to_vec();
    let note = Note::parse(&note_bytes)?;
    let cp = vitrine_tlog::Checkpoint::parse(note.text())?;
    println!(
        "    fork log: same key, size {}, root {} (the real log has the same size, another root)",
        cp.size,
        hex::encode(cp.root)
    );

    println!("    the attacker asks the policy's witnesses to cosign the fork:");
    let client = Arc::new(WitnessClient::new(
        policy.tlog().clone(),
        Duration::from_secs(5),
    )?);
    match rt.block_on(client.cosign(&note, 0, storage_proofs(storage.clone()))) {
        Ok(c) => println!("    witnesses cosigned?! {:?}", c.witnesses),
        Err(e) => println!("    witnesses REFUSED to cosign: {e}"),
    }

    let (listener, addr) = rt.block_on(bind())?;
    let fork_url = format!("http://{addr}");
    let state = AppState::new(Arc::new(fork)).content(
        content,
        Verifiers::from_keys([publisher.verifier()]),
        vitrine_server::DEFAULT_MAX_CONTENT,
    );
    let app = vitrine_server::router(state);
    rt.spawn(async move { axum::serve(listener, app).await });
    println!("    the fork is served to this endpoint alone, at {fork_url}:");
    let outcome = update(policy, endpoint, Source::Log(&fork_url, None), "    ")?;
    Ok((
        refused("fork", &outcome),
        Fork {
            storage,
            note,
            bundle: v3,
            statement: st3,
            index,
        },
    ))
}
