//! Hash signatures in ClamAV's `.hdb` / `.hsb` line formats.
//!
//! A line is `HASH:SIZE:NAME[:MINFL[:MAXFL]]`. The hash is MD5, SHA-1 or
//! SHA-256, told apart by its length (32, 40 or 64 hex digits). `SIZE` is a
//! decimal byte count, or `*` (any size) in `.hsb` files only — as in ClamAV,
//! where a wildcard size is not allowed in `.hdb`.
//!
//! Memory: entries are kept in sorted vectors (no per-entry allocation) and
//! detection names in one string arena, so a million SHA-256 signatures cost
//! about 70 MB. Lookups are binary searches keyed by (size, hash); a file
//! whose size no signature names is not hashed at all, unless wildcard-size
//! signatures exist for that algorithm.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The most lines reported back when a file is malformed.
const MAX_REPORTED_LINE_ERRORS: usize = 20;
/// Stands for a line that is not UTF-8 (a NUL can never be in a valid line).
const NOT_UTF8: &str = "\u{0}";
/// Longest detection name accepted (ClamAV names are short).
const MAX_NAME_LEN: usize = 512;

/// Which hash a signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-1 (40 hex digits).
    Sha1,
    /// SHA-256 (64 hex digits).
    Sha256,
}

impl HashAlgorithm {
    /// The algorithm's name as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
        }
    }
}

/// The two ClamAV formats; they differ only in whether `*` is a valid size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFormat {
    /// `.hdb`: the size must be given.
    Hdb,
    /// `.hsb`: the size may be `*`.
    Hsb,
}

impl HashFormat {
    /// The format implied by a file name's extension (`.hsb` or else `.hdb`).
    pub fn from_path(path: &Path) -> HashFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("hsb") => HashFormat::Hsb,
            _ => HashFormat::Hdb,
        }
    }
}

/// One malformed line of a signature file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashLineError {
    /// The file (or origin label) the line came from.
    pub origin: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for HashLineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.origin.display(),
            self.line,
            self.message
        )
    }
}

/// A hash signature that matched a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashHit {
    /// The detection name from the signature line.
    pub name: String,
    /// The algorithm of the signature that matched.
    pub algorithm: HashAlgorithm,
}

/// One table per algorithm: entries with a known size sorted by (size, hash),
/// wildcard-size entries sorted by hash.
#[derive(Default)]
struct Table<const N: usize> {
    sized: Vec<([u8; N], u64, u32)>,
    any: Vec<([u8; N], u32)>,
    sizes: HashSet<u64>,
}

impl<const N: usize> Table<N> {
    fn finish(&mut self) {
        self.sized.sort_unstable_by_key(|e| (e.1, e.0));
        self.sized.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        self.sized.shrink_to_fit();
        self.any.sort_unstable();
        self.any.dedup_by(|a, b| a.0 == b.0);
        self.any.shrink_to_fit();
        self.sizes = self.sized.iter().map(|e| e.1).collect();
    }

    fn len(&self) -> usize {
        self.sized.len() + self.any.len()
    }

    /// Whether a file of this size could match anything in this table.
    fn wants(&self, size: u64) -> bool {
        !self.any.is_empty() || self.sizes.contains(&size)
    }

    fn lookup(&self, digest: &[u8; N], size: u64) -> Option<u32> {
        let key = (size, *digest);
        if let Ok(i) = self.sized.binary_search_by(|e| (e.1, e.0).cmp(&key)) {
            return Some(self.sized[i].2);
        }
        self.any
            .binary_search_by(|e| e.0.cmp(digest))
            .ok()
            .map(|i| self.any[i].1)
    }
}

/// A loaded set of hash signatures.
#[derive(Default)]
pub struct HashDb {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    /// All detection names, back to back; `name_ends[i]` is where name `i` ends.
    names: String,
    name_ends: Vec<u32>,
}

impl HashDb {
    /// An empty database.
    pub fn new() -> HashDb {
        HashDb::default()
    }

    /// Number of signatures loaded (after removing exact duplicates).
    pub fn len(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// Whether no signature is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn name(&self, idx: u32) -> &str {
        let i = idx as usize;
        let start = if i == 0 {
            0
        } else {
            self.name_ends[i - 1] as usize
        };
        &self.names[start..self.name_ends[i] as usize]
    }

    /// Parses `text` in `format` and adds its signatures. `origin` names the
    /// file in error messages. On any malformed line nothing is added and
    /// the errors (at most 20, each with its line number) are returned.
    pub fn add_text(
        &mut self,
        origin: &Path,
        text: &str,
        format: HashFormat,
    ) -> Result<(), Vec<HashLineError>> {
        self.add_lines(origin, format, |visit| {
            for (n, line) in text.lines().enumerate() {
                visit(n + 1, line);
            }
            Ok(())
        })
        .map_err(|e| match e {
            AddError::Lines(l) => l,
            AddError::Io(_) => unreachable_io(origin),
        })
    }

    /// Like [`HashDb::add_text`], streaming the file twice (validate and
    /// count, then fill tables reserved to their exact size) so that memory
    /// holds only the tables, never the file's text.
    pub fn add_file(&mut self, path: &Path, format: HashFormat) -> Result<(), AddError> {
        self.add_lines(path, format, |visit| {
            use std::io::BufRead;
            let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
            let mut buf = Vec::new();
            let mut n = 0;
            loop {
                buf.clear();
                if reader.read_until(b'\n', &mut buf)? == 0 {
                    return Ok(());
                }
                n += 1;
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                match std::str::from_utf8(line) {
                    Ok(l) => visit(n, l),
                    Err(_) => visit(n, NOT_UTF8),
                }
            }
        })
    }

    /// Runs `source` twice over the lines: first to validate and count,
    /// then to fill the tables. Nothing is added if any line is bad.
    fn add_lines(
        &mut self,
        origin: &Path,
        format: HashFormat,
        mut source: impl FnMut(&mut dyn FnMut(usize, &str)) -> std::io::Result<()>,
    ) -> Result<(), AddError> {
        let mut errors = Vec::new();
        let mut counts = [[0usize; 2]; 3];
        let mut name_bytes = 0;
        source(&mut |n, line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                return;
            }
            let parsed = if line == NOT_UTF8 {
                Err("line is not UTF-8 text".to_string())
            } else {
                parse_line(line, format)
            };
            match parsed {
                Ok(sig) => {
                    let algo = match sig.digest {
                        ParsedDigest::Md5(_) => 0,
                        ParsedDigest::Sha1(_) => 1,
                        ParsedDigest::Sha256(_) => 2,
                    };
                    counts[algo][usize::from(sig.size.is_none())] += 1;
                    name_bytes += sig.name.len();
                }
                Err(message) => {
                    if errors.len() < MAX_REPORTED_LINE_ERRORS {
                        errors.push(HashLineError {
                            origin: origin.to_path_buf(),
                            line: n,
                            message,
                        });
                    }
                }
            }
        })
        .map_err(AddError::Io)?;
        if !errors.is_empty() {
            return Err(AddError::Lines(errors));
        }
        let total: usize = counts.iter().flatten().sum();
        if self.name_ends.len() + total > u32::MAX as usize
            || self.names.len() + name_bytes > u32::MAX as usize
        {
            return Err(AddError::Lines(vec![HashLineError {
                origin: origin.to_path_buf(),
                line: 0,
                message: "too many signatures".into(),
            }]));
        }
        self.md5.sized.reserve_exact(counts[0][0]);
        self.md5.any.reserve_exact(counts[0][1]);
        self.sha1.sized.reserve_exact(counts[1][0]);
        self.sha1.any.reserve_exact(counts[1][1]);
        self.sha256.sized.reserve_exact(counts[2][0]);
        self.sha256.any.reserve_exact(counts[2][1]);
        self.names.reserve_exact(name_bytes);
        self.name_ends.reserve_exact(total);
        let before = self.name_ends.len();
        source(&mut |_, line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                return;
            }
            // Validated in the first pass; a file changed in between is
            // caught by the count check below.
            let Ok(sig) = parse_line(line, format) else {
                return;
            };
            let idx = self.name_ends.len() as u32;
            self.names.push_str(sig.name);
            self.name_ends.push(self.names.len() as u32);
            match sig.digest {
                ParsedDigest::Md5(d) => push(&mut self.md5, d, sig.size, idx),
                ParsedDigest::Sha1(d) => push(&mut self.sha1, d, sig.size, idx),
                ParsedDigest::Sha256(d) => push(&mut self.sha256, d, sig.size, idx),
            }
        })
        .map_err(AddError::Io)?;
        if self.name_ends.len() - before != total {
            return Err(AddError::Lines(vec![HashLineError {
                origin: origin.to_path_buf(),
                line: 0,
                message: "file changed while it was being read".into(),
            }]));
        }
        Ok(())
    }

    /// Sorts the tables; call once after the last `add_text`.
    pub fn finish(&mut self) {
        self.md5.finish();
        self.sha1.finish();
        self.sha256.finish();
        self.names.shrink_to_fit();
        self.name_ends.shrink_to_fit();
    }

    /// Whether any table wants a file of `size` hashed.
    pub fn wants(&self, size: u64) -> bool {
        self.md5.wants(size) || self.sha1.wants(size) || self.sha256.wants(size)
    }

    /// Looks `data` up. `sha256` is the file's SHA-256 when the caller has
    /// already computed it, so it is not computed twice.
    pub fn lookup(&self, data: &[u8], sha256: Option<&[u8; 32]>) -> Vec<HashHit> {
        let size = data.len() as u64;
        let mut hits = Vec::new();
        if self.md5.wants(size) {
            let d: [u8; 16] = Md5::digest(data).into();
            if let Some(i) = self.md5.lookup(&d, size) {
                hits.push(self.hit(i, HashAlgorithm::Md5));
            }
        }
        if self.sha1.wants(size) {
            let d: [u8; 20] = Sha1::digest(data).into();
            if let Some(i) = self.sha1.lookup(&d, size) {
                hits.push(self.hit(i, HashAlgorithm::Sha1));
            }
        }
        if self.sha256.wants(size) {
            let d: [u8; 32] = match sha256 {
                Some(d) => *d,
                None => Sha256::digest(data).into(),
            };
            if let Some(i) = self.sha256.lookup(&d, size) {
                hits.push(self.hit(i, HashAlgorithm::Sha256));
            }
        }
        hits
    }

    fn hit(&self, idx: u32, algorithm: HashAlgorithm) -> HashHit {
        HashHit {
            name: self.name(idx).to_string(),
            algorithm,
        }
    }
}

/// Why a signature file could not be added.
#[derive(Debug)]
pub enum AddError {
    /// Malformed lines (at most 20).
    Lines(Vec<HashLineError>),
    /// The file could not be read.
    Io(std::io::Error),
}

fn unreachable_io(origin: &Path) -> Vec<HashLineError> {
    vec![HashLineError {
        origin: origin.to_path_buf(),
        line: 0,
        message: "internal error: reading text failed".into(),
    }]
}

fn push<const N: usize>(t: &mut Table<N>, d: [u8; N], size: Option<u64>, idx: u32) {
    match size {
        Some(s) => t.sized.push((d, s, idx)),
        None => t.any.push((d, idx)),
    }
}

enum ParsedDigest {
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

struct ParsedSig<'a> {
    digest: ParsedDigest,
    size: Option<u64>,
    name: &'a str,
}

fn parse_line(line: &str, format: HashFormat) -> Result<ParsedSig<'_>, String> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 3 || fields.len() > 5 {
        return Err(format!(
            "expected HASH:SIZE:NAME[:MINFL[:MAXFL]], found {} field(s)",
            fields.len()
        ));
    }
    let hash = fields[0];
    let digest = match hash.len() {
        32 => ParsedDigest::Md5(decode_hex(hash)?),
        40 => ParsedDigest::Sha1(decode_hex(hash)?),
        64 => ParsedDigest::Sha256(decode_hex(hash)?),
        n => {
            return Err(format!(
                "hash has {n} characters; MD5, SHA-1 and SHA-256 have 32, 40 and 64"
            ))
        }
    };
    let size = match fields[1] {
        "*" if format == HashFormat::Hsb => None,
        "*" => return Err("size `*` is only allowed in .hsb files".into()),
        s => Some(parse_decimal(s).ok_or_else(|| format!("invalid size `{s}`"))?),
    };
    let name = fields[2];
    if name.is_empty() {
        return Err("empty detection name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("detection name longer than {MAX_NAME_LEN} bytes"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("detection name contains whitespace or control characters".into());
    }
    for fl in &fields[3..] {
        if parse_decimal(fl).is_none() {
            return Err(format!("invalid functionality level `{fl}`"));
        }
    }
    Ok(ParsedSig { digest, size, name })
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| format!("hash `{s}` is not hexadecimal"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

    fn db(text: &str, format: HashFormat) -> Result<HashDb, Vec<HashLineError>> {
        let mut db = HashDb::new();
        db.add_text(Path::new("t.hdb"), text, format)?;
        db.finish();
        Ok(db)
    }

    #[test]
    fn sized_lookup_needs_the_size() {
        let d = db(&format!("{EICAR_MD5}:3:Test.Sig\n"), HashFormat::Hdb).unwrap();
        // md5("abc") is not EICAR's, so nothing matches whatever the size.
        assert!(d.lookup(b"abc", None).is_empty());
        let abc_md5 = "900150983cd24fb0d6963f7d28e17f72";
        let d = db(&format!("{abc_md5}:4:Wrong.Size\n"), HashFormat::Hdb).unwrap();
        assert!(d.lookup(b"abc", None).is_empty());
        assert!(!d.wants(3));
        let d = db(&format!("{abc_md5}:3:Right.Size\n"), HashFormat::Hdb).unwrap();
        assert_eq!(d.lookup(b"abc", None)[0].name, "Right.Size");
    }

    #[test]
    fn wildcard_size_only_in_hsb() {
        let sha = hex::encode(Sha256::digest(b"abc"));
        let line = format!("{sha}:*:Any.Size\n");
        let errs = db(&line, HashFormat::Hdb).err().unwrap();
        assert_eq!(errs[0].line, 1);
        let d = db(&line, HashFormat::Hsb).unwrap();
        let hits = d.lookup(b"abc", None);
        assert_eq!(hits[0].algorithm, HashAlgorithm::Sha256);
        assert!(d.wants(12345));
    }

    #[test]
    fn malformed_lines_are_reported_with_numbers_and_nothing_is_added() {
        let text = format!(
            "{EICAR_MD5}:68:Good\n\nnot-a-line\n{EICAR_MD5}:x:Bad.Size\nzz{}:68:Bad.Hex\n{EICAR_MD5}:68:\n",
            &EICAR_MD5[2..]
        );
        let mut d = HashDb::new();
        let errs = d
            .add_text(Path::new("x.hdb"), &text, HashFormat::Hdb)
            .unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert_eq!(d.len(), 0, "a bad file adds nothing");
        assert!(errs[0].to_string().starts_with("x.hdb:3: "));
    }

    #[test]
    fn hash_length_selects_algorithm() {
        let data = b"hello";
        let text = format!(
            "{}:5:M\n{}:5:S1\n{}:5:S256\n",
            hex::encode(Md5::digest(data)),
            hex::encode(Sha1::digest(data)),
            hex::encode(Sha256::digest(data)),
        );
        let d = db(&text, HashFormat::Hdb).unwrap();
        let algos: Vec<_> = d.lookup(data, None).iter().map(|h| h.algorithm).collect();
        assert_eq!(
            algos,
            vec![
                HashAlgorithm::Md5,
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha256
            ]
        );
    }

    #[test]
    fn files_stream_and_bad_files_add_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("g.hdb");
        std::fs::write(&good, format!("{EICAR_MD5}:68:A\r\n\n{EICAR_MD5}:69:B\n")).unwrap();
        let bad = dir.path().join("b.hdb");
        std::fs::write(&bad, b"44d88612fea8a8f36de82e1278abb02f:68:\xff\xfe\nzz\n").unwrap();
        let mut d = HashDb::new();
        d.add_file(&good, HashFormat::Hdb).unwrap();
        match d.add_file(&bad, HashFormat::Hdb) {
            Err(AddError::Lines(errs)) => {
                assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2]);
                assert!(errs[0].message.contains("UTF-8"));
            }
            other => panic!("unexpected {other:?}"),
        }
        d.finish();
        assert_eq!(d.len(), 2, "only the good file's signatures");
        assert!(matches!(
            d.add_file(&dir.path().join("missing.hdb"), HashFormat::Hdb),
            Err(AddError::Io(_))
        ));
    }

    #[test]
    fn uppercase_hex_and_flevels_accepted() {
        let text = format!("{}:68:Up:51:255\n", EICAR_MD5.to_uppercase());
        let d = db(&text, HashFormat::Hdb).unwrap();
        assert_eq!(d.len(), 1);
    }
}
