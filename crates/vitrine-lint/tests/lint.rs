//! The linter against its two corpora and hand-picked cases.

use std::collections::BTreeSet;
use std::path::Path;

use vitrine_lint::{lint_path, lint_source, Report, Severity, FINDING_IDS};

fn corpus(name: &str) -> Report {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    lint_path(&dir).unwrap_or_else(|e| panic!("corpus {name}: {e}"))
}

fn flagged(report: &Report, min: Severity) -> BTreeSet<(String, String)> {
    report
        .at_least(min)
        .map(|f| (f.file.clone(), f.rule.clone()))
        .collect()
}

/// The detection check (surveillance corpus) and the false-positive check
/// (malware corpus), with the rates the issue asks to report.
#[test]
fn corpora_rates() {
    let surv = corpus("surveillance");
    let mal = corpus("malware");
    assert!(
        surv.rules.len() >= 25,
        "{} surveillance rules",
        surv.rules.len()
    );
    assert!(mal.rules.len() >= 25, "{} malware rules", mal.rules.len());

    let provoked: BTreeSet<&str> = surv.findings.iter().map(|f| f.id).collect();
    // VL7xx come from scanning canaries (crate vitrine-canary), not from
    // the static reading.
    for (id, title) in FINDING_IDS.iter().filter(|(id, _)| !id.starts_with("VL7")) {
        assert!(
            provoked.contains(id),
            "{id} ({title}) not provoked by the surveillance corpus"
        );
    }

    let surv_any = flagged(&surv, Severity::Info).len();
    let surv_high = flagged(&surv, Severity::High).len();
    let mal_high = flagged(&mal, Severity::High).len();
    let mal_medium = flagged(&mal, Severity::Medium).len();
    let mal_any: Vec<String> = mal
        .findings
        .iter()
        .map(|f| format!("{} {} {} {}", f.id, f.severity, f.rule, f.message))
        .collect();
    println!(
        "surveillance corpus: {} rules, {} flagged ({:.1}%), {} with a high finding ({:.1}%)",
        surv.rules.len(),
        surv_any,
        100.0 * surv_any as f64 / surv.rules.len() as f64,
        surv_high,
        100.0 * surv_high as f64 / surv.rules.len() as f64,
    );
    println!(
        "malware corpus: {} rules, {} with a high finding ({:.1}%), {} at medium or above, {} findings in all",
        mal.rules.len(),
        mal_high,
        100.0 * mal_high as f64 / mal.rules.len() as f64,
        mal_medium,
        mal_any.len()
    );
    for f in &mal_any {
        println!("  malware corpus finding: {f}");
    }
    assert_eq!(
        surv_any,
        surv.rules.len(),
        "every surveillance rule is flagged"
    );
    assert_eq!(
        mal_high, 0,
        "malware rules with high findings: {mal_any:#?}"
    );
    // Only the low-severity "one e-mail address" (a ransom note's contact)
    // may appear on malware rules.
    for f in &mal.findings {
        assert!(
            f.id == "VL406",
            "unexpected finding on the malware corpus: {f:?}"
        );
    }
}

fn ids(src: &str) -> Vec<&'static str> {
    lint_source("t.yar", src)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn markings_in_every_encoding() {
    for s in [
        r#"rule r { strings: $a = "top secret" nocase condition: $a }"#,
        r#"rule r { strings: $a = "NOFORN" wide condition: $a }"#,
        r#"rule r { strings: $a = "ORCON" xor(1-255) condition: $a }"#,
        r#"rule r { strings: $a = "TS//SCI" base64 condition: $a }"#,
        r#"rule r { strings: $a = "VE9QIFNFQ1JFVA==" condition: $a }"#,
        r#"rule r { strings: $a = { 54 00 4F 00 50 00 20 00 53 00 45 00 43 00 52 00 45 00 54 00 } condition: $a }"#,
        r#"rule r { strings: $a = /top\s+secret/i condition: $a }"#,
        r#"rule r { strings: $a = /(SECRET|CONFIDENTIAL)\/\/NOFORN/ condition: $a }"#,
        r#"rule r { condition: uint16(0) == 0x5A4D and "x" == "STRENG GEHEIM" }"#,
        // The three evasions of the issue: split strings tied by offsets,
        // a hex jump, integer reads.
        r#"rule r { strings: $a = "TOP S" $b = "ECRET" condition: @b[1] == @a[1] + 5 }"#,
        r#"rule r { strings: $a = { 54 4F 50 20 53 45 [0-1] 43 52 45 54 } condition: $a }"#,
        r#"rule r { condition: uint32(0) == 0x20504f54 and uint32(4) == 0x52434553 }"#,
    ] {
        assert!(ids(s).contains(&"VL101"), "{s}: {:?}", ids(s));
    }
    // Pieces that do not join into a marking are none.
    for s in [
        r#"rule r { strings: $a = "TOP S" $b = "ECRET" condition: @b[1] == @a[1] + 50 and uint16(0) == 0x5A4D }"#,
        r#"rule r { strings: $a = { 54 4F 50 20 53 45 [6-9] 43 52 45 54 } condition: uint16(0) == 0x5A4D and $a }"#,
        r#"rule r { condition: uint32(0) == 0x20504f54 and uint32(40) == 0x52434553 }"#,
    ] {
        assert!(!ids(s).contains(&"VL101"), "{s}: {:?}", ids(s));
    }
    // Words that merely contain a marking are not one.
    assert!(ids(
        r#"rule r { strings: $a = "client_secret=" condition: uint16(0) == 0x5A4D and $a }"#
    )
    .is_empty());
}

#[test]
fn locations_point_at_the_string() {
    let r = lint_source(
        "x.yar",
        "rule a {\n  strings:\n    $s = \"NOFORN\"\n  condition:\n    $s\n}\n",
    )
    .unwrap();
    let f = &r.findings[0];
    assert_eq!(
        (f.file.as_str(), f.line, f.column, f.rule.as_str()),
        ("x.yar", 3, 5, "a")
    );
}

#[test]
fn executable_traits_clear_document_rules() {
    let doc = r#"rule r { strings: $k = "budget" condition: uint32(0) == 0x46445025 and $k }"#;
    assert_eq!(ids(doc), vec!["VL301"]);
    let exploit =
        r#"rule r { strings: $k = "/JavaScript" condition: uint32(0) == 0x46445025 and $k }"#;
    assert!(ids(exploit).is_empty());
    // Traits inherited through a helper rule count too.
    let helper = r#"
        private rule IsPE { condition: uint16(0) == 0x5A4D }
        rule r { strings: $a = ".docx" $b = "encrypted by" condition: IsPE and all of them }"#;
    assert!(ids(helper).is_empty(), "{:?}", ids(helper));
}

#[test]
fn overbroad_rules() {
    assert_eq!(ids("rule r { condition: true }"), vec!["VL501"]);
    assert_eq!(ids("rule r { condition: filesize < 1MB }"), vec!["VL502"]);
    assert_eq!(
        ids("rule r { condition: not uint16(0) == 0x5A4D }"),
        vec!["VL501"]
    );
    assert_eq!(
        ids(r#"rule r { strings: $a = "MZ" $b = "long enough string" condition: any of them }"#),
        vec!["VL504"]
    );
    assert_eq!(
        ids(r#"rule r { strings: $a = "MZ" $b = "long enough string" condition: all of them }"#),
        vec!["VL503"]
    );
}

#[test]
fn syntax_errors_are_located() {
    let err = lint_source("bad.yar", "rule r {\n condition:\n   $a and\n}\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("bad.yar:"), "{text}");
    assert!(matches!(err, vitrine_lint::LintError::Syntax { .. }));
}

#[test]
fn rule_digests_track_changes() {
    let a = lint_source(
        "f",
        "rule a { condition: true }\nrule b { condition: false }\n",
    )
    .unwrap();
    let b = lint_source(
        "f",
        "rule a { condition: true }\nrule b { condition: true }\n",
    )
    .unwrap();
    assert_eq!(a.rules[0].digest, b.rules[0].digest);
    assert_ne!(a.rules[1].digest, b.rules[1].digest);
}

#[test]
fn bundles_are_linted_by_member() {
    let files = vec![(
        "rules/hunt.yar".to_owned(),
        br#"rule hunt { strings: $a = "TOP SECRET" condition: $a }"#.to_vec(),
    )];
    let bytes = vitrine_bundle::Bundle::build("daily", 1, 1, 2, files).unwrap();
    let r = vitrine_lint::lint_bundle("b", &bytes).unwrap();
    assert_eq!(r.findings[0].file, "rules/hunt.yar");
    assert_eq!(r.findings[0].key(), "VL101:hunt");
    assert!(matches!(
        vitrine_lint::lint_bundle("b", b"junk"),
        Err(vitrine_lint::LintError::Bundle { .. })
    ));
}

#[test]
fn hostile_sources_do_not_panic() {
    for src in [
        "rule r { strings: $a = /((((a{1000}){1000}){1000}){1000}){1000}/ condition: $a }",
        "rule r { strings: $a = \"abcdef\" condition: 9223372036854775807% of them }",
        "rule r { strings: $a = { 41 [0-] 42 ( 43 | 44 [2] ) ?? } condition: $a }",
        "rule r { strings: $a = /[\\x00-\\xff]{0,}/ condition: #a > -1 }",
        "rule ü { condition: true }",
        "",
    ] {
        let _ = lint_source("h.yar", src);
    }
}

fn public(name: &str) -> Report {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpora")
        .join(name);
    lint_path(&dir).unwrap_or_else(|e| panic!("corpus {name}: {e}"))
}

/// Real malware rules written by others: the Elastic set keeps at most 3
/// rules with a high finding (each listed in docs/lint.md), and both
/// public sets together stay under 0.1% of rules.
#[test]
fn public_rule_sets_precision() {
    let mut total = 0;
    let mut high = 0;
    for name in ["elastic-yara", "reversinglabs-yara"] {
        let r = public(name);
        let flagged = flagged(&r, Severity::High);
        println!(
            "{name}: {} rules, {} with a high finding ({:.3}%): {:?}",
            r.rules.len(),
            flagged.len(),
            100.0 * flagged.len() as f64 / r.rules.len() as f64,
            flagged.iter().map(|f| &f.1).collect::<Vec<_>>()
        );
        if name == "elastic-yara" {
            assert!(r.rules.len() >= 3000, "{} rules", r.rules.len());
            assert!(flagged.len() <= 3, "{flagged:#?}");
        }
        total += r.rules.len();
        high += flagged.len();
    }
    println!(
        "both sets: {total} rules, {high} with a high finding ({:.3}%)",
        100.0 * high as f64 / total as f64
    );
    assert!(high * 1000 < total, "{high} of {total} rules flagged high");
}

/// The false alarms the issue quotes, each as a rule like the real one.
#[test]
fn malware_context_is_no_target() {
    for (what, src) in [
        (
            "a build path beside a program's format strings",
            r#"rule r { strings: $p = "/home/eax/up" $c = "rm -rf /var/tmp/dota*" $f = "cnt %d" condition: all of them }"#,
        ),
        (
            "a build path into source code",
            r#"rule r { strings: $p = "/Users/vagrant/mettle/mettle/src/process.c" condition: $p }"#,
        ),
        (
            "a ransom note's name",
            r#"rule r { strings: $a = "%s_RECOVER.txt" $b = "-- Qilin" $c = "no-vm-kill" condition: 2 of them }"#,
        ),
        (
            "a ransom note's name without format",
            r#"rule r { strings: $a = "akira_readme.txt" $b = "--encryption_path" condition: any of them }"#,
        ),
        (
            "a stealer's output file beside its other strings",
            r#"rule r { strings: $a = "Passwords.txt" $b = "api.telegram.org" $c = "Browsers/Passwords" $d = "Browsers/AutoFills" condition: all of them }"#,
        ),
        (
            "a certificate serial in a PE",
            r#"rule r { strings: $s = { 06 03 55 04 03 [2] 4C 75 63 6B 79 2C 31 33 32 36 30 36 34 35 38 38 33 39 36 38 38 32 38 39 } condition: uint16(0) == 0x5A4D and $s }"#,
        ),
        (
            "a CLSID",
            r#"rule r { strings: $c = "{11111111-2222-3333-4444-555555555555}" condition: $c }"#,
        ),
        (
            "\"Serial Number\" as a label",
            r#"rule r { strings: $a = "Serial Number" wide $b = "Serial Solutions" condition: any of them }"#,
        ),
        (
            "\"secret\" in a Spotlight query",
            r#"rule r { strings: $a = /kMDItemTextContent\s{1,50}==\s{1,50}\S{1,50}secret/ nocase condition: $a }"#,
        ),
        (
            "cloud metadata host",
            r#"rule r { strings: $a = "metadata.google.internal" condition: $a }"#,
        ),
    ] {
        let found = lint_source("m.yar", src).unwrap();
        let high: Vec<_> = found.at_least(Severity::High).collect();
        assert!(high.is_empty(), "{what}: {high:#?}");
    }
}

/// The same strings without the malware context stay findings.
#[test]
fn targets_without_context_stay_findings() {
    for (id, src) in [
        (
            "VL401",
            r#"rule r { strings: $p = "/home/eax/" condition: $p }"#,
        ),
        (
            "VL401",
            r#"rule r { strings: $p = "C:\\Users\\jsmith\\" $x = "cmd.exe" condition: $p or $x }"#,
        ),
        (
            "VL302",
            r#"rule r { strings: $a = "Passwords.txt" $b = "api.telegram.org" condition: $a or $b }"#,
        ),
        (
            "VL202",
            r#"rule r { strings: $c = "4111 1111 1111 1111" condition: $c }"#,
        ),
        (
            "VL405",
            r#"rule r { strings: $a = "Serial Number: 4C530001" condition: $a }"#,
        ),
        (
            "VL402",
            r#"rule r { strings: $a = "fs01.finance.corp" condition: $a }"#,
        ),
    ] {
        assert!(ids(src).contains(&id), "{id} {src}: {:?}", ids(src));
    }
}

/// Surveillance rules that hide what they look for. Each rule's name
/// starts with the ID it must be flagged by; at least 95% are.
#[test]
fn evasive_corpus() {
    let r = corpus("evasive");
    assert!(r.rules.len() >= 30, "{} evasive rules", r.rules.len());
    let mut missed = Vec::new();
    for rule in &r.rules {
        let expected = rule.name.split('_').next().unwrap_or_default();
        assert!(
            FINDING_IDS.iter().any(|(id, _)| *id == expected),
            "{}: name does not start with a finding ID",
            rule.name
        );
        let hit = r
            .findings
            .iter()
            .any(|f| f.rule == rule.name && f.file == rule.file && f.id == expected);
        if !hit {
            missed.push(rule.name.clone());
        }
    }
    let caught = r.rules.len() - missed.len();
    println!(
        "evasive corpus: {} rules, {caught} flagged by the expected ID ({:.1}%); missed: {missed:?}",
        r.rules.len(),
        100.0 * caught as f64 / r.rules.len() as f64
    );
    assert!(caught * 100 >= r.rules.len() * 95, "missed: {missed:?}");
}
