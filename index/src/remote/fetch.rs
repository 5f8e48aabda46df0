//! `tl fetch`: one file's content at T, downloading only the segments it needs:
//! for a time, the log up to the last segment holding a checkpoint at or before
//! it (the manifest records each segment's checkpoint times); for `@LSN`, up to
//! the segment holding that LSN; for a pin or an id, the whole log. The segments
//! go into a scratch store the caller provides, which is opened read-only.

use std::io::Write;
use std::path::Path;

use super::backend::Backend;
use super::crypt::Identities;
use super::manifest::SegmentEntry;
use super::{pull, RemoteError, Result};
use crate::store::Store;
use crate::timespec::{self, TimeExpr};
use crate::RepoPath;

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Segments downloaded.
    pub segments: usize,
    /// Segments the remote holds.
    pub segments_total: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// The checkpoint read.
    pub checkpoint: String,
    /// Content bytes written.
    pub written: u64,
}

/// The prefix of `segments` a time expression needs.
pub fn needed(segments: &[SegmentEntry], at: &str) -> usize {
    let parsed = timespec::parse(at, &jiff::Zoned::now());
    let last = match parsed {
        Ok(TimeExpr::Instant(ns)) => segments
            .iter()
            .rposition(|e| e.first_ns.is_some_and(|t| i128::from(t) <= i128::from(ns))),
        Ok(TimeExpr::Window(w)) => segments
            .iter()
            .rposition(|e| e.first_ns.is_some_and(|t| t < w.end)),
        Ok(TimeExpr::Lsn(lsn)) => segments.iter().rposition(|e| e.base <= lsn),
        Ok(TimeExpr::Name(_)) | Err(_) => return segments.len(),
    };
    // Before the first checkpoint: the first segment lets the store say so.
    last.map_or(segments.len().min(1), |i| i + 1)
}

/// Writes the content `path` had at `at` to `out`. `scratch` must be an empty
/// directory; the caller removes it.
pub fn fetch(
    backend: &Backend,
    path: &RepoPath,
    at: &str,
    identities: Option<&Identities>,
    scratch: &Path,
    out: &mut dyn Write,
) -> Result<FetchReport> {
    let manifest = pull::newest_manifest(backend, identities)?;
    let n = needed(&manifest.segments, at);
    let root = Store::create_empty(scratch)?;
    let layout = crate::layout::Layout::new(&root);
    let bytes = pull::download(
        backend,
        &manifest,
        &manifest.segments[..n],
        identities,
        &layout.log_dir(),
    )?;
    let store = Store::open_read_only(&root)?;
    let idx = store.resolve(at)?;
    let id = store.checkpoints()[idx].id.clone();
    let tree = store.tree_at(idx)?;
    let entry = tree
        .get(path.as_bytes())
        .ok_or_else(|| RemoteError::NotInTree {
            path: path.to_string(),
            checkpoint: id.clone(),
        })?;
    let written = store.read_blob(&entry.hash, out)?;
    Ok(FetchReport {
        segments: n,
        segments_total: manifest.segments.len(),
        bytes,
        checkpoint: id,
        written,
    })
}
