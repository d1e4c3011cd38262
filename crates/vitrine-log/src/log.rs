//! The log: validation, the sequencer thread, and reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use vitrine_note::{Note, Signature, SignerKey, VerifierKey, Verifiers};
use vitrine_statements::Statement;
use vitrine_tlog::{
    consistency_proof, decode_entry_bundle, encode_entry_bundle, leaf_hash, open_checkpoint,
    tree_root, Checkpoint, Hash, TileHashReader, TileKind, TilePath,
};

use crate::merkle::Edge;
use crate::storage::Storage;
use crate::tile::{covered_size, partial_tile, with_kind, TILE_WIDTH};
use crate::{AddError, Error};

/// Largest entry (whole signed statement note) the log accepts by default.
pub const DEFAULT_MAX_ENTRY: usize = 16 * 1024;

/// Witnesses' cosignatures are gathered through this hook before a
/// checkpoint is published (the witness protocol is a later issue).
///
/// Contract: called by the sequencer thread with the log-signed new
/// checkpoint and a consistency proof from the previously published one.
/// Returning `Ok` with signatures appends them to the checkpoint; returning
/// `Err` fails the batch (nothing is published, submitters get an error).
/// It may block; the sequencer waits.
///
/// With [`LogBuilder::recosign_interval`] the hook is also asked, when no
/// entries arrived for that long, to cosign *the published checkpoint
/// again*: `old_size` equals the new size and the proof is empty, which
/// tlog-witness allows (same size, same root). The fresh cosignatures
/// replace the old ones, so the published checkpoint stays fresh for
/// endpoints that require recent cosignatures (`max-age`) while nothing is
/// published.
///
/// The checkpoint is durably recorded as signed before the hook sees it,
/// and after an `Err` the log asks again with *the same* checkpoint (the
/// next batch, a timer, or a restart triggers the retry) until it is
/// published; it never asks about a different tree of that size. So a
/// witness that cosigned during a failed attempt is asked for the same
/// checkpoint again, which tlog-witness lets it cosign again.
pub trait Cosigner: Send + Sync {
    /// Gathers cosignatures for `request.new`.
    fn cosign(&self, request: &CosignRequest<'_>) -> Result<Vec<Signature>, CosignError>;
}

/// What a [`Cosigner`] is asked to cosign.
#[derive(Debug)]
pub struct CosignRequest<'a> {
    /// The checkpoint published before (signed note bytes).
    pub old: &'a [u8],
    /// Its tree size.
    pub old_size: u64,
    /// The new checkpoint, signed by the log.
    pub new: &'a Note,
    /// RFC 6962 consistency proof from `old_size` to the new size.
    pub proof: &'a [Hash],
}

/// A [`Cosigner`] failure.
#[derive(Debug, thiserror::Error)]
#[error("cosigning failed: {reason}")]
pub struct CosignError {
    /// Why.
    pub reason: String,
}

/// Configures and opens a [`Log`].
pub struct LogBuilder {
    storage: Arc<dyn Storage>,
    key: SignerKey,
    auth: AuthSource,
    purpose: Option<crate::Purpose>,
    batch_max: usize,
    batch_wait: Duration,
    max_entry: usize,
    cosigner: Option<Arc<dyn Cosigner>>,
    retry: Duration,
    recosign: Option<Duration>,
    metrics: Option<Arc<crate::LogMetrics>>,
}

impl LogBuilder {
    /// Counts into `metrics` instead of metrics of its own (a front end
    /// that leads now and then keeps one set across its terms).
    pub fn metrics(mut self, metrics: Arc<crate::LogMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Who may make which statements (default: nobody).
    pub fn authorization(mut self, auth: crate::Authorization) -> Self {
        self.auth = AuthSource::Fixed(Arc::new(auth));
        self
    }

    /// Who may make which statements, read from an `authorized` file and
    /// read again whenever it changes (see [`crate::AuthorizedFile`]).
    pub fn authorization_file(mut self, file: crate::AuthorizedFile) -> Self {
        self.auth = AuthSource::File(Arc::new(file));
        self
    }

    /// Takes only statements of `purpose`'s types, whatever the
    /// authorization allows (default: any type, for logs made before logs
    /// were split by purpose).
    pub fn purpose(mut self, purpose: Option<crate::Purpose>) -> Self {
        self.purpose = purpose;
        self
    }

    /// A batch is sequenced when it holds `max` entries or `wait` after its
    /// first entry arrived, whichever comes first (default 256, 50 ms).
    pub fn batch(mut self, max: usize, wait: Duration) -> Self {
        self.batch_max = max.max(1);
        self.batch_wait = wait;
        self
    }

    /// Largest entry accepted, at most 65,535 (default 16 KiB).
    pub fn max_entry(mut self, bytes: usize) -> Self {
        self.max_entry = bytes.min(usize::from(u16::MAX));
        self
    }

    /// Gathers cosignatures before each checkpoint is published.
    pub fn cosigner(mut self, cosigner: Arc<dyn Cosigner>) -> Self {
        self.cosigner = Some(cosigner);
        self
    }

    /// While a signed checkpoint is waiting to be published (its witnesses
    /// or publishing failed), the sequencer retries it this often even if
    /// no entries arrive (default 5 s); each new batch retries it too.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry = interval.max(Duration::from_millis(1));
        self
    }

    /// With a cosigner, re-collects cosignatures for the published
    /// checkpoint when none were collected for `interval` (no publication
    /// in between), and publishes the checkpoint with the fresh ones
    /// (default: never). Endpoints refuse checkpoints whose cosignatures
    /// are older than their policy's `max-age`, so on a quiet log the
    /// interval plus the witness timeout must stay well below it.
    pub fn recosign_interval(mut self, interval: Option<Duration>) -> Self {
        self.recosign = interval.map(|i| i.max(Duration::from_millis(1)));
        self
    }

    /// Recovers the log's state from storage and starts the sequencer. A
    /// checkpoint that was signed but not published (see
    /// [`Storage::set_signed_checkpoint`]) is published first.
    /// Fails with [`Error::NotInitialized`] on an empty store (see
    /// [`crate::init`]) and [`Error::Corrupt`] if the stored tiles do not
    /// match the published checkpoint.
    pub fn open(self) -> Result<Log, Error> {
        let vkey = self.key.verifier();
        let seq = recover(&*self.storage, &vkey)?;
        let published = Arc::new(RwLock::new(Published {
            size: seq.published_size,
            checkpoint: seq.published.clone().into(),
        }));
        let metrics = self.metrics.unwrap_or_default();
        metrics
            .tree_size
            .set(i64::try_from(seq.published_size).unwrap_or(i64::MAX));
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut sequencer = Sequencer {
            storage: self.storage.clone(),
            key: self.key,
            vkey: vkey.clone(),
            batch_max: self.batch_max,
            batch_wait: self.batch_wait,
            cosigner: self.cosigner,
            retry: self.retry,
            recosign: self.recosign,
            // A restarted log may serve stale cosignatures: refresh at once.
            next_recosign: self.recosign.map(|_| Instant::now()),
            published: published.clone(),
            seq: Some(seq),
            metrics: metrics.clone(),
        };
        let thread = thread::Builder::new()
            .name("vitrine-sequencer".into())
            .spawn(move || sequencer.run(rx))
            .map_err(|err| Error::Thread { err })?;
        Ok(Log {
            storage: self.storage,
            vkey,
            auth: self.auth,
            purpose: self.purpose,
            max_entry: self.max_entry,
            published,
            tx: Some(tx),
            thread: Some(thread),
            metrics,
        })
    }
}

/// Creates the first checkpoint (empty tree) in an empty store; a store
/// that already has a checkpoint is left alone and reported as
/// [`Error::AlreadyInitialized`].
pub fn init(storage: &dyn Storage, key: &SignerKey) -> Result<(), Error> {
    if storage.read_checkpoint()?.is_some() {
        return Err(Error::AlreadyInitialized);
    }
    let note = Checkpoint::new(key.name(), 0, vitrine_tlog::empty_root())
        .sign(key)
        .map_err(Error::Sign)?;
    storage.swap_checkpoint(None, &note.to_bytes())?;
    Ok(())
}

/// Where the log's authorization comes from.
#[derive(Clone)]
enum AuthSource {
    Fixed(Arc<crate::Authorization>),
    File(Arc<crate::AuthorizedFile>),
}

struct Published {
    size: u64,
    checkpoint: Arc<[u8]>,
}

struct Request {
    entry: Vec<u8>,
    hash: Hash,
    reply: oneshot::Sender<Result<u64, AddError>>,
}

/// A running log: accepts statements, sequences them on its own thread,
/// and serves its checkpoint and tiles. Dropping it (or [`Log::close`])
/// stops the sequencer after the batch in progress.
pub struct Log {
    storage: Arc<dyn Storage>,
    vkey: VerifierKey,
    auth: AuthSource,
    purpose: Option<crate::Purpose>,
    max_entry: usize,
    published: Arc<RwLock<Published>>,
    tx: Option<Sender<Request>>,
    thread: Option<thread::JoinHandle<()>>,
    metrics: Arc<crate::LogMetrics>,
}

impl Log {
    /// Starts configuring a log over `storage`, signing with `key` (its name
    /// is the origin).
    pub fn builder(storage: Arc<dyn Storage>, key: SignerKey) -> LogBuilder {
        LogBuilder {
            storage,
            key,
            auth: AuthSource::Fixed(Arc::new(crate::Authorization::new())),
            purpose: None,
            batch_max: 256,
            batch_wait: Duration::from_millis(50),
            max_entry: DEFAULT_MAX_ENTRY,
            cosigner: None,
            retry: Duration::from_secs(5),
            recosign: None,
            metrics: None,
        }
    }

    /// The log's public key; its name is the origin.
    pub fn verifier(&self) -> &VerifierKey {
        &self.vkey
    }

    /// The largest entry accepted.
    pub fn max_entry(&self) -> usize {
        self.max_entry
    }

    /// Checks that `note` is a statement signed by a key allowed to make its
    /// type, without sequencing it.
    pub fn validate(&self, note: &[u8]) -> Result<Statement, AddError> {
        if note.len() > self.max_entry {
            return Err(AddError::TooLarge {
                len: note.len(),
                max: self.max_entry,
            });
        }
        let statement = self.authorization()?.open(note)?;
        match self.purpose {
            Some(purpose) if !purpose.accepts(statement.kind()) => {
                Err(AddError::Rejected(crate::Rejection::WrongLog {
                    kind: statement.kind(),
                    purpose,
                }))
            }
            _ => Ok(statement),
        }
    }

    /// What this log is for, if it was given a purpose.
    pub fn purpose(&self) -> Option<crate::Purpose> {
        self.purpose
    }

    /// Who may make which statements now (an authorization file is read
    /// again if it changed).
    pub fn authorization(&self) -> Result<Arc<crate::Authorization>, AddError> {
        match &self.auth {
            AuthSource::Fixed(a) => Ok(a.clone()),
            AuthSource::File(f) => f.current(),
        }
    }

    /// Validates and sequences `note`; resolves to its index once a
    /// checkpoint covering it is durably published. Submitting the same
    /// bytes again resolves to the same index.
    pub async fn add(&self, note: Vec<u8>) -> Result<u64, AddError> {
        let start = Instant::now();
        let result = self.submit(note)?.await.unwrap_or(Err(AddError::Closed));
        if result.is_ok() {
            self.metrics
                .add_latency
                .observe(start.elapsed().as_secs_f64());
        }
        result
    }

    /// Whether the storage answers: reads the published checkpoint.
    pub fn check_storage(&self) -> Result<(), Error> {
        self.storage
            .read_checkpoint()?
            .ok_or(Error::NotInitialized)?;
        Ok(())
    }

    /// What this log measured since it started.
    pub fn metrics(&self) -> &crate::LogMetrics {
        &self.metrics
    }

    /// [`Log::add`] for synchronous callers (not from an async runtime).
    pub fn add_blocking(&self, note: Vec<u8>) -> Result<u64, AddError> {
        self.submit(note)?
            .blocking_recv()
            .unwrap_or(Err(AddError::Closed))
    }

    fn submit(&self, entry: Vec<u8>) -> Result<oneshot::Receiver<Result<u64, AddError>>, AddError> {
        self.validate(&entry)?;
        let (reply, rx) = oneshot::channel();
        let hash = Sha256::digest(&entry).into();
        self.tx
            .as_ref()
            .ok_or(AddError::Closed)?
            .send(Request { entry, hash, reply })
            .map_err(|_| AddError::Closed)?;
        Ok(rx)
    }

    /// The published checkpoint (signed note bytes).
    pub fn checkpoint(&self) -> Arc<[u8]> {
        self.read_published().checkpoint.clone()
    }

    /// The published tree size.
    pub fn size(&self) -> u64 {
        self.read_published().size
    }

    fn read_published(&self) -> std::sync::RwLockReadGuard<'_, Published> {
        self.published.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A tile or entry bundle, if its content is fixed by the published
    /// tree (so it is immutable) and it exists. Tiles past the published
    /// size are never returned, even if a batch in progress wrote them.
    pub fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, Error> {
        match covered_size(path) {
            Some(n) if n <= self.size() => Ok(self.storage.read_tile(path)?),
            _ => Ok(None),
        }
    }

    /// Stops the sequencer and waits for it; requests still queued are
    /// answered with [`AddError::Closed`].
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the sequencer knows: the tip of the tree (the newest signed
/// checkpoint, or the published one) and the published checkpoint.
struct Seq {
    /// Tip size: the next index.
    size: u64,
    edge: Edge,
    /// Entries of the partial entry bundle at the tip.
    bundle: Vec<Vec<u8>>,
    /// The published checkpoint (signed note bytes).
    published: Vec<u8>,
    published_size: u64,
    /// The log-signed checkpoint of the tip, if it is not published yet.
    pending: Option<Vec<u8>>,
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt { what: what.into() }
}

/// Re-derives the sequencer's state from storage: the tip is the signed
/// checkpoint if it is ahead of the published one (those entries are
/// committed to), else the published checkpoint; what a failed batch may
/// have left past the tip is cleared.
fn recover(storage: &dyn Storage, vkey: &VerifierKey) -> Result<Seq, Error> {
    let published = storage.read_checkpoint()?.ok_or(Error::NotInitialized)?;
    let opened = open_checkpoint(&published, vkey, &Verifiers::new())
        .map_err(|e| corrupt(format!("published checkpoint: {e}")))?;
    let published_size = opened.checkpoint.size;
    let (mut size, mut root) = (published_size, opened.checkpoint.root);
    let mut pending = None;
    if let Some(signed) = storage.signed_checkpoint()? {
        let cp = open_checkpoint(&signed, vkey, &Verifiers::new())
            .map_err(|e| corrupt(format!("signed checkpoint: {e}")))?
            .checkpoint;
        if cp.size > size {
            tracing::warn!(
                published = size,
                signed = cp.size,
                "resuming a signed but unpublished checkpoint"
            );
            (size, root) = (cp.size, cp.root);
            pending = Some(signed);
        } else if (cp.size, cp.root) != (size, root) {
            // Published is always the signed one or older; anything else
            // means the store was tampered with or mixed up.
            return Err(corrupt(format!(
                "signed checkpoint (size {}) contradicts the published one (size {size})",
                cp.size
            )));
        }
    }
    if let Some(staged) = storage.staged_size()? {
        // Partial tiles written for the staged size whose content is not
        // fixed by the tip's entries would be stale once different entries
        // are sequenced there; full ones are always rewritten before they
        // become readable.
        let stale: Vec<TilePath> = all_kinds()
            .filter_map(|kind| partial_tile(kind, staged))
            .filter(|p| covered_size(p).is_none_or(|n| n > size))
            .collect();
        if staged > size && !stale.is_empty() {
            tracing::warn!(
                size,
                staged,
                "discarding partial tiles of an unsigned batch"
            );
            storage.delete_tiles(&stale)?;
        }
    }
    storage.forget_from(size)?;

    let mut edge = Edge::default();
    for level in 0..=vitrine_tlog::MAX_TILE_LEVEL {
        if size >> (8 * u32::from(level)) == 0 {
            break;
        }
        let hashes = match partial_tile(TileKind::Hashes { level }, size) {
            None => Vec::new(),
            Some(path) => {
                let bytes = storage
                    .read_tile(&path)?
                    .ok_or_else(|| corrupt(format!("{path} missing")))?;
                if bytes.len() != usize::from(path.width()) * 32 {
                    return Err(corrupt(format!("{path} has {} bytes", bytes.len())));
                }
                bytes
                    .chunks_exact(32)
                    .map(|c| c.try_into().expect("invariant: chunks of 32"))
                    .collect()
            }
        };
        edge.levels.push(hashes);
    }
    let bundle = match partial_tile(TileKind::Entries, size) {
        None => Vec::new(),
        Some(path) => {
            let bytes = storage
                .read_tile(&path)?
                .ok_or_else(|| corrupt(format!("{path} missing")))?;
            let entries =
                decode_entry_bundle(&bytes).map_err(|e| corrupt(format!("{path}: {e}")))?;
            let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            if edge.levels.first() != Some(&hashes) {
                return Err(corrupt(format!("{path} does not match its level-0 tile")));
            }
            entries
        }
    };
    if edge.root() != root {
        return Err(corrupt(format!(
            "stored tiles do not hash to the {} root",
            if pending.is_some() {
                "signed"
            } else {
                "published"
            }
        )));
    }
    if pending.is_some() {
        let at_published = tree_root(&tile_reader(storage, size), published_size)
            .map_err(|e| corrupt(format!("tree at the published size: {e}")))?;
        if at_published != opened.checkpoint.root {
            return Err(corrupt(
                "signed checkpoint is inconsistent with the published one",
            ));
        }
    }
    Ok(Seq {
        size,
        edge,
        bundle,
        published,
        published_size,
        pending,
    })
}

/// Reads hashes of a tree of `size` from the stored tiles.
fn tile_reader(
    storage: &dyn Storage,
    size: u64,
) -> TileHashReader<impl Fn(&TilePath) -> Result<Vec<u8>, vitrine_tlog::Error> + '_> {
    TileHashReader::new(size, move |path: &TilePath| {
        storage
            .read_tile(path)
            .ok()
            .flatten()
            .ok_or(vitrine_tlog::Error::TileUnavailable {
                path: path.to_string(),
            })
    })
}

fn all_kinds() -> impl Iterator<Item = TileKind> {
    std::iter::once(TileKind::Entries)
        .chain((0..=vitrine_tlog::MAX_TILE_LEVEL).map(|level| TileKind::Hashes { level }))
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

struct Sequencer {
    storage: Arc<dyn Storage>,
    key: SignerKey,
    vkey: VerifierKey,
    batch_max: usize,
    batch_wait: Duration,
    cosigner: Option<Arc<dyn Cosigner>>,
    retry: Duration,
    recosign: Option<Duration>,
    /// When to re-collect cosignatures for the published checkpoint.
    next_recosign: Option<Instant>,
    published: Arc<RwLock<Published>>,
    /// `None` after a failure, until recovery succeeds.
    seq: Option<Seq>,
    metrics: Arc<crate::LogMetrics>,
}

/// A new entry of a batch and everyone waiting for it.
struct Fresh {
    entry: Vec<u8>,
    hash: Hash,
    replies: Vec<oneshot::Sender<Result<u64, AddError>>>,
}

impl Sequencer {
    fn run(&mut self, rx: Receiver<Request>) {
        // A checkpoint signed before a restart goes out first. Errors are
        // logged by `settle` and retried below.
        let _ = self.settle();
        loop {
            let first = if self.unsettled() {
                match rx.recv_timeout(self.retry) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = self.settle();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else if let (Some(next), true) = (self.next_recosign, self.cosigner.is_some()) {
                match rx.recv_deadline(next) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        self.recosign();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + self.batch_wait;
            while batch.len() < self.batch_max {
                match rx.recv_deadline(deadline) {
                    Ok(r) => batch.push(r),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.sequence(batch);
        }
    }

    /// Whether the state must be recovered or a signed checkpoint is
    /// waiting to be published.
    fn unsettled(&self) -> bool {
        self.seq.as_ref().is_none_or(|s| s.pending.is_some())
    }

    /// Recovers the state if needed and publishes a pending signed
    /// checkpoint; on failure the state is dropped for the next attempt.
    fn settle(&mut self) -> Result<(), Error> {
        let result = self.try_settle();
        if let Err(err) = &result {
            tracing::error!(%err, "cannot publish the signed checkpoint yet; will retry");
            self.seq = None;
        }
        result
    }

    fn try_settle(&mut self) -> Result<(), Error> {
        if self.seq.is_none() {
            self.seq = Some(recover(&*self.storage, &self.vkey)?);
        }
        self.publish_pending()
    }

    fn sequence(&mut self, batch: Vec<Request>) {
        if let Err(err) = self.settle() {
            let err = Arc::new(err);
            for r in batch {
                let _ = r.reply.send(Err(AddError::Unavailable(err.clone())));
            }
            return;
        }
        let size = self.seq.as_ref().expect("invariant: settled above").size;
        let hashes: Vec<Hash> = batch.iter().map(|r| r.hash).collect();
        let found = match self.storage.lookup_many(&hashes) {
            Ok(found) => found,
            Err(err) => {
                let err = Arc::new(err.into());
                for r in batch {
                    let _ = r.reply.send(Err(AddError::Unavailable(Arc::clone(&err))));
                }
                return;
            }
        };
        let mut fresh: Vec<Fresh> = Vec::new();
        let mut pos: HashMap<Hash, usize> = HashMap::new();
        for (r, found) in batch.into_iter().zip(found) {
            if let Some(&i) = pos.get(&r.hash) {
                fresh[i].replies.push(r.reply);
                continue;
            }
            match found {
                // Settled: the tip is published, so `size` is published.
                Some(index) if index < size => {
                    let _ = r.reply.send(Ok(index));
                }
                _ => {
                    pos.insert(r.hash, fresh.len());
                    fresh.push(Fresh {
                        entry: r.entry,
                        hash: r.hash,
                        replies: vec![r.reply],
                    });
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let result = self.commit(&fresh).and_then(|first| {
            self.publish_pending()?;
            Ok(first)
        });
        match result {
            Ok(first) => {
                self.metrics
                    .published(fresh.len(), first + fresh.len() as u64);
                for (i, f) in fresh.into_iter().enumerate() {
                    for reply in f.replies {
                        let _ = reply.send(Ok(first + i as u64));
                    }
                }
            }
            Err(err) => {
                self.metrics.batch_failures.inc();
                tracing::error!(%err, "batch failed; re-deriving state from storage");
                // Recover before answering, so a retry meets a clean state:
                // either the batch is gone (it failed before its checkpoint
                // was signed) or that checkpoint is pending and a retry of
                // an entry publishes it and gets the entry's index.
                self.seq = recover(&*self.storage, &self.vkey)
                    .inspect_err(|err| tracing::error!(%err, "recovery failed; will retry"))
                    .ok();
                let err = Arc::new(err);
                for f in fresh {
                    for reply in f.replies {
                        let _ = reply.send(Err(AddError::Unavailable(err.clone())));
                    }
                }
            }
        }
    }

    /// Writes a batch on top of the (published) tip, signs its checkpoint
    /// and records it as signed; returns the first index. From then on the
    /// new tip is pending and only [`Sequencer::publish_pending`] may
    /// follow. On error before the record the in-memory state is left as
    /// it was and must be re-derived (the caller drops it).
    fn commit(&mut self, fresh: &[Fresh]) -> Result<u64, Error> {
        let old = self
            .seq
            .as_ref()
            .expect("invariant: recovered before commit");
        debug_assert!(old.pending.is_none(), "invariant: settled before commit");
        let new_size = old.size + fresh.len() as u64;

        let mut edge = old.edge.clone();
        let mut bundle = old.bundle.clone();
        let mut writes: Vec<(TilePath, Vec<u8>)> = Vec::new();
        for (i, f) in fresh.iter().enumerate() {
            let index = old.size + i as u64;
            bundle.push(f.entry.clone());
            if bundle.len() as u64 == TILE_WIDTH {
                let path = with_kind(TileKind::Entries, index / TILE_WIDTH, TILE_WIDTH as u16);
                writes.push((path, bundle_bytes(&bundle)));
                bundle.clear();
            }
            edge.push(0, leaf_hash(&f.entry), &mut |level, hashes| {
                // This tile filled when leaf `index` was added.
                let count = (index + 1) >> (8 * level);
                let kind = TileKind::Hashes { level: level as u8 };
                let path = with_kind(kind, count / TILE_WIDTH - 1, TILE_WIDTH as u16);
                writes.push((path, concat(hashes)));
            });
        }
        if let Some(path) = partial_tile(TileKind::Entries, new_size) {
            writes.push((path, bundle_bytes(&bundle)));
        }
        for (level, hashes) in edge.levels.iter().enumerate() {
            let kind = TileKind::Hashes { level: level as u8 };
            let path = partial_tile(kind, new_size);
            // A partial tile whose path did not change was written before.
            if path.is_some() && path != partial_tile(kind, old.size) {
                writes.extend(path.map(|p| (p, concat(hashes))));
            }
        }
        let rows: Vec<(Hash, u64)> = fresh
            .iter()
            .enumerate()
            .map(|(i, f)| (f.hash, old.size + i as u64))
            .collect();
        let checkpoint = Checkpoint::new(self.key.name(), new_size, edge.root());
        let note = checkpoint.sign(&self.key).map_err(Error::Sign)?;
        let signed = note.to_bytes();
        // The staged size, tiles and rows, then the commitment: durable
        // before any witness or reader sees it.
        self.storage.write_batch(&crate::BatchWrite {
            staged: new_size,
            tiles: &writes,
            rows: &rows,
            signed: &signed,
        })?;

        let first = old.size;
        let (published, published_size) = (old.published.clone(), old.published_size);
        self.seq = Some(Seq {
            size: new_size,
            edge,
            bundle,
            published,
            published_size,
            pending: Some(signed),
        });
        Ok(first)
    }

    /// Gathers cosignatures for the pending signed checkpoint, if any, and
    /// publishes it. On error nothing in memory changes; the caller drops
    /// the state, since a failed swap may in fact have happened.
    fn publish_pending(&mut self) -> Result<(), Error> {
        let seq = self.seq.as_mut().expect("invariant: recovered before");
        let Some(pending) = &seq.pending else {
            return Ok(());
        };
        let mut note =
            Note::parse(pending).map_err(|e| corrupt(format!("signed checkpoint: {e}")))?;
        if let Some(cosigner) = &self.cosigner {
            let reader = tile_reader(&*self.storage, seq.size);
            let proof = consistency_proof(&reader, seq.published_size, seq.size)
                .map_err(|e| corrupt(format!("consistency proof: {e}")))?;
            let started = Instant::now();
            let sigs = cosigner.cosign(&CosignRequest {
                old: &seq.published,
                old_size: seq.published_size,
                new: &note,
                proof: &proof,
            });
            self.metrics.witnesses(started.elapsed(), sigs.is_ok());
            let sigs = sigs?;
            for sig in sigs {
                note.add_signature(sig);
            }
        }
        let bytes = note.to_bytes();
        self.storage.swap_checkpoint(Some(&seq.published), &bytes)?;

        *self.published.write().unwrap_or_else(|e| e.into_inner()) = Published {
            size: seq.size,
            checkpoint: bytes.clone().into(),
        };
        seq.published = bytes;
        seq.published_size = seq.size;
        seq.pending = None;
        if self.cosigner.is_some() {
            self.next_recosign = self.recosign.map(|i| Instant::now() + i);
        }
        Ok(())
    }

    /// Asks the cosigner to cosign the published checkpoint again (same
    /// size, empty proof) and publishes it with the fresh cosignatures in
    /// place of the old ones. On failure the published checkpoint stays as
    /// it was and the next attempt comes after the retry interval.
    fn recosign(&mut self) {
        let (Some(cosigner), Some(every)) = (self.cosigner.clone(), self.recosign) else {
            return;
        };
        let Some(seq) = self.seq.as_mut().filter(|s| s.pending.is_none()) else {
            return;
        };
        let result = (|| -> Result<Vec<u8>, Error> {
            let published = Note::parse(&seq.published)
                .map_err(|e| corrupt(format!("published checkpoint: {e}")))?;
            // The log's own signature only; the witnesses' are replaced.
            let mut note = Note::new(published.text())
                .map_err(|e| corrupt(format!("published checkpoint: {e}")))?;
            for sig in published.signatures() {
                if sig.name() == self.vkey.name() && sig.key_id() == self.vkey.key_id() {
                    note.add_signature(sig.clone());
                }
            }
            let started = Instant::now();
            let sigs = cosigner.cosign(&CosignRequest {
                old: &seq.published,
                old_size: seq.published_size,
                new: &note,
                proof: &[],
            });
            self.metrics.witnesses(started.elapsed(), sigs.is_ok());
            let sigs = sigs?;
            for sig in sigs {
                note.add_signature(sig);
            }
            let bytes = note.to_bytes();
            self.storage.swap_checkpoint(Some(&seq.published), &bytes)?;
            Ok(bytes)
        })();
        match result {
            Ok(bytes) => {
                tracing::debug!(
                    size = seq.published_size,
                    "published checkpoint cosigned again"
                );
                *self.published.write().unwrap_or_else(|e| e.into_inner()) = Published {
                    size: seq.published_size,
                    checkpoint: bytes.clone().into(),
                };
                seq.published = bytes;
                self.next_recosign = Some(Instant::now() + every);
            }
            Err(err) => {
                tracing::warn!(%err, "cannot cosign the published checkpoint again; will retry");
                if matches!(err, Error::Storage(_)) {
                    // A failed swap may in fact have happened: re-derive.
                    self.seq = None;
                }
                self.next_recosign = Some(Instant::now() + every.min(self.retry));
            }
        }
    }
}

fn bundle_bytes(entries: &[Vec<u8>]) -> Vec<u8> {
    encode_entry_bundle(entries)
        .expect("invariant: 1..=256 entries, each checked against max_entry")
}
