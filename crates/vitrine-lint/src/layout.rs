//! The bytes a condition pins down: integer reads at fixed or relative
//! offsets (`uint32(0) == 0x20504F54`, `uint8(@a + 5) == 0x53`, inside
//! `for … in (…)` loops), and patterns tied to each other or to offsets
//! (`@b[1] == @a[1] + 5`, `$b at @a + 5`, `$a at 0`). Laid side by side,
//! they are the text the rule really looks for, however it is spelt.

use std::collections::{BTreeMap, HashMap};

use yara_x_parser::ast::{Expr, MatchAnchor};

use crate::text::WILDCARD;

/// Where an offset is counted from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Base {
    /// The file's start.
    Abs,
    /// A loop variable (`for any i in (0..filesize)`): somewhere.
    Var(String),
    /// A pattern's match.
    Pat(String),
}

/// Per base: the bytes by offset, who pinned them, and whether an integer
/// read did.
type Groups = BTreeMap<Base, (BTreeMap<i64, u8>, Vec<String>, bool)>;

/// Gaps up to this many unknown bytes are kept (as wildcards) inside one
/// joined string; longer gaps split it.
const MAX_GAP: i64 = 4;
/// Joined strings are cut at this length.
const MAX_LEN: i64 = 4096;

/// What the condition pins: byte values and pattern placements.
#[derive(Default)]
struct Pins {
    bytes: Vec<(Base, i64, Vec<u8>)>,
    places: Vec<(String, Base, i64)>,
}

/// Joined strings: (bytes, how they were read), for every group of
/// offsets that an integer read or two patterns or more contribute to.
/// `pattern_bytes` gives each pattern's bytes as matched (unknown bytes
/// as [`WILDCARD`]).
pub(crate) fn joined(
    cond: &Expr,
    pattern_bytes: &HashMap<String, Vec<u8>>,
) -> Vec<(Vec<u8>, String)> {
    let mut pins = Pins::default();
    collect(cond, &mut pins);
    if pins.bytes.is_empty() && pins.places.is_empty() {
        return Vec::new();
    }
    // Resolve chains: a pattern placed relative to another that is
    // itself placed moves onto the other's base.
    let mut placed: HashMap<String, (Base, i64)> = HashMap::new();
    for (p, b, k) in &pins.places {
        placed.entry(p.clone()).or_insert((b.clone(), *k));
    }
    for _ in 0..8 {
        let mut changed = false;
        let snapshot = placed.clone();
        for (p, (b, k)) in placed.iter_mut() {
            if let Base::Pat(q) = b {
                if q == p {
                    continue;
                }
                if let Some((qb, qk)) = snapshot.get(q) {
                    if !matches!(qb, Base::Pat(r) if r == p) {
                        *k += qk;
                        *b = qb.clone();
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let rebase = |b: &Base, k: i64| -> (Base, i64) {
        if let Base::Pat(q) = b {
            if let Some((qb, qk)) = placed.get(q) {
                return (qb.clone(), k + qk);
            }
        }
        (b.clone(), k)
    };
    // Lay bytes per base.
    let mut groups: Groups = BTreeMap::new();
    let put = |groups: &mut Groups, b: Base, at: i64, bytes: &[u8], who: String, read: bool| {
        let g = groups.entry(b).or_default();
        for (i, &byte) in bytes.iter().enumerate() {
            let off = at + i as i64;
            if byte != WILDCARD && (0..MAX_LEN).contains(&(off + MAX_LEN / 2)) {
                g.0.entry(off).or_insert(byte);
            }
        }
        if !g.1.contains(&who) {
            g.1.push(who);
        }
        g.2 |= read;
    };
    for (b, k, bytes) in &pins.bytes {
        let (b, k) = rebase(b, *k);
        put(&mut groups, b, k, bytes, "integer reads".to_owned(), true);
    }
    for (p, (b, k)) in &placed {
        if let Some(bytes) = pattern_bytes.get(p) {
            put(&mut groups, b.clone(), *k, bytes, p.clone(), false);
        }
    }
    // A pattern other patterns are placed against sits at its own start.
    let anchors: Vec<String> = groups
        .keys()
        .filter_map(|b| match b {
            Base::Pat(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    for q in anchors {
        if let Some(bytes) = pattern_bytes.get(&q) {
            put(
                &mut groups,
                Base::Pat(q.clone()),
                0,
                bytes,
                q.clone(),
                false,
            );
        }
    }
    let mut out = Vec::new();
    for (base, (map, who, read)) in groups {
        if !read && who.len() < 2 {
            continue;
        }
        let at = match &base {
            Base::Abs => "at fixed offsets".to_owned(),
            Base::Var(v) => format!("at offsets relative to loop variable {v}"),
            Base::Pat(p) => format!("at offsets relative to {p}"),
        };
        let how = format!("the bytes the condition pins {at} ({})", who.join(", "));
        // The file goes on around what the condition pins: the run's ends
        // are open (`TOP SECR` at offset 0 also matches "TOP SECRET").
        let open = || std::iter::repeat_n(WILDCARD, MAX_GAP as usize);
        let mut run: Vec<u8> = open().collect();
        let mut last: Option<i64> = None;
        for (&off, &b) in &map {
            if let Some(l) = last {
                let gap = off - l - 1;
                if gap > MAX_GAP {
                    run.extend(open());
                    if run.len() >= 3 + 2 * MAX_GAP as usize {
                        out.push((std::mem::take(&mut run), how.clone()));
                    }
                    run = open().collect();
                } else {
                    run.extend(std::iter::repeat_n(WILDCARD, gap as usize));
                }
            }
            run.push(b);
            last = Some(off);
        }
        run.extend(open());
        if run.len() >= 3 + 2 * MAX_GAP as usize {
            out.push((run, how));
        }
    }
    out
}

/// `@a`, `#a`, `!a` name pattern `$a`.
pub(crate) fn pattern_name(s: &str) -> String {
    format!("${}", s.get(1..).unwrap_or_default())
}

/// A constant integer expression's value.
fn constant(e: &Expr) -> Option<i64> {
    match e {
        Expr::LiteralInteger(i) => Some(i.value),
        Expr::Minus(u) => constant(&u.operand).map(i64::wrapping_neg),
        Expr::Add(n) => n
            .operands()
            .try_fold(0i64, |a, o| Some(a.wrapping_add(constant(o)?))),
        Expr::Sub(n) => {
            let mut it = n.operands();
            let first = constant(it.next()?)?;
            it.try_fold(first, |a, o| Some(a.wrapping_sub(constant(o)?)))
        }
        Expr::Mul(n) => n
            .operands()
            .try_fold(1i64, |a, o| Some(a.wrapping_mul(constant(o)?))),
        Expr::BitwiseXor(b) => Some(constant(&b.lhs)? ^ constant(&b.rhs)?),
        Expr::BitwiseOr(b) => Some(constant(&b.lhs)? | constant(&b.rhs)?),
        Expr::BitwiseAnd(b) => Some(constant(&b.lhs)? & constant(&b.rhs)?),
        Expr::Shl(b) => {
            Some(constant(&b.lhs)?.wrapping_shl(u32::try_from(constant(&b.rhs)?).ok()?))
        }
        Expr::Shr(b) => {
            Some(constant(&b.lhs)?.wrapping_shr(u32::try_from(constant(&b.rhs)?).ok()?))
        }
        _ => None,
    }
}

/// An offset: a base plus a constant.
fn offset(e: &Expr) -> Option<(Base, i64)> {
    if let Some(k) = constant(e) {
        return Some((Base::Abs, k));
    }
    match e {
        Expr::Ident(i) => Some((Base::Var(i.name.to_owned()), 0)),
        Expr::PatternOffset(p) if p.identifier.name.len() > 1 => {
            Some((Base::Pat(pattern_name(p.identifier.name)), 0))
        }
        Expr::Add(n) => {
            let mut base = None;
            let mut k = 0i64;
            for o in n.operands() {
                if let Some(c) = constant(o) {
                    k = k.wrapping_add(c);
                } else if base.is_none() {
                    let (b, c) = offset(o)?;
                    k = k.wrapping_add(c);
                    base = Some(b);
                } else {
                    return None;
                }
            }
            Some((base?, k))
        }
        Expr::Sub(n) => {
            let mut it = n.operands();
            let (b, mut k) = offset(it.next()?)?;
            for o in it {
                k = k.wrapping_sub(constant(o)?);
            }
            Some((b, k))
        }
        _ => None,
    }
}

/// `uintN(off)` / `intN(off)` (optionally `^ key`): the width, byte
/// order, offset and the key to undo.
fn int_read(e: &Expr) -> Option<(usize, bool, Base, i64, i64)> {
    match e {
        Expr::FuncCall(f) if f.object.is_none() && f.args.len() == 1 => {
            let name = f.identifier.name;
            let name = name.strip_prefix('u').unwrap_or(name);
            let (width, be) = match name {
                "int8" | "int8be" => (1, false),
                "int16" => (2, false),
                "int32" => (4, false),
                "int16be" => (2, true),
                "int32be" => (4, true),
                _ => return None,
            };
            let (b, k) = offset(&f.args[0])?;
            Some((width, be, b, k, 0))
        }
        Expr::BitwiseXor(x) => {
            let (read, key) = match (int_read(&x.lhs), constant(&x.rhs)) {
                (Some(r), Some(k)) => (r, k),
                _ => (int_read(&x.rhs)?, constant(&x.lhs)?),
            };
            Some((read.0, read.1, read.2, read.3, read.4 ^ key))
        }
        _ => None,
    }
}

fn pin_read(lhs: &Expr, rhs: &Expr, pins: &mut Pins) -> bool {
    let (Some((width, be, b, k, key)), Some(v)) = (int_read(lhs), constant(rhs)) else {
        return false;
    };
    let v = (v ^ key) as u64;
    let mut bytes: Vec<u8> = (0..width).map(|i| (v >> (8 * i)) as u8).collect();
    if be {
        bytes.reverse();
    }
    pins.bytes.push((b, k, bytes));
    true
}

fn pin_place(lhs: &Expr, rhs: &Expr, pins: &mut Pins) -> bool {
    // `@b == @a + k`
    if let Expr::PatternOffset(p) = lhs {
        if p.identifier.name.len() > 1 {
            if let Some((b, k)) = offset(rhs) {
                pins.places.push((pattern_name(p.identifier.name), b, k));
                return true;
            }
        }
    }
    // `@b - @a == k`
    if let (Expr::Sub(n), Some(k)) = (lhs, constant(rhs)) {
        if let [Expr::PatternOffset(b), Expr::PatternOffset(a)] = n.operands.as_slice() {
            if b.identifier.name.len() > 1 && a.identifier.name.len() > 1 {
                pins.places.push((
                    pattern_name(b.identifier.name),
                    Base::Pat(pattern_name(a.identifier.name)),
                    k,
                ));
                return true;
            }
        }
    }
    false
}

fn collect(e: &Expr, pins: &mut Pins) {
    match e {
        Expr::Eq(b) => {
            let _ = pin_read(&b.lhs, &b.rhs, pins)
                || pin_read(&b.rhs, &b.lhs, pins)
                || pin_place(&b.lhs, &b.rhs, pins)
                || pin_place(&b.rhs, &b.lhs, pins);
        }
        Expr::PatternMatch(p) => {
            if let Some(MatchAnchor::At(at)) = &p.anchor {
                if p.identifier.name.len() > 1 {
                    if let Some((b, k)) = offset(&at.expr) {
                        pins.places.push((p.identifier.name.to_owned(), b, k));
                    }
                }
            }
        }
        _ => {}
    }
    for c in e.children() {
        collect(c, pins);
    }
}
