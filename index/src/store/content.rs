//! What a capture's scan asks of the store ([`scan::Stored`]): whether content is
//! stored, and a big file's previous chunk list, for the chunker to try in place
//! before cutting again (`index/CHUNKS.md`, "Reading a big file again").

use std::path::PathBuf;

use tl_wal::private_fs::{self, Durability};

use crate::record::{Chunk, Record, CHUNK_PARAMS_V1};
use crate::scan::leaves::Leaves;
use crate::scan::{self, PreviousChunks};
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

    fn previous_chunks(&self, path: &[u8]) -> Option<PreviousChunks> {
        let hash = self.store.catalog.head().get(path)?.hash;
        let previous = PreviousChunks::new(self.chunks_of(&hash)?);
        let leaves = std::fs::read(self.leaves_file(path))
            .ok()
            .and_then(|bytes| Leaves::from_file_bytes(&bytes, &hash));
        Some(match leaves {
            Some(leaves) => previous.with_leaves(leaves),
            None => previous,
        })
    }

    fn keep_leaves(&self, path: &[u8], hash: &BlobHash, leaves: &Leaves) {
        let file = self.leaves_file(path);
        if let Some(dir) = file.parent() {
            if !dir.is_dir() {
                // Raced by another thread of the scan: either made it.
                let _ = private_fs::create_dir(dir);
            }
        }
        // A cache: checked against the content's hash when read back.
        let _ = private_fs::write_atomic(&file, &leaves.to_file_bytes(hash), Durability::Cache);
    }
}

impl StoreContent<'_> {
    /// The leaves cache file of `path`: `.tl/index/leaves/`, named by the
    /// path's hash (one file per big file, replaced at each read).
    fn leaves_file(&self, path: &[u8]) -> PathBuf {
        let name = blake3::hash(path).to_hex();
        self.store
            .layout
            .index_dir()
            .join("leaves")
            .join(&name.as_str()[..32])
    }
}

/// The store for a scan that stores nothing (`tl status`): every content counts
/// as stored, and big files are still read against their previous chunks.
pub(super) struct AllStored<'a>(pub(super) StoreContent<'a>);

impl scan::Stored for AllStored<'_> {
    fn has_blob(&self, _hash: &BlobHash) -> bool {
        true
    }

    fn previous_chunks(&self, path: &[u8]) -> Option<PreviousChunks> {
        self.0.previous_chunks(path)
    }

    fn keep_leaves(&self, _path: &[u8], _hash: &BlobHash, _leaves: &Leaves) {
        // Not captured: the next capture reads against the last captured
        // version, whose leaves these are not.
    }
}
