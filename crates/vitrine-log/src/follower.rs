//! What a front end that does not sequence serves: the published
//! checkpoint as the database holds it, refreshed, checked against the
//! log's key, and never going backwards.

use std::sync::{Arc, RwLock};

use vitrine_note::{VerifierKey, Verifiers};
use vitrine_tlog::open_checkpoint;

use crate::storage::Storage;
use crate::Error;

/// The published checkpoint a follower serves.
pub(crate) struct View {
    vkey: VerifierKey,
    current: RwLock<(u64, Arc<[u8]>)>,
}

impl View {
    /// The checkpoint `storage` holds now; [`Error::NotInitialized`] for a
    /// database without a log.
    pub(crate) fn load(storage: &dyn Storage, vkey: VerifierKey) -> Result<View, Error> {
        let view = View {
            vkey,
            current: RwLock::new((0, Arc::from(&b""[..]))),
        };
        view.refresh(storage)?;
        Ok(view)
    }

    /// Reads the published checkpoint again. It is served only if it
    /// carries the log's signature (the database is shared: a checkpoint
    /// someone else wrote there is refused, as a leader refuses it) and
    /// is not smaller than the one served so far.
    pub(crate) fn refresh(&self, storage: &dyn Storage) -> Result<(), Error> {
        let bytes = storage.read_checkpoint()?.ok_or(Error::NotInitialized)?;
        self.offer(&bytes)
    }

    /// Serves `bytes` if it is a checkpoint of this log at least as large
    /// as the current one.
    pub(crate) fn offer(&self, bytes: &[u8]) -> Result<(), Error> {
        let size = open_checkpoint(bytes, &self.vkey, &Verifiers::new())
            .map_err(|e| Error::Corrupt {
                what: format!("published checkpoint: {e}"),
            })?
            .checkpoint
            .size;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if size >= current.0 {
            *current = (size, Arc::from(bytes));
        }
        Ok(())
    }

    /// The checkpoint served and its size.
    pub(crate) fn get(&self) -> (u64, Arc<[u8]>) {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
