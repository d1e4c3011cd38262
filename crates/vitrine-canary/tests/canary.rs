//! The canary corpus and the canary scan against the project's and the
//! public rule corpora.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use vitrine_canary::{generate, operator_canaries, scan, CanaryError};

/// Every `.yar`/`.yara` file under `dir`, sorted, as (name, text).
fn sources(dir: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yar" || x == "yara") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.display().to_string(), text)
        })
        .collect()
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn borrow(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn corpus_is_seeded_and_complete() {
    let a = generate(1);
    assert_eq!(a, generate(1), "same seed, same corpus");
    let b = generate(2);
    assert_ne!(a, b, "another seed, other documents");
    assert_eq!(
        a.iter().map(|c| &c.name).collect::<Vec<_>>(),
        b.iter().map(|c| &c.name).collect::<Vec<_>>(),
        "the same kinds of document for every seed"
    );
    let names: BTreeSet<&str> = a.iter().map(|c| c.name.as_str()).collect();
    for country in ["us", "uk", "nato", "eu", "de", "fr", "ru", "cn", "jp"] {
        for kind in [
            "note-utf8.txt",
            "note-utf16le.txt",
            "note-utf16be.txt",
            "report.docx",
            "sheet.xlsx",
            "report.odt",
            "report.pdf",
            "report.rtf",
            "mail-base64.eml",
            "mail-qp.eml",
            "note.zip",
            "nested.zip",
            "note-widened.txt",
            "note-xor.bin",
            "export.json",
            "export-utf16le.json",
            "marking-0-cable.txt",
            "marking-0.dll",
        ] {
            assert!(
                names.contains(format!("{country}/{kind}").as_str()),
                "{country}/{kind}"
            );
        }
    }
    for legacy in [
        "ru/note-cp1251.txt",
        "jp/note-shift_jis.txt",
        "cn/note-gbk.txt",
        "de/note-cp1252.txt",
    ] {
        assert!(names.contains(legacy), "{legacy}");
    }
    // Nothing executable: no ELF; the only PE images are resource-only
    // DLLs, with no entry point and one section that is neither code nor
    // executable.
    for c in &a {
        assert!(!c.data.starts_with(b"\x7FELF"), "{}", c.name);
        if c.data.starts_with(b"MZ") {
            assert!(c.name.ends_with(".dll"), "{}", c.name);
            let u16_at = |o: usize| u16::from_le_bytes([c.data[o], c.data[o + 1]]);
            let u32_at = |o: usize| u32::from_le_bytes(c.data[o..o + 4].try_into().unwrap());
            let pe = u32_at(0x3C) as usize;
            assert_eq!(&c.data[pe..pe + 4], b"PE\0\0");
            assert_eq!(u16_at(pe + 6), 1, "{}: one section", c.name);
            assert_eq!(u32_at(pe + 24 + 16), 0, "{}: no entry point", c.name);
            assert_eq!(u32_at(pe + 24 + 4), 0, "{}: no code", c.name);
            let section = pe + 24 + usize::from(u16_at(pe + 20));
            assert_eq!(&c.data[section..section + 8], b".rsrc\0\0\0");
            let flags = u32_at(section + 36);
            assert_eq!(
                flags & (0x20 | 0x2000_0000),
                0,
                "{}: the section holds no code and is not executable",
                c.name
            );
        }
    }
}

/// The other encodings a hiding rule may look for: the DLL's version
/// metadata is what yara-x's `pe` module reads, the JSON export holds
/// unbroken base64, the widened note is what `wide` means for non-ASCII
/// text, and the XOR copies cover every one-byte key.
#[test]
fn hiding_places_are_readable() {
    let corpus = generate(4);
    let rules = [
        r#"import "pe" rule dll { condition: pe.is_dll() and pe.number_of_sections == 1 and pe.version_info["Comments"] == "NATO RESTRICTED" and pe.version_info["LegalCopyright"] contains "COSMIC TOP SECRET" }"#,
        r#"rule b64 { strings: $a = "TOP SECRET//NOFORN" base64 condition: $a }"#,
        r#"rule b64wide { strings: $a = "TS//SCI" base64wide condition: $a }"#,
        r#"rule widened { strings: $a = "СОВЕРШЕННО СЕКРЕТНО" wide condition: $a }"#,
        r#"rule xored { strings: $a = "STRENG GEHEIM" xor(1-255) condition: #a == 255 }"#,
        r#"rule cable { condition: uint32(0) == 0x4F464F4E and uint16(4) == 0x4E52 and uint8(6) == 0x20 }"#,
    ];
    let srcs: Vec<(&str, &str)> = rules.iter().map(|r| ("h.yar", *r)).collect();
    let hits = scan(&srcs, &corpus).unwrap();
    let by_rule = |r: &str| {
        hits.iter()
            .find(|h| h.rule == r)
            .map(|h| h.canaries.clone())
            .unwrap_or_default()
    };
    assert!(
        by_rule("dll").contains(&"nato/marking-3.dll".to_owned()),
        "dll: {:?}",
        by_rule("dll")
    );
    assert!(
        by_rule("b64").contains(&"us/export.json".to_owned()),
        "b64: {:?}",
        by_rule("b64")
    );
    assert!(
        by_rule("b64wide").contains(&"us/export-utf16le.json".to_owned()),
        "b64wide: {:?}",
        by_rule("b64wide")
    );
    assert!(
        by_rule("widened").contains(&"ru/note-widened.txt".to_owned()),
        "widened: {:?}",
        by_rule("widened")
    );
    assert!(
        by_rule("xored").contains(&"de/note-xor.bin".to_owned()),
        "xored: {:?}",
        by_rule("xored")
    );
    assert!(
        by_rule("cable").contains(&"us/marking-7-cable.txt".to_owned()),
        "cable: {:?}",
        by_rule("cable")
    );
}

#[test]
fn documents_are_well_formed() {
    let corpus = generate(3);
    let get = |n: &str| &corpus.iter().find(|c| c.name == n).unwrap().data;
    // OOXML: a ZIP whose document part holds the marking.
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(get("us/report.docx").clone())).unwrap();
    let mut doc = String::new();
    z.by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut doc)
        .unwrap();
    for m in [
        "TOP SECRET//NOFORN",
        "TS//SCI",
        "CUI//SP-PRVCY",
        "FOR OFFICIAL USE ONLY",
    ] {
        assert!(doc.contains(m), "{m}");
    }
    z.by_name("[Content_Types].xml").unwrap();
    // ODT: `mimetype` first and stored.
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(get("de/report.odt").clone())).unwrap();
    assert_eq!(z.by_index(0).unwrap().name().unwrap(), "mimetype");
    // PDF: startxref points at the cross-reference table.
    let pdf = get("fr/report.pdf");
    let text = String::from_utf8_lossy(pdf);
    let at: usize = text
        .rsplit("startxref\n")
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(pdf[at..].starts_with(b"xref"));
    // UTF-16 with byte-order marks; Russian in windows-1251.
    assert!(get("ru/note-utf16le.txt").starts_with(&[0xFF, 0xFE]));
    assert!(get("ru/note-utf16be.txt").starts_with(&[0xFE, 0xFF]));
    let cp = get("ru/note-cp1251.txt");
    assert!(
        cp.windows(8)
            .any(|w| w == b"\xD1\xC5\xCA\xD0\xC5\xD2\xCD\xCE"),
        "СЕКРЕТНО in cp1251"
    );
    // Japanese in Shift_JIS: 極秘 or another marking.
    assert!(get("jp/note-shift_jis.txt")
        .windows(2)
        .any(|w| w == b"\x94\xE9" || w == b"\x88\xB5"));
    // Mail: headers, both transfer encodings.
    let b64 = String::from_utf8_lossy(get("uk/mail-base64.eml")).into_owned();
    assert!(b64.starts_with("Received: from") && b64.contains("Content-Transfer-Encoding: base64"));
    let qp = String::from_utf8_lossy(get("de/mail-qp.eml")).into_owned();
    assert!(qp.contains("Content-Transfer-Encoding: quoted-printable") && qp.contains("F=C3=9CR"));
}

/// The issue's three evasions match the canaries: the scan sees through
/// spelling.
#[test]
fn evasions_match_canaries() {
    let rules = [
        r#"rule split { strings: $a = "TOP S" $b = "ECRET" condition: @b[1] == @a[1] + 5 }"#,
        r#"rule jump { strings: $a = { 54 4F 50 20 53 45 [0-1] 43 52 45 54 } condition: $a }"#,
        r#"rule ints { condition: uint32(0) == 0x20504f54 and uint32(4) == 0x52434553 }"#,
    ];
    let srcs: Vec<(&str, &str)> = rules.iter().map(|r| ("e.yar", *r)).collect();
    for seed in [1, 99] {
        let hits = scan(&srcs, &generate(seed)).unwrap();
        let matched: BTreeSet<&str> = hits.iter().map(|h| h.rule.as_str()).collect();
        assert_eq!(
            matched,
            BTreeSet::from(["split", "jump", "ints"]),
            "seed {seed}"
        );
        assert!(hits
            .iter()
            .all(|h| h.canaries.iter().any(|c| c.starts_with("us/"))));
    }
}

/// Every one of the project's evasive surveillance rules matches a
/// canary.
#[test]
fn evasive_corpus_matches_canaries() {
    let srcs = sources(&repo("crates/vitrine-lint/corpus/evasive"));
    let lint = vitrine_lint::lint_path(&repo("crates/vitrine-lint/corpus/evasive")).unwrap();
    let hits = scan(&borrow(&srcs), &generate(5)).unwrap();
    let matched: BTreeSet<&str> = hits.iter().map(|h| h.rule.as_str()).collect();
    // Private rules report no match of their own; the rule that uses one
    // does.
    let public: Vec<&str> = lint
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| *n != "VL101_private_inner")
        .collect();
    let missed: Vec<&&str> = public.iter().filter(|n| !matched.contains(**n)).collect();
    println!(
        "evasive corpus: {} public rules, {} match a canary; not matched: {missed:?}",
        public.len(),
        public.len() - missed.len()
    );
    assert!(missed.is_empty(), "no canary matches {missed:?}");
}

/// No rule of the project's malware corpus, nor of the two public rule
/// sets, matches a canary, for several seeds.
#[test]
fn malware_corpora_match_no_canary() {
    let mut all = sources(&repo("crates/vitrine-lint/corpus/malware"));
    all.extend(sources(&repo("corpora/elastic-yara")));
    all.extend(sources(&repo("corpora/reversinglabs-yara")));
    assert!(all.len() > 1000, "{} files", all.len());
    let mut canaries = generate(11);
    canaries.extend(generate(12));
    let hits = scan(&borrow(&all), &canaries).unwrap();
    println!(
        "malware corpora: {} files, {} canaries, {} rules matched",
        all.len(),
        canaries.len(),
        hits.len()
    );
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn operator_canaries_and_errors() {
    let dir = std::env::temp_dir().join(format!("vitrine-canary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        operator_canaries(&dir),
        Err(CanaryError::NoOperatorCanaries { .. })
    ));
    std::fs::write(dir.join("memo.txt"), "ACME RESTRICTED - Project Nightjar").unwrap();
    let own = operator_canaries(&dir).unwrap();
    assert_eq!(own[0].name, "operator/memo.txt");
    let hits = scan(
        &[(
            "o.yar",
            r#"rule nightjar { strings: $a = "Project Nightjar" condition: $a }"#,
        )],
        &own,
    )
    .unwrap();
    assert_eq!(hits[0].canaries, vec!["operator/memo.txt"]);
    let f = vitrine_canary::findings(&hits);
    assert_eq!(
        (f[0].id, f[0].line, f[0].key().as_str()),
        ("VL701", 1, "VL701:nightjar")
    );
    assert!(matches!(
        operator_canaries(&dir.join("missing")),
        Err(CanaryError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        scan(&[("bad.yar", "rule r { condition: $a }")], &own),
        Err(CanaryError::Compile { .. })
    ));
}
