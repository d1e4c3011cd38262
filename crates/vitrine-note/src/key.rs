use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::note::Signature;
use crate::{Error, MAX_COSIGNATURE_TIMESTAMP};

/// The signature types this crate implements (signed-note §Signature types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text (signed-note §Ed25519 signatures).
    Ed25519,
    /// `0x04`: timestamped Ed25519 `cosignature/v1` (tlog-cosignature §Format).
    CosignatureV1,
}

impl SignatureType {
    /// The type identifier byte.
    pub fn byte(self) -> u8 {
        match self {
            SignatureType::Ed25519 => 0x01,
            SignatureType::CosignatureV1 => 0x04,
        }
    }

    /// The type for an identifier byte, if implemented.
    pub fn from_byte(b: u8) -> Result<Self, Error> {
        match b {
            0x01 => Ok(SignatureType::Ed25519),
            0x04 => Ok(SignatureType::CosignatureV1),
            type_byte => Err(Error::UnsupportedSignatureType { type_byte }),
        }
    }
}

/// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian u32
/// (signed-note §Signatures, tlog-cosignature §Format).
pub fn key_id(name: &str, type_byte: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', type_byte]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Key names must be non-empty and contain no Unicode spaces and no `+`
/// (signed-note §Format).
pub fn validate_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(Error::InvalidKeyName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// The message a `cosignature/v1` signs: `cosignature/v1\ntime <t>\n` followed
/// by the checkpoint note text (tlog-cosignature §Signed message).
pub fn cosignature_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

fn decode_b64(s: &str, field: &'static str) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(s)
        .map_err(|_| Error::InvalidBase64 { field })
}

fn parse_hex8(s: &str) -> Option<u32> {
    // Lowercase fixed-length hex only (signed-note §Conventions).
    if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A public key that can verify note signatures: the `vkey` of
/// signed-note §Verifier keys, `name+hex(key ID)+base64(type || public key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    kind: SignatureType,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl VerifierKey {
    /// A verifier for `name` with the given Ed25519 public key and type; the
    /// key ID is computed as the spec recommends.
    pub fn new(name: &str, kind: SignatureType, key: VerifyingKey) -> Result<Self, Error> {
        validate_key_name(name)?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: key_id(name, kind.byte(), key.as_bytes()),
            kind,
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies one signature (key ID already stripped) over `text`. Returns
    /// the cosignature timestamp for type `0x04`, `None` for type `0x01`.
    pub fn verify(&self, text: &str, sig: &[u8]) -> Result<Option<u64>, Error> {
        let bad = || {
            Error::Verification(crate::VerificationError::BadSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            })
        };
        match self.kind {
            // signed-note §Ed25519 signatures
            SignatureType::Ed25519 => {
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
                self.key.verify(text.as_bytes(), &sig).map_err(|_| bad())?;
                Ok(None)
            }
            // tlog-cosignature §Format: u64 timestamp || 64-byte signature
            SignatureType::CosignatureV1 => {
                if sig.len() != 72 {
                    return Err(bad());
                }
                let (ts, sig) = sig.split_at(8);
                let mut ts8 = [0u8; 8];
                ts8.copy_from_slice(ts);
                let timestamp = u64::from_be_bytes(ts8);
                if timestamp > MAX_COSIGNATURE_TIMESTAMP {
                    return Err(bad());
                }
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
                self.key
                    .verify(cosignature_message(text, timestamp).as_bytes(), &sig)
                    .map_err(|_| bad())?;
                Ok(Some(timestamp))
            }
        }
    }
}

impl FromStr for VerifierKey {
    type Err = Error;

    /// Parses a vkey (signed-note §Verifier keys); the key ID must match.
    fn from_str(s: &str) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedVerifierKey { reason };
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected name+keyid+key"));
        };
        validate_key_name(name)?;
        let id = parse_hex8(id).ok_or(malformed("key ID is not 8 lowercase hex digits"))?;
        let raw = decode_b64(key, "verifier key")?;
        let (&type_byte, pk) = raw.split_first().ok_or(malformed("empty key"))?;
        let kind = SignatureType::from_byte(type_byte)?;
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| malformed("public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| Error::InvalidPublicKey)?;
        let v = VerifierKey::new(name, kind, key)?;
        if v.key_id != id {
            return Err(Error::KeyIdMismatch {
                expected: v.key_id,
                found: id,
            });
        }
        Ok(v)
    }
}

impl fmt::Display for VerifierKey {
    /// Formats the vkey text form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.byte());
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

/// A set of trusted verifier keys, looked up by (name, key ID).
#[derive(Debug, Clone, Default)]
pub struct Verifiers {
    keys: Vec<VerifierKey>,
}

impl Verifiers {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding `keys`.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifierKey>) -> Self {
        let mut v = Self::new();
        for k in keys {
            v.insert(k);
        }
        v
    }

    /// Adds a key; a key with the same (name, key ID) replaces the old one.
    pub fn insert(&mut self, key: VerifierKey) {
        self.keys
            .retain(|k| !(k.name == key.name && k.key_id == key.key_id));
        self.keys.push(key);
    }

    /// The key with this name and key ID, if known.
    pub fn get(&self, name: &str, key_id: u32) -> Option<&VerifierKey> {
        self.keys
            .iter()
            .find(|k| k.name == name && k.key_id == key_id)
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifierKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<VerifierKey> for Verifiers {
    fn from_iter<T: IntoIterator<Item = VerifierKey>>(iter: T) -> Self {
        Self::from_keys(iter)
    }
}

/// A private signing key with its name and type. Text form (as Go's
/// `golang.org/x/mod/sumdb/note`):
/// `PRIVATE+KEY+name+hex(key ID)+base64(type || 32-byte seed)`.
///
/// `Debug` never prints key material; [`SignerKey::to_private_text`] does.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_id: u32,
    kind: SignatureType,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// A key from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, kind: SignatureType, seed: [u8; 32]) -> Result<Self, Error> {
        validate_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        Ok(SignerKey {
            name: name.to_owned(),
            key_id: key_id(name, kind.byte(), key.verifying_key().as_bytes()),
            kind,
            key,
        })
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate(name: &str, kind: SignatureType) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| Error::Randomness)?;
        Self::from_seed(name, kind, seed)
    }

    /// Parses the `PRIVATE+KEY+...` text form; the key ID must match.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedSignerKey { reason };
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(malformed("missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected PRIVATE+KEY+name+keyid+key"));
        };
        validate_key_name(name)?;
        let id = parse_hex8(id).ok_or(malformed("key ID is not 8 lowercase hex digits"))?;
        let raw = STANDARD
            .decode(key)
            .map_err(|_| malformed("key is not canonical base64"))?;
        let (&type_byte, seed) = raw.split_first().ok_or(malformed("empty key"))?;
        let kind = SignatureType::from_byte(type_byte)?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| malformed("seed is not 32 bytes"))?;
        let k = Self::from_seed(name, kind, seed)?;
        if k.key_id != id {
            return Err(Error::KeyIdMismatch {
                expected: k.key_id,
                found: id,
            });
        }
        Ok(k)
    }

    /// The `PRIVATE+KEY+...` text form. This is secret material.
    pub fn to_private_text(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.byte());
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.kind
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    /// An Ed25519 (type `0x01`) signature over `text` (signed-note §Ed25519
    /// signatures). Fails for cosignature keys, which need a timestamp.
    pub fn sign(&self, text: &str) -> Result<Signature, Error> {
        if self.kind != SignatureType::Ed25519 {
            return Err(Error::WrongKeyType {
                expected: SignatureType::Ed25519.byte(),
                found: self.kind.byte(),
            });
        }
        let sig = self.key.sign(text.as_bytes());
        Ok(Signature::from_parts(
            self.name.clone(),
            self.key_id,
            sig.to_bytes().to_vec(),
        ))
    }
}

/// A `cosignature/v1` signer (tlog-cosignature): a [`SignerKey`] of type
/// `0x04` that signs checkpoint texts at a given time.
#[derive(Debug, Clone)]
pub struct Cosigner {
    key: SignerKey,
}

impl Cosigner {
    /// Wraps a type `0x04` key.
    pub fn new(key: SignerKey) -> Result<Self, Error> {
        if key.kind != SignatureType::CosignatureV1 {
            return Err(Error::WrongKeyType {
                expected: SignatureType::CosignatureV1.byte(),
                found: key.kind.byte(),
            });
        }
        Ok(Cosigner { key })
    }

    /// The underlying key.
    pub fn key(&self) -> &SignerKey {
        &self.key
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// A cosignature over checkpoint note `text` at POSIX time `timestamp`
    /// (tlog-cosignature §Format and §Signed message).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<Signature, Error> {
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(Error::TimestampOutOfRange { timestamp });
        }
        let sig = self
            .key
            .key
            .sign(cosignature_message(text, timestamp).as_bytes());
        let mut bytes = Vec::with_capacity(72);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(Signature::from_parts(
            self.key.name.clone(),
            self.key.key_id,
            bytes,
        ))
    }
}
