//! The center's routes: every page is HTML rendered on the server, and
//! the same path answers JSON (`Accept: application/json` or
//! `?format=json`). Unknown paths and permalinks answer 404, malformed
//! queries 400, an unreadable index 503: never a 500.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::index::{self, LogKind};
use crate::views::{self, AlarmView, ViewError};

/// What the routes share.
#[derive(Clone)]
pub struct Web {
    index: Arc<PathBuf>,
}

impl Web {
    /// Pages read from the index at `index`.
    pub fn new(index: PathBuf) -> Self {
        Web {
            index: Arc::new(index),
        }
    }
}

/// The center's router.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/bundles", get(bundles))
        .route("/bundles/{name}/{version}", get(version))
        .route("/bundles/{name}/{version}/rules/{rule}", get(rule))
        .route("/search", get(search))
        .route("/releases", get(releases))
        .route("/custody", get(custody))
        .route("/custody/statements", get(statements))
        .route("/logs/{log}/entries/{index}", get(entry))
        .route("/api", get(api))
        .fallback(not_found)
        .with_state(web)
        .layer(axum::middleware::from_fn(timing))
}

/// Adds `Server-Timing: render;dur=MS`: how long the server spent on the
/// page (what `bench/center.sh` reports).
async fn timing(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut resp = next.run(req).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.2}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

/// Query parameters, all optional strings (checked by each page).
type Params = Query<HashMap<String, String>>;

/// Whether the client asked for JSON.
fn wants_json(headers: &HeaderMap, q: &HashMap<String, String>) -> bool {
    if let Some(f) = q.get("format") {
        return f == "json";
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// The frame every page shares.
pub struct Base {
    /// The page's title.
    pub title: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    /// Alarms shown at the top.
    pub alarms: Vec<AlarmView>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    base: Base,
    d: &'a views::HomeView,
}

#[derive(Template)]
#[template(path = "bundles.html")]
struct BundlesPage<'a> {
    base: Base,
    d: &'a views::BundlesView,
}

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage<'a> {
    base: Base,
    d: &'a views::VersionView,
}

#[derive(Template)]
#[template(path = "rule.html")]
struct RulePage<'a> {
    base: Base,
    d: &'a views::RuleView,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    base: Base,
    d: &'a views::SearchView,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage<'a> {
    base: Base,
    d: &'a Vec<views::ReleaseView>,
}

#[derive(Template)]
#[template(path = "custody.html")]
struct CustodyPage<'a> {
    base: Base,
    d: &'a views::CustodyView,
}

#[derive(Template)]
#[template(path = "statements.html")]
struct StatementsPage<'a> {
    base: Base,
    d: &'a views::StatementsView,
}

#[derive(Template)]
#[template(path = "entry.html")]
struct EntryPage<'a> {
    base: Base,
    d: &'a views::EntryView,
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    base: Base,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    base: Base,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// A page's outcome: its data and how to draw it.
struct Page<T> {
    title: String,
    nav: &'static str,
    data: T,
    alarms: Vec<AlarmView>,
}

/// Reads the index off the async threads.
async fn read<T: Send + 'static>(
    web: &Web,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, ViewError> + Send + 'static,
) -> Result<(T, Vec<AlarmView>), ViewError> {
    let path = web.index.clone();
    tokio::task::spawn_blocking(move || {
        let conn = index::open_read(&path).map_err(|e| {
            ViewError::Unavailable(format!(
                "the index is not readable yet (the monitor creates it on its first pass): {e}"
            ))
        })?;
        let data = f(&conn)?;
        let alarms = views::alarms(&conn)?;
        Ok((data, alarms))
    })
    .await
    .map_err(|e| ViewError::Unavailable(format!("reading the index: {e}")))?
}

fn html(body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(s) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], s).into_response(),
        Err(e) => error_response(
            false,
            ViewError::Unavailable(format!("rendering the page: {e}")),
        ),
    }
}

fn json(v: &impl Serialize) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => error_response(true, ViewError::Unavailable(format!("encoding JSON: {e}"))),
    }
}

fn error_response(as_json: bool, e: ViewError) -> Response {
    let (status, message) = match e {
        ViewError::NotFound(m) => (StatusCode::NOT_FOUND, m),
        ViewError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        ViewError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
    };
    let reason = status.canonical_reason().unwrap_or("Error");
    if as_json {
        let body = serde_json::json!({
            "error": {"code": status.as_u16(), "reason": reason, "message": message}
        });
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    let page = ErrorPage {
        base: Base {
            title: format!("{} {reason}", status.as_u16()),
            nav: "",
            alarms: Vec::new(),
        },
        status: status.as_u16(),
        reason,
        message: &message,
    };
    let body = page
        .render()
        .unwrap_or_else(|_| format!("{} {reason}: {message}", status.as_u16()));
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Renders a page as JSON or with its template.
fn reply<T: Serialize>(
    as_json: bool,
    page: Result<Page<T>, ViewError>,
    render: impl FnOnce(Base, &T) -> Result<String, askama::Error>,
) -> Response {
    match page {
        Err(e) => error_response(as_json, e),
        Ok(p) if as_json => json(&p.data),
        Ok(p) => {
            let base = Base {
                title: p.title,
                nav: p.nav,
                alarms: p.alarms,
            };
            html(render(base, &p.data))
        }
    }
}

async fn page<T: Send + 'static>(
    web: &Web,
    title: impl FnOnce(&T) -> String,
    nav: &'static str,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, ViewError> + Send + 'static,
) -> Result<Page<T>, ViewError> {
    let (data, alarms) = read(web, f).await?;
    Ok(Page {
        title: title(&data),
        nav,
        data,
        alarms,
    })
}

/// `?page=N`, 1 by default.
fn page_number(q: &HashMap<String, String>) -> Result<i64, ViewError> {
    match q.get("page") {
        None => Ok(1),
        Some(p) => p
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ViewError::BadRequest(format!("page {p:?} is not a number from 1"))),
    }
}

/// Parameters that must be absent or one of `known`.
fn only(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ViewError> {
    match q
        .keys()
        .find(|k| !known.contains(&k.as_str()) && *k != "format")
    {
        Some(k) => Err(ViewError::BadRequest(format!(
            "unknown parameter {k:?} (this page takes: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))),
        None => Ok(()),
    }
}

/// A page that takes no parameter: its view, title and template.
async fn fixed<T: Serialize + Send + 'static>(
    web: &Web,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    (title, nav): (&'static str, &'static str),
    view: fn(&rusqlite::Connection) -> Result<T, ViewError>,
    render: impl FnOnce(Base, &T) -> Result<String, askama::Error>,
) -> Response {
    let j = wants_json(headers, q);
    let p = match only(q, &[]) {
        Err(e) => Err(e),
        Ok(()) => page(web, |_| title.into(), nav, view).await,
    };
    reply(j, p, render)
}

async fn home(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let title = ("Vitrine transparency center", "home");
    fixed(&web, &headers, &q, title, views::home, |base, d| {
        HomePage { base, d }.render()
    })
    .await
}

async fn bundles(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &["channel", "page"])?;
        let n = page_number(&q)?;
        let channel = q.get("channel").cloned().filter(|c| !c.is_empty());
        page(
            &web,
            |d: &views::BundlesView| match &d.channel {
                Some(c) => format!("Bundles: channel {c}"),
                None => "Bundles".into(),
            },
            "bundles",
            move |c| views::bundles(c, channel.as_deref(), n),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| BundlesPage { base, d }.render())
}

fn parse_version(v: &str) -> Result<i64, ViewError> {
    v.parse::<u64>()
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| ViewError::NotFound(format!("{v:?} is not a bundle version")))
}

async fn version(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((name, v)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &[])?;
        let v = parse_version(&v)?;
        page(
            &web,
            |d: &views::VersionView| format!("{} version {}", d.name, d.version),
            "bundles",
            move |c| views::version(c, &name, v),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| VersionPage { base, d }.render())
}

async fn rule(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((name, v, rule)): Path<(String, String, String)>,
    Query(q): Params,
) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &[])?;
        let v = parse_version(&v)?;
        page(
            &web,
            |d: &views::RuleView| format!("{} in {} version {}", d.rule, d.bundle, d.version),
            "bundles",
            move |c| views::rule(c, &name, v, &rule),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| RulePage { base, d }.render())
}

async fn search(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &["q"])?;
        let query = q.get("q").cloned().unwrap_or_default();
        views::check_query(&query)?;
        page(
            &web,
            |d: &views::SearchView| format!("Search: {}", d.q),
            "search",
            move |c| views::search(c, &query),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| SearchPage { base, d }.render())
}

async fn releases(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let title = ("Releases of vitrine", "releases");
    fixed(&web, &headers, &q, title, views::releases, |base, d| {
        ReleasesPage { base, d }.render()
    })
    .await
}

async fn custody(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let title = ("Customers' data: custody", "custody");
    fixed(&web, &headers, &q, title, views::custody, |base, d| {
        CustodyPage { base, d }.render()
    })
    .await
}

async fn statements(State(web): State<Web>, headers: HeaderMap, Query(q): Params) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &["month", "kind", "tenant", "page"])?;
        let n = page_number(&q)?;
        let get = |k: &str| q.get(k).cloned().filter(|v| !v.is_empty());
        let (month, kind, tenant) = (get("month"), get("kind"), get("tenant"));
        page(
            &web,
            |d: &views::StatementsView| {
                let mut t = String::from("Custody statements");
                for (label, v) in [
                    ("kind", &d.kind),
                    ("month", &d.month),
                    ("tenant", &d.tenant),
                ] {
                    if let Some(v) = v {
                        t.push_str(&format!(", {label} {v}"));
                    }
                }
                t
            },
            "custody",
            move |c| views::statements(c, month.as_deref(), kind.as_deref(), tenant.as_deref(), n),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| StatementsPage { base, d }.render())
}

async fn entry(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((log, index)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let j = wants_json(&headers, &q);
    let p = async {
        only(&q, &[])?;
        let log = LogKind::parse(&log)
            .ok_or_else(|| ViewError::NotFound(format!("no log named {log:?}")))?;
        let index = index
            .parse::<u64>()
            .ok()
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(|| ViewError::NotFound(format!("{index:?} is not a log index")))?;
        page(
            &web,
            |d: &views::EntryView| format!("{} log, entry {}", d.log, d.index),
            "",
            move |c| views::entry(c, log, index),
        )
        .await
    }
    .await;
    reply(j, p, |base, d| EntryPage { base, d }.render())
}

async fn api(headers: HeaderMap, Query(q): Params) -> Response {
    if wants_json(&headers, &q) {
        return error_response(
            true,
            ViewError::NotFound("the API's documentation is HTML only".into()),
        );
    }
    html(
        ApiPage {
            base: Base {
                title: "The JSON API".into(),
                nav: "api",
                alarms: Vec::new(),
            },
        }
        .render(),
    )
}

async fn not_found(headers: HeaderMap, Query(q): Params) -> Response {
    error_response(
        wants_json(&headers, &q),
        ViewError::NotFound("there is no page at this address".into()),
    )
}
