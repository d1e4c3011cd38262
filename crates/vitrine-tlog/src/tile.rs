//! tlog-tiles v0.1.0: tile paths, which tiles a tree has, tile contents, a
//! [`HashReader`] over tiles, and entry bundles.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use crate::merkle::{root_from_leaf_hashes, HashReader};
use crate::{Error, Hash};

/// Tile height: each tile spans 8 tree levels (tlog-tiles §Merkle Tree).
pub const TILE_HEIGHT: u8 = 8;
/// Full tile width in hashes (or entries).
pub const TILE_WIDTH: u16 = 256;
/// Highest tile level.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Most entries an entry bundle may hold.
pub const MAX_BUNDLE_ENTRIES: usize = 256;

/// Whether a tile holds hashes at a level or log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// `tile/<L>/...`: Merkle tree hashes at tile level `L` (tree level `8L`).
    Hashes {
        /// Tile level, 0..=63.
        level: u8,
    },
    /// `tile/entries/...`: an entry bundle.
    Entries,
}

/// A tile or entry bundle path, `tile/<L>/<N>[.p/<W>]` or
/// `tile/entries/<N>[.p/<W>]` (tlog-tiles §Merkle Tree, §Log entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TilePath {
    kind: TileKind,
    index: u64,
    width: u16,
}

impl TilePath {
    /// A hash tile; `width` is 1..=256, 256 meaning full.
    pub fn hashes(level: u8, index: u64, width: u16) -> Result<Self, Error> {
        if level > MAX_TILE_LEVEL {
            return Err(Error::MalformedTilePath {
                reason: "level above 63",
            });
        }
        Self::checked(TileKind::Hashes { level }, index, width)
    }

    /// An entry bundle; `width` is 1..=256, 256 meaning full.
    pub fn entries(index: u64, width: u16) -> Result<Self, Error> {
        Self::checked(TileKind::Entries, index, width)
    }

    fn checked(kind: TileKind, index: u64, width: u16) -> Result<Self, Error> {
        if width == 0 || width > TILE_WIDTH {
            return Err(Error::MalformedTilePath {
                reason: "width not in 1..=256",
            });
        }
        Ok(TilePath { kind, index, width })
    }

    /// Hash tile or entry bundle.
    pub fn kind(&self) -> TileKind {
        self.kind
    }

    /// Tile level for hash tiles.
    pub fn level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hashes { level } => Some(level),
            TileKind::Entries => None,
        }
    }

    /// Tile index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes or entries (256 for full tiles).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile is partial.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The stored tree nodes this hash tile holds, as (tree level, index)
    /// pairs: level `8L`, indexes `N*256 .. N*256+W` (tlog-tiles §Merkle
    /// Tree). Empty for entry bundles.
    pub fn node_ids(&self) -> impl Iterator<Item = (u8, u64)> {
        let (level, n) = match self.kind {
            TileKind::Hashes { level } => {
                (level.saturating_mul(TILE_HEIGHT), u64::from(self.width))
            }
            TileKind::Entries => (0, 0),
        };
        let start = self.index.saturating_mul(256);
        (0..n).map(move |i| (level, start + i))
    }

    /// Strict parse (tlog-tiles §Merkle Tree): `L` in 0..=63 without leading
    /// zeros, `N` as 3-digit groups with all but the last prefixed by `x` and
    /// no leading zero group, `W` in 1..=255 without leading zeros.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::MalformedTilePath { reason };
        let rest = s.strip_prefix("tile/").ok_or(bad("missing tile/ prefix"))?;
        let (kind, rest) = if let Some(r) = rest.strip_prefix("entries/") {
            (TileKind::Entries, r)
        } else {
            let (l, r) = rest.split_once('/').ok_or(bad("missing level"))?;
            let level = small_decimal(l).ok_or(bad("bad level"))?;
            if level > u16::from(MAX_TILE_LEVEL) {
                return Err(bad("level above 63"));
            }
            (TileKind::Hashes { level: level as u8 }, r)
        };
        let (n, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = small_decimal(w).ok_or(bad("bad width"))?;
                if !(1..TILE_WIDTH).contains(&w) {
                    return Err(bad("partial width not in 1..=255"));
                }
                (n, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = n.split('/').collect();
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x')
                    .ok_or(bad("non-final index element without x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index element is not 3 digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(bad("leading zero index element"));
            }
            let d: u64 = digits.parse().map_err(|_| bad("index element"))?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(d))
                .ok_or(bad("index overflows"))?;
        }
        Self::checked(kind, index, width)
    }
}

fn small_decimal(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TileKind::Hashes { level } => write!(f, "tile/{level}/")?,
            TileKind::Entries => f.write_str("tile/entries/")?,
        }
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                write!(f, "x{g:03}/")?;
            } else {
                write!(f, "{g:03}")?;
            }
        }
        if self.is_partial() {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

/// Number of hashes stored at tile level `level` for a tree of `size`.
fn hashes_at_tile_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// Every hash tile of a tree of `size` leaves, full and partial, level by
/// level (tlog-tiles §Partial Tiles). Allocates one path per tile.
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let n = hashes_at_tile_level(size, level);
        if n == 0 {
            break;
        }
        for index in 0..n / 256 {
            out.push(TilePath {
                kind: TileKind::Hashes { level },
                index,
                width: TILE_WIDTH,
            });
        }
        if !n.is_multiple_of(256) {
            out.push(TilePath {
                kind: TileKind::Hashes { level },
                index: n / 256,
                width: (n % 256) as u16,
            });
        }
    }
    out
}

/// The tile at `level` holding stored hash number `hash_index` of that level,
/// with the width it has in a tree of `size` leaves; `None` if the tree does
/// not have that hash.
pub fn tile_for_hash(size: u64, level: u8, hash_index: u64) -> Option<TilePath> {
    let n = hashes_at_tile_level(size, level);
    if level > MAX_TILE_LEVEL || hash_index >= n {
        return None;
    }
    let index = hash_index / 256;
    let width = if (index + 1) * 256 <= n {
        TILE_WIDTH
    } else {
        (n % 256) as u16
    };
    Some(TilePath {
        kind: TileKind::Hashes { level },
        index,
        width,
    })
}

/// The entry bundle holding leaf `leaf_index` in a tree of `size` leaves.
pub fn bundle_for_leaf(size: u64, leaf_index: u64) -> Option<TilePath> {
    let t = tile_for_hash(size, 0, leaf_index)?;
    Some(TilePath {
        kind: TileKind::Entries,
        ..t
    })
}

/// Contents of hash tile `tile` computed from all leaf hashes of the tree:
/// hash `i` is `MTH(D[(N*256+i)*256^L .. (N*256+i+1)*256^L])`
/// (tlog-tiles §Merkle Tree).
pub fn tile_from_leaf_hashes(leaves: &[Hash], tile: &TilePath) -> Result<Vec<u8>, Error> {
    let TileKind::Hashes { level } = tile.kind else {
        return Err(Error::MalformedTilePath {
            reason: "not a hash tile",
        });
    };
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    let span = 1u64.checked_shl(shift).filter(|_| shift < 64);
    let mut out = Vec::with_capacity(usize::from(tile.width) * 32);
    for (i, (_, idx)) in tile.node_ids().enumerate() {
        let range = span.and_then(|span| {
            let lo = usize::try_from(idx.checked_mul(span)?).ok()?;
            let hi = lo.checked_add(usize::try_from(span).ok()?)?;
            leaves.get(lo..hi)
        });
        let Some(range) = range else {
            return Err(Error::OutOfRange {
                level: level.saturating_mul(TILE_HEIGHT),
                index: tile.index * 256 + i as u64,
                size: leaves.len() as u64,
            });
        };
        out.extend_from_slice(&root_from_leaf_hashes(range));
    }
    Ok(out)
}

/// Contents of hash tile `tile` read from stored node hashes.
pub fn tile_from_reader<R: HashReader + ?Sized>(
    reader: &R,
    tile: &TilePath,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(usize::from(tile.width) * 32);
    for (level, index) in tile.node_ids() {
        out.extend_from_slice(&reader.read_node(level, index)?);
    }
    Ok(out)
}

/// A [`HashReader`] answering node hashes out of tiles of a tree of a fixed
/// size, fetched on demand through a callback and cached.
///
/// Nodes at tree levels between tile levels are recomputed from the tile
/// below (tlog-tiles §Merkle Tree). Tiles are not authenticated here: check
/// [`crate::tree_root`] over this reader against a verified checkpoint, or
/// verify any proof built from it.
pub struct TileHashReader<F> {
    size: u64,
    fetch: F,
    cache: RefCell<HashMap<TilePath, Vec<u8>>>,
}

impl<F: Fn(&TilePath) -> Result<Vec<u8>, Error>> TileHashReader<F> {
    /// A reader for a tree of `size` leaves; `fetch` returns a tile's bytes.
    pub fn new(size: u64, fetch: F) -> Self {
        TileHashReader {
            size,
            fetch,
            cache: RefCell::new(HashMap::new()),
        }
    }

    fn tile(&self, path: &TilePath) -> Result<Vec<u8>, Error> {
        if let Some(t) = self.cache.borrow().get(path) {
            return Ok(t.clone());
        }
        let data = (self.fetch)(path)?;
        let want = usize::from(path.width) * 32;
        if data.len() != want {
            return Err(Error::MalformedTile {
                path: path.to_string(),
                len: data.len(),
                want,
            });
        }
        self.cache.borrow_mut().insert(*path, data.clone());
        Ok(data)
    }
}

impl<F: Fn(&TilePath) -> Result<Vec<u8>, Error>> HashReader for TileHashReader<F> {
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, Error> {
        let out_of_range = Error::OutOfRange {
            level,
            index,
            size: self.size,
        };
        let end = (u128::from(index) + 1) << level;
        if level >= 64 || end > u128::from(self.size) {
            return Err(out_of_range);
        }
        let tile_level = level / TILE_HEIGHT;
        let h = level % TILE_HEIGHT;
        let first = index << h;
        let count = 1usize << h;
        let path = tile_for_hash(self.size, tile_level, first).ok_or(out_of_range)?;
        let data = self.tile(&path)?;
        let off = usize::try_from(first % 256).unwrap_or(0) * 32;
        let hashes: Vec<Hash> = data
            .get(off..off + count * 32)
            .ok_or(Error::HashUnavailable { level, index })?
            .chunks_exact(32)
            .map(|c| {
                let mut a = [0u8; 32];
                a.copy_from_slice(c);
                a
            })
            .collect();
        Ok(root_from_leaf_hashes(&hashes))
    }
}

/// Encodes an entry bundle: big-endian u16 length-prefixed entries, 1 to
/// 256 of them (tlog-tiles §Log entries).
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, Error> {
    if entries.is_empty() || entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(Error::MalformedEntryBundle {
            reason: "bundle must hold 1 to 256 entries",
        });
    }
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| Error::MalformedEntryBundle {
            reason: "entry longer than 65535 bytes",
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Strictly decodes an entry bundle: no truncated entries, no trailing
/// bytes, 1 to 256 entries (tlog-tiles §Log entries; empty tiles are never
/// served).
pub fn decode_entry_bundle(data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let bad = |reason| Error::MalformedEntryBundle { reason };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if out.len() == MAX_BUNDLE_ENTRIES {
            return Err(bad("more than 256 entries"));
        }
        let (len, tail) = rest.split_at_checked(2).ok_or(bad("truncated length"))?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (entry, tail) = tail.split_at_checked(len).ok_or(bad("truncated entry"))?;
        out.push(entry.to_vec());
        rest = tail;
    }
    if out.is_empty() {
        return Err(bad("empty bundle"));
    }
    Ok(out)
}
