use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::{Error, Hash};

/// ASCII decimal, no leading zeros unless the value is `0`.
pub(crate) fn parse_decimal(s: &str, field: &'static str) -> Result<u64, Error> {
    let bad = Error::InvalidNumber { field };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(bad);
    }
    s.parse().map_err(|_| bad)
}

pub(crate) fn decode_b64(s: &str, field: &'static str) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(s)
        .map_err(|_| Error::InvalidBase64 { field })
}

pub(crate) fn decode_hash(s: &str, field: &'static str) -> Result<Hash, Error> {
    let v = decode_b64(s, field)?;
    v.as_slice()
        .try_into()
        .map_err(|_| Error::InvalidHashLength {
            field,
            len: v.len(),
        })
}

pub(crate) fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Splits off one `\n`-terminated line; `None` if there is no newline.
pub(crate) fn next_line(s: &str) -> Option<(&str, &str)> {
    s.split_once('\n')
}

/// Splits `input` at its first empty line into header lines (UTF-8, each
/// `\n`-terminated) and the bytes after the empty line, for the formats
/// that end in a verbatim note (tlog-proof, the witness add-checkpoint
/// body). The error is the reason, for the caller's own error variant.
pub(crate) fn split_header(input: &[u8]) -> Result<(&str, &[u8]), &'static str> {
    let split = input
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("missing empty line before the checkpoint")?;
    let head = std::str::from_utf8(&input[..=split]).map_err(|_| "header not UTF-8")?;
    Ok((head, &input[split + 2..]))
}
