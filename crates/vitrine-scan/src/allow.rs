//! The owner's allowlist: files (by SHA-256) and detection names never
//! reported, as ClamAV's `.fp`/`.sfp` (by hash) and `.ign2` (by name).
//!
//! Text format, one entry a line, `#` starts a comment:
//!
//! ```text
//! sha256 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f  # our test file
//! name Vitrine.Test.EICAR.SHA256
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::Digest;

/// A malformed allowlist line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", path.display())]
pub struct AllowlistError {
    /// The file (or `--allow-*` for a flag).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Files and detection names never reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    sha256: BTreeSet<[u8; 32]>,
    names: BTreeSet<String>,
}

impl Allowlist {
    /// An empty allowlist.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the entries of an allowlist file's text; `path` names it in
    /// errors.
    pub fn add_text(&mut self, path: &Path, text: &str) -> Result<(), AllowlistError> {
        for (i, raw) in text.lines().enumerate() {
            let err = |reason: &str| AllowlistError {
                path: path.to_owned(),
                line: i + 1,
                reason: reason.to_owned(),
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (kind, value) = line
                .split_once(char::is_whitespace)
                .map(|(k, v)| (k, v.trim()))
                .ok_or_else(|| err("expected `sha256 HEX` or `name DETECTION`"))?;
            match kind {
                "sha256" => self.add_sha256(value).map_err(|e| err(&e))?,
                "name" if !value.is_empty() && !value.contains(char::is_whitespace) => {
                    self.names.insert(value.to_owned());
                }
                "name" => return Err(err("a detection name is one word")),
                _ => return Err(err("expected `sha256 HEX` or `name DETECTION`")),
            }
        }
        Ok(())
    }

    /// Allows a file by its SHA-256 (64 hex digits).
    pub fn add_sha256(&mut self, hex_digits: &str) -> Result<(), String> {
        let v = hex::decode(hex_digits.to_ascii_lowercase())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| format!("not a SHA-256 (64 hex digits): {hex_digits:?}"))?;
        self.sha256.insert(v);
        Ok(())
    }

    /// Allows a detection name.
    pub fn add_name(&mut self, name: &str) {
        self.names.insert(name.to_owned());
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.sha256.is_empty() && self.names.is_empty()
    }

    /// Whether this detection name is allowed.
    pub fn allows_name(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Whether a file with these bytes (or this known SHA-256) is allowed.
    pub fn allows_data(&self, data: &[u8], sha256: Option<&[u8; 32]>) -> bool {
        if self.sha256.is_empty() {
            return false;
        }
        let sha = sha256
            .copied()
            .unwrap_or_else(|| sha2::Sha256::digest(data).into());
        self.sha256.contains(&sha)
    }

    /// A digest of the entries (part of the scan cache's profile).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        for s in &self.sha256 {
            h.update(b"s");
            h.update(s);
        }
        for n in &self.names {
            h.update(b"n");
            h.update((n.len() as u64).to_le_bytes());
            h.update(n.as_bytes());
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_names_bad_lines() {
        let mut a = Allowlist::new();
        a.add_text(
            Path::new("allow"),
            "# mine\n\nsha256 275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F # eicar\nname Test.Rule\n",
        )
        .unwrap();
        assert!(a.allows_name("Test.Rule"));
        assert!(!a.allows_name("Other"));
        for (text, line) in [
            ("sha256 12\n", 1),
            ("\nname a b\n", 2),
            ("bogus x\n", 1),
            ("name\n", 1),
        ] {
            let e = Allowlist::new()
                .add_text(Path::new("allow"), text)
                .unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("allow:{line}: ")), "{e}");
        }
    }
}
