//! RFC 6962 §2.1 Merkle tree hashing, proof generation and RFC 9162 §2.1.3.2 /
//! §2.1.4.2 proof verification.

use sha2::{Digest as _, Sha256};

use crate::{Error, ProofError};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256("")`, the root of the empty tree (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// `SHA-256(0x00 || data)` (RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly less than `n` (`n >= 2`), RFC 6962 §2.1's k.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The Merkle Tree Hash of a list of leaf hashes (RFC 6962 §2.1 MTH).
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(
                &root_from_leaf_hashes(&leaves[..k]),
                &root_from_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// A source of stored tree hashes.
///
/// Contract: `read_node(level, index)` returns the hash of the complete
/// subtree of `2^level` leaves starting at leaf `index << level` (level 0 is
/// the leaf hashes), or an error if it does not have it. Generation functions
/// only ask for nodes that are complete in the tree size they are given. The
/// reader is not trusted: proofs built from it must still be verified against
/// a signed root.
pub trait HashReader {
    /// The hash of node (`level`, `index`).
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, Error>;
}

impl<F: Fn(u8, u64) -> Result<Hash, Error>> HashReader for F {
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, Error> {
        self(level, index)
    }
}

/// MTH(D[lo..hi]); `lo` is always aligned to the subtree's enclosing power of
/// two in the RFC 6962 recursion, so complete pieces are stored nodes.
fn subtree<R: HashReader + ?Sized>(r: &R, lo: u64, hi: u64) -> Result<Hash, Error> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return r.read_node(level, lo >> level);
    }
    let k = split(n);
    Ok(node_hash(
        &subtree(r, lo, lo + k)?,
        &subtree(r, lo + k, hi)?,
    ))
}

/// The root of the tree of `size` leaves (RFC 6962 §2.1).
pub fn tree_root<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Hash, Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(reader, 0, size)
}

/// The inclusion proof for leaf `index` in a tree of `size` leaves, from the
/// leaf's sibling up (RFC 6962 §2.1.1 PATH).
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, Error> {
    if index >= size {
        return Err(Error::OutOfRange {
            level: 0,
            index,
            size,
        });
    }
    fn path<R: HashReader + ?Sized>(
        r: &R,
        m: u64,
        lo: u64,
        hi: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), Error> {
        if hi - lo == 1 {
            return Ok(());
        }
        let k = split(hi - lo);
        if m < lo + k {
            path(r, m, lo, lo + k, out)?;
            out.push(subtree(r, lo + k, hi)?);
        } else {
            path(r, m, lo + k, hi, out)?;
            out.push(subtree(r, lo, lo + k)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    path(reader, index, 0, size, &mut out)?;
    Ok(out)
}

/// The consistency proof from `size1` to `size2` (RFC 6962 §2.1.2 PROOF).
/// Empty when `size1` is 0 or equals `size2`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, Error> {
    if size1 > size2 {
        return Err(Error::OutOfRange {
            level: 0,
            index: size1,
            size: size2,
        });
    }
    fn sub<R: HashReader + ?Sized>(
        r: &R,
        m: u64,
        lo: u64,
        hi: u64,
        b: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), Error> {
        let n = hi - lo;
        if m == n {
            if !b {
                out.push(subtree(r, lo, hi)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            sub(r, m, lo, lo + k, b, out)?;
            out.push(subtree(r, lo + k, hi)?);
        } else {
            sub(r, m - k, lo + k, hi, false, out)?;
            out.push(subtree(r, lo, lo + k)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    if size1 > 0 {
        sub(reader, size1, 0, size2, true, &mut out)?;
    }
    Ok(out)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2). `root` is a byte slice
/// so that a root of the wrong length is simply a mismatch.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &[u8],
) -> Result<(), Error> {
    let fail = || Error::Proof(ProofError::Inclusion);
    if index >= size {
        return Err(fail());
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(fail());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r.as_slice() != root {
        return Err(fail());
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2). A proof from the empty
/// tree is rejected: it proves nothing, and tlog-witness handles old size 0
/// without one.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), Error> {
    let fail = || Error::Proof(ProofError::Consistency);
    if size1 == 0 || size2 < size1 {
        return Err(fail());
    }
    if size1 == size2 {
        return if proof.is_empty() && root1 == root2 {
            Ok(())
        } else {
            Err(fail())
        };
    }
    let root1: Hash = root1.try_into().map_err(|_| fail())?;
    let (first, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        let (first, rest) = proof.split_first().ok_or_else(fail)?;
        (*first, rest)
    };
    if size1.is_power_of_two() && proof.is_empty() {
        return Err(fail());
    }
    let (fr, sr) = consistency_roots(size1, size2, first, rest).ok_or_else(fail)?;
    if fr != root1 || sr.as_slice() != root2 {
        return Err(fail());
    }
    Ok(())
}

/// The roots at `size1` and `size2` that a consistency proof implies
/// (RFC 9162 §2.1.4.2), with `first` the node the walk starts from (the
/// proof's first hash, or the old root when `size1` is a power of two) and
/// `rest` the remaining hashes. `None` if the proof has the wrong length.
/// Needs `0 < size1 < size2`.
pub fn consistency_roots(
    size1: u64,
    size2: u64,
    first: Hash,
    rest: &[Hash],
) -> Option<(Hash, Hash)> {
    if size1 == 0 || size2 <= size1 {
        return None;
    }
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some((fr, sr))
}

/// An in-memory tree storing every complete node; for tests and small tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash, storing every node it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                break;
            }
            h = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Appends the leaf hash of `data`.
    pub fn push_data(&mut self, data: &[u8]) {
        self.push(leaf_hash(data));
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        tree_root(self, self.size()).expect("invariant: MemoryTree stores every complete node")
    }
}

impl HashReader for MemoryTree {
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, Error> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(Error::HashUnavailable { level, index })
    }
}
