//! Byte layouts of segment headers and frames (see `wal/FORMAT.md`).
//!
//! Everything here is pure: encode into a buffer, decode from a slice, no I/O.
//! Decoders validate in the order PostgreSQL's xlogreader does: bound the length
//! first (against the hard maximum and the bytes available), then the checksum, then
//! the position fields, and only then is the payload handed out.

use crate::Lsn;

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TLWALSEG";
/// The segment format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Size of a frame header in bytes.
pub const FRAME_HEADER_LEN: usize = 32;
/// Frames (header + payload + padding) start and end on this alignment.
pub const FRAME_ALIGN: usize = 8;
/// Hard maximum payload of one frame. Larger records are split across frames.
pub const FRAME_PAYLOAD_MAX: usize = 1 << 20;
/// Hard maximum size of one reassembled record. A reader never allocates more than
/// this for a record, whatever the length fields say.
pub const RECORD_MAX: usize = 64 << 20;

const _: () = assert!(SEGMENT_HEADER_LEN.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(FRAME_HEADER_LEN.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(FRAME_PAYLOAD_MAX.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(RECORD_MAX.is_multiple_of(FRAME_PAYLOAD_MAX));

/// Masks a crc before it is stored, as LevelDB does: a crc of data that itself
/// contains crcs is then less likely to be degenerate.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Inverse of [`mask_crc`].
pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(0xa282_ead8).rotate_left(15)
}

/// Rounds `n` up to the frame alignment.
pub fn align_up(n: usize) -> usize {
    (n + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// Bytes a frame with `payload_len` bytes of payload occupies on disk.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_LEN + align_up(payload_len)
}

/// The fixed header at the start of each segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version of this segment.
    pub version: u32,
    /// Identity of the log this segment belongs to; equal in every segment of a log.
    pub repo_id: [u8; 16],
    /// LSN of the first byte after the header.
    pub base_lsn: Lsn,
    /// Random per-segment salt, mixed into every frame crc so stale bytes from
    /// another segment (or another log) never validate here.
    pub salt: u64,
    /// Wall-clock creation time, nanoseconds since the Unix epoch (informational).
    pub created_ns: i64,
}

/// Why a segment header did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Short {
        /// Bytes available.
        found: usize,
    },
    /// The magic is not [`SEGMENT_MAGIC`].
    BadMagic,
    /// A version this code does not know.
    UnsupportedVersion {
        /// Version found in the header.
        found: u32,
    },
    /// The header's own crc does not match.
    Checksum {
        /// Stored (unmasked) crc.
        stored: u32,
        /// Crc computed over the header bytes.
        computed: u32,
    },
    /// The header length field or reserved bytes hold unexpected values.
    BadField(&'static str),
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::Short { found } => {
                write!(f, "header is {found} bytes, expected {SEGMENT_HEADER_LEN}")
            }
            HeaderProblem::BadMagic => write!(f, "magic is not {:?}", "TLWALSEG"),
            HeaderProblem::UnsupportedVersion { found } => {
                write!(
                    f,
                    "format version {found}, this tl reads version {FORMAT_VERSION}"
                )
            }
            HeaderProblem::Checksum { stored, computed } => {
                write!(
                    f,
                    "header crc {stored:#010x} does not match computed {computed:#010x}"
                )
            }
            HeaderProblem::BadField(what) => write!(f, "bad header field: {what}"),
        }
    }
}

impl SegmentHeader {
    /// The LSN of file offset `offset` (at or past the header) in this segment.
    pub fn lsn_at(&self, offset: u64) -> Lsn {
        self.base_lsn + (offset - SEGMENT_HEADER_LEN as u64)
    }

    /// The file offset of `lsn` (at or past `base_lsn`) in this segment.
    pub fn offset_of(&self, lsn: Lsn) -> u64 {
        lsn.bytes_since(self.base_lsn) + SEGMENT_HEADER_LEN as u64
    }

    /// Encodes the header, its crc included.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..32].copy_from_slice(&self.repo_id);
        b[32..40].copy_from_slice(&self.base_lsn.get().to_le_bytes());
        b[40..48].copy_from_slice(&self.salt.to_le_bytes());
        b[48..56].copy_from_slice(&self.created_ns.to_le_bytes());
        // 56..60 reserved, zero.
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&mask_crc(crc).to_le_bytes());
        b
    }

    /// Decodes and validates a header.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderProblem::Short { found: bytes.len() });
        }
        let b = &bytes[..SEGMENT_HEADER_LEN];
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        let stored = unmask_crc(le_u32(&b[60..64]));
        let computed = crc32fast::hash(&b[0..60]);
        if stored != computed {
            return Err(HeaderProblem::Checksum { stored, computed });
        }
        // The version is checked after the crc so that a random bit flip in it is
        // reported as damage, and a genuine newer segment as a version problem.
        let version = le_u32(&b[8..12]);
        if version != FORMAT_VERSION {
            return Err(HeaderProblem::UnsupportedVersion { found: version });
        }
        if le_u32(&b[12..16]) as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderProblem::BadField("header length"));
        }
        if b[56..60] != [0; 4] {
            return Err(HeaderProblem::BadField("reserved bytes are not zero"));
        }
        let mut repo_id = [0u8; 16];
        repo_id.copy_from_slice(&b[16..32]);
        Ok(SegmentHeader {
            version,
            repo_id,
            base_lsn: Lsn::new(le_u64(&b[32..40])),
            salt: le_u64(&b[40..48]),
            created_ns: le_u64(&b[48..56]) as i64,
        })
    }

    /// The crc stored in the header (unmasked); the first frame links back to it.
    pub fn crc(&self) -> u32 {
        unmask_crc(le_u32(&self.encode()[60..64]))
    }
}

/// Which part of a record a frame carries (LevelDB's record types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A whole record.
    Full = 1,
    /// The first part of a record split across frames.
    First = 2,
    /// A middle part.
    Middle = 3,
    /// The last part.
    Last = 4,
    /// No record: an acknowledgement mark written on clean close, whose `acked`
    /// field says that everything before it is durable.
    Mark = 5,
}

impl FrameKind {
    /// Decodes a kind byte.
    pub fn from_u8(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Full,
            2 => FrameKind::First,
            3 => FrameKind::Middle,
            4 => FrameKind::Last,
            5 => FrameKind::Mark,
            _ => return None,
        })
    }
}

/// Flag: the frame starts a batch.
pub const FLAG_BATCH_START: u8 = 1;
/// Flag: the frame ends a batch (the batch is complete after it).
pub const FLAG_BATCH_END: u8 = 2;
const FLAGS_KNOWN: u8 = FLAG_BATCH_START | FLAG_BATCH_END;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Stored crc, unmasked.
    pub crc: u32,
    /// Payload length in bytes (padding excluded).
    pub len: u32,
    /// LSN of this frame: its byte position in the whole log.
    pub lsn: Lsn,
    /// Everything below this LSN was durable when the frame was written.
    pub acked: Lsn,
    /// Crc of the previous frame in the segment (the header crc for the first).
    pub prev: u32,
    /// Record part carried.
    pub kind: FrameKind,
    /// `FLAG_*` bits.
    pub flags: u8,
}

/// Why bytes at a frame position are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameProblem {
    /// The header or payload runs past the end of the data.
    Short {
        /// Bytes the frame needs.
        needed: u64,
        /// Bytes available from the frame's start.
        available: u64,
    },
    /// The length field exceeds [`FRAME_PAYLOAD_MAX`].
    OverLong {
        /// Length field found.
        len: u32,
    },
    /// Unknown kind byte, unknown flag bits or non-zero reserved bytes.
    BadField(&'static str),
    /// The crc does not match.
    Checksum {
        /// Stored crc (unmasked).
        stored: u32,
        /// Computed crc.
        computed: u32,
    },
    /// The LSN field is not this frame's position.
    BadLsn {
        /// Position of the frame.
        expected: Lsn,
        /// LSN field found.
        found: Lsn,
    },
    /// The back-link does not match the previous frame's crc.
    BadLink {
        /// Crc of the previous frame.
        expected: u32,
        /// Back-link found.
        found: u32,
    },
    /// The frame is valid alone but out of sequence (a Middle without a First, a
    /// batch that never started…).
    BadSequence(&'static str),
    /// The reassembled record would exceed [`RECORD_MAX`].
    RecordTooLarge,
}

impl std::fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameProblem::Short { needed, available } => write!(
                f,
                "frame needs {needed} bytes but only {available} remain (torn or truncated)"
            ),
            FrameProblem::OverLong { len } => {
                write!(
                    f,
                    "length field {len} exceeds the maximum {FRAME_PAYLOAD_MAX}"
                )
            }
            FrameProblem::BadField(what) => write!(f, "bad frame field: {what}"),
            FrameProblem::Checksum { stored, computed } => {
                write!(
                    f,
                    "crc {stored:#010x} does not match computed {computed:#010x}"
                )
            }
            FrameProblem::BadLsn { expected, found } => {
                write!(f, "LSN field {found} at position {expected}")
            }
            FrameProblem::BadLink { expected, found } => write!(
                f,
                "back-link {found:#010x} does not match previous frame crc {expected:#010x}"
            ),
            FrameProblem::BadSequence(what) => write!(f, "frame out of sequence: {what}"),
            FrameProblem::RecordTooLarge => {
                write!(f, "record would exceed the maximum of {RECORD_MAX} bytes")
            }
        }
    }
}

/// True when `bytes` are all zero ("end of data").
pub fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Decodes the structural fields of a frame header: everything that can be checked
/// before reading the payload. `available` is the number of bytes from the frame's
/// start to the end of the data.
pub fn decode_frame_header(b: &[u8], available: u64) -> Result<FrameHeader, FrameProblem> {
    if b.len() < FRAME_HEADER_LEN || available < FRAME_HEADER_LEN as u64 {
        return Err(FrameProblem::Short {
            needed: FRAME_HEADER_LEN as u64,
            available: available.min(b.len() as u64),
        });
    }
    let len = le_u32(&b[4..8]);
    if len as usize > FRAME_PAYLOAD_MAX {
        return Err(FrameProblem::OverLong { len });
    }
    let needed = frame_len(len as usize) as u64;
    if needed > available {
        return Err(FrameProblem::Short { needed, available });
    }
    let kind = FrameKind::from_u8(b[28]).ok_or(FrameProblem::BadField("unknown frame kind"))?;
    let flags = b[29];
    if flags & !FLAGS_KNOWN != 0 {
        return Err(FrameProblem::BadField("unknown flag bits"));
    }
    if b[30..32] != [0, 0] {
        return Err(FrameProblem::BadField("reserved bytes are not zero"));
    }
    if kind == FrameKind::Mark && (len != 0 || flags != 0) {
        return Err(FrameProblem::BadField("mark frame with payload or flags"));
    }
    Ok(FrameHeader {
        crc: unmask_crc(le_u32(&b[0..4])),
        len,
        lsn: Lsn::new(le_u64(&b[8..16])),
        acked: Lsn::new(le_u64(&b[16..24])),
        prev: le_u32(&b[24..28]),
        kind,
        flags,
    })
}

/// Computes a frame's crc: salt, header bytes after the crc field, payload.
pub fn frame_crc(salt: u64, header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&salt.to_le_bytes());
    h.update(&header[4..FRAME_HEADER_LEN]);
    h.update(payload);
    h.finalize()
}

/// Checks a frame's crc; `frame` starts at the header and holds at least the payload.
pub fn check_frame_crc(salt: u64, h: &FrameHeader, frame: &[u8]) -> Result<(), FrameProblem> {
    let payload = &frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + h.len as usize];
    let computed = frame_crc(salt, frame, payload);
    if computed != h.crc {
        return Err(FrameProblem::Checksum {
            stored: h.crc,
            computed,
        });
    }
    Ok(())
}

/// Appends one frame to `out`; returns its crc (for the next frame's back-link).
#[allow(clippy::too_many_arguments)]
pub fn encode_frame(
    out: &mut Vec<u8>,
    salt: u64,
    lsn: Lsn,
    acked: Lsn,
    prev: u32,
    kind: FrameKind,
    flags: u8,
    payload: &[u8],
) -> u32 {
    assert!(
        payload.len() <= FRAME_PAYLOAD_MAX,
        "frame payload over the maximum"
    );
    let start = out.len();
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&lsn.get().to_le_bytes());
    header[16..24].copy_from_slice(&acked.get().to_le_bytes());
    header[24..28].copy_from_slice(&prev.to_le_bytes());
    header[28] = kind as u8;
    header[29] = flags;
    let crc = frame_crc(salt, &header, payload);
    header[0..4].copy_from_slice(&mask_crc(crc).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out.resize(start + frame_len(payload.len()), 0);
    crc
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("slice of 4 bytes"))
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("slice of 8 bytes"))
}
