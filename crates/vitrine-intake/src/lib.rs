//! Vitrine's sample intake and vault (DESIGN.md, "Egress and the vault").
//!
//! The intake receives submissions from endpoints (per-tenant bearer
//! tokens; request size and rate limits), stores any sample encrypted at
//! rest under a per-sample data key split among keyholders, logs a
//! signed `receipt` statement in the vendor's transparency log and returns
//! it with its index and inclusion proof. The vault is the only way to
//! read a sample: it logs an `access` statement (who, why, which sample)
//! and releases the plaintext only once that statement is proven included
//! in a checkpoint signed by the log key. Retention expiry and deletion on
//! request destroy the data key and log a `deletion` statement.
//!
//! # What's in scope / out of scope
//!
//! In scope: the configuration ([`Config`]), the [`IntakeStore`] trait
//! with the embedded [`Store`] (SQLite plus files in one data directory)
//! and [`PgStore`] (PostgreSQL, for an intake without local state), the
//! HTTP API with its metrics
//! ([`server::router`]), the [`Vault`], a small blocking [`LogClient`], and
//! the endpoint side ([`endpoint::Endpoint`]): submitting under the egress
//! policy with the ledger, and the owner's audit view.
//! Out of scope: the log itself (`vitrine-log`), the endpoint's policy and
//! ledger (`vitrine-egress`), the CLI.
//!
//! # Main types
//!
//! [`Config`], [`IntakeStore`] ([`Store`], [`PgStore`]), [`server::Intake`],
//! [`IntakeMetrics`], [`Vault`] with
//! [`LoggedAccess`]; errors [`ConfigError`], [`StoreError`], [`LogError`],
//! [`VaultError`].
//!
//! # Example
//!
//! ```
//! use vitrine_intake::IntakeStore;
//! let dir = tempfile::tempdir()?;
//! let store = vitrine_intake::Store::open(dir.path())?;
//! assert!(store.list("t-1")?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
pub mod endpoint;
mod error;
mod logclient;
mod metrics;
mod pg;
pub mod server;
mod sqlite;
mod store;
mod vault;

pub use config::{
    default_threshold, new_token, token_hash, Config, Keyholder, Tenant, DEFAULT_MAX_REQUEST,
    DEFAULT_RATE_PER_MINUTE, DEFAULT_RETENTION_DAYS,
};
pub use error::{ConfigError, EndpointError, LogError, StoreError, VaultError};
pub use logclient::LogClient;
pub use metrics::IntakeMetrics;
pub use pg::PgStore;
pub use sqlite::{Store, DB_FILE};
pub use store::{
    seal_sample, EventCounts, EventRow, IntakeStore, NewSample, OldRow, SampleInfo, SealedSample,
    Undo,
};
pub use vault::{
    verify_access, Deleted, LoggedAccess, Released, Stage, Vault, ACCESS_LIFETIME, FAILPOINT_ENV,
    KEYHOLDER_TIMEOUT,
};
