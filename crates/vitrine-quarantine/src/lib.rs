//! The quarantine store: detected files are moved in, encoded so that they
//! can neither run nor be detected again, and can be restored byte for
//! byte with their mode and times.
//!
//! # Never losing a file
//!
//! A file is moved by *copy, fsync, record, then remove*, with an intent
//! written to a journal first:
//!
//! 1. the intent (`journal/ID.json`) is written and made durable;
//! 2. the file is copied, encoded, into `objects/ID` (written under a
//!    temporary name, fsynced, renamed, directory fsynced);
//! 3. the record (`items/ID.json`) is written the same way;
//! 4. the original is removed (only if it is still the same inode) and its
//!    directory fsynced;
//! 5. the intent is removed.
//!
//! A crash at any point leaves the file at its original place, or in the
//! store, or (between 3 and 4) in both. [`Store::open`] finishes or undoes
//! every interrupted operation: with a record, the original is removed;
//! without one, the partial copy is. Copying (never `rename`) makes this
//! hold across file systems. Restoring and deleting are journalled the
//! same way. One lock file serialises processes sharing a store.
//!
//! # Encoding
//!
//! An object is `VITRINE-QUARANTINE-1\n`, a random 32-byte key, then the
//! content XORed with a SHA-256 keystream of that key. No byte pattern of
//! the original survives, so no scanner (single-byte XOR included) matches
//! it again, and it is stored without execute permission.

#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"VITRINE-QUARANTINE-1\n";

/// Errors of the quarantine store. Each names the file or item at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Only regular files are quarantined.
    #[error("{} is not a regular file; not quarantined", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The file changed while it was copied; it was left in place.
    #[error("{} changed while it was being quarantined; left in place", path.display())]
    ChangedDuringCopy {
        /// The path.
        path: PathBuf,
    },
    /// The path now names another file than the one copied; the copy was
    /// kept in quarantine and the new file left alone.
    #[error("{} was replaced by another file during quarantine; the new file was left in place (the copy is item {id})", path.display())]
    Replaced {
        /// The path.
        path: PathBuf,
        /// The item holding the copy.
        id: String,
    },
    /// The original could not be removed after it was copied: the copy was
    /// discarded at once and the file left where it was.
    #[error("{} could not be removed ({source}); quarantine undone, the file was left in place", path.display())]
    NotRemoved {
        /// The path.
        path: PathBuf,
        /// Why it could not be removed.
        source: std::io::Error,
    },
    /// The store's directory (or one of its parts) is not a directory owned
    /// by this user and closed to others: its journal could be forged.
    #[error("refusing the quarantine store: {} {reason}", path.display())]
    Insecure {
        /// The directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No item has this ID.
    #[error("no quarantined item {id}")]
    UnknownItem {
        /// The ID asked for.
        id: String,
    },
    /// Restoring would overwrite a file.
    #[error("{} exists; not overwritten (use --overwrite, or --to another path)", path.display())]
    TargetExists {
        /// The path.
        path: PathBuf,
    },
    /// An object or record is damaged.
    #[error("quarantine item {id} is damaged: {reason}")]
    Damaged {
        /// The item.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What a scan knew about a file when it was quarantined.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Detection names (`member!path: Name` for detections inside archives).
    pub detections: Vec<String>,
    /// The rules that found it: bundle version or description.
    pub rules: String,
}

/// One quarantined file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Identifier: 16 random hex digits.
    pub id: String,
    /// Where the file was (absolute).
    pub original_path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Access time, nanoseconds since the epoch.
    pub atime_ns: i128,
    /// Why it was quarantined.
    pub reason: Reason,
    /// When, seconds since the epoch.
    pub quarantined_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Intent {
    Quarantine {
        id: String,
        path: PathBuf,
        dev: u64,
        ino: u64,
    },
    Restore {
        id: String,
        target: PathBuf,
    },
    Delete {
        id: String,
    },
}

impl Intent {
    fn id(&self) -> &str {
        match self {
            Intent::Quarantine { id, .. } | Intent::Restore { id, .. } | Intent::Delete { id } => {
                id
            }
        }
    }
}

/// What [`Store::open`] found and repaired.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Quarantines completed (the original removed after a crash).
    pub completed: Vec<String>,
    /// Quarantines undone (a partial copy removed; the original stayed).
    pub rolled_back: Vec<String>,
    /// Restores or deletes finished.
    pub finished: Vec<String>,
    /// Journal entries refused and left untouched for inspection (a bad ID,
    /// or one that does not match its file name): `(file name, why)`.
    pub rejected: Vec<(String, String)>,
}

impl Recovery {
    /// Whether anything was repaired.
    pub fn is_empty(&self) -> bool {
        self.completed.is_empty()
            && self.rolled_back.is_empty()
            && self.finished.is_empty()
            && self.rejected.is_empty()
    }
}

/// Where a crash is simulated in tests (`Store::crash_at`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// After the intent is durable.
    Intent,
    /// After the object is written.
    Object,
    /// After the record is written.
    Record,
    /// After the original is removed.
    Removed,
}

/// A quarantine store in a directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    crash_at: Option<Step>,
}

/// Options of [`Store::restore`].
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Restore here instead of the original path.
    pub to: Option<PathBuf>,
    /// Replace an existing file.
    pub overwrite: bool,
}

impl Store {
    /// Opens (creating, mode 0700) the store at `root` and repairs every
    /// operation a crash interrupted. The store and its parts must be
    /// directories (not links) owned by this user that no one else can
    /// write; anything else is refused, since a forged journal would make
    /// recovery act on files of the forger's choosing.
    pub fn open(root: &Path) -> Result<(Store, Recovery), Error> {
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        for sub in ["", "objects", "items", "journal"] {
            let d = root.join(sub);
            match std::fs::DirBuilder::new().mode(0o700).create(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("creating", &d)(e)),
            }
            check_private_dir(&d)?;
        }
        let store = Store {
            root: root.to_path_buf(),
            crash_at: None,
        };
        let lock = store.lock()?;
        let recovery = store.recover()?;
        drop(lock);
        Ok((store, recovery))
    }

    #[doc(hidden)]
    pub fn crash_at(&mut self, step: Option<Step>) {
        self.crash_at = step;
    }

    fn crashes(&self, step: Step) -> bool {
        self.crash_at == Some(step)
    }

    fn lock(&self) -> Result<File, Error> {
        let p = self.root.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(io("opening", &p))?;
        f.lock().map_err(io("locking", &p))?;
        Ok(f)
    }

    fn item_path(&self, id: &str) -> PathBuf {
        self.root.join("items").join(format!("{id}.json"))
    }
    fn object_path(&self, id: &str) -> PathBuf {
        self.root.join("objects").join(id)
    }
    fn journal_path(&self, id: &str) -> PathBuf {
        self.root.join("journal").join(format!("{id}.json"))
    }

    /// Moves the file at `path` into quarantine.
    pub fn quarantine(&self, path: &Path, reason: Reason) -> Result<Item, Error> {
        let _lock = self.lock()?;
        let path = std::path::absolute(path).map_err(io("resolving", path))?;
        let src = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(io("opening", &path))?;
        let before = src.metadata().map_err(io("reading metadata of", &path))?;
        if !before.is_file() {
            return Err(Error::NotRegular { path });
        }
        let id = new_id();
        let intent = Intent::Quarantine {
            id: id.clone(),
            path: path.clone(),
            dev: before.dev(),
            ino: before.ino(),
        };
        write_atomic(
            &self.journal_path(&id),
            &serde_json::to_vec(&intent).expect("serialisable"),
        )?;
        if self.crashes(Step::Intent) {
            return Err(crash());
        }
        let (sha256, size) = match self.write_object(&id, &src) {
            Ok(v) => v,
            Err(e) => {
                self.undo(&id);
                return Err(e);
            }
        };
        let after = src.metadata().map_err(io("reading metadata of", &path))?;
        if !same_content_stamp(&before, &after) || size != before.len() {
            self.undo(&id);
            return Err(Error::ChangedDuringCopy { path });
        }
        if self.crashes(Step::Object) {
            return Err(crash());
        }
        let item = Item {
            id: id.clone(),
            original_path: path.clone(),
            size,
            sha256,
            mode: before.mode() & 0o7777,
            uid: before.uid(),
            gid: before.gid(),
            mtime_ns: before.mtime() as i128 * 1_000_000_000 + before.mtime_nsec() as i128,
            atime_ns: before.atime() as i128 * 1_000_000_000 + before.atime_nsec() as i128,
            reason,
            quarantined_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        write_atomic(
            &self.item_path(&id),
            &serde_json::to_vec_pretty(&item).expect("serialisable"),
        )?;
        if self.crashes(Step::Record) {
            return Err(crash());
        }
        drop(src);
        let removed = match remove_if_same(&path, before.dev(), before.ino()) {
            Ok(r) => r,
            Err(Error::Io { source, .. }) => {
                // The copy is discarded at once: nothing remains for a
                // later recovery to "finish" behind the user's back.
                self.forget(&id)?;
                return Err(Error::NotRemoved { path, source });
            }
            Err(e) => {
                self.forget(&id)?;
                return Err(e);
            }
        };
        if self.crashes(Step::Removed) {
            return Err(crash());
        }
        remove_durably(&self.journal_path(&id))?;
        if !removed {
            return Err(Error::Replaced { path, id });
        }
        Ok(item)
    }

    /// Copies `src` encoded into `objects/ID`; returns its SHA-256 and size.
    fn write_object(&self, id: &str, mut src: &File) -> Result<(String, u64), Error> {
        let final_path = self.object_path(id);
        let tmp = final_path.with_extension("tmp");
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        let key: [u8; 32] = rand::random();
        out.write_all(MAGIC).map_err(io("writing", &tmp))?;
        out.write_all(&key).map_err(io("writing", &tmp))?;
        let mut ks = KeyStream::new(key);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = src.read(&mut buf).map_err(io("reading", &final_path))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            size += n as u64;
            ks.apply(&mut buf[..n]);
            out.write_all(&buf[..n]).map_err(io("writing", &tmp))?;
        }
        out.sync_all().map_err(io("syncing", &tmp))?;
        drop(out);
        std::fs::rename(&tmp, &final_path).map_err(io("renaming", &tmp))?;
        sync_dir(&final_path)?;
        Ok((hex::encode(hash.finalize()), size))
    }

    /// Removes what an unfinished quarantine of `id` wrote (best effort:
    /// what remains is cleaned up by the next recovery).
    fn undo(&self, id: &str) {
        let obj = self.object_path(id);
        let _ = std::fs::remove_file(obj.with_extension("tmp"));
        let _ = std::fs::remove_file(&obj);
        let _ = sync_dir(&obj);
        let _ = remove_durably(&self.journal_path(id));
    }

    /// Every item, oldest first.
    pub fn list(&self) -> Result<Vec<Item>, Error> {
        let dir = self.root.join("items");
        let mut items = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("listing", &dir))? {
            let e = e.map_err(io("listing", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json") {
                items.push(self.get(id)?);
            }
        }
        items.sort_by(|a, b| (a.quarantined_at, &a.id).cmp(&(b.quarantined_at, &b.id)));
        Ok(items)
    }

    /// The item `id` (a unique prefix of at least 6 characters is enough).
    pub fn get(&self, id: &str) -> Result<Item, Error> {
        let id = self.resolve(id)?;
        let p = self.item_path(&id);
        let bytes = std::fs::read(&p).map_err(io("reading", &p))?;
        let item: Item = serde_json::from_slice(&bytes).map_err(|e| Error::Damaged {
            id: id.clone(),
            reason: format!("record: {e}"),
        })?;
        if item.id != id {
            return Err(Error::Damaged {
                id,
                reason: "record names another item".into(),
            });
        }
        Ok(item)
    }

    fn resolve(&self, id: &str) -> Result<String, Error> {
        let unknown = || Error::UnknownItem { id: id.to_string() };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(unknown());
        }
        if self.item_path(id).exists() {
            return Ok(id.to_string());
        }
        if id.len() < 6 {
            return Err(unknown());
        }
        let dir = self.root.join("items");
        let matches: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io("listing", &dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".json").map(str::to_string)
            })
            .filter(|n| n.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(unknown()),
        }
    }

    /// The decoded content of item `id`, checked against its SHA-256.
    pub fn content(&self, id: &str) -> Result<Vec<u8>, Error> {
        let item = self.get(id)?;
        self.decode(&item)
    }

    fn decode(&self, item: &Item) -> Result<Vec<u8>, Error> {
        let p = self.object_path(&item.id);
        let raw = std::fs::read(&p).map_err(io("reading", &p))?;
        let damaged = |reason: &str| Error::Damaged {
            id: item.id.clone(),
            reason: reason.to_string(),
        };
        let rest = raw
            .strip_prefix(MAGIC)
            .ok_or_else(|| damaged("bad header"))?;
        if rest.len() < 32 {
            return Err(damaged("truncated header"));
        }
        let key: [u8; 32] = rest[..32].try_into().expect("32 bytes");
        let mut data = rest[32..].to_vec();
        KeyStream::new(key).apply(&mut data);
        if hex::encode(Sha256::digest(&data)) != item.sha256 {
            return Err(damaged("content does not match its SHA-256"));
        }
        Ok(data)
    }

    /// Puts item `id` back (at its original path unless `opts.to`), with
    /// its mode, owner (when permitted) and times; refuses to overwrite
    /// unless `opts.overwrite`. Returns where it was restored.
    pub fn restore(&self, id: &str, opts: &RestoreOptions) -> Result<PathBuf, Error> {
        let _lock = self.lock()?;
        let item = self.get(id)?;
        let target = match &opts.to {
            Some(p) => std::path::absolute(p).map_err(io("resolving", p))?,
            None => item.original_path.clone(),
        };
        if !opts.overwrite && target.symlink_metadata().is_ok() {
            return Err(Error::TargetExists { path: target });
        }
        let data = self.decode(&item)?;
        let intent = Intent::Restore {
            id: item.id.clone(),
            target: target.clone(),
        };
        write_atomic(
            &self.journal_path(&item.id),
            &serde_json::to_vec(&intent).expect("serialisable"),
        )?;
        let tmp = restore_tmp(&target, &item.id);
        let _ = std::fs::remove_file(&tmp);
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io("creating", &tmp))?;
            f.write_all(&data).map_err(io("writing", &tmp))?;
            // Owner first: chown clears set-id bits, the mode sets them.
            let _ = std::os::unix::fs::fchown(&f, Some(item.uid), Some(item.gid));
            f.set_permissions(std::fs::Permissions::from_mode(item.mode))
                .map_err(io("setting the mode of", &tmp))?;
            let times = std::fs::FileTimes::new()
                .set_modified(time_from_ns(item.mtime_ns))
                .set_accessed(time_from_ns(item.atime_ns));
            f.set_times(times)
                .map_err(io("setting the times of", &tmp))?;
            f.sync_all().map_err(io("syncing", &tmp))?;
        }
        let placed = if opts.overwrite {
            std::fs::rename(&tmp, &target).map_err(io("renaming into place", &target))
        } else {
            // link() never replaces: if a file appeared meanwhile, it wins.
            let r = std::fs::hard_link(&tmp, &target);
            let _ = std::fs::remove_file(&tmp);
            r.map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::TargetExists {
                        path: target.clone(),
                    }
                } else {
                    Error::Io {
                        what: "linking into place",
                        path: target.clone(),
                        source: e,
                    }
                }
            })
        };
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            let _ = remove_durably(&self.journal_path(&item.id));
            return Err(e);
        }
        sync_dir(&target)?;
        self.forget(&item.id)?;
        Ok(target)
    }

    /// Deletes item `id` for good.
    pub fn delete(&self, id: &str) -> Result<Item, Error> {
        let _lock = self.lock()?;
        let item = self.get(id)?;
        write_atomic(
            &self.journal_path(&item.id),
            &serde_json::to_vec(&Intent::Delete {
                id: item.id.clone(),
            })
            .expect("serialisable"),
        )?;
        self.forget(&item.id)?;
        Ok(item)
    }

    /// Removes record, then object, then intent.
    fn forget(&self, id: &str) -> Result<(), Error> {
        let rec = self.item_path(id);
        if rec.exists() {
            remove_durably(&rec)?;
        }
        let obj = self.object_path(id);
        if obj.exists() {
            remove_durably(&obj)?;
        }
        remove_durably(&self.journal_path(id))
    }

    /// Finishes or undoes interrupted operations. Called by [`Store::open`]
    /// under the store lock.
    fn recover(&self) -> Result<Recovery, Error> {
        let mut rec = Recovery::default();
        let dir = self.root.join("journal");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io("listing", &dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        names.sort();
        for p in names {
            let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if let Some(jid) = name.strip_suffix(".json.tmp") {
                if valid_id(jid) {
                    // An intent that never became durable: nothing was done.
                    std::fs::remove_file(&p).map_err(io("removing", &p))?;
                } else {
                    rec.rejected
                        .push((name.clone(), "not a journal file name".into()));
                }
                continue;
            }
            let Some(jid) = name.strip_suffix(".json").filter(|j| valid_id(j)) else {
                rec.rejected
                    .push((name.clone(), "not a journal file name".into()));
                continue;
            };
            let bytes = std::fs::read(&p).map_err(io("reading", &p))?;
            let intent: Intent = match serde_json::from_slice(&bytes) {
                Ok(i) => i,
                Err(e) => {
                    rec.rejected
                        .push((name.clone(), format!("unreadable: {e}")));
                    continue;
                }
            };
            if intent.id() != jid {
                rec.rejected
                    .push((name.clone(), "names another item than its file name".into()));
                continue;
            }
            match intent {
                Intent::Quarantine { id, path, dev, ino } => {
                    let copy = self.get(&id).ok().filter(|item| self.decode(item).is_ok());
                    if let Some(item) = copy {
                        // The copy is recorded and verified: finish the move
                        // only if the original is still the same inode with
                        // the same content; otherwise both are kept. If it
                        // cannot be removed, the copy is dropped instead.
                        if same_file(&path, dev, ino, &item.sha256) == Some(true)
                            && remove_if_same(&path, dev, ino).is_err()
                        {
                            self.forget(&id)?;
                            rec.rolled_back.push(id);
                            continue;
                        }
                        remove_durably(&p)?;
                        rec.completed.push(id);
                    } else {
                        self.undo(&id);
                        rec.rolled_back.push(id);
                    }
                }
                Intent::Restore { id, target } => {
                    let _ = std::fs::remove_file(restore_tmp(&target, &id));
                    let restored = match self.get(&id) {
                        Ok(item) => std::fs::read(&target)
                            .map(|d| hex::encode(Sha256::digest(&d)) == item.sha256)
                            .unwrap_or(false),
                        Err(_) => true,
                    };
                    if restored {
                        self.forget(&id)?;
                    } else {
                        remove_durably(&p)?;
                    }
                    rec.finished.push(id);
                }
                Intent::Delete { id } => {
                    self.forget(&id)?;
                    rec.finished.push(id);
                }
            }
        }
        // Temporary objects with no intent are leftovers of a crash
        // before the intent was durable.
        let objects = self.root.join("objects");
        for e in std::fs::read_dir(&objects).map_err(io("listing", &objects))? {
            let e = e.map_err(io("listing", &objects))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".tmp") {
                if !self.journal_path(id).exists() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(rec)
    }
}

/// Whether `id` is an item ID as [`new_id`] makes them: 16 lower-case hex
/// digits, so it can never name a path outside the store.
fn valid_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `path` (not followed if a link) is inode `dev:ino` with content
/// `sha256`; `None` if it cannot be read.
fn same_file(path: &Path, dev: u64, ino: u64, sha256: &str) -> Option<bool> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || m.dev() != dev || m.ino() != ino {
        return Some(false);
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return None,
        }
    }
    Some(hex::encode(h.finalize()) == sha256)
}

/// Refuses `dir` unless it is a real directory owned by this user (or
/// root) that neither group nor others can write ([`vitrine_fs`]).
fn check_private_dir(dir: &Path) -> Result<(), Error> {
    vitrine_fs::check_private_dir(dir).map_err(|e| match e {
        vitrine_fs::FsError::Insecure { path, reason } => Error::Insecure { path, reason },
        vitrine_fs::FsError::Io { what, path, source } => Error::Io { what, path, source },
        other => Error::Io {
            what: "checking",
            path: dir.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

fn crash() -> Error {
    Error::Io {
        what: "simulated crash",
        path: PathBuf::new(),
        source: std::io::Error::other("simulated crash"),
    }
}

fn restore_tmp(target: &Path, id: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.vitrine-restore-{id}"))
}

fn same_content_stamp(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
}

/// Unlinks `path` if it still names inode `dev:ino`; returns whether it
/// did (or the file is already gone).
fn remove_if_same(path: &Path, dev: u64, ino: u64) -> Result<bool, Error> {
    match path.symlink_metadata() {
        Ok(m) if m.dev() == dev && m.ino() == ino => {
            remove_durably(path)?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::Io {
            what: "checking",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn remove_durably(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                what: "removing",
                path: path.to_path_buf(),
                source: e,
            })
        }
    }
    sync_dir(path)
}

fn sync_dir(child: &Path) -> Result<(), Error> {
    let dir = child.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("json.tmp");
    // A leftover (or planted) temporary is removed, never opened: the new
    // one is created exclusively, so no link is followed.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing", &tmp)(e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(io("creating", &tmp))?;
    f.write_all(bytes).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("syncing", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("renaming", &tmp))?;
    sync_dir(path)
}

/// 16 random hex digits: short prefixes of IDs made in the same
/// millisecond still differ, so a prefix names one item.
fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn time_from_ns(ns: i128) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs() as u64)
    }
}

/// SHA-256(key || block counter) keystream.
struct KeyStream {
    key: [u8; 32],
    block: u64,
    buf: [u8; 32],
    pos: usize,
}

impl KeyStream {
    fn new(key: [u8; 32]) -> KeyStream {
        KeyStream {
            key,
            block: 0,
            buf: [0; 32],
            pos: 32,
        }
    }

    fn apply(&mut self, data: &mut [u8]) {
        for b in data {
            if self.pos == 32 {
                let mut h = Sha256::new();
                h.update(self.key);
                h.update(self.block.to_le_bytes());
                self.buf = h.finalize().into();
                self.block += 1;
                self.pos = 0;
            }
            *b ^= self.buf[self.pos];
            self.pos += 1;
        }
    }
}
