//! Vitrine rule bundles: one deterministic archive holding a manifest, YARA
//! sources (`.yar`, `.yara`) and ClamAV hash-signature lists (`.hdb`,
//! `.hsb`). The same input always gives the same bytes, so a bundle's
//! SHA-256 (what a `rules` statement logs) names exactly one content.
//!
//! # What's in scope / out of scope
//!
//! In scope: the archive format (`docs/formats.md`, "Rule bundles"),
//! building it from a directory or from memory, and a strict parser with
//! size limits on every part. Out of scope: compiling the rules (the binary
//! does that with `vitrine-scan`), signatures and logging (`vitrine-client`).
//!
//! # Main types
//!
//! [`Bundle`] (a parsed bundle: [`Manifest`] plus [`BundleFile`]s),
//! [`Limits`], [`Inspection`] and [`BundleError`].
//!
//! # Example
//!
//! ```
//! use vitrine_bundle::{Bundle, Limits, Manifest};
//!
//! let files = vec![
//!     ("rules/eicar.yar".to_owned(), b"rule eicar { condition: true }\n".to_vec()),
//!     ("hashes/main.hdb".to_owned(), b"44d88612fea8a8f36de82e1278abb02f:68:Eicar\n".to_vec()),
//! ];
//! let bytes = Bundle::build("daily", 7, 1_700_000_000, 1_700_604_800, files.clone())?;
//! assert_eq!(bytes, Bundle::build("daily", 7, 1_700_000_000, 1_700_604_800, files)?);
//! let bundle = Bundle::parse(&bytes, &Limits::default())?;
//! assert_eq!(bundle.manifest().version, 7);
//! assert_eq!(bundle.manifest().hash_lines, 1);
//! assert_eq!(bundle.to_bytes(), bytes);
//! # Ok::<(), vitrine_bundle::BundleError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Path of the manifest, always the first archive member.
pub const MANIFEST_PATH: &str = "MANIFEST";

/// First line of the manifest.
pub const MANIFEST_HEADER: &str = "vitrine.dev/bundle/v1";

/// Longest member path: it must fit the ustar name field (no prefix field,
/// no extension headers).
pub const MAX_PATH_LEN: usize = 100;

/// Longest bundle name (a token, like the statement `token` type).
pub const MAX_NAME_LEN: usize = 128;

/// Size limits applied by [`Bundle::parse`]. Every part is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole archive, bytes.
    pub max_archive: usize,
    /// Number of members besides the manifest.
    pub max_files: usize,
    /// One rule or hash file, bytes.
    pub max_file: u64,
    /// Sum of all rule and hash files, bytes.
    pub max_total: u64,
    /// The manifest, bytes.
    pub max_manifest: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive: 64 << 20,
            max_files: 4096,
            max_file: 16 << 20,
            max_total: 60 << 20,
            max_manifest: 4096,
        }
    }
}

/// What a bundle member is, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// YARA source, `.yar` or `.yara`.
    Yara,
    /// ClamAV MD5 list, `.hdb` (`md5:size:name`).
    Hdb,
    /// ClamAV SHA list, `.hsb` (`sha:size:name`).
    Hsb,
}

impl FileKind {
    /// The kind for a path's extension, if it is allowed.
    pub fn for_path(path: &str) -> Option<FileKind> {
        let (_, ext) = path.rsplit_once('.')?;
        match ext {
            "yar" | "yara" => Some(FileKind::Yara),
            "hdb" => Some(FileKind::Hdb),
            "hsb" => Some(FileKind::Hsb),
            _ => None,
        }
    }

    /// Whether this is a hash-signature list.
    pub fn is_hash_list(self) -> bool {
        matches!(self, FileKind::Hdb | FileKind::Hsb)
    }
}

/// The bundle manifest (`MANIFEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Bundle name, 1–128 printable ASCII characters without spaces.
    pub name: String,
    /// Bundle version; must equal the `rules` statement's.
    pub version: u64,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Expiry time, Unix seconds.
    pub expires: u64,
    /// Number of YARA source files.
    pub yara_files: u64,
    /// Number of hash-signature list files.
    pub hash_files: u64,
    /// Number of signature lines over all hash lists (non-empty lines not
    /// starting with `#`).
    pub hash_lines: u64,
}

const MANIFEST_KEYS: [&str; 7] = [
    "name",
    "version",
    "created",
    "expires",
    "yara-files",
    "hash-files",
    "hash-lines",
];

impl Manifest {
    /// The canonical manifest text.
    pub fn to_text(&self) -> String {
        format!(
            "{MANIFEST_HEADER}\nname {}\nversion {}\ncreated {}\nexpires {}\nyara-files {}\nhash-files {}\nhash-lines {}\n",
            self.name,
            self.version,
            self.created,
            self.expires,
            self.yara_files,
            self.hash_files,
            self.hash_lines
        )
    }

    /// Strictly parses the canonical manifest text: the header, then each
    /// key exactly once in the fixed order, canonical decimals, nothing else.
    pub fn parse(data: &[u8]) -> Result<Manifest, BundleError> {
        let bad = |reason: &'static str| BundleError::MalformedManifest { reason };
        let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("missing final newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(MANIFEST_HEADER) {
            return Err(bad("wrong header line"));
        }
        let mut values = Vec::with_capacity(MANIFEST_KEYS.len());
        for key in MANIFEST_KEYS {
            let line = lines.next().ok_or(bad("missing field"))?;
            let (k, v) = line.split_once(' ').ok_or(bad("line without a space"))?;
            if k != key {
                return Err(bad("unexpected or out-of-order field"));
            }
            values.push(v);
        }
        if lines.next().is_some() {
            return Err(bad("trailing lines"));
        }
        let num = |v: &str| parse_u64(v).ok_or(bad("malformed number"));
        let name = values[0];
        check_name(name)?;
        Ok(Manifest {
            name: name.to_owned(),
            version: num(values[1])?,
            created: num(values[2])?,
            expires: num(values[3])?,
            yara_files: num(values[4])?,
            hash_files: num(values[5])?,
            hash_lines: num(values[6])?,
        })
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn check_name(name: &str) -> Result<(), BundleError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BundleError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks a member path: relative, `/`-separated components of
/// `[A-Za-z0-9._-]` not starting with `.`, an allowed extension, at most
/// [`MAX_PATH_LEN`] bytes. Returns its kind.
pub fn check_path(path: &str) -> Result<FileKind, BundleError> {
    let bad = |reason: &'static str| BundleError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(bad("empty or longer than 100 bytes"));
    }
    if path.starts_with('/') {
        return Err(bad("absolute"));
    }
    for comp in path.split('/') {
        if comp == ".." {
            return Err(bad("parent directory component"));
        }
        if comp.is_empty() || comp.starts_with('.') {
            return Err(bad("empty or hidden component"));
        }
        if !comp
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad("character outside [A-Za-z0-9._-]"));
        }
    }
    FileKind::for_path(path).ok_or(bad("extension not .yar, .yara, .hdb or .hsb"))
}

/// Number of signature lines in a hash list.
fn count_hash_lines(data: &[u8]) -> u64 {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .count() as u64
}

/// One rule or hash file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Member path, checked by [`check_path`].
    pub path: String,
    /// Kind, from the extension.
    pub kind: FileKind,
    /// Contents (UTF-8).
    pub data: Vec<u8>,
}

/// A parsed, validated rule bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    manifest: Manifest,
    files: Vec<BundleFile>,
}

/// A summary for `vitrine bundle inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The manifest.
    pub manifest: Manifest,
    /// Every member besides the manifest: path, kind, size in bytes.
    pub files: Vec<(String, FileKind, u64)>,
    /// Sum of file sizes.
    pub total_size: u64,
}

impl Bundle {
    /// Builds the archive bytes from `(path, contents)` pairs. Paths are
    /// checked and sorted; counts are computed into the manifest.
    pub fn build(
        name: &str,
        version: u64,
        created: u64,
        expires: u64,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<u8>, BundleError> {
        Ok(Self::from_files(name, version, created, expires, files)?.to_bytes())
    }

    /// Validates files and computes the manifest, without archiving.
    pub fn from_files(
        name: &str,
        version: u64,
        created: u64,
        expires: u64,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Bundle, BundleError> {
        check_name(name)?;
        let mut sorted = BTreeMap::new();
        for (path, data) in files {
            let kind = check_path(&path)?;
            if std::str::from_utf8(&data).is_err() {
                return Err(BundleError::NotUtf8 { path });
            }
            if sorted.contains_key(&path) {
                return Err(BundleError::DuplicatePath { path });
            }
            sorted.insert(path.clone(), BundleFile { path, kind, data });
        }
        let files: Vec<BundleFile> = sorted.into_values().collect();
        let manifest = Manifest {
            name: name.to_owned(),
            version,
            created,
            expires,
            yara_files: files.iter().filter(|f| f.kind == FileKind::Yara).count() as u64,
            hash_files: files.iter().filter(|f| f.kind.is_hash_list()).count() as u64,
            hash_lines: files
                .iter()
                .filter(|f| f.kind.is_hash_list())
                .map(|f| count_hash_lines(&f.data))
                .sum(),
        };
        Ok(Bundle { manifest, files })
    }

    /// Builds the archive from every `.yar`/`.yara`/`.hdb`/`.hsb` file under
    /// `dir` (recursively; other files are ignored, symlinks are refused).
    pub fn build_from_dir(
        dir: &Path,
        name: &str,
        version: u64,
        created: u64,
        expires: u64,
    ) -> Result<Vec<u8>, BundleError> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        Self::build(name, version, created, expires, files)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Rule and hash files, sorted by path.
    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    /// YARA sources, sorted by path.
    pub fn yara_files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter().filter(|f| f.kind == FileKind::Yara)
    }

    /// Hash lists, sorted by path.
    pub fn hash_files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter().filter(|f| f.kind.is_hash_list())
    }

    /// Data for `vitrine bundle inspect`.
    pub fn inspect(&self) -> Inspection {
        let files: Vec<_> = self
            .files
            .iter()
            .map(|f| (f.path.clone(), f.kind, f.data.len() as u64))
            .collect();
        Inspection {
            manifest: self.manifest.clone(),
            total_size: files.iter().map(|f| f.2).sum(),
            files,
        }
    }

    /// The canonical archive: ustar, manifest first then files sorted by
    /// path, mode 0644, mtime 0, uid/gid 0, empty owner names.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let manifest = self.manifest.to_text().into_bytes();
        append(&mut b, MANIFEST_PATH, &manifest);
        for f in &self.files {
            append(&mut b, &f.path, &f.data);
        }
        b.into_inner()
            .expect("invariant: writing to a Vec cannot fail")
    }

    /// Strictly parses archive bytes: only regular files, the manifest
    /// first, allowed paths and extensions, no duplicates, every size
    /// within `limits`, manifest counts matching, UTF-8 contents, and the
    /// bytes exactly the canonical form (so one content has one hash).
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Bundle, BundleError> {
        if bytes.len() > limits.max_archive {
            return Err(BundleError::TooLarge {
                what: "archive",
                size: bytes.len() as u64,
                limit: limits.max_archive as u64,
            });
        }
        let mut archive = tar::Archive::new(bytes);
        let entries = archive.entries().map_err(tar_err)?.raw(true);
        let mut manifest = None;
        let mut files: Vec<BundleFile> = Vec::new();
        let mut total = 0u64;
        for entry in entries {
            let mut entry = entry.map_err(tar_err)?;
            let header = entry.header();
            if header.as_ustar().is_none() {
                return Err(BundleError::MalformedArchive {
                    reason: "member header is not ustar".to_owned(),
                });
            }
            let path_bytes = entry.path_bytes().into_owned();
            let path = String::from_utf8(path_bytes).map_err(|_| BundleError::InvalidPath {
                path: "<non-UTF-8>".to_owned(),
                reason: "not UTF-8",
            })?;
            let entry_type = header.entry_type();
            if entry_type != tar::EntryType::Regular {
                return Err(BundleError::NotRegularFile { path });
            }
            let size = header.size().map_err(tar_err)?;
            let first = manifest.is_none() && files.is_empty();
            if first {
                if path != MANIFEST_PATH {
                    return Err(BundleError::ManifestNotFirst);
                }
                if size > limits.max_manifest {
                    return Err(BundleError::TooLarge {
                        what: "manifest",
                        size,
                        limit: limits.max_manifest,
                    });
                }
                let data = read_exact(&mut entry, size)?;
                manifest = Some(Manifest::parse(&data)?);
                continue;
            }
            let kind = check_path(&path)?;
            if files.len() >= limits.max_files {
                return Err(BundleError::TooLarge {
                    what: "file count",
                    size: files.len() as u64 + 1,
                    limit: limits.max_files as u64,
                });
            }
            if size > limits.max_file {
                return Err(BundleError::TooLarge {
                    what: "file",
                    size,
                    limit: limits.max_file,
                });
            }
            total = total.saturating_add(size);
            if total > limits.max_total {
                return Err(BundleError::TooLarge {
                    what: "total file size",
                    size: total,
                    limit: limits.max_total,
                });
            }
            if files.iter().any(|f| f.path == path) {
                return Err(BundleError::DuplicatePath { path });
            }
            let data = read_exact(&mut entry, size)?;
            if std::str::from_utf8(&data).is_err() {
                return Err(BundleError::NotUtf8 { path });
            }
            files.push(BundleFile { path, kind, data });
        }
        let manifest = manifest.ok_or(BundleError::ManifestNotFirst)?;
        let pairs = files.into_iter().map(|f| (f.path, f.data)).collect();
        let rebuilt = Bundle::from_files(
            &manifest.name,
            manifest.version,
            manifest.created,
            manifest.expires,
            pairs,
        )?;
        for (field, declared, actual) in [
            (
                "yara-files",
                manifest.yara_files,
                rebuilt.manifest.yara_files,
            ),
            (
                "hash-files",
                manifest.hash_files,
                rebuilt.manifest.hash_files,
            ),
            (
                "hash-lines",
                manifest.hash_lines,
                rebuilt.manifest.hash_lines,
            ),
        ] {
            if declared != actual {
                return Err(BundleError::CountMismatch {
                    field,
                    declared,
                    actual,
                });
            }
        }
        if rebuilt.to_bytes() != bytes {
            return Err(BundleError::NotCanonical);
        }
        Ok(rebuilt)
    }
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .expect("invariant: checked paths fit the ustar name field");
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("").expect("invariant: the empty name fits");
    h.set_groupname("").expect("invariant: the empty name fits");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data)
        .expect("invariant: writing to a Vec cannot fail");
}

fn read_exact(r: &mut impl Read, size: u64) -> Result<Vec<u8>, BundleError> {
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    r.take(size).read_to_end(&mut data).map_err(tar_err)?;
    if data.len() as u64 != size {
        return Err(BundleError::MalformedArchive {
            reason: "truncated member".to_owned(),
        });
    }
    Ok(data)
}

fn tar_err(e: std::io::Error) -> BundleError {
    BundleError::MalformedArchive {
        reason: e.to_string(),
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), BundleError> {
    let io = |path: &Path, source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort();
    for p in entries {
        let meta = std::fs::symlink_metadata(&p).map_err(|e| io(&p, e))?;
        let rel = p
            .strip_prefix(root)
            .expect("invariant: walked under root")
            .to_str()
            .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
            .ok_or_else(|| BundleError::InvalidPath {
                path: p.display().to_string(),
                reason: "not UTF-8",
            })?;
        if meta.file_type().is_symlink() {
            return Err(BundleError::NotRegularFile { path: rel });
        }
        if meta.is_dir() {
            collect(root, &p, out)?;
        } else if meta.is_file() && FileKind::for_path(&rel).is_some() {
            let data = std::fs::read(&p).map_err(|e| io(&p, e))?;
            out.push((rel, data));
        }
    }
    Ok(())
}

/// Why a bundle could not be built or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The tar structure is broken (bad checksum, truncation, …).
    #[error("malformed archive: {reason}")]
    MalformedArchive {
        /// What the tar reader reported.
        reason: String,
    },
    /// The first member is not `MANIFEST`, or there is none.
    #[error("the first archive member must be MANIFEST")]
    ManifestNotFirst,
    /// The manifest text is not canonical.
    #[error("malformed manifest: {reason}")]
    MalformedManifest {
        /// What is wrong.
        reason: &'static str,
    },
    /// The bundle name is empty, too long or has spaces or non-ASCII.
    #[error("invalid bundle name {name:?}")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A member path is not allowed (`..`, absolute, hidden, extension…).
    #[error("invalid member path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A member is a link, directory, device or extension header.
    #[error("member {path:?} is not a regular file")]
    NotRegularFile {
        /// The path.
        path: String,
    },
    /// Two members share a path.
    #[error("duplicate member {path:?}")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A file is not UTF-8.
    #[error("member {path:?} is not UTF-8")]
    NotUtf8 {
        /// The path.
        path: String,
    },
    /// A part exceeds its limit.
    #[error("{what} is {size}, over the limit of {limit}")]
    TooLarge {
        /// Which part.
        what: &'static str,
        /// Its size (or count).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest count does not match the files.
    #[error("manifest {field} is {declared} but the bundle has {actual}")]
    CountMismatch {
        /// The manifest key.
        field: &'static str,
        /// Value in the manifest.
        declared: u64,
        /// Value computed from the files.
        actual: u64,
    },
    /// Valid content, but the bytes are not the canonical archive (order,
    /// mode, times, owners, padding or trailing data differ).
    #[error("archive is not in canonical form")]
    NotCanonical,
    /// Reading the source directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![
            ("b.yar".into(), b"rule b { condition: true }\n".to_vec()),
            ("a/x.hsb".into(), b"# c\n\nab:1:X\ncd:2:Y\n".to_vec()),
        ]
    }

    fn bundle() -> Vec<u8> {
        Bundle::build("n", 1, 2, 3, files()).unwrap()
    }

    /// Re-archives with a raw header we control, for hostile inputs.
    fn raw_archive(members: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in members {
            let mut h = tar::Header::new_ustar();
            h.as_old_mut().name[..path.len()].copy_from_slice(path);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(*kind);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn deterministic_sorted_counts() {
        let a = bundle();
        let mut rev = files();
        rev.reverse();
        assert_eq!(a, Bundle::build("n", 1, 2, 3, rev).unwrap());
        let b = Bundle::parse(&a, &Limits::default()).unwrap();
        assert_eq!(b.files()[0].path, "a/x.hsb");
        assert_eq!(b.manifest().hash_lines, 2);
        assert_eq!(b.manifest().yara_files, 1);
        assert_eq!(b.inspect().files.len(), 2);
    }

    #[test]
    fn from_dir_matches_memory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/x.hsb"), &files()[1].1).unwrap();
        std::fs::write(d.path().join("b.yar"), &files()[0].1).unwrap();
        std::fs::write(d.path().join("README"), b"ignored").unwrap();
        let got = Bundle::build_from_dir(d.path(), "n", 1, 2, 3).unwrap();
        assert_eq!(got, bundle());
    }

    #[test]
    fn rejects_hostile_members() {
        let m = Manifest::parse(
            &Bundle::parse(&bundle(), &Limits::default())
                .unwrap()
                .manifest()
                .to_text()
                .into_bytes(),
        )
        .unwrap()
        .to_text();
        let m = m.as_bytes();
        let reg = tar::EntryType::Regular;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                raw_archive(&[(b"MANIFEST", reg, m), (b"../x.yar", reg, b"")]),
                "InvalidPath",
            ),
            (
                raw_archive(&[(b"MANIFEST", reg, m), (b"/x.yar", reg, b"")]),
                "InvalidPath",
            ),
            (
                raw_archive(&[(b"MANIFEST", reg, m), (b"x.exe", reg, b"")]),
                "InvalidPath",
            ),
            (
                raw_archive(&[
                    (b"MANIFEST", reg, m),
                    (b"x.yar", tar::EntryType::Symlink, b""),
                ]),
                "NotRegularFile",
            ),
            (
                raw_archive(&[(b"x.yar", reg, b""), (b"MANIFEST", reg, m)]),
                "ManifestNotFirst",
            ),
            (
                raw_archive(&[
                    (b"MANIFEST", reg, m),
                    (b"a/x.hsb", reg, b"ab:1:X\n"),
                    (b"a/x.hsb", reg, b"ab:1:X\n"),
                ]),
                "DuplicatePath",
            ),
            (
                raw_archive(&[(b"MANIFEST", reg, m), (b"b.yar", reg, b"\xff")]),
                "NotUtf8",
            ),
        ];
        for (bytes, want) in cases {
            let err = Bundle::parse(&bytes, &Limits::default()).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{want}: {err:?}");
        }
    }

    #[test]
    fn rejects_count_mismatch_and_non_canonical() {
        let mut m = Bundle::parse(&bundle(), &Limits::default())
            .unwrap()
            .manifest()
            .clone();
        m.hash_lines = 3;
        let t = m.to_text();
        let reg = tar::EntryType::Regular;
        let bytes = raw_archive(&[
            (b"MANIFEST", reg, t.as_bytes()),
            (b"a/x.hsb", reg, &files()[1].1),
            (b"b.yar", reg, &files()[0].1),
        ]);
        assert!(matches!(
            Bundle::parse(&bytes, &Limits::default()),
            Err(BundleError::CountMismatch {
                field: "hash-lines",
                declared: 3,
                actual: 2
            })
        ));
        let mut b = bundle();
        b.extend_from_slice(&[0u8; 512]);
        assert!(matches!(
            Bundle::parse(&b, &Limits::default()),
            Err(BundleError::NotCanonical)
        ));
    }

    #[test]
    fn limits() {
        let b = bundle();
        let tight = |f: fn(&mut Limits)| {
            let mut l = Limits::default();
            f(&mut l);
            Bundle::parse(&b, &l).unwrap_err()
        };
        for err in [
            tight(|l| l.max_archive = 100),
            tight(|l| l.max_files = 1),
            tight(|l| l.max_file = 10),
            tight(|l| l.max_total = 30),
            tight(|l| l.max_manifest = 10),
        ] {
            assert!(matches!(err, BundleError::TooLarge { .. }), "{err:?}");
        }
    }
}
