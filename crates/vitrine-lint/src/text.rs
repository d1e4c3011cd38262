//! What a byte string a rule searches for says about the rule: markings,
//! personal data, document and executable traits, host and person names.
//!
//! Every check here works on one candidate byte string (a text pattern, a
//! decoded run of a hex pattern, a representative string of a regular
//! expression, or a literal in the condition). Bytes that stand for "any
//! of several characters" in a regex representative are [`WILDCARD`].

use std::sync::OnceLock;

use regex::Regex;

/// Stands for a regex character class in a representative string: it is
/// no letter, digit or space, so it never completes a word or a name.
pub const WILDCARD: u8 = 0x01;

/// One classification or handling marking.
pub struct Marking {
    /// Upper-case form searched for (whole words).
    pub text: &'static str,
    /// Who uses it.
    pub origin: &'static str,
    /// A single common word ("SECRET", "CONFIDENTIAL") rather than a
    /// phrase or a control marking that only appears on classified paper.
    pub weak: bool,
}

const fn m(text: &'static str, origin: &'static str, weak: bool) -> Marking {
    Marking { text, origin, weak }
}

/// Markings, longest first so a phrase is reported before its words. The
/// sources are listed in `docs/lint.md`.
pub static MARKINGS: &[Marking] = &[
    m("VS-NUR FÜR DEN DIENSTGEBRAUCH", "Germany (VSA)", false),
    m("VS-NUR FUER DEN DIENSTGEBRAUCH", "Germany (VSA)", false),
    m("ДЛЯ СЛУЖЕБНОГО ПОЛЬЗОВАНИЯ", "Russia", false),
    m("CONTROLLED UNCLASSIFIED INFORMATION", "US (CUI)", false),
    m("FOR OFFICIAL USE ONLY", "US", false),
    m("СОВЕРШЕННО СЕКРЕТНО", "Russia (Law 5485-1)", false),
    m(
        "CONFIDENTIEL DÉFENSE",
        "France (IGI 1300, before 2021)",
        false,
    ),
    m(
        "CONFIDENTIEL DEFENSE",
        "France (IGI 1300, before 2021)",
        false,
    ),
    m("DIFFUSION RESTREINTE", "France (IGI 1300)", false),
    m("OFFICIAL-SENSITIVE", "United Kingdom (GSC)", false),
    m("OFFICIAL SENSITIVE", "United Kingdom (GSC)", false),
    m("COSMIC TOP SECRET", "NATO (C-M(2002)49)", false),
    m("NATO CONFIDENTIAL", "NATO (C-M(2002)49)", false),
    m("NATO RESTRICTED", "NATO (C-M(2002)49)", false),
    m("ОСОБОЙ ВАЖНОСТИ", "Russia (Law 5485-1)", false),
    m("SECRET DÉFENSE", "France (IGI 1300, before 2021)", false),
    m("SECRET DEFENSE", "France (IGI 1300, before 2021)", false),
    m("VS-VERTRAULICH", "Germany (VSA)", false),
    m("STRENG GEHEIM", "Germany (VSA)", false),
    m("UK EYES ONLY", "United Kingdom", false),
    m("RESTREINT UE", "European Union (2013/488/EU)", false),
    m("TRÈS SECRET", "France (IGI 1300)", false),
    m("TRES SECRET", "France (IGI 1300)", false),
    m("NATO SECRET", "NATO (C-M(2002)49)", false),
    m("TOP SECRET", "US (EO 13526)", false),
    m("SECRET UE", "European Union (2013/488/EU)", false),
    m(
        "特定秘密",
        "Japan (Act on the Protection of Specially Designated Secrets)",
        false,
    ),
    m("極秘", "Japan (government and defence marking)", false),
    m(
        "绝密",
        "China (Law on Guarding State Secrets art. 13)",
        false,
    ),
    m("SECRET//", "US (CAPCO banner)", false),
    m("CONFIDENTIAL//", "US (CAPCO banner)", false),
    m("TS//SCI", "US (CAPCO)", false),
    m("//NOFORN", "US (CAPCO)", false),
    m("NOFORN", "US (CAPCO)", false),
    m("ORCON", "US (CAPCO)", false),
    m("IMCON", "US (CAPCO)", false),
    m("PROPIN", "US (CAPCO)", false),
    m("RELIDO", "US (CAPCO)", false),
    m("FOUO", "US", false),
    m("VS-NFD", "Germany (VSA)", false),
    m("CUI//", "US (CUI)", false),
    m("CLASSIFIED BY", "US (EO 13526)", false),
    m("DECLASSIFY ON", "US (EO 13526)", false),
    m("СЕКРЕТНО", "Russia (Law 5485-1)", true),
    m("CONFIDENTIAL", "US (EO 13526), UK, NATO", true),
    m("CLASSIFIED", "generic", true),
    m("RESTRICTED", "UK (before 2014), NATO", true),
    m("GEHEIM", "Germany (VSA)", true),
    m("VERTRAULICH", "Germany (VSA)", true),
    m("SECRET", "US (EO 13526), UK, NATO, France", true),
];

/// A marking found in a candidate string.
pub struct MarkingHit {
    /// The marking.
    pub marking: &'static Marking,
    /// The weak word is the whole string, or written upper case as on a
    /// banner: treated as strongly as a phrase.
    pub prominent: bool,
}

/// A character that continues a word. Chinese and Japanese are written
/// without spaces, so their characters never continue a marking's word.
fn is_word(c: char) -> bool {
    (c.is_alphanumeric() || c == '_')
        && !matches!(c, '\u{3000}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// Upper-cases and collapses whitespace; wildcards become `\u{1}`.
pub fn normalize(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        let mut out = String::with_capacity(bytes.len());
        let mut space = false;
        for &b in bytes {
            if b.is_ascii_whitespace() || b == 0x0B {
                space = true;
                continue;
            }
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(char::from(b.to_ascii_uppercase()));
        }
        return out;
    }
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(c.to_uppercase());
    }
    out
}

/// Finds whole-word occurrences of `needle` in `hay`.
fn find_word(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let at = from + pos;
        let end = at + needle.len();
        let first = needle.chars().next().is_some_and(is_word);
        let last = needle.chars().last().is_some_and(is_word);
        let before_ok = !first || hay[..at].chars().last().is_none_or(|c| !is_word(c));
        let after_ok = !last || hay[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// Markings in `bytes`. `original` is the string before upper-casing, to
/// tell a banner (`SECRET`) from a word in a sentence (`a secret`).
pub fn markings(bytes: &[u8]) -> Vec<MarkingHit> {
    static ANY: OnceLock<Regex> = OnceLock::new();
    let norm = normalize(bytes);
    let any = ANY.get_or_init(|| alternation(MARKINGS.iter().map(|m| m.text)));
    if !any.is_match(&norm) {
        let mut hits = Vec::new();
        // Fuzzy reading only where letters are open or the string is short
        // enough to be a cut-off marking.
        if (norm.contains('\u{1}') || norm.len() <= 24) && mostly_text(&norm) {
            hits.extend(fuzzy_marking(&norm).map(|marking| MarkingHit {
                marking,
                prominent: true,
            }));
        }
        return hits;
    }
    let original = String::from_utf8_lossy(bytes);
    let mut hits: Vec<MarkingHit> = Vec::new();
    let mut covered: Vec<(usize, usize)> = Vec::new();
    for marking in MARKINGS {
        if let Some(at) = find_word(&norm, marking.text) {
            let end = at + marking.text.len();
            if covered.iter().any(|&(s, e)| at >= s && end <= e) {
                continue;
            }
            covered.push((at, end));
            let prominent = !marking.weak
                || norm.trim() == marking.text
                || find_word(&original, marking.text).is_some();
            hits.push(MarkingHit { marking, prominent });
        }
    }
    hits
}

/// Four in five known characters printable: binary code is no text a
/// marking could hide in (and is the bulk of hex strings).
fn mostly_text(norm: &str) -> bool {
    let (mut known, mut text) = (0usize, 0usize);
    for c in norm.chars().filter(|c| *c != '\u{1}') {
        known += 1;
        if !c.is_control() && c != '\u{FFFD}' {
            text += 1;
        }
    }
    text * 5 >= known * 4
}

/// One regex matching any of `words` literally (a single Aho-Corasick or
/// Teddy search instead of one substring search per word).
fn alternation<'w>(words: impl Iterator<Item = &'w str>) -> Regex {
    let alts: Vec<String> = words.map(regex::escape).collect();
    Regex::new(&alts.join("|")).expect("invariant: escaped words compile")
}

/// A phrase marking spelt with some letters left open (`TOP S?CRET` from
/// a hex wildcard or a regex `.`): at most one open character in four,
/// whole words.
fn fuzzy_marking(norm: &str) -> Option<&'static Marking> {
    // Two open characters past each end: a string can be the start or
    // the end of a marking the file goes on to spell (`TOP SECR`).
    const PAD: usize = 2;
    static PHRASES: OnceLock<Vec<(&'static Marking, Vec<char>)>> = OnceLock::new();
    let phrases = PHRASES.get_or_init(|| {
        MARKINGS
            .iter()
            .filter(|m| !m.weak && m.text.chars().count() >= 6)
            .map(|m| (m, m.text.chars().collect()))
            .collect()
    });
    let hay: Vec<char> = std::iter::repeat_n('\u{1}', PAD)
        .chain(norm.chars())
        .chain(std::iter::repeat_n('\u{1}', PAD))
        .collect();
    for (m, t) in phrases {
        if hay.len() < t.len() {
            continue;
        }
        let most_open = t.len() / 4;
        for start in 0..=hay.len() - t.len() {
            let padded = start < PAD || start + t.len() > hay.len() - PAD;
            if padded && (t.len() < 8 || hay.len() - 2 * PAD < t.len() / 2) {
                continue;
            }
            let mut open = 0;
            let mut ok = true;
            for (a, b) in hay[start..start + t.len()].iter().zip(t) {
                if *a == '\u{1}' {
                    open += 1;
                    if open > most_open {
                        ok = false;
                        break;
                    }
                } else if a != b {
                    ok = false;
                    break;
                }
            }
            if !ok {
                continue;
            }
            let before = start.checked_sub(1).map(|i| hay[i]);
            let after = hay.get(start + t.len()).copied();
            if before.is_none_or(|c| !is_word(c)) && after.is_none_or(|c| !is_word(c)) {
                return Some(m);
            }
        }
    }
    None
}

/// Upper-case phrase markings only, for the brute-force XOR search of hex
/// strings (single words would match noise).
pub fn strong_marking(bytes: &[u8]) -> Option<&'static Marking> {
    let s = std::str::from_utf8(bytes).ok()?;
    MARKINGS
        .iter()
        .filter(|m| !m.weak && m.text.len() >= 5)
        .find(|m| s.contains(m.text))
}

/// A phrase marking hidden by single-byte XOR (key 1–255), upper case
/// as on a banner; found in one pass per marking rather than per key.
pub fn xor_marking(bytes: &[u8]) -> Option<(&'static Marking, u8)> {
    for m in MARKINGS.iter().filter(|m| !m.weak && m.text.len() >= 5) {
        let t = m.text.as_bytes();
        if bytes.len() < t.len() {
            continue;
        }
        for w in bytes.windows(t.len()) {
            let key = w[0] ^ t[0];
            if key != 0 && w.iter().zip(t).all(|(a, b)| a ^ key == *b) {
                return Some((m, key));
            }
        }
    }
    None
}

/// A kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Personal {
    /// National identity numbers.
    NationalId,
    /// Payment card numbers.
    Card,
    /// Bank account numbers (IBAN).
    Iban,
    /// E-mail addresses.
    Email,
    /// Telephone numbers.
    Phone,
}

/// Example values a regex that hunts personal data matches in full.
pub static PERSONAL_EXAMPLES: &[(Personal, &str)] = &[
    (Personal::NationalId, "078-05-1120"),
    (Personal::NationalId, "078051120"),
    (Personal::NationalId, "QQ123456C"),
    (Personal::NationalId, "QQ 12 34 56 C"),
    (Personal::NationalId, "86095742719"),
    (Personal::Card, "4111111111111111"),
    (Personal::Card, "4111 1111 1111 1111"),
    (Personal::Card, "4111-1111-1111-1111"),
    (Personal::Card, "5500000000000004"),
    (Personal::Card, "378282246310005"),
    (Personal::Iban, "DE89370400440532013000"),
    (Personal::Iban, "GB82WEST12345698765432"),
    (Personal::Iban, "DE89 3704 0044 0532 0130 00"),
    (Personal::Email, "john.doe@example.com"),
    (Personal::Email, "jdoe@mail.example.org"),
    (Personal::Phone, "+1 202-555-0143"),
    (Personal::Phone, "(202) 555-0143"),
    (Personal::Phone, "202-555-0143"),
    (Personal::Phone, "+49 30 1234567"),
    (Personal::Phone, "+442079460958"),
];

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A card number as issuers print it: an issuer prefix (ISO/IEC 7812
/// major industry identifiers 2–6: Mastercard, Amex, Diners, JCB, Visa,
/// Discover, UnionPay, Maestro), 13–19 digits, and if grouped, groups of
/// four (or Amex's 4-6-5).
fn card_shape(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !matches!(digits.as_bytes().first(), Some(b'2'..=b'6')) {
        return false;
    }
    let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
    if groups.len() == 1 {
        return true;
    }
    let last = groups[groups.len() - 1];
    let body_ok = groups[..groups.len() - 1].iter().all(|&g| g == 4) && (1..=4).contains(&last);
    body_ok || groups == [4, 6, 5] || groups == [4, 6, 4]
}

fn iban_ok(s: &str) -> bool {
    let s: String = s.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let b = s.as_bytes();
    if !b[..2].iter().all(u8::is_ascii_uppercase) || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut rem: u64 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn re(cell: &'static OnceLock<Regex>, src: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(src).expect("invariant: built-in regex compiles"))
}

/// Personal data written literally in a string: a valid card number, IBAN
/// or US social security number, or an e-mail address.
pub fn personal_literal(bytes: &[u8]) -> Vec<(Personal, String)> {
    static CARD: OnceLock<Regex> = OnceLock::new();
    static IBAN: OnceLock<Regex> = OnceLock::new();
    static SSN: OnceLock<Regex> = OnceLock::new();
    static EMAIL: OnceLock<Regex> = OnceLock::new();
    let mut out = Vec::new();
    // Every kind needs nine digits or an `@`.
    if !bytes.contains(&b'@') && bytes.iter().filter(|b| b.is_ascii_digit()).count() < 9 {
        return out;
    }
    let s = String::from_utf8_lossy(bytes);
    for m in re(&CARD, r"\b\d(?:[ -]?\d){12,18}\b").find_iter(&s) {
        let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).collect();
        // Inside a GUID (`…-4444-555555555555}`) or a longer token, the
        // digits are no card.
        let before = s[..m.start()].chars().next_back();
        let after = s[m.end()..].chars().next();
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
        if luhn(&digits)
            && digits.iter().any(|&d| d != digits[0])
            && card_shape(m.as_str())
            && !glued(before)
            && !glued(after)
        {
            out.push((Personal::Card, m.as_str().to_owned()));
        }
    }
    for m in re(
        &IBAN,
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    )
    .find_iter(&s)
    {
        if iban_ok(m.as_str()) {
            out.push((Personal::Iban, m.as_str().to_owned()));
        }
    }
    for m in re(&SSN, r"\b\d{3}-\d{2}-\d{4}\b").find_iter(&s) {
        out.push((Personal::NationalId, m.as_str().to_owned()));
    }
    for m in re(
        &EMAIL,
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    )
    .find_iter(&s)
    {
        out.push((Personal::Email, m.as_str().to_owned()));
    }
    out
}

/// A host or person named in a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A home directory naming one user.
    HomeDir,
    /// A host in an internal (non-public) domain.
    InternalDomain,
    /// A machine name in the form Windows gives new installations.
    HostName,
    /// A user name given as an environment value.
    UserName,
    /// A hardware or volume serial number.
    Serial,
}

/// Home directory names that belong to no person.
const GENERIC_USERS: &[&str] = &[
    "PUBLIC",
    "DEFAULT",
    "DEFAULT USER",
    "ALL USERS",
    "ADMINISTRATOR",
    "ADMINISTRATEUR",
    "ADMINISTRADOR",
    "AMMINISTRATORE",
    "ADMINISTRATÖR",
    "АДМИНИСТРАТОР",
    "ADMIN",
    "VAGRANT",
    "RUNNER",
    "UBUNTU",
    "EC2-USER",
    "TEST",
    "SHARED",
    "GUEST",
    "ROOT",
    "USER",
    "USERNAME",
    "%USERNAME%",
    "$USER",
    "${USER}",
    "*",
];

/// Internal host names that are the same everywhere, so they target no one.
const WELL_KNOWN_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "host.docker.internal",
    "gateway.docker.internal",
    "kubernetes.default.svc.cluster.local",
    "localhost.localdomain",
];

/// Names a host or person, unless it is a debug-symbol path (PDB): those
/// name the malware author's build machine, a classic indicator.
pub fn targets(bytes: &[u8]) -> Vec<(Target, String)> {
    static HOME: OnceLock<Regex> = OnceLock::new();
    static DOMAIN: OnceLock<Regex> = OnceLock::new();
    static HOST: OnceLock<Regex> = OnceLock::new();
    static USER: OnceLock<Regex> = OnceLock::new();
    static SERIAL: OnceLock<Regex> = OnceLock::new();
    static ANY: OnceLock<regex::bytes::Regex> = OnceLock::new();
    let mut out = Vec::new();
    // Every target names one of these; most strings name none.
    let any = ANY.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?i-u)users|documents and settings|home/|\.(?:corp|internal|intranet|lan|local|localdomain|arpa)|desktop-|laptop-|win-|computername|user|logname|serial|s/n",
        )
        .expect("invariant: built-in regex compiles")
    });
    if !any.is_match(bytes) {
        return out;
    }
    let s = String::from_utf8_lossy(bytes);
    let upper = s.to_uppercase();
    if upper.contains(".PDB") {
        return out;
    }
    // A home directory that leads into source code or a build tree is
    // the malware author's build machine (like a PDB path), not a target.
    static BUILD: OnceLock<Regex> = OnceLock::new();
    let build = re(
        &BUILD,
        r"(?i)\.(?:c|cc|cpp|cxx|h|hpp|go|rs|swift|m|mm|pas|dpr|cs|vb|java|kt|o|obj|sln|csproj|vcxproj)$|[\\/](?:src|source|repos|go|pkg|projects?|build|obj|release|debug|target|\.cargo|\.rustup|Developer|DerivedData|Xcode|node_modules|vendor)[\\/]",
    );
    if build.is_match(&s) {
        return out;
    }
    let home = re(
        &HOME,
        r"(?i)(?:\b[A-Z]:\\(?:Users|Documents and Settings)\\|(?:^|[^A-Za-z0-9])/(?:home|Users)/)([^\\/\x01]+)[\\/]",
    );
    for c in home.captures_iter(&s) {
        let name = c[1].trim().to_uppercase();
        if !GENERIC_USERS.contains(&name.as_str()) && !name.contains('%') && !name.contains('$') {
            out.push((Target::HomeDir, c[0].to_owned()));
        }
    }
    let domain = re(
        &DOMAIN,
        r"(?i)\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:corp|internal|intranet|lan|local|localdomain|home\.arpa)\b(\.[a-z0-9])?",
    );
    for c in domain.captures_iter(&s) {
        let host = c[0].to_lowercase();
        // `x.local.onion` ends in a public name; the cloud metadata and
        // container host names are the same on every machine.
        if c.get(1).is_some() || WELL_KNOWN_HOSTS.contains(&host.as_str()) {
            continue;
        }
        out.push((Target::InternalDomain, c[0].to_owned()));
    }
    let host = re(
        &HOST,
        r"\b(?:DESKTOP-[A-Z0-9]{7}|LAPTOP-[A-Z0-9]{8}|WIN-[A-Z0-9]{11}|COMPUTERNAME=[^\s\x01]+)\b",
    );
    for m in host.find_iter(&upper) {
        out.push((Target::HostName, m.as_str().to_owned()));
    }
    let user = re(
        &USER,
        r"(?i)\b(?:USERNAME|USER|LOGNAME|USERDOMAIN)=([^\s%$\x01]+)",
    );
    for c in user.captures_iter(&s) {
        if !GENERIC_USERS.contains(&c[1].to_uppercase().as_str()) {
            out.push((Target::UserName, c[0].to_owned()));
        }
    }
    let serial = re(
        &SERIAL,
        r"(?i)\b(?:serial(?:\s*number)?|S/N|volume serial number is)\s*[:=#]?\s*([A-Z0-9][A-Z0-9-]{3,})",
    );
    for c in serial.captures_iter(&s) {
        // A value, not the next word of a label ("Serial Number",
        // "Serial Solutions"): serials carry digits.
        if c[1].bytes().any(|b| b.is_ascii_digit()) {
            out.push((Target::Serial, c[0].to_owned()));
        }
    }
    out
}

/// A document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DocKind {
    /// OLE compound files (Word, Excel, PowerPoint 97–2003, Outlook .msg).
    Office,
    /// Office Open XML and OpenDocument.
    Ooxml,
    /// PDF.
    Pdf,
    /// RTF.
    Rtf,
    /// E-mail messages.
    Mail,
    /// Images.
    Image,
    /// Plain text.
    Text,
}

impl DocKind {
    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            DocKind::Office => "Office (OLE)",
            DocKind::Ooxml => "Office Open XML / OpenDocument",
            DocKind::Pdf => "PDF",
            DocKind::Rtf => "RTF",
            DocKind::Mail => "e-mail",
            DocKind::Image => "image",
            DocKind::Text => "plain text",
        }
    }
}

/// Document formats recognised by their first bytes.
pub static DOC_MAGIC: &[(&[u8], DocKind)] = &[
    (b"\xD0\xCF\x11\xE0", DocKind::Office),
    (b"%PDF", DocKind::Pdf),
    (b"{\\rt", DocKind::Rtf),
    (b"\x89PNG", DocKind::Image),
    (b"\xFF\xD8\xFF", DocKind::Image),
    (b"GIF8", DocKind::Image),
    (b"II*\x00", DocKind::Image),
    (b"MM\x00*", DocKind::Image),
];

/// Executable formats recognised by their first bytes.
pub static EXEC_MAGIC: &[&[u8]] = &[
    b"MZ",
    b"\x7FELF",
    b"\xFE\xED\xFA\xCE",
    b"\xFE\xED\xFA\xCF",
    b"\xCE\xFA\xED\xFE",
    b"\xCF\xFA\xED\xFE",
    b"\xCA\xFE\xBA\xBE",
    b"dex\n",
    b"#!",
];

/// Substrings (upper case) that mark a document format.
static DOC_WORDS: &[(&str, DocKind)] = &[
    ("[CONTENT_TYPES].XML", DocKind::Ooxml),
    ("WORD/DOCUMENT.XML", DocKind::Ooxml),
    ("XL/WORKBOOK.XML", DocKind::Ooxml),
    ("PPT/PRESENTATION.XML", DocKind::Ooxml),
    ("DOCPROPS/", DocKind::Ooxml),
    ("<W:DOCUMENT", DocKind::Ooxml),
    ("APPLICATION/VND.OPENXMLFORMATS", DocKind::Ooxml),
    ("APPLICATION/VND.OASIS.OPENDOCUMENT", DocKind::Ooxml),
    ("APPLICATION/VND.MS-", DocKind::Office),
    ("APPLICATION/MSWORD", DocKind::Office),
    ("MICROSOFT WORD", DocKind::Office),
    ("MICROSOFT EXCEL", DocKind::Office),
    ("WORDDOCUMENT", DocKind::Office),
    ("COMPOSITE DOCUMENT FILE", DocKind::Office),
    ("%PDF-", DocKind::Pdf),
    ("APPLICATION/PDF", DocKind::Pdf),
    ("PDF DOCUMENT", DocKind::Pdf),
    ("/TYPE /CATALOG", DocKind::Pdf),
    ("/TYPE/CATALOG", DocKind::Pdf),
    ("{\\RTF", DocKind::Rtf),
    ("TEXT/RTF", DocKind::Rtf),
    ("RICH TEXT FORMAT", DocKind::Rtf),
    ("RECEIVED: FROM", DocKind::Mail),
    ("MESSAGE-ID:", DocKind::Mail),
    ("MIME-VERSION:", DocKind::Mail),
    ("X-MAILER:", DocKind::Mail),
    ("SUBJECT:", DocKind::Mail),
    ("MESSAGE/RFC822", DocKind::Mail),
    ("RFC 822 MAIL", DocKind::Mail),
    ("IMAGE/JPEG", DocKind::Image),
    ("IMAGE/PNG", DocKind::Image),
    ("JFIF", DocKind::Image),
    ("EXIF", DocKind::Image),
    ("GIF89A", DocKind::Image),
    ("TEXT/PLAIN", DocKind::Text),
    ("ASCII TEXT", DocKind::Text),
    ("UTF-8 UNICODE TEXT", DocKind::Text),
];

/// Upper-case substrings that show executable content: program headers,
/// API names, script and macro behaviour, shell commands. A rule that
/// looks at a document and at one of these looks for malicious code in
/// it (a macro dropper, a PDF exploit), not for the document.
static EXEC_WORDS: &[&str] = &[
    "THIS PROGRAM CANNOT BE RUN IN DOS MODE",
    "!THIS PROGRAM",
    "KERNEL32",
    "NTDLL",
    "VIRTUALALLOC",
    "VIRTUALPROTECT",
    "CREATEREMOTETHREAD",
    "WRITEPROCESSMEMORY",
    "LOADLIBRARY",
    "GETPROCADDRESS",
    "WINEXEC",
    "SHELLEXECUTE",
    "CREATEPROCESS",
    "CMD.EXE",
    "CMD /C",
    "POWERSHELL",
    "WSCRIPT",
    "CSCRIPT",
    "SHELL.APPLICATION",
    "CREATEOBJECT",
    "AUTOOPEN",
    "AUTO_OPEN",
    "AUTOEXEC",
    "DOCUMENT_OPEN",
    "WORKBOOK_OPEN",
    "ATTRIBUTE VB_",
    "VBAPROJECT",
    "_VBA_PROJECT",
    "URLDOWNLOADTOFILE",
    "XMLHTTP",
    "ADODB.STREAM",
    "/JAVASCRIPT",
    "/JS",
    "/OPENACTION",
    "/LAUNCH",
    "/EMBEDDEDFILE",
    "/ACROFORM",
    "EVAL(",
    "UNESCAPE(",
    "FROMCHARCODE",
    "ACTIVEXOBJECT",
    "MSHTA",
    "RUNDLL32",
    "REGSVR32",
    "CERTUTIL",
    "BITSADMIN",
    "EQUATION.3",
    "\\OBJDATA",
    "\\OBJUPDATE",
    "\\OBJOCX",
    "<?PHP",
    "BASE64_DECODE",
    "/BIN/SH",
    "/BIN/BASH",
    "CHMOD +X",
    "WGET ",
    "CURL ",
    "STRATUM+TCP",
    "VSSADMIN",
    "BCDEDIT",
    "WBADMIN",
    "SHADOWCOPY",
    "DDEAUTO",
    "MSCOREE.DLL",
    "_COREXEMAIN",
    "SHELLCODE",
    "MACROS",
    "EXCEL4",
    "EXEC(",
    "SYSTEM(",
    "PASSTHRU(",
    "SHELL_EXEC",
];

/// Document file-name extensions (upper case, with the dot).
static DOC_EXTENSIONS: &[&str] = &[
    ".DOC", ".DOCX", ".DOCM", ".DOT", ".XLS", ".XLSX", ".XLSM", ".PPT", ".PPTX", ".PDF", ".RTF",
    ".ODT", ".ODS", ".ODP", ".TXT", ".EML", ".MSG", ".PST", ".OST", ".JPG", ".JPEG", ".PNG",
    ".TIF", ".TIFF", ".CSV", ".PAGES",
];

/// Document formats named by `bytes`, by magic prefix or telling words.
pub fn doc_kinds(bytes: &[u8]) -> Vec<DocKind> {
    let mut out = Vec::new();
    for (magic, kind) in DOC_MAGIC {
        if bytes.starts_with(magic) {
            out.push(*kind);
        }
    }
    static ANY: OnceLock<Regex> = OnceLock::new();
    let any = ANY.get_or_init(|| alternation(DOC_WORDS.iter().map(|(w, _)| *w)));
    let upper = normalize(bytes);
    if any.is_match(&upper) {
        for (word, kind) in DOC_WORDS {
            if upper.contains(word) {
                out.push(*kind);
            }
        }
    }
    out
}

/// Whether `bytes` shows executable content (see [`EXEC_WORDS`]).
pub fn exec_trait(bytes: &[u8]) -> Option<&'static str> {
    if let Some(m) = EXEC_MAGIC
        .iter()
        .find(|m| m.len() >= 4 && bytes.starts_with(m))
    {
        return Some(if m[0] == 0x7F {
            "ELF header"
        } else {
            "Mach-O header"
        });
    }
    if bytes.starts_with(b"MZ") && bytes.get(2).is_none_or(|b| !b.is_ascii_alphanumeric()) {
        return Some("MZ header");
    }
    static ANY: OnceLock<Regex> = OnceLock::new();
    let any = ANY.get_or_init(|| alternation(EXEC_WORDS.iter().copied()));
    let upper = normalize(bytes);
    if let Some(m) = any.find(&upper) {
        return EXEC_WORDS.iter().copied().find(|w| *w == m.as_str());
    }
    program_text(bytes)
}

/// What programs write and people do not: printf formats, environment
/// variables in paths, ransom-note names, C++ symbols, registry keys,
/// executable file names, Spotlight queries.
static PROGRAM_TEXT: &[(&str, &str)] = &[
    (
        r"%[-+0#]*\d*(?:\.\d+)?(?:ll|l|h|z|I64)?[sdiuxXcpSfln]\b",
        "a printf format",
    ),
    (r"%[A-Za-z][A-Za-z_ ]{1,24}%", "an environment variable"),
    (r"\$\{[A-Za-z_]+\}", "a template variable"),
    (
        r"(?i)(?:read[_ -]?me|recover|decrypt|restore|how[_ -]to|ransom|unlock|instruction|your[_ -]?files)[^\\/]*\.(?:txt|hta|html?)\b",
        "a ransom note's name",
    ),
    (
        r"[A-Za-z_][A-Za-z0-9_]*::~?[A-Za-z_][A-Za-z0-9_]*",
        "a C++ symbol",
    ),
    (
        r"(?i)\bHKEY_|\bHK(?:LM|CU)\\|\bSOFTWARE\\(?:Microsoft|Classes|Wow6432Node)\\",
        "a registry key",
    ),
    (
        r"(?i)[A-Za-z0-9_]\.(?:exe|dll|sys|bat|cmd|ps1|vbs|scr|so|dylib)\b",
        "an executable file name",
    ),
    (
        r"(?i)\\AppData\\|%ProgramData%|\\ProgramData\\|/var/tmp/|/dev/shm/|/proc/self/",
        "a program's working path",
    ),
    (r"kMDItem", "a Spotlight query"),
    (r"(?:^|\s)--[a-z][a-z0-9-]{2,}\b", "a command-line option"),
    (r"\\\\[.?]\\|(?i)\bC:\\Windows\\", "a device or system path"),
    (r"(?i)keylog", "a keylogger's log"),
    (
        r"(?i)\bapi\.telegram\.org\b|/bot[0-9]{6,}:",
        "the Telegram bot API",
    ),
];

/// Program text in `bytes` (see [`PROGRAM_TEXT`]).
pub fn program_text(bytes: &[u8]) -> Option<&'static str> {
    static RES: OnceLock<Vec<regex::bytes::Regex>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        PROGRAM_TEXT
            .iter()
            .map(|(r, _)| {
                // ASCII classes and word boundaries: the words are ASCII,
                // and Unicode boundaries are slow.
                regex::bytes::RegexBuilder::new(r)
                    .unicode(false)
                    .build()
                    .expect("invariant: built-in regexes compile")
            })
            .collect()
    });
    res.iter()
        .position(|r| r.is_match(bytes))
        .map(|i| PROGRAM_TEXT[i].1)
}

/// A document file name (`report.docx`, `*.pdf`, `\.(docx?|pdf)$`).
pub fn doc_file_name(bytes: &[u8]) -> Option<&'static str> {
    let upper = normalize(bytes);
    let upper = upper.trim_end_matches(['"', '\'', '\x01', '$', ' ']);
    DOC_EXTENSIONS
        .iter()
        .copied()
        .find(|ext| upper.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markings_whole_words_only() {
        assert!(markings(b"client_secret").is_empty());
        assert!(markings(b"secretive").is_empty());
        let hit = markings(b"TOP SECRET//NOFORN");
        assert_eq!(hit[0].marking.text, "TOP SECRET");
        assert!(hit
            .iter()
            .any(|h| h.marking.text == "//NOFORN" || h.marking.text == "NOFORN"));
        let weak = markings(b"our secret plan");
        assert!(!weak[0].prominent);
        assert!(markings(b"SECRET")[0].prominent);
        assert!(markings(b"  confidential ")[0].prominent);
        assert_eq!(
            markings("совершенно секретно".as_bytes())[0].marking.text,
            "СОВЕРШЕННО СЕКРЕТНО"
        );
        assert_eq!(
            markings("Très Secret".as_bytes())[0].marking.text,
            "TRÈS SECRET"
        );
        assert_eq!(markings("绝密文件".as_bytes())[0].marking.text, "绝密");
        assert_eq!(markings("【極秘】".as_bytes())[0].marking.text, "極秘");
    }

    #[test]
    fn personal_literals_are_validated() {
        assert_eq!(
            personal_literal(b"4111 1111 1111 1111")[0].0,
            Personal::Card
        );
        assert!(personal_literal(b"4111 1111 1111 1112").is_empty());
        assert!(personal_literal(b"0000000000000000").is_empty());
        assert_eq!(
            personal_literal(b"DE89370400440532013000")[0].0,
            Personal::Iban
        );
        assert!(personal_literal(b"DE89370400440532013001").is_empty());
        assert_eq!(
            personal_literal(b"ssn 078-05-1120")[0].0,
            Personal::NationalId
        );
    }

    #[test]
    fn targets_skip_generic_and_pdb() {
        assert!(targets(br"C:\Users\Public\svchost.exe").is_empty());
        assert!(targets(br"C:\Users\jack\Desktop\loader\Release\loader.pdb").is_empty());
        assert_eq!(
            targets(br"C:\Users\jsmith\Documents\")[0].0,
            Target::HomeDir
        );
        assert_eq!(targets(b"/home/alice/.ssh/id_rsa")[0].0, Target::HomeDir);
        assert_eq!(targets(b"fs01.finance.corp")[0].0, Target::InternalDomain);
        assert_eq!(targets(b"DESKTOP-7GH2K1L")[0].0, Target::HostName);
        assert!(targets(b"DESKTOP-\x01").is_empty());
    }

    #[test]
    fn doc_names_and_kinds() {
        assert_eq!(doc_file_name(b"budget 2026.xlsx"), Some(".XLSX"));
        assert_eq!(doc_file_name(b".docx"), Some(".DOCX"));
        assert_eq!(doc_file_name(b"payload.exe"), None);
        assert_eq!(doc_kinds(b"%PDF-1.7"), vec![DocKind::Pdf, DocKind::Pdf]);
        assert!(exec_trait(b"WScript.Shell").is_some());
    }
}
