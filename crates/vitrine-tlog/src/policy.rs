//! Transparency log trust policy files (C2SP tlog-policy, main at
//! 5ba5ee830903).
//!
//! Deviation, documented: names, keys and URLs must be UTF-8 (compared as
//! exact bytes, no normalisation); comment lines may hold any allowed octets.
//!
//! Application lines: [`Policy::parse`] rejects unknown keywords;
//! [`Policy::parse_with_extensions`] returns them as [`ExtensionLine`]s for the
//! application to interpret (Vitrine adds `publisher <vkey>` and
//! `max-age <seconds>`), after checking they use the same character set.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use vitrine_note::{SignatureType, VerifiedSignature, VerifierKey, Verifiers};

use crate::{Error, PolicyIssue};

/// Most logs, witnesses and groups accepted (the spec asks for at least 32).
pub const MAX_POLICY_ITEMS: usize = 128;

/// A log line: `log <vkey> [<url>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// Ed25519 key; its name is the log's origin.
    pub key: VerifierKey,
    /// Optional URL.
    pub url: Option<String>,
}

/// A witness line: `witness <name> <vkey> [<url>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// Policy-local name.
    pub name: String,
    /// `cosignature/v1` key.
    pub key: VerifierKey,
    /// Optional URL (the witness submission prefix).
    pub url: Option<String>,
}

/// A group threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// `all`: k = n.
    All,
    /// `any`: k = 1.
    Any,
    /// Numeric k, 1 <= k <= n.
    K(usize),
}

/// A group line: `group <name> <all|any|k> <name>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    /// Group name.
    pub name: String,
    /// Threshold as written.
    pub threshold: Threshold,
    /// Member names (witnesses or earlier groups).
    pub members: Vec<String>,
}

impl PolicyGroup {
    /// The numeric k.
    pub fn k(&self) -> usize {
        match self.threshold {
            Threshold::All => self.members.len(),
            Threshold::Any => 1,
            Threshold::K(k) => k,
        }
    }
}

/// The quorum line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignatures required.
    None,
    /// A witness or group name.
    Name(String),
}

/// A line with a keyword this module does not know, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionLine {
    /// 1-based line number.
    pub line: usize,
    /// First item.
    pub keyword: String,
    /// Remaining items.
    pub args: Vec<String>,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    quorum: Quorum,
}

fn err(line: usize, reason: PolicyIssue) -> Error {
    Error::MalformedPolicy { line, reason }
}

impl Policy {
    /// Parses a policy, rejecting unknown keywords.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        let (p, ext) = Self::parse_with_extensions(input)?;
        if let Some(e) = ext.first() {
            return Err(err(
                e.line,
                PolicyIssue::UnknownKeyword {
                    keyword: e.keyword.clone(),
                },
            ));
        }
        Ok(p)
    }

    /// Parses a policy and returns lines with unknown keywords to the caller,
    /// in order. The caller must reject those it does not understand.
    pub fn parse_with_extensions(input: &[u8]) -> Result<(Self, Vec<ExtensionLine>), Error> {
        // tlog-policy §Character set: tab, newline, 0x20-0x7E, 0x80-0xFF.
        let mut logs: Vec<PolicyLog> = Vec::new();
        let mut witnesses: Vec<PolicyWitness> = Vec::new();
        let mut groups: Vec<PolicyGroup> = Vec::new();
        let mut quorum: Option<Quorum> = None;
        let mut ext = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut members_used: HashSet<String> = HashSet::new();

        let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        // A final newline leaves one empty element; a missing one is tolerated.
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        for (i, raw) in lines.iter().enumerate() {
            let n = i + 1;
            if let Some(&byte) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(err(n, PolicyIssue::ForbiddenByte { byte }));
            }
            let trimmed = raw
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .map_or(&raw[..0], |p| &raw[p..]);
            if trimmed.is_empty() || trimmed[0] == b'#' {
                continue;
            }
            let line = std::str::from_utf8(trimmed).map_err(|_| err(n, PolicyIssue::NotUtf8))?;
            let items: Vec<&str> = line.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
            let key = |s: &str, want: SignatureType| -> Result<VerifierKey, Error> {
                let k: VerifierKey = s.parse().map_err(|e: vitrine_note::Error| {
                    err(
                        n,
                        PolicyIssue::BadKey {
                            reason: e.to_string(),
                        },
                    )
                })?;
                if k.signature_type() != want {
                    return Err(err(
                        n,
                        PolicyIssue::BadKey {
                            reason: "wrong signature type".to_owned(),
                        },
                    ));
                }
                Ok(k)
            };
            let new_name = |names: &HashSet<String>, s: &str| -> Result<String, Error> {
                if s == "none" || names.contains(s) {
                    return Err(err(n, PolicyIssue::DuplicateName { name: s.to_owned() }));
                }
                Ok(s.to_owned())
            };
            match items[0] {
                "log" => {
                    if !(2..=3).contains(&items.len()) {
                        return Err(err(n, PolicyIssue::Arity));
                    }
                    let k = key(items[1], SignatureType::Ed25519)?;
                    if logs.iter().any(|l| l.key.public_key() == k.public_key()) {
                        return Err(err(n, PolicyIssue::DuplicateKey));
                    }
                    if logs.len() == MAX_POLICY_ITEMS {
                        return Err(err(n, PolicyIssue::TooMany { what: "logs" }));
                    }
                    logs.push(PolicyLog {
                        key: k,
                        url: items.get(2).map(|s| (*s).to_owned()),
                    });
                }
                "witness" => {
                    if !(3..=4).contains(&items.len()) {
                        return Err(err(n, PolicyIssue::Arity));
                    }
                    let name = new_name(&names, items[1])?;
                    let k = key(items[2], SignatureType::CosignatureV1)?;
                    if witnesses
                        .iter()
                        .any(|w| w.key.public_key() == k.public_key())
                    {
                        return Err(err(n, PolicyIssue::DuplicateKey));
                    }
                    if witnesses.len() == MAX_POLICY_ITEMS {
                        return Err(err(n, PolicyIssue::TooMany { what: "witnesses" }));
                    }
                    names.insert(name.clone());
                    witnesses.push(PolicyWitness {
                        name,
                        key: k,
                        url: items.get(3).map(|s| (*s).to_owned()),
                    });
                }
                "group" => {
                    if items.len() < 4 {
                        return Err(err(n, PolicyIssue::Arity));
                    }
                    let name = new_name(&names, items[1])?;
                    let members: Vec<String> = items[3..].iter().map(|s| (*s).to_owned()).collect();
                    let threshold = match items[2] {
                        "all" => Threshold::All,
                        "any" => Threshold::Any,
                        k => {
                            let k = crate::util::parse_decimal(k, "threshold")
                                .ok()
                                .and_then(|k| usize::try_from(k).ok())
                                .filter(|&k| k >= 1 && k <= members.len())
                                .ok_or(err(n, PolicyIssue::BadThreshold))?;
                            Threshold::K(k)
                        }
                    };
                    for m in &members {
                        if !names.contains(m) {
                            return Err(err(n, PolicyIssue::UndefinedName { name: m.clone() }));
                        }
                        if !members_used.insert(m.clone()) {
                            return Err(err(n, PolicyIssue::MemberListedTwice { name: m.clone() }));
                        }
                    }
                    if groups.len() == MAX_POLICY_ITEMS {
                        return Err(err(n, PolicyIssue::TooMany { what: "groups" }));
                    }
                    names.insert(name.clone());
                    groups.push(PolicyGroup {
                        name,
                        threshold,
                        members,
                    });
                }
                "quorum" => {
                    if items.len() != 2 {
                        return Err(err(n, PolicyIssue::Arity));
                    }
                    if quorum.is_some() {
                        return Err(err(n, PolicyIssue::Quorum));
                    }
                    quorum = Some(match items[1] {
                        "none" => Quorum::None,
                        q if names.contains(q) => Quorum::Name(q.to_owned()),
                        q => return Err(err(n, PolicyIssue::UndefinedName { name: q.to_owned() })),
                    });
                }
                other => ext.push(ExtensionLine {
                    line: n,
                    keyword: other.to_owned(),
                    args: items[1..].iter().map(|s| (*s).to_owned()).collect(),
                }),
            }
        }
        let quorum = quorum.ok_or(err(0, PolicyIssue::Quorum))?;
        Ok((
            Policy {
                logs,
                witnesses,
                groups,
                quorum,
            },
            ext,
        ))
    }

    /// Log lines.
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    /// Witness lines.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// Group lines.
    pub fn groups(&self) -> &[PolicyGroup] {
        &self.groups
    }

    /// The quorum.
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// The log whose key name (origin) is `origin`.
    pub fn log_for_origin(&self, origin: &str) -> Option<&PolicyLog> {
        self.logs.iter().find(|l| l.key.name() == origin)
    }

    /// All witness keys, for [`vitrine_note::Note::verify_known`].
    pub fn witness_verifiers(&self) -> Verifiers {
        self.witnesses.iter().map(|w| w.key.clone()).collect()
    }

    /// Policy names of the witnesses whose keys appear in `verified`.
    pub fn witness_names_for(&self, verified: &[VerifiedSignature]) -> BTreeSet<String> {
        self.witnesses
            .iter()
            .filter(|w| verified.iter().any(|v| v.key() == &w.key))
            .map(|w| w.name.clone())
            .collect()
    }

    /// The policy names of the witnesses among `verified` cosignatures if
    /// they satisfy the quorum; otherwise `Err` with those names, in order
    /// (for the error that says who did cosign).
    pub fn require_quorum(
        &self,
        verified: &[VerifiedSignature],
    ) -> Result<BTreeSet<String>, Vec<String>> {
        let cosigned = self.witness_names_for(verified);
        if self.check_quorum(&cosigned) {
            Ok(cosigned)
        } else {
            Err(cosigned.into_iter().collect())
        }
    }

    /// Whether the witnesses named in `cosigned` (policy names) satisfy the
    /// quorum (tlog-policy §Defining a witness group).
    pub fn check_quorum(&self, cosigned: &BTreeSet<String>) -> bool {
        let name = match &self.quorum {
            Quorum::None => return true,
            Quorum::Name(n) => n,
        };
        // Groups only reference earlier names, so one pass in order suffices.
        let mut ok: HashMap<&str, bool> = self
            .witnesses
            .iter()
            .map(|w| (w.name.as_str(), cosigned.contains(&w.name)))
            .collect();
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| ok.get(m.as_str()).copied().unwrap_or(false))
                .count();
            ok.insert(g.name.as_str(), count >= g.k());
        }
        ok.get(name.as_str()).copied().unwrap_or(false)
    }
}

impl fmt::Display for Policy {
    /// A canonical policy file that parses back to the same policy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<String>| u.as_ref().map(|u| format!(" {u}")).unwrap_or_default();
        for l in &self.logs {
            writeln!(f, "log {}{}", l.key, url(&l.url))?;
        }
        for w in &self.witnesses {
            writeln!(f, "witness {} {}{}", w.name, w.key, url(&w.url))?;
        }
        for g in &self.groups {
            let t = match g.threshold {
                Threshold::All => "all".to_owned(),
                Threshold::Any => "any".to_owned(),
                Threshold::K(k) => k.to_string(),
            };
            writeln!(f, "group {} {} {}", g.name, t, g.members.join(" "))?;
        }
        match &self.quorum {
            Quorum::None => writeln!(f, "quorum none"),
            Quorum::Name(n) => writeln!(f, "quorum {n}"),
        }
    }
}
