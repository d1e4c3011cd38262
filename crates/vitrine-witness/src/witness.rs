//! The add-checkpoint state machine (tlog-witness §add-checkpoint).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vitrine_note::{Cosigner, Note, Signature, SignatureType, VerifierKey, Verifiers};
use vitrine_tlog::{empty_root, verify_consistency, AddCheckpointRequest};

use crate::store::{Evidence, EvidenceKind, LogState, MemoryStore, WitnessStore};
use crate::{Refusal, WitnessError};

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A witness: a cosigner key, the logs it follows, and its store.
///
/// `Witness` is `Send + Sync`; share it behind an `Arc` and call
/// [`Witness::add_checkpoint`] from many threads. It blocks on the store
/// (an fsync for [`crate::SqliteStore`]): from async code, call it through
/// `spawn_blocking`.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, Verifiers>,
    store: Arc<dyn WitnessStore>,
    clock: Clock,
    keep_evidence: bool,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.cosigner.key().name())
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Witness`]; see [`Witness::builder`].
pub struct WitnessBuilder {
    cosigner: Cosigner,
    logs: Vec<VerifierKey>,
    store: Option<Arc<dyn WitnessStore>>,
    clock: Option<Clock>,
    keep_evidence: bool,
}

impl WitnessBuilder {
    /// Follows the log whose key this is; the key name is the log's origin.
    /// Several keys for one origin are all trusted (key rotation).
    pub fn log(mut self, key: VerifierKey) -> Self {
        self.logs.push(key);
        self
    }

    /// Follows each log of `keys`.
    pub fn logs(mut self, keys: impl IntoIterator<Item = VerifierKey>) -> Self {
        self.logs.extend(keys);
        self
    }

    /// Where state is kept (default: a fresh [`MemoryStore`], which forgets
    /// everything when dropped — not for production).
    pub fn store(mut self, store: Arc<dyn WitnessStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock for cosignature timestamps, in POSIX seconds (default:
    /// the system clock).
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Whether refused-but-signed requests are kept as [`Evidence`]
    /// (default: yes).
    pub fn keep_evidence(mut self, keep: bool) -> Self {
        self.keep_evidence = keep;
        self
    }

    /// Checks the log keys and builds the witness.
    pub fn build(self) -> Result<Witness, WitnessError> {
        let mut logs: HashMap<String, Verifiers> = HashMap::new();
        for key in self.logs {
            if key.signature_type() != SignatureType::Ed25519 {
                return Err(WitnessError::InvalidLogKey {
                    name: key.name().to_owned(),
                    type_byte: key.signature_type().byte(),
                });
            }
            logs.entry(key.name().to_owned()).or_default().insert(key);
        }
        Ok(Witness {
            cosigner: self.cosigner,
            logs,
            store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            clock: self.clock.unwrap_or_else(|| Arc::new(system_time)),
            keep_evidence: self.keep_evidence,
        })
    }
}

fn system_time() -> u64 {
    // A clock before 1970 is a broken host; 0 still yields a valid
    // cosignature rather than a refusal to work.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Witness {
    /// A builder for a witness signing with `cosigner` (a `cosignature/v1`
    /// key; its name is the witness name).
    pub fn builder(cosigner: Cosigner) -> WitnessBuilder {
        WitnessBuilder {
            cosigner,
            logs: Vec::new(),
            store: None,
            clock: None,
            keep_evidence: true,
        }
    }

    /// The witness name (its key name).
    pub fn name(&self) -> &str {
        self.cosigner.key().name()
    }

    /// The witness's `cosignature/v1` verifier key (type `0x04`).
    pub fn verifier(&self) -> VerifierKey {
        self.cosigner.verifier()
    }

    /// Origins this witness follows.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// The latest state cosigned for `origin`.
    pub fn state(&self, origin: &str) -> Result<Option<LogState>, WitnessError> {
        Ok(self.store.load(origin)?)
    }

    /// Evidence kept for `origin`.
    pub fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, WitnessError> {
        Ok(self.store.evidence(origin)?)
    }

    /// Handles an add-checkpoint request body and returns this witness's
    /// cosignature (tlog-witness §add-checkpoint). The new state is durable
    /// before this returns `Ok`.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Vec<Signature>, WitnessError> {
        let req = AddCheckpointRequest::parse(body).map_err(WitnessError::Malformed)?;
        self.add_request(&req, body)
    }

    /// [`Witness::add_checkpoint`] for a parsed request; `body` is kept as
    /// evidence if the request is refused after its signature verified.
    pub fn add_request(
        &self,
        req: &AddCheckpointRequest,
        body: &[u8],
    ) -> Result<Vec<Signature>, WitnessError> {
        let cp = req.checkpoint();
        let (old, proof) = (req.old_size(), req.proof());
        // The checks in the order of tlog-witness §add-checkpoint.
        let verifiers = self
            .logs
            .get(&cp.origin)
            .ok_or_else(|| WitnessError::UnknownOrigin {
                origin: cp.origin.clone(),
            })?;
        // Unknown keys are ignored by `verify`; a failing known key rejects.
        if req.note().verify(verifiers).is_err() {
            return Err(Refusal::Untrusted {
                origin: cp.origin.clone(),
            }
            .into());
        }
        if old > cp.size {
            return Err(WitnessError::OldSizeTooLarge {
                old_size: old,
                checkpoint_size: cp.size,
            });
        }
        // Verify against what we read, commit only if it is still there:
        // a concurrent commit sends us round again, to a 409.
        loop {
            let stored = self.store.load(&cp.origin)?;
            let (size, root) = stored
                .as_ref()
                .map_or((0, empty_root()), |s| (s.size, s.root));
            if old != size {
                return Err(Refusal::OldSizeMismatch {
                    old_size: old,
                    current_size: size,
                }
                .into());
            }
            let refusal = if old == cp.size {
                if root != cp.root {
                    Some((
                        Refusal::RootMismatch { size },
                        Some(EvidenceKind::RootMismatch),
                    ))
                } else if !proof.is_empty() {
                    Some((self.not_empty(old, cp.size), None))
                } else {
                    None
                }
            } else if old == 0 {
                (!proof.is_empty()).then(|| (self.not_empty(old, cp.size), None))
            } else if verify_consistency(old, cp.size, proof, &root, &cp.root).is_err() {
                Some((
                    Refusal::InconsistentProof {
                        old_size: old,
                        checkpoint_size: cp.size,
                    },
                    Some(EvidenceKind::InconsistentProof),
                ))
            } else {
                None
            };
            if let Some((refusal, kind)) = refusal {
                if let (Some(kind), Some(stored), true) = (kind, &stored, self.keep_evidence) {
                    // Best effort: losing evidence must not change the answer.
                    let _ = self.store.record_evidence(&Evidence {
                        origin: cp.origin.clone(),
                        time: (self.clock)(),
                        kind,
                        cosigned: stored.checkpoint.clone(),
                        request: body.to_vec(),
                    });
                }
                return Err(refusal.into());
            }

            let sig = self
                .cosigner
                .cosign(req.note().text(), (self.clock)())
                .map_err(WitnessError::Cosign)?;
            let new = LogState {
                size: cp.size,
                root: cp.root,
                checkpoint: self.with_cosignature(req.note(), &sig),
            };
            let expected = stored.map(|s| (s.size, s.root));
            if self.store.compare_and_swap(&cp.origin, expected, &new)? {
                return Ok(vec![sig]);
            }
        }
    }

    fn not_empty(&self, old_size: u64, checkpoint_size: u64) -> Refusal {
        Refusal::ProofNotEmpty {
            old_size,
            checkpoint_size,
        }
    }

    /// The note with `sig` replacing any earlier cosignature by this key.
    fn with_cosignature(&self, note: &Note, sig: &Signature) -> Vec<u8> {
        let mut out = Note::new(note.text()).expect("invariant: text of a parsed note");
        for s in note.signatures() {
            if (s.name(), s.key_id()) != (sig.name(), sig.key_id()) {
                out.add_signature(s.clone());
            }
        }
        out.add_signature(sig.clone());
        out.to_bytes()
    }
}

/// Parses a log list: the logs a witness follows, one `log <vkey> [<url>]`
/// line each, as in tlog-policy §Defining a log. Blank lines and lines
/// starting with `#` are ignored; items are separated by spaces or tabs.
/// Keys must be Ed25519 (type `0x01`); their name is the log's origin.
///
/// ```text
/// # logs this witness cosigns
/// log log.example/vitrine+1a2b3c4d+AW...
/// ```
pub fn parse_log_list(text: &str) -> Result<Vec<VerifierKey>, WitnessError> {
    let mut keys: Vec<VerifierKey> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: String| WitnessError::LogList {
            line: i + 1,
            reason,
        };
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let items: Vec<&str> = line.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
        let vkey = match items.as_slice() {
            ["log", vkey] | ["log", vkey, _] => vkey,
            _ => return Err(bad("want `log <vkey> [<url>]`".into())),
        };
        let key: VerifierKey = vkey.parse().map_err(|e| bad(format!("bad vkey: {e}")))?;
        if key.signature_type() != SignatureType::Ed25519 {
            return Err(bad("log keys must be Ed25519 (type 0x01)".into()));
        }
        if keys.iter().any(|k| k.public_key() == key.public_key()) {
            return Err(bad("duplicate log key".into()));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// One log list line for `key`, newline included.
pub fn format_log_line(key: &VerifierKey) -> String {
    format!("log {key}\n")
}
