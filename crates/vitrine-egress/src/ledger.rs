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

/// Checks every receipt in verified `entries`: it answers an earlier `sent`
/// entry, is signed by the intake key, names the same sample and policy,
/// and is included in the vendor's log under a checkpoint signed by the
/// log key. Returns the `sent` entries that have no receipt (yet).
pub fn verify_receipts(
    entries: &[Entry],
    intake: &VerifierKey,
    log: &VerifierKey,
) -> Result<Vec<u64>, LedgerError> {
    let mut answered = std::collections::BTreeSet::new();
    for e in entries {
        let LedgerEvent::Receipt { of, receipt } = &e.event else {
            continue;
        };
        let sent = entries
            .get(*of as usize)
            .filter(|s| s.seq < e.seq)
            .and_then(|s| match &s.event {
                LedgerEvent::Sent {
                    metadata,
                    policy_sha256,
                    ..
                } => Some((metadata, policy_sha256)),
                _ => None,
            })
            .ok_or(LedgerError::DanglingReceipt {
                seq: e.seq,
                of: *of,
            })?;
        let hash32 = |s: &str| -> Result<[u8; 32], LedgerError> {
            hex::decode(s)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| LedgerError::Receipt {
                    seq: e.seq,
                    source: ReceiptError::Malformed {
                        reason: "the sent entry's hashes are not SHA-256 hex".into(),
                    },
                })
        };
        let sample = hash32(&sent.0.sha256)?;
        let policy = hash32(sent.1)?;
        receipt
            .verify(intake, log, &sample, &policy)
            .map_err(|source| LedgerError::Receipt { seq: e.seq, source })?;
        answered.insert(*of);
    }
    Ok(entries
        .iter()
        .filter(|e| matches!(e.event, LedgerEvent::Sent { .. }) && !answered.contains(&e.seq))
        .map(|e| e.seq)
        .collect())
}
