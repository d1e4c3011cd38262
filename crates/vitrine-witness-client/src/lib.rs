//! The log side of [C2SP tlog-witness](https://c2sp.org/tlog-witness@v1.0.0):
//! send each new checkpoint to every witness of a
//! [tlog-policy](https://c2sp.org/tlog-policy) concurrently, collect their
//! cosignatures, and decide by the policy's quorum whether the checkpoint
//! may be published.
//!
//! # What's in scope / out of scope
//!
//! In scope: the add-checkpoint exchange (consistency proof from the size
//! each witness last cosigned, resend after a 409 from the size it reports),
//! verifying each returned cosignature against the witness key in the
//! policy, per-witness timeouts, the quorum decision, and [`LogWitnesses`],
//! the [`vitrine_log::Cosigner`] hook that plugs all of this into the
//! sequencer. Out of scope: the witness itself (`vitrine-witness`) and its
//! HTTP server (`vitrine-server::witness`).
//!
//! # Main types
//!
//! [`WitnessClient`] (async, [`WitnessClient::cosign`]), [`LogWitnesses`]
//! (the blocking hook), [`Cosigned`], and [`ClientError`] with each
//! witness's outcome in [`WitnessFailure`].
//!
//! # Timing
//!
//! Every witness is asked at once and each exchange (including resends) is
//! bounded by the client timeout, so a witness that is down costs at most
//! that timeout and never blocks the others.
//!
//! # Caveat for the log
//!
//! Once any witness has cosigned a checkpoint, that witness will refuse
//! every other tree of that size. A log that fails a batch because the
//! quorum was not met must therefore retry *the same checkpoint* later,
//! never re-sequence different entries at that size. `vitrine_log::Log`
//! does: it records each checkpoint as signed before calling the hook and
//! publishes exactly that one before sequencing anything else.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vitrine_note::{Note, Signature, VerifierKey, Verifiers};
use vitrine_tlog::{
    consistency_proof, parse_add_checkpoint_response, parse_tree_size, AddCheckpointRequest,
    Checkpoint, Hash, Policy, TileHashReader, TilePath,
};

/// Default per-witness timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Most resends to one witness for one checkpoint after a 409.
const MAX_RESENDS: usize = 3;

/// Most response bytes read from a witness.
const MAX_RESPONSE: usize = 64 << 10;

/// Computes RFC 6962 consistency proofs `(old, new)` for the log's tree.
pub type ProofSource = dyn Fn(u64, u64) -> Result<Vec<Hash>, String> + Send + Sync;

/// Why one witness did not cosign. The security outcomes are
/// [`WitnessFailure::Fork`] and [`WitnessFailure::Ahead`]: the witness holds
/// a different view of this log, which an honest log never causes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessFailure {
    /// No answer within the timeout.
    #[error("{witness}: timed out")]
    Timeout {
        /// Policy name of the witness.
        witness: String,
    },
    /// Connection or transfer failure.
    #[error("{witness}: unreachable: {reason}")]
    Unreachable {
        /// Policy name of the witness.
        witness: String,
        /// The transport error.
        reason: String,
    },
    /// An HTTP status other than 200 and 409; `body` has its control
    /// characters escaped.
    #[error("{witness}: HTTP {status}: {body}")]
    Status {
        /// Policy name of the witness.
        witness: String,
        /// The status code.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// A 200 without a valid cosignature from the witness's key, or an
    /// unparsable 409 body.
    #[error("{witness}: bad response: {reason}")]
    BadResponse {
        /// Policy name of the witness.
        witness: String,
        /// What is wrong.
        reason: String,
    },
    /// The witness cosigned a different tree of the size we sent from (409
    /// at our own size): the log forked, or the witness is lying.
    #[error("{witness}: holds a different checkpoint of size {size}")]
    Fork {
        /// Policy name of the witness.
        witness: String,
        /// The size both claim.
        size: u64,
    },
    /// The witness cosigned a size larger than the checkpoint offered.
    #[error("{witness}: has cosigned size {size}, beyond this checkpoint")]
    Ahead {
        /// Policy name of the witness.
        witness: String,
        /// The size it reports.
        size: u64,
    },
    /// The log could not produce the consistency proof.
    #[error("{witness}: no consistency proof from {old}: {reason}")]
    ProofUnavailable {
        /// Policy name of the witness.
        witness: String,
        /// The witness's size.
        old: u64,
        /// Why.
        reason: String,
    },
    /// Still 409 after several resends.
    #[error("{witness}: too many conflicts")]
    TooManyConflicts {
        /// Policy name of the witness.
        witness: String,
    },
}

/// A [`WitnessClient`] failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A policy witness has no URL to reach it at.
    #[error("witness {witness} has no URL in the policy")]
    MissingUrl {
        /// Policy name of the witness.
        witness: String,
    },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[source] reqwest::Error),
    /// The background runtime of [`LogWitnesses`] could not start.
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The note is not a checkpoint.
    #[error("not a checkpoint: {0}")]
    NotCheckpoint(#[source] vitrine_tlog::Error),
    /// Too few witnesses cosigned for the policy's quorum.
    #[error("witness quorum not met: cosigned by {cosigned:?}; {}", failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    QuorumNotMet {
        /// Policy names of the witnesses that cosigned.
        cosigned: BTreeSet<String>,
        /// What happened with the others.
        failures: Vec<WitnessFailure>,
    },
}

/// The outcome of a successful [`WitnessClient::cosign`].
#[derive(Debug, Clone)]
pub struct Cosigned {
    /// Verified cosignatures, to append to the checkpoint note.
    pub signatures: Vec<Signature>,
    /// Policy names of the witnesses that cosigned.
    pub witnesses: BTreeSet<String>,
    /// Witnesses that did not (the quorum was met without them).
    pub failures: Vec<WitnessFailure>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    name: String,
    key: VerifierKey,
    url: String,
}

/// Gathers cosignatures from the witnesses of a policy.
///
/// It remembers, per witness, the size it last cosigned or reported, and
/// sends the next checkpoint from there.
#[derive(Debug)]
pub struct WitnessClient {
    policy: Policy,
    endpoints: Vec<Endpoint>,
    http: reqwest::Client,
    timeout: Duration,
    known: Mutex<HashMap<String, u64>>,
}

impl WitnessClient {
    /// A client for every witness of `policy` (each must have a URL, its
    /// submission prefix) with a per-witness `timeout`.
    pub fn new(policy: Policy, timeout: Duration) -> Result<Self, ClientError> {
        let endpoints = policy
            .witnesses()
            .iter()
            .map(|w| {
                let url = w.url.clone().ok_or_else(|| ClientError::MissingUrl {
                    witness: w.name.clone(),
                })?;
                Ok(Endpoint {
                    name: w.name.clone(),
                    key: w.key.clone(),
                    url: url.trim_end_matches('/').to_owned(),
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(ClientError::Http)?;
        Ok(WitnessClient {
            policy,
            endpoints,
            http,
            timeout,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The size `witness` (policy name) last cosigned or reported, if known.
    pub fn known_size(&self, witness: &str) -> Option<u64> {
        self.known_sizes().get(witness).copied()
    }

    fn known_sizes(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the log-signed checkpoint `note` to every witness at once,
    /// each from the size it last cosigned (`default_old` for a witness not
    /// heard from yet, usually the previously published size), with
    /// consistency proofs from `proofs`. Succeeds if the cosignatures meet
    /// the policy's quorum.
    pub async fn cosign(
        self: &Arc<Self>,
        note: &Note,
        default_old: u64,
        proofs: Arc<ProofSource>,
    ) -> Result<Cosigned, ClientError> {
        let checkpoint = Checkpoint::parse(note.text()).map_err(ClientError::NotCheckpoint)?;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, _) in self.endpoints.iter().enumerate() {
            let (this, note, proofs) = (self.clone(), note.clone(), proofs.clone());
            let size = checkpoint.size;
            tasks.spawn(async move {
                let ep = &this.endpoints[i];
                let old = this.known_size(&ep.name).unwrap_or(default_old);
                let out =
                    tokio::time::timeout(this.timeout, this.submit(ep, &note, size, old, &*proofs))
                        .await
                        .unwrap_or_else(|_| {
                            Err(WitnessFailure::Timeout {
                                witness: ep.name.clone(),
                            })
                        });
                (i, out)
            });
        }
        let mut signatures = Vec::new();
        let mut witnesses = BTreeSet::new();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, Ok(sigs))) => {
                    witnesses.insert(self.endpoints[i].name.clone());
                    signatures.extend(sigs);
                }
                Ok((_, Err(f))) => failures.push(f),
                Err(err) => tracing::error!(%err, "witness task failed"),
            }
        }
        for f in &failures {
            tracing::warn!(failure = %f, "witness did not cosign");
        }
        if !self.policy.check_quorum(&witnesses) {
            return Err(ClientError::QuorumNotMet {
                cosigned: witnesses,
                failures,
            });
        }
        Ok(Cosigned {
            signatures,
            witnesses,
            failures,
        })
    }

    async fn submit(
        &self,
        ep: &Endpoint,
        note: &Note,
        size: u64,
        mut old: u64,
        proofs: &ProofSource,
    ) -> Result<Vec<Signature>, WitnessFailure> {
        let witness = || ep.name.clone();
        for _ in 0..=MAX_RESENDS {
            if old > size {
                return Err(WitnessFailure::Ahead {
                    witness: witness(),
                    size: old,
                });
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                proofs(old, size).map_err(|reason| WitnessFailure::ProofUnavailable {
                    witness: witness(),
                    old,
                    reason,
                })?
            };
            let body = AddCheckpointRequest::new(old, proof, note.clone())
                .map_err(|e| WitnessFailure::ProofUnavailable {
                    witness: witness(),
                    old,
                    reason: e.to_string(),
                })?
                .to_bytes();
            let unreachable = |e: reqwest::Error| WitnessFailure::Unreachable {
                witness: witness(),
                reason: e.to_string(),
            };
            let resp = self
                .http
                .post(format!("{}/add-checkpoint", ep.url))
                .body(body)
                .send()
                .await
                .map_err(unreachable)?;
            let status = resp.status().as_u16();
            let bytes = read_limited(resp).await.map_err(unreachable)?;
            match status {
                200 => {
                    let sigs = self.verify_response(ep, note, &bytes)?;
                    self.known_sizes().insert(ep.name.clone(), size);
                    return Ok(sigs);
                }
                409 => {
                    let current =
                        parse_tree_size(&bytes).map_err(|e| WitnessFailure::BadResponse {
                            witness: witness(),
                            reason: format!("409 body: {e}"),
                        })?;
                    self.known_sizes().insert(ep.name.clone(), current);
                    if current == old {
                        // Our old size was right, so the root differed.
                        return Err(WitnessFailure::Fork {
                            witness: witness(),
                            size: current,
                        });
                    }
                    old = current;
                }
                _ => {
                    return Err(WitnessFailure::Status {
                        witness: witness(),
                        status,
                        body: printable(&bytes[..bytes.len().min(200)]),
                    })
                }
            }
        }
        Err(WitnessFailure::TooManyConflicts { witness: witness() })
    }

    /// Keeps the response lines that are valid cosignatures by the
    /// witness's key; unknown lines are ignored (tlog-witness), none valid
    /// is a failure.
    fn verify_response(
        &self,
        ep: &Endpoint,
        note: &Note,
        body: &[u8],
    ) -> Result<Vec<Signature>, WitnessFailure> {
        let bad = |reason: String| WitnessFailure::BadResponse {
            witness: ep.name.clone(),
            reason,
        };
        let sigs = parse_add_checkpoint_response(body).map_err(|e| bad(e.to_string()))?;
        let verifiers = Verifiers::from_keys([ep.key.clone()]);
        let mine: Vec<Signature> = sigs
            .into_iter()
            .filter(|s| verifiers.get(s.name(), s.key_id()).is_some())
            .collect();
        let mut check = Note::new(note.text()).map_err(|e| bad(e.to_string()))?;
        for s in &mine {
            check.add_signature(s.clone());
        }
        check
            .verify(&verifiers)
            .map_err(|e| bad(format!("cosignature: {e}")))?;
        Ok(mine)
    }
}

/// A witness's bytes made safe for logs and terminals: control characters
/// (escape sequences, CR, BEL, ...) escaped, never kept raw.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end()
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_RESPONSE.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(out)
}

/// Consistency proofs from a [`vitrine_log::Storage`]'s tiles. The
/// sequencer writes a batch's tiles before it asks for cosignatures, so
/// every size up to the new checkpoint is available.
pub fn storage_proofs(storage: Arc<dyn vitrine_log::Storage>) -> Arc<ProofSource> {
    Arc::new(move |old: u64, new: u64| {
        let reader = TileHashReader::new(new, |path: &TilePath| {
            storage
                .read_tile(path)
                .ok()
                .flatten()
                .ok_or(vitrine_tlog::Error::TileUnavailable {
                    path: path.to_string(),
                })
        });
        consistency_proof(&reader, old, new).map_err(|e| e.to_string())
    })
}

/// The [`vitrine_log::Cosigner`] hook: asks the witnesses of a policy to
/// cosign each checkpoint before the sequencer publishes it, and fails the
/// batch if the quorum is not met.
///
/// It runs its own small tokio runtime, so the sequencer thread can block
/// on it; do not call [`vitrine_log::Cosigner::cosign`] from inside an
/// async runtime.
pub struct LogWitnesses {
    client: Arc<WitnessClient>,
    proofs: Arc<ProofSource>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for LogWitnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWitnesses")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl LogWitnesses {
    /// A hook for `client`, with proofs from the log's `storage`.
    pub fn new(
        client: WitnessClient,
        storage: Arc<dyn vitrine_log::Storage>,
    ) -> Result<Self, ClientError> {
        Self::with_proofs(client, storage_proofs(storage))
    }

    /// A hook with any proof source.
    pub fn with_proofs(
        client: WitnessClient,
        proofs: Arc<ProofSource>,
    ) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vitrine-witness-client")
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        Ok(LogWitnesses {
            client: Arc::new(client),
            proofs,
            runtime: Some(runtime),
        })
    }

    /// The client (for its per-witness sizes).
    pub fn client(&self) -> &Arc<WitnessClient> {
        &self.client
    }
}

impl Drop for LogWitnesses {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; this does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl vitrine_log::Cosigner for LogWitnesses {
    fn cosign(
        &self,
        request: &vitrine_log::CosignRequest<'_>,
    ) -> Result<Vec<Signature>, vitrine_log::CosignError> {
        let rt = self
            .runtime
            .as_ref()
            .expect("invariant: the runtime lives until drop");
        let client = self.client.clone();
        rt.block_on(client.cosign(request.new, request.old_size, self.proofs.clone()))
            .map(|c| c.signatures)
            .map_err(|e| vitrine_log::CosignError {
                reason: e.to_string(),
            })
    }
}
