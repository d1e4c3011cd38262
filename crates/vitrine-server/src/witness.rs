//! The witness HTTP interface (c2sp.org/tlog-witness §add-checkpoint) over
//! a [`vitrine_witness::Witness`].
//!
//! | route | does |
//! |---|---|
//! | `GET /metrics` | the witness's counters in the OpenMetrics text format: answers by status, time to answer |
//! | `POST /add-checkpoint` | 200 with the cosignature lines; 400 malformed or old size beyond the checkpoint; 403 no trusted log signature; 404 unknown origin; 409 old size is not the latest cosigned size, or same size with another root (body `<size>\n`, `text/x.tlog.size`); 413 body over [`MAX_ADD_CHECKPOINT_BODY`]; 422 consistency proof fails (or is not empty from size 0); 500 store failure |
//!
//! Mount the router under the witness's submission prefix with
//! [`axum::Router::nest`] if it has one.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use vitrine_tlog::{format_add_checkpoint_response, format_tree_size, TREE_SIZE_CONTENT_TYPE};
use vitrine_witness::{Refusal, Witness, WitnessError};

/// Largest add-checkpoint body accepted: 63 proof lines and a checkpoint
/// with many cosignatures fit in a few KiB.
pub const MAX_ADD_CHECKPOINT_BODY: usize = 64 << 10;

/// The label of an answer: its HTTP status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answer {
    status: u16,
}

/// What a witness server measures: add-checkpoint answers by status (200
/// cosigned, 409 a stale or forked request, 422 a bad proof, ...) and the
/// time to answer, which includes the store's durable commit.
struct Metrics {
    registry: Registry,
    answers: Family<Answer, Counter>,
    latency: Histogram,
}

impl Metrics {
    fn new() -> Self {
        let answers = Family::<Answer, Counter>::default();
        // 0.1 ms .. about 3 s.
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 15));
        let mut registry = Registry::with_prefix("vitrine_witness");
        registry.register(
            "add_checkpoint",
            "add-checkpoint requests answered, by HTTP status",
            answers.clone(),
        );
        registry.register(
            "add_checkpoint_seconds",
            "Time to answer an add-checkpoint request",
            latency.clone(),
        );
        Metrics {
            registry,
            answers,
            latency,
        }
    }
}

#[derive(Clone)]
struct AppState {
    witness: Arc<Witness>,
    metrics: Arc<Metrics>,
}

/// The witness routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route(
            "/add-checkpoint",
            post(add_checkpoint).layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BODY)),
        )
        .route("/metrics", get(metrics))
        .with_state(AppState {
            witness,
            metrics: Arc::new(Metrics::new()),
        })
}

/// `GET /metrics`: OpenMetrics text, as Prometheus scrapes it.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    encode(&mut out, &state.metrics.registry).expect("invariant: writing to a String cannot fail");
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The HTTP status tlog-witness §add-checkpoint prescribes for `err`.
pub fn status(err: &WitnessError) -> StatusCode {
    match err {
        WitnessError::Malformed(_) | WitnessError::OldSizeTooLarge { .. } => {
            StatusCode::BAD_REQUEST
        }
        WitnessError::UnknownOrigin { .. } => StatusCode::NOT_FOUND,
        WitnessError::Refused(r) => match r {
            Refusal::Untrusted { .. } => StatusCode::FORBIDDEN,
            Refusal::OldSizeMismatch { .. } | Refusal::RootMismatch { .. } => StatusCode::CONFLICT,
            Refusal::InconsistentProof { .. } | Refusal::ProofNotEmpty { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::FORBIDDEN,
        },
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn error_response(err: &WitnessError) -> Response {
    let status = status(err);
    if let WitnessError::Refused(r) = err {
        if let (StatusCode::CONFLICT, Some(size)) = (status, r.current_size()) {
            return (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(TREE_SIZE_CONTENT_TYPE),
                )],
                format_tree_size(size),
            )
                .into_response();
        }
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%err, "add-checkpoint failed");
        return text(status, "internal error\n".into());
    }
    text(status, format!("{err}\n"))
}

async fn add_checkpoint(State(state): State<AppState>, body: Bytes) -> Response {
    let start = Instant::now();
    let witness = state.witness.clone();
    // The store fsyncs; keep it off the async workers.
    let response = match tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await {
        Ok(Ok(sigs)) => text(StatusCode::OK, format_add_checkpoint_response(&sigs)),
        Ok(Err(err)) => error_response(&err),
        Err(err) => {
            tracing::error!(%err, "add-checkpoint task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into())
        }
    };
    let m = &state.metrics;
    m.latency.observe(start.elapsed().as_secs_f64());
    m.answers
        .get_or_create(&Answer {
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    //! Every status code of tlog-witness §add-checkpoint over loopback HTTP,
    //! provoked as a misbehaving log would.

    use super::*;
    use vitrine_note::{Cosigner, Note, SignatureType, SignerKey, Verifiers};
    use vitrine_tlog::{
        consistency_proof, parse_add_checkpoint_response, tree_root, AddCheckpointRequest,
        Checkpoint, MemoryTree,
    };

    const ORIGIN: &str = "log.example/http";

    struct Fixture {
        url: String,
        http: reqwest::Client,
        log: SignerKey,
        tree: MemoryTree,
        witness: Arc<Witness>,
    }

    impl Fixture {
        async fn new() -> Self {
            let log = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [4; 32]).unwrap();
            let key =
                SignerKey::from_seed("w.example/1", SignatureType::CosignatureV1, [5; 32]).unwrap();
            let witness = Arc::new(
                Witness::builder(Cosigner::new(key).unwrap())
                    .log(log.verifier())
                    .build()
                    .unwrap(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let app = router(witness.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
            let mut tree = MemoryTree::new();
            for i in 0..40u32 {
                tree.push_data(&i.to_be_bytes());
            }
            Fixture {
                url,
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap(),
                log,
                tree,
                witness,
            }
        }

        fn note(&self, size: u64) -> Note {
            let root = tree_root(&self.tree, size).unwrap();
            Checkpoint::new(ORIGIN, size, root).sign(&self.log).unwrap()
        }

        fn body(&self, old: u64, new: u64) -> Vec<u8> {
            let proof = if old == 0 || old == new {
                vec![]
            } else {
                consistency_proof(&self.tree, old, new).unwrap()
            };
            AddCheckpointRequest::new(old, proof, self.note(new))
                .unwrap()
                .to_bytes()
        }

        async fn post(&self, body: Vec<u8>) -> (StatusCode, Option<String>, String) {
            let resp = self
                .http
                .post(format!("{}/add-checkpoint", self.url))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, ct, resp.text().await.unwrap())
        }
    }

    #[tokio::test]
    async fn ok_body_is_cosignature_lines() {
        let f = Fixture::new().await;
        let (status, _, body) = f.post(f.body(0, 10)).await;
        assert_eq!(status, StatusCode::OK);
        let sigs = parse_add_checkpoint_response(body.as_bytes()).unwrap();
        let mut note = f.note(10);
        for s in sigs {
            note.add_signature(s);
        }
        note.verify(&Verifiers::from_keys([f.witness.verifier()]))
            .unwrap();
        let (status, _, _) = f.post(f.body(10, 20)).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn status_codes_as_the_spec() {
        let f = Fixture::new().await;
        assert_eq!(f.post(f.body(0, 10)).await.0, StatusCode::OK);

        // 400: garbage, old size beyond the checkpoint, 64 proof lines.
        assert_eq!(f.post(b"old x\n".to_vec()).await.0, StatusCode::BAD_REQUEST);
        let body = AddCheckpointRequest::new(11, vec![], f.note(10)).unwrap();
        assert_eq!(f.post(body.to_bytes()).await.0, StatusCode::BAD_REQUEST);
        let lines = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64);
        let note = String::from_utf8(f.note(20).to_bytes()).unwrap();
        let body = format!("old 10\n{lines}\n{note}");
        assert_eq!(f.post(body.into_bytes()).await.0, StatusCode::BAD_REQUEST);

        // 403: right origin, wrong key.
        let impostor = SignerKey::from_seed(ORIGIN, SignatureType::Ed25519, [6; 32]).unwrap();
        let note = Checkpoint::new(ORIGIN, 20, tree_root(&f.tree, 20).unwrap())
            .sign(&impostor)
            .unwrap();
        let proof = consistency_proof(&f.tree, 10, 20).unwrap();
        let body = AddCheckpointRequest::new(10, proof, note).unwrap();
        assert_eq!(f.post(body.to_bytes()).await.0, StatusCode::FORBIDDEN);

        // 404: unknown origin.
        let other =
            SignerKey::from_seed("other.example/log", SignatureType::Ed25519, [7; 32]).unwrap();
        let note = Checkpoint::new("other.example/log", 5, tree_root(&f.tree, 5).unwrap())
            .sign(&other)
            .unwrap();
        let body = AddCheckpointRequest::new(0, vec![], note).unwrap();
        assert_eq!(f.post(body.to_bytes()).await.0, StatusCode::NOT_FOUND);

        // 409: stale old size, with the size body.
        let (status, ct, body) = f.post(f.body(5, 20)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(ct.as_deref(), Some(TREE_SIZE_CONTENT_TYPE));
        assert_eq!(body, "10\n");
        assert_eq!(vitrine_tlog::parse_tree_size(body.as_bytes()).unwrap(), 10);

        // 409: same size, different root.
        let note = Checkpoint::new(ORIGIN, 10, tree_root(&f.tree, 11).unwrap())
            .sign(&f.log)
            .unwrap();
        let body = AddCheckpointRequest::new(10, vec![], note).unwrap();
        let (status, ct, text) = f.post(body.to_bytes()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(ct.as_deref(), Some(TREE_SIZE_CONTENT_TYPE));
        assert_eq!(text, "10\n");

        // 422: a bad proof.
        let mut proof = consistency_proof(&f.tree, 10, 20).unwrap();
        proof[1][3] ^= 0x40;
        let body = AddCheckpointRequest::new(10, proof, f.note(20)).unwrap();
        assert_eq!(
            f.post(body.to_bytes()).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // 413: too large.
        let big = vec![b'a'; MAX_ADD_CHECKPOINT_BODY + 1];
        assert_eq!(f.post(big).await.0, StatusCode::PAYLOAD_TOO_LARGE);

        // 405: not a POST.
        let resp = f
            .http
            .get(format!("{}/add-checkpoint", f.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405);

        // Nothing moved the witness.
        assert_eq!(f.witness.state(ORIGIN).unwrap().unwrap().size, 10);

        // The metrics count each answer by its status (the 413 is answered
        // by the body limit before the handler, so it is not counted).
        let text = f
            .http
            .get(format!("{}/metrics", f.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for (status, n) in [(200, 1), (400, 3), (403, 1), (404, 1), (409, 2), (422, 1)] {
            let line = format!("vitrine_witness_add_checkpoint_total{{status=\"{status}\"}} {n}\n");
            assert!(text.contains(&line), "{line:?} in\n{text}");
        }
        assert!(
            text.contains("vitrine_witness_add_checkpoint_seconds_count 9\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn proof_from_size_zero_is_422() {
        let f = Fixture::new().await;
        let proof = consistency_proof(&f.tree, 3, 10).unwrap();
        let body = AddCheckpointRequest::new(0, proof, f.note(10)).unwrap();
        assert_eq!(
            f.post(body.to_bytes()).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
