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
