//! Canary scanning: compile a rule set with yara-x and scan a corpus of
//! documents that carry classification markings and personal data and
//! nothing executable. A malware rule has no business matching any of
//! them; a rule that does hunts documents or people, whatever its
//! spelling hides from the static linter (`vitrine-lint`).
//!
//! The corpus is generated at run time from a seed ([`generate`]), so a
//! rule cannot be tuned to a fixed set of files: the filler text, the
//! personal data and the documents' names change with the seed; the
//! markings, formats and encodings are always all there. The monitor's
//! operator adds canaries of their own with [`operator_canaries`].
//!
//! Formats: plain text (UTF-8, UTF-16LE/BE with BOM, legacy code pages:
//! windows-1251, windows-1252, Shift_JIS and GBK for the markings), DOCX,
//! XLSX, ODT, PDF, RTF, e-mail with base64 and quoted-printable bodies and
//! attachments, ZIP and nested ZIP, JSON exports with unbroken base64
//! (UTF-8 and UTF-16LE), cables (the marking and more on the first line),
//! text widened byte by byte (UTF-8 read as Latin-1 and saved as
//! UTF-16LE), the markings XOR-ed with every one-byte key, and
//! resource-only DLLs (no code, no entry point) whose version metadata
//! holds the marking. Markings of the US, UK, NATO, EU, Germany, France,
//! Russia, China and Japan.
//!
//! # What's in scope / out of scope
//!
//! In scope: generating canaries and scanning rule sources against them.
//! Out of scope: the static reading of rules (`vitrine-lint`), bundles and
//! logs (callers pass sources).
//!
//! # Main types
//!
//! [`generate`] returns [`Canary`]s; [`scan`] returns [`Hit`]s (a rule and
//! the canaries it matched) or a [`CanaryError`]; [`findings`] turns hits
//! into `VL701` lint findings.
//!
//! ```
//! let canaries = vitrine_canary::generate(7);
//! let hits = vitrine_canary::scan(
//!     &[("hunt.yar", r#"rule hunt { strings: $a = "NOFORN" condition: $a }"#)],
//!     &canaries,
//! )?;
//! assert_eq!(hits[0].rule, "hunt");
//! assert!(!hits[0].canaries.is_empty());
//! # Ok::<(), vitrine_canary::CanaryError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod formats;

use std::path::{Path, PathBuf};

use formats::Transfer;

/// One generated or operator-supplied document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// A name that says what it is (`us/report.docx`, `ru/note-cp1251.txt`).
    pub name: String,
    /// The document's bytes.
    pub data: Vec<u8>,
}

/// A rule that matched canaries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// The source (file or member path) that holds the rule.
    pub file: String,
    /// The rule's identifier.
    pub rule: String,
    /// 1-based line of the rule in its source (0 if not found).
    pub line: usize,
    /// The canaries it matched, in corpus order.
    pub canaries: Vec<String>,
}

/// Why canary scanning could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanaryError {
    /// A rule source does not compile.
    #[error("{file}: does not compile: {message}")]
    Compile {
        /// The source.
        file: String,
        /// yara-x's message.
        message: String,
    },
    /// A canary could not be scanned.
    #[error("scanning canary {canary}: {message}")]
    Scan {
        /// The canary.
        canary: String,
        /// yara-x's message.
        message: String,
    },
    /// Building a ZIP-based canary failed.
    #[error("building a ZIP canary: {0}")]
    Zip(#[source] zip::result::ZipError),
    /// An operator canary could not be read.
    #[error("{}: {err}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The operator's canary directory holds no file.
    #[error("{}: no canary files in the directory", path.display())]
    NoOperatorCanaries {
        /// The directory.
        path: PathBuf,
    },
}

/// SplitMix64: a small, well-known generator; the same seed gives the
/// same corpus on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// A country's (or alliance's) markings, with the legacy code page its
/// documents were written in.
struct Country {
    code: &'static str,
    markings: &'static [&'static str],
    legacy: Legacy,
    /// A sentence in the language, around the filler.
    phrase: &'static str,
}

#[derive(Clone, Copy)]
enum Legacy {
    None,
    Latin1,
    Cp1251,
    /// Shift_JIS or GBK: (marking, its bytes), ASCII for the rest.
    Table(&'static [(&'static str, &'static [u8])]),
}

/// Markings per country; sources are listed in docs/lint.md. The CJK
/// byte strings were produced with the Shift_JIS and GBK codecs.
static COUNTRIES: &[Country] = &[
    Country {
        code: "us",
        markings: &[
            "TOP SECRET//NOFORN",
            "TOP SECRET//SI//ORCON//NOFORN",
            "TS//SCI",
            "SECRET//REL TO USA, FVEY",
            "CONFIDENTIAL",
            "UNCLASSIFIED//FOR OFFICIAL USE ONLY",
            "CUI//SP-PRVCY",
            "NOFORN",
            "CLASSIFIED BY: J. Doe, Director; DECLASSIFY ON: 20511231",
        ],
        legacy: Legacy::None,
        phrase: "Handle via approved channels only.",
    },
    Country {
        code: "uk",
        markings: &["OFFICIAL-SENSITIVE", "SECRET", "TOP SECRET UK EYES ONLY"],
        legacy: Legacy::Latin1,
        phrase: "Do not forward outside the department.",
    },
    Country {
        code: "nato",
        markings: &[
            "COSMIC TOP SECRET",
            "NATO SECRET",
            "NATO CONFIDENTIAL",
            "NATO RESTRICTED",
        ],
        legacy: Legacy::None,
        phrase: "Releasable to NATO member nations only.",
    },
    Country {
        code: "eu",
        markings: &[
            "SECRET UE/EU SECRET",
            "RESTREINT UE/EU RESTRICTED",
            "CONFIDENTIEL UE/EU CONFIDENTIAL",
        ],
        legacy: Legacy::Latin1,
        phrase: "Council of the European Union, General Secretariat.",
    },
    Country {
        code: "de",
        markings: &[
            "STRENG GEHEIM",
            "GEHEIM",
            "VS-VERTRAULICH",
            "VS-NUR FÜR DEN DIENSTGEBRAUCH",
        ],
        legacy: Legacy::Latin1,
        phrase: "VS-Nur für den Dienstgebrauch, Weitergabe untersagt.",
    },
    Country {
        code: "fr",
        markings: &[
            "TRÈS SECRET",
            "SECRET",
            "DIFFUSION RESTREINTE",
            "SECRET DÉFENSE",
        ],
        legacy: Legacy::Latin1,
        phrase: "Document classifié, reproduction interdite.",
    },
    Country {
        code: "ru",
        markings: &[
            "СОВЕРШЕННО СЕКРЕТНО",
            "СЕКРЕТНО",
            "ДЛЯ СЛУЖЕБНОГО ПОЛЬЗОВАНИЯ",
            "ОСОБОЙ ВАЖНОСТИ",
        ],
        legacy: Legacy::Cp1251,
        phrase: "Гриф: совершенно секретно. Экземпляр единственный, копирование запрещено.",
    },
    Country {
        code: "cn",
        markings: &["绝密", "机密", "秘密"],
        legacy: Legacy::Table(&[
            ("绝密", b"\xBE\xF8\xC3\xDC"),
            ("机密", b"\xBB\xFA\xC3\xDC"),
            ("秘密", b"\xC3\xD8\xC3\xDC"),
        ]),
        phrase: "国家秘密，严禁复制。",
    },
    Country {
        code: "jp",
        markings: &["極秘", "秘", "取扱注意", "特定秘密"],
        legacy: Legacy::Table(&[
            ("極秘", b"\x8B\xC9\x94\xE9"),
            ("秘", b"\x94\xE9"),
            ("取扱注意", b"\x8E\xE6\x88\xB5\x92\x8D\x88\xD3"),
            ("機密", b"\x8B\x40\x96\xA7"),
        ]),
        phrase: "複製を禁ずる。",
    },
];

static FIRST: &[&str] = &[
    "Alice", "Bruno", "Chloé", "Dmitri", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kasia", "Liang", "Marta", "Nils", "Olga", "Pierre",
];
static LAST: &[&str] = &[
    "Andersen", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Lambert", "Moreau", "Novak", "Okafor", "Petrov",
];
static TOPICS: &[&str] = &[
    "quarterly review of the programme budget",
    "merger negotiation position",
    "site survey of the northern facility",
    "liaison meeting with partner services",
    "procurement of secure radios",
    "travel arrangements for the delegation",
    "staffing plan for the next fiscal year",
    "assessment of regional stability",
];
static NAMES: &[&str] = &["board", "minutes", "budget", "draft", "report", "briefing"];

/// Personal data a harvesting rule would look for, made up from the seed
/// but valid in form (Luhn, mod-97, SSN ranges).
struct Person {
    name: String,
    email: String,
    phone: String,
    ssn: String,
    nino: String,
    card: String,
    iban: String,
}

fn luhn_complete(body: &str) -> String {
    let mut sum = 0;
    for (i, d) in body.bytes().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn iban_de(rng: &mut Rng) -> String {
    let bban = rng.digits(18);
    // ISO 13616: check digits make the rearranged number 1 mod 97.
    let rearranged = format!("{bban}131400");
    let rem = rearranged
        .bytes()
        .fold(0u64, |r, d| (r * 10 + u64::from(d - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

fn person(rng: &mut Rng) -> Person {
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    let ascii: String = first.chars().filter(char::is_ascii_alphabetic).collect();
    Person {
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}@example.org",
            ascii.to_lowercase(),
            last.to_lowercase()
        ),
        phone: format!("+1 202-555-{}", rng.digits(4)),
        ssn: format!(
            "{:03}-{:02}-{:04}",
            100 + rng.below(565),
            1 + rng.below(98),
            1 + rng.below(9998)
        ),
        nino: format!("QQ{}C", rng.digits(6)),
        card: {
            let c = luhn_complete(&format!("4{}", rng.digits(14)));
            // Printed in groups or as one run, as forms and exports do.
            if rng.below(2) == 0 {
                format!("{} {} {} {}", &c[..4], &c[4..8], &c[8..12], &c[12..])
            } else {
                c
            }
        },
        iban: iban_de(rng),
    }
}

/// The text of one document: the banner first and last (as on paper),
/// seeded filler, and a block of personal data.
fn document(rng: &mut Rng, c: &Country, marking: &str) -> Vec<String> {
    let people: Vec<Person> = (0..8).map(|_| person(rng)).collect();
    let topic = *rng.pick(TOPICS);
    let mut lines = vec![
        marking.to_owned(),
        format!("Subject: {topic}"),
        c.phrase.to_owned(),
        format!(
            "This {marking} note on the {topic} is for the {} working group.",
            rng.pick(NAMES)
        ),
    ];
    for p in &people[..2] {
        lines.push(format!(
            "{} | SSN {} | NINO {} | card {} | IBAN {} | {} | {}",
            p.name, p.ssn, p.nino, p.card, p.iban, p.phone, p.email
        ));
    }
    lines.push(format!(
        "Distribution: {}",
        people
            .iter()
            .map(|p| p.email.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let year = 2026 + rng.below(3);
    lines.push(format!(
        "Attachments: {}",
        NAMES
            .iter()
            .map(|n| format!("{year}_{n}.docx"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lines.push(format!("Agenda: {}", TOPICS.join("; ")));
    // Portion markings: every marking of the country appears in every
    // document, whatever the banner.
    for m in c.markings {
        lines.push(format!("({m}) {}", rng.pick(TOPICS)));
    }
    lines.push(marking.to_owned());
    lines
}

fn legacy_bytes(c: &Country, text: &str) -> Option<(&'static str, Vec<u8>)> {
    match c.legacy {
        Legacy::None => None,
        Legacy::Latin1 => Some(("cp1252", formats::latin1(text))),
        Legacy::Cp1251 => Some(("cp1251", formats::cp1251(text))),
        Legacy::Table(table) => {
            let mut out = Vec::new();
            let mut rest = text;
            'outer: while let Some(ch) = rest.chars().next() {
                for (word, bytes) in table {
                    if let Some(after) = rest.strip_prefix(word) {
                        out.extend_from_slice(bytes);
                        rest = after;
                        continue 'outer;
                    }
                }
                out.push(if ch.is_ascii() { ch as u8 } else { b'?' });
                rest = &rest[ch.len_utf8()..];
            }
            let name = if c.code == "jp" { "shift_jis" } else { "gbk" };
            Some((name, out))
        }
    }
}

/// The canary corpus for `seed`: every marking of every country as a
/// plain-text banner, and each country's documents in every format and
/// encoding. Deterministic: the same seed gives the same bytes.
pub fn generate(seed: u64) -> Vec<Canary> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut add = |name: String, data: Vec<u8>| out.push(Canary { name, data });
    for c in COUNTRIES {
        // Every marking opens a plain-text document of its own.
        for (i, m) in c.markings.iter().enumerate() {
            let lines = document(&mut rng, c, m);
            let text = lines.join("\n");
            add(format!("{}/marking-{i}.txt", c.code), text.into_bytes());
            // A cable: the marking, then the rest of the banner line.
            let cable = format!(
                "{m} SECTION 01 OF 02 {}\n{}",
                rng.digits(6),
                lines[1..].join("\n")
            );
            add(
                format!("{}/marking-{i}-cable.txt", c.code),
                cable.into_bytes(),
            );
            // The marking in a file's version metadata, the only place
            // some rules look (`pe.version_info`).
            let notice = format!(
                "Copyright (C) {} / {} / {}",
                2026 + rng.below(3),
                c.markings.join(" / "),
                c.phrase
            );
            let name = format!("{}.dll", rng.pick(NAMES));
            add(
                format!("{}/marking-{i}.dll", c.code),
                formats::resource_dll(&[
                    ("CompanyName", m),
                    ("FileDescription", m),
                    ("Comments", m),
                    ("LegalCopyright", &notice),
                    ("InternalName", &name),
                    ("OriginalFilename", &name),
                    ("ProductName", m),
                    ("FileVersion", "1.0.0.0"),
                ]),
            );
        }
        let marking = *rng.pick(c.markings);
        let lines = document(&mut rng, c, marking);
        let text = lines.join("\n");
        // Every marking at offsets 0, 1 and 2 modulo 3, so its base64
        // appears at every alignment in the encoded bodies below.
        let mut body = format!("{text}\n");
        for m in c.markings {
            for align in 0..3 {
                while body.len() % 3 != align {
                    body.push(' ');
                }
                body.push_str(m);
                body.push('\n');
            }
        }
        add(
            format!("{}/note-utf8.txt", c.code),
            text.clone().into_bytes(),
        );
        add(
            format!("{}/note-utf16le.txt", c.code),
            formats::utf16(&text, false),
        );
        add(
            format!("{}/note-utf16be.txt", c.code),
            formats::utf16(&text, true),
        );
        if let Some((cp, bytes)) = legacy_bytes(c, &text) {
            add(format!("{}/note-{cp}.txt", c.code), bytes);
        }
        add(
            format!("{}/note-widened.txt", c.code),
            formats::widened(&text),
        );
        add(
            format!("{}/note-xor.bin", c.code),
            formats::xor_every_key(&format!("{}\n{}\n", c.markings.join("\n"), c.phrase)),
        );
        let export = formats::json_export(&format!("{}.txt", rng.pick(NAMES)), body.as_bytes());
        add(
            format!("{}/export-utf16le.json", c.code),
            formats::utf16(&export, false),
        );
        add(format!("{}/export.json", c.code), export.into_bytes());
        let built: Result<Vec<(String, Vec<u8>)>, CanaryError> = (|| {
            let docx = formats::docx(&lines)?;
            let xlsx = formats::xlsx(&lines)?;
            let odt = formats::odt(&lines)?;
            let zipped = formats::zip(&[("note.txt", text.as_bytes())])?;
            let nested = formats::zip(&[("inner/report.docx", &docx)])?;
            Ok(vec![
                (format!("{}/report.docx", c.code), docx),
                (format!("{}/sheet.xlsx", c.code), xlsx),
                (format!("{}/report.odt", c.code), odt),
                (format!("{}/note.zip", c.code), zipped),
                (format!("{}/nested.zip", c.code), nested),
            ])
        })();
        // The ZIP writer works in memory; it does not fail on these inputs.
        for (name, data) in built.unwrap_or_default() {
            add(name, data);
        }
        add(format!("{}/report.pdf", c.code), formats::pdf(&lines));
        add(format!("{}/report.rtf", c.code), formats::rtf(&lines));
        let attachment = formats::docx(&lines).unwrap_or_default();
        for (kind, transfer) in [
            ("base64", Transfer::Base64),
            ("qp", Transfer::QuotedPrintable),
        ] {
            add(
                format!("{}/mail-{kind}.eml", c.code),
                formats::email(
                    &format!("{marking}: {}", rng.pick(TOPICS)),
                    "sender@example.org",
                    "recipient@example.net",
                    &body,
                    transfer,
                    &[(
                        format!("{}_{}.docx", 2026 + rng.below(3), rng.pick(NAMES)),
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        attachment.clone(),
                    )],
                ),
            );
        }
    }
    out
}

/// Every regular file directly in `dir`, sorted by name: the operator's
/// own canaries (documents of their organisation, with their markings).
pub fn operator_canaries(dir: &Path) -> Result<Vec<Canary>, CanaryError> {
    let io = |err| CanaryError::Io {
        path: dir.to_owned(),
        err,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_file() {
            let path = entry.path();
            let data = std::fs::read(&path).map_err(|err| CanaryError::Io {
                path: path.clone(),
                err,
            })?;
            out.push(Canary {
                name: format!("operator/{}", entry.file_name().to_string_lossy()),
                data,
            });
        }
    }
    if out.is_empty() {
        return Err(CanaryError::NoOperatorCanaries {
            path: dir.to_owned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Compiles each source (its own namespace) and scans every canary. Rules
/// that matched, with the canaries they matched, in source order.
pub fn scan(sources: &[(&str, &str)], canaries: &[Canary]) -> Result<Vec<Hit>, CanaryError> {
    let mut compiler = yara_x::Compiler::new();
    compiler.colorize_errors(false);
    for (i, (file, src)) in sources.iter().enumerate() {
        compiler.new_namespace(&format!("n{i}"));
        compiler
            .add_source(yara_x::SourceCode::from(*src).with_origin(*file))
            .map_err(|e| CanaryError::Compile {
                file: (*file).to_owned(),
                message: e.title().to_string(),
            })?;
    }
    let rules = compiler.build();
    let mut scanner = yara_x::Scanner::new(&rules);
    scanner.set_timeout(std::time::Duration::from_secs(10));
    // (namespace index, rule) -> canaries.
    let mut hits: Vec<((usize, String), Vec<String>)> = Vec::new();
    for canary in canaries {
        let results = scanner.scan(&canary.data).map_err(|e| CanaryError::Scan {
            canary: canary.name.clone(),
            message: e.to_string(),
        })?;
        for rule in results.matching_rules() {
            let ns: usize = rule
                .namespace()
                .strip_prefix('n')
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let key = (ns, rule.identifier().to_owned());
            match hits.iter_mut().find(|(k, _)| *k == key) {
                Some((_, names)) => names.push(canary.name.clone()),
                None => hits.push((key, vec![canary.name.clone()])),
            }
        }
    }
    hits.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(hits
        .into_iter()
        .map(|((ns, rule), canaries)| {
            let (file, src) = sources.get(ns).copied().unwrap_or(("", ""));
            Hit {
                file: file.to_owned(),
                line: rule_line(src, &rule),
                rule,
                canaries,
            }
        })
        .collect())
}

/// The line declaring `rule` in `src`.
fn rule_line(src: &str, rule: &str) -> usize {
    src.lines()
        .position(|l| {
            l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w[0] == "rule" && w[1] == rule)
        })
        .map_or(0, |i| i + 1)
}

/// The canary scan of a bundle's YARA files, as `VL701` findings named by
/// member path.
pub fn bundle_findings(
    bundle: &vitrine_bundle::Bundle,
    corpus: &[Canary],
) -> Result<Vec<vitrine_lint::Finding>, CanaryError> {
    let texts: Vec<(String, String)> = bundle
        .yara_files()
        .map(|f| {
            (
                f.path.clone(),
                String::from_utf8_lossy(&f.data).into_owned(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Ok(findings(&scan(&refs, corpus)?))
}

/// At most this many canary names are spelled out in a finding.
const NAMED: usize = 5;

/// Hits as `VL701` findings (high): the rule and the canaries it matched.
pub fn findings(hits: &[Hit]) -> Vec<vitrine_lint::Finding> {
    hits.iter()
        .map(|h| {
            let mut names: Vec<&str> = h.canaries.iter().take(NAMED).map(String::as_str).collect();
            if h.canaries.len() > NAMED {
                names.push("…");
            }
            vitrine_lint::Finding {
                id: "VL701",
                severity: vitrine_lint::Severity::High,
                rule: h.rule.clone(),
                file: h.file.clone(),
                line: h.line,
                column: 1,
                message: format!(
                    "the rule matches {} canary document(s) that hold classification markings and personal data and nothing executable: {}",
                    h.canaries.len(),
                    names.join(", ")
                ),
            }
        })
        .collect()
}
