//! What each page shows, read from the index: one plain struct per page,
//! serialized as the JSON API and rendered by the page's template.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::charts::{self, Series, PALETTE};
use crate::index::{month_of, now, LogKind};

/// A date people can read (ISO 8601, UTC).
pub fn date(t: i64) -> String {
    vitrine_endpoint::state::human_time(t.max(0) as u64)
}

/// "3 minutes ago" and the like.
pub fn age(t: i64) -> String {
    let d = (now() as i64 - t).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The permalink of a bundle version.
pub fn bundle_href(name: &str, version: i64) -> String {
    format!("/bundles/{}/{version}", seg(name))
}

/// The permalink of a rule in a bundle version.
pub fn rule_href(name: &str, version: i64, rule: &str) -> String {
    format!("{}/rules/{}", bundle_href(name, version), seg(rule))
}

/// The permalink of a log entry.
pub fn entry_href(log: &str, index: i64) -> String {
    format!("/logs/{log}/entries/{index}")
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum ViewError {
    /// 404: no such thing (the message says what).
    NotFound(String),
    /// 400: the request is malformed (the message says how).
    BadRequest(String),
    /// 503: the index could not be read.
    Unavailable(String),
}

impl From<rusqlite::Error> for ViewError {
    fn from(e: rusqlite::Error) -> Self {
        ViewError::Unavailable(format!("reading the index: {e}"))
    }
}

type R<T> = Result<T, ViewError>;

// ---------------------------------------------------------------- alarms

/// An alarm raised by a monitor.
#[derive(Serialize)]
pub struct AlarmView {
    /// Which log.
    pub log: String,
    /// fork, fork-evidence, checkpoint-signature, invalid-entry,
    /// withheld-content, content-mismatch, invalid-bundle.
    pub kind: String,
    /// Whether the monitor raised it on its last pass (log-wide alarms)
    /// or it is about an entry (stays).
    pub standing: bool,
    /// What is wrong.
    pub message: String,
    /// The evidence (both checkpoints of a fork), if kept.
    pub evidence: Option<String>,
    /// First raised.
    pub first_seen: String,
    /// Last raised.
    pub last_seen: String,
}

/// Alarms to show on every page: the standing ones and those about
/// entries.
pub fn alarms(c: &Connection) -> R<Vec<AlarmView>> {
    let mut st = c.prepare(
        "SELECT log, kind, standing, message, evidence, first_seen, last_seen FROM alarms
         WHERE standing = 1 OR kind NOT IN ('fork', 'fork-evidence', 'checkpoint-signature')
         ORDER BY standing DESC, id DESC LIMIT 50",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(AlarmView {
                log: r.get(0)?,
                kind: r.get(1)?,
                standing: r.get(2)?,
                message: r.get(3)?,
                evidence: r.get(4)?,
                first_seen: date(r.get(5)?),
                last_seen: date(r.get(6)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------- home

/// A witness's latest cosignature of a log.
#[derive(Serialize)]
pub struct WitnessView {
    /// Its key name.
    pub name: String,
    /// Size of the latest checkpoint it cosigned that the center saw.
    pub size: Option<i64>,
    /// When it cosigned it (its cosignature's timestamp).
    pub cosigned_at: Option<String>,
    /// How long ago.
    pub age: Option<String>,
    /// `current` (cosigned the head), `lagging` (an older checkpoint),
    /// `missing` (never seen), `invalid` (a bad cosignature).
    pub status: String,
    /// What was wrong, for `invalid`.
    pub problem: Option<String>,
}

/// A log's verified head.
#[derive(Serialize)]
pub struct LogView {
    /// rules or custody.
    pub log: String,
    /// Its origin.
    pub origin: String,
    /// Its URL.
    pub url: String,
    /// Verified tree size.
    pub size: i64,
    /// Verified root hash (hex).
    pub root: Option<String>,
    /// The signed checkpoint last verified.
    pub checkpoint: Option<String>,
    /// When the center last verified a checkpoint of it.
    pub verified_at: Option<String>,
    /// When the monitor last ran.
    pub last_pass: Option<String>,
    /// Why the last pass failed, if it did.
    pub last_error: Option<String>,
    /// Its witnesses.
    pub witnesses: Vec<WitnessView>,
}

/// A channel (bundle name) and its latest version.
#[derive(Serialize)]
pub struct ChannelView {
    /// The bundle's name.
    pub name: String,
    /// Versions logged.
    pub versions: i64,
    /// Latest version.
    pub latest: i64,
    /// When it was made.
    pub latest_created: String,
    /// Its permalink.
    pub href: String,
}

/// The home page.
#[derive(Serialize)]
pub struct HomeView {
    /// The logs followed.
    pub logs: Vec<LogView>,
    /// Channels of the rules log.
    pub channels: Vec<ChannelView>,
    /// Bundle versions logged.
    pub bundles: i64,
    /// Reviews logged.
    pub reviews: i64,
    /// Release artifacts logged.
    pub releases: i64,
    /// Custody statements logged.
    pub custody: i64,
    /// The alarms every page shows.
    pub alarms: Vec<AlarmView>,
}

fn count(c: &Connection, sql: &str) -> R<i64> {
    Ok(c.query_row(sql, [], |r| r.get(0))?)
}

/// The logs' heads and witnesses.
pub fn logs(c: &Connection) -> R<Vec<LogView>> {
    let mut st = c.prepare(
        "SELECT log, origin, url, size, root, note, verified_at, last_pass, last_error
         FROM logs ORDER BY log DESC",
    )?;
    let mut logs: Vec<LogView> = st
        .query_map([], |r| {
            Ok(LogView {
                log: r.get(0)?,
                origin: r.get(1)?,
                url: r.get(2)?,
                size: r.get(3)?,
                root: r.get(4)?,
                checkpoint: r.get(5)?,
                verified_at: r.get::<_, Option<i64>>(6)?.map(date),
                last_pass: r.get::<_, Option<i64>>(7)?.map(date),
                last_error: r.get(8)?,
                witnesses: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut st = c.prepare(
        "SELECT name, size, timestamp, problem FROM witnesses WHERE log = ?1 ORDER BY name",
    )?;
    for l in &mut logs {
        let head = l.size;
        l.witnesses = st
            .query_map([&l.log], |r| {
                let size: Option<i64> = r.get(1)?;
                let ts: Option<i64> = r.get(2)?;
                let problem: Option<String> = r.get(3)?;
                let status = match (&problem, size) {
                    (Some(_), _) => "invalid",
                    (None, None) => "missing",
                    (None, Some(s)) if s < head => "lagging",
                    (None, Some(_)) => "current",
                };
                Ok(WitnessView {
                    name: r.get(0)?,
                    size,
                    cosigned_at: ts.map(date),
                    age: ts.map(age),
                    status: status.to_owned(),
                    problem,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(logs)
}

/// The channels and their latest versions.
pub fn channels(c: &Connection) -> R<Vec<ChannelView>> {
    let mut st = c.prepare(
        "SELECT b.name, n, b.version, b.created FROM
           (SELECT name, count(*) AS n, max(version) AS v FROM bundles GROUP BY name) AS m
         JOIN bundles b ON b.name = m.name AND b.version = m.v
         GROUP BY b.name ORDER BY b.name",
    )?;
    let rows = st
        .query_map([], |r| {
            let name: String = r.get(0)?;
            let latest: i64 = r.get(2)?;
            Ok(ChannelView {
                href: bundle_href(&name, latest),
                name,
                versions: r.get(1)?,
                latest,
                latest_created: date(r.get(3)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The home page.
pub fn home(c: &Connection) -> R<HomeView> {
    Ok(HomeView {
        logs: logs(c)?,
        channels: channels(c)?,
        bundles: count(c, "SELECT count(*) FROM bundles")?,
        reviews: count(c, "SELECT count(*) FROM reviews")?,
        releases: count(c, "SELECT count(*) FROM releases")?,
        custody: count(c, "SELECT count(*) FROM custody")?,
        alarms: alarms(c)?,
    })
}

// ---------------------------------------------------------------- bundles

/// Rows per page of a listing.
pub const PAGE: i64 = 100;

/// One version in the bundle list.
#[derive(Serialize)]
pub struct BundleRow {
    /// Channel.
    pub name: String,
    /// Version.
    pub version: i64,
    /// When it was made.
    pub created: String,
    /// Rules in it.
    pub rules: i64,
    /// Rules added since the previous version.
    pub added: usize,
    /// Rules removed.
    pub removed: usize,
    /// Rules changed.
    pub changed: usize,
    /// Lint findings.
    pub findings: i64,
    /// Logged approvals.
    pub approvals: i64,
    /// Logged rejections.
    pub rejections: i64,
    /// Log index of its statement.
    pub index: i64,
    /// Its permalink.
    pub href: String,
}

/// The bundle list.
#[derive(Serialize)]
pub struct BundlesView {
    /// The channel shown, if one was asked for.
    pub channel: Option<String>,
    /// Every channel.
    pub channels: Vec<ChannelView>,
    /// Versions per month per channel (the chart's data), months in order.
    pub months: Vec<String>,
    /// For each channel, versions per month (same order as `months`).
    pub per_month: BTreeMap<String, Vec<u64>>,
    /// The chart (SVG); not in the JSON.
    #[serde(skip)]
    pub chart: String,
    /// This page's versions, newest first.
    pub versions: Vec<BundleRow>,
    /// Page number (from 1).
    pub page: i64,
    /// Pages in all.
    pub pages: i64,
    /// Link to the previous page.
    pub prev_href: Option<String>,
    /// Link to the next page.
    pub next_href: Option<String>,
}

/// A bundle's `added`, `removed` or `changed` column: the rule IDs, as
/// the indexer wrote them (JSON).
fn rule_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// The last `n` months, oldest first, ending with the month of `t`.
fn last_months(t: u64, n: usize) -> Vec<String> {
    let m = month_of(t);
    let (mut y, mut mo): (i64, i64) =
        (m[..4].parse().unwrap_or(1970), m[5..7].parse().unwrap_or(1));
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(format!("{y:04}-{mo:02}"));
        mo -= 1;
        if mo == 0 {
            mo = 12;
            y -= 1;
        }
    }
    out.reverse();
    out
}

/// Months shown on charts.
pub const CHART_MONTHS: usize = 12;

/// The bundle list, of one channel or all, one page.
pub fn bundles(c: &Connection, channel: Option<&str>, page: i64) -> R<BundlesView> {
    let channels = channels(c)?;
    if let Some(ch) = channel {
        if !channels.iter().any(|c| c.name == ch) {
            return Err(ViewError::NotFound(format!("no channel named {ch:?}")));
        }
    }
    let total: i64 = c.query_row(
        "SELECT count(*) FROM bundles WHERE ?1 IS NULL OR name = ?1",
        [channel],
        |r| r.get(0),
    )?;
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    if page < 1 || page > pages {
        return Err(ViewError::NotFound(format!(
            "page {page} does not exist (there are {pages})"
        )));
    }
    let mut st = c.prepare(
        "SELECT b.name, b.version, b.created, b.rules, b.added, b.removed, b.changed, b.idx,
           (SELECT count(*) FROM findings f WHERE f.bundle = b.idx),
           (SELECT count(*) FROM reviews r WHERE r.subject = b.sha256 AND r.verdict = 'approve'),
           (SELECT count(*) FROM reviews r WHERE r.subject = b.sha256 AND r.verdict = 'reject')
         FROM bundles b WHERE ?1 IS NULL OR b.name = ?1
         ORDER BY b.created DESC, b.idx DESC LIMIT ?2 OFFSET ?3",
    )?;
    let versions = st
        .query_map(params![channel, PAGE, (page - 1) * PAGE], |r| {
            let name: String = r.get(0)?;
            let version: i64 = r.get(1)?;
            Ok(BundleRow {
                href: bundle_href(&name, version),
                name,
                version,
                created: date(r.get(2)?),
                rules: r.get(3)?,
                added: rule_list(&r.get::<_, String>(4)?).len(),
                removed: rule_list(&r.get::<_, String>(5)?).len(),
                changed: rule_list(&r.get::<_, String>(6)?).len(),
                index: r.get(7)?,
                findings: r.get(8)?,
                approvals: r.get(9)?,
                rejections: r.get(10)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    // The chart: versions per month, the last months up to the newest.
    let newest: Option<i64> = c.query_row(
        "SELECT max(created) FROM bundles WHERE ?1 IS NULL OR name = ?1",
        [channel],
        |r| r.get(0),
    )?;
    let months = last_months(newest.unwrap_or(now() as i64).max(0) as u64, CHART_MONTHS);
    let mut per_month: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for ch in &channels {
        if channel.is_some_and(|c| c != ch.name) {
            continue;
        }
        per_month.insert(ch.name.clone(), vec![0; months.len()]);
    }
    let mut st = c.prepare(
        "SELECT name, strftime('%Y-%m', created, 'unixepoch') AS m, count(*) FROM bundles
         WHERE (?1 IS NULL OR name = ?1) AND created >= unixepoch(?2 || '-01')
         GROUP BY name, m",
    )?;
    let first = months.first().cloned().unwrap_or_default();
    let mut q = st.query(params![channel, first])?;
    while let Some(r) = q.next()? {
        let name: String = r.get(0)?;
        let m: String = r.get(1)?;
        let n: i64 = r.get(2)?;
        if let (Some(v), Some(i)) = (
            per_month.get_mut(&name),
            months.iter().position(|x| *x == m),
        ) {
            v[i] = n as u64;
        }
    }
    let series: Vec<Series<'_>> = per_month
        .iter()
        .enumerate()
        .map(|(i, (name, v))| Series {
            name,
            values: v.clone(),
            color: PALETTE[i % PALETTE.len()],
        })
        .collect();
    let chart = charts::grouped_bars(
        "Bundle versions published per month, by channel",
        "versions",
        &months,
        &series,
    )
    .map_err(ViewError::Unavailable)?;
    let link = |p: i64| match channel {
        Some(ch) => format!("/bundles?channel={}&page={p}", seg(ch)),
        None => format!("/bundles?page={p}"),
    };
    Ok(BundlesView {
        channel: channel.map(str::to_owned),
        channels,
        months,
        per_month,
        chart,
        versions,
        page,
        pages,
        prev_href: (page > 1).then(|| link(page - 1)),
        next_href: (page < pages).then(|| link(page + 1)),
    })
}

// ---------------------------------------------------------------- one version

/// A rule, linked.
#[derive(Serialize)]
pub struct RuleLink {
    /// `file:rule`.
    pub id: String,
    /// Its permalink in the version shown (or, for a removed rule, in the
    /// version it was last in).
    pub href: String,
}

/// A lint finding with the publisher's acknowledgement.
#[derive(Serialize)]
pub struct FindingView {
    /// Finding ID (VL101...).
    pub id: String,
    /// high, medium, low.
    pub severity: String,
    /// The rule (`file:rule`).
    pub rule: String,
    /// Line in its file.
    pub line: i64,
    /// What the linter says.
    pub message: String,
    /// The publisher's reason for shipping it anyway, if acknowledged.
    pub acknowledged: Option<String>,
    /// The rule's permalink.
    pub rule_href: String,
}

/// A logged review.
#[derive(Serialize)]
pub struct ReviewView {
    /// approve or reject.
    pub verdict: String,
    /// The reviewer's key name.
    pub reviewer: String,
    /// Their comment.
    pub comment: Option<String>,
    /// SHA-256 of the report, if one was logged.
    pub report_sha256: Option<String>,
    /// The report's text, fetched from the log and checked against it.
    pub report: Option<String>,
    /// Why the report is not shown, if it is not.
    pub report_problem: Option<String>,
    /// Log index of the review.
    pub index: i64,
    /// Its permalink.
    pub href: String,
}

fn reviews_of(c: &Connection, subject: &str) -> R<Vec<ReviewView>> {
    let mut st = c.prepare(
        "SELECT verdict, reviewer, comment, report_sha, report, report_problem, idx
         FROM reviews WHERE subject = ?1 ORDER BY idx",
    )?;
    let rows = st
        .query_map([subject], |r| {
            let index: i64 = r.get(6)?;
            Ok(ReviewView {
                verdict: r.get(0)?,
                reviewer: r.get(1)?,
                comment: r.get(2)?,
                report_sha256: r.get(3)?,
                report: r.get(4)?,
                report_problem: r.get(5)?,
                index,
                href: entry_href("rules", index),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A version of a bundle.
#[derive(Serialize)]
pub struct VersionView {
    /// Channel.
    pub name: String,
    /// Version.
    pub version: i64,
    /// SHA-256 of the bundle.
    pub sha256: String,
    /// Its size in bytes.
    pub size: i64,
    /// When it was made.
    pub created: String,
    /// When endpoints stop using it.
    pub expires: String,
    /// Log index of its statement.
    pub index: i64,
    /// The statement's permalink.
    pub entry_href: String,
    /// Size of the checkpoint under which the center verified it.
    pub checkpoint_size: i64,
    /// Root hash of that checkpoint.
    pub checkpoint_root: Option<String>,
    /// The previous version of the channel.
    pub previous: Option<i64>,
    /// Its permalink.
    pub previous_href: Option<String>,
    /// The next version, if any.
    pub next: Option<i64>,
    /// Its permalink.
    pub next_href: Option<String>,
    /// Rules added since the previous version.
    pub added: Vec<RuleLink>,
    /// Rules removed.
    pub removed: Vec<RuleLink>,
    /// Rules changed.
    pub changed: Vec<RuleLink>,
    /// Every rule in it.
    pub rules: Vec<RuleLink>,
    /// Lint findings.
    pub findings: Vec<FindingView>,
    /// Reviews of it.
    pub reviews: Vec<ReviewView>,
}

struct BundleRowFull {
    idx: i64,
    sha256: String,
    size: i64,
    created: i64,
    expires: i64,
    previous: Option<i64>,
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    cp_size: i64,
}

fn bundle_row(c: &Connection, name: &str, version: i64) -> R<BundleRowFull> {
    c.query_row(
        "SELECT idx, sha256, size, created, expires, previous, added, removed, changed, cp_size
         FROM bundles WHERE name = ?1 AND version = ?2 ORDER BY idx LIMIT 1",
        params![name, version],
        |r: &Row<'_>| {
            let list = |s: String| rule_list(&s);
            Ok(BundleRowFull {
                idx: r.get(0)?,
                sha256: r.get(1)?,
                size: r.get(2)?,
                created: r.get(3)?,
                expires: r.get(4)?,
                previous: r.get(5)?,
                added: list(r.get(6)?),
                removed: list(r.get(7)?),
                changed: list(r.get(8)?),
                cp_size: r.get(9)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ViewError::NotFound(format!("no version {version} of bundle {name:?}")))
}

fn findings_of(c: &Connection, bundle: i64, name: &str, version: i64) -> R<Vec<FindingView>> {
    let mut st = c.prepare(
        "SELECT id, severity, file, rule, line, message, acknowledged FROM findings
         WHERE bundle = ?1 ORDER BY n",
    )?;
    let rows = st
        .query_map([bundle], |r| {
            let file: String = r.get(2)?;
            let rule: String = r.get(3)?;
            let id = if rule.is_empty() {
                file.clone()
            } else {
                format!("{file}:{rule}")
            };
            Ok(FindingView {
                id: r.get(0)?,
                severity: r.get(1)?,
                rule_href: rule_href(name, version, &id),
                rule: id,
                line: r.get(4)?,
                message: r.get(5)?,
                acknowledged: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One version of a bundle.
pub fn version(c: &Connection, name: &str, version: i64) -> R<VersionView> {
    let b = bundle_row(c, name, version)?;
    let next: Option<i64> = c.query_row(
        "SELECT min(version) FROM bundles WHERE name = ?1 AND version > ?2",
        params![name, version],
        |r| r.get(0),
    )?;
    let root: Option<String> = c
        .query_row(
            "SELECT root FROM checkpoints WHERE log = 'rules' AND size = ?1",
            [b.cp_size],
            |r| r.get(0),
        )
        .optional()?;
    let link = |id: &String| RuleLink {
        href: rule_href(name, version, id),
        id: id.clone(),
    };
    let removed = b
        .removed
        .iter()
        .map(|id| RuleLink {
            href: rule_href(name, b.previous.unwrap_or(version), id),
            id: id.clone(),
        })
        .collect();
    let mut st = c.prepare("SELECT rule FROM bundle_rules WHERE bundle = ?1 ORDER BY rule")?;
    let rules: Vec<String> = st
        .query_map([b.idx], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(VersionView {
        name: name.to_owned(),
        version,
        size: b.size,
        created: date(b.created),
        expires: date(b.expires),
        index: b.idx,
        entry_href: entry_href("rules", b.idx),
        checkpoint_size: b.cp_size,
        checkpoint_root: root,
        previous_href: b.previous.map(|p| bundle_href(name, p)),
        previous: b.previous,
        next_href: next.map(|n| bundle_href(name, n)),
        next,
        added: b.added.iter().map(link).collect(),
        removed,
        changed: b.changed.iter().map(link).collect(),
        rules: rules.iter().map(link).collect(),
        findings: findings_of(c, b.idx, name, version)?,
        reviews: reviews_of(c, &b.sha256)?,
        sha256: b.sha256,
    })
}

// ---------------------------------------------------------------- one rule

/// A version in a rule's history.
#[derive(Serialize)]
pub struct HistoryEntry {
    /// The bundle version.
    pub version: i64,
    /// added, changed, unchanged.
    pub change: String,
    /// The rule's permalink in that version.
    pub href: String,
}

/// A rule in a version of a bundle.
#[derive(Serialize)]
pub struct RuleView {
    /// Channel.
    pub bundle: String,
    /// Version.
    pub version: i64,
    /// The version's permalink.
    pub bundle_href: String,
    /// `file:rule`.
    pub rule: String,
    /// Whether the rule is in this version (a removed rule is shown as
    /// it was in the previous one).
    pub present: bool,
    /// added, changed, unchanged or removed, against the previous version.
    pub change: String,
    /// Its YARA source in this version.
    pub source: String,
    /// Unified diff against the previous version, when it changed.
    pub diff: Option<String>,
    /// Lint findings on it in this version.
    pub findings: Vec<FindingView>,
    /// The versions of the channel that carry it (newest first, at most
    /// 100).
    pub history: Vec<HistoryEntry>,
}

fn rule_text(c: &Connection, bundle: i64, rule: &str) -> R<Option<String>> {
    Ok(c.query_row(
        "SELECT t.text FROM bundle_rules b JOIN rule_texts t ON t.sha = b.text_sha
         WHERE b.bundle = ?1 AND b.rule = ?2",
        params![bundle, rule],
        |r| r.get(0),
    )
    .optional()?)
}

/// A rule of a bundle version, with its diff.
pub fn rule(c: &Connection, name: &str, version: i64, rule: &str) -> R<RuleView> {
    let b = bundle_row(c, name, version)?;
    let previous = match b.previous {
        Some(p) => Some(bundle_row(c, name, p)?),
        None => None,
    };
    let now_text = rule_text(c, b.idx, rule)?;
    let old_text = match &previous {
        Some(p) => rule_text(c, p.idx, rule)?,
        None => None,
    };
    let (present, source) = match (&now_text, &old_text) {
        (Some(t), _) => (true, t.clone()),
        (None, Some(t)) if b.removed.iter().any(|r| r == rule) => (false, t.clone()),
        _ => {
            return Err(ViewError::NotFound(format!(
                "bundle {name:?} version {version} has no rule {rule:?}"
            )))
        }
    };
    let change = if !present {
        "removed"
    } else if b.added.iter().any(|r| r == rule) {
        "added"
    } else if b.changed.iter().any(|r| r == rule) {
        "changed"
    } else {
        "unchanged"
    };
    let diff = match (&old_text, &now_text) {
        (Some(o), Some(n)) if o != n => Some(
            similar::TextDiff::from_lines(o, n)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("{rule} (version {})", b.previous.unwrap_or_default()),
                    &format!("{rule} (version {version})"),
                )
                .to_string(),
        ),
        _ => None,
    };
    let findings = findings_of(c, b.idx, name, version)?
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect();
    let mut st = c.prepare(
        "SELECT b.version, b.added, b.changed FROM bundle_rules r JOIN bundles b ON b.idx = r.bundle
         WHERE b.name = ?1 AND r.rule = ?2 ORDER BY b.version DESC LIMIT 100",
    )?;
    let history = st
        .query_map(params![name, rule], |r| {
            let v: i64 = r.get(0)?;
            let added: String = r.get(1)?;
            let changed: String = r.get(2)?;
            let has = |s: &str| rule_list(s).iter().any(|x| x == rule);
            Ok(HistoryEntry {
                version: v,
                change: if has(&added) {
                    "added"
                } else if has(&changed) {
                    "changed"
                } else {
                    "unchanged"
                }
                .to_owned(),
                href: rule_href(name, v, rule),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(RuleView {
        bundle: name.to_owned(),
        version,
        bundle_href: bundle_href(name, version),
        rule: rule.to_owned(),
        present,
        change: change.to_owned(),
        source,
        diff,
        findings,
        history,
    })
}

// ---------------------------------------------------------------- search

/// A search hit.
#[derive(Serialize)]
pub struct Hit {
    /// rule, bundle, finding, release, review, custody.
    pub kind: String,
    /// What it is.
    pub title: String,
    /// Why it matched.
    pub why: String,
    /// Its permalink.
    pub href: String,
}

/// Search results.
#[derive(Serialize)]
pub struct SearchView {
    /// The query.
    pub q: String,
    /// How it was read: sha256, finding, or text (rule names and rule
    /// source).
    pub read_as: String,
    /// At most 100 hits of each kind.
    pub hits: Vec<Hit>,
}

/// Longest query.
pub const MAX_QUERY: usize = 200;

/// Checks a query: 1 to 200 characters, no control characters.
pub fn check_query(q: &str) -> R<String> {
    let q = q.trim();
    if q.is_empty() {
        return Err(ViewError::BadRequest(
            "the search is empty: give a rule name, a string, a SHA-256 or a finding ID".into(),
        ));
    }
    if q.chars().count() > MAX_QUERY {
        return Err(ViewError::BadRequest(format!(
            "the search is longer than {MAX_QUERY} characters"
        )));
    }
    if q.chars().any(char::is_control) {
        return Err(ViewError::BadRequest(
            "the search contains control characters".into(),
        ));
    }
    Ok(q.to_owned())
}

fn is_finding_id(q: &str) -> bool {
    q.len() == 5 && q[..2].eq_ignore_ascii_case("VL") && q[2..].bytes().all(|b| b.is_ascii_digit())
}

/// Escapes `%`, `_` and `\` for LIKE ... ESCAPE '\'.
fn like(q: &str) -> String {
    let mut out = String::from("%");
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Searches rule names and sources, SHA-256s and finding IDs.
pub fn search(c: &Connection, q: &str) -> R<SearchView> {
    let q = check_query(q)?;
    let mut hits = Vec::new();
    let read_as;
    if q.len() == 64 && q.bytes().all(|b| b.is_ascii_hexdigit()) {
        read_as = "sha256";
        let h = q.to_ascii_lowercase();
        let mut st = c.prepare("SELECT name, version FROM bundles WHERE sha256 = ?1 LIMIT 100")?;
        for r in st.query_map([&h], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (n, v) = r?;
            hits.push(Hit {
                kind: "bundle".into(),
                title: format!("{n} version {v}"),
                why: "the bundle's SHA-256".into(),
                href: bundle_href(&n, v),
            });
        }
        let mut st = c.prepare(
            "SELECT version, target, sha256 = ?1 FROM releases
             WHERE sha256 = ?1 OR source = ?1 OR lockfile = ?1 OR recipe = ?1 LIMIT 100",
        )?;
        for r in st.query_map([&h], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })? {
            let (v, t, artifact) = r?;
            hits.push(Hit {
                kind: "release".into(),
                title: format!("vitrine {v} ({t})"),
                why: if artifact {
                    "the artifact's SHA-256"
                } else {
                    "its source, lockfile or recipe SHA-256"
                }
                .into(),
                href: format!("/releases#v{}", seg(&v)),
            });
        }
        let mut st = c.prepare(
            "SELECT idx, kind, month, tenant FROM custody WHERE sample = ?1 ORDER BY idx LIMIT 100",
        )?;
        for r in st.query_map([&h], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })? {
            let (i, k, m, t) = r?;
            hits.push(Hit {
                kind: "custody".into(),
                title: format!("{k} of the sample, tenant {t}, {m}"),
                why: "the sample's SHA-256".into(),
                href: entry_href("custody", i),
            });
        }
    } else if is_finding_id(&q) {
        read_as = "finding";
        let id = q.to_ascii_uppercase();
        let mut st = c.prepare(
            "SELECT b.name, b.version, f.file, f.rule, f.acknowledged FROM findings f
             JOIN bundles b ON b.idx = f.bundle WHERE f.id = ?1
             ORDER BY b.created DESC LIMIT 100",
        )?;
        for r in st.query_map([&id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })? {
            let (n, v, file, rule, ack) = r?;
            let rid = format!("{file}:{rule}");
            hits.push(Hit {
                kind: "finding".into(),
                title: format!("{id} on {rid} in {n} version {v}"),
                why: match ack {
                    Some(reason) => format!("acknowledged by the publisher: {reason}"),
                    None => "not acknowledged".into(),
                },
                href: rule_href(&n, v, &rid),
            });
        }
    } else {
        read_as = "text";
        let pat = like(&q);
        // Rule names: the newest version of each channel carrying it.
        let mut st = c.prepare(
            "SELECT b.name, max(b.version), r.rule FROM bundle_rules r JOIN bundles b ON b.idx = r.bundle
             WHERE r.rule LIKE ?1 ESCAPE '\\' GROUP BY b.name, r.rule ORDER BY r.rule LIMIT 100",
        )?;
        for r in st.query_map([&pat], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (n, v, rule) = r?;
            hits.push(Hit {
                kind: "rule".into(),
                title: format!("{rule} in {n} version {v}"),
                why: "its name".into(),
                href: rule_href(&n, v, &rule),
            });
        }
        let mut st = c.prepare(
            "SELECT b.name, max(b.version), r.rule FROM rule_texts t
             JOIN bundle_rules r ON r.text_sha = t.sha JOIN bundles b ON b.idx = r.bundle
             WHERE t.text LIKE ?1 ESCAPE '\\' AND r.rule NOT LIKE ?1 ESCAPE '\\'
             GROUP BY b.name, r.rule ORDER BY r.rule LIMIT 100",
        )?;
        for r in st.query_map([&pat], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (n, v, rule) = r?;
            hits.push(Hit {
                kind: "rule".into(),
                title: format!("{rule} in {n} version {v}"),
                why: "its source contains the text".into(),
                href: rule_href(&n, v, &rule),
            });
        }
    }
    Ok(SearchView {
        q,
        read_as: read_as.into(),
        hits,
    })
}

// ---------------------------------------------------------------- releases

/// One artifact of a release.
#[derive(Serialize)]
pub struct ArtifactView {
    /// Target (triple, or triple and package kind).
    pub target: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Log index.
    pub index: i64,
    /// The statement's permalink.
    pub href: String,
    /// Reviews of this artifact.
    pub reviews: Vec<ReviewView>,
}

/// A release of vitrine.
#[derive(Serialize)]
pub struct ReleaseView {
    /// Version.
    pub version: String,
    /// Anchor on the page.
    pub anchor: String,
    /// Source commit.
    pub commit: String,
    /// SHA-256 of the source archive.
    pub source_sha256: String,
    /// SHA-256 of Cargo.lock.
    pub lockfile_sha256: String,
    /// SHA-256 of the build recipe.
    pub recipe_sha256: String,
    /// Toolchain.
    pub toolchain: String,
    /// Its artifacts.
    pub artifacts: Vec<ArtifactView>,
}

/// Every release, newest first.
pub fn releases(c: &Connection) -> R<Vec<ReleaseView>> {
    let mut st = c.prepare(
        "SELECT version, target, sha256, commit_id, source, lockfile, recipe, toolchain, idx
         FROM releases ORDER BY idx DESC",
    )?;
    // One row per artifact; the release's own fields, then the artifact.
    let rows: Vec<(ReleaseView, String, String, i64)> = st
        .query_map([], |r| {
            let version: String = r.get(0)?;
            Ok((
                ReleaseView {
                    anchor: format!("v{version}"),
                    version,
                    commit: r.get(3)?,
                    source_sha256: r.get(4)?,
                    lockfile_sha256: r.get(5)?,
                    recipe_sha256: r.get(6)?,
                    toolchain: r.get(7)?,
                    artifacts: Vec::new(),
                },
                r.get(1)?,
                r.get(2)?,
                r.get(8)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut out: Vec<ReleaseView> = Vec::new();
    for (release, target, sha, idx) in rows {
        let artifact = ArtifactView {
            target,
            reviews: reviews_of(c, &sha)?,
            sha256: sha,
            index: idx,
            href: entry_href("rules", idx),
        };
        match out
            .iter_mut()
            .find(|r| r.version == release.version && r.commit == release.commit)
        {
            Some(r) => r.artifacts.push(artifact),
            None => out.push(ReleaseView {
                artifacts: vec![artifact],
                ..release
            }),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- custody

/// Statement counts of one month or tenant.
#[derive(Serialize)]
pub struct CountRow {
    /// The month (YYYY-MM) or the tenant pseudonym.
    pub key: String,
    /// Receipts.
    pub receipts: i64,
    /// Accesses.
    pub accesses: i64,
    /// Deletions.
    pub deletions: i64,
    /// Link to the receipts behind the count.
    pub receipts_href: String,
    /// Link to the accesses.
    pub accesses_href: String,
    /// Link to the deletions.
    pub deletions_href: String,
}

/// One custody statement.
#[derive(Serialize)]
pub struct CustodyRow {
    /// Log index.
    pub index: i64,
    /// receipt, access, deletion.
    pub kind: String,
    /// When (its `time`).
    pub time: String,
    /// Tenant pseudonym.
    pub tenant: String,
    /// The sample's SHA-256.
    pub sample: String,
    /// Who opened it (accesses): the key that signed the access.
    pub who: Option<String>,
    /// Why: an access's purpose and the key the sample was sealed to, a
    /// deletion's reason, a receipt's policy.
    pub detail: Option<String>,
    /// The statement's permalink.
    pub href: String,
}

/// What the vendor did with customers' data.
#[derive(Serialize)]
pub struct CustodyView {
    /// Per month, the months of the chart (the last 12) and any older.
    pub months: Vec<CountRow>,
    /// Per tenant pseudonym.
    pub tenants: Vec<CountRow>,
    /// The chart per month (SVG); not in the JSON.
    #[serde(skip)]
    pub chart: String,
    /// The chart per tenant (SVG, the 12 tenants with the most
    /// statements); not in the JSON.
    #[serde(skip)]
    pub tenant_chart: String,
    /// The latest accesses (at most 20).
    pub recent_accesses: Vec<CustodyRow>,
    /// Statements in all.
    pub total: i64,
}

fn statements_href(filter: &str, value: &str, kind: &str) -> String {
    format!("/custody/statements?{filter}={}&kind={kind}", seg(value))
}

fn counts(c: &Connection, by: &str) -> R<Vec<CountRow>> {
    let (col, order, filter) = match by {
        "month" => ("month", "month DESC", "month"),
        _ => ("tenant", "tenant", "tenant"),
    };
    let mut st = c.prepare(&format!(
        "SELECT {col},
           sum(CASE WHEN kind = 'receipt' THEN n ELSE 0 END),
           sum(CASE WHEN kind = 'access' THEN n ELSE 0 END),
           sum(CASE WHEN kind = 'deletion' THEN n ELSE 0 END)
         FROM custody_counts GROUP BY {col} ORDER BY {order} LIMIT 1000"
    ))?;
    let rows = st
        .query_map([], |r| {
            let key: String = r.get(0)?;
            Ok(CountRow {
                receipts_href: statements_href(filter, &key, "receipt"),
                accesses_href: statements_href(filter, &key, "access"),
                deletions_href: statements_href(filter, &key, "deletion"),
                receipts: r.get(1)?,
                accesses: r.get(2)?,
                deletions: r.get(3)?,
                key,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn custody_row(r: &Row<'_>) -> rusqlite::Result<CustodyRow> {
    let index: i64 = r.get(0)?;
    Ok(CustodyRow {
        index,
        kind: r.get(1)?,
        time: date(r.get(2)?),
        tenant: r.get(3)?,
        sample: r.get(4)?,
        who: r.get(5)?,
        detail: r.get(6)?,
        href: entry_href("custody", index),
    })
}

/// The custody page.
pub fn custody(c: &Connection) -> R<CustodyView> {
    let months = counts(c, "month")?;
    let tenants = counts(c, "tenant")?;
    let newest = months
        .first()
        .map(|m| m.key.clone())
        .unwrap_or_else(|| month_of(now()));
    let newest_t = c
        .query_row("SELECT unixepoch(?1 || '-01')", [&newest], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0);
    let axis = last_months(newest_t.max(0) as u64, CHART_MONTHS);
    let value = |m: &str, f: fn(&CountRow) -> i64| {
        months
            .iter()
            .find(|r| r.key == m)
            .map_or(0, |r| f(r) as u64)
    };
    let series = [
        Series {
            name: "receipts",
            values: axis.iter().map(|m| value(m, |r| r.receipts)).collect(),
            color: PALETTE[0],
        },
        Series {
            name: "accesses",
            values: axis.iter().map(|m| value(m, |r| r.accesses)).collect(),
            color: PALETTE[1],
        },
        Series {
            name: "deletions",
            values: axis.iter().map(|m| value(m, |r| r.deletions)).collect(),
            color: PALETTE[2],
        },
    ];
    let chart = charts::grouped_bars(
        "Custody statements per month: receipts, accesses and deletions",
        "statements",
        &axis,
        &series,
    )
    .map_err(ViewError::Unavailable)?;
    let mut busiest: Vec<&CountRow> = tenants.iter().collect();
    busiest.sort_by_key(|t| std::cmp::Reverse(t.receipts + t.accesses + t.deletions));
    busiest.truncate(CHART_MONTHS);
    busiest.sort_by(|a, b| a.key.cmp(&b.key));
    let names: Vec<String> = busiest.iter().map(|t| t.key.clone()).collect();
    let per_tenant = |f: fn(&CountRow) -> i64| busiest.iter().map(|t| f(t) as u64).collect();
    let tenant_chart = charts::grouped_bars(
        "Custody statements per tenant: receipts, accesses and deletions",
        "statements",
        &names,
        &[
            Series {
                name: "receipts",
                values: per_tenant(|r| r.receipts),
                color: PALETTE[0],
            },
            Series {
                name: "accesses",
                values: per_tenant(|r| r.accesses),
                color: PALETTE[1],
            },
            Series {
                name: "deletions",
                values: per_tenant(|r| r.deletions),
                color: PALETTE[2],
            },
        ],
    )
    .map_err(ViewError::Unavailable)?;
    let mut st = c.prepare(
        "SELECT idx, kind, time, tenant, sample, who, detail FROM custody
         WHERE kind = 'access' ORDER BY idx DESC LIMIT 20",
    )?;
    let recent_accesses = st.query_map([], custody_row)?.collect::<Result<_, _>>()?;
    Ok(CustodyView {
        months,
        tenants,
        chart,
        tenant_chart,
        recent_accesses,
        total: count(c, "SELECT count(*) FROM custody")?,
    })
}

/// A filtered list of custody statements.
#[derive(Serialize)]
pub struct StatementsView {
    /// The month asked for (YYYY-MM).
    pub month: Option<String>,
    /// The kind asked for.
    pub kind: Option<String>,
    /// The tenant asked for.
    pub tenant: Option<String>,
    /// Matching statements in all.
    pub total: i64,
    /// This page's statements, oldest first.
    pub statements: Vec<CustodyRow>,
    /// Page number.
    pub page: i64,
    /// Pages.
    pub pages: i64,
    /// Previous page.
    pub prev_href: Option<String>,
    /// Next page.
    pub next_href: Option<String>,
}

fn valid_month(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(m[5..].parse::<u8>(), Ok(1..=12))
}

/// Custody statements by month, kind and tenant.
pub fn statements(
    c: &Connection,
    month: Option<&str>,
    kind: Option<&str>,
    tenant: Option<&str>,
    page: i64,
) -> R<StatementsView> {
    if let Some(m) = month {
        if !valid_month(m) {
            return Err(ViewError::BadRequest(format!(
                "month {m:?} is not of the form YYYY-MM"
            )));
        }
    }
    if let Some(k) = kind {
        if !matches!(k, "receipt" | "access" | "deletion") {
            return Err(ViewError::BadRequest(format!(
                "kind {k:?} is not one of receipt, access, deletion"
            )));
        }
    }
    if let Some(t) = tenant {
        if t.is_empty() || t.len() > 256 || t.chars().any(char::is_control) {
            return Err(ViewError::BadRequest("malformed tenant".into()));
        }
    }
    let filter =
        "(?1 IS NULL OR month = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR tenant = ?3)";
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM custody WHERE {filter}"),
        params![month, kind, tenant],
        |r| r.get(0),
    )?;
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    if page < 1 || page > pages {
        return Err(ViewError::NotFound(format!(
            "page {page} does not exist (there are {pages})"
        )));
    }
    let mut st = c.prepare(&format!(
        "SELECT idx, kind, time, tenant, sample, who, detail FROM custody WHERE {filter}
         ORDER BY idx LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = st
        .query_map(
            params![month, kind, tenant, PAGE, (page - 1) * PAGE],
            custody_row,
        )?
        .collect::<Result<_, _>>()?;
    let link = |p: i64| {
        let mut q = Vec::new();
        if let Some(m) = month {
            q.push(format!("month={m}"));
        }
        if let Some(k) = kind {
            q.push(format!("kind={k}"));
        }
        if let Some(t) = tenant {
            q.push(format!("tenant={}", seg(t)));
        }
        q.push(format!("page={p}"));
        format!("/custody/statements?{}", q.join("&"))
    };
    Ok(StatementsView {
        month: month.map(str::to_owned),
        kind: kind.map(str::to_owned),
        tenant: tenant.map(str::to_owned),
        total,
        statements: rows,
        page,
        pages,
        prev_href: (page > 1).then(|| link(page - 1)),
        next_href: (page < pages).then(|| link(page + 1)),
    })
}

// ---------------------------------------------------------------- entries

/// One log entry.
#[derive(Serialize)]
pub struct EntryView {
    /// rules or custody.
    pub log: String,
    /// The log's origin.
    pub origin: String,
    /// Log index.
    pub index: i64,
    /// Statement type.
    pub kind: String,
    /// The key that signed it.
    pub signer: String,
    /// The statement's text.
    pub text: String,
    /// Size of the checkpoint under which the center verified it.
    pub checkpoint_size: i64,
    /// That checkpoint, as signed.
    pub checkpoint: Option<String>,
    /// For a rules statement, the bundle version's permalink.
    pub bundle_href: Option<String>,
}

/// A log entry the center verified.
pub fn entry(c: &Connection, log: LogKind, index: i64) -> R<EntryView> {
    let (kind, signer, text, cp_size): (String, String, String, i64) = c
        .query_row(
            "SELECT kind, signer, text, cp_size FROM entries WHERE log = ?1 AND idx = ?2",
            params![log.as_str(), index],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| {
            ViewError::NotFound(format!(
                "the {} log has no verified entry {index}",
                log.as_str()
            ))
        })?;
    let origin: String = c.query_row(
        "SELECT origin FROM logs WHERE log = ?1",
        [log.as_str()],
        |r| r.get(0),
    )?;
    let checkpoint: Option<String> = c
        .query_row(
            "SELECT note FROM checkpoints WHERE log = ?1 AND size = ?2",
            params![log.as_str(), cp_size],
            |r| r.get(0),
        )
        .optional()?;
    let bundle_href = c
        .query_row(
            "SELECT name, version FROM bundles WHERE idx = ?1",
            [index],
            |r| Ok(bundle_href(&r.get::<_, String>(0)?, r.get(1)?)),
        )
        .optional()?
        .filter(|_| log == LogKind::Rules);
    Ok(EntryView {
        log: log.as_str().to_owned(),
        origin,
        index,
        kind,
        signer,
        text,
        checkpoint_size: cp_size,
        checkpoint,
        bundle_href,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked() {
        assert!(matches!(check_query("  "), Err(ViewError::BadRequest(_))));
        assert!(matches!(
            check_query(&"a".repeat(201)),
            Err(ViewError::BadRequest(_))
        ));
        assert!(matches!(
            check_query("a\u{1b}[31m"),
            Err(ViewError::BadRequest(_))
        ));
        assert_eq!(check_query(" Mimikatz ").unwrap(), "Mimikatz");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like("50%_a\\"), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn months_are_checked_and_counted_back() {
        assert!(valid_month("2026-11"));
        assert!(!valid_month("2026-13") && !valid_month("2026-1") && !valid_month("x026-01"));
        // 2026-01-15
        let m = last_months(1_768_435_200, 3);
        assert_eq!(m, ["2025-11", "2025-12", "2026-01"]);
    }

    #[test]
    fn finding_ids_are_recognised() {
        assert!(is_finding_id("VL101") && is_finding_id("vl701"));
        assert!(!is_finding_id("VL10") && !is_finding_id("XL101"));
    }
}
