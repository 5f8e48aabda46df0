//! What a capture's scan asks of the store ([`scan::Stored`]): whether content is
//! stored, and a big file's previous chunk list, for the chunker to try in place
//! before cutting again (`index/CHUNKS.md`, "Reading a big file again").

use crate::record::{Chunk, Record, CHUNK_PARAMS_V1};
use crate::scan;
use crate::types::BlobHash;

use super::held::Held;
use super::Store;

/// The store as a capture's scan sees it.
pub(super) struct StoreContent<'a> {
    store: &'a Store,
}

impl<'a> StoreContent<'a> {
    pub(super) fn new(store: &'a Store) -> StoreContent<'a> {
        StoreContent { store }
    }

    /// The chunks of content `hash`, in order, when it is stored as chunk lists
    /// cut with the current parameters; `None` otherwise, or when a list cannot
    /// be read back (the chunker then cuts every chunk itself: same chunks).
    fn chunks_of(&self, hash: &BlobHash) -> Option<Vec<Chunk>> {
        let in_memory = match &self.store.catalog {
            Held::Full(catalog) => catalog.blobs().get(hash),
            Held::Lean(lean) => lean.incomplete_blobs().get(hash),
        };
        if let Some(blob) = in_memory {
            return from_start(blob.runs.iter().map(|r| (r.offset, r.chunks.clone())));
        }
        let Held::Lean(lean) = &self.store.catalog else {
            return None;
        };
        let mut runs = Vec::new();
        for &lsn in lean.chunk_list_lsns(hash)? {
            let bytes = self.store.raw_record(lsn).ok()?;
            match Record::decode(&bytes).ok()? {
                Record::Chunked {
                    hash: of,
                    params,
                    offset,
                    chunks,
                    ..
                } if of == *hash && params == CHUNK_PARAMS_V1 => runs.push((offset, chunks)),
                // Not the record the catalog said (a log rewritten since):
                // cut every chunk again.
                _ => return None,
            }
        }
        from_start(runs.into_iter())
    }
}

/// The chunks of runs `(offset, chunks)` in content order, if they follow one
/// another from offset 0 (a list that does not is of no use as cut points).
fn from_start(runs: impl Iterator<Item = (u64, Vec<Chunk>)>) -> Option<Vec<Chunk>> {
    let mut all: Vec<Chunk> = Vec::new();
    let mut at = 0u64;
    for (offset, chunks) in runs {
        if offset != at {
            return None;
        }
        at += chunks.iter().map(|c| u64::from(c.len)).sum::<u64>();
        all.extend(chunks);
    }
    (!all.is_empty()).then_some(all)
}

impl scan::Stored for StoreContent<'_> {
    fn has_blob(&self, hash: &BlobHash) -> bool {
        self.store.catalog.has_blob(hash)
    }

    fn previous_chunks(&self, path: &[u8]) -> Option<Vec<Chunk>> {
        let entry = self.store.catalog.head().get(path)?;
        self.chunks_of(&entry.hash)
    }
}

/// The store for a scan that stores nothing (`tl status`): every content counts
/// as stored, and big files are still read against their previous chunks.
pub(super) struct AllStored<'a>(pub(super) StoreContent<'a>);

impl scan::Stored for AllStored<'_> {
    fn has_blob(&self, _hash: &BlobHash) -> bool {
        true
    }

    fn previous_chunks(&self, path: &[u8]) -> Option<Vec<Chunk>> {
        self.0.previous_chunks(path)
    }
}
