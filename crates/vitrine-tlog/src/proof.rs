//! c2sp.org/tlog-proof@v1: offline-verifiable proofs of logging.

use std::collections::BTreeSet;
use std::fmt;

use vitrine_note::{Note, VerifiedSignature, VerifierKey, Verifiers};

use crate::checkpoint::{open_parsed_checkpoint, Checkpoint};
use crate::merkle::verify_inclusion;
use crate::util::{b64, decode_b64, decode_hash, next_line, parse_decimal, split_header};
use crate::{Error, Hash};

/// First line of a tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof lines accepted (a u64-sized tree needs at most 64).
pub const MAX_PROOF_HASHES: usize = 64;

/// A parsed tlog-proof (tlog-proof §Format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<Hash>,
    note: Note,
    checkpoint: Checkpoint,
}

/// The result of [`TlogProof::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTlogProof {
    /// The checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// Cosignatures from known witnesses that verified.
    pub cosignatures: Vec<VerifiedSignature>,
}

impl VerifiedTlogProof {
    /// Names of the witness keys whose cosignature verified.
    pub fn witness_names(&self) -> BTreeSet<String> {
        self.cosignatures
            .iter()
            .map(|v| v.name().to_owned())
            .collect()
    }
}

impl TlogProof {
    /// Assembles a proof; `note` must be a checkpoint. Empty `extra` is
    /// normalised to none.
    pub fn new(
        extra: Option<Vec<u8>>,
        index: u64,
        proof: Vec<Hash>,
        note: Note,
    ) -> Result<Self, Error> {
        if proof.len() > MAX_PROOF_HASHES {
            return Err(Error::MalformedTlogProof {
                reason: "too many proof lines",
            });
        }
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(TlogProof {
            extra: extra.filter(|e| !e.is_empty()),
            index,
            proof,
            note,
            checkpoint,
        })
    }

    /// Strict parse (tlog-proof §Format).
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        let bad = |reason| Error::MalformedTlogProof { reason };
        // The header part is ASCII; the note part is checked by Note::parse.
        let (head, note) = split_header(input).map_err(bad)?;
        let note = Note::parse(note)?;
        let (first, mut rest) = next_line(head).ok_or(bad("missing header"))?;
        if first != TLOG_PROOF_HEADER {
            return Err(bad("wrong header line"));
        }
        let (mut line, mut tail) = next_line(rest).ok_or(bad("missing index line"))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            let data = decode_b64(e, "extra")?;
            if data.is_empty() {
                return Err(bad("empty extra"));
            }
            extra = Some(data);
            (line, tail) = next_line(tail).ok_or(bad("missing index line"))?;
        }
        let index = parse_decimal(
            line.strip_prefix("index ")
                .ok_or(bad("missing index line"))?,
            "index",
        )?;
        rest = tail;
        let mut proof = Vec::new();
        while let Some((l, t)) = next_line(rest) {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(bad("too many proof lines"));
            }
            proof.push(decode_hash(l, "proof hash")?);
            rest = t;
        }
        Self::new(extra, index, proof, note)
    }

    /// Opaque, unauthenticated extra data.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// Leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Inclusion proof hashes.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint note.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// The checkpoint body (not yet verified).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The proof bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the proof (tlog-proof §Verifying a tlog proof): the origin
    /// matches and the log signature verifies, known witnesses' cosignatures
    /// verify (any bad one rejects), and the inclusion proof binds
    /// `leaf_hash` at the index to the checkpoint root. Applying a quorum to
    /// the returned witnesses is the caller's policy.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        log: &VerifierKey,
        witnesses: &Verifiers,
    ) -> Result<VerifiedTlogProof, Error> {
        let opened = open_parsed_checkpoint(self.note.clone(), log, witnesses)?;
        verify_inclusion(
            self.index,
            opened.checkpoint.size,
            leaf_hash,
            &self.proof,
            &opened.checkpoint.root,
        )?;
        Ok(VerifiedTlogProof {
            checkpoint: opened.checkpoint,
            cosignatures: opened.cosignatures,
        })
    }
}

impl fmt::Display for TlogProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{TLOG_PROOF_HEADER}")?;
        if let Some(e) = &self.extra {
            writeln!(f, "extra {}", b64(e))?;
        }
        writeln!(f, "index {}", self.index)?;
        for h in &self.proof {
            writeln!(f, "{}", b64(h))?;
        }
        writeln!(f)?;
        write!(f, "{}", self.note)
    }
}
