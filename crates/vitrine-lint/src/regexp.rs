//! What a YARA regular expression can match, read from its syntax tree
//! (`regex-syntax` HIR, the parser yara-x itself builds on).

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::text::WILDCARD;

/// At most this many representative strings per regex.
const MAX_REPS: usize = 32;
/// At most this many bytes per representative string.
const MAX_REP_LEN: usize = 512;

/// A regex, parsed.
pub struct Analysed {
    /// Strings the regex matches, one per alternative (capped), with
    /// [`WILDCARD`] where it accepts a class of characters.
    pub representatives: Vec<Vec<u8>>,
    /// Longest run of fixed bytes every match contains: the atom a
    /// scanner can search for.
    pub atom_len: usize,
    /// The regex, compiled for testing example values in full.
    pub full: Option<regex::bytes::Regex>,
}

/// Parses a YARA regex source (without the slashes). `None` when
/// `regex-syntax` does not understand it; the caller then knows nothing.
pub fn analyse(src: &str, nocase: bool, dotall: bool) -> Option<Analysed> {
    // Representatives keep the case the rule author wrote (`/secret/i`
    // reads as the word, `/SECRET/` as a banner); the compiled regex
    // below honours `nocase`.
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(false)
        .dot_matches_new_line(dotall)
        .build()
        .parse(src)
        .ok()?;
    let full = regex::bytes::RegexBuilder::new(&format!("^(?:{src})$"))
        .unicode(false)
        .case_insensitive(nocase)
        .dot_matches_new_line(dotall)
        .size_limit(1 << 20)
        .build()
        .ok();
    Some(Analysed {
        representatives: reps(&hir),
        atom_len: atom(&hir).inner,
        full,
    })
}

/// One byte standing for a class: the character itself when the class is
/// one letter in both cases, a space for whitespace classes, otherwise
/// [`WILDCARD`].
fn class_byte(class: &Class) -> u8 {
    let ranges: Vec<(u32, u32)> = match class {
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
    };
    let members: usize = ranges.iter().map(|(s, e)| (e - s + 1) as usize).sum();
    let single = |b: u32| u8::try_from(b).unwrap_or(WILDCARD);
    if members == 1 {
        return single(ranges[0].0);
    }
    if members == 2 {
        let (a, b) = if ranges.len() == 2 {
            (ranges[0].0, ranges[1].0)
        } else {
            (ranges[0].0, ranges[0].1)
        };
        if let (Ok(a), Ok(b)) = (u8::try_from(a), u8::try_from(b)) {
            if a.is_ascii_alphabetic() && a.eq_ignore_ascii_case(&b) {
                return a.to_ascii_uppercase();
            }
        }
    }
    if ranges.iter().any(|&(s, e)| s <= 0x20 && 0x20 <= e) {
        return b' ';
    }
    // A small class with a letter in it (`[O0]`, `[Ee3]`) stands for
    // that letter: look-alike digits are a way of spelling it.
    if members <= 4 {
        let letter = ranges
            .iter()
            .flat_map(|&(s, e)| s..=e)
            .filter_map(|c| u8::try_from(c).ok())
            .filter(u8::is_ascii_alphabetic)
            .min();
        if let Some(l) = letter {
            return l;
        }
    }
    WILDCARD
}

fn reps(hir: &Hir) -> Vec<Vec<u8>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![Vec::new()],
        HirKind::Literal(lit) => vec![lit.0.to_vec()],
        HirKind::Class(c) => vec![vec![class_byte(c)]],
        HirKind::Capture(c) => reps(&c.sub),
        HirKind::Repetition(r) => {
            let n = r.min.clamp(1, 16) as usize;
            reps(&r.sub)
                .into_iter()
                .map(|s| s.repeat(n).into_iter().take(MAX_REP_LEN).collect())
                .collect()
        }
        HirKind::Concat(subs) => {
            let mut acc: Vec<Vec<u8>> = vec![Vec::new()];
            for sub in subs {
                let next = reps(sub);
                let mut out = Vec::new();
                'outer: for a in &acc {
                    for b in &next {
                        if out.len() >= MAX_REPS {
                            break 'outer;
                        }
                        let mut s = a.clone();
                        s.extend_from_slice(b);
                        s.truncate(MAX_REP_LEN);
                        out.push(s);
                    }
                }
                acc = out;
            }
            acc
        }
        HirKind::Alternation(subs) => {
            let mut out = Vec::new();
            for sub in subs {
                for s in reps(sub) {
                    if out.len() < MAX_REPS {
                        out.push(s);
                    }
                }
            }
            out
        }
    }
}

/// Fixed bytes of an expression: (at its start, all of it if fixed, the
/// longest run inside, at its end). Single-letter case classes count as
/// fixed: a scanner searches them case-insensitively.
struct Atom {
    prefix: usize,
    whole: Option<usize>,
    inner: usize,
    suffix: usize,
}

fn fixed(n: usize) -> Atom {
    Atom {
        prefix: n,
        whole: Some(n),
        inner: n,
        suffix: n,
    }
}

const OPEN: Atom = Atom {
    prefix: 0,
    whole: None,
    inner: 0,
    suffix: 0,
};

fn atom(hir: &Hir) -> Atom {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => fixed(0),
        HirKind::Literal(lit) => fixed(lit.0.len()),
        HirKind::Class(c) => {
            let b = class_byte(c);
            if b == WILDCARD || b == b' ' {
                OPEN
            } else {
                fixed(1)
            }
        }
        HirKind::Capture(c) => atom(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return OPEN;
            }
            let sub = atom(&r.sub);
            let min = r.min as usize;
            match sub.whole {
                Some(n) if r.max == Some(r.min) => fixed(n.saturating_mul(min)),
                Some(n) => Atom {
                    prefix: n.saturating_mul(min),
                    whole: None,
                    inner: n.saturating_mul(min),
                    suffix: n.saturating_mul(min),
                },
                None => Atom {
                    whole: None,
                    inner: sub
                        .inner
                        .max(sub.suffix.saturating_add(sub.prefix * usize::from(min > 1))),
                    ..sub
                },
            }
        }
        HirKind::Concat(subs) => {
            let mut best: usize = 0;
            let mut run: usize = 0;
            let mut prefix: usize = 0;
            let mut all_fixed = true;
            for sub in subs {
                let a = atom(sub);
                match a.whole {
                    Some(n) => {
                        run = run.saturating_add(n);
                        if all_fixed {
                            prefix = prefix.saturating_add(n);
                        }
                    }
                    None => {
                        best = best.max(run.saturating_add(a.prefix)).max(a.inner);
                        if all_fixed {
                            prefix = prefix.saturating_add(a.prefix);
                        }
                        all_fixed = false;
                        run = a.suffix;
                    }
                }
                best = best.max(run);
            }
            Atom {
                prefix,
                whole: all_fixed.then_some(run),
                inner: best,
                suffix: run,
            }
        }
        HirKind::Alternation(subs) => {
            let atoms: Vec<Atom> = subs.iter().map(atom).collect();
            let min = |f: fn(&Atom) -> usize| atoms.iter().map(f).min().unwrap_or(0);
            Atom {
                prefix: min(|a| a.prefix),
                whole: None,
                inner: min(|a| a.inner),
                suffix: min(|a| a.suffix),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representatives_keep_words() {
        let a = analyse(r"TOP\s+SECRET\/\/[A-Z]+", false, false).unwrap();
        assert_eq!(a.representatives, vec![b"TOP SECRET//\x01".to_vec()]);
        let a = analyse("top secret", true, false).unwrap();
        assert_eq!(a.representatives, vec![b"top secret".to_vec()]);
        let a = analyse(r"\.(docx?|pdf)$", false, false).unwrap();
        assert!(a.representatives.contains(&b".docx".to_vec()));
        assert!(a.representatives.contains(&b".pdf".to_vec()));
    }

    #[test]
    fn atom_length() {
        assert_eq!(analyse(r"[a-z]+", false, false).unwrap().atom_len, 0);
        assert_eq!(
            analyse(r"\$\{(\$\{[a-z:]{1,20}\})+", false, false)
                .unwrap()
                .atom_len,
            4
        );
        assert_eq!(analyse(r"(ab|cd)", false, false).unwrap().atom_len, 2);
        assert_eq!(
            analyse(r"gate\.php\?id=[0-9]+", false, false)
                .unwrap()
                .atom_len,
            12
        );
        assert!(analyse(r"\d{3}-\d{2}-\d{4}", false, false)
            .unwrap()
            .full
            .unwrap()
            .is_match(b"078-05-1120"));
    }
}
