//! The auditor's state directory:
//!
//! ```text
//! state.json          origin, verified size and root, frontier, the
//!                     checkpoint note, and the rules of the newest bundle
//!                     of each name
//! forks/<time>.json   fork evidence: both checkpoint notes and what
//!                     disagreed; never overwritten or deleted
//! ```
//!
//! Files are written to a temporary file, fsynced and renamed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vitrine_tlog::{empty_root, node_hash, Hash};

use crate::AuditError;

const STATE_FILE: &str = "state.json";

/// A rule as remembered for diffs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// `file:rule`.
    pub id: String,
    /// The linter's digest of the rule text.
    pub digest: String,
}

/// The newest bundle of one name seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleState {
    /// Log index of its statement.
    pub index: u64,
    /// Version.
    pub version: u64,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Its rules.
    pub rules: Vec<RuleState>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub origin: Option<String>,
    pub size: u64,
    root: String,
    frontier: Vec<String>,
    pub checkpoint: Option<String>,
    pub bundles: BTreeMap<String, BundleState>,
}

fn corrupt(dir: &Path, reason: impl Into<String>) -> AuditError {
    AuditError::CorruptState {
        path: dir.join(STATE_FILE),
        reason: reason.into(),
    }
}

fn hash(dir: &Path, s: &str) -> Result<Hash, AuditError> {
    hex::decode(s)
        .ok()
        .and_then(|v| Hash::try_from(v).ok())
        .ok_or_else(|| corrupt(dir, format!("bad hash {s:?}")))
}

impl State {
    pub fn load(dir: &Path) -> Result<State, AuditError> {
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(err) => return Err(AuditError::State { path, err }),
        };
        let state: State =
            serde_json::from_slice(&data).map_err(|e| corrupt(dir, e.to_string()))?;
        // Check it now, so later accessors cannot fail on it.
        let f = state.frontier_in(dir)?;
        if f.size != state.size || (state.size > 0 && f.root() != hash(dir, &state.root)?) {
            return Err(corrupt(dir, "frontier does not match size and root"));
        }
        Ok(state)
    }

    fn frontier_in(&self, dir: &Path) -> Result<Frontier, AuditError> {
        let hashes = self
            .frontier
            .iter()
            .map(|h| hash(dir, h))
            .collect::<Result<Vec<_>, _>>()?;
        if hashes.len() != self.size.count_ones() as usize {
            return Err(corrupt(dir, "frontier length does not match size"));
        }
        Ok(Frontier {
            size: self.size,
            hashes,
        })
    }

    pub fn frontier(&self) -> Result<Frontier, AuditError> {
        self.frontier_in(Path::new("."))
    }

    pub fn root(&self) -> Result<Hash, AuditError> {
        hash(Path::new("."), &self.root)
    }

    pub fn set_tree(&mut self, size: u64, root: &Hash, frontier: &Frontier) {
        self.size = size;
        self.root = hex::encode(root);
        self.frontier = frontier.hashes.iter().map(hex::encode).collect();
    }

    pub fn save(&self, dir: &Path) -> Result<(), AuditError> {
        let data = serde_json::to_vec_pretty(self).expect("invariant: state serialises");
        write_atomic(&dir.join(STATE_FILE), &data)
    }
}

/// The right edge of a Merkle tree: the roots of its perfect subtrees,
/// largest first (RFC 6962 hashing). Enough to extend the tree and compute
/// its root without the rest of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("invariant: one hash per set bit of size");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), AuditError> {
    let err = |err| AuditError::State {
        path: path.to_owned(),
        err,
    };
    // A unique temporary name, created exclusively: a link planted beside
    // the state is never followed.
    vitrine_fs::write_atomic(path, data, 0o644).map_err(|e| err(std::io::Error::other(e)))
}

/// The first fork evidence file, if any.
pub(crate) fn existing_evidence(dir: &Path) -> Result<Option<PathBuf>, AuditError> {
    let forks = dir.join("forks");
    let rd = std::fs::read_dir(&forks).map_err(|err| AuditError::State {
        path: forks.clone(),
        err,
    })?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

pub(crate) fn write_evidence(
    dir: &Path,
    old_note: &str,
    new_note: &str,
    detail: &str,
) -> Result<PathBuf, AuditError> {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut path = dir.join("forks").join(format!("{time}.json"));
    let mut n = 1;
    while path.exists() {
        path = dir.join("forks").join(format!("{time}-{n}.json"));
        n += 1;
    }
    let doc = serde_json::json!({
        "time": time,
        "detail": detail,
        "verified_checkpoint": old_note,
        "presented_checkpoint": new_note,
    });
    write_atomic(
        &path,
        &serde_json::to_vec_pretty(&doc).expect("invariant: JSON serialises"),
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_tlog::{leaf_hash, MemoryTree};

    #[test]
    fn frontier_matches_full_tree() {
        let mut tree = MemoryTree::new();
        let mut f = Frontier::default();
        assert_eq!(f.root(), tree.root());
        for i in 0..300u32 {
            tree.push_data(&i.to_le_bytes());
            f.push(leaf_hash(&i.to_le_bytes()));
            assert_eq!(f.root(), tree.root(), "size {}", i + 1);
        }
    }
}
