//! Where Git objects go (a pack, or nowhere while recomputing), and the blob ids of
//! stored content, hashed in rounds of bounded size; new blobs are encoded (whole or
//! as deltas, [`window`]) a round at a time.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::pack::{self, object_id, Kind, Oid, PackWriter};
use super::window::{self, Encoded, NewBlob};
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

impl Objects {
    /// Puts an object given as a delta or whole (see [`window`]).
    fn put_encoded(
        &mut self,
        kind: Kind,
        id: Oid,
        raw_len: u64,
        e: Encoded,
    ) -> std::io::Result<()> {
        match e {
            Encoded::Whole(d) => self.put_deflated(kind, id, raw_len, Some(&d), &[]),
            Encoded::Delta {
                base,
                len,
                deflated,
            } => {
                if !self.known.insert(id) || !self.write {
                    return Ok(());
                }
                let pack = self.pack.as_mut().expect("a delta's base is in the pack");
                pack.add_delta(kind, id, raw_len, &base, len, &deflated)
            }
        }
    }

    /// The delta chain depth of `id` in the pack being written; `None` when it is
    /// not in it (in an earlier pack, or nothing is being written).
    pub(super) fn depth(&self, id: &Oid) -> Option<u32> {
        self.pack.as_ref().and_then(|p| p.depth(id))
    }

    /// Puts `raw`, as a delta against one of `bases` (id, content; earlier versions
    /// of the same object) when one is in this pack and that is smaller.
    pub(super) fn put_against(
        &mut self,
        kind: Kind,
        id: Oid,
        raw: &[u8],
        bases: &[(Oid, &[u8])],
    ) -> std::io::Result<()> {
        if self.known.contains(&id) || !self.write {
            self.known.insert(id);
            return Ok(());
        }
        let usable: Vec<(Oid, u32, &[u8])> = bases
            .iter()
            .filter_map(|(b, content)| self.depth(b).map(|d| (*b, d, *content)))
            .collect();
        if usable.is_empty() {
            return self.put(kind, id, raw);
        }
        let e = window::encode_one(raw, &usable);
        self.put_encoded(kind, id, raw.len() as u64, e)
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

/// A blob a commit needs an id for: its hash and raw size (for the rounds), the
/// [`window::name_hash`] of its path and the previous version of that path (for
/// deltas).
#[derive(Clone, Copy, Debug)]
pub(super) struct WantedBlob {
    pub(super) hash: BlobHash,
    pub(super) size: u64,
    pub(super) name: u32,
    pub(super) previous: Option<BlobHash>,
}

impl WantedBlob {
    /// The blob of `entry`, path unknown.
    pub(super) fn of(entry: &Entry) -> WantedBlob {
        WantedBlob {
            hash: entry.hash,
            size: entry.size,
            name: 0,
            previous: None,
        }
    }

    /// The blob of `entry` at `path`, whose previous version (if any) had content
    /// `previous`.
    pub(super) fn at(path: &[u8], entry: &Entry, previous: Option<BlobHash>) -> WantedBlob {
        WantedBlob {
            hash: entry.hash,
            size: entry.size,
            name: window::name_hash(path),
            previous: previous.filter(|p| *p != entry.hash),
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
            let read: Vec<(WantedBlob, Oid, Vec<u8>)> = missing[start..end]
                .par_iter()
                .map(|w| -> Result<_, StoreError> {
                    let bytes = store.blob_bytes(&w.hash)?;
                    let id = object_id(Kind::Blob, &bytes);
                    Ok((*w, id, bytes))
                })
                .collect::<Result<_, _>>()?;
            let mut to_write = Vec::new();
            for (w, id, bytes) in read {
                self.ids.insert(w.hash, id);
                self.new.push((w.hash, id));
                self.bytes += bytes.len() as u64;
                if !out.write || out.known.contains(&id) {
                    out.known.insert(id);
                    continue;
                }
                // The previous version is a base only if this pack has it.
                let previous = w.previous.and_then(|p| {
                    let pid = *self.ids.get(&p)?;
                    Some((p, pid, out.depth(&pid)?))
                });
                to_write.push(NewBlob {
                    id,
                    bytes,
                    name: w.name,
                    previous,
                });
            }
            let encoded = window::encode_round(to_write, &|h| store.blob_bytes(h))?;
            for (id, len, e) in encoded {
                out.put_encoded(Kind::Blob, id, len, e)
                    .map_err(|source| ExportError::Io {
                        path: out.pack_dir.clone(),
                        source,
                    })?;
            }
            progress(self.bytes);
            start = end;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// The export
