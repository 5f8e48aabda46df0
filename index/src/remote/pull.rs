//! Reading a remote back: its newest manifest (one LIST), and segments downloaded
//! in parallel, each checked before it is trusted (the stored object's size and
//! BLAKE3, then, decrypted, the segment's size, BLAKE3 and header) and written
//! into a log directory. The wal checks every frame's crc when the store opens.

use std::io::Write;
use std::path::Path;

use tl_wal::format::SegmentHeader;
use tl_wal::private_fs;

use super::backend::Backend;
use super::crypt::{self, Identities};
use super::error::io;
use super::layout;
use super::manifest::{Manifest, SegmentEntry, MAX_BYTES};
use super::{RemoteError, Result};

/// Segments downloaded at once.
pub const PARALLEL: usize = 4;

/// The newest manifest's generation and object name, None when there is none.
pub fn newest_manifest_name(backend: &Backend) -> Result<Option<(u64, String)>> {
    let listed = backend.list(&layout::manifest_prefix())?;
    Ok(listed
        .into_iter()
        .filter_map(|(name, _)| layout::parse_manifest_name(&name).map(|g| (g, name)))
        .max())
}

/// The newest manifest, decrypted with `identities` when it is encrypted.
pub fn newest_manifest(backend: &Backend, identities: Option<&Identities>) -> Result<Manifest> {
    let Some((_, object)) = newest_manifest_name(backend)? else {
        return Err(RemoteError::NoManifest {
            remote: backend.url().to_string(),
            prefix: layout::manifest_prefix(),
        });
    };
    let bytes = backend.get(&object, MAX_BYTES as u64)?;
    let plain = crypt::open_object(&object, bytes, identities)?;
    Manifest::decode(&object, &plain)
}

/// The segment's bytes from the object's, checked against the manifest.
pub fn check_segment(
    e: &SegmentEntry,
    repo_id: [u8; 16],
    stored: Vec<u8>,
    identities: Option<&Identities>,
) -> Result<Vec<u8>> {
    let object = e.object();
    let damaged = |why: String| RemoteError::Damaged {
        object: object.clone(),
        why,
    };
    if stored.len() as u64 != e.stored_size {
        return Err(damaged(format!(
            "{} bytes, the manifest says {}",
            stored.len(),
            e.stored_size
        )));
    }
    if *blake3::hash(&stored).as_bytes() != e.stored_hash {
        return Err(damaged("its BLAKE3 is not the manifest's".into()));
    }
    let plain = crypt::open_object(&object, stored, identities)?;
    if plain.len() as u64 != e.size || *blake3::hash(&plain).as_bytes() != e.hash {
        return Err(damaged(
            "the segment inside is not the one the manifest names".into(),
        ));
    }
    match SegmentHeader::decode(&plain) {
        Ok(h) if h.base_lsn == e.base && h.salt == e.salt && h.repo_id == repo_id => Ok(plain),
        _ => Err(damaged("its segment header is not the manifest's".into())),
    }
}

/// Downloads `entries` of `manifest` into the log directory `dir` (which must
/// exist), at most [`PARALLEL`] at once; returns the bytes downloaded.
pub fn download(
    backend: &Backend,
    manifest: &Manifest,
    entries: &[SegmentEntry],
    identities: Option<&Identities>,
    dir: &Path,
) -> Result<u64> {
    let names: Vec<(String, u64)> = entries
        .iter()
        .map(|e| (e.object(), e.stored_size))
        .collect();
    let mut bytes = 0u64;
    backend.get_each(&names, PARALLEL, &mut |i, got| {
        let e = &entries[i];
        let stored = got?;
        bytes += stored.len() as u64;
        let plain = check_segment(e, manifest.repo_id, stored, identities)?;
        let path = dir.join(e.file_name());
        let mut f = private_fs::create_new(&path).map_err(io(&path))?;
        f.write_all(&plain).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        Ok(())
    })?;
    let d = std::fs::File::open(dir).map_err(io(dir))?;
    d.sync_all().map_err(io(dir))?;
    Ok(bytes)
}
