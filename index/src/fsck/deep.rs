//! The deep check's reading: every blob read back and re-hashed, and where each
//! blob is used (to name the paths a damaged one breaks).

use std::collections::{BTreeSet, HashMap};

use tl_wal::{LogReader, Lsn};

use crate::catalog::{
    read_verified, BlockCache, Catalog, CheckpointIndex, PartProblem, PathChange, StoredBlob,
};
use crate::types::BlobHash;

/// A blob that does not read back: the LSN of the part that failed, and why.
pub(super) struct Unreadable {
    pub(super) lsn: Lsn,
    pub(super) why: String,
}

/// Reads a blob's parts back and checks its hash; the error names the part's LSN.
pub(super) fn rehash(
    reader: &LogReader,
    hash: &BlobHash,
    blob: &StoredBlob,
    blobs: &HashMap<BlobHash, StoredBlob>,
    blocks: &mut BlockCache,
) -> Result<(), Unreadable> {
    let mut read = |lsn: Lsn| reader.read(lsn);
    read_verified(hash, blob, blobs, &mut read, blocks, &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| {
            let why = match e.problem {
                PartProblem::Read(e) => e.to_string(),
                PartProblem::Decode(e) => e.to_string(),
                PartProblem::NotABlobPart => "the record is not a blob part".into(),
                PartProblem::OtherBlobsPart => "the record is another blob's part".into(),
                PartProblem::Write(e) => e.to_string(),
                PartProblem::Length { read, expected } => {
                    format!("{read} bytes read, {expected} expected")
                }
                PartProblem::Hash => "content does not match its hash".into(),
                PartProblem::MissingChunk(c) => format!("chunk {} is not in the log", c.to_hex()),
            };
            Unreadable { lsn: e.lsn, why }
        })
}

/// Where a blob is used: the first checkpoint that put it and every path it was put
/// at.
pub(super) struct BlobUse {
    pub(super) first: CheckpointIndex,
    pub(super) paths: BTreeSet<Vec<u8>>,
}

impl BlobUse {
    pub(super) fn first_at(first: CheckpointIndex) -> BlobUse {
        BlobUse {
            first,
            paths: BTreeSet::new(),
        }
    }
}

/// For each blob, where it is used.
pub(super) fn blob_users(catalog: &Catalog) -> HashMap<BlobHash, BlobUse> {
    let mut m: HashMap<BlobHash, BlobUse> = HashMap::new();
    for (i, c) in catalog.checkpoints().iter().enumerate() {
        for ch in &c.changes {
            if let PathChange::Put(p, e) = ch {
                m.entry(e.hash)
                    .or_insert_with(|| BlobUse::first_at(CheckpointIndex::new(i)))
                    .paths
                    .insert(p.as_bytes().to_vec());
            }
        }
    }
    m
}
