//! A small blocking client of the vendor's log (`vitrine log serve`):
//! `POST /add`, `GET /checkpoint`, tiles. Nothing it reads is trusted:
//! checkpoints are verified against the log key, proofs against them.

use std::io::Read;
use std::time::{Duration, Instant};

use vitrine_note::{VerifierKey, Verifiers};
use vitrine_tlog::{
    bundle_for_leaf, decode_entry_bundle, inclusion_proof, open_checkpoint, OpenedCheckpoint,
    TileHashReader, TilePath, TlogProof,
};

use crate::LogError;

const MAX_TILE: usize = 256 * (65_535 + 2);
const MAX_CHECKPOINT: usize = 1 << 20;

/// The client.
#[derive(Clone)]
pub struct LogClient {
    http: reqwest::blocking::Client,
    base: String,
    key: VerifierKey,
    wait: Duration,
}

impl LogClient {
    /// A client of the log at `base`, whose checkpoints `key` signs.
    pub fn new(base: &str, key: VerifierKey) -> Result<Self, LogError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| LogError::Http {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(LogClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
            wait: Duration::from_secs(30),
        })
    }

    /// The log key.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }

    fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, LogError> {
        let url = format!("{}/{path}", self.base);
        let resp = self.http.get(&url).send().map_err(|e| LogError::Http {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        read(url, resp, limit)
    }

    /// Submits a signed statement; returns its index.
    pub fn add(&self, note: &[u8]) -> Result<u64, LogError> {
        let url = format!("{}/add", self.base);
        let resp = self
            .http
            .post(&url)
            .body(note.to_vec())
            .send()
            .map_err(|e| LogError::Http {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let body = read(url.clone(), resp, 64)?;
        std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.trim_end().parse().ok())
            .ok_or(LogError::Protocol {
                reason: "/add answered no index".into(),
            })
    }

    /// The current checkpoint, verified against the log key.
    pub fn checkpoint(&self) -> Result<OpenedCheckpoint, LogError> {
        let bytes = self.get("checkpoint", MAX_CHECKPOINT)?;
        open_checkpoint(&bytes, &self.key, &Verifiers::new()).map_err(|e| LogError::Checkpoint {
            reason: e.to_string(),
        })
    }

    /// Waits for a checkpoint covering `index`, builds the inclusion proof
    /// of `entry` at `index` from tiles and verifies it. Returns the
    /// tlog-proof.
    pub fn prove(&self, entry: &[u8], index: u64) -> Result<TlogProof, LogError> {
        let start = Instant::now();
        let opened = loop {
            let cp = self.checkpoint()?;
            if cp.checkpoint.size > index {
                break cp;
            }
            if start.elapsed() > self.wait {
                return Err(LogError::NotCovered { index });
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let size = opened.checkpoint.size;
        let reader = TileHashReader::new(size, |p: &TilePath| {
            self.get(&p.to_string(), MAX_TILE)
                .map_err(|_| vitrine_tlog::Error::TileUnavailable {
                    path: p.to_string(),
                })
        });
        let proof = inclusion_proof(&reader, index, size).map_err(|e| LogError::Proof {
            reason: e.to_string(),
        })?;
        let tp = TlogProof::new(None, index, proof, opened.note).map_err(|e| LogError::Proof {
            reason: e.to_string(),
        })?;
        tp.verify(
            &vitrine_tlog::leaf_hash(entry),
            &self.key,
            &Verifiers::new(),
        )
        .map_err(|e| LogError::Proof {
            reason: e.to_string(),
        })?;
        Ok(tp)
    }

    /// Checks that `old` (a checkpoint already verified against the log
    /// key, e.g. from a receipt's proof) is consistent with the log's
    /// current checkpoint: the log has not forked since. Returns the
    /// current size.
    pub fn check_consistent(&self, old: &vitrine_tlog::Checkpoint) -> Result<u64, LogError> {
        let current = self.checkpoint()?;
        let new = &current.checkpoint;
        if new.size < old.size {
            return Err(LogError::Proof {
                reason: format!(
                    "the log's checkpoint ({}) is smaller than a verified one ({})",
                    new.size, old.size
                ),
            });
        }
        let reader = TileHashReader::new(new.size, |p: &TilePath| {
            self.get(&p.to_string(), MAX_TILE)
                .map_err(|_| vitrine_tlog::Error::TileUnavailable {
                    path: p.to_string(),
                })
        });
        let proof = vitrine_tlog::consistency_proof(&reader, old.size, new.size).map_err(|e| {
            LogError::Proof {
                reason: e.to_string(),
            }
        })?;
        vitrine_tlog::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
            .map_err(|e| LogError::Proof {
                reason: format!(
                    "checkpoint of size {} is not consistent with the log's current one of size {}: {e}",
                    old.size, new.size
                ),
            })?;
        Ok(new.size)
    }

    /// Every entry of the log up to the current checkpoint's size (for
    /// audits). Entry bundles are checked against the verified checkpoint's
    /// tree by recomputing each entry's inclusion.
    pub fn entries(&self) -> Result<Vec<Vec<u8>>, LogError> {
        let opened = self.checkpoint()?;
        let size = opened.checkpoint.size;
        let mut out = Vec::with_capacity(size as usize);
        let mut leaves = Vec::with_capacity(size as usize);
        let mut leaf = 0u64;
        while leaf < size {
            let path = bundle_for_leaf(size, leaf).ok_or(LogError::Protocol {
                reason: "index past the tree".into(),
            })?;
            let data = self.get(&path.to_string(), MAX_TILE)?;
            let entries = decode_entry_bundle(&data).map_err(|e| LogError::Protocol {
                reason: e.to_string(),
            })?;
            if entries.len() != usize::from(path.width()) {
                return Err(LogError::Protocol {
                    reason: "entry bundle width mismatch".into(),
                });
            }
            for e in entries {
                leaves.push(vitrine_tlog::leaf_hash(&e));
                out.push(e);
            }
            leaf = out.len() as u64;
        }
        if vitrine_tlog::root_from_leaf_hashes(&leaves) != opened.checkpoint.root {
            return Err(LogError::Proof {
                reason: "the entries do not hash to the checkpoint's root".into(),
            });
        }
        Ok(out)
    }
}

fn read(url: String, resp: reqwest::blocking::Response, limit: usize) -> Result<Vec<u8>, LogError> {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    resp.take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| LogError::Http {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    if body.len() > limit {
        return Err(LogError::Protocol {
            reason: format!("{url}: answer over {limit} bytes"),
        });
    }
    if !(200..300).contains(&status) {
        return Err(LogError::Status {
            url,
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        });
    }
    Ok(body)
}
