//! Where Git objects go (a pack, or nowhere while recomputing), and the blob ids of
//! stored content, hashed in rounds of bounded size.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::pack::{self, object_id, Kind, Oid, PackWriter};
use super::ExportError;
use crate::store::{Store, StoreError};
use crate::types::{BlobHash, Entry};

/// Where objects go: a pack when writing; nowhere while recomputing what the
/// repository already has.
pub(super) struct Objects {
    pub(super) pack_dir: PathBuf,
    pub(super) pack: Option<PackWriter>,
    /// Objects the repository has or this pack holds.
    pub(super) known: HashSet<Oid>,
    pub(super) write: bool,
}

impl Objects {
    pub(super) fn put(&mut self, kind: Kind, id: Oid, raw: &[u8]) -> std::io::Result<()> {
        self.put_deflated(kind, id, raw.len() as u64, None, raw)
    }

    pub(super) fn put_deflated(
        &mut self,
        kind: Kind,
        id: Oid,
        raw_len: u64,
        deflated: Option<&[u8]>,
        raw: &[u8],
    ) -> std::io::Result<()> {
        if !self.known.insert(id) || !self.write {
            return Ok(());
        }
        if self.pack.is_none() {
            self.pack = Some(PackWriter::create(&self.pack_dir)?);
        }
        let pack = self.pack.as_mut().expect("just created");
        match deflated {
            Some(d) => pack.add(kind, id, raw_len, d),
            None => pack.add(kind, id, raw_len, &pack::deflate(raw)),
        }
    }
}

impl Drop for Objects {
    /// An export that fails leaves no temporary pack behind.
    fn drop(&mut self) {
        if let Some(pack) = self.pack.take() {
            pack.abandon();
        }
    }
}

// ---------------------------------------------------------------------------------
// Blobs

/// Blob ids by content hash, and the new ones since the last `take_new`.
pub(super) struct Blobs {
    pub(super) ids: HashMap<BlobHash, Oid>,
    pub(super) new: Vec<(BlobHash, Oid)>,
    pub(super) bytes: u64,
}

/// A blob a commit needs an id for: its hash and raw size (for the rounds).
#[derive(Clone, Copy, Debug)]
pub(super) struct WantedBlob {
    pub(super) hash: BlobHash,
    pub(super) size: u64,
}

impl WantedBlob {
    /// The blob of `entry`.
    pub(super) fn of(entry: &Entry) -> WantedBlob {
        WantedBlob {
            hash: entry.hash,
            size: entry.size,
        }
    }
}

/// Content read per parallel round, so memory stays bounded.
pub(super) const BLOB_ROUND_BYTES: u64 = 64 << 20;

impl Blobs {
    /// Makes sure every hash in `wanted` has an id, reading, hashing and (when
    /// writing) deflating the missing ones on all cores.
    pub(super) fn resolve(
        &mut self,
        store: &Store,
        wanted: Vec<WantedBlob>,
        out: &mut Objects,
        progress: &dyn Fn(u64),
    ) -> Result<(), ExportError> {
        use rayon::prelude::*;
        let mut seen = HashSet::new();
        let missing: Vec<WantedBlob> = wanted
            .into_iter()
            .filter(|w| !self.ids.contains_key(&w.hash) && seen.insert(w.hash))
            .collect();
        let mut start = 0;
        while start < missing.len() {
            let mut end = start;
            let mut sum = 0;
            while end < missing.len()
                && (end == start || sum + missing[end].size <= BLOB_ROUND_BYTES)
            {
                sum += missing[end].size;
                end += 1;
            }
            let write = out.write;
            let known = &out.known;
            let done: Vec<(BlobHash, Oid, u64, Option<Vec<u8>>)> = missing[start..end]
                .par_iter()
                .map(|WantedBlob { hash: h, .. }| -> Result<_, StoreError> {
                    let bytes = store.blob_bytes(h)?;
                    let id = object_id(Kind::Blob, &bytes);
                    let deflated = (write && !known.contains(&id)).then(|| pack::deflate(&bytes));
                    Ok((*h, id, bytes.len() as u64, deflated))
                })
                .collect::<Result<_, _>>()?;
            for (h, id, len, deflated) in done {
                if let Some(d) = &deflated {
                    out.put_deflated(Kind::Blob, id, len, Some(d), &[])
                        .map_err(|source| ExportError::Io {
                            path: out.pack_dir.clone(),
                            source,
                        })?;
                } else {
                    out.known.insert(id);
                }
                self.ids.insert(h, id);
                self.new.push((h, id));
                self.bytes += len;
            }
            progress(self.bytes);
            start = end;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// The export
