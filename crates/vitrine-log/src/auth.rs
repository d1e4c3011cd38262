//! Who may make which statements.

use std::collections::BTreeSet;
use std::fmt;

use vitrine_note::{Note, VerifierKey, Verifiers};
use vitrine_statements::{Statement, StatementType};

use crate::{AddError, Rejection};

/// Which signer keys may make which statement types.
///
/// Text form (the data directory's `authorized` file), one rule per line:
///
/// ```text
/// # publishers
/// rules,release publisher.example/p1+4d3c2b1a+AX...
/// review reviewer.example/r1+01020304+AY...
/// ```
///
/// A line is a comma-separated list of statement type names, one space,
/// and a vkey. Blank lines and lines starting with `#` are ignored. A key
/// may appear on several lines; its permissions add up.
#[derive(Clone, Debug, Default)]
pub struct Authorization {
    rules: Vec<(BTreeSet<StatementType>, VerifierKey)>,
}

/// Why an authorization file did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authorization line {line}: {reason}")]
pub struct AuthorizationError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl Authorization {
    /// Nobody may write.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `key` to make statements of the given types.
    pub fn allow(
        mut self,
        types: impl IntoIterator<Item = StatementType>,
        key: VerifierKey,
    ) -> Self {
        self.rules.push((types.into_iter().collect(), key));
        self
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, AuthorizationError> {
        let mut auth = Self::new();
        for (i, line) in text.lines().enumerate() {
            let err = |reason: String| AuthorizationError {
                line: i + 1,
                reason,
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (types, vkey) = line
                .split_once(' ')
                .ok_or_else(|| err("expected `<types> <vkey>`".into()))?;
            let types = types
                .split(',')
                .map(|t| {
                    t.parse::<StatementType>()
                        .map_err(|_| err(format!("unknown type {t:?}")))
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            let key = vkey
                .parse::<VerifierKey>()
                .map_err(|e| err(format!("bad vkey: {e}")))?;
            auth.rules.push((types, key));
        }
        Ok(auth)
    }

    /// The keys allowed to make `kind`.
    pub fn verifiers_for(&self, kind: StatementType) -> Verifiers {
        self.rules
            .iter()
            .filter(|(types, _)| types.contains(&kind))
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// Checks that `note` is a statement signed by exactly one key, allowed
    /// to make its type, and returns the statement. This is the log's
    /// admission check; monitors replaying a log use it too.
    pub fn open(&self, note: &[u8]) -> Result<Statement, AddError> {
        self.open_signed(note).map(|(statement, _)| statement)
    }

    /// [`Authorization::open`], also returning the name of the key that
    /// signed the statement.
    pub fn open_signed(&self, note: &[u8]) -> Result<(Statement, String), AddError> {
        let parsed = Note::parse(note).map_err(AddError::MalformedNote)?;
        // One signature line: one byte form per (statement, key), so
        // deduplication by bytes cannot be dodged by adding signatures.
        if parsed.signatures().len() != 1 {
            return Err(AddError::Rejected(Rejection::SignatureCount {
                found: parsed.signatures().len(),
            }));
        }
        let statement =
            Statement::parse(parsed.text().as_bytes()).map_err(AddError::MalformedStatement)?;
        match parsed.verify(&self.verifiers_for(statement.kind())) {
            Ok(sigs) => {
                // An access names who opens the sample: it must be the key
                // that signs it, or anyone allowed could act in another's name.
                if let Statement::Access(a) = &statement {
                    let signer = sigs.first().map(|s| s.name()).unwrap_or_default();
                    if a.who.as_str() != signer {
                        return Err(AddError::Rejected(Rejection::WhoNotSigner {
                            who: a.who.as_str().to_owned(),
                            signer: signer.to_owned(),
                        }));
                    }
                }
                let signer = sigs.first().map(|s| s.name()).unwrap_or_default();
                Ok((statement, signer.to_owned()))
            }
            Err(vitrine_note::Error::Verification(
                vitrine_note::VerificationError::NoKnownSignature,
            )) => Err(AddError::Rejected(Rejection::NotAllowed {
                kind: statement.kind(),
                signer: parsed.signatures()[0].name().to_owned(),
            })),
            Err(err) => Err(AddError::Rejected(Rejection::BadSignature { err })),
        }
    }

    /// Every key named in the configuration, whatever it may make.
    pub fn all_verifiers(&self) -> Verifiers {
        self.rules.iter().map(|(_, key)| key.clone()).collect()
    }
}

impl fmt::Display for Authorization {
    /// The text form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (types, key) in &self.rules {
            let names: Vec<_> = types.iter().map(|t| t.name()).collect();
            writeln!(f, "{} {key}", names.join(","))?;
        }
        Ok(())
    }
}

/// An `authorized` file read again on every request, so an operator's
/// edit takes effect at once without a restart.
///
/// Each [`AuthorizedFile::current`] reads the file (a few hundred bytes;
/// file timestamps are too coarse to tell two quick edits apart) and
/// parses it again only if its bytes changed. A missing file means nobody
/// may write. A file that does not parse (or cannot be read) fails closed:
/// every statement is refused with [`AddError::Authorization`] naming the
/// file and line until it is fixed — never the previous, possibly revoked,
/// permissions.
#[derive(Debug)]
pub struct AuthorizedFile {
    path: std::path::PathBuf,
    cache: std::sync::Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    /// The file's bytes; `None` if it is absent.
    bytes: Option<Vec<u8>>,
    auth: Result<std::sync::Arc<Authorization>, String>,
}

impl AuthorizedFile {
    /// Watches `path`; nothing is read until the first [`Self::current`].
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: std::sync::Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The authorization the file holds now.
    pub fn current(&self) -> Result<std::sync::Arc<Authorization>, AddError> {
        let fail = |reason: String| AddError::Authorization {
            path: self.path.display().to_string(),
            reason,
        };
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| c.bytes == bytes) {
            return c.auth.clone().map_err(fail);
        }
        let auth = match &bytes {
            None => Ok(std::sync::Arc::new(Authorization::new())),
            Some(b) => match std::str::from_utf8(b) {
                Ok(text) => Authorization::parse(text)
                    .map(std::sync::Arc::new)
                    .map_err(|e| e.to_string()),
                Err(_) => Err("not UTF-8".to_owned()),
            },
        };
        if let Err(reason) = &auth {
            tracing::error!(path = %self.path.display(), %reason, "authorization file refused; refusing every statement until it is fixed");
        } else if cache.is_some() {
            tracing::info!(path = %self.path.display(), "authorization file reloaded");
        }
        *cache = Some(Cached {
            bytes,
            auth: auth.clone(),
        });
        auth.map_err(fail)
    }
}
