//! Vitrine's typed signed statements.
//!
//! Every entry of the Vitrine log is a *statement*: a [signed note] whose
//! text names the statement's type and version on its first line, followed
//! by `key value` lines in a fixed order. This crate gives each type a Rust
//! struct, one canonical text form, and a strict parser: any text it accepts
//! is byte-for-byte what [`Statement::to_text`] produces for the result.
//! The precise format is written down in `docs/formats.md`.
//!
//! Main types: [`Statement`] (one of [`Rules`], [`Release`], [`Review`],
//! [`Receipt`], [`Access`], [`Deletion`]), [`StatementType`] and
//! [`ParseError`].
//!
//! What's in scope: the text format, parsing, and signing/opening the note
//! with `vitrine-note`. Out of scope: I/O, deciding *who* may make which
//! statement (the log's authorization config), and what a statement means
//! to an endpoint (the client's update check).
//!
//! ```
//! use vitrine_statements::{Rules, Sha256, Statement};
//!
//! let rules = Statement::Rules(Rules {
//!     sha256: Sha256([0xab; 32]),
//!     size: 1024,
//!     version: 7,
//!     created: 1_700_000_000,
//!     expires: 1_700_604_800,
//!     bundle: None,
//!     allow: Vec::new(),
//! });
//! let text = rules.to_text();
//! assert!(text.starts_with("vitrine.dev/statement/rules/v1\nsha256 abab"));
//! assert_eq!(Statement::parse(text.as_bytes()).unwrap(), rules);
//! ```
//!
//! [signed note]: https://c2sp.org/signed-note

#![forbid(unsafe_code)]

mod types;
mod value;

use std::fmt;
use std::str::FromStr;

pub use vitrine_note;

use vitrine_note::{Note, SignerKey, VerifierKey, Verifiers};

pub use types::{Access, Allow, Deletion, Receipt, Release, Review, Rules, Verdict};
pub use value::{CommitId, Sha256, Text, Token, MAX_TEXT_LEN, MAX_TOKEN_LEN};

/// Longest statement text (before signatures) accepted by [`Statement::parse`].
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// Prefix of every statement's first line; the type and `/v1` follow.
pub const HEADER_PREFIX: &str = "vitrine.dev/statement/";

/// The kind of a [`Statement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatementType {
    /// [`Rules`]
    Rules,
    /// [`Release`]
    Release,
    /// [`Review`]
    Review,
    /// [`Receipt`]
    Receipt,
    /// [`Access`]
    Access,
    /// [`Deletion`]
    Deletion,
}

impl StatementType {
    /// Every type, in a fixed order.
    pub const ALL: [StatementType; 6] = [
        StatementType::Rules,
        StatementType::Release,
        StatementType::Review,
        StatementType::Receipt,
        StatementType::Access,
        StatementType::Deletion,
    ];

    /// The short name, e.g. `rules`.
    pub fn name(self) -> &'static str {
        match self {
            StatementType::Rules => "rules",
            StatementType::Release => "release",
            StatementType::Review => "review",
            StatementType::Receipt => "receipt",
            StatementType::Access => "access",
            StatementType::Deletion => "deletion",
        }
    }

    /// The first line of the statement text, e.g.
    /// `vitrine.dev/statement/rules/v1`.
    pub fn header(self) -> &'static str {
        match self {
            StatementType::Rules => "vitrine.dev/statement/rules/v1",
            StatementType::Release => "vitrine.dev/statement/release/v2",
            StatementType::Review => "vitrine.dev/statement/review/v1",
            StatementType::Receipt => "vitrine.dev/statement/receipt/v2",
            StatementType::Access => "vitrine.dev/statement/access/v2",
            StatementType::Deletion => "vitrine.dev/statement/deletion/v2",
        }
    }

    fn from_header(header: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.header().as_bytes() == header)
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            StatementType::Rules => Rules::FIELDS,
            StatementType::Release => Release::FIELDS,
            StatementType::Review => Review::FIELDS,
            StatementType::Receipt => Receipt::FIELDS,
            StatementType::Access => Access::FIELDS,
            StatementType::Deletion => Deletion::FIELDS,
        }
    }
}

impl fmt::Display for StatementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StatementType {
    type Err = ParseError;

    /// Parses the short name (`rules`, `release`, …).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseError::UnknownType {
                header: s.to_owned(),
            })
    }
}

/// A typed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// A rule bundle.
    Rules(Rules),
    /// A scanner release.
    Release(Release),
    /// A reviewer's verdict.
    Review(Review),
    /// The intake's receipt for a sample.
    Receipt(Receipt),
    /// An access to a sample.
    Access(Access),
    /// A sample's deletion.
    Deletion(Deletion),
}

impl Statement {
    /// This statement's type.
    pub fn kind(&self) -> StatementType {
        match self {
            Statement::Rules(_) => StatementType::Rules,
            Statement::Release(_) => StatementType::Release,
            Statement::Review(_) => StatementType::Review,
            Statement::Receipt(_) => StatementType::Receipt,
            Statement::Access(_) => StatementType::Access,
            Statement::Deletion(_) => StatementType::Deletion,
        }
    }

    /// The canonical text: header line, then one `key value` line per
    /// field in schema order, each ending in `\n`.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(self.kind().header());
        out.push('\n');
        match self {
            Statement::Rules(s) => s.write(&mut out),
            Statement::Release(s) => s.write(&mut out),
            Statement::Review(s) => s.write(&mut out),
            Statement::Receipt(s) => s.write(&mut out),
            Statement::Access(s) => s.write(&mut out),
            Statement::Deletion(s) => s.write(&mut out),
        }
        out
    }

    /// Parses a statement text strictly: only the canonical form is
    /// accepted (see `docs/formats.md`).
    pub fn parse(text: &[u8]) -> Result<Self, ParseError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(ParseError::TooLarge {
                len: text.len(),
                max: MAX_TEXT_BYTES,
            });
        }
        // Everything after the last newline is outside any line.
        let body = match text.iter().rposition(|&b| b == b'\n') {
            Some(end) if end + 1 == text.len() => &text[..end],
            Some(_) => return Err(ParseError::TrailingBytes),
            None if text.is_empty() => {
                return Err(ParseError::UnknownType {
                    header: String::new(),
                })
            }
            None => return Err(ParseError::TrailingBytes),
        };
        let mut lines = body.split(|&b| b == b'\n');
        let header = lines.next().expect("invariant: split yields at least once");
        let kind = StatementType::from_header(header).ok_or_else(|| ParseError::UnknownType {
            header: String::from_utf8_lossy(header).into_owned(),
        })?;
        let fields = Fields::read(kind.fields(), lines)?;
        match kind {
            StatementType::Rules => Rules::read(&fields).map(Statement::Rules),
            StatementType::Release => Release::read(&fields).map(Statement::Release),
            StatementType::Review => Review::read(&fields).map(Statement::Review),
            StatementType::Receipt => Receipt::read(&fields).map(Statement::Receipt),
            StatementType::Access => Access::read(&fields).map(Statement::Access),
            StatementType::Deletion => Deletion::read(&fields).map(Statement::Deletion),
        }
    }
}

impl Statement {
    /// Signs the canonical text with an Ed25519 key and returns the signed
    /// note bytes: the log entry. Signing is deterministic, so the same
    /// statement and key always give the same bytes.
    ///
    /// Fails only for keys that cannot make Ed25519 signatures.
    pub fn sign(&self, signer: &SignerKey) -> Result<Vec<u8>, OpenError> {
        let mut note = Note::new(&self.to_text())?;
        note.sign(signer)?;
        Ok(note.to_bytes())
    }

    /// Verifies a signed statement note against `verifiers` (signed-note
    /// rules: unknown keys ignored, a failing known key rejects the note)
    /// and parses its text strictly. Returns the statement and the first
    /// key that verified.
    pub fn open(note: &[u8], verifiers: &Verifiers) -> Result<(Self, VerifierKey), OpenError> {
        let note = Note::parse(note)?;
        // Parse before verifying: cheap rejection of junk, and a clear error.
        let statement = Statement::parse(note.text().as_bytes())?;
        let signer = note
            .verify(verifiers)?
            .into_iter()
            .next()
            .expect("invariant: Note::verify returns at least one key");
        Ok((statement, signer.key().clone()))
    }
}

/// Why [`Statement::open`] or [`Statement::sign`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The note is malformed, or its signatures do not verify (see
    /// [`vitrine_note::Error::Verification`] for the security outcome).
    #[error("signed note: {0}")]
    Note(#[from] vitrine_note::Error),
    /// The note text is not a valid statement.
    #[error("statement: {0}")]
    Statement(#[from] ParseError),
}

/// The raw values of a statement's fields, by schema position, after the
/// structural checks (known, unrepeated, in order).
pub(crate) struct Fields<'a> {
    schema: &'static [&'static str],
    values: Vec<Option<&'a str>>,
    /// Values of the one repeatable field ([`REPEATABLE`]), in order.
    repeated: Vec<&'a str>,
}

/// The only field that may appear on several consecutive lines (`rules`
/// acknowledgements); its values must be strictly ascending.
pub(crate) const REPEATABLE: &str = "allow";

impl<'a> Fields<'a> {
    fn read(
        schema: &'static [&'static str],
        lines: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Self, ParseError> {
        let mut values = vec![None; schema.len()];
        let mut repeated = Vec::new();
        let mut last: Option<usize> = None;
        for (i, line) in lines.enumerate() {
            // Line 1 is the header.
            let line_no = i + 2;
            let space = line
                .iter()
                .position(|&b| b == b' ')
                .ok_or(ParseError::MalformedLine { line: line_no })?;
            let (key, value) = (&line[..space], &line[space + 1..]);
            let pos = schema
                .iter()
                .position(|k| k.as_bytes() == key)
                .ok_or_else(|| ParseError::UnknownField {
                    field: String::from_utf8_lossy(key).into_owned(),
                })?;
            let field = schema[pos];
            if values[pos].is_some() && field != REPEATABLE {
                return Err(ParseError::RepeatedField { field });
            }
            if let Some(last) = last.filter(|&last| last > pos) {
                return Err(ParseError::OutOfOrderField {
                    field,
                    after: schema[last],
                });
            }
            let value = std::str::from_utf8(value).map_err(|_| ParseError::MalformedValue {
                field,
                err: ValueError::NotUtf8,
            })?;
            if field == REPEATABLE {
                if let Some(prev) = repeated.last() {
                    if *prev >= value {
                        return Err(ParseError::UnsortedField { field });
                    }
                }
                repeated.push(value);
            }
            values[pos] = Some(value);
            last = Some(pos);
        }
        Ok(Self {
            schema,
            values,
            repeated,
        })
    }

    /// Every value of the repeatable field (empty when absent).
    pub(crate) fn repeated(&self) -> &[&'a str] {
        &self.repeated
    }

    pub(crate) fn required(&self, pos: usize) -> Result<&'a str, ParseError> {
        self.values[pos].ok_or(ParseError::MissingField {
            field: self.schema[pos],
        })
    }

    pub(crate) fn optional(&self, pos: usize) -> Option<&'a str> {
        self.values[pos]
    }
}

/// Why a statement text was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is longer than [`MAX_TEXT_BYTES`].
    #[error("statement is {len} bytes, more than {max}")]
    TooLarge {
        /// Length of the text.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The first line is not a known `vitrine.dev/statement/<type>/v1`.
    #[error("unknown statement type {header:?}")]
    UnknownType {
        /// The first line as found (lossily decoded).
        header: String,
    },
    /// A field line has no space between key and value, or is empty.
    #[error("line {line} is not a `key value` line")]
    MalformedLine {
        /// 1-based line number (the header is line 1).
        line: usize,
    },
    /// A key not in this type's schema.
    #[error("unknown field {field:?}")]
    UnknownField {
        /// The key as found (lossily decoded).
        field: String,
    },
    /// A key given twice.
    #[error("field {field} is repeated")]
    RepeatedField {
        /// The key.
        field: &'static str,
    },
    /// A key that belongs before one already seen.
    #[error("field {field} must come before {after}")]
    OutOfOrderField {
        /// The key found late.
        field: &'static str,
        /// The key it was found after.
        after: &'static str,
    },
    /// A required key is absent.
    #[error("field {field} is missing")]
    MissingField {
        /// The key.
        field: &'static str,
    },
    /// A value is not in its canonical form.
    #[error("field {field}: {err}")]
    MalformedValue {
        /// The key.
        field: &'static str,
        /// What is wrong with the value.
        err: ValueError,
    },
    /// Bytes after the last newline (the text must end in `\n`).
    #[error("trailing bytes after the last line")]
    TrailingBytes,
    /// The lines of a repeatable field are not in strictly ascending byte
    /// order (a duplicate, or not the canonical order).
    #[error("lines of field {field} must be in ascending order without duplicates")]
    UnsortedField {
        /// The key.
        field: &'static str,
    },
}

/// What is wrong with one field value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    #[error("empty value")]
    Empty,
    /// The value is not valid UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Whitespace where none is allowed (anywhere in a hex, decimal or
    /// token value; at either end of a text value).
    #[error("unexpected whitespace")]
    Space,
    /// Not lowercase hex digits.
    #[error("not lowercase hex")]
    NotLowercaseHex,
    /// Hex of the wrong length.
    #[error("{found} hex digits, expected one of {expected:?}")]
    WrongLength {
        /// Allowed lengths in digits.
        expected: Vec<usize>,
        /// Length found.
        found: usize,
    },
    /// Not decimal digits.
    #[error("not a decimal number")]
    NotDecimal,
    /// A decimal number with a leading zero.
    #[error("leading zero")]
    LeadingZero,
    /// A decimal number above `u64::MAX`.
    #[error("number too large")]
    Overflow,
    /// A character the value type does not allow (control characters;
    /// non-ASCII in tokens).
    #[error("forbidden character")]
    ForbiddenChar,
    /// Longer than the value type allows.
    #[error("longer than {max} bytes")]
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// Not one of a fixed set of words.
    #[error("not one of {allowed:?}")]
    NotInSet {
        /// The allowed words.
        allowed: &'static [&'static str],
    },
}
