//! The walk over yara-x's AST: facts per pattern and per condition, then
//! findings per rule.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use yara_x_parser::ast::{
    self, Expr, HexSubPattern, HexToken, OfItems, Pattern, PatternSet, Quantifier, Rule, WithSpan,
    AST,
};

use crate::text::{self, DocKind, Personal, Target};
use crate::{layout, regexp};
use crate::{Finding, LintError, RuleInfo, Severity};

/// Text patterns shorter than this are too short an atom.
const MIN_TEXT_ATOM: usize = 4;
/// Hex patterns and regexes need a fixed run at least this long.
const MIN_BYTES_ATOM: usize = 3;

/// Facts about a rule that rules referencing it inherit.
#[derive(Clone, Default)]
struct RuleFacts {
    exec: Option<String>,
    docs: BTreeSet<DocKind>,
    constrains: bool,
    private: bool,
    worst: Option<Severity>,
    ids: BTreeSet<&'static str>,
    /// Document file names seen: (pattern, offset, description, ext, text).
    doc_names: Vec<(String, usize, String, &'static str, String)>,
    /// Host and person findings, reported only when the rule does not
    /// require executable content: (id, offset, dedup key, message).
    targets: Vec<(String, &'static str, usize, String, String)>,
}

/// One candidate byte string and where it came from.
struct Candidate {
    bytes: Vec<u8>,
    how: String,
    regex_rep: bool,
}

struct PatInfo {
    name: String,
    weak: bool,
    offset: usize,
}

/// Lints one source file. `known` carries facts of rules seen earlier in
/// the same namespace (file), so references resolve.
pub(crate) fn lint_file(
    file: &str,
    src: &str,
    findings: &mut Vec<Finding>,
    rules_out: &mut Vec<RuleInfo>,
) -> Result<(), LintError> {
    let ast = AST::from(src);
    if let Some(err) = ast.errors().first() {
        let (message, span) = match err {
            ast::Error::SyntaxError { message, span }
            | ast::Error::InvalidInteger { message, span }
            | ast::Error::InvalidFloat { message, span }
            | ast::Error::InvalidRegexpModifier { message, span }
            | ast::Error::InvalidEscapeSequence { message, span } => (message.clone(), span),
            ast::Error::InvalidUTF8(span) => ("invalid UTF-8".to_owned(), span),
            ast::Error::UnexpectedEscapeSequence(span) => {
                ("unexpected escape sequence".to_owned(), span)
            }
        };
        let (line, column) = line_col(src, span.start());
        return Err(LintError::Syntax {
            file: file.to_owned(),
            line,
            column,
            message,
        });
    }
    let rules: Vec<&Rule> = ast.rules().collect();
    let mut known: HashMap<String, RuleFacts> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let start = line_start(src, rule.identifier.span().start());
        let end = rules
            .get(i + 1)
            .map_or(src.len(), |r| line_start(src, r.identifier.span().start()));
        let (line, _) = line_col(src, rule.identifier.span().start());
        let body: String = src[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        rules_out.push(RuleInfo {
            file: file.to_owned(),
            name: rule.identifier.name.to_owned(),
            line,
            digest: hex::encode(Sha256::digest(body.as_bytes())),
        });
        let before = findings.len();
        let facts = lint_rule(file, src, rule, &known, findings);
        let mut facts = facts;
        for f in &findings[before..] {
            facts.ids.insert(f.id);
            facts.worst = facts.worst.max(Some(f.severity));
        }
        known.insert(rule.identifier.name.to_owned(), facts);
    }
    Ok(())
}

fn line_start(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    // Line starts of the source last asked about: a file's rules and
    // findings all ask about the same source, so each lookup is a binary
    // search instead of a count from the top.
    thread_local! {
        static LINES: std::cell::RefCell<(usize, usize, Vec<usize>)> =
            const { std::cell::RefCell::new((0, 0, Vec::new())) };
    }
    let offset = offset.min(src.len());
    LINES.with(|cell| {
        let mut cache = cell.borrow_mut();
        let key = (src.as_ptr() as usize, src.len());
        if (cache.0, cache.1) != key || cache.2.is_empty() {
            let mut starts = vec![0];
            starts.extend(
                src.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            );
            *cache = (key.0, key.1, starts);
        }
        let starts = &cache.2;
        let line = starts.partition_point(|&s| s <= offset);
        (line, offset - starts[line - 1] + 1)
    })
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    rule: &'a str,
    findings: &'a mut Vec<Finding>,
    seen: BTreeSet<(&'static str, String)>,
}

impl Ctx<'_> {
    fn report(
        &mut self,
        id: &'static str,
        severity: Severity,
        offset: usize,
        what: &str,
        message: String,
    ) {
        if !self.seen.insert((id, what.to_owned())) {
            return;
        }
        let (line, column) = line_col(self.src, offset);
        self.findings.push(Finding {
            id,
            severity,
            rule: self.rule.to_owned(),
            file: self.file.to_owned(),
            line,
            column,
            message,
        });
    }
}

fn hex_runs(sub: &HexSubPattern, out: &mut Vec<Vec<u8>>, cur: &mut Vec<u8>) {
    for tok in sub.iter() {
        match tok {
            HexToken::Byte(b) if b.mask == 0xFF => cur.push(b.value),
            HexToken::Alternative(alt) => {
                if !cur.is_empty() {
                    out.push(std::mem::take(cur));
                }
                for a in &alt.alternatives {
                    let mut inner = Vec::new();
                    hex_runs(a, out, &mut inner);
                    if !inner.is_empty() {
                        out.push(inner);
                    }
                }
            }
            _ => {
                if !cur.is_empty() {
                    out.push(std::mem::take(cur));
                }
            }
        }
    }
}

/// Every even (UTF-16LE) or odd (UTF-16BE) byte, if the others are zero.
fn utf16(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // Open ends of joined strings are no part of the text.
    let start = bytes.iter().position(|&b| b != text::WILDCARD).unwrap_or(0);
    let end = bytes
        .iter()
        .rposition(|&b| b != text::WILDCARD)
        .map_or(0, |e| e + 1);
    let bytes = &bytes[start..end.max(start)];
    for skip in [0usize, 1] {
        let body = &bytes[skip.min(bytes.len())..];
        if body.len() >= 4 && body.chunks(2).all(|c| c.len() == 2 && c[1] == 0) {
            out.push(body.chunks(2).map(|c| c[0]).collect());
        }
    }
    // Non-ASCII UTF-16LE (Cyrillic, accents).
    if bytes.len() >= 4 && bytes.len().is_multiple_of(2) {
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if let Ok(s) = String::from_utf16(&units) {
            if s.chars().all(|c| !c.is_control()) && !s.is_ascii() {
                out.push(s.into_bytes());
            }
        }
    }
    out
}

/// What else a byte string may spell: UTF-16 text, single-byte XOR of a
/// marking, base64 at any alignment.
fn derived(bytes: &[u8], how: &str, out: &mut Vec<Candidate>) {
    for wide in utf16(bytes) {
        out.push(Candidate {
            bytes: wide,
            how: format!("{how} read as UTF-16"),
            regex_rep: false,
        });
    }
    if let Some((m, key)) = text::xor_marking(bytes) {
        out.push(Candidate {
            bytes: m.text.as_bytes().to_vec(),
            how: format!("{how} XOR-encoded with key 0x{key:02x}"),
            regex_rep: false,
        });
    }
    for decoded in base64_shifted(bytes) {
        out.push(Candidate {
            bytes: decoded,
            how: format!("{how} decoded from base64"),
            regex_rep: false,
        });
    }
}

/// At most this many expansions of one hex string.
const MAX_HEX_EXPANSIONS: usize = 32;
/// Expansions are cut at this length.
const MAX_HEX_LEN: usize = 1024;

/// Every alternative of a hex string, each jump at its shortest and every
/// unknown byte as [`text::WILDCARD`].
fn hex_expand(sub: &HexSubPattern) -> Vec<Vec<u8>> {
    let mut acc: Vec<Vec<u8>> = vec![Vec::new()];
    for tok in sub.iter() {
        match tok {
            HexToken::Byte(b) if b.mask == 0xFF => acc.iter_mut().for_each(|a| a.push(b.value)),
            HexToken::Byte(_) | HexToken::NotByte(_) => {
                acc.iter_mut().for_each(|a| a.push(text::WILDCARD));
            }
            HexToken::Jump(j) => {
                let n = j.start.unwrap_or(0).min(64) as usize;
                acc.iter_mut()
                    .for_each(|a| a.extend(std::iter::repeat_n(text::WILDCARD, n)));
            }
            HexToken::Alternative(alt) => {
                let mut next = Vec::new();
                'outer: for a in &acc {
                    for alt in &alt.alternatives {
                        for tail in hex_expand(alt) {
                            if next.len() >= MAX_HEX_EXPANSIONS {
                                break 'outer;
                            }
                            let mut x = a.clone();
                            x.extend_from_slice(&tail);
                            next.push(x);
                        }
                    }
                }
                acc = next;
            }
        }
        acc.iter_mut().for_each(|a| a.truncate(MAX_HEX_LEN));
    }
    acc
}

fn printable(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .count()
        * 10
        >= bytes.len() * 8
}

fn lint_rule(
    file: &str,
    src: &str,
    rule: &Rule,
    known: &HashMap<String, RuleFacts>,
    findings: &mut Vec<Finding>,
) -> RuleFacts {
    let mut cx = Ctx {
        file,
        src,
        rule: rule.identifier.name,
        findings,
        seen: BTreeSet::new(),
    };
    let rule_offset = rule.identifier.span().start();
    let private = rule.flags.contains(ast::RuleFlags::Private);
    let global = rule.flags.contains(ast::RuleFlags::Global);

    let mut facts = RuleFacts {
        private,
        ..RuleFacts::default()
    };
    let mut pats: Vec<PatInfo> = Vec::new();
    // Patterns that show executable content, with what shows it.
    let mut pat_exec: HashMap<String, String> = HashMap::new();
    // Each pattern's bytes as matched, for joining by offsets.
    let mut pat_bytes: HashMap<String, Vec<u8>> = HashMap::new();

    for pattern in rule.patterns.iter().flatten() {
        let offset = pattern.span().start();
        let name = pattern.identifier().name.to_owned();
        let mods = pattern.modifiers();
        let mut encodings: Vec<&str> = Vec::new();
        if mods.nocase().is_some() {
            encodings.push("nocase");
        }
        if mods.wide().is_some() {
            encodings.push("wide");
        }
        if mods.xor().is_some() {
            encodings.push("xor");
        }
        if mods.base64().is_some() {
            encodings.push("base64");
        }
        if mods.base64wide().is_some() {
            encodings.push("base64wide");
        }
        let enc = if encodings.is_empty() {
            String::new()
        } else {
            format!(" ({})", encodings.join(", "))
        };
        let mut cands: Vec<Candidate> = Vec::new();
        let mut pexec: Option<String> = None;
        let weak;
        match pattern {
            Pattern::Text(t) => {
                let bytes = t.text.value.to_vec();
                weak = bytes.len() < MIN_TEXT_ATOM;
                if let Some(decoded) = base64_text(&bytes) {
                    cands.push(Candidate {
                        bytes: decoded,
                        how: format!("text string {name} decoded from base64"),
                        regex_rep: false,
                    });
                }
                if mods.xor().is_none() && mods.base64().is_none() && mods.base64wide().is_none() {
                    let placed = if mods.wide().is_some() {
                        bytes.iter().flat_map(|&b| [b, 0]).collect()
                    } else {
                        bytes.clone()
                    };
                    pat_bytes.insert(name.clone(), placed);
                }
                derived(&bytes, &format!("text string {name}"), &mut cands);
                cands.push(Candidate {
                    bytes,
                    how: format!("text string {name}{enc}"),
                    regex_rep: false,
                });
            }
            Pattern::Hex(h) => {
                // Jumps at their shortest, every alternative, unknown
                // nibbles as wildcards: `{ 54 4F 50 20 53 45 [0-1] 43 52 }`
                // reads as the text it matches.
                let expansions = hex_expand(&h.sub_patterns);
                if let Some(first) = expansions.first() {
                    pat_bytes.insert(name.clone(), first.clone());
                }
                for x in expansions {
                    if x.contains(&text::WILDCARD) || x.len() > 4 {
                        derived(
                            &x,
                            &format!("hex string {name} (jumps at their shortest)"),
                            &mut cands,
                        );
                        cands.push(Candidate {
                            bytes: x,
                            how: format!("hex string {name} (jumps at their shortest)"),
                            regex_rep: false,
                        });
                    }
                }
                let mut runs = Vec::new();
                let mut cur = Vec::new();
                hex_runs(&h.sub_patterns, &mut runs, &mut cur);
                if !cur.is_empty() {
                    runs.push(cur);
                }
                weak = runs.iter().map(Vec::len).max().unwrap_or(0) < MIN_BYTES_ATOM;
                for run in runs {
                    derived(&run, &format!("hex string {name}"), &mut cands);
                    if run.len() >= 6 && !printable(&run) && text::doc_kinds(&run).is_empty() {
                        pexec.get_or_insert_with(|| format!("binary code bytes in {name}"));
                    }
                    cands.push(Candidate {
                        bytes: run,
                        how: format!("hex string {name}"),
                        regex_rep: false,
                    });
                }
            }
            Pattern::Regexp(r) => {
                let nocase = r.regexp.case_insensitive || mods.nocase().is_some();
                match regexp::analyse(r.regexp.src, nocase, r.regexp.dot_matches_new_line) {
                    Some(a) => {
                        weak = a.atom_len < MIN_BYTES_ATOM;
                        if let Some(full) = &a.full {
                            personal_regex(&mut cx, full, offset, &name);
                        }
                        if let Some(first) = a.representatives.first() {
                            pat_bytes.insert(name.clone(), first.clone());
                        }
                        for rep in a.representatives {
                            derived(&rep, &format!("regex {name}"), &mut cands);
                            cands.push(Candidate {
                                bytes: rep,
                                how: format!("regex {name}{enc}"),
                                regex_rep: true,
                            });
                        }
                    }
                    None => weak = false,
                }
            }
        }
        for c in &cands {
            check_candidate(&mut cx, &mut facts, c, offset, &name, &mut pexec);
        }
        if let Some(e) = pexec {
            pat_exec.insert(name.clone(), e);
        }
        pats.push(PatInfo { name, weak, offset });
    }

    // The condition.
    let mut cond = CondFacts::default();
    walk(&rule.condition, &mut cond);
    for (lit, offset) in &cond.literals {
        let c = Candidate {
            bytes: lit.clone(),
            how: "a string in the condition".to_owned(),
            regex_rep: false,
        };
        // What the condition compares is no pattern: it cannot stand for
        // executable content the rule requires.
        let mut ignored = None;
        check_candidate(&mut cx, &mut facts, &c, *offset, "condition", &mut ignored);
    }
    // Bytes pinned by integer reads and offset constraints, joined.
    let cond_offset = rule.condition.span().start();
    for (bytes, how) in layout::joined(&rule.condition, &pat_bytes) {
        let mut cands = Vec::new();
        derived(&bytes, &how, &mut cands);
        cands.push(Candidate {
            bytes,
            how,
            regex_rep: false,
        });
        for c in &cands {
            let mut ignored = None;
            check_candidate(&mut cx, &mut facts, c, cond_offset, "joined", &mut ignored);
        }
    }
    for kind in &cond.doc_magic {
        facts.docs.insert(*kind);
    }
    let mut hidden: Vec<(String, RuleFacts)> = Vec::new();
    let mut via: Option<String> = None;
    for name in &cond.idents {
        if let Some(r) = known.get(name) {
            if let Some(e) = &r.exec {
                via.get_or_insert_with(|| format!("{e} (via rule {name})"));
            }
            facts.docs.extend(r.docs.iter().copied());
            if r.private && r.worst.is_some_and(|s| s >= Severity::Medium) {
                hidden.push((name.clone(), r.clone()));
            }
        }
    }
    // Executable content counts only when the rule cannot match without
    // it: a `.docx` name beside an API name the condition may skip (`any
    // of them`) still hunts documents.
    let names: Vec<&str> = pats.iter().map(|p| p.name.as_str()).collect();
    let env = ExecEnv {
        pats: &pat_exec,
        known,
        all: &names,
    };
    if !sat_without_exec(&rule.condition, &env) {
        let module = cond
            .modules
            .iter()
            .find(|m| EXEC_MODULES.contains(&m.as_str()))
            .map(|m| format!("the {m} module"));
        facts.exec = cond
            .exec
            .clone()
            .or(module)
            .or_else(|| pats.iter().find_map(|p| pat_exec.get(&p.name).cloned()))
            .or(via)
            .or_else(|| Some("executable content".to_owned()));
    }

    // Document, host and person targeting.
    // A host or person string counts only if some match without
    // executable content uses it (`$home in a branch that also needs a
    // shell command` is a build artefact of the script).
    for (pat, id, offset, key, message) in std::mem::take(&mut facts.targets) {
        let free = if pats.iter().any(|p| p.name == pat) {
            sat_with(&rule.condition, &env, &pat).1
        } else {
            facts.exec.is_none()
        };
        if free {
            cx.report(id, Severity::High, offset, &key, message);
        }
    }
    facts
        .doc_names
        .retain(|d| sat_with(&rule.condition, &env, &d.0).1);
    if facts.exec.is_none() {
        // A rule that needs several other strings beside the file name
        // fingerprints the program that writes or reads that file (a
        // stealer's "Passwords.txt" beside its C2 strings); a document
        // hunt needs the name and at most a couple of words.
        let doc_pats: BTreeSet<&str> = facts.doc_names.iter().map(|d| d.0.as_str()).collect();
        let others = min_others(&rule.condition, &env, &doc_pats);
        if others >= FINGERPRINT_STRINGS {
            facts.doc_names.clear();
        }
        for (name, offset, how, ext, shown) in std::mem::take(&mut facts.doc_names) {
            cx.doc_name(&name, offset, &how, ext, &shown);
        }
        if !facts.docs.is_empty() {
            let kinds: Vec<&str> = facts.docs.iter().map(|k| k.name()).collect();
            cx.report(
                "VL301",
                Severity::High,
                rule_offset,
                "docs",
                format!(
                    "the rule selects {} files and shows no trait of executable content (no executable header, module, API, macro or script string): it finds documents, not malware",
                    kinds.join(", ")
                ),
            );
        }
    }

    // Overbroad.
    let weak_pats: BTreeSet<&str> = pats
        .iter()
        .filter(|p| p.weak)
        .map(|p| p.name.as_str())
        .collect();
    let all_pats: Vec<&str> = pats.iter().map(|p| p.name.as_str()).collect();
    let sets = PatSets {
        all: &all_pats,
        weak: &weak_pats,
        known,
    };
    facts.constrains = constrains(&rule.condition, &sets);
    if !facts.constrains {
        if cond.uses_weak(&weak_pats) {
            cx.report(
                "VL504",
                Severity::High,
                cond_offset,
                "weak-cond",
                "the condition can be met by a string shorter than 4 bytes (or a regex/hex string without a 3-byte fixed run) alone: the rule would match a large share of all files".to_owned(),
            );
        } else if cond.filesize {
            cx.report(
                "VL502",
                Severity::High,
                cond_offset,
                "filesize",
                "the condition constrains only the file size: every file in that size range matches".to_owned(),
            );
        } else {
            cx.report(
                "VL501",
                Severity::High,
                cond_offset,
                "any",
                "the condition does not constrain the content (no string, magic number, module or hash test it depends on): the rule matches nearly any file".to_owned(),
            );
        }
    } else {
        for p in pats.iter().filter(|p| p.weak) {
            cx.report(
                "VL503",
                Severity::Low,
                p.offset,
                &p.name,
                format!(
                    "{} is a very short atom (under 4 bytes of text, or under 3 fixed bytes): slow to scan and prone to chance matches",
                    p.name
                ),
            );
        }
    }

    // Hidden logic.
    if global {
        cx.report(
            "VL601",
            Severity::Medium,
            rule_offset,
            "global",
            "a global rule gates every rule of its file: no rule there matches unless this one does, so it can quietly restrict all of them (for example to documents)".to_owned(),
        );
    }
    for (name, r) in hidden {
        let ids: Vec<&str> = r.ids.iter().copied().collect();
        cx.report(
            "VL602",
            r.worst.unwrap_or(Severity::Medium),
            cond_offset,
            &name,
            format!(
                "the rule depends on private rule {name}, which has findings {}: private rules report no match themselves, so their logic hides behind this rule's name",
                ids.join(", ")
            ),
        );
    }
    facts
}

/// A run of base64 (at least 12 characters) decoded at each of the four
/// alignments it may have been cut from (the `base64` modifier and
/// hand-made encodings drop partial characters at both ends); only
/// printable decodings are kept.
fn base64_shifted(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    let mut out = Vec::new();
    if bytes.len() < 12
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return out;
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let body: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'=').collect();
    for shift in 0..4usize {
        let mut s: Vec<u8> = std::iter::repeat_n(b'A', shift)
            .chain(body.iter().copied())
            .collect();
        while s.len() % 4 == 1 {
            s.pop();
        }
        if let Ok(decoded) = engine.decode(&s) {
            // Skip the bytes the padding characters produced.
            let skip = (shift * 6).div_ceil(8);
            let d = decoded.get(skip..).unwrap_or_default().to_vec();
            if d.len() >= 5 && printable(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// A text pattern that is itself base64 (`VE9QIFNFQ1JFVA==`), decoded.
fn base64_text(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 8
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let decoded = engine.decode(bytes).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(bytes)
            .ok()
    })?;
    (printable(&decoded) && std::str::from_utf8(&decoded).is_ok()).then_some(decoded)
}

fn personal_regex(cx: &mut Ctx<'_>, full: &regex::bytes::Regex, offset: usize, name: &str) {
    let mut kinds = BTreeSet::new();
    for (kind, example) in text::PERSONAL_EXAMPLES {
        if full.is_match(example.as_bytes()) && kinds.insert(*kind as u8) {
            let (id, what) = match kind {
                Personal::NationalId => (
                    "VL201",
                    "national identity numbers (e.g. a US SSN, a UK NINO, a German tax ID)",
                ),
                Personal::Card => ("VL202", "payment card numbers"),
                Personal::Iban => ("VL203", "bank account numbers (IBAN)"),
                Personal::Email => ("VL204", "e-mail addresses"),
                Personal::Phone => ("VL205", "telephone numbers"),
            };
            cx.report(
                id,
                Severity::High,
                offset,
                name,
                format!("regex {name} matches {what} such as \"{example}\": a rule built on it harvests personal data"),
            );
        }
    }
}

fn check_candidate(
    cx: &mut Ctx<'_>,
    facts: &mut RuleFacts,
    c: &Candidate,
    offset: usize,
    name: &str,
    pexec: &mut Option<String>,
) {
    let shown = String::from_utf8_lossy(&c.bytes).replace('\x01', "…");
    for hit in text::markings(&c.bytes) {
        let m = hit.marking;
        if hit.prominent {
            cx.report(
                "VL101",
                Severity::High,
                offset,
                &format!("{name}-{}", m.text),
                format!(
                    "{} contains the classification marking \"{}\" ({}): a rule that searches for it hunts classified documents, not malware",
                    c.how, m.text, m.origin
                ),
            );
        } else {
            cx.report(
                "VL102",
                Severity::Medium,
                offset,
                &format!("{name}-{}", m.text),
                format!(
                    "{} contains the word \"{}\", also a classification level ({}), inside other text: check what the rule is after",
                    c.how, m.text, m.origin
                ),
            );
        }
    }
    if !c.regex_rep {
        for (kind, value) in text::personal_literal(&c.bytes) {
            let (id, severity, what) = match kind {
                Personal::NationalId => ("VL201", Severity::High, "a national identity number"),
                Personal::Card => ("VL202", Severity::High, "a valid payment card number"),
                Personal::Iban => ("VL203", Severity::High, "a valid IBAN"),
                Personal::Email => ("VL406", Severity::Low, "one e-mail address"),
                Personal::Phone => ("VL205", Severity::High, "a telephone number"),
            };
            cx.report(
                id,
                severity,
                offset,
                &format!("{name}-{value}"),
                format!(
                    "{} is {what} (\"{value}\"): the rule looks for one person's data",
                    c.how
                ),
            );
        }
    }
    for (target, value) in text::targets(&c.bytes) {
        let (id, what) = match target {
            Target::HomeDir => ("VL401", "a home directory that names one user"),
            Target::InternalDomain => ("VL402", "a host in an internal domain"),
            Target::HostName => ("VL403", "one machine's host name"),
            Target::UserName => ("VL404", "one user's name"),
            Target::Serial => ("VL405", "a serial number"),
        };
        facts.targets.push((
            name.to_owned(),
            id,
            offset,
            format!("{name}-{value}"),
            format!(
                "{} names {what} (\"{}\") and the rule does not require executable content: a rule for one host or person, not for malware",
                c.how,
                value.replace('\x01', "…")
            ),
        ));
    }
    for kind in text::doc_kinds(&c.bytes) {
        facts.docs.insert(kind);
    }
    let exec = text::exec_trait(&c.bytes);
    if let Some(e) = exec {
        pexec.get_or_insert_with(|| format!("\"{e}\" in {}", c.how));
    }
    // A file name that is itself program text (`%s_RECOVER.txt`, a
    // ransom note's name) is what a program writes, not a document sought.
    if let Some(ext) = text::doc_file_name(&c.bytes).filter(|_| exec.is_none()) {
        facts
            .doc_names
            .push((name.to_owned(), offset, c.how.clone(), ext, shown));
    }
}

impl Ctx<'_> {
    /// Deferred: a document file name only counts when the rule shows no
    /// executable trait, which is known after every string is read.
    fn doc_name(&mut self, name: &str, offset: usize, how: &str, ext: &str, shown: &str) {
        let (line, column) = line_col(self.src, offset);
        if self.seen.insert(("VL302", name.to_owned())) {
            self.findings.push(Finding {
                id: "VL302",
                severity: Severity::High,
                rule: self.rule.to_owned(),
                file: self.file.to_owned(),
                line,
                column,
                message: format!(
                    "{how} is a document file name (\"{shown}\", {}) and the rule shows no trait of executable content: it looks for people's documents",
                    ext.to_lowercase()
                ),
            });
        }
    }
}

/// Facts gathered from a condition.
#[derive(Default)]
struct CondFacts {
    literals: Vec<(Vec<u8>, usize)>,
    doc_magic: Vec<DocKind>,
    exec: Option<String>,
    modules: BTreeSet<String>,
    idents: BTreeSet<String>,
    pattern_refs: BTreeSet<String>,
    them: bool,
    filesize: bool,
}

impl CondFacts {
    fn uses_weak(&self, weak: &BTreeSet<&str>) -> bool {
        !weak.is_empty()
            && (self.them
                || self
                    .pattern_refs
                    .iter()
                    .any(|r| weak.iter().any(|w| w.starts_with(r.as_str()))))
    }
}

/// Bytes at offset 0 that `uintXX(0) == value` demands.
fn magic_bytes(call: &str, value: i64) -> Option<Vec<u8>> {
    let v = value as u64;
    Some(match call {
        "uint8" => vec![v as u8],
        "uint16" => (v as u16).to_le_bytes().to_vec(),
        "uint32" => (v as u32).to_le_bytes().to_vec(),
        "uint16be" => (v as u16).to_be_bytes().to_vec(),
        "uint32be" => (v as u32).to_be_bytes().to_vec(),
        _ => return None,
    })
}

fn magic_compare(lhs: &Expr, rhs: &Expr, out: &mut CondFacts) {
    let (call, lit) = match (lhs, rhs) {
        (Expr::FuncCall(f), Expr::LiteralInteger(i))
        | (Expr::LiteralInteger(i), Expr::FuncCall(f)) => (f, i),
        _ => return,
    };
    if call.object.is_some() {
        return;
    }
    let Some(bytes) = magic_bytes(call.identifier.name, lit.value) else {
        return;
    };
    for kind in text::doc_kinds(&bytes) {
        out.doc_magic.push(kind);
    }
    if bytes.starts_with(b"PK") {
        // ZIP alone is no document (JAR, APK are ZIP too); OOXML needs a
        // member name, which the strings supply.
    }
    if text::EXEC_MAGIC
        .iter()
        .any(|m| bytes.starts_with(m) || m.starts_with(&bytes) && bytes.len() >= 2)
    {
        out.exec.get_or_insert_with(|| {
            format!(
                "an executable magic number test ({}(0) == 0x{:X})",
                call.identifier.name, lit.value
            )
        });
    }
}

fn walk(e: &Expr, out: &mut CondFacts) {
    match e {
        Expr::Filesize { .. } => out.filesize = true,
        Expr::Entrypoint { .. } => {
            out.exec
                .get_or_insert_with(|| "the entrypoint keyword".to_owned());
        }
        Expr::LiteralString(s) => out.literals.push((s.value.to_vec(), s.span().start())),
        Expr::Regexp(r) => {
            if let Some(a) = regexp::analyse(r.src, r.case_insensitive, r.dot_matches_new_line) {
                for rep in a.representatives {
                    out.literals.push((rep, r.span().start()));
                }
            }
        }
        Expr::Ident(i) => {
            out.idents.insert(i.name.to_owned());
        }
        Expr::FieldAccess(n) => {
            if let Some(Expr::Ident(i)) = n.operands.first() {
                out.modules.insert(i.name.to_owned());
            }
            for op in n.operands() {
                walk(op, out);
            }
        }
        Expr::FuncCall(f) => {
            if let Some(Expr::Ident(i)) = &f.object {
                out.modules.insert(i.name.to_owned());
            }
            if let Some(o) = &f.object {
                walk(o, out);
            }
            for a in &f.args {
                walk(a, out);
            }
        }
        Expr::PatternMatch(p) => {
            out.pattern_refs.insert(p.identifier.name.to_owned());
            if let Some(ast::MatchAnchor::At(at)) = &p.anchor {
                walk(&at.expr, out);
            }
        }
        Expr::PatternCount(p) => {
            out.pattern_refs
                .insert(layout::pattern_name(p.identifier.name));
        }
        Expr::PatternOffset(p) | Expr::PatternLength(p) => {
            out.pattern_refs
                .insert(layout::pattern_name(p.identifier.name));
        }
        Expr::Of(of) => match &of.items {
            OfItems::PatternSet(set) => pattern_set(set, out),
            OfItems::BoolExprTuple(v) => v.iter().for_each(|x| walk(x, out)),
        },
        Expr::ForOf(f) => {
            pattern_set(&f.pattern_set, out);
            walk(&f.body, out);
        }
        Expr::Eq(b) | Expr::Ne(b) => {
            magic_compare(&b.lhs, &b.rhs, out);
            walk(&b.lhs, out);
            walk(&b.rhs, out);
        }
        _ => {
            for c in e.children() {
                walk(c, out);
            }
        }
    }
}

fn pattern_set(set: &PatternSet, out: &mut CondFacts) {
    match set {
        PatternSet::Them { .. } => out.them = true,
        PatternSet::Set(items) => {
            for i in items {
                out.pattern_refs.insert(i.identifier.to_owned());
            }
        }
    }
}

struct PatSets<'a> {
    all: &'a [&'a str],
    weak: &'a BTreeSet<&'a str>,
    known: &'a HashMap<String, RuleFacts>,
}

/// The patterns among `all` that a set (`them`, `($a, $b*)`) names.
fn set_members<'a>(all: &[&'a str], set: &PatternSet) -> Vec<&'a str> {
    match set {
        PatternSet::Them { .. } => all.to_vec(),
        PatternSet::Set(items) => all
            .iter()
            .copied()
            .filter(|p| {
                items.iter().any(|i| {
                    if i.wildcard {
                        p.starts_with(i.identifier)
                    } else {
                        *p == i.identifier
                    }
                })
            })
            .collect(),
    }
}

impl PatSets<'_> {
    fn strong(&self, name: &str) -> bool {
        // `$` alone (inside `for ... of`) means the current pattern.
        !self.weak.contains(name)
    }

    fn members(&self, set: &PatternSet) -> Vec<&str> {
        set_members(self.all, set)
    }
}

fn needed(q: &Quantifier, n: usize) -> usize {
    match q {
        Quantifier::None { .. } => 0,
        Quantifier::All { .. } => n,
        Quantifier::Any { .. } => 1,
        Quantifier::Expr(Expr::LiteralInteger(i)) => usize::try_from(i.value).unwrap_or(1),
        Quantifier::Percentage(Expr::LiteralInteger(i)) => n
            .saturating_mul(usize::try_from(i.value).unwrap_or(0))
            .div_ceil(100),
        _ => 1,
    }
}

/// Whether a condition ties a match to the file's content. Unknown
/// constructs count as constraining: this check must not cry wolf.
fn constrains(e: &Expr, s: &PatSets<'_>) -> bool {
    match e {
        Expr::True { .. } | Expr::Filesize { .. } => false,
        Expr::False { .. } => true,
        Expr::LiteralInteger(_) | Expr::LiteralFloat(_) | Expr::LiteralString(_) => false,
        Expr::PatternMatch(p) => s.strong(p.identifier.name),
        Expr::PatternCount(p) => s.strong(&layout::pattern_name(p.identifier.name)),
        Expr::PatternOffset(p) | Expr::PatternLength(p) => {
            s.strong(&layout::pattern_name(p.identifier.name))
        }
        Expr::Not(_) => false,
        Expr::And(n) => n.operands().any(|o| constrains(o, s)),
        Expr::Or(n) => n.operands().all(|o| constrains(o, s)),
        Expr::Ident(i) => s.known.get(i.name).is_none_or(|r| r.constrains),
        Expr::Of(of) => match &of.items {
            OfItems::PatternSet(set) => {
                let members = s.members(set);
                let weak = members.iter().filter(|m| !s.strong(m)).count();
                let k = needed(&of.quantifier, members.len());
                k > 0 && weak < k
            }
            OfItems::BoolExprTuple(v) => {
                let weak = v.iter().filter(|x| !constrains(x, s)).count();
                let k = needed(&of.quantifier, v.len());
                k > 0 && weak < k
            }
        },
        Expr::ForOf(f) => {
            let members = s.members(&f.pattern_set);
            let weak = members.iter().filter(|m| !s.strong(m)).count();
            let k = needed(&f.quantifier, members.len());
            (k > 0 && weak < k) || constrains(&f.body, s)
        }
        Expr::FuncCall(_) | Expr::FieldAccess(_) | Expr::Lookup(_) => true,
        _ => e.children().any(|c| constrains(c, s)),
    }
}

/// Whether the condition can hold without executable content, and
/// whether it can so hold with pattern `x` among the matches.
fn sat_with(e: &Expr, env: &ExecEnv<'_>, x: &str) -> (bool, bool) {
    match e {
        Expr::PatternMatch(p) => {
            let ok = !env.pat(p.identifier.name);
            (ok, ok && p.identifier.name == x)
        }
        Expr::And(n) => {
            let parts: Vec<(bool, bool)> = n.operands().map(|o| sat_with(o, env, x)).collect();
            let all = parts.iter().all(|p| p.0);
            (all, all && parts.iter().any(|p| p.1))
        }
        Expr::Or(n) => n
            .operands()
            .map(|o| sat_with(o, env, x))
            .fold((false, false), |a, p| (a.0 || p.0, a.1 || p.1)),
        Expr::Of(of) => match &of.items {
            OfItems::PatternSet(set) => {
                let (free, n) = env.free(set);
                let ok = free >= needed(&of.quantifier, n).max(1);
                let has = env.members(set).contains(&x) && !env.pat(x);
                (ok, ok && has)
            }
            OfItems::BoolExprTuple(v) => {
                let parts: Vec<(bool, bool)> = v.iter().map(|o| sat_with(o, env, x)).collect();
                let ok =
                    parts.iter().filter(|p| p.0).count() >= needed(&of.quantifier, v.len()).max(1);
                (ok, ok && parts.iter().any(|p| p.1))
            }
        },
        Expr::ForOf(f) => {
            let (free, n) = env.free(&f.pattern_set);
            let ok = free >= needed(&f.quantifier, n).max(1);
            let has = env.members(&f.pattern_set).contains(&x) && !env.pat(x);
            (ok, ok && has)
        }
        _ => {
            let ok = sat_without_exec(e, env);
            (ok, ok && mentions_pattern(e, x))
        }
    }
}

fn mentions_pattern(e: &Expr, x: &str) -> bool {
    match e {
        Expr::PatternMatch(p) => p.identifier.name == x,
        Expr::PatternCount(p) => layout::pattern_name(p.identifier.name) == x,
        Expr::PatternOffset(p) | Expr::PatternLength(p) => {
            layout::pattern_name(p.identifier.name) == x
        }
        _ => e.children().any(|c| mentions_pattern(c, x)),
    }
}

/// How many other strings beside a document file name make a rule the
/// fingerprint of one program rather than a document hunt.
const FINGERPRINT_STRINGS: usize = 3;

/// The fewest patterns other than `docs` (and other than those showing
/// executable content, taken as false) a match needs. Constructs not
/// understood need none, so this errs towards reporting.
fn min_others(e: &Expr, env: &ExecEnv<'_>, docs: &BTreeSet<&str>) -> usize {
    const NEVER: usize = usize::MAX / 4;
    let cost = |n: &str| {
        if docs.contains(n) {
            0
        } else if env.pat(n) {
            NEVER
        } else {
            1
        }
    };
    let set_cost = |set: &PatternSet, q: &Quantifier| {
        let mut costs: Vec<usize> = env.members(set).into_iter().map(cost).collect();
        costs.sort_unstable();
        let k = needed(q, costs.len()).max(1);
        costs
            .iter()
            .take(k)
            .fold(0usize, |a, c| a.saturating_add(*c))
            + if k > costs.len() { NEVER } else { 0 }
    };
    match e {
        Expr::PatternMatch(p) => cost(p.identifier.name),
        Expr::And(n) => n
            .operands()
            .fold(0usize, |a, o| a.saturating_add(min_others(o, env, docs))),
        Expr::Or(n) => n
            .operands()
            .map(|o| min_others(o, env, docs))
            .min()
            .unwrap_or(0),
        Expr::Of(of) => match &of.items {
            OfItems::PatternSet(set) => set_cost(set, &of.quantifier),
            OfItems::BoolExprTuple(_) => 0,
        },
        Expr::ForOf(f) => set_cost(&f.pattern_set, &f.quantifier),
        _ => 0,
    }
}

/// Modules that only describe executables.
const EXEC_MODULES: &[&str] = &["pe", "elf", "macho", "dotnet", "dex", "lnk"];

/// What stands for executable content when a condition is evaluated.
struct ExecEnv<'a> {
    /// Patterns that show executable content.
    pats: &'a HashMap<String, String>,
    /// Earlier rules (a reference to one that requires executable
    /// content requires it too).
    known: &'a HashMap<String, RuleFacts>,
    /// Every pattern of the rule.
    all: &'a [&'a str],
}

impl<'a> ExecEnv<'a> {
    fn pat(&self, name: &str) -> bool {
        // `$` alone inside `for … of` stands for each member: unknown.
        name.len() > 1 && self.pats.contains_key(name)
    }

    /// The rule's patterns a set names.
    fn members(&self, set: &PatternSet) -> Vec<&'a str> {
        set_members(self.all, set)
    }

    /// How many members of a set can match without executable content,
    /// and how many there are.
    fn free(&self, set: &PatternSet) -> (usize, usize) {
        let members = self.members(set);
        (
            members.iter().filter(|n| !self.pat(n)).count(),
            members.len(),
        )
    }
}

/// A `uintXX`/`intXX` read whose offset goes through the PE header
/// pointer at 0x3C (`uint32(uint32(0x3C)) == 0x4550`): a PE header test.
fn pe_header_read(e: &Expr) -> bool {
    match e {
        Expr::FuncCall(f) if f.object.is_none() => {
            let name = f.identifier.name;
            (name.starts_with("uint") || name.starts_with("int"))
                && f.args.iter().any(|a| {
                    matches!(a, Expr::LiteralInteger(i) if i.value == 0x3C) || pe_header_read(a)
                })
        }
        _ => e.children().any(pe_header_read),
    }
}

/// Whether an expression mentions executable content: an executable
/// module, `entrypoint`, a PE header read, or a pattern that shows it.
fn mentions_exec(e: &Expr, env: &ExecEnv<'_>) -> bool {
    match e {
        Expr::Entrypoint { .. } => true,
        Expr::FieldAccess(n) => {
            matches!(n.operands.first(), Some(Expr::Ident(i)) if EXEC_MODULES.contains(&i.name))
                || n.operands().any(|o| mentions_exec(o, env))
        }
        Expr::FuncCall(f) => {
            matches!(&f.object, Some(Expr::Ident(i)) if EXEC_MODULES.contains(&i.name))
                || pe_header_read(e)
                || f.args.iter().any(|a| mentions_exec(a, env))
                || f.object.as_ref().is_some_and(|o| mentions_exec(o, env))
        }
        Expr::PatternMatch(p) => env.pat(p.identifier.name),
        Expr::PatternCount(p) => env.pat(&layout::pattern_name(p.identifier.name)),
        Expr::PatternOffset(p) | Expr::PatternLength(p) => {
            env.pat(&layout::pattern_name(p.identifier.name))
        }
        _ => e.children().any(|c| mentions_exec(c, env)),
    }
}

/// Whether the condition can hold on a file without executable content:
/// every pattern that shows it, every executable magic number, module and
/// header read taken as false. Anything not understood can hold (so a
/// rule is cleared only by what it demonstrably requires).
fn sat_without_exec(e: &Expr, env: &ExecEnv<'_>) -> bool {
    match e {
        Expr::False { .. } => false,
        Expr::Entrypoint { .. } => false,
        Expr::PatternMatch(p) => !env.pat(p.identifier.name),
        Expr::And(n) => n.operands().all(|o| sat_without_exec(o, env)),
        Expr::Or(n) => n.operands().any(|o| sat_without_exec(o, env)),
        Expr::Not(_) => true,
        Expr::Ident(i) => env.known.get(i.name).is_none_or(|r| r.exec.is_none()),
        Expr::Of(of) => match &of.items {
            OfItems::PatternSet(set) => {
                let (free, n) = env.free(set);
                free >= needed(&of.quantifier, n).max(1)
            }
            OfItems::BoolExprTuple(v) => {
                let free = v.iter().filter(|x| sat_without_exec(x, env)).count();
                free >= needed(&of.quantifier, v.len()).max(1)
            }
        },
        Expr::ForOf(f) => {
            let (free, n) = env.free(&f.pattern_set);
            free >= needed(&f.quantifier, n).max(1)
        }
        Expr::Eq(b) => {
            let mut facts = CondFacts::default();
            magic_compare(&b.lhs, &b.rhs, &mut facts);
            facts.exec.is_none() && !mentions_exec(e, env)
        }
        Expr::FieldAccess(_)
        | Expr::FuncCall(_)
        | Expr::Ne(_)
        | Expr::Lt(_)
        | Expr::Le(_)
        | Expr::Gt(_)
        | Expr::Ge(_) => !mentions_exec(e, env),
        _ => true,
    }
}
