//! The data directory as a whole: log key, authorization, storage, content.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vitrine_note::{SignatureType, SignerKey, VerifierKey};

use crate::fs::{put_atomic, read_optional};
use crate::{init, Authorization, Error, FsStorage, Purpose, StorageError};

/// File holding the log's signer key (`PRIVATE+KEY+...`, mode 0600).
pub const KEY_FILE: &str = "log.key";
/// File holding the [`Authorization`] text form.
pub const AUTHORIZED_FILE: &str = "authorized";
/// File holding the log's [`Purpose`] (`rules` or `custody`, one line);
/// absent in logs made before logs were split by purpose, which take any
/// statement type.
pub const PURPOSE_FILE: &str = "purpose";

/// What `vitrine log serve` needs from a data directory.
pub struct DataDir {
    /// The storage backend.
    pub storage: Arc<FsStorage>,
    /// The log key.
    pub key: SignerKey,
    /// Who may write (empty if the `authorized` file is absent).
    pub authorization: Authorization,
    /// Which statement types the log takes at all (`None`: any).
    pub purpose: Option<Purpose>,
    /// Content addressed by SHA-256, served beside the log.
    pub content: ContentStore,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |err| {
        Error::Storage(StorageError::Io {
            op,
            path: path.display().to_string(),
            err,
        })
    }
}

impl DataDir {
    /// Creates a log in `dir`: a fresh key named `origin` (written with mode
    /// 0600, never overwritten) and the empty tree's checkpoint. Returns the
    /// log's verifier key.
    pub fn init(dir: &Path, origin: &str) -> Result<VerifierKey, Error> {
        Self::init_for(dir, origin, None)
    }

    /// [`DataDir::init`] for a log of one [`Purpose`] (recorded in
    /// [`PURPOSE_FILE`]; `None` takes any type).
    pub fn init_for(
        dir: &Path,
        origin: &str,
        purpose: Option<Purpose>,
    ) -> Result<VerifierKey, Error> {
        let key = SignerKey::generate(origin, SignatureType::Ed25519)
            .map_err(|e| Error::Sign(e.into()))?;
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let path = dir.join(KEY_FILE);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("create", &path))?;
        f.write_all(format!("{}\n", key.to_private_text()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("write", &path))?;
        if let Some(p) = purpose {
            put_atomic(&dir.join(PURPOSE_FILE), format!("{p}\n").as_bytes())?;
        }
        let storage = FsStorage::open(dir)?;
        init(&storage, &key)?;
        Ok(key.verifier())
    }

    /// Opens an initialised data directory.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let files = DirFiles::open(dir)?;
        Ok(Self {
            storage: Arc::new(FsStorage::open(dir)?),
            key: files.key,
            authorization: files.authorization,
            purpose: files.purpose,
            content: files.content,
        })
    }
}

/// A data directory without its storage: what a front end whose log is
/// in PostgreSQL needs from it. Opening it takes no lock, so several
/// front ends may share one directory (its key, `authorized` file and
/// content).
pub struct DirFiles {
    /// The log key.
    pub key: SignerKey,
    /// Who may write (empty if the `authorized` file is absent).
    pub authorization: Authorization,
    /// Which statement types the log takes at all (`None`: any).
    pub purpose: Option<Purpose>,
    /// Content addressed by SHA-256, served beside the log.
    pub content: ContentStore,
}

impl DirFiles {
    /// Reads the key, `authorized` and `purpose` of `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(KEY_FILE);
        let text = fs::read_to_string(&path).map_err(io("read", &path))?;
        let key = SignerKey::parse(text.trim_end()).map_err(|e| Error::Corrupt {
            what: format!("{}: {e}", path.display()),
        })?;
        let auth_path = dir.join(AUTHORIZED_FILE);
        let authorization = match read_optional(&auth_path)? {
            None => Authorization::new(),
            Some(bytes) => Authorization::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                Error::Corrupt {
                    what: format!("{}: {e}", auth_path.display()),
                }
            })?,
        };
        let purpose_path = dir.join(PURPOSE_FILE);
        let purpose = match read_optional(&purpose_path)? {
            None => None,
            Some(bytes) => Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| t.trim_end_matches('\n').parse::<Purpose>().ok())
                    .ok_or_else(|| Error::Corrupt {
                        what: format!(
                            "{}: expected `rules` or `custody` on one line",
                            purpose_path.display()
                        ),
                    })?,
            ),
        };
        Ok(Self {
            key,
            authorization,
            purpose,
            content: ContentStore {
                dir: dir.join("content").join("sha256"),
            },
        })
    }
}

/// Blobs named by the lowercase hex SHA-256 of their bytes, in a directory.
/// Written atomically and durably; the caller checks the name matches.
#[derive(Clone, Debug)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Stores `bytes` under `hex` (64 lowercase hex digits, checked by the
    /// caller); returns `false` if it was already there.
    pub fn put(&self, hex: &str, bytes: &[u8]) -> Result<bool, StorageError> {
        let path = self.dir.join(hex);
        if path.exists() {
            return Ok(false);
        }
        put_atomic(&path, bytes)?;
        Ok(true)
    }

    /// The bytes stored under `hex`, if any.
    pub fn get(&self, hex: &str) -> Result<Option<Vec<u8>>, StorageError> {
        read_optional(&self.dir.join(hex))
    }
}
