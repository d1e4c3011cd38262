//! Field value types and their strict parsers.
//!
//! Every value type can only be constructed in its canonical form, so that
//! formatting a statement always yields text that parses back to it.

use std::fmt;

use crate::ValueError;

/// Longest [`Token`] in bytes.
pub const MAX_TOKEN_LEN: usize = 256;
/// Longest [`Text`] in bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Parses exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let bytes = parse_lower_hex(s, &[64])?;
        Ok(Self(bytes.try_into().expect("invariant: length checked")))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

/// A git commit ID: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CommitId(Vec<u8>);

impl CommitId {
    /// Parses 40 or 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        parse_lower_hex(s, &[40, 64]).map(Self)
    }

    /// The raw commit hash (20 or 32 bytes).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

/// A short identifier: 1 to [`MAX_TOKEN_LEN`] printable ASCII characters,
/// no spaces (`0x21`–`0x7e`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Token(String);

impl Token {
    /// Checks `s` and wraps it.
    pub fn new(s: impl Into<String>) -> Result<Self, ValueError> {
        let s = s.into();
        check_token(&s)?;
        Ok(Self(s))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text for people: 1 to [`MAX_TEXT_LEN`] bytes of UTF-8, no control
/// characters, no whitespace at either end (inner spaces are fine).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Text(String);

impl Text {
    /// Checks `s` and wraps it.
    pub fn new(s: impl Into<String>) -> Result<Self, ValueError> {
        let s = s.into();
        check_text(&s)?;
        Ok(Self(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn parse_lower_hex(s: &str, lens: &[usize]) -> Result<Vec<u8>, ValueError> {
    check_no_space(s)?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ValueError::NotLowercaseHex);
    }
    if !lens.contains(&s.len()) {
        return Err(ValueError::WrongLength {
            expected: lens.to_vec(),
            found: s.len(),
        });
    }
    Ok(hex::decode(s).expect("invariant: checked lowercase hex of even length"))
}

/// Parses a canonical decimal `u64`: digits only, no sign, no leading zero.
pub(crate) fn parse_u64(s: &str) -> Result<u64, ValueError> {
    check_no_space(s)?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotDecimal);
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(ValueError::LeadingZero);
    }
    s.parse().map_err(|_| ValueError::Overflow)
}

fn check_nonempty(s: &str) -> Result<(), ValueError> {
    if s.is_empty() {
        Err(ValueError::Empty)
    } else {
        Ok(())
    }
}

fn check_no_space(s: &str) -> Result<(), ValueError> {
    check_nonempty(s)?;
    if s.contains(char::is_control) {
        Err(ValueError::ForbiddenChar)
    } else if s.contains(char::is_whitespace) {
        Err(ValueError::Space)
    } else {
        Ok(())
    }
}

fn check_token(s: &str) -> Result<(), ValueError> {
    check_no_space(s)?;
    if s.len() > MAX_TOKEN_LEN {
        return Err(ValueError::TooLong { max: MAX_TOKEN_LEN });
    }
    if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ValueError::ForbiddenChar);
    }
    Ok(())
}

fn check_text(s: &str) -> Result<(), ValueError> {
    check_nonempty(s)?;
    if s.len() > MAX_TEXT_LEN {
        return Err(ValueError::TooLong { max: MAX_TEXT_LEN });
    }
    if s.chars().any(char::is_control) {
        return Err(ValueError::ForbiddenChar);
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(ValueError::Space);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_is_canonical() {
        assert_eq!(parse_u64("0"), Ok(0));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), Err(ValueError::Overflow));
        assert_eq!(parse_u64("01"), Err(ValueError::LeadingZero));
        assert_eq!(parse_u64("+1"), Err(ValueError::NotDecimal));
        assert_eq!(parse_u64("1 "), Err(ValueError::Space));
        assert_eq!(parse_u64(""), Err(ValueError::Empty));
    }

    #[test]
    fn hex_is_lowercase_and_sized() {
        let h = "ab".repeat(32);
        assert_eq!(Sha256::parse(&h).unwrap().to_string(), h);
        assert_eq!(
            Sha256::parse(&"AB".repeat(32)),
            Err(ValueError::NotLowercaseHex)
        );
        assert!(matches!(
            Sha256::parse("abcd"),
            Err(ValueError::WrongLength { found: 4, .. })
        ));
        assert!(CommitId::parse(&"0".repeat(40)).is_ok());
        assert!(CommitId::parse(&"0".repeat(64)).is_ok());
        assert!(CommitId::parse(&"0".repeat(41)).is_err());
    }

    #[test]
    fn token_and_text() {
        assert!(Token::new("x86_64-unknown-linux-gnu").is_ok());
        assert_eq!(Token::new("a b"), Err(ValueError::Space));
        assert_eq!(Token::new("é"), Err(ValueError::ForbiddenChar));
        assert!(Text::new("routine triage, ticket 42").is_ok());
        assert_eq!(Text::new(" x"), Err(ValueError::Space));
        assert_eq!(Text::new("a\tb"), Err(ValueError::ForbiddenChar));
        assert!(Text::new("x".repeat(MAX_TEXT_LEN + 1)).is_err());
    }
}
