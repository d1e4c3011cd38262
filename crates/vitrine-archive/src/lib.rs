//! Looks inside containers (zip, tar, gzip, bzip2, xz, 7z), nested, in
//! memory and under limits.
//!
//! Nothing is ever written to disk: members are decompressed into memory,
//! so a member named `../../etc/x` or `/etc/x` is only a name. Every limit
//! bounds memory: the total decompressed bytes of one walk, each member's
//! size, the expansion of each container relative to its own size, the
//! number of members and the nesting depth. Whatever a limit or damage
//! stops is reported as an [`Event`], never passed over in silence.
//!
//! ```
//! use std::ops::ControlFlow;
//! let mut names = Vec::new();
//! vitrine_archive::walk(b"not an archive", &Default::default(), &mut |ev| {
//!     if let vitrine_archive::Event::Member { path, .. } = ev {
//!         names.push(path.join("!"));
//!     }
//!     ControlFlow::Continue(())
//! });
//! assert!(names.is_empty());
//! ```

use std::io::{Cursor, Read};
use std::ops::ControlFlow;

pub mod filetype;

pub use filetype::{sniff, FileKind};

/// Limits for one walk. The defaults follow ClamAV's where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How many containers deep to open (ClamAV `MaxRecursion`: 17).
    pub max_depth: usize,
    /// Members in all, across every level (ClamAV `MaxFiles`: 10000).
    pub max_members: u64,
    /// Decompressed bytes in all (ClamAV `MaxScanSize`: 400 MB).
    pub max_total_bytes: u64,
    /// Decompressed bytes of one member (ClamAV `MaxFileSize`: 100 MB).
    pub max_member_size: u64,
    /// Bytes a container may expand to, as a multiple of its own size,
    /// once it has produced more than [`RATIO_FLOOR`] bytes.
    pub max_ratio: u64,
}

/// A container may always produce this many bytes, whatever its ratio.
pub const RATIO_FLOOR: u64 = 8 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_members: 10_000,
            max_total_bytes: 400 << 20,
            max_member_size: 100 << 20,
            max_ratio: 200,
        }
    }
}

/// Which limit stopped a walk (or part of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Containers nested deeper than `max_depth`.
    Depth,
    /// More than `max_members` members.
    Members,
    /// More than `max_total_bytes` decompressed.
    TotalBytes,
    /// A member larger than `max_member_size`.
    MemberSize,
    /// A container expanding more than `max_ratio` times its size.
    Ratio,
}

impl LimitKind {
    /// The ClamAV-style heuristic name, e.g. `Heuristics.Limits.Exceeded.MaxRatio`.
    pub fn heuristic_name(self) -> &'static str {
        match self {
            LimitKind::Depth => "Heuristics.Limits.Exceeded.MaxRecursion",
            LimitKind::Members => "Heuristics.Limits.Exceeded.MaxFiles",
            LimitKind::TotalBytes => "Heuristics.Limits.Exceeded.MaxScanSize",
            LimitKind::MemberSize => "Heuristics.Limits.Exceeded.MaxFileSize",
            LimitKind::Ratio => "Heuristics.Limits.Exceeded.MaxRatio",
        }
    }
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Depth => "nesting depth",
            LimitKind::Members => "number of members",
            LimitKind::TotalBytes => "total decompressed size",
            LimitKind::MemberSize => "member size",
            LimitKind::Ratio => "compression ratio",
        })
    }
}

/// What a walk finds, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A member, fully decompressed. `path` names it from the outermost
    /// container down (`["dir/inner.tar", "file"]`); names are sanitised
    /// for display (control characters escaped) and never used as paths.
    Member {
        /// Member names from the outside in.
        path: &'a [String],
        /// Its content.
        data: &'a [u8],
    },
    /// A limit stopped reading at `path` (the container, or the member
    /// that was too large). What lies beyond was not looked at.
    LimitExceeded {
        /// Where the limit was hit (empty: the walked data itself).
        path: &'a [String],
        /// Which limit.
        limit: LimitKind,
    },
    /// The container at `path` is damaged, truncated, encrypted or uses
    /// an unsupported method; members before the damage were reported.
    Corrupt {
        /// The container or member that could not be read.
        path: &'a [String],
        /// What went wrong.
        error: String,
    },
}

/// Counts of a finished walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Members reported.
    pub members: u64,
    /// Decompressed bytes.
    pub bytes: u64,
    /// Limit events.
    pub limits_exceeded: u64,
    /// Corruption events.
    pub corrupt: u64,
    /// Whether the visitor stopped the walk.
    pub stopped: bool,
}

/// Walks `data`: if it is a container, calls `visit` for each member (and
/// recursively for containers inside), and for every limit or damage met.
/// Data that is not a container produces no event. The visitor may stop
/// the walk by returning `ControlFlow::Break`.
pub fn walk(
    data: &[u8],
    limits: &Limits,
    visit: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Stats {
    let mut w = Walker {
        limits,
        visit,
        path: Vec::new(),
        stats: Stats::default(),
        done: false,
    };
    w.container(data, 0);
    w.stats
}

/// Whether `data` is a container that [`walk`] opens.
pub fn is_container(data: &[u8]) -> bool {
    filetype::container_magic(data).is_some()
}

/// Escapes control characters so a member name cannot forge output lines.
pub fn display_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("(unnamed)");
    }
    out
}

struct Walker<'l, 'v> {
    limits: &'l Limits,
    visit: &'v mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    path: Vec<String>,
    stats: Stats,
    /// Set when the visitor breaks or a walk-wide limit is hit.
    done: bool,
}

/// Bytes left for one container under the ratio limit.
struct Budget {
    allowed: u64,
    produced: u64,
}

impl Walker<'_, '_> {
    fn emit(&mut self, ev: Event<'_>) {
        if self.done {
            return;
        }
        match &ev {
            Event::LimitExceeded { .. } => self.stats.limits_exceeded += 1,
            Event::Corrupt { .. } => self.stats.corrupt += 1,
            Event::Member { .. } => {}
        }
        if (self.visit)(ev).is_break() {
            self.done = true;
            self.stats.stopped = true;
        }
    }

    fn limit(&mut self, limit: LimitKind) {
        let path = std::mem::take(&mut self.path);
        self.emit(Event::LimitExceeded { path: &path, limit });
        self.path = path;
    }

    fn corrupt(&mut self, error: impl std::fmt::Display) {
        let path = std::mem::take(&mut self.path);
        self.emit(Event::Corrupt {
            path: &path,
            error: error.to_string(),
        });
        self.path = path;
    }

    /// Opens `data` if it is a container; `depth` containers enclose it.
    fn container(&mut self, data: &[u8], depth: usize) {
        let Some(kind) = filetype::container_magic(data) else {
            return;
        };
        if self.done {
            return;
        }
        if depth >= self.limits.max_depth {
            self.limit(LimitKind::Depth);
            return;
        }
        let mut budget = Budget {
            allowed: (data.len() as u64)
                .saturating_mul(self.limits.max_ratio)
                .max(RATIO_FLOOR),
            produced: 0,
        };
        match kind {
            FileKind::Zip => self.zip(data, depth, &mut budget),
            FileKind::Tar => self.tar(data, depth, &mut budget),
            FileKind::SevenZ => self.sevenz(data, depth, &mut budget),
            FileKind::Gzip => {
                let mut d = flate2::bufread::MultiGzDecoder::new(data);
                // The header (with its optional file name) is parsed on
                // the first read; read one byte to learn the name.
                let mut first = [0u8; 1];
                let n = match d.read(&mut first) {
                    Ok(n) => n,
                    Err(e) => return self.corrupt(format!("gzip: {e}")),
                };
                let name = d
                    .header()
                    .and_then(|h| h.filename())
                    .map(display_name)
                    .unwrap_or_else(|| "(gzip)".into());
                let mut r = Cursor::new(&first[..n]).chain(d);
                self.member(name, &mut r, depth, &mut budget, "gzip");
            }
            FileKind::Bzip2 => {
                let mut r = bzip2::bufread::MultiBzDecoder::new(data);
                self.member("(bzip2)".into(), &mut r, depth, &mut budget, "bzip2");
            }
            FileKind::Xz => {
                // 64 MiB of dictionary at most: a stream asking for more is
                // refused rather than allowed to allocate it.
                let mut r = lzma_rust2::XzReader::new_mem_limit(data, true, 64 * 1024);
                self.member("(xz)".into(), &mut r, depth, &mut budget, "xz");
            }
            _ => {}
        }
    }

    /// Reads one member under every limit, reports it and opens it if it
    /// is itself a container. Returns false when the enclosing container
    /// must not be read further (or the whole walk is done).
    fn member(
        &mut self,
        name: String,
        r: &mut dyn Read,
        depth: usize,
        budget: &mut Budget,
        what: &str,
    ) -> bool {
        if self.done {
            return false;
        }
        self.path.push(name);
        let go_on = self.member_inner(r, depth, budget, what);
        self.path.pop();
        go_on && !self.done
    }

    fn member_inner(
        &mut self,
        r: &mut dyn Read,
        depth: usize,
        budget: &mut Budget,
        what: &str,
    ) -> bool {
        self.stats.members += 1;
        if self.stats.members > self.limits.max_members {
            self.limit(LimitKind::Members);
            self.done = true;
            return false;
        }
        let total_left = self.limits.max_total_bytes - self.stats.bytes;
        let ratio_left = budget.allowed - budget.produced;
        let member_cap = self.limits.max_member_size;
        let cap = member_cap.min(total_left).min(ratio_left);
        let mut data = Vec::new();
        let read = r.take(cap + 1).read_to_end(&mut data);
        let over = data.len() as u64 > cap;
        if over {
            data.truncate(cap as usize);
        }
        self.stats.bytes += data.len() as u64;
        budget.produced += data.len() as u64;
        if over {
            // The tightest limit is the one that was hit.
            let kind = if cap == total_left {
                LimitKind::TotalBytes
            } else if cap == ratio_left {
                LimitKind::Ratio
            } else {
                LimitKind::MemberSize
            };
            self.limit(kind);
            // A member too large is skipped; a walk-wide limit ends it.
            if kind == LimitKind::TotalBytes {
                self.done = true;
            }
            return kind == LimitKind::MemberSize;
        }
        // Whatever decompressed before damage is still worth scanning:
        // EICAR at the start of a truncated gzip is still EICAR.
        let path = std::mem::take(&mut self.path);
        self.emit(Event::Member {
            path: &path,
            data: &data,
        });
        self.path = path;
        if let Err(e) = read {
            // Some decoders name themselves already ("bzip2: invalid
            // data"): say the format once.
            let message = e.to_string();
            if message.starts_with(&format!("{what}:")) {
                self.corrupt(message);
            } else {
                self.corrupt(format!("{what}: {message}"));
            }
            self.container(&data, depth + 1);
            // A zip member is independent of the next one; a stream is not.
            return what == "zip";
        }
        self.container(&data, depth + 1);
        true
    }

    fn zip(&mut self, data: &[u8], depth: usize, budget: &mut Budget) {
        let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(z) => z,
            Err(e) => return self.zip_stream(data, depth, budget, e),
        };
        for i in 0..zip.len() {
            if self.done {
                return;
            }
            let fallback_name = zip
                .name_for_index(i)
                .and_then(Result::ok)
                .map(|n| display_name(n.as_bytes()))
                .unwrap_or_else(|| format!("(member {i})"));
            let mut f = match zip.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    self.path.push(fallback_name);
                    self.corrupt(format!("zip: {e}"));
                    self.path.pop();
                    continue;
                }
            };
            if f.is_dir() {
                continue;
            }
            let name = display_name(f.name_raw());
            if !self.member(name, &mut f, depth, budget, "zip") {
                return;
            }
        }
    }

    /// A zip whose central directory cannot be read (truncated, say):
    /// read the local headers from the start until they fail.
    fn zip_stream(
        &mut self,
        data: &[u8],
        depth: usize,
        budget: &mut Budget,
        dir_err: impl std::fmt::Display,
    ) {
        let mut cur = Cursor::new(data);
        let mut error = format!("zip: {dir_err}");
        loop {
            if self.done {
                return;
            }
            match zip::read::read_zipfile_from_stream(&mut cur) {
                Ok(Some(mut f)) => {
                    if f.is_dir() {
                        continue;
                    }
                    let name = display_name(f.name_raw());
                    if !self.member(name, &mut f, depth, budget, "zip") {
                        if self.done {
                            return;
                        }
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = format!("{error}; then {e}");
                    break;
                }
            }
        }
        self.corrupt(error);
    }

    fn tar(&mut self, data: &[u8], depth: usize, budget: &mut Budget) {
        let mut ar = tar::Archive::new(data);
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return self.corrupt(format!("tar: {e}")),
        };
        for entry in entries {
            if self.done {
                return;
            }
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return self.corrupt(format!("tar: {e}")),
            };
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            let name = display_name(&entry.path_bytes());
            if !self.member(name, &mut entry, depth, budget, "tar") {
                return;
            }
        }
    }

    fn sevenz(&mut self, data: &[u8], depth: usize, budget: &mut Budget) {
        use sevenz_rust2::{ArchiveReader, EntryDecision, Password};
        let mut ar = match ArchiveReader::new_with_memory_limit(
            Cursor::new(data),
            Password::empty(),
            64 * 1024,
        ) {
            Ok(a) => a,
            Err(e) => return self.corrupt(format!("7z: {e}")),
        };
        ar.set_thread_count(1);
        let entries = ar.archive().files.len() as u64;
        if self.stats.members + entries > self.limits.max_members {
            self.limit(LimitKind::Members);
            self.done = true;
            return;
        }
        let result = ar.for_each_entries_with_decision(|entry, r| {
            if entry.is_directory() || !entry.has_stream {
                return Ok(EntryDecision::Continue);
            }
            let name = display_name(entry.name().as_bytes());
            if self.member(name, r, depth, budget, "7z") {
                Ok(EntryDecision::Continue)
            } else {
                // The rest of this block was not read: do not decode it.
                Ok(EntryDecision::Stop)
            }
        });
        if let Err(e) = result {
            self.corrupt(format!("7z: {e}"));
        }
    }
}
