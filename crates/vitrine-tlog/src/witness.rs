//! tlog-witness v1.0.0 wire formats (bodies only; HTTP lives elsewhere).

use std::fmt;

use vitrine_note::{Note, Signature};

use crate::checkpoint::Checkpoint;
use crate::util::{b64, decode_hash, next_line, parse_decimal, split_header};
use crate::{Error, Hash};

/// Most consistency proof lines in an add-checkpoint request.
pub const MAX_CONSISTENCY_PROOF_LINES: usize = 63;

/// Most cosignature lines accepted in an add-checkpoint response.
pub const MAX_RESPONSE_SIGNATURES: usize = vitrine_note::DEFAULT_MAX_SIGNATURES;

/// Content type of the 409 Conflict body (tlog-witness §add-checkpoint).
pub const TREE_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request body (tlog-witness §add-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    old_size: u64,
    proof: Vec<Hash>,
    note: Note,
    checkpoint: Checkpoint,
}

impl AddCheckpointRequest {
    /// A request; `note` must be a checkpoint.
    pub fn new(old_size: u64, proof: Vec<Hash>, note: Note) -> Result<Self, Error> {
        if proof.len() > MAX_CONSISTENCY_PROOF_LINES {
            return Err(Error::MalformedWitnessMessage {
                reason: "more than 63 proof lines",
            });
        }
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }

    /// Strict parse: `old <n>`, 0..=63 base64 hash lines, an empty line,
    /// then a signed checkpoint. Semantic checks (old size <= checkpoint size,
    /// empty proof for old size 0) are the witness's, with their own status
    /// codes.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let bad = |reason| Error::MalformedWitnessMessage { reason };
        let (head, note) = split_header(body).map_err(bad)?;
        let note = Note::parse(note)?;
        let (old, mut rest) = next_line(head).ok_or(bad("missing old line"))?;
        let old_size = parse_decimal(
            old.strip_prefix("old ").ok_or(bad("missing old line"))?,
            "old size",
        )?;
        let mut proof = Vec::new();
        while let Some((l, t)) = next_line(rest) {
            if proof.len() == MAX_CONSISTENCY_PROOF_LINES {
                return Err(bad("more than 63 proof lines"));
            }
            proof.push(decode_hash(l, "consistency proof hash")?);
            rest = t;
        }
        Self::new(old_size, proof, note)
    }

    /// Size of the previous checkpoint the client believes the witness has.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// Consistency proof from `old_size` to the checkpoint size.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint note.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// The checkpoint body (not yet verified).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The body bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for AddCheckpointRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "old {}", self.old_size)?;
        for h in &self.proof {
            writeln!(f, "{}", b64(h))?;
        }
        writeln!(f)?;
        write!(f, "{}", self.note)
    }
}

/// Parses a 200 response body: one or more note signature lines, each ending
/// in a newline (tlog-witness §add-checkpoint). Signatures are not verified:
/// add them to the checkpoint note and verify with the trusted witness keys.
pub fn parse_add_checkpoint_response(body: &[u8]) -> Result<Vec<Signature>, Error> {
    let bad = |reason| Error::MalformedWitnessMessage { reason };
    let s = std::str::from_utf8(body).map_err(|_| bad("response not UTF-8"))?;
    let s = s
        .strip_suffix('\n')
        .ok_or(bad("response must end in newline"))?;
    if s.is_empty() {
        return Err(bad("no signature lines"));
    }
    let mut out = Vec::new();
    for line in s.split('\n') {
        if out.len() == MAX_RESPONSE_SIGNATURES {
            return Err(bad("too many signature lines"));
        }
        if line.bytes().any(|b| b < 0x20) {
            return Err(bad("control character"));
        }
        out.push(Signature::parse_line(line)?);
    }
    Ok(out)
}

/// Formats a 200 response body from cosignatures.
pub fn format_add_checkpoint_response(sigs: &[Signature]) -> String {
    sigs.iter().map(Signature::to_line).collect()
}

/// Formats the 409 Conflict `text/x.tlog.size` body: decimal size and newline.
pub fn format_tree_size(size: u64) -> String {
    format!("{size}\n")
}

/// Parses the 409 Conflict `text/x.tlog.size` body.
pub fn parse_tree_size(body: &[u8]) -> Result<u64, Error> {
    let s = std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or(Error::InvalidNumber { field: "tree size" })?;
    parse_decimal(s, "tree size")
}
