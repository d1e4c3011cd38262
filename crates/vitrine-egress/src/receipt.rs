//! The intake's answer to a submission: a signed `receipt` statement, its
//! index in the vendor's log and a tlog-proof of its inclusion.

use serde::{Deserialize, Serialize};
use vitrine_note::{Note, VerifierKey, Verifiers};
use vitrine_statements::{Receipt, Statement};
use vitrine_tlog::TlogProof;

use crate::ReceiptError;

/// Largest receipt bundle accepted (JSON text).
pub const MAX_RECEIPT_SIZE: usize = 64 << 10;

/// A receipt as the intake returns it and the ledger stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBundle {
    /// The `receipt` statement as a signed note, exactly as logged.
    pub note: String,
    /// Its index in the vendor's log.
    pub index: u64,
    /// c2sp.org/tlog-proof@v1 of its inclusion.
    pub tlog_proof: String,
}

/// Largest difference, in seconds, between a receipt's time and the time
/// of the ledger entry it answers: the intake answers within one request,
/// so an older (replayed) or later-dated receipt is refused.
pub const RECEIPT_WINDOW: u64 = 300;

/// What a receipt must say to answer one submission: the ledger entry that
/// recorded it, and who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected<'a> {
    /// SHA-256 of the sample.
    pub sample: [u8; 32],
    /// SHA-256 of the policy file.
    pub policy_sha256: [u8; 32],
    /// The tenant's pseudonym (from `destination.toml`).
    pub tenant: &'a str,
    /// [`endpoint_id`] of the endpoint key.
    pub endpoint: [u8; 32],
    /// The submission's nonce.
    pub nonce: [u8; 32],
    /// The `sent` entry's sequence number.
    pub ledger_seq: u64,
    /// The `sent` entry's hash (the ledger head with it).
    pub ledger_head: [u8; 32],
    /// The `sent` entry's time.
    pub time: u64,
}

/// The id a receipt names an endpoint by: SHA-256 of its ledger key's vkey
/// text.
pub fn endpoint_id(key: &VerifierKey) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.to_string().as_bytes()).into()
}

/// What a verified receipt says, and where it is logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The statement.
    pub receipt: Receipt,
    /// Its log index.
    pub index: u64,
    /// Size of the checkpoint it was proven in.
    pub checkpoint_size: u64,
}

impl ReceiptBundle {
    /// Strict parse of the JSON form.
    pub fn parse(data: &[u8]) -> Result<Self, ReceiptError> {
        if data.len() > MAX_RECEIPT_SIZE {
            return Err(ReceiptError::TooLarge { size: data.len() });
        }
        serde_json::from_slice(data).map_err(|e| ReceiptError::Malformed {
            reason: e.to_string(),
        })
    }

    /// Verifies the receipt: signed by the intake key, a `receipt` for
    /// exactly the submission `expected` describes (sample, policy, tenant,
    /// endpoint, nonce, ledger position, time within [`RECEIPT_WINDOW`]),
    /// and included (at its stated index) in a checkpoint signed by the
    /// log key and cosigned by a quorum of `witnesses` (the tlog-policy the
    /// endpoint is configured with).
    pub fn verify(
        &self,
        intake: &VerifierKey,
        log: &VerifierKey,
        witnesses: &vitrine_tlog::Policy,
        expected: &Expected<'_>,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        let sample = &expected.sample;
        let policy_sha256 = &expected.policy_sha256;
        let (statement, _) = Statement::open(
            self.note.as_bytes(),
            &Verifiers::from_keys([intake.clone()]),
        )
        .map_err(|e| ReceiptError::BadStatement {
            reason: e.to_string(),
        })?;
        let Statement::Receipt(receipt) = statement else {
            return Err(ReceiptError::WrongType {
                found: statement.kind().name(),
            });
        };
        if receipt.sample.0 != *sample {
            return Err(ReceiptError::WrongSample {
                expected: hex::encode(sample),
                found: hex::encode(receipt.sample.0),
            });
        }
        if receipt.policy_sha256.0 != *policy_sha256 {
            return Err(ReceiptError::WrongPolicy {
                expected: hex::encode(policy_sha256),
                found: hex::encode(receipt.policy_sha256.0),
            });
        }
        if receipt.tenant.as_str() != expected.tenant {
            return Err(ReceiptError::WrongTenant {
                expected: expected.tenant.to_owned(),
                found: receipt.tenant.as_str().to_owned(),
            });
        }
        if receipt.endpoint.0 != expected.endpoint {
            return Err(ReceiptError::WrongEndpoint {
                expected: hex::encode(expected.endpoint),
                found: hex::encode(receipt.endpoint.0),
            });
        }
        if receipt.nonce.0 != expected.nonce {
            return Err(ReceiptError::WrongNonce {
                expected: hex::encode(expected.nonce),
                found: hex::encode(receipt.nonce.0),
            });
        }
        if receipt.ledger_seq != expected.ledger_seq
            || receipt.ledger_head.0 != expected.ledger_head
        {
            return Err(ReceiptError::WrongLedgerPosition {
                expected_seq: expected.ledger_seq,
                expected_head: hex::encode(expected.ledger_head),
                found_seq: receipt.ledger_seq,
                found_head: hex::encode(receipt.ledger_head.0),
            });
        }
        if receipt.time.abs_diff(expected.time) > RECEIPT_WINDOW {
            return Err(ReceiptError::Stale {
                receipt_time: receipt.time,
                sent_time: expected.time,
                window: RECEIPT_WINDOW,
            });
        }
        let proof = TlogProof::parse(self.tlog_proof.as_bytes()).map_err(|e| {
            ReceiptError::NotIncluded {
                reason: format!("malformed tlog-proof: {e}"),
            }
        })?;
        if proof.index() != self.index {
            return Err(ReceiptError::NotIncluded {
                reason: format!(
                    "the proof is for index {}, the receipt says {}",
                    proof.index(),
                    self.index
                ),
            });
        }
        // The note bytes are the log entry; Note::parse proves they are one.
        Note::parse(self.note.as_bytes()).map_err(|e| ReceiptError::BadStatement {
            reason: e.to_string(),
        })?;
        let leaf = vitrine_tlog::leaf_hash(self.note.as_bytes());
        let verified = proof
            .verify(&leaf, log, &witnesses.witness_verifiers())
            .map_err(|e| ReceiptError::NotIncluded {
                reason: e.to_string(),
            })?;
        witnesses
            .require_quorum(&verified.cosignatures)
            .map_err(|cosigned| ReceiptError::QuorumNotMet {
                size: verified.checkpoint.size,
                cosigned,
            })?;
        Ok(VerifiedReceipt {
            receipt,
            index: self.index,
            checkpoint_size: verified.checkpoint.size,
        })
    }
}
