//! What packaging needs from the binary: shell completions and man pages,
//! generated from the same clap definitions as `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created).
    #[arg(long, value_name = "DIR", default_value = "man")]
    out: PathBuf,
}

pub fn completions<C: CommandFactory>(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = C::command();
    clap_complete::generate(args.shell, &mut cmd, "vitrine", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man<C: CommandFactory>(args: ManArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cmd = C::command();
    clap_mangen::generate_to(cmd, &args.out)
        .with_context(|| format!("writing man pages into {}", args.out.display()))?;
    let n = std::fs::read_dir(&args.out)?.count();
    eprintln!("wrote {n} man pages into {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
