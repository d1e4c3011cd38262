//! Transparency log building blocks from C2SP and RFC 6962, as pure
//! functions over bytes.
//!
//! # What's in scope / out of scope
//!
//! In scope:
//! - [tlog-checkpoint](https://c2sp.org/tlog-checkpoint@v1.0.0): [`Checkpoint`]
//!   parse/format, signing, and [`open_checkpoint`] (parse + verify log
//!   signature and witness cosignatures).
//! - RFC 6962 §2.1 hashing, inclusion and consistency proof generation from a
//!   [`HashReader`] and verification per RFC 9162 §2.1.3.2 / §2.1.4.2.
//! - [tlog-tiles](https://c2sp.org/tlog-tiles) v0.1.0: [`TilePath`]s, which
//!   tiles a tree has, tile contents, a [`TileHashReader`], entry bundles.
//! - [tlog-proof@v1](https://c2sp.org/tlog-proof): [`TlogProof`].
//! - [tlog-witness](https://c2sp.org/tlog-witness@v1.0.0) bodies:
//!   [`AddCheckpointRequest`], responses, the `text/x.tlog.size` body.
//! - [tlog-policy](https://c2sp.org/tlog-policy): [`Policy`].
//!
//! Out of scope: HTTP, storage, async, clocks (timestamps are the caller's
//! policy), and the witness and log state machines. Signed notes and keys
//! are [`vitrine_note`]'s.
//!
//! # Main types
//!
//! [`Checkpoint`], [`MemoryTree`] / [`HashReader`], [`TilePath`],
//! [`TileHashReader`], [`TlogProof`], [`AddCheckpointRequest`], [`Policy`],
//! and the [`Error`] enum with security outcomes in [`ProofError`].
//!
//! # Example
//!
//! ```
//! use vitrine_note::{SignatureType, SignerKey, Verifiers};
//! use vitrine_tlog::{inclusion_proof, leaf_hash, open_checkpoint, Checkpoint, MemoryTree, TlogProof};
//!
//! let mut tree = MemoryTree::new();
//! for i in 0..10u8 {
//!     tree.push_data(&[i]);
//! }
//! let log = SignerKey::from_seed("example.com/log", SignatureType::Ed25519, [1; 32])?;
//! let note = Checkpoint::new("example.com/log", tree.size(), tree.root()).sign(&log)?;
//! let opened = open_checkpoint(&note.to_bytes(), &log.verifier(), &Verifiers::new())?;
//! assert_eq!(opened.checkpoint.size, 10);
//!
//! let proof = TlogProof::new(None, 3, inclusion_proof(&tree, 3, 10)?, note)?;
//! let parsed = TlogProof::parse(&proof.to_bytes())?;
//! parsed.verify(&leaf_hash(&[3]), &log.verifier(), &Verifiers::new())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checkpoint;
mod error;
mod merkle;
mod policy;
mod proof;
mod tile;
mod util;
mod witness;

pub use checkpoint::{open_checkpoint, open_parsed_checkpoint, Checkpoint, OpenedCheckpoint};
pub use error::{Error, PolicyIssue, ProofError};
pub use merkle::{
    consistency_proof, consistency_roots, empty_root, inclusion_proof, leaf_hash, node_hash,
    root_from_leaf_hashes, tree_root, verify_consistency, verify_inclusion, Hash, HashReader,
    MemoryTree,
};
pub use policy::{
    ExtensionLine, Policy, PolicyGroup, PolicyLog, PolicyWitness, Quorum, Threshold,
    MAX_POLICY_ITEMS,
};
pub use proof::{TlogProof, VerifiedTlogProof, MAX_PROOF_HASHES, TLOG_PROOF_HEADER};
pub use tile::{
    bundle_for_leaf, decode_entry_bundle, encode_entry_bundle, tile_for_hash,
    tile_from_leaf_hashes, tile_from_reader, tiles_for_size, TileHashReader, TileKind, TilePath,
    MAX_BUNDLE_ENTRIES, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};
pub use witness::{
    format_add_checkpoint_response, format_tree_size, parse_add_checkpoint_response,
    parse_tree_size, AddCheckpointRequest, MAX_CONSISTENCY_PROOF_LINES, MAX_RESPONSE_SIGNATURES,
    TREE_SIZE_CONTENT_TYPE,
};

/// Round-trip bodies shared by the `fuzz/` targets and this crate's tests:
/// parse arbitrary bytes; if they parse, format, reparse and assert equality.
/// Not part of the stable API.
#[doc(hidden)]
pub mod fuzz_bodies {
    use super::*;

    /// `note` target.
    pub fn note(data: &[u8]) {
        if let Ok(n) = vitrine_note::Note::parse(data) {
            let out = n.to_bytes();
            assert_eq!(out, data, "notes format byte-exactly");
            assert_eq!(vitrine_note::Note::parse(&out).ok(), Some(n));
        }
    }

    /// `checkpoint` target.
    pub fn checkpoint(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(c) = Checkpoint::parse(s) {
                let out = c.to_string();
                assert_eq!(out, s, "checkpoints format byte-exactly");
                assert_eq!(Checkpoint::parse(&out).ok(), Some(c));
            }
        }
    }

    /// `tile_path` target.
    pub fn tile_path(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(t) = TilePath::parse(s) {
                let out = t.to_string();
                assert_eq!(out, s, "tile paths are canonical");
                assert_eq!(TilePath::parse(&out).ok(), Some(t));
            }
        }
    }

    /// `tlog_proof` target.
    pub fn tlog_proof(data: &[u8]) {
        if let Ok(p) = TlogProof::parse(data) {
            let out = p.to_bytes();
            assert_eq!(out, data, "tlog-proofs format byte-exactly");
            assert_eq!(TlogProof::parse(&out).ok(), Some(p));
        }
    }

    /// `witness_request` target.
    pub fn witness_request(data: &[u8]) {
        if let Ok(r) = AddCheckpointRequest::parse(data) {
            let out = r.to_bytes();
            assert_eq!(out, data, "requests format byte-exactly");
            assert_eq!(AddCheckpointRequest::parse(&out).ok(), Some(r));
        }
        if let Ok(sigs) = parse_add_checkpoint_response(data) {
            let out = format_add_checkpoint_response(&sigs);
            assert_eq!(
                parse_add_checkpoint_response(out.as_bytes()).ok(),
                Some(sigs)
            );
        }
        if let Ok(n) = parse_tree_size(data) {
            assert_eq!(
                parse_tree_size(format_tree_size(n).as_bytes()).ok(),
                Some(n)
            );
        }
    }

    /// `policy` target: policies are compared structurally (formatting is
    /// canonical, not byte-exact).
    pub fn policy(data: &[u8]) {
        if let Ok(p) = Policy::parse(data) {
            let out = p.to_string();
            assert_eq!(Policy::parse(out.as_bytes()).ok(), Some(p));
        }
    }
}
