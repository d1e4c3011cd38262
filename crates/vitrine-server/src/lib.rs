//! Vitrine's HTTP front end: axum routes over a [`vitrine_log::Log`].
//!
//! | route | does |
//! |---|---|
//! | `POST /add` | body: a signed statement note; answers its index (`42\n`) once published. 400 malformed, 403 signer not allowed for that type or bad signature, 413 too large, 503 storage trouble |
//! | `GET /checkpoint` | the published checkpoint, `text/plain; charset=utf-8`, not cached |
//! | `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]` | tiles and entry bundles (c2sp.org/tlog-tiles); 400 malformed path, 404 absent or past the published size; full tiles are cached for a year, immutable |
//! | `PUT /content/sha256/<hex>` | stores a blob whose SHA-256 is `<hex>`, from an allowed publisher (see below); 201 stored, 200 already there |
//! | `GET /content/sha256/<hex>` | the blob |
//!
//! **Content upload authentication.** A `PUT` carries the header
//! `Vitrine-Signature: <key name> <base64(key ID || Ed25519 signature)>`,
//! i.e. a signed-note signature line without its em dash, over the note text
//! `vitrine-content-put\n<hex>\n`. The key must be allowed to make `rules`,
//! `release` or `review` statements (reviewers upload their reports), by
//! the log's authorization as it is at the time of the request with
//! [`AppState::publishers_from_log`]. The body must hash to `<hex>`. No header: 401;
//! unknown key or bad signature: 403; wrong hash or name: 400. The header
//! is checked before a byte of the body is read, so an unauthenticated
//! upload costs the log nothing whatever its size; a body over the limit
//! is refused (413) as soon as it is known to be.
//!
//! HTTP status mapping lives only in this crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod harden;
pub mod witness;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use vitrine_log::{AddError, ContentStore, Log, Rejection};
use vitrine_note::{Note, Signature, Verifiers};
use vitrine_statements::StatementType;
use vitrine_tlog::TilePath;

/// Default largest content blob accepted by `PUT /content/...` (64 MiB).
pub const DEFAULT_MAX_CONTENT: usize = 64 << 20;

/// The header authenticating a content upload.
pub const SIGNATURE_HEADER: &str = "vitrine-signature";

/// The note text a content upload signature covers.
pub fn content_put_message(hex: &str) -> String {
    format!("vitrine-content-put\n{hex}\n")
}

/// What the routes serve.
#[derive(Clone)]
pub struct AppState {
    log: Arc<Log>,
    content: Option<ContentStore>,
    publishers: Arc<Verifiers>,
    publishers_from_log: bool,
    max_content: usize,
}

impl AppState {
    /// Serves `log`; no content store until [`AppState::content`].
    pub fn new(log: Arc<Log>) -> Self {
        Self {
            log,
            content: None,
            publishers: Arc::new(Verifiers::new()),
            publishers_from_log: false,
            max_content: DEFAULT_MAX_CONTENT,
        }
    }

    /// Content uploads are allowed to whoever the log's authorization
    /// (read again on each upload, so edits apply without a restart)
    /// allows to make `rules` or `release` statements, instead of the
    /// fixed `publishers` given to [`AppState::content`].
    pub fn publishers_from_log(mut self) -> Self {
        self.publishers_from_log = true;
        self
    }

    fn publishers(&self) -> Result<Arc<Verifiers>, AddError> {
        if !self.publishers_from_log {
            return Ok(self.publishers.clone());
        }
        let auth = self.log.authorization()?;
        Ok(Arc::new(
            [
                StatementType::Rules,
                StatementType::Release,
                StatementType::Review,
            ]
            .into_iter()
            .flat_map(|t| auth.verifiers_for(t).iter().cloned().collect::<Vec<_>>())
            .collect(),
        ))
    }

    /// Serves `/content/sha256/` from `store`; `publishers` may upload.
    pub fn content(mut self, store: ContentStore, publishers: Verifiers, max: usize) -> Self {
        self.content = Some(store);
        self.publishers = Arc::new(publishers);
        self.max_content = max;
        self
    }
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    let add_limit = state.log.max_entry();
    let content_limit = state.max_content;
    Router::new()
        .route("/add", post(add).layer(DefaultBodyLimit::max(add_limit)))
        .route("/checkpoint", get(checkpoint))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/tile/{*path}", get(tile))
        .route(
            "/content/sha256/{hex}",
            get(get_content)
                .put(put_content)
                .layer(DefaultBodyLimit::max(content_limit)),
            // put_content reads its body itself, after authentication,
            // within state.max_content.
        )
        .with_state(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn add(State(state): State<AppState>, body: Bytes) -> Response {
    match state.log.add(body.to_vec()).await {
        Ok(index) => text(StatusCode::OK, index.to_string()),
        Err(err) => {
            let status = match &err {
                AddError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                AddError::MalformedNote(_)
                | AddError::MalformedStatement(_)
                | AddError::Rejected(Rejection::SignatureCount { .. }) => StatusCode::BAD_REQUEST,
                AddError::Rejected(_) => StatusCode::FORBIDDEN,
                AddError::Authorization { .. } => {
                    tracing::error!(%err, "refusing statements");
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the log's authorization file is broken; its operator must fix it",
                    );
                }
                _ => {
                    tracing::error!(%err, "add failed");
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            text(status, err.to_string())
        }
    }
}

/// `GET /healthz`: 200 with the published size when the log's storage
/// answers, 503 with the reason otherwise (for load balancers and
/// orchestrators; a database that is down shows here first).
async fn health(State(state): State<AppState>) -> Response {
    let log = state.log.clone();
    let size = log.size();
    let checked = tokio::task::spawn_blocking(move || log.check_storage()).await;
    let (status, body) = match checked {
        Ok(Ok(())) => (
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "size": size }),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "unavailable", "size": size, "error": e.to_string() }),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "unavailable", "size": size, "error": "the check failed" }),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

/// `GET /metrics`: the log's metrics in the OpenMetrics text format, as
/// Prometheus scrapes it.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.log.metrics().text(),
    )
        .into_response()
}

async fn checkpoint(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        state.log.checkpoint().to_vec(),
    )
        .into_response()
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn binary(bytes: Vec<u8>, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response()
}

async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let Ok(path) = TilePath::parse(&format!("tile/{path}")) else {
        return text(StatusCode::BAD_REQUEST, "malformed tile path");
    };
    let log = state.log.clone();
    match tokio::task::spawn_blocking(move || log.read_tile(&path)).await {
        Ok(Ok(Some(bytes))) => {
            // Partial tiles are immutable too, but may be deleted once full.
            let cache = if path.is_partial() {
                "public, max-age=60"
            } else {
                IMMUTABLE
            };
            binary(bytes, cache)
        }
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such tile"),
        Ok(Err(err)) => {
            tracing::error!(%err, %path, "reading tile");
            text(StatusCode::SERVICE_UNAVAILABLE, "storage error")
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn valid_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn get_content(State(state): State<AppState>, Path(hex): Path<String>) -> Response {
    let Some(store) = state.content.clone() else {
        return text(StatusCode::NOT_FOUND, "no content store");
    };
    if !valid_hex(&hex) {
        return text(
            StatusCode::BAD_REQUEST,
            "name must be 64 lowercase hex digits",
        );
    }
    match tokio::task::spawn_blocking(move || store.get(&hex)).await {
        Ok(Ok(Some(bytes))) => binary(bytes, IMMUTABLE),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such content"),
        Ok(Err(err)) => {
            tracing::error!(%err, "reading content");
            text(StatusCode::SERVICE_UNAVAILABLE, "storage error")
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// Checks the `Vitrine-Signature` header of a content upload.
fn authenticate(
    headers: &HeaderMap,
    hex: &str,
    publishers: &Verifiers,
) -> Result<(), (StatusCode, &'static str)> {
    let malformed = (
        StatusCode::BAD_REQUEST,
        "malformed Vitrine-Signature header",
    );
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or((StatusCode::UNAUTHORIZED, "missing Vitrine-Signature header"))?
        .to_str()
        .map_err(|_| malformed)?;
    let sig = Signature::parse_line(&format!("\u{2014} {value}")).map_err(|_| malformed)?;
    let mut note = Note::new(&content_put_message(hex)).expect("invariant: valid note text");
    note.add_signature(sig);
    note.verify(publishers)
        .map(|_| ())
        .map_err(|_| (StatusCode::FORBIDDEN, "not signed by an allowed publisher"))
}

async fn put_content(
    State(state): State<AppState>,
    Path(hex): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(store) = state.content.clone() else {
        return text(StatusCode::NOT_FOUND, "no content store");
    };
    if !valid_hex(&hex) {
        return text(
            StatusCode::BAD_REQUEST,
            "name must be 64 lowercase hex digits",
        );
    }
    let publishers = match state.publishers() {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(%err, "refusing content uploads");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the log's authorization file is broken; its operator must fix it",
            );
        }
    };
    if let Err((status, why)) = authenticate(&headers, &hex, &publishers) {
        return text(status, why);
    }
    // Only now is the body read.
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("content over {} bytes", state.max_content),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_content as u64) {
        return too_large();
    }
    let body = match axum::body::to_bytes(body, state.max_content).await {
        Ok(b) => b,
        Err(err) => {
            let length_limit = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if length_limit {
                return too_large();
            }
            return text(StatusCode::BAD_REQUEST, "could not read the body");
        }
    };
    if hex::encode(Sha256::digest(&body)) != hex {
        return text(StatusCode::BAD_REQUEST, "body does not hash to the name");
    }
    match tokio::task::spawn_blocking(move || store.put(&hex, &body)).await {
        Ok(Ok(true)) => text(StatusCode::CREATED, "stored"),
        Ok(Ok(false)) => text(StatusCode::OK, "already stored"),
        Ok(Err(err)) => {
            tracing::error!(%err, "storing content");
            text(StatusCode::SERVICE_UNAVAILABLE, "storage error")
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}
