//! `vitrine review prepare-release`: the packet a reviewer of a release of
//! `vitrine` reads, from a git checkout of its source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use vitrine_client::escape;

use crate::cmd::review::fenced;
use crate::util::write_new;

/// At most this many commits are listed in a packet.
const MAX_COMMITS: usize = 500;

/// Runs git in `repo`; its standard output, or which command failed and
/// why.
fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let mut all: Vec<&std::ffi::OsStr> = vec!["-C".as_ref(), repo.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    crate::util::command_output("git", &all)
}

fn resolve(repo: &Path, rev: &str) -> Result<String> {
    let spec = format!("{rev}^{{commit}}");
    let out = git(repo, &["rev-parse", "--verify", "--quiet", &spec])
        .with_context(|| format!("{} is not a commit of {}", escape(rev), repo.display()))?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Every package of a Cargo.lock: name -> versions (a name may appear in
/// several versions).
fn lock_packages(text: &str, what: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let lock: Lock = toml::from_str(text).with_context(|| format!("{what}: not a Cargo.lock"))?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in lock.package {
        out.entry(p.name).or_default().insert(p.version);
    }
    Ok(out)
}

#[derive(Serialize)]
struct Upgrade {
    name: String,
    from: Vec<String>,
    to: Vec<String>,
}

#[derive(Serialize)]
struct ReleasePacket {
    commit: String,
    source_archive_sha256: String,
    lockfile_sha256: String,
    previous: Option<String>,
    commits: Vec<String>,
    commits_left_out: usize,
    files_changed: Vec<String>,
    dependencies: usize,
    added: Vec<String>,
    removed: Vec<String>,
    upgraded: Vec<Upgrade>,
    recipe_path: String,
    recipe_sha256: String,
    recipe: String,
}

pub fn prepare(
    repo: &Path,
    commit: &str,
    since: Option<&str>,
    recipe_path: &str,
    output: Option<PathBuf>,
) -> Result<ExitCode> {
    let commit = resolve(repo, commit)?;
    let previous = since.map(|s| resolve(repo, s)).transpose()?;
    let archive = git(repo, &["archive", "--format=tar", &commit])?;
    let lock_text = String::from_utf8(git(repo, &["show", &format!("{commit}:Cargo.lock")])?)
        .context("Cargo.lock is not UTF-8")?;
    let now = lock_packages(&lock_text, "Cargo.lock")?;
    let before = match &previous {
        Some(p) => {
            let text = String::from_utf8(git(repo, &["show", &format!("{p}:Cargo.lock")])?)
                .context("the previous Cargo.lock is not UTF-8")?;
            lock_packages(&text, "the previous Cargo.lock")?
        }
        None => BTreeMap::new(),
    };
    let fmt = |name: &str, versions: &BTreeSet<String>| {
        format!(
            "{name} {}",
            versions.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let added = now
        .iter()
        .filter(|(n, _)| !before.contains_key(*n))
        .map(|(n, v)| fmt(n, v))
        .collect();
    let removed = before
        .iter()
        .filter(|(n, _)| !now.contains_key(*n))
        .map(|(n, v)| fmt(n, v))
        .collect();
    let upgraded = now
        .iter()
        .filter_map(|(n, v)| {
            let old = before.get(n)?;
            (old != v).then(|| Upgrade {
                name: n.clone(),
                from: old.iter().cloned().collect(),
                to: v.iter().cloned().collect(),
            })
        })
        .collect();
    let (mut commits, files_changed) = match &previous {
        Some(p) => {
            let range = format!("{p}..{commit}");
            let log = git(repo, &["log", "--format=%h %s", &range])?;
            let files = git(repo, &["diff", "--name-status", p, &commit])?;
            (
                String::from_utf8_lossy(&log)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                String::from_utf8_lossy(&files)
                    .lines()
                    .map(|l| l.replace('\t', " "))
                    .collect(),
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let left_out = commits.len().saturating_sub(MAX_COMMITS);
    commits.truncate(MAX_COMMITS);
    let recipe = git(repo, &["show", &format!("{commit}:{recipe_path}")])
        .with_context(|| format!("the recipe {} at {commit}", escape(recipe_path)))?;
    let packet = ReleasePacket {
        source_archive_sha256: hex::encode(Sha256::digest(&archive)),
        lockfile_sha256: hex::encode(Sha256::digest(lock_text.as_bytes())),
        commit: commit.clone(),
        previous,
        commits,
        commits_left_out: left_out,
        files_changed,
        dependencies: now.values().map(BTreeSet::len).sum(),
        added,
        removed,
        upgraded,
        recipe_path: recipe_path.to_owned(),
        recipe_sha256: hex::encode(Sha256::digest(&recipe)),
        recipe: String::from_utf8_lossy(&recipe).into_owned(),
    };
    let dir = output.unwrap_or_else(|| PathBuf::from(format!("release-{}.review", &commit[..12])));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_new(
        &dir.join("packet.json"),
        &serde_json::to_vec_pretty(&packet)?,
    )?;
    write_new(&dir.join("packet.md"), markdown(&packet).as_bytes())?;
    println!(
        "release review packet for commit {}: {} commits, {} files changed; {} dependencies added, {} removed, {} upgraded",
        packet.commit,
        packet.commits.len() + packet.commits_left_out,
        packet.files_changed.len(),
        packet.added.len(),
        packet.removed.len(),
        packet.upgraded.len()
    );
    println!("{}", dir.join("packet.md").display());
    println!("{}", dir.join("packet.json").display());
    Ok(ExitCode::SUCCESS)
}

fn markdown(p: &ReleasePacket) -> String {
    let mut s = format!(
        "# Release review packet: commit {}\n\n- Source archive (`git archive --format=tar {}`): SHA-256 `{}`\n- Cargo.lock: SHA-256 `{}`, {} packages\n- Build recipe `{}`: SHA-256 `{}`\n",
        p.commit,
        &p.commit[..12],
        p.source_archive_sha256,
        p.lockfile_sha256,
        p.dependencies,
        p.recipe_path,
        p.recipe_sha256
    );
    match &p.previous {
        Some(prev) => s.push_str(&format!(
            "- Compared with the previous release, commit {prev}\n"
        )),
        None => s.push_str("- No previous release given: every dependency is new\n"),
    }
    s.push_str(
        "\nCompare these hashes with the `release` statements (`vitrine release verify`), rebuild with the recipe, and sign the binary's SHA-256 (`vitrine review sign --subject FILE`).\n",
    );
    s.push_str(&format!(
        "\n## Dependencies\n\n| | count |\n|---|---|\n| added | {} |\n| removed | {} |\n| upgraded | {} |\n",
        p.added.len(),
        p.removed.len(),
        p.upgraded.len()
    ));
    for (title, list) in [("Added", &p.added), ("Removed", &p.removed)] {
        s.push_str(&format!("\n### {title}\n\n"));
        if list.is_empty() {
            s.push_str("None.\n");
        }
        for d in list.iter() {
            s.push_str(&format!("- {d}\n"));
        }
    }
    s.push_str("\n### Upgraded\n\n");
    if p.upgraded.is_empty() {
        s.push_str("None.\n");
    }
    for u in &p.upgraded {
        s.push_str(&format!(
            "- {}: {} → {}\n",
            u.name,
            u.from.join(", "),
            u.to.join(", ")
        ));
    }
    if p.previous.is_some() {
        s.push_str(&format!(
            "\n## Commits ({})\n\n",
            p.commits.len() + p.commits_left_out
        ));
        for c in &p.commits {
            s.push_str(&format!("- {c}\n"));
        }
        if p.commits_left_out > 0 {
            s.push_str(&format!("- … and {} more\n", p.commits_left_out));
        }
        s.push_str(&format!(
            "\n## Files changed ({})\n\n",
            p.files_changed.len()
        ));
        if !p.files_changed.is_empty() {
            s.push_str(&fenced("", &(p.files_changed.join("\n") + "\n")));
        }
    }
    s.push_str(&format!("\n## Build recipe `{}`\n\n", p.recipe_path));
    s.push_str(&fenced("sh", &p.recipe));
    s
}
