//! The intake's configuration file (`intake.toml` in its data directory).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use vitrine_note::VerifierKey;

use crate::ConfigError;

/// Default largest request body (32 MiB).
pub const DEFAULT_MAX_REQUEST: usize = 32 << 20;
/// Default requests per tenant per minute.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;
/// Default retention (90 days).
pub const DEFAULT_RETENTION_DAYS: u64 = 90;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    log_url: String,
    log_key: String,
    #[serde(default = "default_max_request")]
    max_request: usize,
    #[serde(default = "default_retention_check")]
    retention_check_seconds: u64,
    #[serde(default)]
    tenant: Vec<RawTenant>,
    #[serde(default)]
    analyst: Vec<RawAnalyst>,
    #[serde(default)]
    custody_policy: Option<String>,
    #[serde(default)]
    keyholder: Vec<RawKeyholder>,
    #[serde(default)]
    keyholder_threshold: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKeyholder {
    key: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTenant {
    id: String,
    token_sha256: String,
    #[serde(default = "default_retention")]
    retention_days: u64,
    #[serde(default = "default_rate")]
    rate_per_minute: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAnalyst {
    key: String,
}

fn default_max_request() -> usize {
    DEFAULT_MAX_REQUEST
}
fn default_retention_check() -> u64 {
    3600
}
fn default_retention() -> u64 {
    DEFAULT_RETENTION_DAYS
}
fn default_rate() -> u32 {
    DEFAULT_RATE_PER_MINUTE
}

/// One tenant: a pseudonym (never its name), the SHA-256 of its bearer
/// token (the token itself is never stored), retention and rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Pseudonym, a statement token (`t-5f2a9c`).
    pub id: String,
    /// SHA-256 of the bearer token.
    pub token_sha256: [u8; 32],
    /// Samples older than this many days are destroyed.
    pub retention_days: u64,
    /// Requests allowed per minute.
    pub rate_per_minute: u32,
}

/// The parsed configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the vendor's log (`vitrine log serve`).
    pub log_url: String,
    /// The log's key: checkpoints must be signed by it.
    pub log_key: VerifierKey,
    /// Largest request body in bytes.
    pub max_request: usize,
    /// How often the server destroys expired samples.
    pub retention_check_seconds: u64,
    /// The tenants.
    pub tenants: Vec<Tenant>,
    /// Keys of analysts who may open samples.
    pub analysts: Vec<VerifierKey>,
    /// The custody log's tlog-policy file (relative to the data
    /// directory), whose witness quorum the vault requires.
    pub custody_policy: Option<String>,
    /// The custody policy itself, once [`Config::load_custody`] read it.
    pub custody: Option<vitrine_tlog::Policy>,
    /// The keyholders each sample's data key is split among.
    pub keyholders: Vec<Keyholder>,
    /// How many keyholders must release their share to open a sample.
    pub keyholder_threshold: usize,
}

/// An independent keyholder the intake wraps shares for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyholder {
    /// Its public key (its name is the key's name).
    pub key: vitrine_keyholder::KeyholderKey,
    /// Its base URL.
    pub url: String,
}

/// The default threshold for `n` keyholders: 2 of 3 or more, else all.
pub fn default_threshold(n: usize) -> usize {
    if n >= 3 {
        2
    } else {
        n
    }
}

/// A new random bearer token (64 hex digits).
pub fn new_token() -> String {
    use rand::RngCore;
    let mut t = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut t);
    hex::encode(t)
}

/// SHA-256 of a bearer token, as stored in the configuration.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Config {
    /// Parses and validates `intake.toml`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            message: e.message().to_owned(),
        })?;
        let invalid = |field: String, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.to_owned(),
        };
        if !(raw.log_url.starts_with("http://") || raw.log_url.starts_with("https://")) {
            return Err(invalid("log-url".into(), "must be an http(s) URL"));
        }
        let log_key: VerifierKey = raw
            .log_key
            .parse()
            .map_err(|_| invalid("log-key".into(), "not a verifier key (vkey)"))?;
        if raw.max_request == 0 {
            return Err(invalid("max-request".into(), "must be greater than 0"));
        }
        let mut tenants: Vec<Tenant> = Vec::new();
        for (i, t) in raw.tenant.into_iter().enumerate() {
            let f = |k: &str| format!("tenant[{i}].{k}");
            if vitrine_statements::Token::new(t.id.clone()).is_err() {
                return Err(invalid(
                    f("id"),
                    "must be a token (printable ASCII, no spaces)",
                ));
            }
            if tenants.iter().any(|o| o.id == t.id) {
                return Err(invalid(f("id"), "duplicate tenant id"));
            }
            let token_sha256 = hex::decode(&t.token_sha256)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| invalid(f("token-sha256"), "must be 64 hex digits"))?;
            if tenants.iter().any(|o| o.token_sha256 == token_sha256) {
                return Err(invalid(f("token-sha256"), "two tenants share a token"));
            }
            if t.retention_days == 0 {
                return Err(invalid(f("retention-days"), "must be greater than 0"));
            }
            if t.rate_per_minute == 0 {
                return Err(invalid(f("rate-per-minute"), "must be greater than 0"));
            }
            tenants.push(Tenant {
                id: t.id,
                token_sha256,
                retention_days: t.retention_days,
                rate_per_minute: t.rate_per_minute,
            });
        }
        let mut analysts = Vec::new();
        for (i, a) in raw.analyst.into_iter().enumerate() {
            analysts.push(
                a.key
                    .parse()
                    .map_err(|_| invalid(format!("analyst[{i}].key"), "not a verifier key"))?,
            );
        }
        let mut keyholders: Vec<Keyholder> = Vec::new();
        for (i, k) in raw.keyholder.into_iter().enumerate() {
            let key: vitrine_keyholder::KeyholderKey =
                k.key.parse().map_err(|e: vitrine_keyholder::KeyError| {
                    invalid(format!("keyholder[{i}].key"), &e.to_string())
                })?;
            if !(k.url.starts_with("http://") || k.url.starts_with("https://")) {
                return Err(invalid(
                    format!("keyholder[{i}].url"),
                    "must be an http(s) URL",
                ));
            }
            if keyholders.iter().any(|o| o.key.name() == key.name()) {
                return Err(invalid(
                    format!("keyholder[{i}].key"),
                    "duplicate keyholder name",
                ));
            }
            keyholders.push(Keyholder { key, url: k.url });
        }
        let keyholder_threshold = raw
            .keyholder_threshold
            .unwrap_or_else(|| default_threshold(keyholders.len()));
        if !keyholders.is_empty()
            && (keyholder_threshold == 0 || keyholder_threshold > keyholders.len())
        {
            return Err(invalid(
                "keyholder-threshold".into(),
                "must be between 1 and the number of keyholders",
            ));
        }
        Ok(Config {
            log_url: raw.log_url,
            log_key,
            max_request: raw.max_request,
            retention_check_seconds: raw.retention_check_seconds.max(1),
            tenants,
            analysts,
            custody_policy: raw.custody_policy,
            custody: None,
            keyholders,
            keyholder_threshold,
        })
    }

    /// Reads the custody policy file (relative to `dir`) and checks that
    /// its one log is the configured log key.
    pub fn load_custody(&mut self, dir: &std::path::Path) -> Result<(), ConfigError> {
        let Some(name) = &self.custody_policy else {
            return Ok(());
        };
        let path = dir.join(name);
        let invalid = |reason: String| ConfigError::Invalid {
            field: format!("custody-policy ({})", path.display()),
            reason,
        };
        let text = std::fs::read(&path).map_err(|e| invalid(e.to_string()))?;
        let policy = vitrine_tlog::Policy::parse(&text).map_err(|e| invalid(e.to_string()))?;
        match policy.logs() {
            [one] if one.key == self.log_key => {}
            _ => {
                return Err(invalid(
                    "must name exactly one log, the one log-key names".into(),
                ))
            }
        }
        self.custody = Some(policy);
        Ok(())
    }

    /// The tenant whose token this is.
    pub fn tenant_for_token(&self, token: &str) -> Option<&Tenant> {
        let h = token_hash(token);
        self.tenants.iter().find(|t| t.token_sha256 == h)
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        vitrine_note::SignerKey::from_seed(
            "log.example",
            vitrine_note::SignatureType::Ed25519,
            [1; 32],
        )
        .unwrap()
        .verifier()
        .to_string()
    }

    #[test]
    fn parses_and_finds_tenant_by_token() {
        let text = format!(
            "log-url = \"http://127.0.0.1:1\"\nlog-key = \"{}\"\n[[tenant]]\nid = \"t-1\"\ntoken-sha256 = \"{}\"\n",
            key(),
            hex::encode(token_hash("secret"))
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.tenant_for_token("secret").unwrap().id, "t-1");
        assert!(c.tenant_for_token("other").is_none());
        assert_eq!(c.tenants[0].retention_days, DEFAULT_RETENTION_DAYS);
    }

    #[test]
    fn errors_name_the_field() {
        let k = key();
        let base = format!("log-url = \"http://x\"\nlog-key = \"{k}\"\n");
        let cases = [
            (format!("{base}extra = 1\n"), "unknown field `extra`"),
            ("log-url = \"x\"\n".to_owned(), "missing field"),
            (base.replace("http://x", "ftp://x"), "log-url"),
            (base.replace(&k, "nope"), "log-key"),
            (
                format!("{base}[[tenant]]\nid = \"a b\"\ntoken-sha256 = \"00\"\n"),
                "tenant[0].id",
            ),
            (
                format!("{base}[[tenant]]\nid = \"a\"\ntoken-sha256 = \"00\"\n"),
                "tenant[0].token-sha256",
            ),
            (
                format!(
                    "{base}[[tenant]]\nid = \"a\"\ntoken-sha256 = \"{}\"\nretention-days = 0\n",
                    "0".repeat(64)
                ),
                "tenant[0].retention-days",
            ),
            (
                format!("{base}[[analyst]]\nkey = \"x\"\n"),
                "analyst[0].key",
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
