//! The sequencer's in-memory right edge of the tree.

use vitrine_tlog::{node_hash, root_from_leaf_hashes, Hash};

use crate::tile::TILE_WIDTH;

/// The hashes of the rightmost tile at each level for some tree size:
/// `levels[l]` holds `floor(size / 256^l) mod 256` hashes, each the root of
/// a complete subtree of `256^l` leaves. Together they are the whole tree,
/// so appending and computing the root need no reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) levels: Vec<Vec<Hash>>,
}

impl Edge {
    /// The root of the tree the edge describes (RFC 6962 §2.1).
    pub(crate) fn root(&self) -> Hash {
        // Split into complete subtrees, largest first, then fold from the
        // right: MTH = H(s0, H(s1, H(s2, …))).
        let mut subtrees = Vec::new();
        for hashes in self.levels.iter().rev() {
            let mut start = 0;
            for bit in (0..8).rev() {
                let k = 1usize << bit;
                if hashes.len() & k != 0 {
                    subtrees.push(root_from_leaf_hashes(&hashes[start..start + k]));
                    start += k;
                }
            }
        }
        let Some((last, rest)) = subtrees.split_last() else {
            return root_from_leaf_hashes(&[]);
        };
        rest.iter().rev().fold(*last, |acc, s| node_hash(s, &acc))
    }

    /// Appends one hash at `level` (a leaf hash at level 0). When that
    /// tile fills up, `full` is called with the level and its 256 hashes,
    /// and the tile's hash moves one level up.
    pub(crate) fn push(&mut self, level: usize, hash: Hash, full: &mut impl FnMut(usize, &[Hash])) {
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        self.levels[level].push(hash);
        if self.levels[level].len() as u64 == TILE_WIDTH {
            let tile = std::mem::take(&mut self.levels[level]);
            full(level, &tile);
            self.push(level + 1, root_from_leaf_hashes(&tile), full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_tlog::leaf_hash;

    #[test]
    fn edge_root_matches_tree_hash() {
        let leaves: Vec<Hash> = (0u32..70_000)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut edge = Edge::default();
        for (n, leaf) in leaves.iter().enumerate() {
            edge.push(0, *leaf, &mut |_, _| {});
            let size = n + 1;
            if size < 600 || size % 4099 == 0 || size == 65_536 || size == 70_000 {
                assert_eq!(
                    edge.root(),
                    root_from_leaf_hashes(&leaves[..size]),
                    "size {size}"
                );
            }
        }
        assert_eq!(Edge::default().root(), root_from_leaf_hashes(&[]));
    }
}
