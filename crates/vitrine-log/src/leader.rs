//! Several front ends on one PostgreSQL database, exactly one of which
//! sequences: leader election, and what a front end serves whichever its
//! role.
//!
//! Every front end ([`Node`]) runs an election thread. It keeps a
//! PostgreSQL session of its own and, every poll interval, tries to take
//! a session-level advisory lock (`pg_try_advisory_lock`). The holder is
//! the leader: it begins a new leader epoch ([`PgStorage::begin_epoch`],
//! which also records where it takes `/add`) and opens a [`Log`], which
//! recovers the sequencing state from the database and publishes a
//! checkpoint the last leader signed but did not publish. When a leader
//! dies, its session ends and PostgreSQL frees the lock; the next poll of
//! another front end takes it, within about one poll interval. A leader
//! that stops polling (paused, its host cut off) has its session ended by
//! PostgreSQL after `idle_session_timeout` (5 s, set on the lock's
//! session), which frees the lock too.
//!
//! Safety does not rest on the lock: a leader that lost it may not know
//! yet. Every write transaction checks the leader epoch (see
//! [`PgStorage`], "Fencing"), so once another front end has begun a newer
//! epoch nothing the old leader writes lands. A leader that sees a newer
//! epoch, or loses its lock session, steps down and follows.
//!
//! A follower serves the published checkpoint read from the database
//! (refreshed every poll, after each add it forwarded, and checked against
//! the log key) and tiles and entry bundles covered by it. It does not
//! sequence: `/add` is forwarded to the leader by the HTTP front end
//! (`vitrine-server`), to the address [`Node::forward_to`] gives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use postgres::NoTls;
use vitrine_note::VerifierKey;
use vitrine_tlog::TilePath;

use crate::follower::View;
use crate::pg::{LeaderRecord, LEADER_LOCK};
use crate::storage::{Storage, StorageError};
use crate::tile::covered_size;
use crate::{
    AddError, Authorization, AuthorizedFile, Error, Log, LogBuilder, LogMetrics, PgStorage,
};

/// How often a front end polls the leader lock by default.
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// How long PostgreSQL keeps the lock session of a leader that stopped
/// polling before it ends the session and frees the lock.
const IDLE_SESSION_TIMEOUT: &str = "5s";

/// A front end's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It holds the leader lock and sequences.
    Leader,
    /// Another front end sequences (or none does, for a moment).
    Follower,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        })
    }
}

/// How a [`Node`] runs.
pub struct NodeOptions {
    /// The database's connection string (the election keeps a session of
    /// its own there).
    pub url: String,
    /// Where this front end takes `/add` when it leads, e.g.
    /// `http://10.0.0.5:8080`; recorded for the followers.
    pub advertise: String,
    /// How often the lock is tried and a follower's checkpoint refreshed.
    pub poll: Duration,
    /// Who may make which statements (what content uploads are checked
    /// against while following).
    pub authorization: AuthorizedFile,
    /// Largest entry accepted.
    pub max_entry: usize,
}

type Factory = dyn Fn(Arc<dyn Storage>) -> LogBuilder + Send + Sync;

/// One of several front ends of a log on PostgreSQL: leads (sequences)
/// or follows, as the election decides. Dropping it stops the election
/// and steps down.
pub struct Node {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

struct Shared {
    storage: Arc<PgStorage>,
    options: NodeOptions,
    factory: Box<Factory>,
    metrics: Arc<LogMetrics>,
    view: View,
    leader: RwLock<Option<Arc<Log>>>,
    known: RwLock<LeaderRecord>,
    stop: AtomicBool,
}

impl Node {
    /// Starts a front end over `storage`, a log signed by `vkey`, and its
    /// election thread. `log` makes the [`Log`] this front end runs while
    /// it leads (its storage, key, authorization, batching, witnesses);
    /// the node adds its own metrics. Fails with
    /// [`Error::NotInitialized`] if the database holds no log.
    pub fn start(
        storage: Arc<PgStorage>,
        vkey: VerifierKey,
        options: NodeOptions,
        log: impl Fn(Arc<dyn Storage>) -> LogBuilder + Send + Sync + 'static,
    ) -> Result<Node, Error> {
        let view = View::load(&*storage, vkey)?;
        let known = storage.leader()?;
        let metrics = Arc::new(LogMetrics::for_cluster());
        metrics.tree_size.set(view.get().0 as i64);
        metrics.leader_epoch.set(known.epoch as i64);
        let shared = Arc::new(Shared {
            storage,
            options,
            factory: Box::new(log),
            metrics,
            view,
            leader: RwLock::new(None),
            known: RwLock::new(known),
            stop: AtomicBool::new(false),
        });
        let runner = shared.clone();
        let (first, tried) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("vitrine-election".into())
            .spawn(move || runner.run(first))
            .map_err(|err| Error::Thread { err })?;
        // The first try is over before the front end serves: a lone front
        // end leads from its first request on.
        let _ = tried.recv();
        Ok(Node {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether this front end leads now.
    pub fn role(&self) -> Role {
        if self.leader().is_some() {
            Role::Leader
        } else {
            Role::Follower
        }
    }

    /// The log this front end sequences, while it leads.
    pub fn leader(&self) -> Option<Arc<Log>> {
        self.shared.leader()
    }

    /// The leader epoch: this front end's while it leads, else the newest
    /// it has seen in the database.
    pub fn epoch(&self) -> u64 {
        match self.role() {
            Role::Leader => self.shared.storage.epoch(),
            Role::Follower => self.known().epoch,
        }
    }

    /// The leader as last read from the database.
    pub fn known(&self) -> LeaderRecord {
        self.shared
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where to forward an `/add` while following: the leader's address if
    /// a front end holds the lock and it is not this one; `None` while no
    /// leader is known (answer 503 and let the client retry).
    pub fn forward_to(&self) -> Option<String> {
        let known = self.known();
        match known.address {
            Some(a)
                if known.alive && a != self.shared.options.advertise && self.leader().is_none() =>
            {
                Some(a)
            }
            _ => None,
        }
    }

    /// Reads the published checkpoint and the leader row again now (a
    /// follower does so every poll; call it after a forwarded add, so
    /// that this front end serves the checkpoint covering it at once).
    pub fn refresh(&self) -> Result<(), Error> {
        self.shared.refresh()
    }

    /// The published checkpoint this front end serves.
    pub fn checkpoint(&self) -> Arc<[u8]> {
        match self.leader() {
            Some(log) => log.checkpoint(),
            None => self.shared.view.get().1,
        }
    }

    /// Its tree size.
    pub fn size(&self) -> u64 {
        match self.leader() {
            Some(log) => log.size(),
            None => self.shared.view.get().0,
        }
    }

    /// A tile or entry bundle covered by the served checkpoint (so it is
    /// immutable), if it exists; as [`Log::read_tile`].
    pub fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, Error> {
        match covered_size(path) {
            Some(n) if n <= self.size() => Ok(self.shared.storage.read_tile(path)?),
            _ => Ok(None),
        }
    }

    /// Whether the database answers.
    pub fn check_storage(&self) -> Result<(), Error> {
        self.shared
            .storage
            .read_checkpoint()?
            .ok_or(Error::NotInitialized)?;
        Ok(())
    }

    /// What this front end measured, across its terms as leader, with the
    /// `leader`, `leader_epoch` and `takeovers` metrics.
    pub fn metrics(&self) -> &LogMetrics {
        &self.shared.metrics
    }

    /// Who may make which statements now.
    pub fn authorization(&self) -> Result<Arc<Authorization>, AddError> {
        self.shared.options.authorization.current()
    }

    /// The largest entry accepted.
    pub fn max_entry(&self) -> usize {
        self.shared.options.max_entry
    }

    /// Stops the election and steps down (another front end takes over).
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.close();
    }
}

fn pg_error(e: postgres::Error) -> Error {
    Error::Storage(StorageError::Postgres(e.to_string()))
}

impl Shared {
    fn leader(&self) -> Option<Arc<Log>> {
        self.leader
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn run(&self, first: std::sync::mpsc::Sender<()>) {
        let mut session: Option<postgres::Client> = None;
        let mut first = Some(first);
        while !self.stop.load(Ordering::SeqCst) {
            self.tick(&mut session);
            if let Some(first) = first.take() {
                let _ = first.send(());
            }
            thread::park_timeout(self.options.poll);
        }
        self.step_down(&mut session, "shutting down");
    }

    fn tick(&self, session: &mut Option<postgres::Client>) {
        if self.leader().is_some() {
            if let Err(why) = self.still_leader(session) {
                self.step_down(session, &why);
            }
            return;
        }
        if let Err(err) = self.refresh() {
            tracing::warn!(%err, "cannot refresh the published checkpoint");
        }
        if let Err(err) = self.try_lead(session) {
            tracing::warn!(%err, "cannot take the lead now; will try again");
            *session = None;
        }
    }

    fn refresh(&self) -> Result<(), Error> {
        let known = self.storage.leader()?;
        self.metrics.leader_epoch.set(known.epoch as i64);
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = known;
        self.view.refresh(&*self.storage)?;
        if self.leader().is_none() {
            self.metrics.tree_size.set(self.view.get().0 as i64);
        }
        Ok(())
    }

    /// The lock's own session, connected if needed.
    fn session<'a>(
        &self,
        session: &'a mut Option<postgres::Client>,
    ) -> Result<&'a mut postgres::Client, Error> {
        if session.as_ref().is_none_or(|c| c.is_closed()) {
            let mut config: postgres::Config = self.options.url.parse().map_err(pg_error)?;
            config
                .connect_timeout(Duration::from_secs(3))
                .keepalives(true)
                .keepalives_idle(Duration::from_secs(5))
                .application_name("vitrine-leader-lock");
            let mut client = config.connect(NoTls).map_err(pg_error)?;
            // Frees the lock of a leader that stops polling (PostgreSQL
            // 14 and later; older servers keep it until TCP gives up).
            if let Err(err) = client.batch_execute(&format!(
                "SET idle_session_timeout = '{IDLE_SESSION_TIMEOUT}'"
            )) {
                tracing::debug!(%err, "the server has no idle_session_timeout");
            }
            *session = Some(client);
        }
        Ok(session.as_mut().expect("invariant: connected above"))
    }

    fn try_lead(&self, session: &mut Option<postgres::Client>) -> Result<(), Error> {
        let client = self.session(session)?;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
            .map_err(pg_error)?
            .get(0);
        if !locked {
            return Ok(());
        }
        let started = Instant::now();
        let opened = self
            .storage
            .begin_epoch(&self.options.advertise)
            .map_err(Error::from)
            .and_then(|epoch| {
                let log = (self.factory)(self.storage.clone())
                    .metrics(self.metrics.clone())
                    .open()?;
                Ok((epoch, log))
            });
        match opened {
            Ok((epoch, log)) => {
                *self.leader.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(log));
                self.metrics.leader.set(1);
                self.metrics.leader_epoch.set(epoch as i64);
                self.metrics.takeovers.inc();
                tracing::info!(
                    epoch,
                    took_ms = started.elapsed().as_millis() as u64,
                    "this front end is the leader now"
                );
                Ok(())
            }
            Err(err) => {
                // Let another front end try.
                let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&LEADER_LOCK]);
                Err(err)
            }
        }
    }

    /// Whether this front end still leads: its lock session answers and
    /// the database's epoch is still its own.
    fn still_leader(&self, session: &mut Option<postgres::Client>) -> Result<(), String> {
        let client = session
            .as_mut()
            .filter(|c| !c.is_closed())
            .ok_or("the lock's session is gone")?;
        let epoch = client
            .query_one("SELECT epoch FROM vitrine_leader WHERE id = 1", &[])
            .map_err(|e| format!("the lock's session failed: {e}"))?
            .get::<_, i64>(0) as u64;
        let mine = self.storage.epoch();
        if epoch != mine {
            return Err(format!("epoch {epoch} took over from {mine}"));
        }
        Ok(())
    }

    /// Stops leading, if it did: the lock's session ends (freeing the
    /// lock) and the log stops once the requests holding it are answered
    /// (its writes are fenced once another front end leads).
    fn step_down(&self, session: &mut Option<postgres::Client>, why: &str) {
        *session = None;
        let Some(log) = self.leader() else {
            return;
        };
        // Never serve less than was served while leading.
        let _ = self.view.offer(&log.checkpoint());
        self.leader
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.metrics.leader.set(0);
        tracing::warn!(why, "this front end is no longer the leader");
        let _ = self.refresh();
    }
}
