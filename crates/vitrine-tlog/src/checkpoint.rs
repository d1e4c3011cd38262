use std::fmt;

use vitrine_note::{Note, SignerKey, VerifiedSignature, VerifierKey, Verifiers};

use crate::util::{b64, decode_hash, parse_decimal};
use crate::{Error, Hash, ProofError};

/// A checkpoint body (tlog-checkpoint §Note text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity, first line; non-empty.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash at `size`.
    pub root: Hash,
    /// Opaque, non-empty extension lines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Strictly parses a note text as a checkpoint (tlog-checkpoint §Note
    /// text): at least three lines, each ending in a newline, non-empty origin,
    /// decimal size without leading zeros, base64 32-byte root, non-empty
    /// extension lines, and no control characters other than newline.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::MalformedCheckpoint { reason };
        // Reuse the note text rules (UTF-8, control characters, final newline).
        Note::new(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("missing final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().ok_or(bad("missing origin"))?;
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        let size = parse_decimal(lines.next().ok_or(bad("missing size"))?, "checkpoint size")?;
        let root = decode_hash(lines.next().ok_or(bad("missing root"))?, "checkpoint root")?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint text as a note with the log's key
    /// (tlog-checkpoint §Signatures).
    pub fn sign(&self, log_key: &SignerKey) -> Result<Note, Error> {
        let mut note = Note::new(&self.to_string())?;
        note.sign(log_key)?;
        Ok(note)
    }
}

impl fmt::Display for Checkpoint {
    /// The note text, ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}\n{}\n{}", self.origin, self.size, b64(&self.root))?;
        for e in &self.extensions {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A checkpoint whose log signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The signed note as received.
    pub note: Note,
    /// The verified log signature.
    pub log_signature: VerifiedSignature,
    /// Cosignatures from known witnesses that verified (may be empty).
    pub cosignatures: Vec<VerifiedSignature>,
}

impl OpenedCheckpoint {
    /// Names of witness keys whose cosignature verified.
    pub fn witness_names(&self) -> std::collections::BTreeSet<String> {
        self.cosignatures
            .iter()
            .map(|v| v.name().to_owned())
            .collect()
    }
}

/// Parses and verifies a signed checkpoint. The origin must equal the log
/// key's name (tlog-checkpoint §Signatures, tlog-policy §Defining a log), the
/// log signature must verify (signed-note §Signatures), and cosignatures are
/// verified against `witnesses`: an invalid one from a known witness rejects
/// the whole note, unknown ones are ignored.
pub fn open_checkpoint(
    note: &[u8],
    log: &VerifierKey,
    witnesses: &Verifiers,
) -> Result<OpenedCheckpoint, Error> {
    let note = Note::parse(note)?;
    open_parsed_checkpoint(note, log, witnesses)
}

/// [`open_checkpoint`] for an already parsed note.
pub fn open_parsed_checkpoint(
    note: Note,
    log: &VerifierKey,
    witnesses: &Verifiers,
) -> Result<OpenedCheckpoint, Error> {
    let checkpoint = Checkpoint::parse(note.text())?;
    if checkpoint.origin != log.name() {
        return Err(ProofError::OriginMismatch {
            origin: checkpoint.origin,
            key_name: log.name().to_owned(),
        }
        .into());
    }
    let log_signature = note
        .verify(&Verifiers::from_keys([log.clone()]))?
        .into_iter()
        .next()
        .ok_or(vitrine_note::Error::Verification(
            vitrine_note::VerificationError::NoKnownSignature,
        ))?;
    let cosignatures = note.verify_known(witnesses)?;
    Ok(OpenedCheckpoint {
        checkpoint,
        note,
        log_signature,
        cosignatures,
    })
}
