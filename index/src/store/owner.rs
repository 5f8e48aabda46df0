//! `.tl` itself must be a real directory of the user running tl: a symlink, or a
//! directory another uid owns, is refused before anything in it is read or
//! written. Another local user could otherwise point `.tl` at a store of theirs
//! (and rewrite the history tl replays), or plant one in a directory above a
//! project (`/tmp/.tl`) and receive everything tl captures there.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::{io, Result, StoreError};

/// What is at a project's `.tl`.
pub(crate) enum TlEntry {
    /// Nothing.
    Missing,
    /// Something that is no directory (a file of another tool): not a store.
    NotADirectory,
    /// A directory of this uid: the store.
    Ours,
}

/// Looks at `tl` without following it: a symlink or a directory owned by
/// another uid is refused ([`StoreError::TlSymlink`], [`StoreError::TlNotOurs`]).
pub(crate) fn check_tl_dir(tl: &Path) -> Result<TlEntry> {
    let meta = match std::fs::symlink_metadata(tl) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TlEntry::Missing),
        Err(e) => return Err(io(tl)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(StoreError::TlSymlink {
            path: tl.to_path_buf(),
            target: std::fs::read_link(tl).unwrap_or_default(),
        });
    }
    if !meta.is_dir() {
        return Ok(TlEntry::NotADirectory);
    }
    check_owner(tl, &meta)?;
    Ok(TlEntry::Ours)
}

fn check_owner(tl: &Path, meta: &Metadata) -> Result<()> {
    let ours = rustix::process::geteuid().as_raw();
    if meta.uid() == ours {
        Ok(())
    } else {
        Err(StoreError::TlNotOurs {
            path: tl.to_path_buf(),
            owner: meta.uid(),
            ours,
        })
    }
}
