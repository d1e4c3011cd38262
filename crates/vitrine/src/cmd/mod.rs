//! One module per subcommand.

pub mod audit;
pub mod bundle;
pub mod center;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod egress;
pub mod intake;
pub mod key;
pub mod keyholder;
pub mod lint;
pub mod log;
pub mod onaccess;
pub mod package;
pub mod publish;
pub mod quarantine;
pub mod release;
pub mod review;
pub mod review_release;
pub mod scan;
pub mod submit;
pub mod trust;
pub mod update;
pub mod vault;
pub mod witness;
