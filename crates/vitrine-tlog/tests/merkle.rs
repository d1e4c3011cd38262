//! Property-style tests: every proof we generate verifies, tampering fails.

use vitrine_tlog::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root_from_leaf_hashes,
    tree_root, verify_consistency, verify_inclusion, Error, Hash, HashReader, MemoryTree,
    ProofError,
};

const N: u64 = 70;

fn trees() -> Vec<MemoryTree> {
    // trees[n] has n leaves.
    let mut out = vec![MemoryTree::new()];
    let mut t = MemoryTree::new();
    for i in 0..N {
        t.push_data(&i.to_be_bytes());
        out.push(t.clone());
    }
    out
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

#[test]
fn hashing_basics() {
    assert_eq!(
        empty_root(),
        *b"\xe3\xb0\xc4\x42\x98\xfc\x1c\x14\x9a\xfb\xf4\xc8\x99\x6f\xb9\x24\x27\xae\x41\xe4\x64\x9b\x93\x4c\xa4\x95\x99\x1b\x78\x52\xb8\x55"
    );
    assert_eq!(MemoryTree::new().root(), empty_root());
    let l = leaf_hash(b"");
    // RFC 6962 test vector: hash of the empty leaf.
    assert_eq!(
        l[..4],
        [0x6e, 0x34, 0x0b, 0x9c],
        "SHA-256(0x00) starts 6e340b9c"
    );
    assert_eq!(root_from_leaf_hashes(&[l]), l);
    assert_eq!(root_from_leaf_hashes(&[l, l]), node_hash(&l, &l));
    let t = trees();
    for n in 0..=N {
        assert_eq!(
            t[n as usize].root(),
            root_from_leaf_hashes(&leaves(n)),
            "{n}"
        );
        // Any larger tree stores enough to compute smaller roots.
        assert_eq!(tree_root(&t[N as usize], n).unwrap(), t[n as usize].root());
    }
}

#[test]
fn inclusion_all_pairs() {
    let t = trees();
    let big = &t[N as usize];
    for size in 1..=N {
        let root = t[size as usize].root();
        for idx in 0..size {
            let p = inclusion_proof(big, idx, size).unwrap();
            let leaf = leaf_hash(&idx.to_be_bytes());
            verify_inclusion(idx, size, &leaf, &p, &root).unwrap();
            // Tampering.
            let wrong = leaf_hash(b"nope");
            assert!(verify_inclusion(idx, size, &wrong, &p, &root).is_err());
            if idx + 1 < size {
                assert!(verify_inclusion(idx + 1, size, &leaf, &p, &root).is_err());
            }
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j][0] ^= 1;
                assert!(verify_inclusion(idx, size, &leaf, &q, &root).is_err());
                let mut short = p.clone();
                short.remove(j);
                assert!(verify_inclusion(idx, size, &leaf, &short, &root).is_err());
            }
            let mut long = p.clone();
            long.push(leaf);
            assert!(verify_inclusion(idx, size, &leaf, &long, &root).is_err());
        }
        assert!(matches!(
            inclusion_proof(big, size, size),
            Err(Error::OutOfRange { .. })
        ));
    }
    assert_eq!(
        verify_inclusion(0, 0, &empty_root(), &[], &empty_root()),
        Err(Error::Proof(ProofError::Inclusion))
    );
}

#[test]
fn consistency_all_pairs() {
    let t = trees();
    let big = &t[N as usize];
    for n in 1..=N {
        let r2 = t[n as usize].root();
        for m in 1..=n {
            let r1 = t[m as usize].root();
            let p = consistency_proof(big, m, n).unwrap();
            verify_consistency(m, n, &p, &r1, &r2).unwrap();
            if m == n {
                assert!(p.is_empty());
                continue;
            }
            assert!(verify_consistency(m, n, &p, &r2, &r2).is_err());
            assert!(verify_consistency(m, n, &p, &r1, &r1).is_err());
            if m > 1 {
                assert!(verify_consistency(m - 1, n, &p, &r1, &r2).is_err());
            }
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j][31] ^= 0x80;
                assert!(
                    verify_consistency(m, n, &q, &r1, &r2).is_err(),
                    "{m} {n} {j}"
                );
                let mut short = p.clone();
                short.remove(j);
                assert!(verify_consistency(m, n, &short, &r1, &r2).is_err());
            }
            let mut long = p.clone();
            long.push(r1);
            assert!(verify_consistency(m, n, &long, &r1, &r2).is_err());
        }
    }
    assert!(consistency_proof(big, 0, 5).unwrap().is_empty());
    assert!(consistency_proof(big, 6, 5).is_err());
    assert!(verify_consistency(0, 5, &[], &empty_root(), &t[5].root()).is_err());
}

#[test]
fn closure_hash_reader_and_missing_nodes() {
    let t = trees();
    let big = t[N as usize].clone();
    let reads = std::cell::Cell::new(0);
    let reader = |level: u8, index: u64| {
        reads.set(reads.get() + 1);
        big.read_node(level, index)
    };
    let p = inclusion_proof(&reader, 5, 64).unwrap();
    assert_eq!(p.len(), 6);
    assert_eq!(reads.get(), 6, "complete subtrees are read, not recomputed");
    let empty = MemoryTree::new();
    assert!(matches!(
        inclusion_proof(&empty, 0, 2),
        Err(Error::HashUnavailable { .. })
    ));
}
