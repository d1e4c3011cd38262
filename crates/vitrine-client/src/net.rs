//! HTTP: fetching an update from a log (tlog-tiles read API plus
//! `/content/sha256/`) and publishing one. Blocking; every response is read
//! no further than its limit.

use std::io::Read;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vitrine_note::{Note, SignerKey, Verifiers};
use vitrine_statements::Statement;
use vitrine_tlog::{
    bundle_for_leaf, consistency_proof, decode_entry_bundle, inclusion_proof, open_checkpoint,
    OpenedCheckpoint, TileHashReader, TilePath, TlogProof,
};

use crate::{verify_update, EndpointState, FetchError, Rejection, TrustPolicy, UpdateError};
use crate::{UpdateInput, VerifiedUpdate};

/// Largest tile or entry bundle read (a full entry bundle of 256 entries of
/// at most 65,535 bytes each, plus length prefixes).
const MAX_TILE: usize = 256 * (65_535 + 2);

/// Options of [`fetch_update`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Take this log index instead of searching for the newest `rules`
    /// statement.
    pub index: Option<u64>,
    /// How many entry bundles to walk back when searching.
    pub max_entry_bundles: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30),
            index: None,
            max_entry_bundles: 64,
        }
    }
}

/// Options of [`publish`].
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// How long to wait for a quorum-cosigned checkpoint covering the entry.
    pub wait: Duration,
    /// Pause between polls of `/checkpoint`.
    pub poll: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            timeout: Duration::from_secs(30),
            wait: Duration::from_secs(60),
            poll: Duration::from_millis(200),
        }
    }
}

struct Http {
    client: reqwest::blocking::Client,
    base: String,
}

impl Http {
    fn new(base: &str, timeout: Duration) -> Result<Self, FetchError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|source| FetchError::Http {
                url: base.to_owned(),
                source,
            })?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path)
    }

    fn send(
        &self,
        url: &str,
        req: reqwest::blocking::RequestBuilder,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let resp = req.send().map_err(|source| FetchError::Http {
            url: url.to_owned(),
            source,
        })?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| FetchError::Log {
                reason: format!("{url}: {e}"),
            })?;
        if body.len() > limit {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit: limit as u64,
            });
        }
        Ok((status, body))
    }

    fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let url = self.url(path);
        let (status, body) = self.send(&url, self.client.get(&url), limit)?;
        ok(&url, status, body)
    }
}

fn ok(url: &str, status: u16, body: Vec<u8>) -> Result<Vec<u8>, FetchError> {
    if !(200..300).contains(&status) {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        });
    }
    Ok(body)
}

fn log_err(e: impl std::fmt::Display) -> FetchError {
    FetchError::Log {
        reason: e.to_string(),
    }
}

/// Fetches `/checkpoint` and opens it with the policy (log key, witness
/// cosignatures, quorum).
fn fetch_checkpoint(
    http: &Http,
    policy: &TrustPolicy,
) -> Result<(OpenedCheckpoint, bool), FetchError> {
    let bytes = http.get("checkpoint", policy.limits().checkpoint)?;
    let note = Note::parse(&bytes).map_err(log_err)?;
    let cp = vitrine_tlog::Checkpoint::parse(note.text()).map_err(log_err)?;
    let log = policy.tlog().log_for_origin(&cp.origin).ok_or_else(|| {
        FetchError::Checkpoint(Rejection::UnknownLog {
            origin: cp.origin.clone(),
        })
    })?;
    let opened =
        open_checkpoint(&bytes, &log.key, &policy.tlog().witness_verifiers()).map_err(|_| {
            FetchError::Checkpoint(Rejection::BadLogSignature {
                origin: cp.origin.clone(),
            })
        })?;
    let names = policy.tlog().witness_names_for(&opened.cosignatures);
    let quorum = policy.tlog().check_quorum(&names);
    Ok((opened, quorum))
}

fn tile_reader(
    http: &Http,
    size: u64,
) -> TileHashReader<impl Fn(&TilePath) -> Result<Vec<u8>, vitrine_tlog::Error> + '_> {
    TileHashReader::new(size, move |path: &TilePath| {
        http.get(&path.to_string(), MAX_TILE)
            .map_err(|_| vitrine_tlog::Error::TileUnavailable {
                path: path.to_string(),
            })
    })
}

/// Fetches the newest `rules` statement signed by a policy publisher from
/// the log at `log_url`, builds its inclusion proof and the consistency
/// proof from the stored checkpoint out of the log's tiles, downloads the
/// bundle (never more than the limit) and runs [`verify_update`].
///
/// Tiles are not trusted: every proof built from them is verified against
/// the signed checkpoints.
pub fn fetch_update(
    policy: &TrustPolicy,
    state: &EndpointState,
    log_url: &str,
    now: u64,
    opts: &FetchOptions,
) -> Result<VerifiedUpdate, UpdateError> {
    let http = Http::new(log_url, opts.timeout)?;
    let (opened, _) = fetch_checkpoint(&http, policy)?;
    let size = opened.checkpoint.size;
    let publishers = policy.publisher_verifiers();
    let (index, statement) = match opts.index {
        Some(i) => (i, fetch_entry(&http, size, i)?),
        None => find_newest_rules(&http, size, &publishers, opts.max_entry_bundles)?,
    };
    let reader = tile_reader(&http, size);
    let proof = inclusion_proof(&reader, index, size).map_err(log_err)?;
    let origin = opened.checkpoint.origin.clone();
    let consistency = match state.stored_checkpoint(&origin)? {
        Some(old) if old.size < size => {
            consistency_proof(&reader, old.size, size).map_err(log_err)?
        }
        _ => Vec::new(),
    };
    let tlog_proof = TlogProof::new(None, index, proof, opened.note)
        .map_err(log_err)?
        .to_bytes();
    let bundle = match Statement::parse(Note::parse(&statement).map_err(log_err)?.text().as_bytes())
    {
        Ok(Statement::Rules(r)) => http.get(
            &format!("content/sha256/{}", hex::encode(r.sha256.0)),
            policy.limits().bundle,
        )?,
        _ => Vec::new(), // verify_update names the problem
    };
    verify_update(
        policy,
        state,
        now,
        UpdateInput {
            bundle,
            statement,
            tlog_proof,
            consistency_proof: consistency,
            reviews: Vec::new(),
        },
    )
}

fn fetch_entries(http: &Http, size: u64, leaf: u64) -> Result<(u64, Vec<Vec<u8>>), FetchError> {
    let path = bundle_for_leaf(size, leaf).ok_or_else(|| log_err("index past the tree"))?;
    let data = http.get(&path.to_string(), MAX_TILE)?;
    let entries = decode_entry_bundle(&data).map_err(log_err)?;
    if entries.len() != usize::from(path.width()) {
        return Err(log_err("entry bundle width mismatch"));
    }
    Ok((path.index() * 256, entries))
}

fn fetch_entry(http: &Http, size: u64, index: u64) -> Result<Vec<u8>, FetchError> {
    let (first, mut entries) = fetch_entries(http, size, index)?;
    let i = usize::try_from(index - first).map_err(log_err)?;
    Ok(entries.swap_remove(i))
}

fn find_newest_rules(
    http: &Http,
    size: u64,
    publishers: &Verifiers,
    max_bundles: u64,
) -> Result<(u64, Vec<u8>), FetchError> {
    if size == 0 {
        return Err(log_err("the log is empty"));
    }
    let mut leaf = size - 1;
    for _ in 0..max_bundles {
        let (first, entries) = fetch_entries(http, size, leaf)?;
        for (i, e) in entries.into_iter().enumerate().rev() {
            if let Ok((Statement::Rules(_), _)) = Statement::open(&e, publishers) {
                return Ok((first + i as u64, e));
            }
        }
        if first == 0 {
            break;
        }
        leaf = first - 1;
    }
    Err(log_err("no rules statement by a policy publisher found"))
}

/// Publishes a bundle: uploads it to the content store (signed `PUT`),
/// submits the statement to `/add`, polls `/checkpoint` until one covering
/// the entry has a witness quorum per `policy`, and returns the tlog-proof
/// (index, inclusion proof, the cosigned checkpoint verbatim).
pub fn publish(
    policy: &TrustPolicy,
    log_url: &str,
    publisher: &SignerKey,
    bundle: &[u8],
    statement: &[u8],
    opts: &PublishOptions,
) -> Result<Vec<u8>, UpdateError> {
    let http = Http::new(log_url, opts.timeout)?;
    let hex = hex::encode(Sha256::digest(bundle));
    let sig = publisher
        .sign(&format!("vitrine-content-put\n{hex}\n"))
        .map_err(log_err)?;
    let line = sig.to_line();
    let header = line.trim_start_matches('\u{2014}').trim().to_owned();
    let url = http.url(&format!("content/sha256/{hex}"));
    let (status, body) = http.send(
        &url,
        http.client
            .put(&url)
            .header("Vitrine-Signature", header)
            .body(bundle.to_vec()),
        4096,
    )?;
    ok(&url, status, body)?;

    let url = http.url("add");
    let (status, body) = http.send(&url, http.client.post(&url).body(statement.to_vec()), 64)?;
    let body = ok(&url, status, body)?;
    let index: u64 = std::str::from_utf8(&body)
        .ok()
        .and_then(|s| s.trim_end().parse().ok())
        .ok_or_else(|| log_err("/add answered no index"))?;

    let start = Instant::now();
    loop {
        let (opened, quorum) = fetch_checkpoint(&http, policy)?;
        if quorum && opened.checkpoint.size > index {
            let size = opened.checkpoint.size;
            let proof = inclusion_proof(&tile_reader(&http, size), index, size).map_err(log_err)?;
            let tlog_proof = TlogProof::new(None, index, proof, opened.note).map_err(log_err)?;
            // Check our own work before handing it out.
            tlog_proof
                .verify(
                    &vitrine_tlog::leaf_hash(statement),
                    &opened.log_signature.key().clone(),
                    &policy.tlog().witness_verifiers(),
                )
                .map_err(log_err)?;
            return Ok(tlog_proof.to_bytes());
        }
        if start.elapsed() >= opts.wait {
            return Err(FetchError::Timeout {
                index,
                waited_ms: start.elapsed().as_millis() as u64,
            }
            .into());
        }
        std::thread::sleep(opts.poll);
    }
}
