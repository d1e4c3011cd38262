/// Everything that can go wrong parsing, signing or verifying notes and keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The note is larger than the configured limit.
    #[error("note is {size} bytes, limit is {max}")]
    NoteTooLarge {
        /// Size of the input.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// The note has more signature lines than the configured limit.
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// Configured limit.
        max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The note contains an ASCII control character other than newline.
    #[error("control character {byte:#04x} at byte {offset}")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
        /// Its offset in the input.
        offset: usize,
    },
    /// The note text is empty or does not end in a newline.
    #[error("note text must end in a newline")]
    TextMissingNewline,
    /// No blank line separates the text from the signatures, or there are no
    /// signature lines after it.
    #[error("note has no blank line followed by signature lines")]
    MissingSignatures,
    /// A signature line is not `— <name> <base64>\n`.
    #[error("malformed signature line {line}")]
    MalformedSignatureLine {
        /// 1-based index of the signature line.
        line: usize,
    },
    /// A key name is empty or contains a Unicode space or `+`.
    #[error("invalid key name {name:?}")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// Base64 that is not canonical standard (RFC 4648 §4) encoding.
    #[error("invalid base64 in {field}")]
    InvalidBase64 {
        /// Which field was being decoded.
        field: &'static str,
    },
    /// A signature is too short to hold a key ID and a signature.
    #[error("signature of {len} bytes is too short")]
    SignatureTooShort {
        /// Decoded length (key ID included).
        len: usize,
    },
    /// A verifier key is not `name+hex8+base64`.
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A signer key is not `PRIVATE+KEY+name+hex8+base64`.
    #[error("malformed signer key: {reason}")]
    MalformedSignerKey {
        /// What is wrong with it (never key material).
        reason: &'static str,
    },
    /// A key uses a signature type this crate does not implement.
    #[error("unsupported signature type {type_byte:#04x}")]
    UnsupportedSignatureType {
        /// The type byte.
        type_byte: u8,
    },
    /// The key ID in a key's text form does not match the one computed from it.
    #[error("key ID {found:08x} does not match computed {expected:08x}")]
    KeyIdMismatch {
        /// Computed key ID.
        expected: u32,
        /// Key ID written in the text form.
        found: u32,
    },
    /// The public key bytes are not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// A key of one type was used where another was required.
    #[error("key has signature type {found:#04x}, expected {expected:#04x}")]
    WrongKeyType {
        /// Type required by the operation.
        expected: u8,
        /// Type of the key given.
        found: u8,
    },
    /// A cosignature timestamp exceeds 2^63 - 1.
    #[error("timestamp {timestamp} exceeds 2^63-1")]
    TimestampOutOfRange {
        /// The rejected timestamp.
        timestamp: u64,
    },
    /// The operating system's random number generator failed.
    #[error("OS randomness unavailable")]
    Randomness,
    /// Signature verification failed: a security decision, see
    /// [`VerificationError`].
    #[error(transparent)]
    Verification(#[from] VerificationError),
}

/// Why a note was rejected by signature verification (signed-note §Signatures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// A signature from a known key (matching name and key ID) did not verify;
    /// the whole note is rejected.
    #[error("signature by known key {name} ({key_id:08x}) is invalid")]
    BadSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature from any known key was present.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
}
