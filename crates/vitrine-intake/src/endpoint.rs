//! The endpoint side: the egress state directory, submitting a file under
//! the owner's policy (every way data leaves goes through
//! [`Endpoint::submit`]), and the owner's audit view.
//!
//! The egress state directory holds:
//!
//! | file | what |
//! |---|---|
//! | `endpoint.key` | the endpoint's own signing key (made on first use) |
//! | `policy.toml` | the egress policy; absent = the default (metadata only) |
//! | `destination.toml` | where submissions go (see [`Destination`]) |
//! | `ledger/` | the signed ledger (`vitrine_egress::Ledger`) |
//!
//! The endpoint key's verifier is also *pinned* outside that directory
//! ([`pin_path`]: `VITRINE_EGRESS_PIN`, default
//! `/etc/vitrine/egress-endpoint.vkey`); verification trusts the pin, never
//! the key in the state directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use vitrine_egress::{
    check_anchor, decide, endpoint_id, expected_for, inspect, verify_pinned, verify_receipts,
    Anchor, Consent, ContentDecision, Decision, DenyReason, Entry, Ledger, LedgerEvent, Policy,
    ReceiptBundle, ReceiptContext, Redactor, VerifiedReceipt,
};
use vitrine_note::{Note, SignatureType, SignerKey, VerifierKey};
use vitrine_statements::Statement;

use crate::server::{Submission, SubmissionAnswer};
use crate::{EndpointError, LogClient, LogError};

/// The endpoint key file.
pub const ENDPOINT_KEY_FILE: &str = "endpoint.key";
/// The policy file.
pub const POLICY_FILE: &str = "policy.toml";
/// The destination file.
pub const DESTINATION_FILE: &str = "destination.toml";
/// The ledger directory.
pub const LEDGER_DIR: &str = "ledger";
/// Where the endpoint key is pinned unless `VITRINE_EGRESS_PIN` says
/// otherwise: system configuration, outside the egress state directory.
pub const DEFAULT_PIN_FILE: &str = "/etc/vitrine/egress-endpoint.vkey";

/// The pin file: `VITRINE_EGRESS_PIN` if set, else [`DEFAULT_PIN_FILE`].
pub fn pin_path() -> PathBuf {
    std::env::var_os("VITRINE_EGRESS_PIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_PIN_FILE), PathBuf::from)
}

/// Reads a pin file (one vkey line); `None` if it does not exist.
pub fn read_pin(path: &Path) -> Result<Option<VerifierKey>, EndpointError> {
    match std::fs::read_to_string(path) {
        Ok(t) => t.trim().parse().map(Some).map_err(|_| EndpointError::Pin {
            path: path.to_owned(),
            reason: "not a verifier key (vkey)".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Where submissions go, and whose signatures to expect back
/// (`destination.toml`).
///
/// ```toml
/// intake = "https://intake.vendor.example"
/// tenant = "t-5f2a9c"               # this tenant's pseudonym
/// token = "…"                       # this tenant's bearer token
/// intake-key = "intake.vendor.example+…"   # signs receipts
/// log = "https://log.vendor.example"       # the public log
/// log-key = "log.vendor.example+…"         # signs its checkpoints
/// ```
#[derive(Clone, Debug)]
pub struct Destination {
    /// Intake base URL.
    pub intake: String,
    /// This tenant's pseudonym: receipts must name it.
    pub tenant: String,
    /// The witnesses (a tlog-policy: `witness` and `quorum` lines) whose
    /// quorum must cosign the checkpoint each receipt is proven in.
    pub witnesses: vitrine_tlog::Policy,
    /// Bearer token.
    pub token: String,
    /// The intake's receipt key.
    pub intake_key: VerifierKey,
    /// The log's base URL.
    pub log: String,
    /// The log's key.
    pub log_key: VerifierKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDestination {
    intake: String,
    tenant: String,
    witnesses: String,
    token: String,
    intake_key: String,
    log: String,
    log_key: String,
}

impl Destination {
    /// Parses `destination.toml`.
    pub fn parse(text: &str) -> Result<Self, crate::ConfigError> {
        use crate::ConfigError;
        let raw: RawDestination = toml::from_str(text).map_err(|e| ConfigError::Toml {
            message: e.message().to_owned(),
        })?;
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        for (f, u) in [("intake", &raw.intake), ("log", &raw.log)] {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(invalid(f, "must be an http(s) URL"));
            }
        }
        if vitrine_statements::Token::new(raw.tenant.clone()).is_err() {
            return Err(invalid(
                "tenant",
                "must be a token (printable ASCII, no spaces)",
            ));
        }
        if raw.token.is_empty() || raw.token.contains(char::is_whitespace) {
            return Err(invalid("token", "must be non-empty, without spaces"));
        }
        Ok(Destination {
            intake: raw.intake.trim_end_matches('/').to_owned(),
            tenant: raw.tenant,
            witnesses: vitrine_tlog::Policy::parse(raw.witnesses.as_bytes())
                .map_err(|e| invalid("witnesses", &format!("not a tlog-policy: {e}")))?,
            token: raw.token,
            intake_key: raw
                .intake_key
                .parse()
                .map_err(|_| invalid("intake-key", "not a verifier key (vkey)"))?,
            log: raw.log.trim_end_matches('/').to_owned(),
            log_key: raw
                .log_key
                .parse()
                .map_err(|_| invalid("log-key", "not a verifier key (vkey)"))?,
        })
    }

    /// The file text.
    pub fn to_toml(&self) -> String {
        format!(
            "intake = {:?}\ntenant = {:?}\ntoken = {:?}\nintake-key = \"{}\"\nlog = {:?}\nlog-key = \"{}\"\nwitnesses = {:?}\n",
            self.intake,
            self.tenant,
            self.token,
            self.intake_key,
            self.log,
            self.log_key,
            self.witnesses.to_string()
        )
    }
}

/// How a submission was started (recorded in the ledger).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `vitrine submit FILE`.
    Submit,
    /// Automatic submission after a scan.
    Scan,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Submit => "submit",
            Via::Scan => "scan",
        }
    }
}

/// The owner's answer when the policy asks for consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// Send the content.
    Yes,
    /// Do not.
    No,
    /// Nobody could be asked (no terminal): do not.
    CannotAsk,
}

/// What [`Endpoint::submit`] did.
#[derive(Debug)]
pub struct SubmitOutcome {
    /// The policy's decision (after consent).
    pub decision: Decision,
    /// Ledger sequence number of the `sent` entry.
    pub seq: u64,
    /// The verified receipt.
    pub receipt: VerifiedReceipt,
}

/// The endpoint's egress state.
pub struct Endpoint {
    dir: PathBuf,
    key: SignerKey,
    policy: Policy,
    destination: Option<Destination>,
    pin: Option<(PathBuf, Option<VerifierKey>)>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EndpointError + '_ {
    move |source| EndpointError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Endpoint {
    /// Opens the egress state in `dir`, making the directory and the
    /// endpoint key on first use. A policy or destination file that is
    /// present must be valid.
    pub fn open(dir: &Path) -> Result<Self, EndpointError> {
        // The key and the tenant's bearer token (destination.toml) are
        // secrets: the directory is closed to other users (refused if
        // they can write it), the files 0600.
        vitrine_fs::private_dir(dir)?;
        let key_path = dir.join(ENDPOINT_KEY_FILE);
        vitrine_fs::restrict(&key_path)?;
        vitrine_fs::restrict(&dir.join(DESTINATION_FILE))?;
        let key = match std::fs::read_to_string(&key_path) {
            Ok(t) => SignerKey::parse(t.trim()).map_err(|e| EndpointError::Key {
                path: key_path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let host = std::env::var("HOSTNAME")
                    .ok()
                    .filter(|h| !h.is_empty() && vitrine_note::validate_key_name(h).is_ok())
                    .unwrap_or_else(|| "localhost".into());
                let key =
                    SignerKey::generate(&format!("{host}/vitrine-egress"), SignatureType::Ed25519)
                        .map_err(|e| EndpointError::Key {
                            path: key_path.clone(),
                            reason: e.to_string(),
                        })?;
                write_private(&key_path, key.to_private_text().as_bytes())?;
                key
            }
            Err(e) => return Err(io(&key_path)(e)),
        };
        let policy_path = dir.join(POLICY_FILE);
        let policy = match std::fs::read(&policy_path) {
            Ok(d) => Policy::parse(&d).map_err(|source| EndpointError::Policy {
                path: policy_path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Policy::default(),
            Err(e) => return Err(io(&policy_path)(e)),
        };
        let dest_path = dir.join(DESTINATION_FILE);
        let destination = match std::fs::read_to_string(&dest_path) {
            Ok(t) => Some(
                Destination::parse(&t).map_err(|source| EndpointError::Destination {
                    path: dest_path.clone(),
                    source,
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&dest_path)(e)),
        };
        Ok(Endpoint {
            dir: dir.to_owned(),
            key,
            policy,
            destination,
            pin: None,
        })
    }

    /// Uses the pin file at `path` (see [`pin_path`]): verification
    /// requires the ledger key to be the pinned one, and submitting refuses
    /// a key that is not.
    pub fn with_pin(mut self, path: &Path) -> Result<Self, EndpointError> {
        let pinned = read_pin(path)?;
        self.pin = Some((path.to_owned(), pinned));
        Ok(self)
    }

    /// Pins this endpoint's key at `path` if nothing is pinned there yet;
    /// refuses to replace a different pinned key.
    pub fn pin_key(&self, path: &Path) -> Result<(), EndpointError> {
        let mine = self.key.verifier();
        match read_pin(path)? {
            Some(k) if k == mine => Ok(()),
            Some(k) => Err(EndpointError::Ledger(
                vitrine_egress::LedgerError::NotPinned {
                    pinned: k.to_string(),
                    found: mine.to_string(),
                },
            )),
            None => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let tmp = path.with_extension("vkey.new");
                let _ = std::fs::remove_file(&tmp);
                write_private(&tmp, format!("{mine}\n").as_bytes())?;
                std::fs::rename(&tmp, path).map_err(io(path))
            }
        }
    }

    /// The pinned key: an error if no pin file was given or it is absent.
    fn pinned(&self) -> Result<VerifierKey, EndpointError> {
        match &self.pin {
            Some((_, Some(k))) => Ok(k.clone()),
            Some((path, None)) => Err(EndpointError::NoPin { path: path.clone() }),
            None => Err(EndpointError::NoPin { path: pin_path() }),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The destination, if configured.
    pub fn destination(&self) -> Option<&Destination> {
        self.destination.as_ref()
    }

    /// The endpoint key's verifier (what the ledger is checked against).
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// The ledger directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.dir.join(LEDGER_DIR)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn dest(&self) -> Result<&Destination, EndpointError> {
        self.destination
            .as_ref()
            .ok_or_else(|| EndpointError::NoDestination {
                path: self.dir.join(DESTINATION_FILE),
            })
    }

    /// Submits one file under the policy: decides from its content what
    /// may leave, asks for consent where the policy says so, records the
    /// egress in the ledger *before* sending, sends, verifies the receipt
    /// (signed by the intake, included in the log) and records it.
    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        &self,
        path: &Path,
        data: &[u8],
        detections: Vec<String>,
        bundle_version: Option<u64>,
        via: Via,
        consent: &mut dyn FnMut(&Decision) -> ConsentAnswer,
        now: u64,
    ) -> Result<SubmitOutcome, EndpointError> {
        let dest = self.dest()?;
        if let Some((_, Some(pinned))) = &self.pin {
            if *pinned != self.key.verifier() {
                return Err(vitrine_egress::LedgerError::NotPinned {
                    pinned: pinned.to_string(),
                    found: self.key.verifier().to_string(),
                }
                .into());
            }
        }
        let facts = inspect(path, data, detections, bundle_version);
        let mut decision = decide(&self.policy, &facts, &Redactor::from_env());
        if let ContentDecision::Allowed {
            consent: Consent::Ask,
        } = decision.content
        {
            match consent(&decision) {
                ConsentAnswer::Yes => {}
                ConsentAnswer::No => {
                    decision.content =
                        ContentDecision::Denied(DenyReason::ConsentRefused { asked: true })
                }
                ConsentAnswer::CannotAsk => {
                    decision.content =
                        ContentDecision::Denied(DenyReason::ConsentRefused { asked: false })
                }
            }
        }
        let send_content = matches!(decision.content, ContentDecision::Allowed { .. });
        let denied = match &decision.content {
            ContentDecision::Denied(r) => Some(r.to_string()),
            ContentDecision::Allowed { .. } => None,
        };
        let mut ledger = Ledger::open(&self.ledger_dir(), self.key.clone())?;
        let nonce: [u8; 32] = rand::random();
        let sent = ledger.append(
            now,
            LedgerEvent::Sent {
                destination: dest.intake.clone(),
                via: via.as_str().into(),
                policy_id: self.policy.id().into(),
                policy_sha256: hex::encode(self.policy.sha256()),
                metadata: decision.metadata.clone(),
                content: send_content,
                nonce: hex::encode(nonce),
                content_denied: denied,
            },
        )?;
        let submission = Submission {
            policy_id: self.policy.id().into(),
            policy_sha256: hex::encode(self.policy.sha256()),
            metadata: decision.metadata.clone(),
            content: send_content.then(|| base64::engine::general_purpose::STANDARD.encode(data)),
            endpoint: hex::encode(endpoint_id(&self.key.verifier())),
            nonce: hex::encode(nonce),
            ledger_seq: sent.seq,
            ledger_head: sent.hash(),
        };
        let answer = match post(dest, &submission) {
            Ok(a) => a,
            Err(e) => {
                ledger.append(
                    now,
                    LedgerEvent::Failed {
                        of: sent.seq,
                        error: e.to_string(),
                    },
                )?;
                return Err(e);
            }
        };
        let endpoint_key = self.key.verifier();
        let ctx = self.context(dest, &endpoint_key);
        let verified = match expected_for(&sent, &ctx)
            .map_err(|e| match e {
                vitrine_egress::LedgerError::Receipt { source, .. } => source,
                other => vitrine_egress::ReceiptError::Malformed {
                    reason: other.to_string(),
                },
            })
            .and_then(|expected| {
                answer
                    .receipt
                    .verify(&dest.intake_key, &dest.log_key, &dest.witnesses, &expected)
            }) {
            Ok(v) => v,
            Err(source) => {
                ledger.append(
                    now,
                    LedgerEvent::Failed {
                        of: sent.seq,
                        error: format!("receipt refused: {source}"),
                    },
                )?;
                return Err(EndpointError::Receipt(source));
            }
        };
        ledger.append(
            now,
            LedgerEvent::Receipt {
                of: sent.seq,
                receipt: answer.receipt,
            },
        )?;
        Ok(SubmitOutcome {
            decision,
            seq: sent.seq,
            receipt: verified,
        })
    }

    fn context<'a>(&self, dest: &'a Destination, endpoint: &'a VerifierKey) -> ReceiptContext<'a> {
        ReceiptContext {
            intake: &dest.intake_key,
            log: &dest.log_key,
            witnesses: &dest.witnesses,
            tenant: &dest.tenant,
            endpoint,
        }
    }

    /// Verifies the ledger alone (signatures, chain, head) against the
    /// pinned endpoint key, no receipts.
    pub fn verify_ledger(&self) -> Result<Vec<Entry>, EndpointError> {
        let pinned = self.pinned()?;
        Ok(verify_pinned(
            &self.ledger_dir(),
            &self.key.verifier(),
            &pinned,
        )?)
    }

    /// Verifies the ledger (signatures, chain, head) and every receipt in
    /// it. Returns the entries and the `sent` entries with no receipt.
    pub fn verify(&self) -> Result<(Vec<Entry>, Vec<u64>), EndpointError> {
        let entries = self.verify_ledger()?;
        let dest = self.dest()?;
        let endpoint = self.pinned()?;
        let unanswered = verify_receipts(&entries, &self.context(dest, &endpoint))?;
        Ok((entries, unanswered))
    }

    /// [`Endpoint::verify`], then checks against the custody log: each
    /// receipt's checkpoint is consistent with the log's current checkpoint
    /// (the log showed this endpoint no fork), and every receipt in the log
    /// for this tenant and endpoint names a ledger entry that exists here
    /// with the head it names (the ledger was not rolled back, removed or
    /// replaced). Returns the entries, the unanswered `sent` entries, the
    /// log's current size and what the log anchors.
    pub fn verify_online(&self) -> Result<OnlineVerification, EndpointError> {
        let (v, _) = self.verify_online_with_log()?;
        Ok(v)
    }

    /// The custody log's entries up to its current checkpoint, which must
    /// be cosigned by a quorum of the configured witnesses: a log showing
    /// this endpoint a shorter or other tree (hiding receipts that anchor
    /// the ledger) would have to make the witnesses sign it too.
    fn witnessed_entries(
        &self,
        log: &LogClient,
        dest: &Destination,
    ) -> Result<Vec<Vec<u8>>, EndpointError> {
        let current = log.checkpoint()?;
        let size = current.checkpoint.size;
        let cosigs = current
            .note
            .verify_known(&dest.witnesses.witness_verifiers())
            .map_err(|e| LogError::Checkpoint {
                reason: format!("a witness cosignature does not verify: {e}"),
            })?;
        dest.witnesses
            .require_quorum(&cosigs)
            .map_err(|cosigned| EndpointError::LogQuorumNotMet { size, cosigned })?;
        let mut entries = log.entries()?;
        if (entries.len() as u64) < size {
            return Err(LogError::Proof {
                reason: format!(
                    "the log serves {} entries, fewer than its witnessed checkpoint's {size}",
                    entries.len()
                ),
            }
            .into());
        }
        entries.truncate(size as usize);
        let leaves: Vec<_> = entries.iter().map(|e| vitrine_tlog::leaf_hash(e)).collect();
        if vitrine_tlog::root_from_leaf_hashes(&leaves) != current.checkpoint.root {
            return Err(LogError::Proof {
                reason: format!(
                    "the log's entries do not hash to its witnessed checkpoint of size {size}"
                ),
            }
            .into());
        }
        Ok(entries)
    }

    fn verify_online_with_log(&self) -> Result<(OnlineVerification, Vec<Vec<u8>>), EndpointError> {
        let (entries, unanswered) = self.verify()?;
        let dest = self.dest()?;
        let endpoint = self.pinned()?;
        let log = LogClient::new(&dest.log, dest.log_key.clone())?;
        let mut size = log.checkpoint()?.checkpoint.size;
        let mut checked = std::collections::BTreeSet::new();
        for e in &entries {
            let LedgerEvent::Receipt { receipt, .. } = &e.event else {
                continue;
            };
            // verify() already parsed and verified every proof.
            let proof =
                vitrine_tlog::TlogProof::parse(receipt.tlog_proof.as_bytes()).map_err(|e| {
                    LogError::Proof {
                        reason: e.to_string(),
                    }
                })?;
            let cp = proof.checkpoint();
            if checked.insert((cp.size, cp.root)) {
                size = log
                    .check_consistent(cp)
                    .map_err(|source| EndpointError::Inconsistent { seq: e.seq, source })?;
            }
        }
        let log_entries = self.witnessed_entries(&log, dest)?;
        let anchor = check_anchor(
            &entries,
            log_entries.iter().map(Vec::as_slice),
            &self.context(dest, &endpoint),
        )?;
        size = size.max(log_entries.len() as u64);
        Ok((
            OnlineVerification {
                entries,
                unanswered,
                log_size: size,
                anchor,
            },
            log_entries,
        ))
    }

    /// The owner's audit view: the verified ledger plus every `access` and
    /// `deletion` statement in the public log about a sample that left
    /// this endpoint.
    pub fn audit(&self) -> Result<Audit, EndpointError> {
        let (
            OnlineVerification {
                entries,
                unanswered,
                ..
            },
            log_entries,
        ) = self.verify_online_with_log()?;
        let mut samples = std::collections::BTreeSet::new();
        let mut sent = Vec::new();
        let mut receipts = Vec::new();
        for e in &entries {
            match &e.event {
                LedgerEvent::Sent {
                    metadata,
                    content,
                    destination,
                    via,
                    content_denied,
                    policy_id,
                    ..
                } => {
                    samples.insert(metadata.sha256.clone());
                    sent.push(AuditSent {
                        seq: e.seq,
                        time: e.time,
                        destination: destination.clone(),
                        via: via.clone(),
                        policy: policy_id.clone(),
                        sha256: metadata.sha256.clone(),
                        kind: metadata.kind.clone(),
                        path: metadata.path.clone(),
                        content: *content,
                        content_denied: content_denied.clone(),
                    });
                }
                LedgerEvent::Receipt { of, receipt } => receipts.push(AuditReceipt {
                    of: *of,
                    log_index: receipt.index,
                    note: receipt.note.clone(),
                }),
                LedgerEvent::Failed { .. } => {}
            }
        }
        // Whose copies are ours: this endpoint's tenant's. Another
        // tenant's access or deletion of the same file is not ours.
        let tenant = self.dest()?.tenant.clone();
        let ours = |t: &vitrine_statements::Token, sample: &vitrine_statements::Sha256| {
            t.as_str() == tenant && samples.contains(&hex::encode(sample.0))
        };
        let mut accesses = Vec::new();
        let mut deletions = Vec::new();
        for (index, entry) in log_entries.iter().enumerate() {
            let Ok(note) = Note::parse(entry) else {
                continue;
            };
            let signer = note
                .signatures()
                .first()
                .map(|s| s.name().to_owned())
                .unwrap_or_default();
            match Statement::parse(note.text().as_bytes()) {
                Ok(Statement::Access(a)) if ours(&a.tenant, &a.sample) => {
                    accesses.push(AuditAccess {
                        log_index: index as u64,
                        sha256: hex::encode(a.sample.0),
                        who: a.who.as_str().to_owned(),
                        signer,
                        purpose: a.purpose.as_str().to_owned(),
                        time: a.time,
                    })
                }
                Ok(Statement::Deletion(d)) if ours(&d.tenant, &d.sample) => {
                    deletions.push(AuditDeletion {
                        log_index: index as u64,
                        sha256: hex::encode(d.sample.0),
                        signer,
                        reason: d.reason.as_str().to_owned(),
                        time: d.time,
                    })
                }
                _ => {}
            }
        }
        Ok(Audit {
            sent,
            receipts,
            unanswered,
            accesses,
            deletions,
        })
    }
}

/// What [`Endpoint::verify_online`] found.
#[derive(Debug)]
pub struct OnlineVerification {
    /// The verified entries.
    pub entries: Vec<Entry>,
    /// `sent` entries with no receipt.
    pub unanswered: Vec<u64>,
    /// The log's current size.
    pub log_size: u64,
    /// What the custody log anchors of this ledger.
    pub anchor: Anchor,
}

/// The owner's audit view.
#[derive(Debug, Serialize)]
pub struct Audit {
    /// Everything that left.
    pub sent: Vec<AuditSent>,
    /// Every receipt (all verified: signed and included in the log).
    pub receipts: Vec<AuditReceipt>,
    /// `sent` entries without a receipt.
    pub unanswered: Vec<u64>,
    /// Every logged access to those samples.
    pub accesses: Vec<AuditAccess>,
    /// Every logged deletion of those samples.
    pub deletions: Vec<AuditDeletion>,
}

/// One egress.
#[derive(Debug, Serialize)]
pub struct AuditSent {
    /// Ledger sequence number.
    pub seq: u64,
    /// When.
    pub time: u64,
    /// To whom.
    pub destination: String,
    /// `submit` or `scan`.
    pub via: String,
    /// Policy id.
    pub policy: String,
    /// The file's SHA-256.
    pub sha256: String,
    /// Its kind.
    pub kind: String,
    /// Its path as it left.
    pub path: Option<String>,
    /// Whether content left.
    pub content: bool,
    /// Why content did not leave.
    pub content_denied: Option<String>,
}

/// One receipt.
#[derive(Debug, Serialize)]
pub struct AuditReceipt {
    /// The `sent` entry it answers.
    pub of: u64,
    /// Its index in the log.
    pub log_index: u64,
    /// The signed statement.
    pub note: String,
}

/// One access, from the public log.
#[derive(Debug, Serialize)]
pub struct AuditAccess {
    /// Log index.
    pub log_index: u64,
    /// The sample.
    pub sha256: String,
    /// Who (the statement's `who`).
    pub who: String,
    /// The key that signed it.
    pub signer: String,
    /// Why.
    pub purpose: String,
    /// When.
    pub time: u64,
}

/// One deletion, from the public log.
#[derive(Debug, Serialize)]
pub struct AuditDeletion {
    /// Log index.
    pub log_index: u64,
    /// The sample.
    pub sha256: String,
    /// The key that signed it.
    pub signer: String,
    /// Why.
    pub reason: String,
    /// When.
    pub time: u64,
}

fn post(dest: &Destination, sub: &Submission) -> Result<SubmissionAnswer, EndpointError> {
    let url = format!("{}/v1/submissions", dest.intake);
    let http = |reason: String| EndpointError::Http {
        url: url.clone(),
        reason,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| http(e.to_string()))?;
    let resp = client
        .post(&url)
        .bearer_auth(&dest.token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(sub).expect("invariant: submissions serialize"))
        .send()
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    resp.take(vitrine_egress::MAX_RECEIPT_SIZE as u64 * 2)
        .read_to_end(&mut body)
        .map_err(|e| http(e.to_string()))?;
    if status != 201 {
        return Err(EndpointError::Refused {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| http(format!("malformed answer: {e}")))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), EndpointError> {
    use std::io::Write;
    let mut f = vitrine_fs::create_new(path, 0o600)?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// The receipt bundle type, re-exported for callers of [`Endpoint`].
pub type Receipt = ReceiptBundle;
