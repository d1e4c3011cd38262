//! The endpoint, as a library: the system configuration, the state
//! directory, the rules it scans with (active verified bundles, the
//! compiled-rules cache, the owner's allowlist), the verified update, and
//! what is done with detections. `vitrine scan`, `update`, `status`,
//! `quarantine` and the daemon all call it, so the command line stays a
//! thin layer and the daemon cannot drift from the commands.

pub mod actions;
pub mod config;
pub mod rules;
pub mod scan;
pub mod state;
pub mod update;

pub use actions::Action;
pub use config::Config;
pub use update::{update, Outcome, Source};

/// `n` and the noun in the right number: `1 rule`, `2 rules`, `0 rules`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
