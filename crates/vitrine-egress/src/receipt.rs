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
    /// `sample` under `policy_sha256`, and included (at its stated index)
    /// in a checkpoint signed by the log key.
    pub fn verify(
        &self,
        intake: &VerifierKey,
        log: &VerifierKey,
        sample: &[u8; 32],
        policy_sha256: &[u8; 32],
    ) -> Result<VerifiedReceipt, ReceiptError> {
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
        let verified =
            proof
                .verify(&leaf, log, &Verifiers::new())
                .map_err(|e| ReceiptError::NotIncluded {
                    reason: e.to_string(),
                })?;
        Ok(VerifiedReceipt {
            receipt,
            index: self.index,
            checkpoint_size: verified.checkpoint.size,
        })
    }
}
