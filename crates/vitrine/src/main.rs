//! `vitrine`: the one binary. Glue over the library crates; one module per
//! subcommand under `cmd/`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cmd;
mod util;

/// Vitrine: an antivirus whose rules everyone can see.
///
/// Scans files with YARA rules and hash signatures. Rule updates are
/// installed only when they are in a public transparency log under a
/// checkpoint cosigned by independent witnesses.
#[derive(Parser)]
#[command(name = "vitrine", version, about, long_about = None)]
struct Cli {
    /// The system configuration file, whose settings are every command's
    /// defaults [default: $VITRINE_CONFIG, else /etc/vitrine/vitrine.toml;
    /// see `vitrine config --help`].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // The about text comes from `cmd::scan::Args`'s doc comment.
    Scan(Box<cmd::scan::Args>),
    // The about text comes from `cmd::quarantine::Args`'s doc comment.
    Quarantine(cmd::quarantine::Args),
    /// Generate signing keys.
    Key(cmd::key::Args),
    /// Run, feed and verify a transparency log.
    Log(cmd::log::Args),
    /// Run an independent witness that cosigns consistent log checkpoints.
    Witness(cmd::witness::Args),
    /// Build and inspect rule bundles.
    Bundle(cmd::bundle::Args),
    /// Write an endpoint trust policy.
    Trust(cmd::trust::Args),
    // The about text comes from the Args doc comments.
    Publish(cmd::publish::Args),
    Update(cmd::update::Args),
    Status(cmd::update::StatusArgs),
    Demo(cmd::demo::Args),
    Lint(cmd::lint::Args),
    Review(cmd::review::Args),
    Release(cmd::release::Args),
    Audit(cmd::audit::Args),
    Center(cmd::center::Args),
    // The about texts come from the Args doc comments.
    Egress(cmd::egress::Args),
    Submit(cmd::submit::Args),
    Intake(cmd::intake::Args),
    Vault(cmd::vault::Args),
    Keyholder(cmd::keyholder::Args),
    Daemon(cmd::daemon::Args),
    // The about text comes from `cmd::config::Args`'s doc comment.
    Config(cmd::config::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::package::CompletionsArgs),
    /// Write man pages (vitrine.1 and one per subcommand) into a directory.
    Man(cmd::package::ManArgs),
}

fn main() -> ExitCode {
    // The configuration is read first: its settings become the flags'
    // defaults, so a flag on the command line wins.
    let at =
        vitrine_endpoint::config::Located::find(cmd::config::flag(std::env::args_os()).as_deref());
    let cli = match vitrine_endpoint::config::Config::load(&at) {
        Ok((config, exists)) => {
            let command = cmd::config::with_defaults(Cli::command(), &config);
            vitrine_endpoint::config::set_current(at, config, exists);
            let matches = command.get_matches();
            Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
        }
        Err(e) => {
            // A broken configuration stops every command but the one that
            // says what is wrong with it.
            let cli = Cli::parse();
            if !cmd::config::is_check(&cli.command) {
                eprintln!(
                    "vitrine: error: {}\nvitrine: nothing was done; fix it, then `vitrine config check`",
                    cmd::config::escape_lines(&e.to_string())
                );
                return ExitCode::from(2);
            }
            cli
        }
    };
    util::init_logging();
    tracing::debug!(
        version = env!("CARGO_PKG_VERSION"),
        args = ?std::env::args_os().skip(1).collect::<Vec<_>>(),
        "vitrine starting"
    );
    let result = match cli.command {
        Command::Scan(args) => cmd::scan::run(*args),
        Command::Quarantine(args) => cmd::quarantine::run(args),
        Command::Key(args) => cmd::key::run(args),
        Command::Log(args) => cmd::log::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Bundle(args) => cmd::bundle::run(args),
        Command::Trust(args) => cmd::trust::run(args),
        Command::Publish(args) => cmd::publish::run(args),
        Command::Update(args) => cmd::update::run(args),
        Command::Status(args) => cmd::update::status(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Lint(args) => cmd::lint::run(args),
        Command::Review(args) => cmd::review::run(args),
        Command::Release(args) => cmd::release::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Center(args) => cmd::center::run(args),
        Command::Egress(args) => cmd::egress::run(args),
        Command::Submit(args) => cmd::submit::run(args),
        Command::Intake(args) => cmd::intake::run(args),
        Command::Vault(args) => cmd::vault::run(args),
        Command::Keyholder(args) => cmd::keyholder::run(args),
        Command::Daemon(args) => cmd::daemon::run(args),
        Command::Config(args) => cmd::config::run(args),
        Command::Completions(args) => cmd::package::completions::<Cli>(args),
        Command::Man(args) => cmd::package::man::<Cli>(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if util::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("vitrine: error: {}", util::error_text(&err));
            ExitCode::from(2)
        }
    }
}
