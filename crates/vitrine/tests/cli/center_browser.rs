//! The transparency center in a real browser: Debian's Chromium driven
//! through chromedriver, against a vendor's logs built with the real
//! binary (`CenterFixture`), with axe-core checking every page and a
//! screenshot of each written to the screenshot folder
//! (`$VITRINE_SCREENSHOTS`, else `target/.../center-screenshots/`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::{describe, Browser};
use crate::center::{center, get_json};
use crate::center_fixture::{
    CenterFixture, FLAGGED_FINDING, FLAGGED_REASON, FLAGGED_RULE, RELEASE_VERSION,
};

/// Polls the center's home page (JSON) until `ready` says so.
fn wait_until(base: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let home = get_json(&format!("{base}/?format=json"));
        if ready(&home) {
            return home;
        }
        assert!(Instant::now() < deadline, "{what}: never happened: {home}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits (up to 10 s) for the page's `h1` to read `want`: a click that
/// navigates may return before the new page is there.
async fn heading(b: &Browser, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h1 = b.text("h1").await;
        if h1 == want {
            return;
        }
        assert!(Instant::now() < deadline, "h1 {h1:?}, waited for {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks the page with axe-core: no violation at all.
async fn accessible(b: &Browser, page: &str) {
    let v = b.axe().await;
    assert!(v.is_empty(), "{page}: axe-core found\n{}", describe(&v));
}

#[test]
fn the_center_in_a_browser_follows_bundles_rules_findings_search_custody_and_a_fork() {
    let mut fx = CenterFixture::build();
    let state = fx.dir().join("center");
    let (rules_url, rules_key, rules_auth) = (
        fx.rules_url(),
        fx.rules_key().to_owned(),
        fx.rules_authorized(),
    );
    let (custody_url, custody_key, custody_auth) = (
        fx.custody_url().to_owned(),
        fx.custody_key().to_owned(),
        fx.custody_authorized(),
    );
    let policy = fx.policy();
    let (_center, base) = center(&[
        "--log",
        &rules_url,
        "--log-key",
        &rules_key,
        "--authorized",
        rules_auth.to_str().unwrap(),
        "--custody-log",
        &custody_url,
        "--custody-key",
        &custody_key,
        "--custody-authorized",
        custody_auth.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    let (rules_size, custody_size) = (fx.rules_size(), fx.custody_size());
    wait_until(&base, "indexing both logs", |h| {
        h["logs"].as_array().is_some_and(|logs| {
            logs.iter()
                .any(|l| l["log"] == "rules" && l["size"] == rules_size)
                && logs
                    .iter()
                    .any(|l| l["log"] == "custody" && l["size"] == custody_size)
        })
    });

    let flagged = fx.flagged_bundle().clone();
    let flagged_rule = format!("{}.yar:{FLAGGED_RULE}", flagged.channel);
    let changed = fx
        .bundles()
        .iter()
        .find(|b| !b.changed.is_empty())
        .expect("the fixture changes a rule")
        .clone();
    let months = fx.months();
    let expected: Vec<(String, [usize; 3])> = months
        .iter()
        .map(|m| {
            (
                m.clone(),
                [
                    fx.custody_count("receipt", None, Some(m)),
                    fx.custody_count("access", None, Some(m)),
                    fx.custody_count("deletion", None, Some(m)),
                ],
            )
        })
        .collect();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(Browser::start());
    rt.block_on(async {
        // The home page: both logs' heads, the witnesses, the channels.
        b.goto(&format!("{base}/")).await;
        heading(&b, "What the logs prove").await;
        let statuses = b.texts("td[class^=status-]").await;
        assert!(
            statuses.len() >= 2 && statuses.iter().all(|s| s == "current"),
            "witnesses: {statuses:?}"
        );
        assert!(!b.exists("#alarms").await, "no alarm before the fork");
        b.screenshot("center-home").await;
        accessible(&b, "/").await;

        // Bundles, then the version that ships the flagged rule.
        b.click_link("Bundles").await;
        heading(&b, "Every rule bundle published").await;
        b.screenshot("center-bundles").await;
        accessible(&b, "/bundles").await;
        b.click_link(&format!("{} version {}", flagged.channel, flagged.version))
            .await;
        heading(
            &b,
            &format!("Bundle {}, version {}", flagged.channel, flagged.version),
        )
        .await;
        let findings = b.text("table").await;
        assert!(findings.contains(FLAGGED_FINDING), "{findings}");
        assert!(findings.contains(FLAGGED_REASON), "{findings}");
        b.screenshot("center-version").await;
        accessible(&b, "a version").await;
        // Its lint finding, on the rule's page.
        b.click_link(&flagged_rule).await;
        heading(&b, &format!("Rule {flagged_rule}")).await;
        let finding = b.text(&format!("#finding-{FLAGGED_FINDING}")).await;
        assert!(finding.contains(FLAGGED_REASON), "{finding}");
        assert!(b.text("pre").await.contains(FLAGGED_RULE));

        // A changed rule's diff.
        let rule = &changed.changed[0];
        b.goto(&format!(
            "{base}/bundles/{}/{}",
            changed.channel, changed.version
        ))
        .await;
        b.click_link(rule).await;
        heading(&b, &format!("Rule {rule}")).await;
        let diff = b.text("pre").await;
        assert!(
            diff.contains("(version ")
                && diff.lines().any(|l| l.starts_with('+'))
                && diff.lines().any(|l| l.starts_with('-')),
            "{diff}"
        );
        b.screenshot("center-rule-diff").await;
        accessible(&b, "a rule's diff").await;

        // Search by a rule's name, from the search box.
        let q = b.find("#q").await;
        q.send_keys(FLAGGED_RULE).await.unwrap();
        b.click("form.search button").await;
        heading(&b, &format!("Search: {FLAGGED_RULE}")).await;
        let hits = b.text("table").await;
        assert!(hits.contains(&flagged_rule), "{hits}");
        b.screenshot("center-search").await;
        accessible(&b, "/search").await;
        b.click_link(&format!(
            "{flagged_rule} in {} version {}",
            flagged.channel, flagged.version
        ))
        .await;
        heading(&b, &format!("Rule {flagged_rule}")).await;

        // Releases.
        b.click_link("Releases").await;
        heading(&b, "Releases of vitrine").await;
        assert!(b
            .text("main")
            .await
            .contains(&format!("vitrine {RELEASE_VERSION}")));
        accessible(&b, "/releases").await;

        // Custody: the chart's data, and the statements behind a number.
        b.click_link("Customers' data").await;
        heading(&b, "What the vendor did with customers' data").await;
        assert!(b.exists("figure svg[role=img]").await);
        for (month, counts) in &expected {
            let row = b.texts("#per-month tbody tr").await;
            let line = row
                .iter()
                .find(|r| r.starts_with(month.as_str()))
                .unwrap_or_else(|| panic!("no row for {month} in {row:?}"));
            let cells: Vec<usize> = line
                .split_whitespace()
                .skip(1)
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(cells, counts, "{month}");
        }
        b.screenshot("center-custody").await;
        accessible(&b, "/custody").await;
        let (month, counts) = &expected[0];
        b.goto(&format!(
            "{base}/custody/statements?month={month}&kind=receipt"
        ))
        .await;
        let rows = b.find_all("main table tbody tr").await;
        assert_eq!(rows.len(), counts[0]);
        accessible(&b, "/custody/statements").await;
    });

    // The fork: the rules log's URL now serves another tree under the
    // same key. The alarm stands on every page.
    fx.stage_fork();
    wait_until(&base, "the fork alarm", |h| {
        h["alarms"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["standing"] == true && a["kind"].as_str().unwrap().starts_with("fork"))
        })
    });
    rt.block_on(async {
        b.goto(&format!("{base}/")).await;
        let alarm = b.text("#alarms").await;
        assert!(alarm.contains("fork"), "{alarm}");
        b.click("#alarms summary").await;
        assert!(b.text("#alarms pre").await.contains("log.example/rules"));
        b.screenshot("center-fork-alarm").await;
        accessible(&b, "/ with an alarm").await;
        b.goto(&format!("{base}/bundles")).await;
        assert!(b.exists("#alarms").await);
    });
    rt.block_on(b.close());
}
