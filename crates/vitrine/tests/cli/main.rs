//! Tests of the `vitrine` binary, one module per subcommand.

mod bundle;
mod common;
mod daemon;
mod demo;
mod egress;
mod hostile;
mod lint;
mod quarantine;
mod scan;
mod update;
