//! A keyholder: its configuration, the checks it makes before releasing a
//! share, and its record of accesses already honoured.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use vitrine_note::{VerifierKey, Verifiers};
use vitrine_statements::{Access, Statement};
use vitrine_tlog::{Policy, TlogProof};

use crate::crypto::{open_share, seal_release, KeyholderSecret, Sealed};
use crate::{OpenError, Refusal};

/// The configuration file in a keyholder's data directory.
pub const CONFIG_FILE: &str = "keyholder.toml";
/// The keyholder's private key (mode 0600).
pub const KEY_FILE: &str = "keyholder.key";
/// Accesses already honoured (SQLite).
pub const DB_FILE: &str = "keyholder.db";
/// Longest an access may be valid by default (`expires - time`), seconds.
pub const DEFAULT_MAX_LIFETIME: u64 = 3600;
/// Clock difference tolerated by default, seconds.
pub const DEFAULT_CLOCK_SKEW: u64 = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    custody_policy: String,
    #[serde(default = "default_lifetime")]
    max_access_lifetime: u64,
    #[serde(default = "default_skew")]
    clock_skew: u64,
    #[serde(default)]
    analyst: Vec<RawAnalyst>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalyst {
    key: String,
    #[serde(default)]
    tenants: Option<Vec<String>>,
}

fn default_lifetime() -> u64 {
    DEFAULT_MAX_LIFETIME
}
fn default_skew() -> u64 {
    DEFAULT_CLOCK_SKEW
}

/// An analyst this keyholder honours accesses from.
#[derive(Clone, Debug)]
pub struct Analyst {
    /// The analyst's statement-signing key.
    pub key: VerifierKey,
    /// The tenants whose samples the analyst may open (`None`: any).
    pub tenants: Option<Vec<String>>,
}

/// A keyholder's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The custody log's tlog-policy: its key, its witnesses, the quorum.
    pub policy: Policy,
    /// The custody log's key (the policy's one `log` line).
    pub log_key: VerifierKey,
    /// Longest `expires - time` honoured.
    pub max_access_lifetime: u64,
    /// Clock difference tolerated.
    pub clock_skew: u64,
    /// Analysts honoured.
    pub analysts: Vec<Analyst>,
}

impl Config {
    /// Reads `keyholder.toml` in `dir` and the policy file it names
    /// (relative to `dir`).
    pub fn load(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(CONFIG_FILE);
        let text = read(&path)?;
        let bad = |reason: String| OpenError::Config {
            path: path.clone(),
            reason,
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))?;
        let ppath = dir.join(&raw.custody_policy);
        let ptext = read(&ppath)?;
        let policy = Policy::parse(ptext.as_bytes()).map_err(|e| OpenError::Config {
            path: ppath.clone(),
            reason: e.to_string(),
        })?;
        let log_key = match policy.logs() {
            [one] => one.key.clone(),
            _ => {
                return Err(OpenError::Config {
                    path: ppath,
                    reason: "must name exactly one log (the custody log)".into(),
                })
            }
        };
        let mut analysts = Vec::new();
        for (i, a) in raw.analyst.iter().enumerate() {
            let key = a
                .key
                .parse()
                .map_err(|e| bad(format!("analyst[{i}].key: {e}")))?;
            analysts.push(Analyst {
                key,
                tenants: a.tenants.clone(),
            });
        }
        if raw.max_access_lifetime == 0 {
            return Err(bad("max-access-lifetime: must be at least 1 second".into()));
        }
        Ok(Config {
            policy,
            log_key,
            max_access_lifetime: raw.max_access_lifetime,
            clock_skew: raw.clock_skew,
            analysts,
        })
    }
}

fn read(path: &Path) -> Result<String, OpenError> {
    std::fs::read_to_string(path).map_err(|source| OpenError::Io {
        path: path.to_owned(),
        source,
    })
}

/// What a vault sends a keyholder: the logged access, its proof, and the
/// share the intake holds for this keyholder.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The tenant whose copy is opened.
    pub tenant: String,
    /// The sample, 64 hex digits.
    pub sample: String,
    /// The signed `access` statement, as logged.
    pub access: String,
    /// Its inclusion proof (a tlog-proof) under a cosigned checkpoint.
    pub proof: String,
    /// The share the intake holds for this keyholder.
    pub share: Sealed,
}

/// A keyholder's answer: its share, sealed to the access's recipient.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRelease {
    /// The keyholder's name.
    pub keyholder: String,
    /// Index of the access in the custody log.
    pub index: u64,
    /// The share, sealed to the access's `recipient`.
    pub share: Sealed,
}

/// A keyholder over its data directory.
pub struct Keyholder {
    secret: KeyholderSecret,
    config: Config,
    db: Mutex<Connection>,
}

impl Keyholder {
    /// Opens the keyholder in `dir`: configuration, key, record of
    /// honoured accesses.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        // Whoever else can write here could plant a key or a policy.
        vitrine_fs::check_private_dir(dir)?;
        let config = Config::load(dir)?;
        let kpath = dir.join(KEY_FILE);
        let secret = KeyholderSecret::parse(&read(&kpath)?).map_err(|e| OpenError::Config {
            path: kpath,
            reason: e.to_string(),
        })?;
        Self::new(secret, config, &dir.join(DB_FILE))
    }

    /// A keyholder from its parts; `db` records honoured accesses.
    pub fn new(secret: KeyholderSecret, config: Config, db: &Path) -> Result<Self, OpenError> {
        let sql = |e: rusqlite::Error| OpenError::Db {
            path: db.to_owned(),
            reason: e.to_string(),
        };
        let conn = Connection::open(db).map_err(sql)?;
        // WAL with FULL sync: an honoured access is durable before the
        // share leaves, at one fsync per release.
        if db != Path::new(":memory:") {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql)?;
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS honoured (
                access_leaf TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                sample TEXT NOT NULL,
                who TEXT NOT NULL,
                log_index INTEGER NOT NULL,
                time INTEGER NOT NULL
            );",
        )
        .map_err(sql)?;
        restrict(db);
        Ok(Keyholder {
            secret,
            config,
            db: Mutex::new(conn),
        })
    }

    /// The keyholder's name.
    pub fn name(&self) -> &str {
        self.secret.name()
    }

    /// The keyholder's public key line.
    pub fn public(&self) -> crate::KeyholderKey {
        self.secret.public()
    }

    /// Releases this keyholder's share for `req` if, and only if, the
    /// access is an `access` statement by an analyst it honours for this
    /// tenant, names this tenant and this sample, is proven included in a
    /// checkpoint of the custody log cosigned by the policy's witness
    /// quorum, is within its validity at `now`, and was never honoured
    /// here before. Each refusal is its own [`Refusal`].
    pub fn release(&self, req: &ShareRequest, now: u64) -> Result<ShareRelease, Refusal> {
        let sample = parse_sample(&req.sample)?;
        let note = req.access.as_bytes();
        let verifiers = Verifiers::from_keys(self.config.analysts.iter().map(|a| a.key.clone()));
        let (st, signer) =
            Statement::open(note, &verifiers).map_err(|e| Refusal::NotAnAnalyst {
                reason: e.to_string(),
            })?;
        let Statement::Access(access) = st else {
            return Err(Refusal::NotAnAccess {
                kind: st.kind().name().to_owned(),
            });
        };
        if access.who.as_str() != signer.name() {
            return Err(Refusal::WhoNotSigner {
                who: access.who.as_str().to_owned(),
                signer: signer.name().to_owned(),
            });
        }
        let analyst = self
            .config
            .analysts
            .iter()
            .find(|a| a.key == signer)
            .expect("invariant: the signer is one of the analysts");
        if let Some(ts) = &analyst.tenants {
            if !ts.iter().any(|t| t == access.tenant.as_str()) {
                return Err(Refusal::AnalystNotForTenant {
                    who: signer.name().to_owned(),
                    tenant: access.tenant.as_str().to_owned(),
                });
            }
        }
        if access.tenant.as_str() != req.tenant {
            return Err(Refusal::WrongTenant {
                access: access.tenant.as_str().to_owned(),
                request: req.tenant.clone(),
            });
        }
        if access.sample.0 != sample {
            return Err(Refusal::WrongSample {
                access: hex::encode(access.sample.0),
                request: req.sample.clone(),
            });
        }
        let leaf = vitrine_tlog::leaf_hash(note);
        let index = self.check_logged(&leaf, &req.proof)?;
        self.check_time(&access, now)?;
        let share = open_share(&self.secret, &req.share, &req.tenant, &sample)
            .map_err(|_| Refusal::BadShare)?;
        // Last: record the access as honoured; a second request fails here.
        self.honour(&leaf, &access, index, now)?;
        let sealed = seal_release(&share, &access.recipient.0, &leaf, self.name())
            .map_err(|_| Refusal::BadRecipient)?;
        tracing::info!(
            tenant = %access.tenant, sample = %hex::encode(sample), who = %access.who,
            index, "share released for a logged access"
        );
        Ok(ShareRelease {
            keyholder: self.name().to_owned(),
            index,
            share: sealed,
        })
    }

    fn check_logged(&self, leaf: &[u8; 32], proof: &str) -> Result<u64, Refusal> {
        let not_logged = |reason: String| Refusal::NotLogged { reason };
        let proof = TlogProof::parse(proof.as_bytes()).map_err(|e| not_logged(e.to_string()))?;
        let verified = proof
            .verify(
                leaf,
                &self.config.log_key,
                &self.config.policy.witness_verifiers(),
            )
            .map_err(|e| not_logged(e.to_string()))?;
        self.config
            .policy
            .require_quorum(&verified.cosignatures)
            .map_err(|cosigned| Refusal::NoQuorum { cosigned })?;
        Ok(proof.index())
    }

    fn check_time(&self, access: &Access, now: u64) -> Result<(), Refusal> {
        let c = &self.config;
        if access.time > now.saturating_add(c.clock_skew) {
            return Err(Refusal::NotYetValid {
                time: access.time,
                now,
            });
        }
        if access.expires < access.time || access.expires - access.time > c.max_access_lifetime {
            return Err(Refusal::LifetimeTooLong {
                seconds: access.expires.saturating_sub(access.time),
                max: c.max_access_lifetime,
            });
        }
        if now > access.expires.saturating_add(c.clock_skew) {
            return Err(Refusal::Expired {
                expires: access.expires,
                now,
            });
        }
        Ok(())
    }

    fn honour(&self, leaf: &[u8; 32], a: &Access, index: u64, now: u64) -> Result<(), Refusal> {
        let conn = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let leaf_hex = hex::encode(leaf);
        let inserted = conn
            .execute(
                "INSERT OR IGNORE INTO honoured (access_leaf, tenant, sample, who, log_index, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![leaf_hex, a.tenant.as_str(), hex::encode(a.sample.0), a.who.as_str(), index as i64, now as i64],
            )
            .map_err(|e| Refusal::Store { reason: e.to_string() })?;
        if inserted == 0 {
            let first: Option<i64> = conn
                .query_row(
                    "SELECT time FROM honoured WHERE access_leaf = ?1",
                    params![leaf_hex],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| Refusal::Store {
                    reason: e.to_string(),
                })?;
            return Err(Refusal::Replayed {
                first_honoured: first.unwrap_or(0) as u64,
            });
        }
        Ok(())
    }
}

fn parse_sample(s: &str) -> Result<[u8; 32], Refusal> {
    let ok = s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| hex::decode(s).ok())
        .flatten()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or(Refusal::BadRequest {
            reason: "sample: must be 64 lowercase hex digits".into(),
        })
}

/// Mode 0600 for a private file (best effort on non-Unix).
pub(crate) fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Creates a keyholder data directory: a new key (0600), `keyholder.toml`
/// naming `policy_file` (copied in as `custody.policy`) and the analysts.
/// Returns the public key line for the intake's configuration.
pub fn init(
    dir: &Path,
    name: &str,
    policy_text: &str,
    analysts: &[(VerifierKey, Option<Vec<String>>)],
) -> Result<crate::KeyholderKey, OpenError> {
    if dir.join(KEY_FILE).exists() {
        return Err(OpenError::Exists {
            path: dir.join(KEY_FILE),
        });
    }
    Policy::parse(policy_text.as_bytes()).map_err(|e| OpenError::Config {
        path: PathBuf::from("custody policy"),
        reason: e.to_string(),
    })?;
    vitrine_fs::private_dir(dir)?;
    let secret = KeyholderSecret::generate(name).map_err(|e| OpenError::Config {
        path: dir.join(KEY_FILE),
        reason: e.to_string(),
    })?;
    write_private(&dir.join(KEY_FILE), secret.to_text().as_bytes())?;
    write_private(&dir.join("custody.policy"), policy_text.as_bytes())?;
    let mut toml = String::from(
        "# A Vitrine keyholder (docs/egress.md, \"Keyholders\").\n\
         # The custody log's tlog-policy: accesses must be proven under a\n\
         # checkpoint its witness quorum cosigned.\n\
         custody-policy = \"custody.policy\"\n\
         max-access-lifetime = 3600\n\
         clock-skew = 60\n",
    );
    for (key, tenants) in analysts {
        toml.push_str(&format!("\n[[analyst]]\nkey = \"{key}\"\n"));
        if let Some(ts) = tenants {
            let list: Vec<String> = ts.iter().map(|t| format!("{t:?}")).collect();
            toml.push_str(&format!("tenants = [{}]\n", list.join(", ")));
        }
    }
    write_private(&dir.join(CONFIG_FILE), toml.as_bytes())?;
    Ok(secret.public())
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), OpenError> {
    use std::io::Write;
    // O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: a planted file or link is
    // refused, never followed.
    let mut f = vitrine_fs::create_new(path, 0o600)?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|source| OpenError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_private_and_open_refuses_a_directory_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kh");
        let log = vitrine_note::SignerKey::from_seed(
            "log.example/k",
            vitrine_note::SignatureType::Ed25519,
            [3; 32],
        )
        .unwrap();
        let policy = format!("log {}\nquorum none\n", log.verifier());
        init(&dir, "kh.example/1", &policy, &[]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for f in [KEY_FILE, CONFIG_FILE, "custody.policy"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert!(matches!(
            init(&dir, "kh.example/1", &policy, &[]),
            Err(OpenError::Exists { .. })
        ));
        Keyholder::open(&dir).unwrap();
        assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Keyholder::open(&dir).err().unwrap();
        assert!(matches!(err, OpenError::Private(_)), "{err}");
        assert!(
            err.to_string().contains("can be written by others"),
            "{err}"
        );
    }
}
