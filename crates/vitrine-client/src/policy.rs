//! The endpoint trust policy: tlog-policy plus Vitrine extension lines.

use vitrine_note::{SignatureType, VerifierKey, Verifiers};
use vitrine_tlog::Policy;

use crate::PolicyError;

/// Size limits of the update check (DESIGN.md step 1: no endless data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateLimits {
    /// Bundle bytes.
    pub bundle: usize,
    /// Signed statement note bytes.
    pub statement: usize,
    /// tlog-proof bytes.
    pub proof: usize,
    /// Cosigned checkpoint note bytes.
    pub checkpoint: usize,
    /// Limits inside the bundle archive.
    pub bundle_parts: vitrine_bundle::Limits,
}

impl Default for UpdateLimits {
    fn default() -> Self {
        let bundle_parts = vitrine_bundle::Limits::default();
        UpdateLimits {
            bundle: bundle_parts.max_archive,
            statement: 16 << 10,
            proof: 64 << 10,
            checkpoint: 16 << 10,
            bundle_parts,
        }
    }
}

/// What scans do with an active bundle past its `expires` (policy line
/// `on-expiry`). Either way `scan` and `status` say it expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnExpiry {
    /// Keep scanning with it (an old rule set beats none).
    #[default]
    Keep,
    /// Scan with the built-in set instead (labelled unverified).
    Builtin,
}

/// A parsed trust policy file (`docs/formats.md`, "Trust policy").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    tlog: Policy,
    publishers: Vec<VerifierKey>,
    reviewers: Vec<VerifierKey>,
    max_age: u64,
    require_reviews: u64,
    on_expiry: OnExpiry,
    bundles: Vec<String>,
    refuse_findings: Vec<String>,
    limits: UpdateLimits,
}

/// Whether `name` may be a channel (`bundle` line): 1 to 64 characters of
/// `[A-Za-z0-9._-]`, not starting with `.` (it names a state file).
pub fn valid_channel(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl TrustPolicy {
    /// Strictly parses a policy file. Errors name the line.
    pub fn parse(input: &[u8]) -> Result<Self, PolicyError> {
        let (tlog, ext) = Policy::parse_with_extensions(input).map_err(PolicyError::Tlog)?;
        let mut publishers: Vec<VerifierKey> = Vec::new();
        let mut reviewers: Vec<VerifierKey> = Vec::new();
        let mut max_age = None;
        let mut require_reviews = None;
        let mut on_expiry = None;
        let mut bundles: Vec<String> = Vec::new();
        let mut refuse_findings: Vec<String> = Vec::new();
        for e in ext {
            let err = |reason: String| PolicyError::Line {
                line: e.line,
                reason,
            };
            let [arg] = e.args.as_slice() else {
                return Err(err(format!("{} takes exactly one argument", e.keyword)));
            };
            match e.keyword.as_str() {
                "publisher" | "reviewer" => {
                    let key: VerifierKey = arg
                        .parse()
                        .map_err(|x| err(format!("bad {} key: {x}", e.keyword)))?;
                    if key.signature_type() != SignatureType::Ed25519 {
                        return Err(err(format!("{} key must be Ed25519", e.keyword)));
                    }
                    let list = if e.keyword == "publisher" {
                        &mut publishers
                    } else {
                        &mut reviewers
                    };
                    if list.iter().any(|k| k.public_key() == key.public_key()) {
                        return Err(err(format!("duplicate {} key", e.keyword)));
                    }
                    list.push(key);
                    // A publisher cannot review its own bundles.
                    if publishers
                        .iter()
                        .any(|p| reviewers.iter().any(|r| r.public_key() == p.public_key()))
                    {
                        return Err(err(
                            "the same key is both a publisher and a reviewer".to_owned()
                        ));
                    }
                }
                "max-age" | "require-reviews" => {
                    let n = parse_u64(arg)
                        .ok_or_else(|| err(format!("{} must be a decimal number", e.keyword)))?;
                    let slot = if e.keyword == "max-age" {
                        &mut max_age
                    } else {
                        &mut require_reviews
                    };
                    if slot.replace(n).is_some() {
                        return Err(err(format!("repeated {} line", e.keyword)));
                    }
                }
                "on-expiry" => {
                    let v = match arg.as_str() {
                        "keep" => OnExpiry::Keep,
                        "builtin" => OnExpiry::Builtin,
                        _ => return Err(err("on-expiry must be keep or builtin".to_owned())),
                    };
                    if on_expiry.replace(v).is_some() {
                        return Err(err("repeated on-expiry line".to_owned()));
                    }
                }
                "bundle" => {
                    if !valid_channel(arg) {
                        return Err(err(
                            "bundle name must be 1-64 characters of A-Z a-z 0-9 . _ - not starting with ."
                                .to_owned(),
                        ));
                    }
                    if bundles.contains(arg) {
                        return Err(err(format!("repeated bundle {arg}")));
                    }
                    bundles.push(arg.clone());
                }
                "refuse-finding" => {
                    if !valid_finding_pattern(arg) {
                        return Err(err(
                            "refuse-finding takes a finding ID (VL302), an ID prefix ending in * (VL1*), * or a severity (high, medium, low)"
                                .to_owned(),
                        ));
                    }
                    if refuse_findings.contains(arg) {
                        return Err(err(format!("repeated refuse-finding {arg}")));
                    }
                    refuse_findings.push(arg.clone());
                }
                other => return Err(err(format!("unknown keyword {other:?}"))),
            }
        }
        if tlog.logs().is_empty() {
            return Err(PolicyError::Missing { keyword: "log" });
        }
        if publishers.is_empty() {
            return Err(PolicyError::Missing {
                keyword: "publisher",
            });
        }
        let max_age = max_age.ok_or(PolicyError::Missing { keyword: "max-age" })?;
        if max_age == 0 {
            return Err(PolicyError::Line {
                line: 0,
                reason: "max-age must be positive".to_owned(),
            });
        }
        let require_reviews = require_reviews.unwrap_or(0);
        if require_reviews > reviewers.len() as u64 {
            return Err(PolicyError::Line {
                line: 0,
                reason: format!(
                    "require-reviews {require_reviews} but only {} reviewer keys",
                    reviewers.len()
                ),
            });
        }
        Ok(TrustPolicy {
            tlog,
            publishers,
            reviewers,
            max_age,
            require_reviews,
            on_expiry: on_expiry.unwrap_or_default(),
            bundles,
            refuse_findings,
            limits: UpdateLimits::default(),
        })
    }

    /// A canonical policy file that parses back to this policy.
    pub fn to_text(&self) -> String {
        let mut s = self.tlog.to_string();
        for k in &self.publishers {
            s.push_str(&format!("publisher {k}\n"));
        }
        for k in &self.reviewers {
            s.push_str(&format!("reviewer {k}\n"));
        }
        s.push_str(&format!("max-age {}\n", self.max_age));
        if self.require_reviews > 0 {
            s.push_str(&format!("require-reviews {}\n", self.require_reviews));
        }
        if self.on_expiry == OnExpiry::Builtin {
            s.push_str("on-expiry builtin\n");
        }
        for b in &self.bundles {
            s.push_str(&format!("bundle {b}\n"));
        }
        for p in &self.refuse_findings {
            s.push_str(&format!("refuse-finding {p}\n"));
        }
        s
    }

    /// Replaces the size limits (they are not part of the file).
    pub fn with_limits(mut self, limits: UpdateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The tlog-policy part: logs, witnesses, quorum.
    pub fn tlog(&self) -> &Policy {
        &self.tlog
    }

    /// Publisher keys.
    pub fn publishers(&self) -> &[VerifierKey] {
        &self.publishers
    }

    /// Publisher keys as a verifier set.
    pub fn publisher_verifiers(&self) -> Verifiers {
        self.publishers.iter().cloned().collect()
    }

    /// Reviewer keys.
    pub fn reviewers(&self) -> &[VerifierKey] {
        &self.reviewers
    }

    /// Max age, in seconds, of the newest witness cosignature.
    pub fn max_age(&self) -> u64 {
        self.max_age
    }

    /// Approving reviews required per bundle.
    pub fn require_reviews(&self) -> u64 {
        self.require_reviews
    }

    /// What scans do with an expired active bundle.
    pub fn on_expiry(&self) -> OnExpiry {
        self.on_expiry
    }

    /// The channels this endpoint follows (`bundle` lines), in file order;
    /// empty: one channel, whatever bundle is published.
    pub fn bundles(&self) -> &[String] {
        &self.bundles
    }

    /// Size limits.
    pub fn limits(&self) -> &UpdateLimits {
        &self.limits
    }

    /// The URL of the first `log` line that names one: where updates,
    /// releases and reviews are read and logged unless a command is told
    /// otherwise.
    pub fn log_url(&self) -> Option<&str> {
        self.tlog.logs().iter().find_map(|l| l.url.as_deref())
    }

    /// The `refuse-finding` lines, in file order.
    pub fn refuse_findings(&self) -> &[String] {
        &self.refuse_findings
    }

    /// The first `refuse-finding` pattern that refuses a bundle whose
    /// statement acknowledges a finding with this ID: the ID itself, a
    /// prefix of it ending in `*`, or its severity (docs/lint.md; an ID
    /// this build does not know counts as high, so a newer linter's
    /// finding is not waved through).
    pub fn refuses_finding(&self, id: &str) -> Option<&str> {
        let severity = vitrine_lint::severity_of(id).unwrap_or(vitrine_lint::Severity::High);
        self.refuse_findings
            .iter()
            .find(|p| match p.strip_suffix('*') {
                Some(prefix) => id.starts_with(prefix),
                None => p.as_str() == id || p.as_str() == severity.as_str(),
            })
            .map(String::as_str)
    }
}

/// `high`, `medium`, `low`, `*`, `VL` and digits, or that with a final `*`.
fn valid_finding_pattern(p: &str) -> bool {
    if matches!(p, "high" | "medium" | "low" | "*") {
        return true;
    }
    let id = p.strip_suffix('*').unwrap_or(p);
    id.len() <= 16
        && id.strip_prefix("VL").is_some_and(|d| {
            d.bytes().all(|b| b.is_ascii_digit()) && (!d.is_empty() || p.ends_with('*'))
        })
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}
