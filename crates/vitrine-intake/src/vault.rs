//! The vault: the only way to read a sample. It logs an `access`
//! statement first (naming the tenant, the sample, an expiry and a
//! one-time recipient key), proves it included under a checkpoint the
//! custody policy's witness quorum cosigned, and sends it with that proof
//! to every keyholder. Each keyholder checks it for itself and seals its
//! share to the recipient key; with k shares the vault combines the data
//! key in memory and decrypts. Deletion and retention expiry destroy the
//! sealed shares and log a `deletion` statement naming the tenant.

use std::time::Duration;

use vitrine_note::{SignerKey, Verifiers};
use vitrine_statements::{Access, Deletion, Sha256 as StSha, Statement, Text, Token};
use vitrine_tlog::{Policy, TlogProof};

use crate::metrics::Call;
use crate::store::{EventRow, IntakeStore};
use crate::{Config, IntakeMetrics, LogClient, VaultError};

/// Environment variable naming a failpoint; `after-access-logged` aborts
/// the process after the access is logged and before anything is released.
pub const FAILPOINT_ENV: &str = "VITRINE_VAULT_FAILPOINT";

/// How long an access the vault logs stays valid at the keyholders.
pub const ACCESS_LIFETIME: u64 = 600;
/// How long the vault waits for each keyholder.
pub const KEYHOLDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Points where a test can stop the vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The access statement is in the log; nothing is released yet.
    AccessLogged,
}

/// An access statement proven to be in the log. Only [`verify_access`]
/// makes one, and only [`release`] decrypts, and only with one.
#[derive(Debug)]
pub struct LoggedAccess {
    tenant: String,
    access: Access,
    note: Vec<u8>,
    proof: TlogProof,
}

impl LoggedAccess {
    /// The statement.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The statement as logged.
    pub fn note(&self) -> &[u8] {
        &self.note
    }

    /// The proof of its inclusion.
    pub fn proof(&self) -> &TlogProof {
        &self.proof
    }

    /// The tenant whose sample it opens.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// Checks that `note` is an `access` statement by one of the configured
/// analysts, whose `who` is the signing key's name, for `tenant`, and that
/// `proof` includes exactly these bytes in a checkpoint of the custody log
/// cosigned by `policy`'s witness quorum. The keys come from the intake's
/// configuration, never from the caller. (Each keyholder checks the same
/// and more for itself: expiry and single use.)
pub fn verify_access(
    config: &Config,
    policy: &Policy,
    tenant: &str,
    note: &[u8],
    proof: &TlogProof,
) -> Result<LoggedAccess, VaultError> {
    let not_logged = |reason: String| VaultError::AccessNotLogged { reason };
    let (st, signer) =
        Statement::open(note, &Verifiers::from_keys(config.analysts.iter().cloned()))
            .map_err(|e| not_logged(format!("not an access statement by an analyst: {e}")))?;
    let Statement::Access(access) = st else {
        return Err(not_logged(format!("a {} statement", st.kind().name())));
    };
    if access.who.as_str() != signer.name() || access.tenant.as_str() != tenant {
        return Err(not_logged(format!(
            "the access names who = {} for tenant {}, signed by {} for tenant {tenant}",
            access.who,
            access.tenant,
            signer.name()
        )));
    }
    let verified = proof
        .verify(
            &vitrine_tlog::leaf_hash(note),
            &config.log_key,
            &policy.witness_verifiers(),
        )
        .map_err(|e| not_logged(format!("inclusion: {e}")))?;
    policy
        .require_quorum(&verified.cosignatures)
        .map_err(|cosigned| {
            not_logged(format!(
                "the checkpoint lacks the custody policy's witness quorum (cosigned by: {})",
                if cosigned.is_empty() {
                    "nobody".to_owned()
                } else {
                    cosigned.join(", ")
                }
            ))
        })?;
    Ok(LoggedAccess {
        tenant: tenant.to_owned(),
        access,
        note: note.to_vec(),
        proof: proof.clone(),
    })
}

/// Asks every keyholder holding a share of the sample `logged` names to
/// release it, and combines the data key from those that do. Fails,
/// decrypting nothing, if fewer than the threshold release.
fn gather_key(
    store: &dyn IntakeStore,
    config: &Config,
    logged: &LoggedAccess,
    recipient: &vitrine_keyholder::Recipient,
) -> Result<[u8; 32], VaultError> {
    let sample = logged.access.sample.0;
    let (threshold, shares) = store.shares(&logged.tenant, &sample)?;
    let leaf = vitrine_tlog::leaf_hash(&logged.note);
    let note = String::from_utf8_lossy(&logged.note).into_owned();
    let proof = logged.proof.to_string();
    let client = vitrine_keyholder::client::Client::new(KEYHOLDER_TIMEOUT).map_err(|e| {
        VaultError::TooFewShares {
            released: 0,
            needed: usize::from(threshold),
            failures: vec![("client".into(), e.to_string())],
        }
    })?;
    let answers: Vec<(String, Result<Vec<u8>, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|w| {
                let (note, proof, client) = (note.clone(), proof.clone(), &client);
                let tenant = logged.tenant.clone();
                scope.spawn(move || {
                    let Some(kh) = config
                        .keyholders
                        .iter()
                        .find(|k| k.key.name() == w.keyholder)
                    else {
                        return (
                            w.keyholder.clone(),
                            Err("not in intake.toml's keyholders".to_owned()),
                        );
                    };
                    let req = vitrine_keyholder::ShareRequest {
                        tenant,
                        sample: hex::encode(sample),
                        access: note,
                        proof,
                        share: w.sealed.clone(),
                    };
                    let got = client
                        .ask(&kh.url, &req)
                        .map_err(|e| e.to_string())
                        .and_then(|rel| {
                            recipient
                                .open(&rel.share, &leaf, &w.keyholder)
                                .map_err(|e| e.to_string())
                        });
                    (w.keyholder.clone(), got)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("invariant: keyholder requests do not panic")
            })
            .collect()
    });
    let mut released = Vec::new();
    let mut failures = Vec::new();
    for (name, got) in answers {
        match got {
            Ok(share) => released.push(share),
            Err(e) => failures.push((name, e)),
        }
    }
    if released.len() < usize::from(threshold) {
        return Err(VaultError::TooFewShares {
            released: released.len(),
            needed: usize::from(threshold),
            failures,
        });
    }
    for (name, e) in &failures {
        tracing::warn!(keyholder = %name, error = %e, "a keyholder did not release its share");
    }
    vitrine_keyholder::combine(threshold, &released).map_err(|e| VaultError::TooFewShares {
        released: released.len(),
        needed: usize::from(threshold),
        failures: vec![("combine".into(), e.to_string())],
    })
}

fn bad<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> VaultError {
    move |e| VaultError::BadValue {
        field,
        reason: e.to_string(),
    }
}

/// What [`Vault::open`] returns.
#[derive(Debug)]
pub struct Released {
    /// The logged access and its proof.
    pub access: LoggedAccess,
    /// Its log index.
    pub index: u64,
    /// The sample.
    pub plaintext: Vec<u8>,
}

/// What [`Vault::delete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The tenant.
    pub tenant: String,
    /// The sample.
    pub sample: [u8; 32],
    /// Index of the `deletion` statement.
    pub index: u64,
}

/// The vault over a store.
pub struct Vault<'a> {
    store: &'a dyn IntakeStore,
    config: &'a Config,
    intake_key: &'a SignerKey,
    log: LogClient,
    metrics: Option<&'a IntakeMetrics>,
}

impl Vault<'_> {
    /// Adds `statement` to the custody log, measured if the vault has
    /// metrics.
    fn add(&self, statement: &[u8]) -> Result<u64, VaultError> {
        Ok(match self.metrics {
            Some(m) => m.time(Call::Add, || self.log.add(statement))?,
            None => self.log.add(statement)?,
        })
    }

    fn policy(&self) -> Result<&Policy, VaultError> {
        self.config.custody.as_ref().ok_or_else(|| {
            VaultError::Config(
                "custody-policy is not set: the vault requires the custody log's witness policy"
                    .into(),
            )
        })
    }
}

impl<'a> Vault<'a> {
    /// A vault over `store`, logging to the configured log.
    pub fn new(
        store: &'a dyn IntakeStore,
        config: &'a Config,
        intake_key: &'a SignerKey,
    ) -> Result<Self, VaultError> {
        Ok(Vault {
            store,
            config,
            intake_key,
            log: LogClient::new(&config.log_url, config.log_key.clone())?,
            metrics: None,
        })
    }

    /// Counts the vault's custody-log calls and logged deletions in
    /// `metrics` (a serving intake's).
    pub fn metrics(mut self, metrics: &'a IntakeMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn resolve(&self, sample: &[u8; 32], tenant: Option<&str>) -> Result<String, VaultError> {
        let mut held = self.store.tenants_with(sample)?;
        let hex = hex::encode(sample);
        match tenant {
            Some(t) if held.iter().any(|h| h == t) => Ok(t.to_owned()),
            Some(_) => Err(VaultError::NoSuchSample { sample: hex }),
            None if held.len() == 1 => Ok(held.remove(0)),
            None if held.is_empty() => Err(VaultError::NoSuchSample { sample: hex }),
            None => Err(VaultError::Ambiguous {
                sample: hex,
                tenants: held.join(", "),
            }),
        }
    }

    /// Opens a sample: logs an `access` statement signed by `analyst`,
    /// waits until it is proven included under a witnessed checkpoint,
    /// then gathers the keyholders' shares and decrypts. `hook` runs after
    /// logging and before anything is asked of a keyholder (tests stop the
    /// vault there).
    pub fn open(
        &self,
        sample: &[u8; 32],
        tenant: Option<&str>,
        purpose: &str,
        analyst: &SignerKey,
        now: u64,
        hook: &mut dyn FnMut(Stage) -> Result<(), VaultError>,
    ) -> Result<Released, VaultError> {
        let policy = self.policy()?;
        let vkey = analyst.verifier();
        if !self.config.analysts.contains(&vkey) {
            return Err(VaultError::NotAnAnalyst {
                name: analyst.name().to_owned(),
            });
        }
        let tenant = self.resolve(sample, tenant)?;
        let recipient = vitrine_keyholder::Recipient::generate();
        let access = Access {
            who: Token::new(analyst.name()).map_err(bad("who"))?,
            purpose: Text::new(purpose).map_err(bad("purpose"))?,
            tenant: Token::new(tenant.clone()).map_err(bad("tenant"))?,
            sample: StSha(*sample),
            time: now,
            expires: now + ACCESS_LIFETIME,
            recipient: StSha(recipient.public_bytes()),
        };
        let note = Statement::Access(access.clone())
            .sign(analyst)
            .map_err(|e| VaultError::Sign(e.to_string()))?;
        // In the tenant's audit before it is in the log: a vault killed
        // after logging still shows there.
        let event = self.store.record_event(
            &tenant,
            &EventRow {
                sha256: hex::encode(sample),
                kind: "access".into(),
                who: Some(access.who.as_str().to_owned()),
                detail: access.purpose.as_str().to_owned(),
                time: now,
                note: String::from_utf8_lossy(&note).into_owned(),
                log_index: None,
            },
        )?;
        let index = self.add(&note)?;
        if std::env::var(FAILPOINT_ENV).as_deref() == Ok("after-access-logged") {
            // Stands in for a crash right after logging: nothing is
            // released, and the tenant's audit already shows the access.
            std::process::abort();
        }
        self.store.set_event_index(event, index)?;
        hook(Stage::AccessLogged)?;
        let proof = match self.metrics {
            Some(m) => m.time(Call::Prove, || self.log.prove(&note, index))?,
            None => self.log.prove(&note, index)?,
        };
        let logged = verify_access(self.config, policy, &tenant, &note, &proof)?;
        let mut key = gather_key(self.store, self.config, &logged, &recipient)?;
        let plaintext = crate::store::decrypt(self.store, &tenant, sample, &key);
        key.fill(0);
        Ok(Released {
            access: logged,
            index,
            plaintext: plaintext?,
        })
    }

    /// Destroys a sample (content and data key) and logs a `deletion`
    /// statement signed by the intake key. If the sample was destroyed
    /// before but its deletion not logged, logs it now. Then asks the
    /// store to drop what its medium still keeps ([`IntakeStore::purge`]).
    pub fn delete(
        &self,
        sample: &[u8; 32],
        tenant: &str,
        reason: &str,
        now: u64,
    ) -> Result<Deleted, VaultError> {
        match self.delete_one(sample, tenant, reason, now) {
            // Refused before anything was destroyed.
            Err(e @ (VaultError::NoSuchSample { .. } | VaultError::BadValue { .. })) => Err(e),
            deleted => {
                self.store.purge()?;
                deleted
            }
        }
    }

    fn delete_one(
        &self,
        sample: &[u8; 32],
        tenant: &str,
        reason: &str,
        now: u64,
    ) -> Result<Deleted, VaultError> {
        let reason_text = Text::new(reason).map_err(|e| VaultError::BadValue {
            field: "reason",
            reason: e.to_string(),
        })?;
        if self.store.get(tenant, sample)?.is_none() {
            return Err(VaultError::NoSuchSample {
                sample: hex::encode(sample),
            });
        }
        let tenant_token = Token::new(tenant).map_err(|e| VaultError::BadValue {
            field: "tenant",
            reason: e.to_string(),
        })?;
        self.store.destroy(tenant, sample, now)?;
        // The time the sample was destroyed: by this call, or by another
        // process before it (another front end's retention pass, or this
        // one before a crash) that may be logging the deletion right now.
        // Both sign that time, so both statements are the same bytes
        // (Ed25519 signatures are deterministic) and the log keeps one.
        let time = self
            .store
            .get(tenant, sample)?
            .and_then(|s| s.deleted)
            .unwrap_or(now);
        let note = Statement::Deletion(Deletion {
            tenant: tenant_token,
            sample: StSha(*sample),
            reason: reason_text,
            time,
        })
        .sign(self.intake_key)
        .map_err(|e| VaultError::Sign(e.to_string()))?;
        let event = self.store.record_event(
            tenant,
            &EventRow {
                sha256: hex::encode(sample),
                kind: "deletion".into(),
                who: None,
                detail: reason.to_owned(),
                time,
                note: String::from_utf8_lossy(&note).into_owned(),
                log_index: None,
            },
        )?;
        let index = self.add(&note)?;
        self.store.set_event_index(event, index)?;
        self.store.set_deletion_logged(tenant, sample)?;
        if let Some(m) = self.metrics {
            m.deletion_logged();
        }
        Ok(Deleted {
            tenant: tenant.to_owned(),
            sample: *sample,
            index,
        })
    }

    /// Destroys every sample past its tenant's retention period (and logs
    /// deletions that were not logged yet), then purges the store once. A
    /// tenant removed from the configuration keeps the default retention:
    /// its samples expire too.
    pub fn expire(&self, now: u64) -> Result<Vec<Deleted>, VaultError> {
        let expired = self.expire_all(now);
        if expired.as_ref().map_or(true, |done| !done.is_empty()) {
            self.store.purge()?;
        }
        expired
    }

    fn expire_all(&self, now: u64) -> Result<Vec<Deleted>, VaultError> {
        let mut out = Vec::new();
        for tenant in self.store.tenants()? {
            let days = self
                .config
                .tenant(&tenant)
                .map_or(crate::DEFAULT_RETENTION_DAYS, |t| t.retention_days);
            let cutoff = now.saturating_sub(days.saturating_mul(86_400));
            for sample in self.store.due(&tenant, cutoff)? {
                let reason = format!("retention period of {days} days expired");
                out.push(self.delete_one(&sample, &tenant, &reason, now)?);
            }
        }
        Ok(out)
    }

    /// The log client.
    pub fn log(&self) -> &LogClient {
        &self.log
    }
}
