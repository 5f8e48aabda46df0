//! Checking a snapshot before anything of it is trusted: the header and its CRC, the
//! file length, the body's hash and rkyv validation, then tl's own invariants
//! (sorted, legal paths, known modes), in that order (see `index/SNAPSHOT.md`).

use std::path::Path;

use rkyv::util::AlignedVec;
use tl_wal::Lsn;

use super::{
    ArchivedSnapshotBody, SnapshotError, SnapshotMeta, BODY_LEN_MAX, BODY_OFFSET, FLAGS,
    FORMAT_VERSION, FORMAT_VERSION_MIN, HEADER_LEN, MAGIC, OFF_BODY_HASH, OFF_BODY_LEN, OFF_CHAIN,
    OFF_ENTRY_COUNT, OFF_FLAGS, OFF_HEADER_CRC, OFF_HEADER_LEN, OFF_LSN, OFF_SEQ, OFF_TIMELINE,
    OFF_TIME_NS, OFF_VERSION,
};
use crate::types::{BlobHash, Mode, MODE_CODE_MAX_V1};

pub(super) fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

pub(super) fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

/// The parsed, checked header.
pub(super) struct Header {
    /// The format version (mode codes above 2 only from version 2).
    pub(super) version: u32,
    pub(super) meta: SnapshotMeta,
    pub(super) entry_count: u64,
    pub(super) body_len: u64,
    pub(super) body_hash: [u8; 32],
}

/// Checks the header in `bytes` (which may be the whole file or just a prefix of
/// it). Order: magic, version (a future version may move every other field), the
/// crc, then the values the crc covers, before anything is sized by them.
pub(super) fn parse_header(file: &Path, bytes: &[u8]) -> Result<Header, SnapshotError> {
    let truncated = |expected: usize| SnapshotError::Truncated {
        file: file.to_path_buf(),
        expected: expected as u64,
        found: bytes.len() as u64,
    };
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(truncated(BODY_OFFSET));
        }
        return Err(SnapshotError::BadMagic {
            file: file.to_path_buf(),
            found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
        });
    }
    if bytes.len() < OFF_VERSION + 4 {
        return Err(truncated(BODY_OFFSET));
    }
    let version = le_u32(bytes, OFF_VERSION);
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return Err(SnapshotError::UnsupportedVersion {
            file: file.to_path_buf(),
            found: version,
        });
    }
    if bytes.len() < BODY_OFFSET {
        return Err(truncated(BODY_OFFSET));
    }
    let stored = le_u32(bytes, OFF_HEADER_CRC);
    let computed = crc32fast::hash(&bytes[..OFF_HEADER_CRC]);
    if stored != computed {
        return Err(SnapshotError::HeaderChecksum {
            file: file.to_path_buf(),
            stored,
            computed,
        });
    }
    let bad = |field, offset, found: u64, expected: String| SnapshotError::BadHeader {
        file: file.to_path_buf(),
        field,
        offset,
        found,
        expected,
    };
    let header_len = le_u32(bytes, OFF_HEADER_LEN);
    if header_len as usize != HEADER_LEN {
        return Err(bad(
            "header_len",
            OFF_HEADER_LEN,
            header_len.into(),
            HEADER_LEN.to_string(),
        ));
    }
    let flags = le_u32(bytes, OFF_FLAGS);
    if flags != FLAGS {
        return Err(bad("flags", OFF_FLAGS, flags.into(), format!("{FLAGS:#x}")));
    }
    // The padding is not under the crc; requiring zeros makes every header byte checked.
    if let Some(i) = bytes[HEADER_LEN..BODY_OFFSET].iter().position(|&b| b != 0) {
        let offset = HEADER_LEN + i;
        return Err(bad("padding", offset, bytes[offset].into(), "0".into()));
    }
    let body_len = le_u64(bytes, OFF_BODY_LEN);
    if body_len > BODY_LEN_MAX {
        return Err(bad(
            "body_len",
            OFF_BODY_LEN,
            body_len,
            format!("<= {BODY_LEN_MAX}"),
        ));
    }
    let mut chain = [0u8; 32];
    chain.copy_from_slice(&bytes[OFF_CHAIN..OFF_CHAIN + 32]);
    let mut body_hash = [0u8; 32];
    body_hash.copy_from_slice(&bytes[OFF_BODY_HASH..OFF_BODY_HASH + 32]);
    Ok(Header {
        version,
        meta: SnapshotMeta {
            lsn: Lsn::new(le_u64(bytes, OFF_LSN)),
            time_ns: le_u64(bytes, OFF_TIME_NS) as i64,
            timeline: le_u32(bytes, OFF_TIMELINE),
            seq: le_u64(bytes, OFF_SEQ),
            chain,
        },
        entry_count: le_u64(bytes, OFF_ENTRY_COUNT),
        body_len,
        body_hash,
    })
}

/// Checks that a file of `file_len` bytes is exactly header + body.
pub(super) fn check_file_len(
    file: &Path,
    header: &Header,
    file_len: u64,
) -> Result<(), SnapshotError> {
    let expected = BODY_OFFSET as u64 + header.body_len;
    if file_len < expected {
        return Err(SnapshotError::Truncated {
            file: file.to_path_buf(),
            expected,
            found: file_len,
        });
    }
    if file_len > expected {
        return Err(SnapshotError::TrailingBytes {
            file: file.to_path_buf(),
            expected,
            found: file_len,
        });
    }
    Ok(())
}

/// Checks the body against the header: BLAKE3, then rkyv validation, then our own
/// invariants. `body` must be 16-byte aligned and exactly `header.body_len` long
/// (rkyv finds the root at the end of the slice).
pub(super) fn check_body(file: &Path, header: &Header, body: &[u8]) -> Result<(), SnapshotError> {
    assert_eq!(
        body.len() as u64,
        header.body_len,
        "body sliced to the header's body_len"
    );
    let computed = blake3::hash(body);
    if computed.as_bytes() != &header.body_hash {
        return Err(SnapshotError::BodyChecksum {
            file: file.to_path_buf(),
            body_len: header.body_len,
            stored: BlobHash(header.body_hash).to_hex(),
            computed: computed.to_hex().to_string(),
        });
    }
    let archived =
        rkyv::access::<ArchivedSnapshotBody, rkyv::rancor::Error>(body).map_err(|e| {
            SnapshotError::Invalid {
                file: file.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    check_invariants(file, header, archived)
}

/// What rkyv validation cannot know: order, uniqueness, non-empty paths, known modes,
/// and agreement with the header's entry count.
pub(super) fn check_invariants(
    file: &Path,
    header: &Header,
    body: &ArchivedSnapshotBody,
) -> Result<(), SnapshotError> {
    let entries = body.entries.as_slice();
    if entries.len() as u64 != header.entry_count {
        return Err(SnapshotError::EntryCount {
            file: file.to_path_buf(),
            header: header.entry_count,
            body: entries.len() as u64,
        });
    }
    for (index, entry) in entries.iter().enumerate() {
        let bad = |reason: String| SnapshotError::BadEntry {
            file: file.to_path_buf(),
            index: index as u64,
            reason,
        };
        if entry.path.is_empty() {
            return Err(bad("empty path".into()));
        }
        if Mode::from_code(entry.mode).is_none()
            || (header.version < 2 && entry.mode > MODE_CODE_MAX_V1)
        {
            return Err(bad(format!("unknown mode code {}", entry.mode)));
        }
        if index > 0 && entries[index - 1].path.as_slice() >= entry.path.as_slice() {
            return Err(SnapshotError::Unsorted {
                file: file.to_path_buf(),
                index: index as u64,
            });
        }
    }
    Ok(())
}

/// Fully validates a snapshot file's bytes without keeping them, as
/// [`Snapshot::open`] does, and returns its metadata. For fuzz targets and `tl fsck`.
/// Never panics, whatever the input.
pub fn validate_bytes(bytes: &[u8]) -> Result<SnapshotMeta, SnapshotError> {
    let file = Path::new("<memory>");
    let header = parse_header(file, bytes)?;
    check_file_len(file, &header, bytes.len() as u64)?;
    // rkyv needs an aligned body; the caller's slice may be anywhere.
    let mut body = AlignedVec::<16>::with_capacity(header.body_len as usize);
    body.extend_from_slice(&bytes[BODY_OFFSET..]);
    check_body(file, &header, &body)?;
    Ok(header.meta)
}
