//! The starter rule set compiled into the binary, so that `vitrine scan`
//! works on a fresh install. It is a fallback: scans that use it say they
//! are unverified.
//!
//! The rules are stored encoded (see `build.rs`): a binary that held their
//! text would be detected by its own rules, and by other scanners.

include!("builtin_key.rs");

fn decode(encoded: &[u8]) -> String {
    let mut bytes = encoded.to_vec();
    apply_key(&mut bytes);
    String::from_utf8(bytes).expect("the built-in rules are UTF-8 (checked by a test)")
}

const ENCODED: [(&str, &[u8]); 3] = [
    (
        "eicar.yar",
        include_bytes!(concat!(env!("OUT_DIR"), "/eicar.yar.enc")),
    ),
    (
        "families.yar",
        include_bytes!(concat!(env!("OUT_DIR"), "/families.yar.enc")),
    ),
    (
        "eicar.hdb",
        include_bytes!(concat!(env!("OUT_DIR"), "/eicar.hdb.enc")),
    ),
];

/// The starter rule files, decoded: `(file name, text)`. YARA sources end
/// in `.yar`, hash-signature lists in `.hdb`.
pub fn starter_files() -> Vec<(&'static str, String)> {
    ENCODED
        .iter()
        .map(|(name, enc)| (*name, decode(enc)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoding_gives_back_the_rule_files() {
        for (name, text) in super::starter_files() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("rules")
                .join(name);
            assert_eq!(text, std::fs::read_to_string(path).unwrap(), "{name}");
        }
    }

    #[test]
    fn the_encoded_form_holds_no_rule_string() {
        for (name, enc) in super::ENCODED {
            for needle in [&b"EICAR-STANDARD"[..], b"MIRAI", b"rule ", b"strings:"] {
                assert!(
                    !enc.windows(needle.len()).any(|w| w == needle),
                    "{name} holds {needle:?}"
                );
            }
        }
    }
}
