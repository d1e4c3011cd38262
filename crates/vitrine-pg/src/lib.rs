//! PostgreSQL plumbing shared by Vitrine's servers (the log, the witness):
//! a connection pool, retries after lost connections, and a versioned
//! schema migrated at connect.
//!
//! Each component keeps its own tables and its own schema version row, so
//! one database can hold the log and a witness side by side, each
//! upgrading on its own. Migrations run in one transaction under an
//! advisory lock: servers starting together migrate once, and a database
//! migrated by a newer program is refused rather than misread.
//!
//! The client is the rust-postgres project's synchronous `postgres` with
//! `r2d2`, because the stores it serves have synchronous traits called from
//! worker threads; called from inside a tokio runtime, a query moves to a
//! thread of its own (the synchronous client drives its own runtime, which
//! cannot nest).
//!
//! ```no_run
//! use vitrine_pg::{Database, Schema};
//! const SCHEMA: Schema = Schema {
//!     table: "example_schema",
//!     lock: 0x6578_616d_706c_65,
//!     migrations: &["CREATE TABLE example (id INT PRIMARY KEY)"],
//! };
//! # fn main() -> Result<(), vitrine_pg::PgError> {
//! let db = Database::connect("host=127.0.0.1 user=postgres dbname=example", 4, &SCHEMA)?;
//! let n: i64 = db.with(|c| Ok(c.query_one("SELECT count(*) FROM example", &[])?.get(0)))?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod testdb;

use std::time::Duration;

pub use postgres;
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;
pub use testdb::TestDatabase;

/// How often a failed connection or lost reply is tried before a call
/// gives up.
const ATTEMPTS: u32 = 3;

/// A component's schema: where its version is recorded and its migrations,
/// one per version (version N is `migrations[N-1]`).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The one-row table recording the version applied (created if
    /// missing).
    pub table: &'static str,
    /// The advisory lock key migrations run under.
    pub lock: i64,
    /// The migrations, in order.
    pub migrations: &'static [&'static str],
}

/// A PostgreSQL failure, after retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string does not parse.
    #[error("connection string: {0}")]
    Url(String),
    /// The database answered with an error about the query or data.
    #[error("{0}")]
    Query(String),
    /// No connection could be made or kept, after every attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    Unavailable {
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The database was migrated by a newer program.
    #[error("the database's {table} is version {found}, newer than this program's {known}: upgrade vitrine")]
    TooNew {
        /// The schema table.
        table: &'static str,
        /// The version found.
        found: usize,
        /// The newest this program knows.
        known: usize,
    },
}

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// A pool of connections to one database whose schema is up to date.
pub struct Database {
    pool: Pool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// Connects to `url` (`postgres://user@host:port/database`, or the
    /// key=value form) with a pool of up to `max_connections`, and brings
    /// `schema` up to date.
    pub fn connect(url: &str, max_connections: u32, schema: &Schema) -> Result<Self, PgError> {
        let config: postgres::Config = url.parse().map_err(|e| PgError::Url(format!("{e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            // Short: a health check must answer while the load balancer
            // still waits (three attempts, about 10 s at worst).
            .connection_timeout(Duration::from_secs(3))
            // Do not fail at start because one connection could not be
            // made yet: the first call says why if none can.
            .min_idle(Some(0))
            .build(manager)
            .map_err(|e| PgError::Unavailable {
                attempts: 1,
                last: e.to_string(),
            })?;
        let db = Database { pool };
        db.migrate(schema)?;
        Ok(db)
    }

    /// The version of `schema` recorded in the database.
    pub fn schema_version(&self, schema: &Schema) -> Result<usize, PgError> {
        let sql = format!("SELECT version FROM {}", schema.table);
        self.with(|c| Ok(c.query_one(sql.as_str(), &[])?.get::<_, i32>(0) as usize))
    }

    fn migrate(&self, schema: &Schema) -> Result<(), PgError> {
        let table = schema.table;
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema.lock])?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (version INT NOT NULL)"
            ))?;
            let current: i32 = match tx.query_opt(&format!("SELECT version FROM {table}"), &[])? {
                Some(row) => row.get(0),
                None => {
                    tx.execute(&format!("INSERT INTO {table} (version) VALUES (0)"), &[])?;
                    0
                }
            };
            for (i, sql) in schema.migrations.iter().enumerate().skip(current as usize) {
                tx.batch_execute(sql)?;
                tx.execute(
                    &format!("UPDATE {table} SET version = $1"),
                    &[&(i as i32 + 1)],
                )?;
            }
            tx.commit()
        })?;
        let found = self.schema_version(schema)?;
        if found > schema.migrations.len() {
            return Err(PgError::TooNew {
                table,
                found,
                known: schema.migrations.len(),
            });
        }
        Ok(())
    }

    /// Whether the database answers a trivial query (health checks).
    pub fn check(&self) -> Result<(), PgError> {
        self.with(|c| c.simple_query("SELECT 1").map(drop))
    }

    /// Runs `f` on a pooled connection, trying again after connection
    /// failures (not after errors the database reports about the query).
    /// From inside a tokio runtime the query runs on a thread of its own.
    pub fn with<T: Send>(
        &self,
        f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, PgError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.with_here(f))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.with_here(f)
    }

    fn with_here<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, PgError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            let mut conn = match self.pool.get() {
                Ok(c) => c,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match f(&mut conn) {
                Ok(v) => return Ok(v),
                // The database answered: the query itself is at fault.
                Err(e) if e.as_db_error().is_some() => return Err(PgError::Query(e.to_string())),
                Err(e) => last = e.to_string(),
            }
        }
        Err(PgError::Unavailable {
            attempts: ATTEMPTS,
            last,
        })
    }
}
