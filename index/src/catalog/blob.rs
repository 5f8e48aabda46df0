//! A blob's content in the log: whether its parts are all there, and reading it
//! back verified (each part decoded within bounds, the whole re-hashed). The
//! store's reads and `fsck --deep` both read content through [`read_verified`].

use std::io::Write;

use tl_wal::{Lsn, ReadError};

use crate::record::{self, BlockMember, DecodeError, Record};
use crate::types::BlobHash;

/// How many decompressed solid blocks a [`BlockCache`] keeps.
const BLOCKS_KEPT: usize = 4;

/// The last few solid blocks read, decompressed, so that reading the files of
/// one block one after another (a restore, an export, fsck) decompresses it once.
/// At most [`BLOCKS_KEPT`] blocks of at most `BLOCK_RAW_MAX` bytes each.
#[derive(Debug, Default)]
pub struct BlockCache {
    /// Newest first.
    blocks: Vec<CachedBlock>,
}

#[derive(Debug)]
struct CachedBlock {
    lsn: Lsn,
    members: Vec<BlockMember>,
    raw: Vec<u8>,
}

impl BlockCache {
    /// An empty cache.
    pub fn new() -> BlockCache {
        BlockCache::default()
    }

    /// The raw content of member `hash` of the block at `lsn`, if that block is
    /// cached (moved to the front).
    fn member(&mut self, lsn: Lsn, hash: &BlobHash) -> Option<Result<Vec<u8>, PartProblem>> {
        let i = self.blocks.iter().position(|b| b.lsn == lsn)?;
        let block = self.blocks.remove(i);
        let found = slice_member(&block.members, &block.raw, hash);
        self.blocks.insert(0, block);
        Some(found)
    }

    fn insert(&mut self, lsn: Lsn, members: Vec<BlockMember>, raw: Vec<u8>) {
        self.blocks.truncate(BLOCKS_KEPT - 1);
        self.blocks.insert(0, CachedBlock { lsn, members, raw });
    }
}

/// The content of the first member `hash` of a block whose raw bytes are `raw`.
fn slice_member(
    members: &[BlockMember],
    raw: &[u8],
    hash: &BlobHash,
) -> Result<Vec<u8>, PartProblem> {
    let mut start = 0u64;
    for m in members {
        if m.hash == *hash {
            let end = start + m.raw_len;
            return raw
                .get(start as usize..end as usize)
                .map(<[u8]>::to_vec)
                .ok_or(PartProblem::Length {
                    read: raw.len() as u64,
                    expected: BlockMember::total(members),
                });
        }
        start += m.raw_len;
    }
    Err(PartProblem::OtherBlobsPart)
}

/// Where a blob's content is in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Length of the content.
    pub raw_len: u64,
    /// Its parts found so far, sorted by offset.
    pub parts: Vec<PartAt>,
}

/// One part of a blob: where in the content, and the LSN of its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartAt {
    /// Offset of the part in the content.
    pub offset: u64,
    /// LSN of its Blob record.
    pub lsn: Lsn,
}

impl StoredBlob {
    /// True when the parts cover the whole content from offset 0 without a hole.
    pub fn is_complete(&self) -> bool {
        if self.raw_len == 0 {
            return !self.parts.is_empty();
        }
        let step = crate::record::BLOB_PART_MAX_RAW as u64;
        let needed = self.raw_len.div_ceil(step);
        self.parts.len() as u64 == needed
            && self
                .parts
                .iter()
                .enumerate()
                .all(|(i, p)| p.offset == i as u64 * step)
    }
}

/// Why a blob did not read back, and at which part.
#[derive(Debug)]
pub struct BlobReadError {
    /// LSN of the part concerned (the last part for a wrong length or hash).
    pub lsn: Lsn,
    /// What went wrong there.
    pub problem: PartProblem,
}

/// What went wrong reading a blob back.
#[derive(Debug)]
pub enum PartProblem {
    /// The part's record cannot be read from the log.
    Read(ReadError),
    /// The record, or its compressed data, does not decode.
    Decode(DecodeError),
    /// The record is not a blob part.
    NotABlobPart,
    /// The record is a part of another blob, or at another offset.
    OtherBlobsPart,
    /// Writing the content out failed.
    Write(std::io::Error),
    /// The parts hold another number of bytes than the blob's length.
    Length {
        /// Bytes the parts held.
        read: u64,
        /// The blob's length.
        expected: u64,
    },
    /// The content does not hash to the blob's hash.
    Hash,
}

/// Reads the content of `hash`, stored as `blob`, to `out`, reading each part's
/// record with `read` (a part may be a Blob record, or a member of a solid Block
/// record, decompressed once through `blocks`); returns the bytes written. The
/// content is checked against its length and hash only once written: a caller
/// that must not keep unverified bytes writes to a buffer.
pub fn read_verified(
    hash: &BlobHash,
    blob: &StoredBlob,
    read: &mut dyn FnMut(Lsn) -> Result<Vec<u8>, ReadError>,
    blocks: &mut BlockCache,
    out: &mut dyn Write,
) -> Result<u64, BlobReadError> {
    let at = |lsn: Lsn| move |problem: PartProblem| BlobReadError { lsn, problem };
    let mut hasher = blake3::Hasher::new();
    let mut written = 0u64;
    let mut last = Lsn::ZERO;
    let raw_len = blob.raw_len;
    for &PartAt { offset, lsn } in &blob.parts {
        last = lsn;
        let raw = match blocks.member(lsn, hash) {
            Some(cached) => cached.map_err(at(lsn))?,
            None => read_part(hash, raw_len, offset, lsn, read, blocks).map_err(at(lsn))?,
        };
        hasher.update(&raw);
        out.write_all(&raw)
            .map_err(|e| at(lsn)(PartProblem::Write(e)))?;
        written += raw.len() as u64;
    }
    if written != raw_len {
        return Err(at(last)(PartProblem::Length {
            read: written,
            expected: raw_len,
        }));
    }
    if BlobHash(*hasher.finalize().as_bytes()) != *hash {
        return Err(at(last)(PartProblem::Hash));
    }
    Ok(written)
}

/// The raw bytes of the part of `hash` at `offset` held by the record at `lsn`:
/// a Blob part, or a Block member (the block is decompressed and cached).
fn read_part(
    hash: &BlobHash,
    raw_len: u64,
    offset: u64,
    lsn: Lsn,
    read: &mut dyn FnMut(Lsn) -> Result<Vec<u8>, ReadError>,
    blocks: &mut BlockCache,
) -> Result<Vec<u8>, PartProblem> {
    let bytes = read(lsn).map_err(PartProblem::Read)?;
    match Record::decode(&bytes).map_err(PartProblem::Decode)? {
        Record::Blob {
            hash: h,
            offset: o,
            codec,
            data,
            ..
        } => {
            if h != *hash || o != offset {
                return Err(PartProblem::OtherBlobsPart);
            }
            record::decompress_part(codec, &data, record::part_raw_len_max(raw_len, o))
                .map_err(PartProblem::Decode)
        }
        Record::Block {
            members,
            codec,
            data,
        } => {
            if offset != 0 {
                return Err(PartProblem::OtherBlobsPart);
            }
            let total = BlockMember::total(&members);
            let raw = record::decompress_part(codec, &data, total).map_err(PartProblem::Decode)?;
            if raw.len() as u64 != total {
                return Err(PartProblem::Length {
                    read: raw.len() as u64,
                    expected: total,
                });
            }
            let found = slice_member(&members, &raw, hash);
            blocks.insert(lsn, members, raw);
            found
        }
        _ => Err(PartProblem::NotABlobPart),
    }
}
