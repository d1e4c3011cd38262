//! One module per subcommand.

pub mod key;
pub mod log;
pub mod scan;
pub mod witness;
