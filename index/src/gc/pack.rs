//! Solid blocks: the content a GC carries into the new log, small blobs packed
//! together into Block records (one zstd frame over at most `BLOCK_RAW_MAX` raw
//! bytes), so that many small files compress as one, as `tar | zstd` does, while
//! reading one file still decompresses at most one block. Blobs bigger than
//! [`MEMBER_MAX`] keep their Blob records, copied verbatim.

use rayon::prelude::*;

use crate::record::{compress_zstd, BlockMember, Codec, Record, BLOCK_MEMBERS_MAX, BLOCK_RAW_MAX};
use crate::types::BlobHash;

/// Blobs up to this size go into blocks; bigger ones stay as they are stored.
pub const MEMBER_MAX: u64 = 1 << 20;

/// Content records are handed on in batches of about this many bytes.
const BATCH_BYTES: usize = 4 << 20;

/// Blocks are compressed this many at a time, on all cores.
const COMPRESS_AT_ONCE: usize = 8;

/// A block being filled.
#[derive(Default)]
struct OpenBlock {
    members: Vec<BlockMember>,
    raw: Vec<u8>,
}

impl OpenBlock {
    fn fits(&self, len: u64) -> bool {
        self.members.len() < BLOCK_MEMBERS_MAX
            && self.raw.len() as u64 + len <= BLOCK_RAW_MAX as u64
    }

    /// The Block record, compressed at `level` unless that does not save bytes.
    fn encode(self, level: i32) -> Vec<u8> {
        let packed = compress_zstd(&self.raw, level);
        let (codec, data) = if packed.len() < self.raw.len() {
            (Codec::Zstd, packed)
        } else {
            (Codec::None, self.raw)
        };
        Record::Block {
            members: self.members,
            codec,
            data,
        }
        .encode()
    }
}

/// The content records of one checkpoint, as they are made.
pub struct Packer {
    level: i32,
    open: OpenBlock,
    /// Full blocks not compressed yet.
    full: Vec<OpenBlock>,
    /// Encoded records ready to go, in order.
    ready: Vec<Vec<u8>>,
    ready_bytes: usize,
    /// Bytes of every record made (what the checkpoint's `bytes_new` counts).
    bytes_out: u64,
}

impl Packer {
    /// A packer compressing blocks at zstd `level`.
    pub fn new(level: i32) -> Packer {
        Packer {
            level,
            open: OpenBlock::default(),
            full: Vec::new(),
            ready: Vec::new(),
            ready_bytes: 0,
            bytes_out: 0,
        }
    }

    /// Adds the content `raw` of the small blob `hash` (at most [`MEMBER_MAX`]).
    pub fn add_member(&mut self, hash: BlobHash, raw: &[u8]) {
        let len = raw.len() as u64;
        if !self.open.fits(len) {
            self.full.push(std::mem::take(&mut self.open));
            if self.full.len() >= COMPRESS_AT_ONCE {
                self.compress_full();
            }
        }
        self.open.members.push(BlockMember { hash, raw_len: len });
        self.open.raw.extend_from_slice(raw);
    }

    /// Adds a stored Blob record as it is.
    pub fn add_verbatim(&mut self, record: Vec<u8>) {
        self.push_ready(record);
    }

    /// A batch of content records once about [`BATCH_BYTES`] are ready.
    pub fn ready_batch(&mut self) -> Option<Vec<Vec<u8>>> {
        (self.ready_bytes >= BATCH_BYTES).then(|| {
            self.ready_bytes = 0;
            std::mem::take(&mut self.ready)
        })
    }

    /// Every remaining content record, the open block sealed.
    pub fn finish(&mut self) -> Vec<Vec<u8>> {
        if !self.open.members.is_empty() {
            self.full.push(std::mem::take(&mut self.open));
        }
        self.compress_full();
        self.ready_bytes = 0;
        std::mem::take(&mut self.ready)
    }

    /// Bytes of every content record made so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    fn compress_full(&mut self) {
        let level = self.level;
        let encoded: Vec<Vec<u8>> = std::mem::take(&mut self.full)
            .into_par_iter()
            .map(|b| b.encode(level))
            .collect();
        for record in encoded {
            self.push_ready(record);
        }
    }

    fn push_ready(&mut self, record: Vec<u8>) {
        self.ready_bytes += record.len();
        self.bytes_out += record.len() as u64;
        self.ready.push(record);
    }
}
