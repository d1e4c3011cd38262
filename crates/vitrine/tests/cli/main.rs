//! Tests of the `vitrine` binary, one module per subcommand.

mod bundle;
mod common;
mod demo;
mod scan;
mod update;
