//! HTTP: fetching an update from a log (tlog-tiles read API plus
//! `/content/sha256/`) and publishing one. Blocking; every response is read
//! no further than its limit.

use std::io::Read;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vitrine_note::{Note, SignerKey, Verifiers};
use vitrine_statements::{Statement, StatementType};
use vitrine_tlog::{
    bundle_for_leaf, consistency_proof, decode_entry_bundle, inclusion_proof, leaf_hash, node_hash,
    open_checkpoint, tree_root, Checkpoint, Hash, HashReader, OpenedCheckpoint, TileHashReader,
    TilePath, TlogProof,
};

use crate::verify::{check_fork, check_fresh, verify_cosignatures};
use crate::{verify_update, EndpointState, FetchError, Rejection, TrustPolicy, UpdateError};
use crate::{LoggedReview, UpdateInput, VerifiedUpdate};

/// Largest tile or entry bundle read (a full entry bundle of 256 entries of
/// at most 65,535 bytes each, plus length prefixes).
const MAX_TILE: usize = 256 * (65_535 + 2);

/// Options of [`fetch_update`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Longest time one request may take, body transfer included.
    pub timeout: Duration,
    /// Longest time the whole update may take (every request, body
    /// transfers included): a server that drips bytes cannot keep the
    /// endpoint waiting past it.
    pub deadline: Duration,
    /// Take this log index instead of searching for the newest `rules`
    /// statement.
    pub index: Option<u64>,
}

/// Default of [`FetchOptions::deadline`], seconds.
pub const DEFAULT_DEADLINE_SECS: u64 = 180;

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(DEFAULT_DEADLINE_SECS),
            index: None,
        }
    }
}

/// Options of [`publish`].
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// How long to wait for a quorum-cosigned checkpoint covering the entry.
    pub wait: Duration,
    /// Pause between polls of `/checkpoint`.
    pub poll: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            timeout: Duration::from_secs(30),
            wait: Duration::from_secs(60),
            poll: Duration::from_millis(200),
        }
    }
}

struct Http {
    client: reqwest::blocking::Client,
    base: String,
    timeout: Duration,
    deadline: Option<(Instant, Duration)>,
}

/// The innermost cause of a reqwest error, said once (reqwest's own message
/// repeats the URL, and each layer below repeats the one under it).
fn http_reason(e: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(s) = root.source() {
        root = s;
    }
    let root = root.to_string();
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {root}")
    } else {
        root
    }
}

impl Http {
    fn new(base: &str, timeout: Duration, deadline: Option<Duration>) -> Result<Self, FetchError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| FetchError::Http {
                url: base.to_owned(),
                reason: http_reason(&e),
            })?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_owned(),
            timeout,
            deadline: deadline.map(|d| (Instant::now() + d, d)),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path)
    }

    fn past_deadline(&self, url: &str) -> FetchError {
        FetchError::Deadline {
            url: url.to_owned(),
            deadline_secs: self.deadline.map_or(0, |(_, d)| d.as_secs()),
        }
    }

    /// Time left for one request: the per-request timeout, cut to what is
    /// left of the overall deadline.
    fn budget(&self, url: &str) -> Result<Duration, FetchError> {
        match self.deadline {
            None => Ok(self.timeout),
            Some((end, _)) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(self.past_deadline(url));
                }
                Ok(left.min(self.timeout))
            }
        }
    }

    fn send(
        &self,
        url: &str,
        req: reqwest::blocking::RequestBuilder,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let budget = self.budget(url)?;
        let started = Instant::now();
        let over = |e: &reqwest::Error| {
            if self.budget(url).is_err() {
                self.past_deadline(url)
            } else {
                FetchError::Http {
                    url: url.to_owned(),
                    reason: http_reason(e),
                }
            }
        };
        // The request's own timeout covers connecting, headers and the
        // body (reqwest's total timeout); the loop below also stops at the
        // budget between reads.
        let mut resp = req.timeout(budget).send().map_err(|e| over(&e))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        let mut buf = [0u8; 16 << 10];
        loop {
            if started.elapsed() >= budget {
                return Err(if self.budget(url).is_err() {
                    self.past_deadline(url)
                } else {
                    FetchError::Http {
                        url: url.to_owned(),
                        reason: "timed out reading the body".to_owned(),
                    }
                });
            }
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(if self.budget(url).is_err() {
                        self.past_deadline(url)
                    } else {
                        let reason =
                            match e.get_ref().and_then(|r| r.downcast_ref::<reqwest::Error>()) {
                                Some(r) => http_reason(r),
                                None => e.to_string(),
                            };
                        FetchError::Http {
                            url: url.to_owned(),
                            reason,
                        }
                    })
                }
            };
            body.extend_from_slice(&buf[..n]);
            if body.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: limit as u64,
                });
            }
        }
        Ok((status, body))
    }

    fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let url = self.url(path);
        let (status, body) = self.send(&url, self.client.get(&url), limit)?;
        ok(&url, status, body)
    }
}

fn ok(url: &str, status: u16, body: Vec<u8>) -> Result<Vec<u8>, FetchError> {
    if !(200..300).contains(&status) {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        });
    }
    Ok(body)
}

fn log_err(e: impl std::fmt::Display) -> FetchError {
    FetchError::Log {
        reason: e.to_string(),
    }
}

/// Fetches `/checkpoint` and opens it with the policy (log key, witness
/// cosignatures, quorum); for [`publish`].
fn fetch_checkpoint(
    http: &Http,
    policy: &TrustPolicy,
) -> Result<(OpenedCheckpoint, bool), FetchError> {
    let bytes = http.get("checkpoint", policy.limits().checkpoint)?;
    let note = Note::parse(&bytes).map_err(log_err)?;
    let cp = vitrine_tlog::Checkpoint::parse(note.text()).map_err(log_err)?;
    let log = policy.tlog().log_for_origin(&cp.origin).ok_or_else(|| {
        FetchError::Checkpoint(Rejection::UnknownLog {
            origin: cp.origin.clone(),
        })
    })?;
    if note
        .verify(&Verifiers::from_keys([log.key.clone()]))
        .is_err()
    {
        return Err(FetchError::Checkpoint(Rejection::BadLogSignature {
            origin: cp.origin.clone(),
        }));
    }
    let opened =
        open_checkpoint(&bytes, &log.key, &policy.tlog().witness_verifiers()).map_err(|e| {
            FetchError::Checkpoint(Rejection::BadCosignature {
                reason: e.to_string(),
            })
        })?;
    let names = policy.tlog().witness_names_for(&opened.cosignatures);
    let quorum = policy.tlog().check_quorum(&names);
    Ok((opened, quorum))
}

fn tile_reader(
    http: &Http,
    size: u64,
) -> TileHashReader<impl Fn(&TilePath) -> Result<Vec<u8>, vitrine_tlog::Error> + '_> {
    TileHashReader::new(size, move |path: &TilePath| {
        http.get(&path.to_string(), MAX_TILE)
            .map_err(|_| vitrine_tlog::Error::TileUnavailable {
                path: path.to_string(),
            })
    })
}

/// Node hashes of a tree whose leaves from `start` on are known (hashed
/// from the entries read): nodes entirely before `start` come from tiles,
/// every other node is computed from the leaves. When [`tree_root`] over
/// this reader equals a signed root, every leaf from `start` on, and every
/// tile hash used, is authenticated by that root.
struct RangeReader<R> {
    tiles: R,
    start: u64,
    leaves: Vec<Hash>,
}

impl<R: HashReader> HashReader for RangeReader<R> {
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, vitrine_tlog::Error> {
        let unavailable = vitrine_tlog::Error::HashUnavailable { level, index };
        let end = (u128::from(index) + 1) << level;
        if end <= u128::from(self.start) {
            return self.tiles.read_node(level, index);
        }
        if level == 0 {
            let i = index.checked_sub(self.start).ok_or(unavailable.clone())?;
            return usize::try_from(i)
                .ok()
                .and_then(|i| self.leaves.get(i))
                .copied()
                .ok_or(unavailable);
        }
        Ok(node_hash(
            &self.read_node(level - 1, 2 * index)?,
            &self.read_node(level - 1, 2 * index + 1)?,
        ))
    }
}

/// The entries of `[start, size)` that matter to an endpoint, read from
/// the log's entry bundles, with every leaf hash.
struct Entries {
    leaves: Vec<Hash>,
    /// (index, note) of every entry that looks like a `rules` statement.
    rules: Vec<(u64, Vec<u8>)>,
    /// (index, note) of every entry that looks like a `review` statement.
    reviews: Vec<(u64, Vec<u8>)>,
    /// (index, note) of every entry that looks like a `release` statement.
    releases: Vec<(u64, Vec<u8>)>,
}

impl Entries {
    /// The newest `rules` statement signed by a publisher that `pick`
    /// accepts, as (index, note).
    fn newest_rules(
        &self,
        publishers: &Verifiers,
        pick: impl Fn(&vitrine_statements::Rules) -> bool,
    ) -> Option<(u64, Vec<u8>)> {
        self.rules
            .iter()
            .rev()
            .find(|(_, e)| {
                matches!(Statement::open(e, publishers), Ok((Statement::Rules(r), _)) if pick(&r))
            })
            .cloned()
    }
}

fn read_entries(http: &Http, start: u64, size: u64) -> Result<Entries, FetchError> {
    let rules_header = format!("{}\n", StatementType::Rules.header());
    let review_header = format!("{}\n", StatementType::Review.header());
    let release_header = format!("{}\n", StatementType::Release.header());
    let mut out = Entries {
        leaves: Vec::new(),
        rules: Vec::new(),
        reviews: Vec::new(),
        releases: Vec::new(),
    };
    let mut leaf = start;
    while leaf < size {
        let (first, entries) = fetch_entries(http, size, leaf)?;
        for (i, e) in entries.into_iter().enumerate() {
            let index = first + i as u64;
            if index < start {
                continue;
            }
            out.leaves.push(leaf_hash(&e));
            if e.starts_with(rules_header.as_bytes()) {
                out.rules.push((index, e));
            } else if e.starts_with(review_header.as_bytes()) {
                out.reviews.push((index, e));
            } else if e.starts_with(release_header.as_bytes()) {
                out.releases.push((index, e));
            }
        }
        leaf = start + out.leaves.len() as u64;
    }
    Ok(out)
}

/// A checkpoint verified online, with nothing newer to install: the
/// endpoint is up to date (see [`store_up_to_date`]).
#[derive(Debug, Clone)]
pub struct UpToDate {
    /// The log's origin.
    pub origin: String,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Policy names of the witnesses that cosigned it.
    pub witnesses: Vec<String>,
    note: Vec<u8>,
    stored_before: Option<(u64, Hash)>,
}

/// What [`fetch_update`] found.
#[derive(Debug)]
pub enum Fetched {
    /// A newer statement (or the active bundle's own): verified, ready for
    /// [`crate::activate`].
    Update(Box<VerifiedUpdate>),
    /// No `rules` statement since the stored checkpoint, and a bundle is
    /// active.
    UpToDate(UpToDate),
    /// Policy with `bundle` lines: the newest statement of each channel
    /// that has one (at least one), each verified under the same
    /// checkpoint, in policy order. Activate them in this order; once one
    /// advanced the stored checkpoint the others still activate
    /// ([`crate::activate`] accepts the very checkpoint they were verified
    /// under).
    Channels(Vec<VerifiedUpdate>),
}

/// Stores the checkpoint of an [`UpToDate`] if it is newer than the stored
/// one (so the next update's fork baseline does not lag); returns whether
/// it did.
pub fn store_up_to_date(state: &EndpointState, up: &UpToDate) -> Result<bool, UpdateError> {
    let now = state
        .stored_checkpoint(&up.origin)?
        .map(|s| (s.size, s.root));
    if now != up.stored_before || state.fork_evidence(&up.origin)?.is_some() {
        return Err(UpdateError::StateChanged);
    }
    if now.is_some_and(|(size, _)| size >= up.checkpoint.size) {
        return Ok(false);
    }
    state.store_checkpoint(&up.origin, &up.note)?;
    Ok(true)
}

/// Fetches an update from the log at `log_url`:
///
/// 1. `/checkpoint`: the log's signature, the witnesses' cosignatures and
///    quorum, the fork comparison with the stored checkpoint (same size),
///    freshness — all before any tile or bundle byte is read;
/// 2. every entry since the stored checkpoint (since 0 on a first update),
///    hashed and checked, with the tiles before it, against the signed root,
///    so no entry can be replaced, hidden or skipped;
/// 3. the fork comparison of the stored checkpoint against the new tree's
///    own hashes (proven forks are recorded);
/// 4. the newest `rules` statement by a policy publisher in those entries,
///    its inclusion proof, the review statements logged with it, the
///    bundle (never more than the limit), and [`verify_update`].
///
/// Everything ends by `opts.deadline`. Tiles are not trusted: every hash
/// used is checked against the signed checkpoint.
pub fn fetch_update(
    policy: &TrustPolicy,
    state: &EndpointState,
    log_url: &str,
    now: u64,
    opts: &FetchOptions,
) -> Result<Fetched, UpdateError> {
    let http = Http::new(log_url, opts.timeout, Some(opts.deadline))?;
    let limits = policy.limits();

    // 1. The checkpoint.
    let cp_bytes = http.get("checkpoint", limits.checkpoint)?;
    let note = Note::parse(&cp_bytes).map_err(log_err)?;
    let cp = Checkpoint::parse(note.text()).map_err(log_err)?;
    let origin = cp.origin.clone();
    let log = policy
        .tlog()
        .log_for_origin(&origin)
        .ok_or_else(|| Rejection::UnknownLog {
            origin: origin.clone(),
        })?;
    if let Some(ev) = state.fork_evidence(&origin)? {
        return Err(UpdateError::LogFrozenByFork {
            evidence: state.fork_path(&ev.origin),
            origin: ev.origin,
        });
    }
    note.verify(&Verifiers::from_keys([log.key.clone()]))
        .map_err(|_| Rejection::BadLogSignature {
            origin: origin.clone(),
        })?;
    let cp_note = note.to_bytes();
    let cosigs = verify_cosignatures(policy, &note)?;
    let stored = state.stored_checkpoint(&origin)?;
    if stored.as_ref().is_some_and(|s| s.size == cp.size) {
        check_fork(state, now, &cp, &cp_note, &[])?;
    }
    check_fresh(policy, &cosigs, now)?;
    let witnesses: Vec<String> = policy
        .tlog()
        .witness_names_for(&cosigs)
        .into_iter()
        .collect();
    let size = cp.size;
    let start = match &stored {
        Some(old) if old.size > size => {
            return Err(Rejection::OlderCheckpoint {
                stored: old.size,
                new: size,
            }
            .into())
        }
        Some(old) => old.size,
        None => 0,
    };

    // 2. Every entry since the stored checkpoint, checked against the root.
    let mut entries = read_entries(&http, start, size)?;
    let mut start = start;
    let active = state.active()?;
    let publishers = policy.publisher_verifiers();
    let newest = |entries: &Entries| entries.newest_rules(&publishers, |_| true);
    let channels = policy.bundles();
    // With channels: a followed channel with no active bundle may have
    // been published before the stored checkpoint, so the whole log is
    // read (until every channel has a bundle).
    let mut any_active = active.is_some();
    let mut all_active = true;
    for c in channels {
        let a = state.active_in(Some(c))?.is_some();
        any_active |= a;
        all_active &= a;
    }
    let mut found = newest(&entries);
    let read_all = if channels.is_empty() {
        found.is_none() && active.is_none()
    } else {
        !all_active
    };
    if read_all && start > 0 {
        // Nothing active and nothing new: look at the whole log.
        let mut earlier = read_entries(&http, 0, start)?;
        earlier.leaves.append(&mut entries.leaves);
        earlier.rules.append(&mut entries.rules);
        earlier.reviews.append(&mut entries.reviews);
        entries = earlier;
        start = 0;
        found = newest(&entries);
    }
    // With channels: the newest statement naming each followed bundle.
    // Statements without a bundle name (written before channels) are not
    // searched here; an update directory can still carry them.
    let per_channel: Vec<(u64, Vec<u8>)> = channels
        .iter()
        .filter_map(|c| {
            entries.newest_rules(&publishers, |r| {
                r.bundle.as_ref().is_some_and(|b| b.as_str() == c)
            })
        })
        .collect();
    let reader = RangeReader {
        tiles: tile_reader(&http, size),
        start,
        leaves: std::mem::take(&mut entries.leaves),
    };
    if tree_root(&reader, size).map_err(log_err)? != cp.root {
        return Err(Rejection::LogDataMismatch { size }.into());
    }

    // 3. The stored checkpoint against the new tree's own hashes.
    let consistency = match &stored {
        Some(old) if old.size < size => {
            let mut proof = consistency_proof(&reader, old.size, size).map_err(log_err)?;
            if old.size.is_power_of_two() {
                // The RFC proof omits the node for [0, old size); with it a
                // different prefix is provable.
                let prefix = tree_root(&reader, old.size).map_err(log_err)?;
                if prefix != old.root {
                    proof.insert(0, prefix);
                }
            }
            check_fork(state, now, &cp, &cp_note, &proof)?;
            proof
        }
        _ => Vec::new(),
    };

    // 4. The newest rules statement (of each channel), or up to date.
    let up_to_date = || UpToDate {
        origin: origin.clone(),
        checkpoint: cp.clone(),
        witnesses: witnesses.clone(),
        note: cp_note.clone(),
        stored_before: stored.as_ref().map(|s| (s.size, s.root)),
    };
    let found: Vec<(u64, Vec<u8>)> = match (opts.index, found) {
        (Some(i), _) => {
            if i >= size {
                return Err(log_err(format!("index {i} is past the tree size {size}")).into());
            }
            vec![(i, fetch_entry(&http, size, i)?)]
        }
        (None, _) if !channels.is_empty() => {
            if per_channel.is_empty() {
                if !any_active {
                    return Err(log_err(format!(
                        "no rules statement by a policy publisher for the policy's bundles ({})",
                        channels.join(", ")
                    ))
                    .into());
                }
                return Ok(Fetched::UpToDate(up_to_date()));
            }
            per_channel
        }
        (None, Some(f)) => vec![f],
        (None, None) => {
            if active.is_none() {
                return Err(log_err("no rules statement by a policy publisher in the log").into());
            }
            return Ok(Fetched::UpToDate(up_to_date()));
        }
    };
    let logged = |index: u64| -> Result<Vec<u8>, UpdateError> {
        let proof = inclusion_proof(&reader, index, size).map_err(log_err)?;
        Ok(TlogProof::new(None, index, proof, note.clone())
            .map_err(log_err)?
            .to_bytes())
    };
    // Reviews logged since the stored checkpoint (read and checked above),
    // each with its inclusion proof under this checkpoint.
    let mut reviews = Vec::new();
    if policy.require_reviews() > 0 {
        for (i, e) in entries.reviews.into_iter().rev().take(1024) {
            reviews.push(LoggedReview {
                statement: e,
                tlog_proof: logged(i)?,
            });
        }
    }
    let single = opts.index.is_some() || channels.is_empty();
    let mut verified = Vec::new();
    for (index, statement) in found {
        let tlog_proof = logged(index)?;
        let bundle =
            match Statement::parse(Note::parse(&statement).map_err(log_err)?.text().as_bytes()) {
                Ok(Statement::Rules(r)) => http.get(
                    &format!("content/sha256/{}", hex::encode(r.sha256.0)),
                    limits.bundle,
                )?,
                _ => Vec::new(), // verify_update names the problem
            };
        verified.push(verify_update(
            policy,
            state,
            now,
            UpdateInput {
                bundle,
                statement,
                tlog_proof,
                consistency_proof: consistency.clone(),
                reviews: reviews.clone(),
            },
        )?);
    }
    if single {
        let v = verified.pop().expect("invariant: one statement found");
        return Ok(Fetched::Update(Box::new(v)));
    }
    Ok(Fetched::Channels(verified))
}

fn fetch_entries(http: &Http, size: u64, leaf: u64) -> Result<(u64, Vec<Vec<u8>>), FetchError> {
    let path = bundle_for_leaf(size, leaf).ok_or_else(|| log_err("index past the tree"))?;
    let data = http.get(&path.to_string(), MAX_TILE)?;
    let entries = decode_entry_bundle(&data).map_err(log_err)?;
    if entries.len() != usize::from(path.width()) {
        return Err(log_err("entry bundle width mismatch"));
    }
    Ok((path.index() * 256, entries))
}

fn fetch_entry(http: &Http, size: u64, index: u64) -> Result<Vec<u8>, FetchError> {
    let (first, mut entries) = fetch_entries(http, size, index)?;
    let i = usize::try_from(index - first).map_err(log_err)?;
    Ok(entries.swap_remove(i))
}

/// How long [`publish`] waits before adding again after a 503.
const ADD_RETRY: Duration = Duration::from_secs(1);

/// Publishes a bundle: uploads it to the content store (signed `PUT`),
/// submits the statement to `/add`, polls `/checkpoint` until one covering
/// the entry has a witness quorum per `policy`, and returns the tlog-proof
/// (index, inclusion proof, the cosigned checkpoint verbatim).
pub fn publish(
    policy: &TrustPolicy,
    log_url: &str,
    publisher: &SignerKey,
    bundle: &[u8],
    statement: &[u8],
    opts: &PublishOptions,
) -> Result<Vec<u8>, UpdateError> {
    let http = Http::new(log_url, opts.timeout, None)?;
    let hex = hex::encode(Sha256::digest(bundle));
    let sig = publisher
        .sign(&format!("vitrine-content-put\n{hex}\n"))
        .map_err(log_err)?;
    let line = sig.to_line();
    let header = line.trim_start_matches('\u{2014}').trim().to_owned();
    let url = http.url(&format!("content/sha256/{hex}"));
    let (status, body) = http.send(
        &url,
        http.client
            .put(&url)
            .header("Vitrine-Signature", header)
            .body(bundle.to_vec()),
        4096,
    )?;
    ok(&url, status, body)?;

    let url = http.url("add");
    let asked = Instant::now();
    let body = loop {
        // An index is a few bytes; an error says why in a sentence.
        let (status, body) =
            http.send(&url, http.client.post(&url).body(statement.to_vec()), 1024)?;
        // 503: no sequencer at the moment (an election under way among
        // several front ends, the log's database away). Adding the same
        // bytes again is harmless (same index), so try again within --wait.
        if status == 503 && asked.elapsed() + ADD_RETRY < opts.wait {
            std::thread::sleep(ADD_RETRY);
            continue;
        }
        break ok(&url, status, body)?;
    };
    let index: u64 = std::str::from_utf8(&body)
        .ok()
        .and_then(|s| s.trim_end().parse().ok())
        .ok_or_else(|| log_err("/add answered no index"))?;

    let start = Instant::now();
    loop {
        let (opened, quorum) = fetch_checkpoint(&http, policy)?;
        if quorum && opened.checkpoint.size > index {
            let size = opened.checkpoint.size;
            let proof = inclusion_proof(&tile_reader(&http, size), index, size).map_err(log_err)?;
            let tlog_proof = TlogProof::new(None, index, proof, opened.note).map_err(log_err)?;
            // Check our own work before handing it out.
            tlog_proof
                .verify(
                    &vitrine_tlog::leaf_hash(statement),
                    &opened.log_signature.key().clone(),
                    &policy.tlog().witness_verifiers(),
                )
                .map_err(log_err)?;
            return Ok(tlog_proof.to_bytes());
        }
        if start.elapsed() >= opts.wait {
            return Err(FetchError::Timeout {
                index,
                waited_ms: start.elapsed().as_millis() as u64,
            }
            .into());
        }
        std::thread::sleep(opts.poll);
    }
}

/// The `rules`, `review` and `release` statements of a log, read under a
/// checkpoint verified per the policy (see [`read_log`]).
#[derive(Debug, Clone)]
pub struct LogStatements {
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Policy names of the witnesses that cosigned it.
    pub witnesses: Vec<String>,
    /// (index, note) of every entry that is a `rules` statement, in log
    /// order (signatures not yet checked).
    pub rules: Vec<(u64, Vec<u8>)>,
    /// (index, note) of every entry that is a `review` statement, in log
    /// order (signatures not yet checked).
    pub reviews: Vec<(u64, Vec<u8>)>,
    /// (index, note) of every entry that is a `release` statement, in log
    /// order (signatures not yet checked).
    pub releases: Vec<(u64, Vec<u8>)>,
}

/// Reads the whole log at `log_url` for people who look at it rather than
/// install from it (reviewers, `vitrine review list`): the checkpoint must
/// carry the log's signature and the policy's witness quorum, and every
/// entry is re-hashed to its root, so nothing listed can have been
/// slipped in or hidden by the server. Statements are returned as logged;
/// callers open them with the keys they trust.
pub fn read_log(
    policy: &TrustPolicy,
    log_url: &str,
    opts: &FetchOptions,
) -> Result<LogStatements, UpdateError> {
    let http = Http::new(log_url, opts.timeout, Some(opts.deadline))?;
    let (opened, quorum) = fetch_checkpoint(&http, policy)?;
    let witnesses: Vec<String> = policy
        .tlog()
        .witness_names_for(&opened.cosignatures)
        .into_iter()
        .collect();
    if !quorum {
        return Err(Rejection::QuorumNotMet {
            cosigned: witnesses,
        }
        .into());
    }
    let size = opened.checkpoint.size;
    let mut entries = read_entries(&http, 0, size)?;
    let reader = RangeReader {
        tiles: tile_reader(&http, size),
        start: 0,
        leaves: std::mem::take(&mut entries.leaves),
    };
    if tree_root(&reader, size).map_err(log_err)? != opened.checkpoint.root {
        return Err(Rejection::LogDataMismatch { size }.into());
    }
    Ok(LogStatements {
        checkpoint: opened.checkpoint,
        witnesses,
        rules: entries.rules,
        reviews: entries.reviews,
        releases: entries.releases,
    })
}
