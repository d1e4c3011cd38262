//! `vitrine bundle`: build and inspect rule bundles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vitrine_endpoint::state::now;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, FileKind, Limits};
use vitrine_endpoint::state::human_time;
use vitrine_scan::RuleSource;

use crate::util::count;

/// Output formats of `inspect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// Build and inspect rule bundles.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Build a deterministic bundle from every .yar/.yara/.hdb/.hsb file
    /// under DIR. Refuses rules that do not compile.
    Build {
        /// Directory of rule and hash-signature files.
        dir: PathBuf,
        /// The bundle file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Bundle name, e.g. `daily`.
        #[arg(long)]
        name: String,
        /// Bundle version; endpoints only move forward.
        #[arg(long)]
        version: u64,
        /// Days until endpoints refuse the bundle.
        #[arg(long, default_value_t = 30)]
        expires_in_days: u64,
    },
    /// Show a bundle's manifest, files and SHA-256.
    Inspect {
        /// The bundle file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Build {
            dir,
            output,
            name,
            version,
            expires_in_days,
        } => {
            let bytes = build(&dir, &name, version, now(), expires_in_days)?;
            write_file(&output, &bytes)?;
            let bundle =
                Bundle::parse(&bytes, &Limits::default()).context("re-reading the bundle")?;
            let m = bundle.manifest();
            println!(
                "{}: bundle {} v{}, {} YARA files, {} hash lists ({} signatures), {} bytes, sha256 {}",
                output.display(),
                m.name,
                m.version,
                m.yara_files,
                m.hash_files,
                m.hash_lines,
                bytes.len(),
                hex::encode(Sha256::digest(&bytes))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file, format } => inspect(&file, format),
    }
}

/// Builds bundle bytes from `dir` and checks that its rules compile.
pub fn build(dir: &Path, name: &str, version: u64, created: u64, days: u64) -> Result<Vec<u8>> {
    let expires = created.saturating_add(days.saturating_mul(86_400));
    let bytes = Bundle::build_from_dir(dir, name, version, created, expires)
        .with_context(|| format!("building a bundle from {}", dir.display()))?;
    let bundle = Bundle::parse(&bytes, &Limits::default()).context("re-reading the bundle")?;
    if bundle.files().is_empty() {
        bail!("{} holds no .yar/.yara/.hdb/.hsb files", dir.display());
    }
    vitrine_endpoint::rules::compile(&bundle, RuleSource::Files)
        .context("the rules do not compile; no bundle written")?;
    Ok(bytes)
}

/// Writes a file atomically; a bare file name is in the current directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let path = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new(".").join(path),
        _ => path.to_owned(),
    };
    vitrine_client::write_atomic(&path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Yara => "yara",
        FileKind::Hdb => "hdb",
        FileKind::Hsb => "hsb",
    }
}

fn inspect(file: &Path, format: Format) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle = Bundle::parse(&bytes, &Limits::default())
        .with_context(|| format!("{} is not a valid bundle", file.display()))?;
    let i = bundle.inspect();
    let m = &i.manifest;
    let sha = hex::encode(Sha256::digest(&bytes));
    match format {
        Format::Json => {
            let files: Vec<_> = i
                .files
                .iter()
                .map(|(p, k, s)| serde_json::json!({"path": p, "kind": kind_name(*k), "size": s}))
                .collect();
            let v = serde_json::json!({
                "name": m.name,
                "version": m.version,
                "created": m.created,
                "expires": m.expires,
                "yara_files": m.yara_files,
                "hash_files": m.hash_files,
                "hash_lines": m.hash_lines,
                "sha256": sha,
                "size": bytes.len(),
                "total_file_size": i.total_size,
                "files": files,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            println!("name:       {}", m.name);
            println!("version:    {}", m.version);
            println!("created:    {}", human_time(m.created));
            println!("expires:    {}", human_time(m.expires));
            println!("sha256:     {sha}");
            println!("size:       {} bytes", bytes.len());
            println!(
                "contents:   {}, {} ({}), {}",
                count(m.yara_files as u64, "YARA file", "YARA files"),
                count(m.hash_files as u64, "hash list", "hash lists"),
                count(m.hash_lines as u64, "signature", "signatures"),
                count(i.total_size as u64, "byte", "bytes"),
            );
            for (p, k, s) in &i.files {
                println!("  {:<5} {:>9}  {p}", kind_name(*k), s);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
