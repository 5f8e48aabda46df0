//! The local side of a push: the log's sealed segments (every segment but the
//! last, which the writer may still append to), their bytes, and the times of the
//! checkpoints each one holds (for the manifest, so a fetch can skip segments).

use std::path::PathBuf;

use tl_wal::format::{
    decode_frame_header, frame_len, FrameKind, SegmentHeader, FLAG_BATCH_END, SEGMENT_HEADER_LEN,
};
use tl_wal::Lsn;

use super::error::io;
use super::{RemoteError, Result};
use crate::layout::Layout;
use crate::record::{Record, TAG_COMMIT};

/// A segment file of the local log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSegment {
    /// Its file name (`<base LSN>.seg`).
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its base LSN.
    pub base: Lsn,
    /// Its header's salt.
    pub salt: u64,
    /// Its header's repository id.
    pub repo_id: [u8; 16],
    /// Its length when listed.
    pub size: u64,
}

/// Every segment of the log in `layout` but the last, in LSN order: the ones no
/// writer appends to again (call `Store::seal_log` first to seal the last one's
/// acknowledged batches).
pub fn sealed_segments(layout: &Layout) -> Result<Vec<LocalSegment>> {
    let dir = layout.log_dir();
    let mut segs = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let e = e.map_err(io(&dir))?;
        let Some(name) = e.file_name().to_str().map(String::from) else {
            continue;
        };
        let Some(base) = tl_wal::parse_segment_name(&name) else {
            continue;
        };
        let path = e.path();
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        let f = std::fs::File::open(&path).map_err(io(&path))?;
        let size = f.metadata().map_err(io(&path))?.len();
        let header = match std::os::unix::fs::FileExt::read_exact_at(&f, &mut head, 0) {
            Ok(()) => SegmentHeader::decode(&head).ok(),
            Err(_) => None,
        };
        let Some(header) = header else {
            // A segment whose creation never finished can only be the last one.
            segs.push(LocalSegment {
                name,
                path,
                base,
                salt: 0,
                repo_id: [0; 16],
                size,
            });
            continue;
        };
        segs.push(LocalSegment {
            name,
            path,
            base,
            salt: header.salt,
            repo_id: header.repo_id,
            size,
        });
    }
    segs.sort_by_key(|s| s.base);
    segs.pop();
    Ok(segs)
}

/// The segment's bytes, checked to be the segment listed (same base and salt: a
/// GC that swapped the log meanwhile is caught here).
pub fn read_segment(seg: &LocalSegment) -> Result<Vec<u8>> {
    let bytes = std::fs::read(&seg.path).map_err(io(&seg.path))?;
    let same = SegmentHeader::decode(&bytes)
        .map(|h| h.base_lsn == seg.base && h.salt == seg.salt)
        .unwrap_or(false);
    if !same || (bytes.len() as u64) < seg.size {
        return Err(RemoteError::LogChanged {
            segment: seg.path.display().to_string(),
        });
    }
    Ok(bytes)
}

/// What a segment holds, as the manifest records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentTimes {
    /// Checkpoints whose Commit is in the segment.
    pub checkpoints: u64,
    /// The first one's time.
    pub first_ns: Option<i64>,
    /// The last one's time.
    pub last_ns: Option<i64>,
}

/// Walks a segment's frames (structure only: the crcs are the wal's to check, on
/// open) and reads the time of every Commit (always one whole frame, ending its
/// batch).
pub fn commit_times(bytes: &[u8]) -> SegmentTimes {
    let mut t = SegmentTimes::default();
    let mut off = SEGMENT_HEADER_LEN;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let Ok(h) = decode_frame_header(rest, rest.len() as u64) else {
            break;
        };
        let payload = &rest[tl_wal::format::FRAME_HEADER_LEN..][..h.len as usize];
        if h.kind == FrameKind::Full
            && h.flags & FLAG_BATCH_END != 0
            && payload.get(1) == Some(&TAG_COMMIT)
        {
            if let Ok(Record::Commit { time_ns, .. }) = Record::decode(payload) {
                t.checkpoints += 1;
                t.first_ns.get_or_insert(time_ns);
                t.last_ns = Some(time_ns);
            }
        }
        off += frame_len(h.len as usize);
    }
    t
}
