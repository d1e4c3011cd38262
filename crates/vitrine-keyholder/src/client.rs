//! The vault's side: asking one keyholder for its share (blocking).

use std::time::Duration;

use crate::{ShareRelease, ShareRequest};

/// Why a keyholder did not release its share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AskError {
    /// The keyholder could not be reached or did not answer in time.
    #[error("unreachable: {reason}")]
    Unreachable {
        /// Why.
        reason: String,
    },
    /// The keyholder refused, with its code and reason.
    #[error("refused ({code}): {message}")]
    Refused {
        /// The keyholder's refusal code (`replayed`, `expired`, ...).
        code: String,
        /// Its message (escaped: it came from the network).
        message: String,
    },
    /// The answer is not a share release.
    #[error("malformed answer: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
}

/// Escapes control characters in text that came from the network.
fn escape(s: &str) -> String {
    s.chars()
        .take(512)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The vault's client for keyholders: one HTTP client (its connection
/// pool and runtime made once), shared by the threads that ask each
/// keyholder at once.
#[derive(Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client that waits at most `timeout` for each keyholder.
    pub fn new(timeout: Duration) -> Result<Self, AskError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AskError::Unreachable {
                reason: escape(&e.to_string()),
            })?;
        Ok(Client { http })
    }

    /// Asks the keyholder at `base` (e.g. `http://127.0.0.1:8095`) to
    /// release its share for `req`.
    pub fn ask(&self, base: &str, req: &ShareRequest) -> Result<ShareRelease, AskError> {
        let unreachable = |e: reqwest::Error| AskError::Unreachable {
            reason: escape(&e.to_string()),
        };
        let url = format!("{}/v1/share", base.trim_end_matches('/'));
        let body = serde_json::to_vec(req).expect("invariant: requests serialize");
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().map_err(unreachable)?;
        if body.len() > 64 << 10 {
            return Err(AskError::Malformed {
                reason: "answer over 64 KiB".into(),
            });
        }
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| AskError::Malformed {
                reason: e.to_string(),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Err(AskError::Refused {
            code: escape(v["error"]["code"].as_str().unwrap_or("unknown")),
            message: escape(
                v["error"]["message"]
                    .as_str()
                    .unwrap_or(&format!("HTTP {status}")),
            ),
        })
    }
}

/// Asks one keyholder with a client of its own (see [`Client`] to ask
/// several).
pub fn ask(base: &str, req: &ShareRequest, timeout: Duration) -> Result<ShareRelease, AskError> {
    Client::new(timeout)?.ask(base, req)
}
