//! Copying a log from one backend to another (`vitrine log migrate`): the
//! data directory to PostgreSQL and back.

use sha2::{Digest, Sha256};
use vitrine_note::{VerifierKey, Verifiers};
use vitrine_tlog::{bundle_for_leaf, decode_entry_bundle, open_checkpoint, tiles_for_size};

use crate::storage::Storage;
use crate::Error;

/// Why a migration was refused before anything was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The source has no checkpoint.
    #[error("the source log has no checkpoint: nothing to migrate")]
    EmptySource,
    /// The source signed a checkpoint it has not published yet.
    #[error(
        "the source log signed a checkpoint of size {signed} but published only {published}: \
         start it once so that it publishes the pending checkpoint, then migrate"
    )]
    Pending {
        /// The size of the signed checkpoint.
        signed: u64,
        /// The size of the published one.
        published: u64,
    },
    /// The destination already holds entries.
    #[error("the destination already holds a log of size {size}: migrate only into an empty one")]
    NotEmpty {
        /// Its size.
        size: u64,
    },
    /// Something the source holds is missing or does not verify.
    #[error(transparent)]
    Log(#[from] Error),
}

impl From<crate::StorageError> for MigrateError {
    fn from(e: crate::StorageError) -> Self {
        MigrateError::Log(Error::Storage(e))
    }
}

fn corrupt(what: String) -> MigrateError {
    MigrateError::Log(Error::Corrupt { what })
}

/// Copies the log in `from` (whose checkpoints `vkey` signs) into `to`:
/// every hash tile and entry bundle of its published tree, the
/// deduplication index rebuilt from the entries, the signed checkpoint,
/// and last the published checkpoint, the commit point (a migration cut
/// short leaves a destination with no published log, which can simply be
/// migrated into again). The destination must be empty or at size 0. Says
/// its progress through `say`; returns the tree size.
pub fn migrate(
    from: &dyn Storage,
    to: &dyn Storage,
    vkey: &VerifierKey,
    say: &mut dyn FnMut(&str),
) -> Result<u64, MigrateError> {
    let size_of = |bytes: &[u8], what: &str| -> Result<u64, MigrateError> {
        Ok(open_checkpoint(bytes, vkey, &Verifiers::new())
            .map_err(|e| corrupt(format!("{what}: {e}")))?
            .checkpoint
            .size)
    };
    let published = from.read_checkpoint()?.ok_or(MigrateError::EmptySource)?;
    let size = size_of(&published, "the source's published checkpoint")?;
    let signed = from.signed_checkpoint()?;
    if let Some(s) = &signed {
        let signed_size = size_of(s, "the source's signed checkpoint")?;
        if signed_size > size {
            return Err(MigrateError::Pending {
                signed: signed_size,
                published: size,
            });
        }
    }
    let existing = to.read_checkpoint()?;
    if let Some(e) = &existing {
        let at = size_of(e, "the destination's checkpoint")?;
        if at > 0 {
            return Err(MigrateError::NotEmpty { size: at });
        }
    }

    let tiles = tiles_for_size(size);
    for chunk in tiles.chunks(256) {
        let mut batch = Vec::with_capacity(chunk.len());
        for path in chunk {
            let data = from
                .read_tile(path)?
                .ok_or_else(|| corrupt(format!("tile {path} of size {size} is missing")))?;
            batch.push((*path, data));
        }
        to.write_tiles(&batch)?;
    }
    say(&format!("copied {} hash tiles", tiles.len()));

    let mut bundles = 0u64;
    let mut leaf = 0u64;
    while leaf < size {
        let path = bundle_for_leaf(size, leaf).expect("invariant: leaf < size");
        let data = from
            .read_tile(&path)?
            .ok_or_else(|| corrupt(format!("entry bundle {path} is missing")))?;
        let entries =
            decode_entry_bundle(&data).map_err(|e| corrupt(format!("entry bundle {path}: {e}")))?;
        if entries.len() != usize::from(path.width()) {
            return Err(corrupt(format!(
                "entry bundle {path} holds {} entries",
                entries.len()
            )));
        }
        let rows: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (Sha256::digest(e).into(), leaf + i as u64))
            .collect();
        to.write_tiles(&[(path, data)])?;
        to.record(&rows)?;
        leaf += entries.len() as u64;
        bundles += 1;
    }
    say(&format!(
        "copied {bundles} entry bundles ({size} entries) and their index"
    ));

    to.set_signed_checkpoint(signed.as_deref().unwrap_or(&published))?;
    to.swap_checkpoint(existing.as_deref(), &published)?;
    say(&format!("published checkpoint of size {size} copied"));
    Ok(size)
}
