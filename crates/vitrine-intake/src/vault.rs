//! The vault: the only way to read a sample. It logs an `access`
//! statement first and releases the plaintext only once that statement is
//! proven included in a checkpoint signed by the log key. Deletion and
//! retention expiry destroy the data key and log a `deletion` statement.

use vitrine_note::{SignerKey, Verifiers};
use vitrine_statements::{Access, Deletion, Sha256 as StSha, Statement, Text, Token};
use vitrine_tlog::TlogProof;

use crate::store::{EventRow, Store};
use crate::{Config, LogClient, VaultError};

/// Environment variable naming a failpoint; `after-access-logged` aborts
/// the process after the access is logged and before anything is released.
pub const FAILPOINT_ENV: &str = "VITRINE_VAULT_FAILPOINT";

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
/// analysts and that `proof` includes exactly these bytes in a checkpoint
/// signed by the configured log key. The keys come from the intake's
/// configuration, never from the caller.
pub fn verify_access(
    config: &Config,
    tenant: &str,
    note: &[u8],
    proof: &TlogProof,
) -> Result<LoggedAccess, VaultError> {
    let (analysts, log_key) = (&config.analysts, &config.log_key);
    let not_logged = |reason: String| VaultError::AccessNotLogged { reason };
    let (st, _) = Statement::open(note, &Verifiers::from_keys(analysts.iter().cloned()))
        .map_err(|e| not_logged(format!("not an access statement by an analyst: {e}")))?;
    let Statement::Access(access) = st else {
        return Err(not_logged(format!("a {} statement", st.kind().name())));
    };
    proof
        .verify(&vitrine_tlog::leaf_hash(note), log_key, &Verifiers::new())
        .map_err(|e| not_logged(format!("inclusion: {e}")))?;
    Ok(LoggedAccess {
        tenant: tenant.to_owned(),
        access,
        note: note.to_vec(),
        proof: proof.clone(),
    })
}

/// Decrypts the sample a logged access names. The only decryption path.
pub fn release(store: &Store, access: &LoggedAccess) -> Result<Vec<u8>, VaultError> {
    Ok(store.decrypt(&access.tenant, &access.access.sample.0)?)
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
    store: &'a Store,
    config: &'a Config,
    intake_key: &'a SignerKey,
    log: LogClient,
}

impl<'a> Vault<'a> {
    /// A vault over `store`, logging to the configured log.
    pub fn new(
        store: &'a Store,
        config: &'a Config,
        intake_key: &'a SignerKey,
    ) -> Result<Self, VaultError> {
        Ok(Vault {
            store,
            config,
            intake_key,
            log: LogClient::new(&config.log_url, config.log_key.clone())?,
        })
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
    /// waits until it is proven included, then decrypts. `hook` runs after
    /// logging and before release (tests stop the vault there).
    pub fn open(
        &self,
        sample: &[u8; 32],
        tenant: Option<&str>,
        purpose: &str,
        analyst: &SignerKey,
        now: u64,
        hook: &mut dyn FnMut(Stage) -> Result<(), VaultError>,
    ) -> Result<Released, VaultError> {
        let vkey = analyst.verifier();
        if !self.config.analysts.contains(&vkey) {
            return Err(VaultError::NotAnAnalyst {
                name: analyst.name().to_owned(),
            });
        }
        let tenant = self.resolve(sample, tenant)?;
        let access = Access {
            who: Token::new(analyst.name()).map_err(|e| VaultError::BadValue {
                field: "who",
                reason: e.to_string(),
            })?,
            purpose: Text::new(purpose).map_err(|e| VaultError::BadValue {
                field: "purpose",
                reason: e.to_string(),
            })?,
            sample: StSha(*sample),
            time: now,
        };
        let note = Statement::Access(access.clone())
            .sign(analyst)
            .map_err(|e| VaultError::Sign(e.to_string()))?;
        let index = self.log.add(&note)?;
        self.store.record_event(
            &tenant,
            &EventRow {
                sha256: hex::encode(sample),
                kind: "access".into(),
                who: Some(access.who.as_str().to_owned()),
                detail: access.purpose.as_str().to_owned(),
                time: now,
                note: String::from_utf8_lossy(&note).into_owned(),
                log_index: Some(index),
            },
        )?;
        if std::env::var(FAILPOINT_ENV).as_deref() == Ok("after-access-logged") {
            // Stands in for a crash between logging and releasing.
            std::process::abort();
        }
        hook(Stage::AccessLogged)?;
        let proof = self.log.prove(&note, index)?;
        let logged = verify_access(self.config, &tenant, &note, &proof)?;
        let plaintext = release(self.store, &logged)?;
        Ok(Released {
            access: logged,
            index,
            plaintext,
        })
    }

    /// Destroys a sample (content and data key) and logs a `deletion`
    /// statement signed by the intake key. If the sample was destroyed
    /// before but its deletion not logged, logs it now.
    pub fn delete(
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
        self.store.destroy(tenant, sample, now)?;
        let note = Statement::Deletion(Deletion {
            sample: StSha(*sample),
            reason: reason_text,
            time: now,
        })
        .sign(self.intake_key)
        .map_err(|e| VaultError::Sign(e.to_string()))?;
        let index = self.log.add(&note)?;
        self.store.set_deletion_logged(tenant, sample)?;
        self.store.record_event(
            tenant,
            &EventRow {
                sha256: hex::encode(sample),
                kind: "deletion".into(),
                who: None,
                detail: reason.to_owned(),
                time: now,
                note: String::from_utf8_lossy(&note).into_owned(),
                log_index: Some(index),
            },
        )?;
        Ok(Deleted {
            tenant: tenant.to_owned(),
            sample: *sample,
            index,
        })
    }

    /// Destroys every sample past its tenant's retention period (and logs
    /// deletions that were not logged yet).
    pub fn expire(&self, now: u64) -> Result<Vec<Deleted>, VaultError> {
        let mut out = Vec::new();
        for t in &self.config.tenants {
            let cutoff = now.saturating_sub(t.retention_days.saturating_mul(86_400));
            for sample in self.store.due(&t.id, cutoff)? {
                let reason = format!("retention period of {} days expired", t.retention_days);
                out.push(self.delete(&sample, &t.id, &reason, now)?);
            }
        }
        Ok(out)
    }

    /// The log client.
    pub fn log(&self) -> &LogClient {
        &self.log
    }
}
