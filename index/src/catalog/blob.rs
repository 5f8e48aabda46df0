//! A blob's content in the log: whether its parts (or its chunks) are all there,
//! and reading it back verified (each part decoded within bounds, each chunk and
//! the whole re-hashed). The store's reads and `fsck --deep` both read content
//! through [`read_verified`].

use std::collections::HashMap;
use std::io::Write;

use tl_wal::{Lsn, ReadError};

use crate::record::{self, BlockMember, Chunk, DecodeError, Record};
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

/// Where a blob's content is in the log: as parts (Blob records or Block
/// members), or as a list of chunks (Chunked records), or both (the same content
/// stored once each way reads either way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Length of the content.
    pub raw_len: u64,
    /// Its parts found so far, sorted by offset.
    pub parts: Vec<PartAt>,
    /// Its chunk lists found so far, sorted by offset (content over
    /// `CHUNK_MIN_FILE`, `index/CHUNKS.md`).
    pub runs: Vec<ChunkRun>,
}

/// One Chunked record of a blob: the chunks its content holds from `offset` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRun {
    /// Where the first chunk starts in the content.
    pub offset: u64,
    /// LSN of the Chunked record.
    pub lsn: Lsn,
    /// The chunks, in order; each is a blob of its own.
    pub chunks: Vec<Chunk>,
}

impl ChunkRun {
    /// Bytes of content the run covers.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }

    /// True when the run lists no chunk (never for a decoded record).
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
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
    /// A blob known only by its length so far (parts and runs are added as the
    /// fold meets them).
    pub fn new(raw_len: u64) -> StoredBlob {
        StoredBlob {
            raw_len,
            parts: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// True when the whole content can be read: its parts cover it, or its chunk
    /// lists cover it and every chunk is there by `has_chunk`.
    pub fn is_complete(&self, has_chunk: &dyn Fn(&BlobHash) -> bool) -> bool {
        self.parts_complete() || (self.runs_cover() && self.chunks().all(|c| has_chunk(&c.hash)))
    }

    /// Every chunk of the chunk lists, in content order.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.runs.iter().flat_map(|r| r.chunks.iter())
    }

    /// The LSN of the first record holding any of the content (parts first):
    /// reading blobs in this order reads the log forward.
    pub fn first_lsn(&self) -> Option<Lsn> {
        self.parts
            .first()
            .map(|p| p.lsn)
            .or_else(|| self.runs.first().map(|r| r.lsn))
    }

    /// True when the chunk lists cover the whole content from 0 without a hole.
    fn runs_cover(&self) -> bool {
        let mut at = 0u64;
        for run in &self.runs {
            if run.offset != at {
                return false;
            }
            at = at.saturating_add(run.len());
        }
        !self.runs.is_empty() && at == self.raw_len
    }

    /// True when the parts cover the whole content from offset 0 without a hole.
    pub fn parts_complete(&self) -> bool {
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
    /// A chunk the content lists is not in the log (or not whole).
    MissingChunk(BlobHash),
}

/// Reads the content of `hash`, stored as `blob`, to `out`, reading each part's
/// record with `read` (a part may be a Blob record, or a member of a solid Block
/// record, decompressed once through `blocks`); returns the bytes written. Content
/// stored as chunks is read chunk by chunk (each found in `blobs`, read whole and
/// checked against its own hash before it is written), so memory stays at one
/// chunk however big the content. The whole content is checked against its
/// length and hash only once written: a caller that must not keep unverified
/// bytes writes to a temporary it removes on error.
pub fn read_verified(
    hash: &BlobHash,
    blob: &StoredBlob,
    blobs: &HashMap<BlobHash, StoredBlob>,
    read: &mut dyn FnMut(Lsn) -> Result<Vec<u8>, ReadError>,
    blocks: &mut BlockCache,
    out: &mut dyn Write,
) -> Result<u64, BlobReadError> {
    if !blob.parts_complete() && !blob.runs.is_empty() {
        return read_chunked(hash, blob, blobs, read, blocks, out);
    }
    let mut hasher = blake3::Hasher::new();
    let written = read_parts(
        hash,
        blob,
        read,
        blocks,
        &mut HashingWriter {
            out,
            hasher: &mut hasher,
        },
    )?;
    if BlobHash(*hasher.finalize().as_bytes()) != *hash {
        let last = blob.parts.last().map_or(Lsn::ZERO, |p| p.lsn);
        return Err(BlobReadError {
            lsn: last,
            problem: PartProblem::Hash,
        });
    }
    Ok(written)
}

/// A writer that hashes what passes through it.
struct HashingWriter<'a> {
    out: &'a mut dyn Write,
    hasher: &'a mut blake3::Hasher,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes the parts of `blob` to `out` in order and checks their total length
/// (not the hash: the caller hashes what `out` saw).
fn read_parts(
    hash: &BlobHash,
    blob: &StoredBlob,
    read: &mut dyn FnMut(Lsn) -> Result<Vec<u8>, ReadError>,
    blocks: &mut BlockCache,
    out: &mut dyn Write,
) -> Result<u64, BlobReadError> {
    let at = |lsn: Lsn| move |problem: PartProblem| BlobReadError { lsn, problem };
    let mut written = 0u64;
    let mut last = Lsn::ZERO;
    let raw_len = blob.raw_len;
    for &PartAt { offset, lsn } in &blob.parts {
        last = lsn;
        let raw = match blocks.member(lsn, hash) {
            Some(cached) => cached.map_err(at(lsn))?,
            None => read_part(hash, raw_len, offset, lsn, read, blocks).map_err(at(lsn))?,
        };
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
    Ok(written)
}

/// [`read_verified`] of content stored as chunk lists.
fn read_chunked(
    hash: &BlobHash,
    blob: &StoredBlob,
    blobs: &HashMap<BlobHash, StoredBlob>,
    read: &mut dyn FnMut(Lsn) -> Result<Vec<u8>, ReadError>,
    blocks: &mut BlockCache,
    out: &mut dyn Write,
) -> Result<u64, BlobReadError> {
    let mut hasher = blake3::Hasher::new();
    let mut written = 0u64;
    let mut last = Lsn::ZERO;
    let mut buf = Vec::new();
    for run in &blob.runs {
        last = run.lsn;
        let at = |problem: PartProblem| BlobReadError {
            lsn: run.lsn,
            problem,
        };
        if run.offset != written {
            return Err(at(PartProblem::Length {
                read: written,
                expected: run.offset,
            }));
        }
        for c in &run.chunks {
            let chunk = blobs
                .get(&c.hash)
                .filter(|b| b.parts_complete() && b.raw_len == u64::from(c.len))
                .ok_or_else(|| at(PartProblem::MissingChunk(c.hash)))?;
            buf.clear();
            let mut chunk_hasher = blake3::Hasher::new();
            read_parts(
                &c.hash,
                chunk,
                read,
                blocks,
                &mut HashingWriter {
                    out: &mut buf,
                    hasher: &mut chunk_hasher,
                },
            )?;
            if BlobHash(*chunk_hasher.finalize().as_bytes()) != c.hash {
                let lsn = chunk.parts.last().map_or(run.lsn, |p| p.lsn);
                return Err(BlobReadError {
                    lsn,
                    problem: PartProblem::Hash,
                });
            }
            hasher.update(&buf);
            out.write_all(&buf).map_err(|e| at(PartProblem::Write(e)))?;
            written += buf.len() as u64;
        }
    }
    let at = |problem: PartProblem| BlobReadError { lsn: last, problem };
    if written != blob.raw_len {
        return Err(at(PartProblem::Length {
            read: written,
            expected: blob.raw_len,
        }));
    }
    if BlobHash(*hasher.finalize().as_bytes()) != *hash {
        return Err(at(PartProblem::Hash));
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
