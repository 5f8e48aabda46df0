//! `tl clone`: a new store from a remote's newest manifest. The segments are
//! downloaded and checked (pull), written as the new store's log, every cache is
//! rebuilt from that log when the store opens (the catalog is folded, the wal
//! checks every frame), and the tree (newest or at T) is materialized by restore,
//! so every path-safety rule applies to the remote's bytes.

use std::path::{Path, PathBuf};

use super::backend::Backend;
use super::crypt::Identities;
use super::error::io;
use super::{pull, RemoteError, Result};
use crate::restore::{materialize_fresh_root, MaterializeReport};
use crate::store::Store;

/// What to clone.
pub struct CloneOptions<'a> {
    /// The checkpoint to materialize (a time expression), else the newest.
    pub at: Option<String>,
    /// Identities for an encrypted remote.
    pub identities: Option<&'a Identities>,
}

/// What a clone did.
#[derive(Clone, Debug, Default)]
pub struct CloneReport {
    /// The project root made.
    pub root: PathBuf,
    /// The manifest generation cloned.
    pub generation: u64,
    /// Segments downloaded.
    pub segments: usize,
    /// Bytes downloaded (objects as stored).
    pub bytes: u64,
    /// Checkpoints in the cloned history.
    pub checkpoints: usize,
    /// The checkpoint materialized (its id), None when the history has none.
    pub materialized: Option<String>,
    /// What was written.
    pub written: MaterializeReport,
}

/// Clones the remote behind `backend` into `dir` (missing or empty).
pub fn clone(backend: &Backend, dir: &Path, opts: &CloneOptions) -> Result<CloneReport> {
    let made = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RemoteError::NotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            true
        }
        Err(e) => return Err(io(dir)(e)),
    };
    let manifest = match pull::newest_manifest(backend, opts.identities) {
        Ok(m) => m,
        Err(e) => {
            undo(dir, made);
            return Err(e);
        }
    };
    let result = (|| {
        let root = Store::create_empty(dir)?;
        let layout = crate::layout::Layout::new(&root);
        let bytes = pull::download(
            backend,
            &manifest,
            &manifest.segments,
            opts.identities,
            &layout.log_dir(),
        )?;
        Ok::<_, RemoteError>((root, bytes))
    })();
    let opened = result.and_then(|(root, bytes)| {
        let store = Store::open(&root)?;
        if let Some(d) = store.damage().first() {
            return Err(RemoteError::Damaged {
                object: format!("the cloned log at LSN {}", d.lsn),
                why: d.what.clone(),
            });
        }
        // The last shipped segment stays as shipped: the clone writes after it.
        store.seal_log()?;
        Ok((root, bytes, store))
    });
    let (root, bytes, store) = match opened {
        Ok(r) => r,
        Err(e) => {
            undo(dir, made);
            return Err(e);
        }
    };
    let mut report = CloneReport {
        root: root.clone(),
        generation: manifest.generation,
        segments: manifest.segments.len(),
        bytes,
        checkpoints: store.checkpoints().len(),
        ..Default::default()
    };
    let target = match &opts.at {
        Some(t) => Some(store.resolve(t)?),
        None => store.last_index(),
    };
    if let Some(idx) = target {
        let tree = store.tree_at(idx)?;
        report.written = materialize_fresh_root(&store, &tree)?;
        report.materialized = Some(store.checkpoints()[idx].id.clone());
    }
    Ok(report)
}

/// Removes what a failed clone made before any tree was written.
fn undo(dir: &Path, made: bool) {
    if made {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        let _ = std::fs::remove_dir_all(dir.join(crate::layout::TL_DIR));
    }
}
