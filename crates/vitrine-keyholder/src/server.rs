//! The keyholder's HTTP API (axum).
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/share` | body: a [`ShareRequest`] (JSON); 200 with a [`ShareRelease`], or `{"error": {"code", "message"}}` with 400 (malformed), 403 (refused: see [`Refusal::code`]), 409 (`replayed`), 413 (over 64 KiB) |
//! | `GET /v1/key` | the keyholder's public key line (`NAME+BASE64`), for the intake's configuration |

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::{Keyholder, Refusal, ShareRequest};

/// Largest request body: an access, a proof and a share fit in far less.
pub const MAX_REQUEST: usize = 64 << 10;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn refuse(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN);
    (
        status,
        Json(serde_json::json!({"error": {"code": r.code(), "message": r.to_string()}})),
    )
        .into_response()
}

/// The router.
pub fn router(keyholder: Arc<Keyholder>) -> Router {
    Router::new()
        .route(
            "/v1/share",
            post(share).layer(DefaultBodyLimit::max(MAX_REQUEST)),
        )
        .route("/v1/key", get(key))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(
                    serde_json::json!({"error": {"code": "not_found", "message": "no such route"}}),
                ),
            )
        })
        .with_state(keyholder)
}

async fn key(State(k): State<Arc<Keyholder>>) -> String {
    format!("{}\n", k.public())
}

async fn share(State(k): State<Arc<Keyholder>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({"error": {"code": "too_large", "message": format!("request over {MAX_REQUEST} bytes")}})),
            )
                .into_response()
        }
        Err(e) => return refuse(&Refusal::BadRequest { reason: e.body_text() }),
    };
    let req: ShareRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(&Refusal::BadRequest {
                reason: format!("body: {e}"),
            })
        }
    };
    let k2 = k.clone();
    match tokio::task::spawn_blocking(move || k2.release(&req, now())).await {
        Ok(Ok(release)) => Json(release).into_response(),
        Ok(Err(refusal)) => {
            tracing::warn!(code = refusal.code(), %refusal, "share refused");
            refuse(&refusal)
        }
        Err(e) => refuse(&Refusal::Store {
            reason: e.to_string(),
        }),
    }
}

/// Serves the keyholder on `listener` until `shutdown` resolves, with the
/// default [`vitrine_server::harden::Limits`].
pub async fn serve(
    keyholder: Arc<Keyholder>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(keyholder, listener, Default::default(), shutdown).await
}

/// Serves the keyholder with these limits: header, body and idle timeouts
/// and a cap on connections (`vitrine_server::harden`), refusals as JSON.
pub async fn serve_with(
    keyholder: Arc<Keyholder>,
    listener: tokio::net::TcpListener,
    limits: vitrine_server::harden::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = vitrine_server::harden::harden(router(keyholder), &limits);
    vitrine_server::harden::serve(listener, app, limits, shutdown).await
}
