use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::key::{validate_key_name, Cosigner, SignerKey, VerifierKey, Verifiers};
use crate::{Error, VerificationError, DEFAULT_MAX_NOTE_SIZE, DEFAULT_MAX_SIGNATURES};

/// Parsing limits (signed-note §Format: verifiers SHOULD limit signatures and
/// MUST accept at least 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_size: usize,
    max_signatures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: DEFAULT_MAX_NOTE_SIZE,
            max_signatures: DEFAULT_MAX_SIGNATURES,
        }
    }
}

impl Limits {
    /// Maximum size of the whole signed note in bytes.
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Maximum number of signature lines; values below 16 are raised to 16,
    /// the minimum the spec requires verifiers to accept.
    pub fn max_signatures(mut self, n: usize) -> Self {
        self.max_signatures = n.max(16);
        self
    }
}

/// One signature line: `— <name> base64(key ID || signature)`
/// (signed-note §Signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    name: String,
    key_id: u32,
    sig: Vec<u8>,
}

impl Signature {
    pub(crate) fn from_parts(name: String, key_id: u32, sig: Vec<u8>) -> Self {
        Signature { name, key_id, sig }
    }

    /// A signature with the given key name, key ID and signature bytes (key ID
    /// not included).
    pub fn new(name: &str, key_id: u32, sig: Vec<u8>) -> Result<Self, Error> {
        validate_key_name(name)?;
        if sig.is_empty() {
            return Err(Error::SignatureTooShort { len: 4 });
        }
        Ok(Self::from_parts(name.to_owned(), key_id, sig))
    }

    /// Parses one line without its trailing newline.
    pub fn parse_line(line: &str) -> Result<Self, Error> {
        Self::parse_line_at(line, 1)
    }

    fn parse_line_at(line: &str, n: usize) -> Result<Self, Error> {
        let bad = || Error::MalformedSignatureLine { line: n };
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
        validate_key_name(name)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| Error::InvalidBase64 { field: "signature" })?;
        if raw.len() < 5 {
            return Err(Error::SignatureTooShort { len: raw.len() });
        }
        let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        Ok(Self::from_parts(name.to_owned(), key_id, raw[4..].to_vec()))
    }

    /// The line, including its trailing newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.sig);
        format!("\u{2014} {} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature bytes after the key ID.
    pub fn bytes(&self) -> &[u8] {
        &self.sig
    }

    /// If the signature has the 72-byte `timestamped_signature` shape of
    /// tlog-cosignature §Format, its timestamp. Structural only: says nothing
    /// about validity.
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        let ts: [u8; 8] = self.sig.get(..8)?.try_into().ok()?;
        (self.sig.len() == 72).then(|| u64::from_be_bytes(ts))
    }
}

/// A signature that verified against a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    key: VerifierKey,
    timestamp: Option<u64>,
}

impl VerifiedSignature {
    /// The key that verified.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The cosignature timestamp (type `0x04`), `None` for plain Ed25519.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}

/// A signed note: text ending in a newline, then signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<Signature>,
}

fn check_chars(s: &str) -> Result<(), Error> {
    // signed-note §Format: no ASCII control characters other than newline.
    match s.bytes().enumerate().find(|&(_, b)| b < 0x20 && b != b'\n') {
        Some((offset, byte)) => Err(Error::ControlCharacter { byte, offset }),
        None => Ok(()),
    }
}

impl Note {
    /// An unsigned note with `text`, which must end in a newline and hold no
    /// control characters other than newline. Add signatures before
    /// formatting: a note without signatures does not parse back.
    pub fn new(text: &str) -> Result<Self, Error> {
        check_chars(text)?;
        if !text.ends_with('\n') {
            return Err(Error::TextMissingNewline);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Strict parse with default [`Limits`] (signed-note §Format).
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Self::parse_with_limits(input, &Limits::default())
    }

    /// Strict parse with the given limits (signed-note §Format).
    pub fn parse_with_limits(input: &[u8], limits: &Limits) -> Result<Self, Error> {
        if input.len() > limits.max_size {
            return Err(Error::NoteTooLarge {
                size: input.len(),
                max: limits.max_size,
            });
        }
        let s = std::str::from_utf8(input).map_err(|e| Error::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_chars(s)?;
        // The text is separated from the signatures by the last blank line.
        let i = s.rfind("\n\n").ok_or(Error::MissingSignatures)?;
        let (text, sigs) = (&s[..=i], &s[i + 2..]);
        let sigs = sigs.strip_suffix('\n').ok_or(Error::MissingSignatures)?;
        if sigs.is_empty() {
            return Err(Error::MissingSignatures);
        }
        if sigs.split('\n').nth(limits.max_signatures).is_some() {
            return Err(Error::TooManySignatures {
                max: limits.max_signatures,
            });
        }
        let signatures = sigs
            .split('\n')
            .enumerate()
            .map(|(n, l)| Signature::parse_line_at(l, n + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Appends a signature line.
    pub fn add_signature(&mut self, sig: Signature) {
        self.signatures.push(sig);
    }

    /// Signs the text with an Ed25519 key and appends the signature.
    pub fn sign(&mut self, key: &SignerKey) -> Result<(), Error> {
        let sig = key.sign(&self.text)?;
        self.signatures.push(sig);
        Ok(())
    }

    /// Cosigns the text at `timestamp` and appends the cosignature.
    pub fn cosign(&mut self, cosigner: &Cosigner, timestamp: u64) -> Result<(), Error> {
        let sig = cosigner.cosign(&self.text, timestamp)?;
        self.signatures.push(sig);
        Ok(())
    }

    /// The signed note bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the note (signed-note §Signatures): signatures from unknown
    /// (name, key ID) pairs are ignored, any failing signature from a known
    /// key rejects the note, and at least one known signature must verify.
    /// Returns each verified key once, in signature order.
    pub fn verify(&self, verifiers: &Verifiers) -> Result<Vec<VerifiedSignature>, Error> {
        let v = self.verify_known(verifiers)?;
        if v.is_empty() {
            return Err(VerificationError::NoKnownSignature.into());
        }
        Ok(v)
    }

    /// Like [`Note::verify`] but an empty result is not an error. Use it for
    /// optional signers such as witnesses, after the log signature was checked
    /// with [`Note::verify`].
    pub fn verify_known(&self, verifiers: &Verifiers) -> Result<Vec<VerifiedSignature>, Error> {
        let mut out: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = verifiers.get(&sig.name, sig.key_id) else {
                continue;
            };
            let timestamp = key.verify(&self.text, &sig.sig)?;
            // Every duplicate from a known key must verify; report the key once.
            if !out.iter().any(|v| &v.key == key) {
                out.push(VerifiedSignature {
                    key: key.clone(),
                    timestamp,
                });
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}
