//! One module per subcommand.

pub mod bundle;
pub mod demo;
pub mod key;
pub mod log;
pub mod publish;
pub mod scan;
pub mod trust;
pub mod update;
pub mod witness;
