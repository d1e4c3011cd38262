//! Load generator and checker for a Vitrine log (`vitrine log serve`).
//!
//! An example rather than a binary of `vitrine` so it builds without the
//! scanner. Used by `bench/log.sh` and `bench/log-kill-test.sh`.
//!
//! ```text
//! # write load: M distinct signed `rules` statements from N clients
//! log_load --url URL --key PUBLISHER.key --clients N [--inflight K] --entries M
//!          [--acked FILE] [--dedup-fraction F] [--seed S]
//!          [--retry-for SECS] [--stop-file PATH]
//! # read load: GETs of tiles, entry bundles and /checkpoint for SECS seconds
//! log_load --url URL --read-tiles SECS [--clients N] [--inflight K]
//! # the same write load against an in-process Log (no HTTP), to split cost
//! log_load --inproc fs|mem|pg [--key PUBLISHER.key] --clients N --inflight K --entries M
//!          [--batch-max B] [--batch-wait-ms W] [--postgres URL]
//! # after a kill test: acked entries and saved checkpoints vs the final log
//! log_load --check --url URL --log-key VKEY [--acked FILE]... [--checkpoints DIR]
//! ```
//!
//! Each client is one `reqwest::Client` (its own keep-alive pool) running
//! `--inflight` requests at a time, each on its own connection, so the
//! number of concurrent submissions is `clients × inflight`. `/add` answers
//! only once the entry is under a published checkpoint, so the latency
//! measured per request is the integration latency.
//!
//! A line `RESULT key=value ...` at the end is for scripts. The exit status
//! is non-zero if a check failed (wrong or inconsistent index, rejected
//! statement, inconsistent checkpoint).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256 as Sha};
use vitrine_log::{Authorization, DataDir, Log, MemoryStorage};
use vitrine_note::{Note, SignerKey, VerifierKey, Verifiers};
use vitrine_statements::{Rules, Sha256, Statement, StatementType};
use vitrine_tlog::{
    consistency_proof, leaf_hash, open_checkpoint, tiles_for_size, verify_consistency, Checkpoint,
    Hash, TileHashReader, TilePath,
};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Command line: `--flag value` pairs (repeatable) and bare `--switch`es.
struct Args(HashMap<String, Vec<String>>);

const SWITCHES: &[&str] = &["--check", "--help"];

impl Args {
    fn parse() -> Res<Self> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if !flag.starts_with("--") {
                return Err(format!("unexpected argument {flag:?}").into());
            }
            let value = if SWITCHES.contains(&flag.as_str()) {
                String::new()
            } else {
                it.next().ok_or(format!("{flag} needs a value"))?
            };
            map.entry(flag).or_default().push(value);
        }
        Ok(Self(map))
    }
    fn has(&self, flag: &str) -> bool {
        self.0.contains_key(flag)
    }
    fn get(&self, flag: &str) -> Option<&str> {
        self.0.get(flag).and_then(|v| v.last()).map(String::as_str)
    }
    fn all(&self, flag: &str) -> &[String] {
        self.0.get(flag).map(Vec::as_slice).unwrap_or(&[])
    }
    fn req(&self, flag: &str) -> Res<&str> {
        self.get(flag)
            .ok_or_else(|| format!("missing {flag}").into())
    }
    fn num<T: std::str::FromStr>(&self, flag: &str, default: T) -> Res<T> {
        match self.get(flag) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("bad {flag} {v:?}").into()),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("log_load: error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Res<bool> {
    let args = Args::parse()?;
    if args.has("--help") {
        println!("see the doc comment of crates/vitrine-server/examples/log_load.rs");
        return Ok(true);
    }
    if args.has("--check") {
        return check(&args);
    }
    let rt = tokio::runtime::Runtime::new()?;
    if let Some(secs) = args.get("--read-tiles") {
        let secs: f64 = secs.parse().map_err(|_| "bad --read-tiles")?;
        return rt.block_on(read_tiles(&args, Duration::from_secs_f64(secs)));
    }
    if let Some(kind) = args.get("--inproc") {
        return rt.block_on(inproc(&args, kind));
    }
    rt.block_on(load(&args))
}

// ---------------------------------------------------------------- statements

fn read_key(path: &str) -> Res<SignerKey> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    Ok(SignerKey::parse(text.trim_end()).map_err(|e| format!("{path}: {e}"))?)
}

/// One statement to submit.
struct Item {
    body: Vec<u8>,
    hash: Hash,
}

/// `count` distinct `rules` statements derived from `seed`, signed on every
/// core.
fn make_statements(key: &SignerKey, seed: &str, count: usize) -> Vec<Item> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let mut out: Vec<Item> = Vec::with_capacity(count);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|i| {
                            let digest: [u8; 32] =
                                Sha::digest(format!("vitrine-load {seed} {i}")).into();
                            let body = Statement::Rules(Rules {
                                sha256: Sha256(digest),
                                size: i as u64 + 1,
                                version: i as u64 + 1,
                                created: 1_767_225_600,
                                expires: 1_798_761_600,
                                bundle: None,
                                allow: Vec::new(),
                            })
                            .sign(key)
                            .expect("invariant: an Ed25519 key signs");
                            let hash = Sha::digest(&body).into();
                            Item { body, hash }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            out.extend(h.join().expect("signing thread panicked"));
        }
    });
    out
}

/// A small deterministic PRNG (splitmix64): no dependency, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

fn seed_number(seed: &str) -> u64 {
    u64::from_le_bytes(
        Sha::digest(seed).as_slice()[..8]
            .try_into()
            .expect("8 bytes"),
    )
}

/// The submission order: every fresh statement once, and after each one,
/// with probability `dedup`, an earlier statement again.
fn schedule(fresh: usize, dedup: f64, seed: &str) -> Vec<usize> {
    let mut rng = Rng(seed_number(seed));
    let mut order = Vec::with_capacity(fresh + (fresh as f64 * dedup) as usize);
    for i in 0..fresh {
        order.push(i);
        if i > 0 && rng.chance(dedup) {
            order.push(rng.below(i));
        }
    }
    order
}

// ------------------------------------------------------------------ results

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    acked_fresh: u64,
    acked_dup: u64,
    errors: u64,
    rejected: u64,
    retries: u64,
    dedup_mismatch: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.latencies_us.extend(o.latencies_us);
        self.acked_fresh += o.acked_fresh;
        self.acked_dup += o.acked_dup;
        self.errors += o.errors;
        self.rejected += o.rejected;
        self.retries += o.retries;
        self.dedup_mismatch += o.dedup_mismatch;
    }

    fn report(mut self, what: &str, elapsed: Duration) -> bool {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() as f64 * p).ceil() as usize)
                .clamp(1, self.latencies_us.len());
            self.latencies_us[i - 1] as f64 / 1000.0
        };
        let secs = elapsed.as_secs_f64();
        let requests = self.acked_fresh + self.acked_dup;
        let eps = self.acked_fresh as f64 / secs;
        let rps = requests as f64 / secs;
        let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
        println!(
            "{what}: {} new entries + {} resubmissions acknowledged in {secs:.2} s: \
             {eps:.0} entries/s ({rps:.0} requests/s); integration latency p50 {p50:.1} ms, \
             p99 {p99:.1} ms, max {max:.1} ms; {} errors, {} retries, {} rejected, \
             {} dedup mismatches",
            self.acked_fresh,
            self.acked_dup,
            self.errors,
            self.retries,
            self.rejected,
            self.dedup_mismatch,
        );
        println!(
            "RESULT mode={what} entries={} dups={} secs={secs:.3} eps={eps:.0} rps={rps:.0} \
             p50_ms={p50:.1} p99_ms={p99:.1} max_ms={max:.1} errors={} rejected={} \
             dedup_mismatch={}",
            self.acked_fresh, self.acked_dup, self.errors, self.rejected, self.dedup_mismatch
        );
        self.rejected == 0 && self.dedup_mismatch == 0
    }
}

/// Shared state of a write run.
struct Run {
    items: Vec<Item>,
    order: Vec<usize>,
    next: AtomicUsize,
    /// Index each statement got, `u64::MAX` until acknowledged.
    got: Vec<AtomicU64>,
    acked: Option<Mutex<File>>,
    stop_file: Option<PathBuf>,
    stopped: AtomicBool,
}

impl Run {
    fn new(
        items: Vec<Item>,
        order: Vec<usize>,
        acked: Option<&str>,
        stop: Option<&str>,
    ) -> Res<Self> {
        let acked = match acked {
            None => None,
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("opening {path}: {e}"))?,
            )),
        };
        Ok(Self {
            got: items.iter().map(|_| AtomicU64::new(u64::MAX)).collect(),
            items,
            order,
            next: AtomicUsize::new(0),
            acked,
            stop_file: stop.map(PathBuf::from),
            stopped: AtomicBool::new(false),
        })
    }

    /// The next statement to submit, `None` when done or told to stop.
    fn take(&self) -> Option<usize> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        if self.stop_file.as_deref().is_some_and(Path::exists) {
            self.stopped.store(true, Ordering::Relaxed);
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.order.get(n).copied()
    }

    /// Records an acknowledgement; returns false if it contradicts an
    /// earlier one for the same statement.
    fn ack(&self, item: usize, index: u64, stats: &mut Stats) {
        let prev = self.got[item].swap(index, Ordering::Relaxed);
        if prev == u64::MAX {
            stats.acked_fresh += 1;
        } else {
            stats.acked_dup += 1;
            if prev != index {
                stats.dedup_mismatch += 1;
                eprintln!("log_load: statement {item} acknowledged at {prev} and at {index}");
            }
        }
        if let Some(f) = &self.acked {
            // One write per line, so a killed client leaves whole lines.
            let line = format!("{index} {}\n", hex::encode(self.items[item].hash));
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("log_load: writing acked file: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------- write load

async fn load(args: &Args) -> Res<bool> {
    let url = args.req("--url")?.trim_end_matches('/').to_owned();
    let key = read_key(args.req("--key")?)?;
    let clients: usize = args.num("--clients", 64)?;
    let inflight: usize = args.num("--inflight", 1)?;
    let entries: usize = args.num("--entries", 10_000)?;
    let dedup: f64 = args.num("--dedup-fraction", 0.0)?;
    let retry_for = Duration::from_secs_f64(args.num("--retry-for", 0.0)?);
    let seed = args.get("--seed").map(str::to_owned).unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    });

    let t = Instant::now();
    let items = make_statements(&key, &seed, entries);
    let order = schedule(entries, dedup, &seed);
    eprintln!(
        "log_load: signed {entries} statements in {:.2} s; {} submissions from {clients} clients x {inflight} in flight",
        t.elapsed().as_secs_f64(),
        order.len(),
    );
    let run = Arc::new(Run::new(
        items,
        order,
        args.get("--acked"),
        args.get("--stop-file"),
    )?);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(inflight)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()?;
        for _ in 0..inflight {
            let (run, http, url) = (run.clone(), http.clone(), url.clone());
            tasks.push(tokio::spawn(submitter(run, http, url, retry_for)));
        }
    }
    let mut stats = Stats::default();
    for t in tasks {
        stats.merge(t.await?);
    }
    Ok(stats.report("add", start.elapsed()))
}

async fn submitter(
    run: Arc<Run>,
    http: reqwest::Client,
    url: String,
    retry_for: Duration,
) -> Stats {
    let mut stats = Stats::default();
    let add = format!("{url}/add");
    while let Some(item) = run.take() {
        let body = run.items[item].body.clone();
        let first = Instant::now();
        loop {
            let t = Instant::now();
            let outcome = match http.post(&add).body(body.clone()).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.text().await {
                        Ok(text) if status.is_success() => match text.trim().parse::<u64>() {
                            Ok(index) => Ok(index),
                            Err(_) => Err((false, format!("bad answer {text:?}"))),
                        },
                        Ok(text) => Err((
                            status.is_server_error(),
                            format!("{status}: {}", text.trim()),
                        )),
                        Err(e) => Err((true, e.to_string())),
                    }
                }
                Err(e) => Err((true, e.to_string())),
            };
            match outcome {
                Ok(index) => {
                    stats.latencies_us.push(t.elapsed().as_micros() as u64);
                    run.ack(item, index, &mut stats);
                    break;
                }
                Err((retryable, why)) => {
                    if !retryable {
                        stats.rejected += 1;
                        eprintln!("log_load: statement {item} refused: {why}");
                        break;
                    }
                    if first.elapsed() >= retry_for || run.stopped.load(Ordering::Relaxed) {
                        stats.errors += 1;
                        break;
                    }
                    stats.retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    stats
}

// ----------------------------------------------------- in-process (no HTTP)

async fn inproc(args: &Args, kind: &str) -> Res<bool> {
    let key = match args.get("--key") {
        Some(path) => read_key(path)?,
        None => SignerKey::generate(
            "load.example/publisher",
            vitrine_note::SignatureType::Ed25519,
        )?,
    };
    let clients: usize = args.num("--clients", 64)?;
    let inflight: usize = args.num("--inflight", 1)?;
    let entries: usize = args.num("--entries", 10_000)?;
    let batch_max: usize = args.num("--batch-max", 256)?;
    let batch_wait = Duration::from_millis(args.num("--batch-wait-ms", 50)?);
    let auth = Authorization::new().allow([StatementType::Rules], key.verifier());

    let items = make_statements(&key, "inproc", entries);

    // The admission check alone, on every core: the ceiling it puts on /add.
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for chunk in items.chunks(items.len().div_ceil(threads).max(1)) {
            let auth = &auth;
            s.spawn(move || {
                for it in chunk {
                    auth.open(&it.body).expect("statement admitted");
                }
            });
        }
    });
    let verify = t.elapsed().as_secs_f64();
    println!(
        "admission check (parse + Ed25519 verify) on {threads} threads: {:.0} statements/s",
        entries as f64 / verify
    );

    let tmp = tempfile::tempdir()?;
    let (storage, log_key): (Arc<dyn vitrine_log::Storage>, SignerKey) = match kind {
        "mem" => {
            let storage = Arc::new(MemoryStorage::new());
            vitrine_log::init(&*storage, &key)?;
            (storage, key.clone())
        }
        "fs" => {
            let dir = match args.get("--data") {
                Some(d) => PathBuf::from(d),
                None => tmp.path().join("log"),
            };
            DataDir::init(&dir, "load.example/log")?;
            let d = DataDir::open(&dir)?;
            (d.storage, d.key)
        }
        "pg" => {
            let url = args.req("--postgres")?;
            let storage = Arc::new(vitrine_log::PgStorage::connect(url, 8)?);
            vitrine_log::init(&*storage, &key)?;
            (storage, key.clone())
        }
        other => return Err(format!("--inproc {other}: want fs, mem or pg").into()),
    };
    let timed = Arc::new(Timed {
        inner: storage,
        ops: Default::default(),
    });
    let log = Arc::new(
        Log::builder(timed.clone(), log_key)
            .authorization(auth)
            .batch(batch_max, batch_wait)
            .open()?,
    );
    let run = Arc::new(Run::new(items, (0..entries).collect(), None, None)?);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients * inflight {
        let (run, log) = (run.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            while let Some(item) = run.take() {
                let t = Instant::now();
                match log.add(run.items[item].body.clone()).await {
                    Ok(index) => {
                        stats.latencies_us.push(t.elapsed().as_micros() as u64);
                        run.ack(item, index, &mut stats);
                    }
                    Err(e) => {
                        eprintln!("log_load: {e}");
                        stats.errors += 1;
                    }
                }
            }
            stats
        }));
    }
    let mut stats = Stats::default();
    for t in tasks {
        stats.merge(t.await?);
    }
    let elapsed = start.elapsed();
    let ops = timed.ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let batches = ops.get("swap_checkpoint").map_or(0, |o| o.0);
    println!(
        "sequencer storage time over {batches} batches ({:.0} entries/batch), of {:.2} s wall:",
        entries as f64 / batches.max(1) as f64,
        elapsed.as_secs_f64()
    );
    for (op, (calls, time)) in &ops {
        println!(
            "  {op:<16} {calls:>8} calls {:>8.3} s total {:>8.3} ms/batch",
            time.as_secs_f64(),
            time.as_secs_f64() * 1000.0 / batches.max(1) as f64
        );
    }
    let report = stats.report(&format!("inproc-{kind}"), elapsed);
    // PostgreSQL's blocking clients close with a runtime of their own: drop
    // the log and its storage off the async threads.
    tokio::task::spawn_blocking(move || drop((log, timed))).await?;
    Ok(report)
}

/// A [`vitrine_log::Storage`] that times every call of the one it wraps,
/// to show where a batch spends its time.
struct Timed {
    inner: Arc<dyn vitrine_log::Storage>,
    ops: Mutex<BTreeMap<&'static str, (u64, Duration)>>,
}

impl Timed {
    fn time<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let e = ops.entry(op).or_default();
        e.0 += 1;
        e.1 += t.elapsed();
        out
    }
}

type StorageResult<T> = Result<T, vitrine_log::StorageError>;

impl vitrine_log::Storage for Timed {
    fn read_tile(&self, path: &TilePath) -> StorageResult<Option<Vec<u8>>> {
        self.time("read_tile", || self.inner.read_tile(path))
    }
    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> StorageResult<()> {
        self.time("write_tiles", || self.inner.write_tiles(tiles))
    }
    fn delete_tiles(&self, paths: &[TilePath]) -> StorageResult<()> {
        self.time("delete_tiles", || self.inner.delete_tiles(paths))
    }
    fn read_checkpoint(&self) -> StorageResult<Option<Vec<u8>>> {
        self.time("read_checkpoint", || self.inner.read_checkpoint())
    }
    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> StorageResult<()> {
        self.time("swap_checkpoint", || self.inner.swap_checkpoint(old, new))
    }
    fn lookup(&self, entry_hash: &Hash) -> StorageResult<Option<u64>> {
        self.time("lookup", || self.inner.lookup(entry_hash))
    }
    fn record(&self, rows: &[(Hash, u64)]) -> StorageResult<()> {
        self.time("record", || self.inner.record(rows))
    }
    fn forget_from(&self, size: u64) -> StorageResult<()> {
        self.time("forget_from", || self.inner.forget_from(size))
    }
    fn staged_size(&self) -> StorageResult<Option<u64>> {
        self.time("staged_size", || self.inner.staged_size())
    }
    fn set_staged_size(&self, size: u64) -> StorageResult<()> {
        self.time("set_staged_size", || self.inner.set_staged_size(size))
    }
    fn signed_checkpoint(&self) -> StorageResult<Option<Vec<u8>>> {
        self.time("signed_checkpoint", || self.inner.signed_checkpoint())
    }
    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> StorageResult<()> {
        self.time("set_signed_checkpoint", || {
            self.inner.set_signed_checkpoint(checkpoint)
        })
    }
    fn lookup_many(&self, hashes: &[Hash]) -> StorageResult<Vec<Option<u64>>> {
        self.time("lookup_many", || self.inner.lookup_many(hashes))
    }
    fn write_batch(&self, batch: &vitrine_log::BatchWrite<'_>) -> StorageResult<()> {
        self.time("write_batch", || self.inner.write_batch(batch))
    }
}

// ----------------------------------------------------------------- read load

async fn read_tiles(args: &Args, duration: Duration) -> Res<bool> {
    let url = args.req("--url")?.trim_end_matches('/').to_owned();
    let clients: usize = args.num("--clients", 16)?;
    let inflight: usize = args.num("--inflight", 1)?;
    let http = reqwest::Client::new();
    let cp = http
        .get(format!("{url}/checkpoint"))
        .send()
        .await?
        .bytes()
        .await?;
    let size = Checkpoint::parse(Note::parse(&cp)?.text())?.size;
    let mut paths: Vec<String> = tiles_for_size(size).iter().map(|p| p.to_string()).collect();
    let full = size / 256;
    paths.extend(
        (0..full)
            .map(|n| TilePath::entries(n, 256).map(|p| p.to_string()))
            .collect::<Result<Vec<_>, _>>()?,
    );
    if size % 256 != 0 {
        paths.push(TilePath::entries(full, (size % 256) as u16)?.to_string());
    }
    if paths.is_empty() {
        return Err("the log is empty: nothing to read".into());
    }
    let paths = Arc::new(paths);
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(inflight)
            .tcp_nodelay(true)
            .build()?;
        for k in 0..inflight {
            let (http, url, paths) = (http.clone(), url.clone(), paths.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng((c * 1000 + k) as u64);
                let (mut reads, mut bytes, mut errors) = (0u64, 0u64, 0u64);
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    // One read in 16 is the checkpoint, as a client polling.
                    let path = if rng.below(16) == 0 {
                        "checkpoint"
                    } else {
                        paths[rng.below(paths.len())].as_str()
                    };
                    let t = Instant::now();
                    match http.get(format!("{url}/{path}")).send().await {
                        Ok(r) if r.status().is_success() => match r.bytes().await {
                            Ok(b) => {
                                reads += 1;
                                bytes += b.len() as u64;
                                lat.push(t.elapsed().as_micros() as u64);
                            }
                            Err(_) => errors += 1,
                        },
                        _ => errors += 1,
                    }
                }
                (reads, bytes, errors, lat)
            }));
        }
    }
    let (mut reads, mut bytes, mut errors, mut lat) = (0, 0, 0, Vec::new());
    for t in tasks {
        let (r, b, e, l) = t.await?;
        reads += r;
        bytes += b;
        errors += e;
        lat.extend(l);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |&v| v as f64 / 1000.0)
    };
    let rps = reads as f64 / secs;
    println!(
        "read: {reads} reads of {} tiles/bundles + checkpoint (tree size {size}) in {secs:.2} s: \
         {rps:.0} reads/s, {:.1} MB/s, p50 {:.2} ms, p99 {:.2} ms; {errors} errors",
        paths.len(),
        bytes as f64 / secs / 1e6,
        pct(0.5),
        pct(0.99),
    );
    println!(
        "RESULT mode=read reads={reads} secs={secs:.3} rps={rps:.0} p50_ms={:.2} p99_ms={:.2} errors={errors}",
        pct(0.5),
        pct(0.99)
    );
    Ok(errors == 0)
}

// --------------------------------------------------------------------- check

/// Checks the final log against what clients were told and what was seen:
/// every acknowledged (index, hash) is at that index; no entry appears
/// twice; every saved checkpoint is signed by the log and consistent with
/// the final one by a consistency proof built from the served tiles.
fn check(args: &Args) -> Res<bool> {
    let url = args.req("--url")?.trim_end_matches('/').to_owned();
    let vkey: VerifierKey = args.req("--log-key")?.parse()?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let get = |path: &str| -> Res<Option<Vec<u8>>> {
        let resp = http.get(format!("{url}/{path}")).send()?;
        match resp.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(resp.bytes()?.to_vec())),
            s => Err(format!("GET {path}: {s}").into()),
        }
    };
    let final_note = get("checkpoint")?.ok_or("no checkpoint")?;
    let fin = open_checkpoint(&final_note, &vkey, &Verifiers::new())?.checkpoint;
    let mut violations = 0u64;

    // Every entry, re-verified against the checkpoint (tiles included).
    let entries = vitrine_log::replay(fin.size, &fin.root, |p: &TilePath| get(&p.to_string()))?;
    let mut at: HashMap<Hash, u64> = HashMap::with_capacity(entries.len());
    let hashes: Vec<Hash> = entries.iter().map(|e| Sha::digest(e).into()).collect();
    for (i, h) in hashes.iter().enumerate() {
        if let Some(prev) = at.insert(*h, i as u64) {
            violations += 1;
            eprintln!("VIOLATION: entry {} duplicates entry {prev}", i);
        }
    }

    // Acknowledged entries.
    let mut acked: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut ack_lines = 0u64;
    for file in args.all("--acked") {
        let text = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
        for line in text.lines() {
            let parsed = line.split_once(' ').and_then(|(i, h)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(h, &mut hash).ok()?;
                Some((i.parse::<u64>().ok()?, hash))
            });
            let Some((index, hash)) = parsed else {
                // A client killed mid-line would leave this; ours write whole lines.
                violations += 1;
                eprintln!("VIOLATION: {file}: malformed line {line:?}");
                continue;
            };
            ack_lines += 1;
            match hashes.get(index as usize) {
                Some(h) if *h == hash => {}
                Some(_) => {
                    violations += 1;
                    eprintln!(
                        "VIOLATION: acknowledged {} at {index}, log has another entry there",
                        hex::encode(hash)
                    );
                }
                None => {
                    violations += 1;
                    eprintln!(
                        "VIOLATION: acknowledged {} at {index}, past the final size {}",
                        hex::encode(hash),
                        fin.size
                    );
                }
            }
            if let Some(prev) = acked.insert(index, hash) {
                if prev != hash {
                    violations += 1;
                    eprintln!("VIOLATION: index {index} acknowledged for two different entries");
                }
            }
        }
    }

    // Checkpoints seen over time.
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    drop(entries);
    let reader = TileHashReader::new(fin.size, |p: &TilePath| {
        get(&p.to_string())
            .ok()
            .flatten()
            .ok_or(vitrine_tlog::Error::TileUnavailable {
                path: p.to_string(),
            })
    });
    let mut checkpoints = 0u64;
    let mut max_seen = 0u64;
    for dir in args.all("--checkpoints") {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("reading {dir}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file)?;
            if bytes.is_empty() {
                continue; // the server was down when the script asked
            }
            checkpoints += 1;
            let cp = match open_checkpoint(&bytes, &vkey, &Verifiers::new()) {
                Ok(o) => o.checkpoint,
                Err(e) => {
                    violations += 1;
                    eprintln!("VIOLATION: {}: does not verify: {e}", file.display());
                    continue;
                }
            };
            max_seen = max_seen.max(cp.size);
            let ok = if cp.size > fin.size {
                Err(format!(
                    "size {} is past the final size {}",
                    cp.size, fin.size
                ))
            } else if cp.size == 0 {
                // Consistency from the empty tree is vacuous; check the root.
                (cp.root == vitrine_tlog::empty_root())
                    .then_some(())
                    .ok_or("bad empty root".into())
            } else {
                consistency_proof(&reader, cp.size, fin.size)
                    .map_err(|e| e.to_string())
                    .and_then(|proof| {
                        verify_consistency(cp.size, fin.size, &proof, &cp.root, &fin.root)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|()| {
                        // And independently of the served tiles.
                        (vitrine_tlog::root_from_leaf_hashes(&leaves[..cp.size as usize])
                            == cp.root)
                            .then_some(())
                            .ok_or_else(|| "root differs from the final log's prefix".into())
                    })
            };
            if let Err(why) = ok {
                violations += 1;
                eprintln!("VIOLATION: {} (size {}): {why}", file.display(), cp.size);
            }
        }
    }
    println!(
        "check: final size {}; {} acknowledgements ({} distinct indices) all present: {}; \
         {checkpoints} checkpoints (largest {max_seen}) consistent: {}; violations {violations}",
        fin.size,
        ack_lines,
        acked.len(),
        if violations == 0 { "yes" } else { "see above" },
        if violations == 0 { "yes" } else { "see above" },
    );
    println!(
        "RESULT mode=check size={} acked_lines={ack_lines} acked={} checkpoints={checkpoints} violations={violations}",
        fin.size,
        acked.len()
    );
    Ok(violations == 0)
}
