//! One module per subcommand.

pub mod bundle;
pub mod key;
pub mod log;
pub mod scan;
pub mod witness;
