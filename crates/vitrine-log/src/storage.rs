//! The storage seam between the sequencer and a backend.

use vitrine_tlog::Hash;
use vitrine_tlog::TilePath;

/// Where the log keeps its state. The sequencer is the only writer; any
/// number of readers (HTTP front ends) may read concurrently.
///
/// # Contract
///
/// - **Durability.** When a writing method returns `Ok`, its effect is
///   durable: it survives a crash or power loss of this machine. When it
///   returns `Err`, the effect may or may not have happened, wholly or in
///   part (see atomicity); the sequencer treats the state as unknown and
///   re-derives it from storage.
/// - **Atomicity.** Each object (one tile, one entry bundle, the
///   checkpoint, one index row) is replaced atomically: a reader sees the
///   old bytes or the new ones, never a torn mix. A multi-object call such
///   as [`Storage::write_tiles`] is *not* atomic as a whole.
/// - **Checkpoint.** [`Storage::swap_checkpoint`] is a compare-and-swap:
///   it replaces the checkpoint only if the current one is byte-for-byte
///   `old`, atomically with that check, and fails with
///   [`StorageError::Conflict`] otherwise. This is what makes publishing a
///   checkpoint the single commit point of a batch, and what would stop a
///   second sequencer (e.g. two PostgreSQL front ends) from forking the log.
/// - **Signed checkpoint.** [`Storage::set_signed_checkpoint`] durably
///   records the newest checkpoint the log has signed, *before* anyone
///   (a witness, a reader) sees it. From then on the log is committed to
///   that tree (tlog-checkpoint: a log must not sign two inconsistent
///   checkpoints, and a witness that cosigned it refuses any other tree
///   of its size): the published checkpoint is always that one (possibly
///   with cosignatures added) or an earlier one, and the tiles, entry
///   bundles and index rows up to its size are kept. A signed checkpoint
///   larger than the published one is "pending": the sequencer publishes
///   exactly it, retrying, before it sequences anything else, also after
///   a restart. A backend replaces it atomically, like the checkpoint; it
///   needs no compare-and-swap because only the sequencer writes it and
///   always before the matching [`Storage::swap_checkpoint`].
/// - **Idempotence.** Every write may be repeated with the same arguments
///   with the same result; deleting a missing object is not an error. The
///   sequencer retries by re-deriving state, never by assuming a failed
///   write did nothing.
/// - **Overwrites.** Tiles and entry bundles are written with plain
///   put semantics. A tile's bytes depend only on the log's first
///   [`crate::covered_size`] entries, so once those are covered by a
///   published checkpoint the sequencer never writes different bytes to
///   that path: such tiles are immutable. Beyond the published size the
///   sequencer may overwrite or delete objects left by a batch that failed.
/// - **Errors.** Backends retry transient failures themselves and return
///   an error only when they give up.
///
/// There is no "pending entries" state here by design: entries are
/// acknowledged only once a checkpoint covering them is published, so
/// entries not yet covered by a signed checkpoint live in the sequencer's
/// memory and may be lost in a crash. The sequencing state is the signed
/// checkpoint if it is ahead of the published one, else the published
/// checkpoint (its size is the next index), plus [`Storage::staged_size`],
/// which bounds what a failed batch may have left behind.
pub trait Storage: Send + Sync {
    /// Reads a tile or entry bundle; `Ok(None)` if it does not exist.
    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError>;

    /// Writes tiles and entry bundles, each atomically; all are durable on
    /// `Ok`.
    fn write_tiles(&self, tiles: &[(TilePath, Vec<u8>)]) -> Result<(), StorageError>;

    /// Deletes tiles or entry bundles; durable on `Ok`; missing ones are
    /// fine.
    fn delete_tiles(&self, paths: &[TilePath]) -> Result<(), StorageError>;

    /// The published checkpoint (signed note bytes), `Ok(None)` for a log
    /// that was never initialised.
    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces the checkpoint with `new` if it currently is `old` (`None`:
    /// no checkpoint yet), atomically and durably. Otherwise fails with
    /// [`StorageError::Conflict`] and changes nothing.
    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError>;

    /// The index recorded for an entry hash (SHA-256 of the entry bytes),
    /// if any. Rows at or past the published size may be stale; the
    /// sequencer removes them with [`Storage::forget_from`] before use.
    fn lookup(&self, entry_hash: &Hash) -> Result<Option<u64>, StorageError>;

    /// Records entry hash → index rows, replacing any existing row for the
    /// same hash; all durable on `Ok`.
    fn record(&self, rows: &[(Hash, u64)]) -> Result<(), StorageError>;

    /// Removes every index row with an index `>= size`; durable on `Ok`.
    fn forget_from(&self, size: u64) -> Result<(), StorageError>;

    /// The tree size of the last batch the sequencer started writing, if
    /// any (see [`Storage::set_staged_size`]).
    fn staged_size(&self) -> Result<Option<u64>, StorageError>;

    /// Durably records that a batch growing the tree to `size` is about to
    /// write tiles. Called before any tile of that batch is written, so
    /// after a failure the sequencer knows which partial tiles past the
    /// published size may be stale.
    fn set_staged_size(&self, size: u64) -> Result<(), StorageError>;

    /// The newest checkpoint the log signed (signed note bytes, without
    /// cosignatures), `Ok(None)` if none was recorded (a log that never
    /// sequenced an entry, or a store from before this was recorded).
    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError>;

    /// Durably and atomically replaces the signed checkpoint with
    /// `checkpoint`. The sequencer calls it after the checkpoint's tiles
    /// and index rows are durable and before it shows the checkpoint to a
    /// witness or publishes it; see the contract above.
    fn set_signed_checkpoint(&self, checkpoint: &[u8]) -> Result<(), StorageError>;

    /// [`Storage::lookup`] of many hashes, in order. Backends where each
    /// call is a round trip (PostgreSQL) answer all in one.
    fn lookup_many(&self, hashes: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        hashes.iter().map(|h| self.lookup(h)).collect()
    }

    /// Everything a batch writes before its checkpoint goes to witnesses,
    /// with the effect of, in this order: [`Storage::set_staged_size`],
    /// [`Storage::write_tiles`], [`Storage::record`],
    /// [`Storage::set_signed_checkpoint`]. A backend may do it in fewer
    /// durable steps (one transaction, fewer fsync rounds) as long as the
    /// signed checkpoint never becomes durable before the rest and no tile
    /// is written before the staged size; on `Err` any part may have
    /// happened, as for the separate calls.
    fn write_batch(&self, batch: &BatchWrite<'_>) -> Result<(), StorageError> {
        self.set_staged_size(batch.staged)?;
        self.write_tiles(batch.tiles)?;
        self.record(batch.rows)?;
        self.set_signed_checkpoint(batch.signed)
    }
}

/// What one batch writes before its checkpoint is shown to witnesses; see
/// [`Storage::write_batch`].
#[derive(Debug, Clone, Copy)]
pub struct BatchWrite<'a> {
    /// The tree size the batch grows to.
    pub staged: u64,
    /// Its tiles and entry bundles.
    pub tiles: &'a [(TilePath, Vec<u8>)],
    /// Its deduplication rows.
    pub rows: &'a [(Hash, u64)],
    /// Its log-signed checkpoint.
    pub signed: &'a [u8],
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The checkpoint was not the expected one: another writer, or a
    /// write the sequencer believed failed had in fact happened.
    #[error("checkpoint compare-and-swap conflict")]
    Conflict,
    /// Another process became the log's leader: this writer's leader
    /// epoch is not the database's any more, and the write was refused
    /// and rolled back (see [`crate::PgStorage`], "Fencing").
    #[error(
        "fenced: this process wrote as leader epoch {mine}, but epoch {current} has taken over"
    )]
    Fenced {
        /// The epoch this writer holds.
        mine: u64,
        /// The database's epoch.
        current: u64,
    },
    /// An I/O error on a path of the backend.
    #[error("{op} {path}: {err}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or object involved.
        path: String,
        /// The underlying error.
        err: std::io::Error,
    },
    /// The embedded index database failed.
    #[error("index database: {0}")]
    Index(#[from] rusqlite::Error),
    /// The PostgreSQL backend failed (after its own retries for lost
    /// connections).
    #[error("postgres: {0}")]
    Postgres(String),
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The data directory.
        path: String,
    },
    /// A fault injected by [`crate::FaultyStorage`] for tests.
    #[error("injected fault in {op:?}")]
    Injected {
        /// The operation that failed.
        op: crate::mem::Op,
    },
}
