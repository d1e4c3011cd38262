//! The endpoint state directory. Every write is atomic: temp file, fsync,
//! rename, fsync of the directory.
//!
//! ```text
//! <state>/checkpoints/<log-id>          newest verified cosigned checkpoint note
//! <state>/forks/<log-id>.json           fork evidence (freezes that log)
//! <state>/forks/<log-id>.cleared-<t>.json  evidence the owner cleared at time t
//! <state>/bundles/<version>-<sha256>/   bundle, bundle.statement, bundle.tlog-proof, metadata.json
//! <state>/active                        name of the active bundle directory
//!                                       (policy without `bundle` lines)
//! <state>/channels/<name>               the same, for channel <name> (a
//!                                       policy `bundle` line)
//! ```
//! `<log-id>` is the first 32 hex digits of SHA-256(origin).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vitrine_tlog::{Checkpoint, Hash};

use crate::{ForkKind, UpdateError};

/// Metadata of the active bundle, `metadata.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActiveMetadata {
    /// Bundle name (manifest).
    pub name: String,
    /// Bundle version.
    pub version: u64,
    /// SHA-256 of the bundle, hex.
    pub sha256: String,
    /// Bundle size in bytes.
    pub size: u64,
    /// Expiry of the bundle.
    pub expires: u64,
    /// Origin of the log it is logged in.
    pub log_origin: String,
    /// Index of its statement in the log.
    pub log_index: u64,
    /// Size of the checkpoint it was verified under.
    pub checkpoint_size: u64,
    /// Root of that checkpoint, hex.
    pub checkpoint_root: String,
    /// Policy names of the witnesses that cosigned it.
    pub witnesses: Vec<String>,
    /// When it was verified, Unix seconds.
    pub verified_at: u64,
    /// The policy's `on-expiry` when it was installed: what scans do once
    /// it has expired.
    #[serde(default)]
    pub on_expiry: crate::OnExpiry,
}

/// The active bundle as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBundle {
    /// Its directory.
    pub dir: PathBuf,
    /// Metadata.
    pub metadata: ActiveMetadata,
}

impl ActiveBundle {
    /// Path of the bundle bytes.
    pub fn bundle_path(&self) -> PathBuf {
        self.dir.join(crate::BUNDLE_FILE)
    }

    /// The `rules` statement it was installed with (verified then), as
    /// stored beside it: its acknowledged lint findings (`allow`) are what
    /// `vitrine status` shows.
    pub fn rules(&self) -> Result<vitrine_statements::Rules, UpdateError> {
        let path = self.dir.join(crate::STATEMENT_FILE);
        let bytes = fs::read(&path).map_err(io(&path))?;
        let corrupt = |reason: String| UpdateError::CorruptState {
            path: path.clone(),
            reason,
        };
        let note = vitrine_note::Note::parse(&bytes).map_err(|e| corrupt(e.to_string()))?;
        match vitrine_statements::Statement::parse(note.text().as_bytes()) {
            Ok(vitrine_statements::Statement::Rules(r)) => Ok(r),
            Ok(other) => Err(corrupt(format!(
                "a {} statement, not rules",
                other.kind().name()
            ))),
            Err(e) => Err(corrupt(e.to_string())),
        }
    }
}

/// Fork evidence: both signed checkpoints, kept for the owner and auditors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForkEvidence {
    /// The log's origin.
    pub origin: String,
    /// What is inconsistent.
    pub kind: ForkKind,
    /// When it was detected, Unix seconds.
    pub detected_at: u64,
    /// The stored checkpoint note, verbatim.
    pub stored_checkpoint: String,
    /// The new checkpoint note, verbatim.
    pub new_checkpoint: String,
    /// The consistency proof offered, base64 hashes.
    pub consistency_proof: Vec<String>,
}

/// A fork evidence file as found in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRecord {
    /// The log id (file name stem).
    pub id: String,
    /// When the owner cleared it, Unix seconds; `None` while it stands.
    pub cleared_at: Option<u64>,
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub evidence: ForkEvidence,
}

/// What [`EndpointState::clear_fork`] does with the stored checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointAfterClear {
    /// Keep it: updates must still be consistent with it.
    Keep,
    /// Forget it: the next verified checkpoint is trusted on first use.
    Forget,
}

/// The endpoint state directory.
#[derive(Debug, Clone)]
pub struct EndpointState {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        path: path.to_owned(),
        error: source,
    }
}

/// Writes `data` to `path` atomically and durably, through a temporary
/// file with a unique random name created exclusively without following
/// links (a link planted in the state directory is never followed).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), UpdateError> {
    vitrine_fs::write_atomic(path, data, 0o644).map_err(|e| match e {
        vitrine_fs::FsError::Io { path, source, .. } => UpdateError::Io {
            path,
            error: source,
        },
        other => UpdateError::Io {
            path: path.to_owned(),
            error: std::io::Error::other(other.to_string()),
        },
    })
}

fn sync_dir(dir: &Path) -> Result<(), UpdateError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, UpdateError> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// The file-name id of a log.
pub fn log_id(origin: &str) -> String {
    hex::encode(&Sha256::digest(origin.as_bytes())[..16])
}

impl EndpointState {
    /// Opens (creating if needed) a state directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, UpdateError> {
        let dir = dir.into();
        for sub in ["checkpoints", "forks", "bundles"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(EndpointState { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn checkpoint_path(&self, origin: &str) -> PathBuf {
        self.dir.join("checkpoints").join(log_id(origin))
    }

    /// Path of the fork evidence file for a log (whether or not it exists).
    pub fn fork_path(&self, origin: &str) -> PathBuf {
        self.dir
            .join("forks")
            .join(format!("{}.json", log_id(origin)))
    }

    /// The newest checkpoint note verified for `origin`, verbatim.
    pub fn stored_checkpoint_note(&self, origin: &str) -> Result<Option<Vec<u8>>, UpdateError> {
        read_opt(&self.checkpoint_path(origin))
    }

    /// The newest checkpoint verified for `origin`, parsed.
    pub fn stored_checkpoint(&self, origin: &str) -> Result<Option<Checkpoint>, UpdateError> {
        let path = self.checkpoint_path(origin);
        let Some(bytes) = read_opt(&path)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| UpdateError::CorruptState {
            path: path.clone(),
            reason,
        };
        let note = vitrine_note::Note::parse(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let cp = Checkpoint::parse(note.text()).map_err(|e| corrupt(e.to_string()))?;
        if cp.origin != origin {
            return Err(corrupt("origin differs".to_owned()));
        }
        Ok(Some(cp))
    }

    pub(crate) fn store_checkpoint(&self, origin: &str, note: &[u8]) -> Result<(), UpdateError> {
        write_atomic(&self.checkpoint_path(origin), note)
    }

    /// Fork evidence on record for `origin`.
    pub fn fork_evidence(&self, origin: &str) -> Result<Option<ForkEvidence>, UpdateError> {
        let path = self.fork_path(origin);
        let Some(bytes) = read_opt(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| UpdateError::CorruptState {
                path,
                reason: e.to_string(),
            })
    }

    /// Records fork evidence; an existing record is never overwritten.
    pub(crate) fn record_fork(&self, ev: &ForkEvidence) -> Result<PathBuf, UpdateError> {
        let path = self.fork_path(&ev.origin);
        if path.exists() {
            return Ok(path);
        }
        let json = serde_json::to_vec_pretty(ev).expect("invariant: evidence serializes");
        write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Every fork evidence file, standing and cleared, oldest first by file
    /// name. A file that does not parse is reported as corrupt.
    pub fn fork_records(&self) -> Result<Vec<ForkRecord>, UpdateError> {
        let forks = self.dir.join("forks");
        let mut out = Vec::new();
        let entries = match fs::read_dir(&forks) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&forks)(e)),
        };
        for e in entries {
            let e = e.map_err(io(&forks))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let stem = &name[..name.len() - ".json".len()];
            let (id, cleared_at) = match stem.split_once(".cleared-") {
                Some((id, t)) => (id.to_owned(), t.parse().ok()),
                None => (stem.to_owned(), None),
            };
            let path = e.path();
            let bytes = fs::read(&path).map_err(io(&path))?;
            let evidence: ForkEvidence =
                serde_json::from_slice(&bytes).map_err(|e| UpdateError::CorruptState {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            out.push(ForkRecord {
                id,
                cleared_at,
                path,
                evidence,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The owner's explicit decision to unfreeze a log after reviewing the
    /// evidence. The evidence is kept, renamed `<log-id>.cleared-<now>.json`:
    /// the clearing is itself recorded in the state.
    pub fn clear_fork(
        &self,
        origin: &str,
        now: u64,
        checkpoint: CheckpointAfterClear,
    ) -> Result<(), UpdateError> {
        let path = self.fork_path(origin);
        if path.exists() {
            let mut t = now;
            let kept = loop {
                let p = self
                    .dir
                    .join("forks")
                    .join(format!("{}.cleared-{t}.json", log_id(origin)));
                if !p.exists() {
                    break p;
                }
                t += 1;
            };
            fs::rename(&path, &kept).map_err(io(&path))?;
        }
        if checkpoint == CheckpointAfterClear::Forget {
            let cp = self.checkpoint_path(origin);
            match fs::remove_file(&cp) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&cp)(e)),
            }
        }
        sync_dir(&self.dir.join("forks"))?;
        sync_dir(&self.dir.join("checkpoints"))
    }

    fn pointer(&self, channel: Option<&str>) -> PathBuf {
        match channel {
            None => self.dir.join("active"),
            Some(c) => self.dir.join("channels").join(c),
        }
    }

    /// The active bundle of a policy without `bundle` lines, if any.
    pub fn active(&self) -> Result<Option<ActiveBundle>, UpdateError> {
        self.active_in(None)
    }

    /// The active bundle of `channel` (`None`: the single channel of a
    /// policy without `bundle` lines).
    pub fn active_in(&self, channel: Option<&str>) -> Result<Option<ActiveBundle>, UpdateError> {
        if channel.is_some_and(|c| !crate::valid_channel(c)) {
            return Ok(None);
        }
        self.read_pointer(&self.pointer(channel))
    }

    /// Every active bundle: the single-channel one first, then each
    /// channel's by name. `scan` loads them all.
    pub fn actives(&self) -> Result<Vec<ActiveBundle>, UpdateError> {
        let mut out: Vec<ActiveBundle> = self.active()?.into_iter().collect();
        let dir = self.dir.join("channels");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::valid_channel(&name) {
                names.push(name);
            }
        }
        names.sort();
        for n in names {
            out.extend(self.read_pointer(&dir.join(n))?);
        }
        Ok(out)
    }

    fn read_pointer(&self, pointer: &Path) -> Result<Option<ActiveBundle>, UpdateError> {
        let pointer = pointer.to_owned();
        let Some(name) = read_opt(&pointer)? else {
            return Ok(None);
        };
        let name = String::from_utf8(name)
            .ok()
            .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
            .ok_or_else(|| UpdateError::CorruptState {
                path: pointer.clone(),
                reason: "bad bundle directory name".to_owned(),
            })?;
        let dir = self.dir.join("bundles").join(name);
        let meta_path = dir.join(crate::METADATA_FILE);
        let bytes = fs::read(&meta_path).map_err(io(&meta_path))?;
        let metadata = serde_json::from_slice(&bytes).map_err(|e| UpdateError::CorruptState {
            path: meta_path,
            reason: e.to_string(),
        })?;
        Ok(Some(ActiveBundle { dir, metadata }))
    }

    /// Writes a bundle directory completely, then switches the `active`
    /// pointer to it in one rename.
    pub(crate) fn install(
        &self,
        files: &[(&str, &[u8])],
        metadata: &ActiveMetadata,
        channel: Option<&str>,
    ) -> Result<ActiveBundle, UpdateError> {
        let name = format!("{}-{}", metadata.version, &metadata.sha256[..16]);
        let bundles = self.dir.join("bundles");
        let dir = bundles.join(&name);
        let staging = bundles.join(format!(".{name}.staging-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        let json = serde_json::to_vec_pretty(metadata).expect("invariant: metadata serializes");
        for (file, data) in files
            .iter()
            .copied()
            .chain([(crate::METADATA_FILE, json.as_slice())])
        {
            let p = staging.join(file);
            let mut f = fs::File::create(&p).map_err(io(&p))?;
            f.write_all(data).map_err(io(&p))?;
            f.sync_all().map_err(io(&p))?;
        }
        sync_dir(&staging)?;
        if self
            .actives()?
            .iter()
            .any(|a| a.dir.file_name() == dir.file_name())
        {
            // The same bytes are active in another channel: share them.
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
        } else {
            if dir.exists() {
                // A leftover of an earlier attempt; no pointer names it.
                fs::remove_dir_all(&dir).map_err(io(&dir))?;
            }
            fs::rename(&staging, &dir).map_err(io(&dir))?;
            sync_dir(&bundles)?;
        }
        let pointer = self.pointer(channel);
        if let Some(parent) = pointer.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_atomic(&pointer, name.as_bytes())?;
        Ok(ActiveBundle {
            dir,
            metadata: metadata.clone(),
        })
    }
}

/// Hex of a hash.
pub(crate) fn hex_hash(h: &Hash) -> String {
    hex::encode(h)
}
