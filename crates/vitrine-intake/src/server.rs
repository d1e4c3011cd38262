//! The intake's HTTP API (axum). Every answer is JSON; every error is
//! `{"error": {"code": "...", "message": "..."}}` with a 4xx status for a
//! bad request, and a bad request stores nothing.
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/submissions` | a submission (see [`Submission`]); answers 201 with the signed receipt, its log index and inclusion proof |
//! | `GET /v1/submissions` | the calling tenant's submissions (never content) |
//! | `GET /v1/submissions/<sha256>` | one of them; 404 for anything else, including other tenants' |
//! | `GET /v1/audit` | the calling tenant's receipts, accesses and deletions |
//! | `GET /metrics` | the intake's metrics, OpenMetrics text ([`IntakeMetrics`]); no tenant data, no token needed |
//!
//! Every `/v1` route needs `Authorization: Bearer <tenant token>`, checked (with
//! the tenant's rate and its concurrent requests, at most
//! [`DEFAULT_TENANT_CONCURRENCY`] by default) before any body is read: a
//! wrong token is refused at once, whatever it sends after its headers.
//! [`serve_with`] adds the timeouts and the connection cap of
//! [`vitrine_server::harden`]. Content that
//! is a document, or an archive holding one, is refused (422) whatever the
//! endpoint's policy allowed: the intake never stores documents.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use vitrine_egress::{Metadata, ReceiptBundle};
use vitrine_note::SignerKey;
use vitrine_statements::{Receipt, Sha256 as StSha, Statement, Token};

use crate::metrics::{Call, Outcome};
use crate::store::{IntakeStore, NewSample};
use crate::{Config, IntakeMetrics, LogClient, Store, Tenant, Vault};
use vitrine_server::harden::Limits;

/// Most detection names in one submission.
pub const MAX_DETECTIONS: usize = 256;
/// Longest detection name, kind or path in a submission.
pub const MAX_FIELD: usize = 4096;
/// Default most requests of one tenant served at once.
pub const DEFAULT_TENANT_CONCURRENCY: usize = 8;

/// A submission: the metadata that left the endpoint, under which policy,
/// and the content if the endpoint's policy let it leave.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The endpoint's egress policy id.
    pub policy_id: String,
    /// SHA-256 of the endpoint's policy file, hex.
    pub policy_sha256: String,
    /// The metadata.
    pub metadata: Metadata,
    /// The content, base64, if allowed to leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The endpoint that sent it: SHA-256 of its ledger key's vkey text,
    /// hex (`vitrine_egress::endpoint_id`). The receipt names it.
    pub endpoint: String,
    /// 64 random hex digits the endpoint made for this submission and
    /// recorded in its ledger; the receipt names it.
    pub nonce: String,
    /// The sequence number of the endpoint's ledger entry recording this
    /// submission; the receipt names it (and so anchors the ledger).
    pub ledger_seq: u64,
    /// The endpoint's ledger head with that entry (hex SHA-256 of the
    /// entry's JSON); the receipt names it.
    pub ledger_head: String,
}

/// The answer to a submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionAnswer {
    /// The sample's SHA-256, hex.
    pub sha256: String,
    /// Whether content was stored.
    pub content_stored: bool,
    /// The signed receipt, its index and proof.
    pub receipt: ReceiptBundle,
}

/// The intake's state.
pub struct Intake {
    store: Arc<dyn IntakeStore>,
    metrics: IntakeMetrics,
    config: Config,
    key: SignerKey,
    rate: Mutex<HashMap<String, (u64, u32)>>,
    tenant_concurrency: usize,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Intake {
    /// The intake over a store.
    pub fn new(store: Arc<dyn IntakeStore>, config: Config, key: SignerKey) -> Self {
        Intake {
            store,
            metrics: IntakeMetrics::default(),
            config,
            key,
            rate: Mutex::new(HashMap::new()),
            tenant_concurrency: DEFAULT_TENANT_CONCURRENCY,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// At most `n` requests of one tenant are served at once; more are
    /// refused (429) before their body is read.
    pub fn tenant_concurrency(mut self, n: usize) -> Self {
        self.tenant_concurrency = n.max(1);
        self
    }

    fn slots(&self, tenant: &str) -> Arc<Semaphore> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.tenant_concurrency)))
            .clone()
    }

    /// The store.
    pub fn store(&self) -> &dyn IntakeStore {
        &*self.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &IntakeMetrics {
        &self.metrics
    }

    /// A vault over this intake's store and configuration, counting its
    /// custody-log calls and deletions in this intake's metrics.
    pub fn vault(&self) -> Result<Vault<'_>, crate::VaultError> {
        Ok(Vault::new(self.store(), &self.config, &self.key)?.metrics(&self.metrics))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The intake's signing key.
    pub fn key(&self) -> &SignerKey {
        &self.key
    }

    fn allow(&self, tenant: &Tenant, now: u64) -> bool {
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let minute = now / 60;
        let slot = rate.entry(tenant.id.clone()).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        if slot.1 >= tenant.rate_per_minute {
            return false;
        }
        slot.1 += 1;
        true
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "intake failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

type Shared = Arc<Intake>;

/// The router.
pub fn router(intake: Shared) -> Router {
    let limit = intake.config.max_request;
    Router::new()
        .route(
            "/v1/submissions",
            get(list).post(submit).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/v1/submissions/{sha256}", get(show))
        .route("/v1/audit", get(audit))
        .route_layer(axum::middleware::from_fn_with_state(
            intake.clone(),
            authenticate,
        ))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(intake)
}

/// Before any handler (so before any body is read): the tenant's token,
/// its rate, and a slot among its concurrent requests. The handler finds
/// the [`Tenant`] in the request's extensions.
async fn authenticate(
    State(intake): State<Shared>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let t = tenant(&intake, req.headers())?.clone();
    let Ok(slot) = intake.slots(&t.id).try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_concurrent",
            format!(
                "more than {} requests of this tenant at once",
                intake.tenant_concurrency
            ),
        ));
    };
    req.extensions_mut().insert(t);
    let resp = next.run(req).await;
    drop(slot);
    Ok(resp)
}

fn tenant<'a>(intake: &'a Intake, headers: &HeaderMap) -> Result<&'a Tenant, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing Authorization: Bearer <tenant token>"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Authorization must be 'Bearer <tenant token>'"))?;
    let t = intake
        .config
        .tenant_for_token(token)
        .ok_or_else(|| unauthorized("unknown tenant token"))?;
    if !intake.allow(t, now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("more than {} requests this minute", t.rate_per_minute),
        ));
    }
    Ok(t)
}

fn hash32(field: &str, s: &str) -> Result<[u8; 32], ApiError> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::bad(format!(
            "{field}: must be 64 lowercase hex digits"
        )));
    }
    let v = hex::decode(s).map_err(|_| ApiError::bad(format!("{field}: not hex")))?;
    <[u8; 32]>::try_from(v).map_err(|_| ApiError::bad(format!("{field}: not 32 bytes")))
}

/// Validated submission.
struct Checked {
    sha: [u8; 32],
    policy_sha: [u8; 32],
    endpoint: [u8; 32],
    nonce: [u8; 32],
    ledger_head: [u8; 32],
    content: Option<Vec<u8>>,
    metadata_json: String,
}

fn check(sub: &Submission) -> Result<Checked, ApiError> {
    Token::new(sub.policy_id.clone()).map_err(|e| ApiError::bad(format!("policy_id: {e}")))?;
    let policy_sha = hash32("policy_sha256", &sub.policy_sha256)?;
    let m = &sub.metadata;
    let sha = hash32("metadata.sha256", &m.sha256)?;
    let endpoint = hash32("endpoint", &sub.endpoint)?;
    let nonce = hash32("nonce", &sub.nonce)?;
    let ledger_head = hash32("ledger_head", &sub.ledger_head)?;
    if m.detections.len() > MAX_DETECTIONS {
        return Err(ApiError::bad(format!(
            "metadata.detections: more than {MAX_DETECTIONS}"
        )));
    }
    let long = |s: &str| s.len() > MAX_FIELD;
    if m.detections.iter().any(|d| d.is_empty() || long(d)) {
        return Err(ApiError::bad(
            "metadata.detections: names must be 1-4096 bytes",
        ));
    }
    if m.kind.is_empty() || long(&m.kind) {
        return Err(ApiError::bad("metadata.kind: must be 1-4096 bytes"));
    }
    if m.path.as_deref().is_some_and(long) {
        return Err(ApiError::bad("metadata.path: longer than 4096 bytes"));
    }
    let content = match &sub.content {
        None => None,
        Some(b64) => {
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| ApiError::bad("content: not base64"))?;
            if data.len() as u64 != m.size {
                return Err(ApiError::bad(format!(
                    "content: {} bytes, metadata.size says {}",
                    data.len(),
                    m.size
                )));
            }
            if <[u8; 32]>::from(Sha256::digest(&data)) != sha {
                return Err(ApiError::bad("content: does not hash to metadata.sha256"));
            }
            // Defence in depth: whatever an endpoint's policy said, the
            // intake never stores a document or an archive holding one.
            let facts = vitrine_egress::inspect(std::path::Path::new(""), &data, Vec::new(), None);
            let archive_ok = match &facts.archive {
                None | Some(vitrine_egress::ArchiveFacts::Clean { .. }) => true,
                Some(_) => false,
            };
            if facts.kind.is_document() || !archive_ok {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "document_refused",
                    format!(
                        "content: a document ({}) or an archive that holds one or cannot be inspected; the intake never stores those",
                        facts.kind.name()
                    ),
                ));
            }
            Some(data)
        }
    };
    Ok(Checked {
        sha,
        policy_sha,
        endpoint,
        nonce,
        ledger_head,
        content,
        metadata_json: serde_json::to_string(m).expect("invariant: metadata serializes"),
    })
}

async fn submit(
    State(intake): State<Shared>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let answered = submission(intake.clone(), t, headers, body).await;
    intake.metrics.submission(match &answered {
        Ok((_, true)) => Outcome::Stored,
        Ok((_, false)) => Outcome::Unchanged,
        Err(e) if e.status == StatusCode::BAD_GATEWAY => Outcome::LogUnavailable,
        Err(e) if e.status.is_client_error() => Outcome::Refused,
        Err(_) => Outcome::Failed,
    });
    let (answer, _) = answered?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A submission's answer, and whether it stored anything new.
async fn submission(
    intake: Shared,
    t: Tenant,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(SubmissionAnswer, bool), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request over {} bytes", intake.config.max_request),
            )
        } else {
            ApiError::bad(e.body_text())
        }
    })?;
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| !v.starts_with("application/json"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    let sub: Submission =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let checked = check(&sub)?;
    let intake2 = intake.clone();
    tokio::task::spawn_blocking(move || store_and_receipt(&intake2, &t, &sub, checked))
        .await
        .map_err(ApiError::internal)?
}

/// Stores the submission, logs its receipt and proves it; on any failure
/// to log, undoes exactly what this submission stored (nothing is kept
/// without a receipt, and nothing held before is lost). Says whether it
/// stored anything new.
fn store_and_receipt(
    intake: &Intake,
    t: &Tenant,
    sub: &Submission,
    c: Checked,
) -> Result<(SubmissionAnswer, bool), ApiError> {
    let now = now();
    let undo = intake
        .store
        .put(
            &NewSample {
                tenant: &t.id,
                sha256: c.sha,
                size: sub.metadata.size,
                metadata: &c.metadata_json,
                policy_id: &sub.policy_id,
                policy_sha256: &sub.policy_sha256,
                content: c.content.as_deref(),
                now,
            },
            &intake
                .config
                .keyholders
                .iter()
                .map(|k| k.key.clone())
                .collect::<Vec<_>>(),
            intake.config.keyholder_threshold,
        )
        .map_err(|e| match e {
            crate::StoreError::NoKeyholders => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_keyholders",
                e.to_string(),
            ),
            e => ApiError::internal(e),
        })?;
    let logged = (|| -> Result<ReceiptBundle, String> {
        let receipt = Statement::Receipt(Receipt {
            sample: StSha(c.sha),
            tenant: Token::new(t.id.clone()).map_err(|e| e.to_string())?,
            policy: Token::new(sub.policy_id.clone()).map_err(|e| e.to_string())?,
            policy_sha256: StSha(c.policy_sha),
            time: now,
            endpoint: StSha(c.endpoint),
            nonce: StSha(c.nonce),
            ledger_seq: sub.ledger_seq,
            ledger_head: StSha(c.ledger_head),
        });
        let note = receipt.sign(&intake.key).map_err(|e| e.to_string())?;
        let log = LogClient::new(&intake.config.log_url, intake.config.log_key.clone())
            .map_err(|e| e.to_string())?;
        let m = &intake.metrics;
        let index = m
            .time(Call::Add, || log.add(&note))
            .map_err(|e| e.to_string())?;
        let proof = m
            .time(Call::Prove, || log.prove(&note, index))
            .map_err(|e| e.to_string())?;
        Ok(ReceiptBundle {
            note: String::from_utf8(note).map_err(|e| e.to_string())?,
            index,
            tlog_proof: proof.to_string(),
        })
    })();
    match logged {
        Ok(bundle) => {
            intake.metrics.receipt_logged();
            let changed = undo.changed();
            intake
                .store
                .set_receipt(&t.id, &c.sha, &bundle)
                .map_err(ApiError::internal)?;
            Ok((
                SubmissionAnswer {
                    sha256: sub.metadata.sha256.clone(),
                    content_stored: c.content.is_some(),
                    receipt: bundle,
                },
                changed,
            ))
        }
        Err(reason) => {
            tracing::error!(%reason, "logging a receipt failed");
            intake.store.undo(undo).map_err(ApiError::internal)?;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "log_unavailable",
                "the receipt could not be logged; nothing was stored",
            ))
        }
    }
}

async fn list(
    State(intake): State<Shared>,
    Extension(t): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let items = intake.store.list(&t.id).map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "tenant": t.id, "submissions": items })).into_response())
}

async fn show(
    State(intake): State<Shared>,
    Extension(t): Extension<Tenant>,
    Path(sha): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such submission");
    let sha = hash32("sha256", &sha)?;
    let item = intake
        .store
        .get(&t.id, &sha)
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    Ok(Json(item).into_response())
}

/// `GET /metrics`: OpenMetrics text, as Prometheus scrapes it, with the
/// store's counts read now.
async fn metrics(State(intake): State<Shared>) -> Response {
    let i = intake.clone();
    let counts = tokio::task::spawn_blocking(move || i.store.event_counts())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    if let Err(err) = &counts {
        tracing::error!(%err, "metrics: the store did not answer");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        intake.metrics.text(counts),
    )
        .into_response()
}

async fn audit(
    State(intake): State<Shared>,
    Extension(t): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let items = intake.store.list(&t.id).map_err(ApiError::internal)?;
    let events = intake.store.events(&t.id).map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({
        "tenant": t.id,
        "receipts": items.iter().filter_map(|i| i.receipt.as_ref().map(|r| serde_json::json!({"sha256": i.sha256, "index": r.index, "note": r.note}))).collect::<Vec<_>>(),
        "events": events,
    }))
    .into_response())
}

/// Files in an intake data directory.
pub const CONFIG_FILE: &str = "intake.toml";
/// The intake's signing key (signed-note private key text).
pub const KEY_FILE: &str = "intake.key";

/// Opens an intake data directory: `intake.toml`, `intake.key`, and the
/// embedded store in it (`intake.db` and `samples/`).
pub fn open_dir(dir: &std::path::Path) -> Result<Intake, OpenDirError> {
    let (config, key) = read_dir(dir)?;
    let store = Store::open(dir)?;
    Ok(Intake::new(Arc::new(store), config, key))
}

/// Opens an intake whose configuration and key are in `dir` and whose
/// state is in `store` (e.g. a [`crate::PgStore`]); `dir` must be closed
/// to other users (it holds the key and the tenants' token hashes).
pub fn open_dir_with(
    dir: &std::path::Path,
    store: Arc<dyn IntakeStore>,
) -> Result<Intake, OpenDirError> {
    vitrine_fs::check_private_dir(dir).map_err(crate::StoreError::from)?;
    let (config, key) = read_dir(dir)?;
    Ok(Intake::new(store, config, key))
}

/// `intake.toml` (with the custody policy it names) and `intake.key`.
fn read_dir(dir: &std::path::Path) -> Result<(Config, SignerKey), OpenDirError> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|source| OpenDirError::Io { path: p, source })
    };
    let mut config = Config::parse(&read(CONFIG_FILE)?).map_err(|source| OpenDirError::Config {
        path: dir.join(CONFIG_FILE),
        source,
    })?;
    config
        .load_custody(dir)
        .map_err(|source| OpenDirError::Config {
            path: dir.join(CONFIG_FILE),
            source,
        })?;
    let key = SignerKey::parse(read(KEY_FILE)?.trim()).map_err(|e| OpenDirError::Key {
        path: dir.join(KEY_FILE),
        reason: e.to_string(),
    })?;
    Ok((config, key))
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenDirError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("{}: {source}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The error.
        source: crate::ConfigError,
    },
    /// The key file is invalid.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

/// [`serve_with`] the default limits.
pub async fn serve(
    intake: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(intake, listener, Limits::default(), shutdown).await
}

/// Serves the intake on `listener` under `limits` (timeouts, connection
/// cap: [`vitrine_server::harden`]) until `shutdown` resolves, destroying
/// expired samples every `retention-check-seconds`.
pub async fn serve_with(
    intake: Shared,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let every = std::time::Duration::from_secs(intake.config.retention_check_seconds);
    let bg = intake.clone();
    let retention = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let i = bg.clone();
            let r =
                tokio::task::spawn_blocking(move || i.vault().and_then(|v| v.expire(now()))).await;
            match r {
                Ok(Ok(done)) if !done.is_empty() => {
                    tracing::info!(count = done.len(), "expired samples destroyed")
                }
                Ok(Err(err)) => tracing::error!(%err, "retention"),
                _ => {}
            }
        }
    });
    let app = vitrine_server::harden::harden(router(intake), &limits);
    let r = vitrine_server::harden::serve(listener, app, limits, shutdown).await;
    retention.abort();
    r
}
