//! What every Vitrine HTTP server (log, witness, intake, keyholder) puts
//! between the network and its routes, in one place.
//!
//! - [`harden`] wraps a [`Router`]: the whole request after its headers
//!   (reading the body and answering) must finish within
//!   [`Limits::body_timeout`] (408), and every refusal that is not JSON
//!   already (axum's rejections, the layers' own answers, a server's
//!   plain-text errors) becomes `{"error":{"code":..,"message":..}}`.
//! - [`serve`] accepts connections on a listener with hyper's HTTP/1
//!   server: at most [`Limits::max_connections`] at once (one more is
//!   answered `503` with a JSON reason and closed, so the process never
//!   runs out of file descriptors and keeps serving the others), the
//!   request headers within [`Limits::header_timeout`] (also the longest a
//!   kept-alive connection may wait for its next request), and a
//!   connection on which no byte moves either way for
//!   [`Limits::idle_timeout`] is closed.
//!
//! Body limits are per route (`DefaultBodyLimit` on each route, or an
//! explicit limit where a handler reads its body itself), and
//! authentication happens before a body is read: that stays with each
//! server's routes.
//!
//! To harden a server: `harden::serve(listener, harden::harden(router,
//! &limits), limits, shutdown)`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// Default [`Limits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Timeouts and caps of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a request's headers, from the connection's start
    /// or the end of the previous answer.
    pub header_timeout: Duration,
    /// Longest a request may take after its headers: reading its body and
    /// answering it.
    pub body_timeout: Duration,
    /// A connection on which nothing is read or written for this long is
    /// closed (a client that stops reading its answer, say).
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A refusal: `status` with `{"error":{"code":code,"message":message}}`.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        refusal_body(code, message),
    )
        .into_response()
}

fn refusal_body(code: &str, message: &str) -> String {
    let mut s = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    s.push('\n');
    s
}

/// The `code` of a refusal with this status.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "too_many_requests",
        500 => "internal",
        502 => "bad_gateway",
        503 => "unavailable",
        504 => "gateway_timeout",
        s if s < 500 => "refused",
        _ => "failed",
    }
}

/// Longest refusal text carried over into a JSON refusal.
const MAX_REFUSAL_TEXT: usize = 16 << 10;

/// Turns a plain-text or empty error answer into a JSON refusal; leaves
/// successes and answers of any other type (JSON, `text/x.tlog.size`, ...)
/// alone.
async fn json_refusals(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let plain = match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct.as_bytes().starts_with(b"text/plain"),
    };
    if !plain {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REFUSAL_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    let body = refusal_body(code_for(status), &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// `router` with the request timeout and JSON refusals (see the module
/// documentation). Apply it last, over every route and fallback.
pub fn harden(router: Router, limits: &Limits) -> Router {
    router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.body_timeout,
        ))
        .layer(axum::middleware::map_response(json_refusals))
}

/// The answer to a connection over [`Limits::max_connections`].
fn over_capacity(max: usize) -> Vec<u8> {
    let body = refusal_body(
        "too_many_connections",
        &format!("the server already has {max} connections open; try again later"),
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves,
/// then lets open requests finish (for at most the body timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let refusal = over_capacity(limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little, keep serving.
                    tracing::warn!(%err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Best effort, never waiting: the answer fits in the socket
            // buffer of a new connection.
            let _ = stream.try_write(&refusal);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let conn = http.serve_connection(io, TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.body_timeout, graceful.shutdown()).await;
    Ok(())
}

/// A stream that fails with `TimedOut` once nothing was read or written
/// on it for the idle timeout while it waits.
struct IdleTimeout<S> {
    inner: S,
    sleep: Pin<Box<Sleep>>,
    idle: Duration,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            sleep: Box::pin(tokio::time::sleep(idle)),
            idle,
        }
    }

    /// After progress: the idle clock starts again.
    fn moved(&mut self) {
        let at = Instant::now() + self.idle;
        self.sleep.as_mut().reset(at);
    }

    /// While waiting: an error once the idle clock ran out.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.waiting(cx),
            r => r,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BIG: usize = 32 << 20;

    async fn start(limits: Limits) -> std::net::SocketAddr {
        let app = Router::new().route("/big", get(|| async { vec![b'x'; BIG] }));
        let app = harden(app, &limits);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    /// A client that asks for 32 MiB and stops reading is disconnected at
    /// the idle timeout; the answer is never sent whole.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_disconnected() {
        let addr = start(Limits {
            idle_timeout: Duration::from_millis(500),
            ..Limits::default()
        })
        .await;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let read_all = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read_all)
            .await
            .expect("the server closed the connection");
        assert!(got < BIG, "{got} bytes arrived");
    }

    /// Unknown routes and wrong methods are refused as JSON.
    #[tokio::test]
    async fn refusals_are_json() {
        let addr = start(Limits::default()).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 405"), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        assert!(
            text.ends_with(
                "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"method not allowed\"}}\n"
            ),
            "{text}"
        );
    }
}
