//! Tests of the `vitrine` binary, one module per subcommand.

mod common;
mod scan;
