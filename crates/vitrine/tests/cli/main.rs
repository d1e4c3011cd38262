//! Tests of the `vitrine` binary, one module per subcommand.

mod browser;
mod bundle;
mod center;
mod center_browser;
mod center_fixture;
mod common;
mod config;
mod daemon;
mod demo;
mod egress;
mod hostile;
mod hostile_log;
mod intake_postgres;
mod lint;
mod log_postgres;
mod ops;
mod package;

mod quarantine;
mod readme;
mod review;
mod scan;
mod servers;
mod update;
