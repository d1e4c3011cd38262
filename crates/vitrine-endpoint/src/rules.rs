//! The rules an endpoint scans with: its active verified bundles (every
//! channel's), else the system's, else the built-in set; the compiled-rules
//! cache; the owner's allowlist.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use vitrine_bundle::{Bundle, FileKind, Limits};
use vitrine_client::{ActiveMetadata, EndpointState};
use vitrine_scan::hashdb::HashFormat;
use vitrine_scan::{RuleSet, RuleSource, RulesBuilder};

/// A rules builder holding a bundle's YARA sources and hash lists.
pub fn builder(bundle: &Bundle, source: RuleSource) -> RulesBuilder {
    let mut b = RulesBuilder::new();
    b.source(source);
    add_bundle(&mut b, bundle);
    b
}

/// Adds every rule and signature file of a bundle to a builder.
pub fn add_bundle(b: &mut RulesBuilder, bundle: &Bundle) {
    for f in bundle.files() {
        // The bundle parser guarantees UTF-8.
        let text = String::from_utf8_lossy(&f.data);
        match f.kind {
            FileKind::Yara => {
                b.add_yara_source(&f.path, &text);
            }
            FileKind::Hdb => {
                b.add_hash_source(Path::new(&f.path), &text, HashFormat::Hdb);
            }
            FileKind::Hsb => {
                b.add_hash_source(Path::new(&f.path), &text, HashFormat::Hsb);
            }
        }
    }
}

/// Compiles a bundle's YARA sources and hash lists into a rule set.
pub fn compile(bundle: &Bundle, source: RuleSource) -> Result<RuleSet, vitrine_scan::Error> {
    builder(bundle, source).build()
}

/// The active verified bundles' rules (every channel's), if the state
/// directory has any. Each bundle's bytes are checked against its recorded
/// SHA-256 first; each bundle's YARA rules get their own namespace when
/// there are several.
pub fn active_rules(state_dir: &Path) -> Result<Option<RulesBuilder>> {
    if !state_dir.join("active").exists() && !state_dir.join("channels").is_dir() {
        return Ok(None);
    }
    let state = EndpointState::open(state_dir)?;
    let mut used = Vec::new();
    for active in state.actives()? {
        let m = active.metadata.clone();
        if m.expires <= crate::state::now() && m.on_expiry == vitrine_client::OnExpiry::Builtin {
            // The policy said: once expired, do not scan with it (the
            // summary says the bundle expired).
            continue;
        }
        let path = active.bundle_path();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if hex::encode(Sha256::digest(&bytes)) != m.sha256 {
            bail!(
                "the active bundle {} does not hash to its verified SHA-256: run `vitrine update` again",
                path.display()
            );
        }
        let bundle = Bundle::parse(&bytes, &Limits::default())
            .with_context(|| format!("parsing {}", path.display()))?;
        used.push((m, bundle));
    }
    let (first, rest) = match used.split_first() {
        None => return Ok(None),
        Some(x) => x,
    };
    let source = |m: &ActiveMetadata| RuleSource::VerifiedBundle {
        name: m.name.clone(),
        version: m.version,
        log_index: m.log_index,
    };
    if rest.is_empty() {
        return Ok(Some(builder(&first.1, source(&first.0))));
    }
    let mut b = RulesBuilder::new();
    for (m, bundle) in &used {
        b.namespace(Some(&m.name));
        add_bundle(&mut b, bundle);
    }
    b.namespace(None);
    b.source(RuleSource::VerifiedBundles {
        bundles: used
            .iter()
            .map(|(m, _)| vitrine_scan::BundleRef {
                name: m.name.clone(),
                version: m.version,
                log_index: m.log_index,
            })
            .collect(),
    });
    Ok(Some(b))
}

/// What an endpoint scans with when no rule files are given: the active
/// bundles of `state`; else, when `system_fallback` (no state directory
/// was asked for), the system's (`/var/lib/vitrine`, which the service or
/// root verified and installed); else the built-in starter set.
pub fn endpoint_rules(state: Option<&Path>, system_fallback: bool) -> Result<RulesBuilder> {
    let mut active = match state {
        Some(d) => active_rules(d)
            .with_context(|| format!("loading the active bundle of {}", d.display()))?,
        None => None,
    };
    if active.is_none() && system_fallback {
        let sys = crate::state::system_state_dir();
        if Some(sys.as_path()) != state && sys.join("active").exists() {
            active = active_rules(&sys).with_context(|| {
                format!("loading the system's active bundle in {}", sys.display())
            })?;
        }
    }
    Ok(active.unwrap_or_else(RulesBuilder::builtin))
}

/// Rule and hash files given by path (`--rules`, `--hashes`).
pub fn file_rules(rules: &[PathBuf], hashes: &[PathBuf]) -> Result<RulesBuilder> {
    let mut b = RulesBuilder::new();
    for p in rules {
        b.add_yara_path(p)?;
    }
    for p in hashes {
        b.add_hash_path(p)?;
    }
    Ok(b)
}

/// Compiles `builder`, with the compiled rules cached in STATE/rules-cache
/// when there is a state directory; logs what the cache did.
pub fn build_rules(builder: RulesBuilder, state: Option<&Path>) -> Result<RuleSet> {
    let Some(dir) = state else {
        return Ok(builder.build()?);
    };
    let (rules, cache) = builder.build_cached(&dir.join("rules-cache"))?;
    match cache {
        vitrine_scan::RulesCache::Hit => tracing::info!("compiled rules loaded from the cache"),
        vitrine_scan::RulesCache::Stored => tracing::info!("rules compiled and cached"),
        vitrine_scan::RulesCache::Replaced(why) => {
            tracing::warn!(%why, "the compiled-rules cache could not be used; rules compiled and cached again")
        }
        vitrine_scan::RulesCache::NotStored(why) => {
            tracing::warn!(%why, "rules compiled; the compiled-rules cache could not be written")
        }
    }
    Ok(rules)
}

/// The file in the state directory `quarantine restore --allow` adds to.
pub const ALLOWLIST_FILE: &str = "allowlist";

/// The owner's allowlist: the configuration's `[allow]` (its hashes, names
/// and files), STATE/allowlist if there is a state directory and it
/// exists, and the `files` a command names.
pub fn read_allowlist(state: Option<&Path>, files: &[PathBuf]) -> Result<vitrine_scan::Allowlist> {
    let config = &crate::config::current().allow;
    let mut allow = vitrine_scan::Allowlist::new();
    let own = state.map(|d| d.join(ALLOWLIST_FILE)).filter(|f| f.exists());
    let configured = config.files.iter().map(|f| f.0.clone());
    for f in configured.chain(own).chain(files.iter().cloned()) {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        allow.add_text(&f, &text)?;
    }
    for h in &config.sha256 {
        allow
            .add_sha256(&h.0)
            .map_err(|e| anyhow::anyhow!("the configuration's [allow] sha256: {e}"))?;
    }
    for n in &config.names {
        allow.add_name(n);
    }
    Ok(allow)
}
