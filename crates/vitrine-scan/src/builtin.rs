//! The starter rule set compiled into the binary, so that `vitrine scan`
//! works on a fresh install. It is a fallback: scans that use it say they
//! are unverified.

/// YARA sources: (file name, text).
pub const YARA: [(&str, &str); 2] = [
    ("eicar.yar", include_str!("../rules/eicar.yar")),
    ("families.yar", include_str!("../rules/families.yar")),
];

/// Hash-signature lists: (file name, text).
pub const HASHES: [(&str, &str); 1] = [("eicar.hdb", include_str!("../rules/eicar.hdb"))];
