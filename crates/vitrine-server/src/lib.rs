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
//! **Several front ends** ([`AppState::node`], a log on PostgreSQL): the
//! leader answers `/add` itself; a follower forwards it to the leader's
//! advertised address with the header `Vitrine-Forwarded: 1` and relays
//! the answer, so `/add` still answers only once the entry is under a
//! published checkpoint. With no leader known (an election under way), or
//! a leader that does not answer, `/add` is 503 with `Retry-After: 1`: a
//! retry is safe, identical entries get one index. A forwarded request is
//! never forwarded again. `/healthz` says the role and the leader epoch.
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
use vitrine_log::{AddError, ContentStore, Log, Node, Rejection, Role};
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

/// The header marking an `/add` forwarded by a follower to the leader.
pub const FORWARDED_HEADER: &str = "vitrine-forwarded";

/// How long a follower waits for the leader's answer to a forwarded add.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The log the routes serve: one that sequences by itself, or one of
/// several front ends on PostgreSQL.
#[derive(Clone)]
enum Source {
    Log(Arc<Log>),
    Node(Arc<Node>, reqwest::Client),
}

impl Source {
    fn max_entry(&self) -> usize {
        match self {
            Source::Log(log) => log.max_entry(),
            Source::Node(node, _) => node.max_entry(),
        }
    }

    fn authorization(&self) -> Result<Arc<vitrine_log::Authorization>, AddError> {
        match self {
            Source::Log(log) => log.authorization(),
            Source::Node(node, _) => node.authorization(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Source::Log(log) => log.size(),
            Source::Node(node, _) => node.size(),
        }
    }

    fn checkpoint(&self) -> Arc<[u8]> {
        match self {
            Source::Log(log) => log.checkpoint(),
            Source::Node(node, _) => node.checkpoint(),
        }
    }

    fn check_storage(&self) -> Result<(), vitrine_log::Error> {
        match self {
            Source::Log(log) => log.check_storage(),
            Source::Node(node, _) => node.check_storage(),
        }
    }

    fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, vitrine_log::Error> {
        match self {
            Source::Log(log) => log.read_tile(path),
            Source::Node(node, _) => node.read_tile(path),
        }
    }

    fn metrics(&self) -> String {
        match self {
            Source::Log(log) => log.metrics().text(),
            Source::Node(node, _) => node.metrics().text(),
        }
    }
}

/// What the routes serve.
#[derive(Clone)]
pub struct AppState {
    log: Source,
    tiles: Arc<TileCache>,
    content: Option<ContentStore>,
    publishers: Arc<Verifiers>,
    publishers_from_log: bool,
    max_content: usize,
}

impl AppState {
    /// Serves `log`; no content store until [`AppState::content`].
    pub fn new(log: Arc<Log>) -> Self {
        Self::with_source(Source::Log(log))
    }

    /// Serves one of several front ends of a log on PostgreSQL: the log
    /// it sequences while it leads; while it follows, the checkpoint and
    /// tiles in the database, with `/add` forwarded to the leader.
    pub fn node(node: Arc<Node>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .connect_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("invariant: a client without TLS settings builds");
        Self::with_source(Source::Node(node, http))
    }

    fn with_source(log: Source) -> Self {
        Self {
            log,
            tiles: Arc::new(TileCache::new(TILE_CACHE_BYTES)),
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

async fn add(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let log = match &state.log {
        Source::Log(log) => log.clone(),
        Source::Node(node, http) => match node.leader() {
            Some(log) => log,
            None => return forward(node, http, &headers, body).await,
        },
    };
    match log.add(body.to_vec()).await {
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

/// `503 Service Unavailable` with `Retry-After: 1`: the add may be
/// retried at once (on this or another front end).
fn unavailable(why: &str) -> Response {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, why);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// A follower's `/add`: sent on to the leader, whose answer (given once
/// the entry is under a published checkpoint) is relayed.
async fn forward(
    node: &Arc<Node>,
    http: &reqwest::Client,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if headers.contains_key(FORWARDED_HEADER) {
        // The sender thought this front end leads; it no longer does.
        return unavailable("this front end is not the leader (any more); retry");
    }
    let Some(leader) = node.forward_to() else {
        return unavailable("no leader is elected at the moment; retry");
    };
    let sent = http
        .post(format!("{}/add", leader.trim_end_matches('/')))
        .header(FORWARDED_HEADER, "1")
        .body(body)
        .send()
        .await;
    let (status, answer) = match sent {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(b) => (status, b),
                Err(err) => {
                    tracing::warn!(%err, "the leader's answer to a forwarded add broke off");
                    return unavailable("the leader did not answer; retry");
                }
            }
        }
        Err(err) => {
            tracing::warn!(%err, "cannot forward an add to the leader");
            return unavailable("the leader did not answer; retry");
        }
    };
    let Ok(status) = StatusCode::from_u16(status.as_u16()) else {
        return unavailable("the leader answered nonsense; retry");
    };
    if status.is_success() {
        // Serve the checkpoint covering the entry from here at once.
        let node = node.clone();
        let _ = tokio::task::spawn_blocking(move || node.refresh()).await;
    }
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        answer,
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// `GET /healthz`: 200 with the published size when the log's storage
/// answers, 503 with the reason otherwise (for load balancers and
/// orchestrators; a database that is down shows here first). One of
/// several front ends also says its `role` (`leader` or `follower`) and
/// the leader `epoch`.
async fn health(State(state): State<AppState>) -> Response {
    let log = state.log.clone();
    let size = log.size();
    let checked = tokio::task::spawn_blocking(move || log.check_storage()).await;
    let (status, mut body) = match checked {
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
    if let Source::Node(node, _) = &state.log {
        let role: Role = node.role();
        body["role"] = role.to_string().into();
        body["epoch"] = node.epoch().into();
    }
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
        state.log.metrics(),
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

fn binary(bytes: impl Into<Body>, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes.into(),
    )
        .into_response()
}

/// How many bytes of served tiles a log server keeps in memory.
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// Tiles and entry bundles already served, most recently used kept, up
/// to a byte budget. The log serves only tiles covered by its published
/// checkpoint, whose bytes never change, so a cached tile is never stale;
/// and a front end keeps serving them while its storage (a PostgreSQL
/// database) is unreachable.
pub struct TileCache {
    inner: std::sync::Mutex<(hashlink::LruCache<TilePath, Bytes>, usize)>,
    max_bytes: usize,
}

impl TileCache {
    /// A cache holding up to `max_bytes` of tiles.
    pub fn new(max_bytes: usize) -> Self {
        TileCache {
            inner: std::sync::Mutex::new((hashlink::LruCache::new_unbounded(), 0)),
            max_bytes,
        }
    }

    fn get(&self, path: &TilePath) -> Option<Bytes> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.get(path).cloned()
    }

    fn put(&self, path: TilePath, bytes: Bytes) {
        if bytes.len() > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (cache, used) = &mut *inner;
        if let Some(old) = cache.insert(path, bytes.clone()) {
            *used -= old.len();
        }
        *used += bytes.len();
        while *used > self.max_bytes {
            match cache.remove_lru() {
                Some((_, evicted)) => *used -= evicted.len(),
                None => break,
            }
        }
    }
}

async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let Ok(path) = TilePath::parse(&format!("tile/{path}")) else {
        return text(StatusCode::BAD_REQUEST, "malformed tile path");
    };
    // Partial tiles are immutable too, but may be deleted once full.
    let cache = if path.is_partial() {
        "public, max-age=60"
    } else {
        IMMUTABLE
    };
    if let Some(bytes) = state.tiles.get(&path) {
        return binary(bytes, cache);
    }
    let log = state.log.clone();
    match tokio::task::spawn_blocking(move || log.read_tile(&path)).await {
        Ok(Ok(Some(bytes))) => {
            let bytes = Bytes::from(bytes);
            state.tiles.put(path, bytes.clone());
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

#[cfg(test)]
mod tile_cache_tests {
    use super::*;

    fn tile(i: u64) -> TilePath {
        TilePath::hashes(0, i, 256).unwrap()
    }

    #[test]
    fn keeps_the_most_recently_used_within_its_byte_budget() {
        let c = TileCache::new(100);
        c.put(tile(0), Bytes::from(vec![0u8; 40]));
        c.put(tile(1), Bytes::from(vec![1u8; 40]));
        // Using tile 0 makes tile 1 the least recently used.
        assert_eq!(c.get(&tile(0)).unwrap().len(), 40);
        c.put(tile(2), Bytes::from(vec![2u8; 40]));
        assert!(c.get(&tile(1)).is_none());
        assert!(c.get(&tile(0)).is_some() && c.get(&tile(2)).is_some());
        // Replacing a tile counts its bytes once.
        c.put(tile(2), Bytes::from(vec![3u8; 50]));
        assert_eq!(c.get(&tile(2)).unwrap()[0], 3);
        assert!(c.get(&tile(0)).is_some());
        // Larger than the whole budget: not kept, nothing evicted.
        c.put(tile(3), Bytes::from(vec![4u8; 101]));
        assert!(c.get(&tile(3)).is_none());
        assert!(c.get(&tile(0)).is_some());
        assert!(c.inner.lock().unwrap().1 <= 100);
    }
}
