//! Decoding the content records (Blob, Block, Chunked): every length bounded
//! against its limit and the bytes left before anything is copied.

use super::{DecodeError, Reader};
use crate::record::{
    part_raw_len_max, BlockMember, Chunk, ChunkParams, Codec, Record, BLOB_DATA_MAX,
    BLOB_PART_MAX_RAW, BLOCK_MEMBERS_MAX, BLOCK_RAW_MAX, CHUNKED_RUN_MAX,
};
use crate::types::BlobHash;

pub(super) fn decode_blob(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let hash = BlobHash(r.array32("Blob.hash")?);
    let raw_len = r.u64("Blob.raw_len")?;
    let offset_offset = r.pos;
    let offset = r.u64("Blob.offset")?;
    // A part starts inside the content; only empty content has a part at its end.
    if offset > raw_len || (offset == raw_len && raw_len != 0) {
        return Err(DecodeError::Inconsistent {
            field: "Blob.offset",
            offset: offset_offset,
            reason: "a part must start inside the content (offset < raw_len, or both 0)",
        });
    }
    let codec_offset = r.pos;
    let code = r.u8("Blob.codec")?;
    let codec = Codec::from_code(code).ok_or(DecodeError::BadCode {
        field: "Blob.codec",
        offset: codec_offset,
        found: code,
        expected: "0 (None), 1 (Zstd)",
    })?;
    let data_offset = r.pos;
    let data = r.bytes("Blob.data", BLOB_DATA_MAX)?.to_vec();
    if codec == Codec::None {
        // Raw data is the part itself, so its length is checkable now; for zstd it is
        // checked when decompressing (`decompress_part`).
        let len = data.len() as u64;
        if len > part_raw_len_max(raw_len, offset) || (len == 0 && raw_len != 0) {
            return Err(DecodeError::Inconsistent {
                field: "Blob.data",
                offset: data_offset,
                reason: "a raw part must be non-empty, at most BLOB_PART_MAX_RAW bytes \
                         and end within raw_len",
            });
        }
    }
    Ok(Record::Blob {
        hash,
        raw_len,
        offset,
        codec,
        data,
    })
}

pub(super) fn decode_block(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let count_offset = r.pos;
    let count = r.u32("Block.count")? as usize;
    // Each member takes 40 bytes: bound the count by the bytes left before
    // allocating for it.
    if count == 0 || count > BLOCK_MEMBERS_MAX || count.saturating_mul(40) > r.remaining() {
        return Err(DecodeError::Inconsistent {
            field: "Block.count",
            offset: count_offset,
            reason: "a block holds 1 to BLOCK_MEMBERS_MAX members, 40 bytes each",
        });
    }
    let mut members = Vec::with_capacity(count);
    let mut total = 0u64;
    for _ in 0..count {
        let hash = BlobHash(r.array32("Block.member.hash")?);
        let len_offset = r.pos;
        let raw_len = r.u64("Block.member.raw_len")?;
        total = total.saturating_add(raw_len);
        if total > BLOCK_RAW_MAX as u64 {
            return Err(DecodeError::Inconsistent {
                field: "Block.member.raw_len",
                offset: len_offset,
                reason: "a block's members hold at most BLOCK_RAW_MAX bytes in all",
            });
        }
        members.push(BlockMember { hash, raw_len });
    }
    let codec_offset = r.pos;
    let code = r.u8("Block.codec")?;
    let codec = Codec::from_code(code).ok_or(DecodeError::BadCode {
        field: "Block.codec",
        offset: codec_offset,
        found: code,
        expected: "0 (None), 1 (Zstd)",
    })?;
    let data_offset = r.pos;
    let data = r.bytes("Block.data", BLOB_DATA_MAX)?.to_vec();
    if codec == Codec::None && data.len() as u64 != total {
        return Err(DecodeError::Inconsistent {
            field: "Block.data",
            offset: data_offset,
            reason: "raw block data must hold exactly its members' bytes",
        });
    }
    Ok(Record::Block {
        members,
        codec,
        data,
    })
}

pub(super) fn decode_chunked(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let hash = BlobHash(r.array32("Chunked.hash")?);
    let raw_len = r.u64("Chunked.raw_len")?;
    let offset_offset = r.pos;
    let offset = r.u64("Chunked.offset")?;
    if offset >= raw_len {
        return Err(DecodeError::Inconsistent {
            field: "Chunked.offset",
            offset: offset_offset,
            reason: "a chunk list starts inside the content (offset < raw_len)",
        });
    }
    let params_offset = r.pos;
    let code = r.u8("Chunked.params")?;
    let params = ChunkParams::from_code(code).ok_or(DecodeError::BadCode {
        field: "Chunked.params",
        offset: params_offset,
        found: code,
        expected: "1 (FastCDC 2020, 256 KiB / 1 MiB / 4 MiB)",
    })?;
    let count_offset = r.pos;
    let count = r.u32("Chunked.count")? as usize;
    // Each chunk takes 36 bytes: bound the count by the bytes left before
    // allocating for it.
    if count == 0 || count > CHUNKED_RUN_MAX || count.saturating_mul(36) > r.remaining() {
        return Err(DecodeError::Inconsistent {
            field: "Chunked.count",
            offset: count_offset,
            reason: "a chunk list holds 1 to CHUNKED_RUN_MAX chunks, 36 bytes each",
        });
    }
    let mut chunks = Vec::with_capacity(count);
    let mut end = offset;
    for _ in 0..count {
        let hash = BlobHash(r.array32("Chunked.chunk.hash")?);
        let len_offset = r.pos;
        let len = r.u32("Chunked.chunk.len")?;
        let next = end.checked_add(u64::from(len));
        if len == 0 || len as usize > BLOB_PART_MAX_RAW || next.is_none_or(|e| e > raw_len) {
            return Err(DecodeError::Inconsistent {
                field: "Chunked.chunk.len",
                offset: len_offset,
                reason: "a chunk holds 1 to BLOB_PART_MAX_RAW bytes and ends within raw_len",
            });
        }
        end = next.unwrap_or(u64::MAX);
        chunks.push(Chunk { hash, len });
    }
    Ok(Record::Chunked {
        hash,
        raw_len,
        offset,
        params,
        chunks,
    })
}
