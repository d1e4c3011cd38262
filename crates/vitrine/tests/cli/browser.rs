//! A real browser for tests: headless Chromium driven through
//! chromedriver (WebDriver) with fantoccini, with screenshots and the
//! axe-core accessibility checker.
//!
//! ```ignore
//! let b = Browser::start().await;
//! b.goto(&url).await;
//! assert_eq!(b.text("h1").await, "Bundles");
//! b.click_link("daily").await;
//! b.screenshot("daily").await;
//! let violations = b.axe().await;
//! assert!(violations.is_empty(), "{}", describe(&violations));
//! ```
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `chromedriver` on the PATH); without them [`Browser::start`] fails the
//! test saying so. Every method panics with a message naming the page
//! when WebDriver fails: these are test helpers.

// The API is for the transparency center's tests, which use more of it
// than the tests here.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;

/// The Chromium binary (Debian's `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver (Debian's `chromium-driver`), looked up on the PATH.
pub const CHROMEDRIVER: &str = "chromedriver";
/// Environment variable naming the folder screenshots go to.
pub const SCREENSHOTS_ENV: &str = "VITRINE_SCREENSHOTS";

/// axe-core 4.14.1 (`tests/assets/axe-core/`, see its README).
const AXE_JS: &str = include_str!("../assets/axe-core/axe.min.js");
/// SHA-256 of `axe.min.js` as vendored; checked before it is injected.
const AXE_SHA256: &str = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c";

/// How long [`Browser::wait_for`] waits.
const WAIT: Duration = Duration::from_secs(10);

/// One rule axe-core found broken on the page (its `violations` entry).
#[derive(Clone, Debug, Deserialize)]
pub struct Violation {
    /// The axe rule, e.g. `image-alt`, `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule checks.
    pub description: String,
    /// How to fix it, in one line.
    pub help: String,
    /// Deque's page about the rule.
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// The offending elements.
    pub nodes: Vec<ViolationNode>,
}

/// One element a [`Violation`] names.
#[derive(Clone, Debug, Deserialize)]
pub struct ViolationNode {
    /// CSS selectors leading to the element (nested arrays for shadow
    /// DOM and frames).
    pub target: Vec<serde_json::Value>,
    /// The element's HTML (shortened by axe).
    pub html: String,
    /// What is wrong with this element.
    #[serde(rename = "failureSummary")]
    pub failure_summary: Option<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {} [{}]",
            self.id,
            self.impact.as_deref().unwrap_or("?"),
            self.help,
            self.help_url
        )?;
        for n in &self.nodes {
            write!(f, "\n    {}", n.html)?;
        }
        Ok(())
    }
}

/// The violations one per paragraph, for assertion messages.
pub fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A headless Chromium session; chromedriver and the browser stop when it
/// is dropped.
pub struct Browser {
    client: Client,
    driver: Child,
    port: u16,
    session: String,
    screenshots: PathBuf,
    /// Chromium's profile (`--user-data-dir`); also how leftover browser
    /// processes of this session are recognised on drop.
    profile: tempfile::TempDir,
}

/// Where screenshots go unless the test says: `$VITRINE_SCREENSHOTS`, else
/// `center-screenshots/` in the target directory this test binary was
/// built in.
pub fn default_screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SCREENSHOTS_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // .../target/debug/deps/cli-HASH
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("center-screenshots"))
        .unwrap_or_else(|| std::env::temp_dir().join("center-screenshots"))
}

/// `prog` as found on the PATH (or as given, if it is a path).
fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return Path::new(prog).is_file().then(|| PathBuf::from(prog));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(prog))
        .find(|p| p.is_file())
}

/// A plain HTTP/1.1 request to chromedriver on 127.0.0.1 with std's
/// blocking socket (usable from `Drop`, inside or outside a runtime);
/// the whole response, or `None`.
fn http(port: u16, method: &str, path: &str, timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    // chromedriver keeps the connection open whatever the request says:
    // read the headers and Content-Length bytes of body.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if out.len() >= end + 4 + length.unwrap_or(0) {
                break;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver on a free 127.0.0.1 port and a headless
    /// Chromium session (1280×900); screenshots go to
    /// [`default_screenshot_dir`].
    pub async fn start() -> Browser {
        Self::start_with_screenshots(default_screenshot_dir()).await
    }

    /// [`Browser::start`], with screenshots in `dir` (created).
    pub async fn start_with_screenshots(dir: impl Into<PathBuf>) -> Browser {
        const INSTALL: &str = "the browser tests need Chromium and its WebDriver: install Debian's `chromium` and `chromium-driver` packages (apt-get install chromium chromium-driver; .ci/run does it)";
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: {INSTALL}"
        );
        let driver_bin =
            which(CHROMEDRIVER).unwrap_or_else(|| panic!("{CHROMEDRIVER} is missing: {INSTALL}"));
        let screenshots = dir.into();
        std::fs::create_dir_all(&screenshots)
            .unwrap_or_else(|e| panic!("creating {}: {e}", screenshots.display()));
        let profile = tempfile::Builder::new()
            .prefix("vitrine-chromium-")
            .tempdir()
            .unwrap();
        let log = profile.path().join("chromedriver.log");

        let port = free_port();
        let mut driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: nothing of it outlives the test.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
        let driver_log = || std::fs::read_to_string(&log).unwrap_or_default();
        let started = Instant::now();
        loop {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!("chromedriver exited ({status}):\n{}", driver_log());
            }
            if http(port, "GET", "/status", Duration::from_secs(2))
                .is_some_and(|r| r.contains("\"ready\":true"))
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = driver.kill();
                panic!(
                    "chromedriver on port {port} not ready after 30 s:\n{}",
                    driver_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ),
        ];
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        // chromedriver speaks plain HTTP on loopback: no TLS connector.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("opening a Chromium session: {e}\n{}", driver_log());
            }
        };
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        Browser {
            client,
            driver,
            port,
            session,
            screenshots,
            profile,
        }
    }

    /// The fantoccini client, for anything this harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where [`Browser::screenshot`] writes.
    pub fn screenshot_dir(&self) -> &Path {
        &self.screenshots
    }

    async fn here(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("(no URL: {e})"))
    }

    /// Loads `url` and waits for it (the document's `load`).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("loading {url}: {e}"));
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// The first element matching a CSS selector (panics if none).
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no element {css:?} on {}: {e}", self.here().await),
        }
    }

    /// Every element matching a CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// Whether an element matches a CSS selector.
    pub async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The link whose text is exactly `text` (panics if none).
    pub async fn find_link(&self, text: &str) -> Element {
        match self.client.find(Locator::LinkText(text)).await {
            Ok(e) => e,
            Err(e) => panic!("no link {text:?} on {}: {e}", self.here().await),
        }
    }

    /// Waits up to 10 s for an element matching a CSS selector.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no element {css:?} on {} after {WAIT:?}: {e}",
                self.here().await
            ),
        }
    }

    /// Clicks the first element matching a CSS selector.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        if let Err(err) = e.click().await {
            panic!("clicking {css:?} on {}: {err}", self.here().await);
        }
    }

    /// Clicks the link whose text is exactly `text`.
    pub async fn click_link(&self, text: &str) {
        let e = self.find_link(text).await;
        if let Err(err) = e.click().await {
            panic!("clicking link {text:?} on {}: {err}", self.here().await);
        }
    }

    /// The visible text of the first element matching a CSS selector.
    /// An element gone stale (a click's navigation replaced the page
    /// after it was found) is looked up again, for up to 10 s.
    pub async fn text(&self, css: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match self.find(css).await.text().await {
                Ok(t) => return t,
                Err(e) if std::time::Instant::now() < deadline => {
                    only_stale(&e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("text of {css:?} on {}: {e}", self.here().await),
            }
        }
    }

    /// The visible text of every element matching a CSS selector (looked
    /// up again while the page is being replaced, as [`Browser::text`]).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + WAIT;
        'again: loop {
            let mut out = Vec::new();
            for e in self.find_all(css).await {
                match e.text().await {
                    Ok(t) => out.push(t),
                    Err(err) if std::time::Instant::now() < deadline => {
                        only_stale(&err);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue 'again;
                    }
                    Err(err) => panic!("texts of {css:?} on {}: {err}", self.here().await),
                }
            }
            return out;
        }
    }

    /// An attribute of the first element matching a CSS selector.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap()
    }

    /// Runs JavaScript (a function body: `return ...` gives the value).
    pub async fn execute(&self, js: &str) -> serde_json::Value {
        match self.client.execute(js, Vec::new()).await {
            Ok(v) => v,
            Err(e) => panic!("script on {}: {e}", self.here().await),
        }
    }

    /// Saves a PNG of the viewport as `NAME.png` in the screenshot
    /// folder (characters other than letters, digits, `.`, `_` and `-`
    /// become `-`) and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("screenshot of {}: {e}", self.here().await),
        };
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let path = self.screenshots.join(format!("{safe}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Runs axe-core on the current page with its default rules (WCAG 2
    /// A/AA and best practices) and returns the violations.
    pub async fn axe(&self) -> Vec<Violation> {
        self.axe_with(serde_json::json!({})).await
    }

    /// Runs axe-core with `options` (as `axe.run` takes them, e.g.
    /// `{"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}}`).
    pub async fn axe_with(&self, options: serde_json::Value) -> Vec<Violation> {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(AXE_JS.as_bytes()));
        assert_eq!(
            digest, AXE_SHA256,
            "tests/assets/axe-core/axe.min.js is not the vendored axe-core (see its README)"
        );
        let loaded = self.execute("return typeof window.axe;").await;
        if loaded != "object" {
            self.execute(AXE_JS).await;
            let loaded = self.execute("return typeof window.axe;").await;
            assert_eq!(
                loaded,
                "object",
                "axe-core did not load on {}",
                self.here().await
            );
        }
        const RUN: &str = "const done = arguments[arguments.length - 1];\n\
            const options = Object.assign({resultTypes: ['violations']}, arguments[0]);\n\
            window.axe.run(document, options)\n\
              .then(r => done(JSON.stringify(r.violations)))\n\
              .catch(e => done('axe failed: ' + e));";
        let result = match self.client.execute_async(RUN, vec![options]).await {
            Ok(v) => v,
            Err(e) => panic!("axe on {}: {e}", self.here().await),
        };
        let text = result.as_str().unwrap_or_default();
        match serde_json::from_str(text) {
            Ok(violations) => violations,
            Err(e) => panic!("axe on {}: {e}: {result}", self.here().await),
        }
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        drop(self);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask chromedriver to end the session (it quits Chromium), then
        // stop chromedriver's process group.
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            Duration::from_secs(10),
        );
        let pid = self.driver.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this harness created.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
        // A browser process that outlived both (it runs with this
        // session's own profile directory) is this session's: stop it.
        let marker = self.profile.path().to_string_lossy().into_owned();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<libc::pid_t>().ok())
                else {
                    continue;
                };
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&marker) {
                    // SAFETY: kill(2) on a process of this session.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

/// A few static pages on 127.0.0.1 for the harness's own tests, served
/// with a strict Content-Security-Policy as the center will be (axe and
/// screenshots must work under it).
async fn test_site() -> String {
    use axum::http::header;
    use axum::response::IntoResponse;
    const CSP: &str = "default-src 'self'; frame-ancestors 'none'";
    const HEAD: &str = "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">";
    let page = |body: String| {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
            ],
            body,
        )
            .into_response()
    };
    let clean = move || async move {
        page(format!(
            "{HEAD}<title>Harness test page</title></head>\n<body>\n<header><p>Vitrine</p></header>\n<main>\n<h1>Harness test page</h1>\n<p id=\"count\">3 bundles</p>\n<img src=\"/logo.svg\" alt=\"Vitrine logo\" width=\"40\" height=\"40\">\n<p><a href=\"/bad\">A page with a problem</a></p>\n</main>\n</body>\n</html>\n"
        ))
    };
    let bad = move || async move {
        page(format!(
            "{HEAD}<title>A page with a problem</title></head>\n<body>\n<main>\n<h1>A page with a problem</h1>\n<img src=\"/logo.svg\" width=\"40\" height=\"40\">\n<p><a href=\"/\">Back</a></p>\n</main>\n</body>\n</html>\n"
        ))
    };
    let logo = || async {
        (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CONTENT_SECURITY_POLICY, CSP),
            ],
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"40\"><rect width=\"40\" height=\"40\" fill=\"#245\"/></svg>",
        )
            .into_response()
    };
    let app = axum::Router::new()
        .route("/", axum::routing::get(clean))
        .route("/bad", axum::routing::get(bad))
        .route("/logo.svg", axum::routing::get(logo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_opens_pages_follows_links_and_takes_screenshots() {
    let site = test_site().await;
    let shots = tempfile::tempdir().unwrap();
    let b = Browser::start_with_screenshots(shots.path().join("harness")).await;
    b.goto(&site).await;
    assert_eq!(b.title().await, "Harness test page");
    assert_eq!(b.text("h1").await, "Harness test page");
    assert_eq!(b.text("#count").await, "3 bundles");
    assert_eq!(b.attr("img", "alt").await.as_deref(), Some("Vitrine logo"));
    assert!(!b.exists("table").await);
    b.click_link("A page with a problem").await;
    b.wait_for("main h1").await;
    assert_eq!(b.url().await, format!("{site}/bad"));
    assert_eq!(b.texts("h1").await, ["A page with a problem"]);
    let shot = b.screenshot("bad page/1").await;
    assert_eq!(shot, shots.path().join("harness/bad-page-1.png"));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} bytes",
        png.len()
    );
    // Width and height from the IHDR chunk: the window's size.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_reports_an_image_without_alt_and_nothing_on_a_clean_page() {
    let site = test_site().await;
    let shots = tempfile::tempdir().unwrap();
    let b = Browser::start_with_screenshots(shots.path()).await;
    b.goto(&format!("{site}/bad")).await;
    let violations = b.axe().await;
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["image-alt"], "{}", describe(&violations));
    assert_eq!(violations[0].impact.as_deref(), Some("critical"));
    assert_eq!(violations[0].nodes.len(), 1);
    assert!(violations[0].nodes[0].html.starts_with("<img"));
    // Running it again on the same page reuses the injected script.
    assert_eq!(b.axe().await.len(), 1);
    b.goto(&site).await;
    let violations = b.axe().await;
    assert!(violations.is_empty(), "{}", describe(&violations));
    // Options reach axe.run: with only a rule the bad page passes, none.
    b.goto(&format!("{site}/bad")).await;
    let only = b
        .axe_with(serde_json::json!({"runOnly": {"type": "rule", "values": ["document-title"]}}))
        .await;
    assert!(only.is_empty(), "{}", describe(&only));
}

/// Only a stale element is worth another look; anything else fails now.
fn only_stale(e: &fantoccini::error::CmdError) {
    let stale = matches!(
        e,
        fantoccini::error::CmdError::Standard(w)
            if w.error == fantoccini::error::ErrorStatus::StaleElementReference
    );
    assert!(stale, "{e}");
}
