//! Tile arithmetic the sequencer needs beyond `vitrine-tlog`.

use vitrine_tlog::{TileKind, TilePath, TILE_HEIGHT};

/// Hashes (or entries) in a full tile.
pub(crate) const TILE_WIDTH: u64 = vitrine_tlog::TILE_WIDTH as u64;

fn hashes_at(kind: TileKind, size: u64) -> u64 {
    let level = match kind {
        TileKind::Hashes { level } => level,
        TileKind::Entries => 0,
    };
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// Size of the smallest tree whose first entries determine this tile's
/// whole content: `(index * 256 + width) * 256^level`; `None` past `u64`.
pub fn covered_size(path: &TilePath) -> Option<u64> {
    let hashes = path
        .index()
        .checked_mul(TILE_WIDTH)?
        .checked_add(u64::from(path.width()))?;
    let shift = u32::from(path.level().unwrap_or(0)) * u32::from(TILE_HEIGHT);
    let out = hashes.checked_shl(shift)?;
    // checked_shl only rejects shift >= 64; catch bits shifted out too.
    (out >> shift == hashes).then_some(out)
}

/// The rightmost partial tile of `kind` for a tree of `size`, if not empty
/// (tlog-tiles §Partial Tiles).
pub(crate) fn partial_tile(kind: TileKind, size: u64) -> Option<TilePath> {
    let n = hashes_at(kind, size);
    let width = (n % TILE_WIDTH) as u16;
    (width > 0).then(|| with_kind(kind, n / TILE_WIDTH, width))
}

/// A tile path from parts known to be valid.
pub(crate) fn with_kind(kind: TileKind, index: u64, width: u16) -> TilePath {
    match kind {
        TileKind::Hashes { level } => TilePath::hashes(level, index, width),
        TileKind::Entries => TilePath::entries(index, width),
    }
    .expect("invariant: level <= 63 and width in 1..=256")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_tiles_for_70000() {
        // The worked example of tlog-tiles §Partial Tiles.
        let h = |level| TileKind::Hashes { level };
        let p = |kind, size| partial_tile(kind, size).map(|t| t.to_string());
        assert_eq!(p(h(0), 70_000).as_deref(), Some("tile/0/273.p/112"));
        assert_eq!(p(h(1), 70_000).as_deref(), Some("tile/1/001.p/17"));
        assert_eq!(p(h(2), 70_000).as_deref(), Some("tile/2/000.p/1"));
        assert_eq!(p(h(3), 70_000), None);
        assert_eq!(p(h(0), 256), None);
        assert_eq!(p(h(1), 256).as_deref(), Some("tile/1/000.p/1"));
        assert_eq!(
            p(TileKind::Entries, 257).as_deref(),
            Some("tile/entries/001.p/1")
        );
    }

    #[test]
    fn covered() {
        let t = |s: &str| covered_size(&TilePath::parse(s).unwrap());
        assert_eq!(t("tile/0/000.p/5"), Some(5));
        assert_eq!(t("tile/0/001"), Some(512));
        assert_eq!(t("tile/1/001.p/17"), Some(273 * 256));
        assert_eq!(t("tile/entries/002"), Some(768));
        assert_eq!(t("tile/63/000"), None);
        assert_eq!(t("tile/7/000.p/1"), Some(1 << 56));
        assert_eq!(t("tile/7/000"), None);
    }
}
