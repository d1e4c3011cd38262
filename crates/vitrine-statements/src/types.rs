//! The six statement types, each with its field schema.

use crate::value::{parse_u64, CommitId, Sha256, Text, Token};
use crate::{Fields, ParseError, ValueError};
use std::fmt::Write as _;

/// Writes `key value\n`.
fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    writeln!(out, "{key} {value}").expect("invariant: writing to a String cannot fail");
}

/// Binds a field's raw value to its parser, tagging errors with the field.
fn field<'a, T>(
    key: &'static str,
    raw: &'a str,
    parse: impl FnOnce(&'a str) -> Result<T, ValueError>,
) -> Result<T, ParseError> {
    parse(raw).map_err(|err| ParseError::MalformedValue { field: key, err })
}

/// `rules` — a rule bundle published for endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// SHA-256 of the bundle's bytes (its content address).
    pub sha256: Sha256,
    /// Size of the bundle in bytes.
    pub size: u64,
    /// Bundle version; endpoints only move forward (no rollback).
    pub version: u64,
    /// When the bundle was made, unix seconds.
    pub created: u64,
    /// After this time (unix seconds) endpoints refuse the bundle (no freeze).
    pub expires: u64,
    /// The bundle's name (its manifest `name`): the channel it belongs to,
    /// e.g. `main`, `daily`. Each channel has its own version order.
    /// Absent in statements written before channels existed.
    pub bundle: Option<Token>,
    /// Lint findings the publisher acknowledged, with reasons; written as
    /// one `allow` line each, sorted by finding. Empty for most bundles.
    pub allow: Vec<Allow>,
}

/// A lint finding the publisher chose to ship, and why: the value of an
/// `allow` line, `<finding> <reason>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// The finding's identity, e.g. `VL101:Rule_Name` (a token).
    pub finding: Token,
    /// Why it ships anyway, for auditors (text).
    pub reason: Text,
}

impl Allow {
    /// The finding's ID and rule (`VL101`, `Rule_Name`); the rule is empty
    /// when the finding names none.
    pub fn id_and_rule(&self) -> (&str, &str) {
        let f = self.finding.as_str();
        f.split_once(':').unwrap_or((f, ""))
    }

    fn parse(s: &str) -> Result<Self, ValueError> {
        let (finding, reason) = s.split_once(' ').ok_or(ValueError::Empty)?;
        Ok(Self {
            finding: Token::new(finding)?,
            reason: Text::new(reason)?,
        })
    }
}

impl std::fmt::Display for Allow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.finding, self.reason)
    }
}

impl Rules {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "sha256", "size", "version", "created", "expires", "bundle", "allow",
    ];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "sha256", self.sha256);
        line(out, "size", self.size);
        line(out, "version", self.version);
        line(out, "created", self.created);
        line(out, "expires", self.expires);
        if let Some(b) = &self.bundle {
            line(out, "bundle", b);
        }
        let mut allow: Vec<String> = self.allow.iter().map(Allow::to_string).collect();
        allow.sort();
        allow.dedup();
        for a in allow {
            line(out, "allow", a);
        }
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        let allow = f
            .repeated()
            .iter()
            .map(|v| field("allow", v, Allow::parse))
            .collect::<Result<Vec<_>, _>>()?;
        // One acknowledgement per finding.
        if allow.windows(2).any(|w| w[0].finding == w[1].finding) {
            return Err(ParseError::UnsortedField { field: "allow" });
        }
        Ok(Self {
            sha256: field("sha256", f.required(0)?, Sha256::parse)?,
            size: field("size", f.required(1)?, parse_u64)?,
            version: field("version", f.required(2)?, parse_u64)?,
            created: field("created", f.required(3)?, parse_u64)?,
            expires: field("expires", f.required(4)?, parse_u64)?,
            bundle: f
                .optional(5)
                .map(|v| field("bundle", v, Token::new))
                .transpose()?,
            allow,
        })
    }
}

/// `release` — one artifact of a build of the scanner (a binary or a
/// package), and everything needed to rebuild it and compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The release's version, e.g. `0.4.0`.
    pub version: Token,
    /// Target triple of the artifact, e.g. `x86_64-unknown-linux-gnu`
    /// (a package adds its kind: `x86_64-unknown-linux-gnu.deb`).
    pub target: Token,
    /// SHA-256 of the artifact.
    pub sha256: Sha256,
    /// Source commit it was built from.
    pub commit: CommitId,
    /// SHA-256 of the source archive (`git archive --format=tar` of the
    /// commit).
    pub source_sha256: Sha256,
    /// SHA-256 of the `Cargo.lock` used.
    pub lockfile_sha256: Sha256,
    /// SHA-256 of the build recipe (the script that rebuilds it), kept in
    /// the log's content store.
    pub recipe_sha256: Sha256,
    /// Toolchain, e.g. `rustc-1.95.0`.
    pub toolchain: Token,
}

impl Release {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "version",
        "target",
        "sha256",
        "commit",
        "source-sha256",
        "lockfile-sha256",
        "recipe-sha256",
        "toolchain",
    ];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "version", &self.version);
        line(out, "target", &self.target);
        line(out, "sha256", self.sha256);
        line(out, "commit", &self.commit);
        line(out, "source-sha256", self.source_sha256);
        line(out, "lockfile-sha256", self.lockfile_sha256);
        line(out, "recipe-sha256", self.recipe_sha256);
        line(out, "toolchain", &self.toolchain);
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            version: field("version", f.required(0)?, Token::new)?,
            target: field("target", f.required(1)?, Token::new)?,
            sha256: field("sha256", f.required(2)?, Sha256::parse)?,
            commit: field("commit", f.required(3)?, CommitId::parse)?,
            source_sha256: field("source-sha256", f.required(4)?, Sha256::parse)?,
            lockfile_sha256: field("lockfile-sha256", f.required(5)?, Sha256::parse)?,
            recipe_sha256: field("recipe-sha256", f.required(6)?, Sha256::parse)?,
            toolchain: field("toolchain", f.required(7)?, Token::new)?,
        })
    }
}

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The subject is fit to be used.
    Approve,
    /// The subject must not be used.
    Reject,
}

impl Verdict {
    /// The value's text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }

    fn parse(s: &str) -> Result<Self, ValueError> {
        match s {
            "approve" => Ok(Verdict::Approve),
            "reject" => Ok(Verdict::Reject),
            _ if s.is_empty() => Err(ValueError::Empty),
            _ if s.contains(char::is_whitespace) => Err(ValueError::Space),
            _ => Err(ValueError::NotInSet {
                allowed: &["approve", "reject"],
            }),
        }
    }
}

/// `review` — a reviewer's verdict on an artifact or another statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// SHA-256 of what was reviewed (a bundle, a binary, a statement).
    pub subject: Sha256,
    /// The verdict.
    pub verdict: Verdict,
    /// Optional remark for people; absent rather than empty.
    pub comment: Option<Text>,
    /// SHA-256 of the reviewer's report, kept in the log's content store
    /// (`/content/sha256/<hex>`); optional.
    pub report: Option<Sha256>,
}

impl Review {
    pub(crate) const FIELDS: &'static [&'static str] = &["subject", "verdict", "comment", "report"];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "subject", self.subject);
        line(out, "verdict", self.verdict.as_str());
        if let Some(comment) = &self.comment {
            line(out, "comment", comment);
        }
        if let Some(report) = self.report {
            line(out, "report", report);
        }
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            subject: field("subject", f.required(0)?, Sha256::parse)?,
            verdict: field("verdict", f.required(1)?, Verdict::parse)?,
            comment: f
                .optional(2)
                .map(|v| field("comment", v, Text::new))
                .transpose()?,
            report: f
                .optional(3)
                .map(|v| field("report", v, Sha256::parse))
                .transpose()?,
        })
    }
}

/// `receipt` — the intake received a sample.
///
/// A receipt answers exactly one submission: it names the endpoint (its
/// ledger key), the submission's nonce and the endpoint's ledger position
/// (`ledger-seq`, `ledger-head`) the submission carried, so it cannot be
/// replayed for another submission, and the custody log anchors the
/// endpoint's ledger (docs/formats.md, docs/egress.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// SHA-256 of the sample.
    pub sample: Sha256,
    /// The tenant's pseudonym (never its name).
    pub tenant: Token,
    /// Identifier of the egress policy the sample was sent under.
    pub policy: Token,
    /// SHA-256 of that policy's bytes.
    pub policy_sha256: Sha256,
    /// When it was received, unix seconds.
    pub time: u64,
    /// SHA-256 of the endpoint's ledger key in its vkey text form: which
    /// endpoint's ledger this receipt anchors.
    pub endpoint: Sha256,
    /// The submission's nonce: 32 random bytes the endpoint made for this
    /// submission and recorded in its ledger entry.
    pub nonce: Sha256,
    /// Sequence number of the endpoint's ledger entry that recorded the
    /// submission.
    pub ledger_seq: u64,
    /// The endpoint's ledger head with that entry: the hex SHA-256 of the
    /// entry's JSON (the hash the next entry's `prev` holds).
    pub ledger_head: Sha256,
}

impl Receipt {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "sample",
        "tenant",
        "policy",
        "policy-sha256",
        "time",
        "endpoint",
        "nonce",
        "ledger-seq",
        "ledger-head",
    ];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "sample", self.sample);
        line(out, "tenant", &self.tenant);
        line(out, "policy", &self.policy);
        line(out, "policy-sha256", self.policy_sha256);
        line(out, "time", self.time);
        line(out, "endpoint", self.endpoint);
        line(out, "nonce", self.nonce);
        line(out, "ledger-seq", self.ledger_seq);
        line(out, "ledger-head", self.ledger_head);
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            sample: field("sample", f.required(0)?, Sha256::parse)?,
            tenant: field("tenant", f.required(1)?, Token::new)?,
            policy: field("policy", f.required(2)?, Token::new)?,
            policy_sha256: field("policy-sha256", f.required(3)?, Sha256::parse)?,
            time: field("time", f.required(4)?, parse_u64)?,
            endpoint: field("endpoint", f.required(5)?, Sha256::parse)?,
            nonce: field("nonce", f.required(6)?, Sha256::parse)?,
            ledger_seq: field("ledger-seq", f.required(7)?, parse_u64)?,
            ledger_head: field("ledger-head", f.required(8)?, Sha256::parse)?,
        })
    }
}

/// `access` — someone is about to open a sample.
///
/// It names whose sample (the tenant's pseudonym) and which, expires, and
/// names the one-time key (`recipient`, an X25519 public key) that
/// keyholders wrap their shares to, so only the vault run that logged it
/// can combine them. `who` must be the name of the key that signs it (the
/// log refuses anything else).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Who opens it: the signing key's name.
    pub who: Token,
    /// Why, for the data owner to read.
    pub purpose: Text,
    /// The tenant whose copy is opened (its pseudonym).
    pub tenant: Token,
    /// SHA-256 of the sample.
    pub sample: Sha256,
    /// When, unix seconds.
    pub time: u64,
    /// After this (unix seconds) no keyholder honours it.
    pub expires: u64,
    /// The vault's one-time X25519 public key (64 hex digits).
    pub recipient: Sha256,
}

impl Access {
    pub(crate) const FIELDS: &'static [&'static str] = &[
        "who",
        "purpose",
        "tenant",
        "sample",
        "time",
        "expires",
        "recipient",
    ];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "who", &self.who);
        line(out, "purpose", &self.purpose);
        line(out, "tenant", &self.tenant);
        line(out, "sample", self.sample);
        line(out, "time", self.time);
        line(out, "expires", self.expires);
        line(out, "recipient", self.recipient);
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            who: field("who", f.required(0)?, Token::new)?,
            purpose: field("purpose", f.required(1)?, Text::new)?,
            tenant: field("tenant", f.required(2)?, Token::new)?,
            sample: field("sample", f.required(3)?, Sha256::parse)?,
            time: field("time", f.required(4)?, parse_u64)?,
            expires: field("expires", f.required(5)?, parse_u64)?,
            recipient: field("recipient", f.required(6)?, Sha256::parse)?,
        })
    }
}

/// `deletion` — a tenant's copy of a sample was destroyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// The tenant whose copy was destroyed (its pseudonym).
    pub tenant: Token,
    /// SHA-256 of the sample.
    pub sample: Sha256,
    /// Why it was destroyed (retention expiry, owner request, …).
    pub reason: Text,
    /// When, unix seconds.
    pub time: u64,
}

impl Deletion {
    pub(crate) const FIELDS: &'static [&'static str] = &["tenant", "sample", "reason", "time"];

    pub(crate) fn write(&self, out: &mut String) {
        line(out, "tenant", &self.tenant);
        line(out, "sample", self.sample);
        line(out, "reason", &self.reason);
        line(out, "time", self.time);
    }

    pub(crate) fn read(f: &Fields<'_>) -> Result<Self, ParseError> {
        Ok(Self {
            tenant: field("tenant", f.required(0)?, Token::new)?,
            sample: field("sample", f.required(1)?, Sha256::parse)?,
            reason: field("reason", f.required(2)?, Text::new)?,
            time: field("time", f.required(3)?, parse_u64)?,
        })
    }
}
