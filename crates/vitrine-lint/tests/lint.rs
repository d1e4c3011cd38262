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
    for (id, title) in FINDING_IDS {
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
    ] {
        assert!(ids(s).contains(&"VL101"), "{s}: {:?}", ids(s));
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
