//! Re-verifying a whole log from its tiles and entry bundles.

use vitrine_tlog::{
    decode_entry_bundle, leaf_hash, root_from_leaf_hashes, tile_from_leaf_hashes, tiles_for_size,
    Hash, TileKind, TilePath,
};

use crate::tile::{partial_tile, with_kind, TILE_WIDTH};

/// Why [`replay`] rejected a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Fetching a tile failed.
    #[error("fetching {path}: {reason}")]
    Fetch {
        /// The tile.
        path: String,
        /// Why.
        reason: String,
    },
    /// A tile the tree size requires does not exist.
    #[error("{path} is missing")]
    Missing {
        /// The tile.
        path: String,
    },
    /// An entry bundle does not decode or has the wrong number of entries.
    #[error("{path} is malformed")]
    MalformedBundle {
        /// The bundle.
        path: String,
    },
    /// The entries do not hash to the checkpoint's root.
    #[error("entries do not hash to the checkpoint root")]
    RootMismatch,
    /// A served hash tile differs from the one recomputed from entries.
    #[error("{path} does not match the entries")]
    TileMismatch {
        /// The tile.
        path: String,
    },
}

/// Fetches every entry bundle of a tree of `size` entries, checks the
/// entries hash to `root`, and checks every hash tile the size requires
/// against the recomputed hashes. Returns the entries in order.
///
/// `fetch` returns `Ok(None)` for a tile that does not exist.
pub fn replay<E: std::fmt::Display>(
    size: u64,
    root: &Hash,
    mut fetch: impl FnMut(&TilePath) -> Result<Option<Vec<u8>>, E>,
) -> Result<Vec<Vec<u8>>, ReplayError> {
    let mut get = |path: &TilePath| {
        fetch(path)
            .map_err(|e| ReplayError::Fetch {
                path: path.to_string(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ReplayError::Missing {
                path: path.to_string(),
            })
    };
    let full = size / TILE_WIDTH;
    let bundles = (0..full)
        .map(|n| with_kind(TileKind::Entries, n, TILE_WIDTH as u16))
        .chain(partial_tile(TileKind::Entries, size));
    let mut entries = Vec::new();
    for path in bundles {
        let got = decode_entry_bundle(&get(&path)?)
            .ok()
            .filter(|e| e.len() == usize::from(path.width()))
            .ok_or_else(|| ReplayError::MalformedBundle {
                path: path.to_string(),
            })?;
        entries.extend(got);
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    if root_from_leaf_hashes(&leaves) != *root {
        return Err(ReplayError::RootMismatch);
    }
    for path in tiles_for_size(size) {
        let want = tile_from_leaf_hashes(&leaves, &path).expect("invariant: tile within size");
        if get(&path)? != want {
            return Err(ReplayError::TileMismatch {
                path: path.to_string(),
            });
        }
    }
    Ok(entries)
}
