//! The egress ledger: a local, append-only, signed hash chain of every
//! egress, with a signed head so that removing entries from the end is
//! detected too.
//!
//! Files in the ledger directory:
//!
//! - `ledger.jsonl`: one JSON object per line, `{"entry": {...}, "sig": "..."}`.
//!   `entry` holds `seq` (0, 1, 2, …), `prev` (hex SHA-256 of the previous
//!   entry's JSON, 64 zeros for the first), `time` and `event`. `sig` is a
//!   signed-note signature line (without the em dash) by the endpoint key
//!   over the text `vitrine.dev/egress-ledger/v1\n<seq>\n<hex hash of entry JSON>\n`.
//! - `head`: a signed note `vitrine.dev/egress-ledger-head/v1\nsize <n>\nhash <hex>\n`
//!   by the endpoint key, replaced atomically after every append.
//!
//! An egress is appended *before* anything is sent (`sent`), and the answer
//! after (`receipt` or `failed`), so nothing leaves unrecorded.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vitrine_note::{Note, Signature, SignerKey, VerifierKey, Verifiers};

use crate::decide::Metadata;
use crate::receipt::ReceiptBundle;
use crate::{LedgerError, ReceiptError};

/// The entries file.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// The signed head.
pub const HEAD_FILE: &str = "head";

const ENTRY_CONTEXT: &str = "vitrine.dev/egress-ledger/v1";
const HEAD_CONTEXT: &str = "vitrine.dev/egress-ledger-head/v1";
const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
// Events are read and written one at a time, never held in bulk arrays
// where the `sent` variant's size would matter.
#[allow(clippy::large_enum_variant)]
pub enum LedgerEvent {
    /// Data is about to leave (recorded before sending).
    Sent {
        /// Where to (the intake URL).
        destination: String,
        /// How it left: `submit` (by hand) or `scan` (automatic).
        via: String,
        /// The policy's id.
        policy_id: String,
        /// SHA-256 of the policy file, hex.
        policy_sha256: String,
        /// The metadata that left.
        metadata: Metadata,
        /// Whether the content left too.
        content: bool,
        /// The submission's nonce (64 hex digits, random per submission):
        /// the receipt must name it.
        nonce: String,
        /// Why the content did not leave.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_denied: Option<String>,
    },
    /// The intake's receipt for entry `of`.
    Receipt {
        /// Sequence number of the `sent` entry.
        of: u64,
        /// The receipt.
        receipt: ReceiptBundle,
    },
    /// Sending entry `of` failed; the data may or may not have arrived.
    Failed {
        /// Sequence number of the `sent` entry.
        of: u64,
        /// What went wrong.
        error: String,
    },
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position, from 0.
    pub seq: u64,
    /// Hex SHA-256 of the previous entry's JSON (zeros for the first).
    pub prev: String,
    /// Unix seconds.
    pub time: u64,
    /// What happened.
    pub event: LedgerEvent,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    entry: Entry,
    sig: String,
}

impl Entry {
    fn json(&self) -> String {
        serde_json::to_string(self).expect("invariant: entries serialize")
    }

    /// Hex SHA-256 of the entry's JSON: what the next entry's `prev` holds.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.json()))
    }

    fn signed_text(&self) -> String {
        format!("{ENTRY_CONTEXT}\n{}\n{}\n", self.seq, self.hash())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An open ledger that can be appended to (one writer at a time).
pub struct Ledger {
    dir: PathBuf,
    key: SignerKey,
    next_seq: u64,
    last_hash: String,
}

impl Ledger {
    /// Opens (creating it if absent) the ledger in `dir`, verifying what is
    /// there with the key's own verifier first: an endpoint does not append
    /// to a ledger that was tampered with.
    pub fn open(dir: &Path, key: SignerKey) -> Result<Self, LedgerError> {
        // Closed to other users (0700; refused if others can write it), and
        // so are the ledger and its head (0600).
        vitrine_fs::private_dir(dir)?;
        vitrine_fs::restrict(&dir.join(LEDGER_FILE))?;
        vitrine_fs::restrict(&dir.join(HEAD_FILE))?;
        let entries = verify(dir, &key.verifier())?;
        let (next_seq, last_hash) = match entries.last() {
            Some(e) => (e.seq + 1, e.hash()),
            None => (0, ZERO.to_owned()),
        };
        Ok(Ledger {
            dir: dir.to_owned(),
            key,
            next_seq,
            last_hash,
        })
    }

    /// Appends an event, fsyncs it and replaces the signed head.
    pub fn append(&mut self, time: u64, event: LedgerEvent) -> Result<Entry, LedgerError> {
        let entry = Entry {
            seq: self.next_seq,
            prev: self.last_hash.clone(),
            time,
            event,
        };
        let sig = self.key.sign(&entry.signed_text())?;
        let line = Line {
            entry: entry.clone(),
            sig: sig_text(&sig),
        };
        let mut text = serde_json::to_string(&line).expect("invariant: lines serialize");
        text.push('\n');
        let path = self.dir.join(LEDGER_FILE);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(text.as_bytes()).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        self.next_seq += 1;
        self.last_hash = entry.hash();
        self.write_head()?;
        Ok(entry)
    }

    fn write_head(&self) -> Result<(), LedgerError> {
        let mut note = Note::new(&format!(
            "{HEAD_CONTEXT}\nsize {}\nhash {}\n",
            self.next_seq, self.last_hash
        ))?;
        note.sign(&self.key)?;
        let path = self.dir.join(HEAD_FILE);
        vitrine_fs::write_atomic(&path, &note.to_bytes(), 0o600)?;
        Ok(())
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The endpoint key's verifier.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }
}

fn sig_text(sig: &Signature) -> String {
    sig.to_line()
        .trim_start_matches('\u{2014}')
        .trim()
        .to_owned()
}

/// Reads the entries without verifying them (for listing a ledger that
/// [`verify`] refused).
pub fn read_unverified(dir: &Path) -> Result<Vec<Entry>, LedgerError> {
    Ok(read_lines(dir)?.into_iter().map(|(_, l)| l.entry).collect())
}

fn read_lines(dir: &Path) -> Result<Vec<(usize, Line)>, LedgerError> {
    let path = dir.join(LEDGER_FILE);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io(&path))?;
        let parsed: Line = serde_json::from_str(&line).map_err(|e| LedgerError::Malformed {
            line: i + 1,
            reason: e.to_string(),
        })?;
        out.push((i + 1, parsed));
    }
    Ok(out)
}

/// Verifies the whole ledger in `dir` against the endpoint's key: every
/// signature, the sequence, the hash chain and the signed head. Returns
/// the entries. Receipts are checked separately by [`verify_receipts`].
pub fn verify(dir: &Path, endpoint: &VerifierKey) -> Result<Vec<Entry>, LedgerError> {
    let lines = read_lines(dir)?;
    let mut prev = ZERO.to_owned();
    let mut entries = Vec::with_capacity(lines.len());
    for (expected, (line, l)) in (0u64..).zip(lines) {
        let seq = l.entry.seq;
        let sig_ok = Signature::parse_line(&format!("\u{2014} {}", l.sig))
            .ok()
            .filter(|s| s.name() == endpoint.name() && s.key_id() == endpoint.key_id())
            .is_some_and(|s| endpoint.verify(&l.entry.signed_text(), s.bytes()).is_ok());
        if !sig_ok {
            return Err(LedgerError::BadSignature { line, seq });
        }
        if seq != expected {
            return Err(LedgerError::OutOfSequence {
                line,
                seq,
                expected,
            });
        }
        if l.entry.prev != prev {
            return Err(LedgerError::ChainBroken { line, seq });
        }
        prev = l.entry.hash();
        entries.push(l.entry);
    }
    check_head(dir, endpoint, entries.len() as u64, &prev)?;
    Ok(entries)
}

fn check_head(
    dir: &Path,
    endpoint: &VerifierKey,
    size: u64,
    hash: &str,
) -> Result<(), LedgerError> {
    let path = dir.join(HEAD_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && size == 0 => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LedgerError::BadHead {
                reason: "the head file is missing".into(),
            })
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let bad = |reason: String| LedgerError::BadHead { reason };
    let note = Note::parse(&data).map_err(|e| bad(e.to_string()))?;
    note.verify(&Verifiers::from_keys([endpoint.clone()]))
        .map_err(|e| bad(format!("not signed by the endpoint key: {e}")))?;
    let mut lines = note.text().lines();
    let parsed = (|| {
        if lines.next()? != HEAD_CONTEXT {
            return None;
        }
        let size: u64 = lines.next()?.strip_prefix("size ")?.parse().ok()?;
        let hash = lines.next()?.strip_prefix("hash ")?.to_owned();
        lines.next().is_none().then_some((size, hash))
    })();
    let (head_size, head_hash) = parsed.ok_or_else(|| bad("malformed head text".into()))?;
    if head_size != size || head_hash != hash {
        return Err(LedgerError::HeadMismatch {
            head_size,
            head_hash,
            size,
            hash: hash.to_owned(),
        });
    }
    Ok(())
}

/// Who the receipts in a ledger must be for, and whose keys sign them.
#[derive(Clone, Debug)]
pub struct ReceiptContext<'a> {
    /// The intake's receipt key.
    pub intake: &'a VerifierKey,
    /// The log's key.
    pub log: &'a VerifierKey,
    /// The witnesses whose quorum must cosign a receipt's checkpoint.
    pub witnesses: &'a vitrine_tlog::Policy,
    /// This endpoint's tenant pseudonym.
    pub tenant: &'a str,
    /// This endpoint's ledger key.
    pub endpoint: &'a VerifierKey,
}

fn hash32(seq: u64, what: &str, s: &str) -> Result<[u8; 32], LedgerError> {
    hex::decode(s)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| LedgerError::Receipt {
            seq,
            source: ReceiptError::Malformed {
                reason: format!("the sent entry's {what} is not 64 hex digits"),
            },
        })
}

/// What a receipt for the `sent` entry `sent` must say.
pub fn expected_for<'a>(
    sent: &Entry,
    ctx: &ReceiptContext<'a>,
) -> Result<crate::receipt::Expected<'a>, LedgerError> {
    let LedgerEvent::Sent {
        metadata,
        policy_sha256,
        nonce,
        ..
    } = &sent.event
    else {
        return Err(LedgerError::DanglingReceipt {
            seq: sent.seq,
            of: sent.seq,
        });
    };
    let head = hash32(sent.seq, "hash", &sent.hash())?;
    Ok(crate::receipt::Expected {
        sample: hash32(sent.seq, "metadata.sha256", &metadata.sha256)?,
        policy_sha256: hash32(sent.seq, "policy_sha256", policy_sha256)?,
        tenant: ctx.tenant,
        endpoint: crate::receipt::endpoint_id(ctx.endpoint),
        nonce: hash32(sent.seq, "nonce", nonce)?,
        ledger_seq: sent.seq,
        ledger_head: head,
        time: sent.time,
    })
}

/// Checks every receipt in verified `entries`: it answers an earlier `sent`
/// entry that no other receipt answered, is not a receipt already used for
/// another entry, is signed by the intake key, names the same sample,
/// policy, tenant, endpoint, nonce and ledger position, is dated within
/// [`crate::RECEIPT_WINDOW`] of the entry, and is included in the vendor's
/// log under a checkpoint signed by the log key. Returns the `sent`
/// entries that have no receipt (yet).
pub fn verify_receipts(
    entries: &[Entry],
    ctx: &ReceiptContext<'_>,
) -> Result<Vec<u64>, LedgerError> {
    use std::collections::BTreeMap;
    // `of` -> the receipt entry that answered it.
    let mut answered: BTreeMap<u64, u64> = BTreeMap::new();
    // log index and note hash -> the receipt entry that used it.
    let mut used_index: BTreeMap<u64, u64> = BTreeMap::new();
    let mut used_note: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    for e in entries {
        let LedgerEvent::Receipt { of, receipt } = &e.event else {
            continue;
        };
        let sent = entries
            .get(*of as usize)
            .filter(|s| s.seq < e.seq && matches!(s.event, LedgerEvent::Sent { .. }))
            .ok_or(LedgerError::DanglingReceipt {
                seq: e.seq,
                of: *of,
            })?;
        let note_hash: [u8; 32] = Sha256::digest(receipt.note.as_bytes()).into();
        if let Some(first) = used_index
            .get(&receipt.index)
            .or_else(|| used_note.get(&note_hash))
        {
            return Err(LedgerError::ReceiptReused {
                seq: e.seq,
                index: receipt.index,
                first: *first,
            });
        }
        if let Some(first) = answered.get(of) {
            return Err(LedgerError::AnsweredTwice {
                seq: e.seq,
                of: *of,
                first: *first,
            });
        }
        let expected = expected_for(sent, ctx)?;
        receipt
            .verify(ctx.intake, ctx.log, ctx.witnesses, &expected)
            .map_err(|source| LedgerError::Receipt { seq: e.seq, source })?;
        answered.insert(*of, e.seq);
        used_index.insert(receipt.index, e.seq);
        used_note.insert(note_hash, e.seq);
    }
    Ok(entries
        .iter()
        .filter(|e| matches!(e.event, LedgerEvent::Sent { .. }) && !answered.contains_key(&e.seq))
        .map(|e| e.seq)
        .collect())
}

/// What the custody log says about this endpoint's ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchor {
    /// Receipts in the log naming this tenant and endpoint.
    pub receipts: u64,
    /// The highest ledger entry they name, if any.
    pub highest_seq: Option<u64>,
}

/// Checks the verified local `entries` against the custody log's entries
/// (`log_entries`, index order, all of the log): every receipt there signed
/// by the intake key for this tenant and this endpoint names a ledger
/// entry that exists locally and hashes to the head it names. A log that
/// shows a higher sequence number than the local ledger means the ledger
/// was rolled back or removed ([`LedgerError::RolledBack`]); another head,
/// that it was replaced ([`LedgerError::Diverged`]).
pub fn check_anchor<'e>(
    entries: &[Entry],
    log_entries: impl IntoIterator<Item = &'e [u8]>,
    ctx: &ReceiptContext<'_>,
) -> Result<Anchor, LedgerError> {
    use vitrine_statements::Statement;
    let verifiers = Verifiers::from_keys([ctx.intake.clone()]);
    let me = crate::receipt::endpoint_id(ctx.endpoint);
    let mut anchor = Anchor::default();
    let mut worst: Option<LedgerError> = None;
    for (index, data) in (0u64..).zip(log_entries) {
        let Ok((Statement::Receipt(r), _)) = Statement::open(data, &verifiers) else {
            continue;
        };
        if r.endpoint.0 != me || r.tenant.as_str() != ctx.tenant {
            continue;
        }
        anchor.receipts += 1;
        anchor.highest_seq = anchor.highest_seq.max(Some(r.ledger_seq));
        match entries.get(r.ledger_seq as usize) {
            None => {
                // Report the highest position the log shows.
                let higher = match &worst {
                    Some(LedgerError::RolledBack { log_seq, .. }) => r.ledger_seq > *log_seq,
                    _ => true,
                };
                if higher {
                    worst = Some(LedgerError::RolledBack {
                        index,
                        log_seq: r.ledger_seq,
                        size: entries.len() as u64,
                    });
                }
            }
            Some(local) => {
                let local_head = local.hash();
                if local_head != hex::encode(r.ledger_head.0) && worst.is_none() {
                    worst = Some(LedgerError::Diverged {
                        index,
                        log_seq: r.ledger_seq,
                        log_head: hex::encode(r.ledger_head.0),
                        local_head,
                    });
                }
            }
        }
    }
    match worst {
        Some(e) => Err(e),
        None => Ok(anchor),
    }
}

/// [`verify`] against the pinned endpoint key (kept outside the egress
/// state directory): `in_use`, the key found in the state directory, must
/// be `pinned`, so a key made or copied there cannot re-sign a ledger that
/// verifies.
pub fn verify_pinned(
    dir: &Path,
    in_use: &VerifierKey,
    pinned: &VerifierKey,
) -> Result<Vec<Entry>, LedgerError> {
    if in_use.to_string() != pinned.to_string() {
        return Err(LedgerError::NotPinned {
            pinned: pinned.to_string(),
            found: in_use.to_string(),
        });
    }
    verify(dir, pinned)
}
