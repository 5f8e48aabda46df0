//! Writing a snapshot: header, padding and rkyv body, to a private temporary file that
//! is synced and then renamed into place.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use tl_wal::private_fs;

use super::check::validate_bytes;
use super::{
    file_name, io_err, SnapEntry, SnapshotBody, SnapshotError, SnapshotMeta, BODY_LEN_MAX,
    BODY_OFFSET, FLAGS, FORMAT_VERSION, HEADER_LEN, MAGIC, OFF_BODY_HASH, OFF_BODY_LEN, OFF_CHAIN,
    OFF_ENTRY_COUNT, OFF_FLAGS, OFF_HEADER_CRC, OFF_HEADER_LEN, OFF_LSN, OFF_SEQ, OFF_TIMELINE,
    OFF_TIME_NS, OFF_VERSION,
};
use crate::types::Tree;

/// Serializes header + padding + body. Does not check the body's invariants, so
/// tests can build hostile files with valid checksums through it.
pub(super) fn encode_file(
    meta: &SnapshotMeta,
    body: &SnapshotBody,
) -> Result<Vec<u8>, SnapshotError> {
    let archived =
        rkyv::to_bytes::<rkyv::rancor::Error>(body).map_err(|e| SnapshotError::Encode {
            lsn: meta.lsn,
            message: e.to_string(),
        })?;
    let body_len = archived.len() as u64;
    if body_len > BODY_LEN_MAX {
        return Err(SnapshotError::Encode {
            lsn: meta.lsn,
            message: format!("body of {body_len} bytes exceeds {BODY_LEN_MAX}"),
        });
    }
    let mut out = Vec::with_capacity(BODY_OFFSET + archived.len());
    out.extend_from_slice(&encode_header(meta, body.entries.len() as u64, &archived));
    out.extend_from_slice(&archived);
    Ok(out)
}

/// The header and its zero padding, `BODY_OFFSET` bytes.
pub(super) fn encode_header(
    meta: &SnapshotMeta,
    entry_count: u64,
    body: &[u8],
) -> [u8; BODY_OFFSET] {
    let mut h = [0u8; BODY_OFFSET];
    h[0..8].copy_from_slice(&MAGIC);
    h[OFF_VERSION..][..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[OFF_HEADER_LEN..][..4].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[OFF_FLAGS..][..4].copy_from_slice(&FLAGS.to_le_bytes());
    h[OFF_TIMELINE..][..4].copy_from_slice(&meta.timeline.to_le_bytes());
    h[OFF_LSN..][..8].copy_from_slice(&meta.lsn.get().to_le_bytes());
    h[OFF_TIME_NS..][..8].copy_from_slice(&meta.time_ns.to_le_bytes());
    h[OFF_SEQ..][..8].copy_from_slice(&meta.seq.to_le_bytes());
    h[OFF_CHAIN..][..32].copy_from_slice(&meta.chain);
    h[OFF_ENTRY_COUNT..][..8].copy_from_slice(&entry_count.to_le_bytes());
    h[OFF_BODY_LEN..][..8].copy_from_slice(&(body.len() as u64).to_le_bytes());
    h[OFF_BODY_HASH..][..32].copy_from_slice(blake3::hash(body).as_bytes());
    let crc = crc32fast::hash(&h[..OFF_HEADER_CRC]);
    h[OFF_HEADER_CRC..][..4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes the snapshot of `tree` at `meta.lsn` into `dir` and returns its path.
///
/// The file is written under a temporary name, fsynced, renamed to
/// [`file_name`]`(meta.lsn)` (replacing any file of that name) and the directory is
/// fsynced, so after a crash the name holds either nothing or the whole snapshot.
/// On error the temporary file is removed (best effort); since a snapshot is a
/// cache, the caller may simply try again later.
pub fn write_snapshot(
    dir: &Path,
    meta: &SnapshotMeta,
    tree: &Tree,
) -> Result<PathBuf, SnapshotError> {
    if tree.contains_key(&b""[..]) {
        return Err(SnapshotError::Encode {
            lsn: meta.lsn,
            message: "empty path in tree".into(),
        });
    }
    // A BTreeMap iterates in byte order of its keys, which is the order the format
    // requires; no sort needed, and keys are unique.
    let body = SnapshotBody {
        entries: tree.iter().map(|(p, e)| SnapEntry::new(p, e)).collect(),
    };
    let bytes = encode_file(meta, &body)?;
    drop(body);
    // Pair assertion: what we are about to write must read back.
    debug_assert_eq!(validate_bytes(&bytes).ok(), Some(*meta));

    let target = dir.join(file_name(meta.lsn));
    // An unpredictable temporary name, O_EXCL|O_NOFOLLOW, owner-only (see
    // `tl_wal::private_fs`): a symlink planted in `.tl/snapshots/` is never followed.
    let (temp, file) = private_fs::create_temp(&target).map_err(io_err(&target))?;
    let result = write_synced(&temp, file, &bytes).and_then(|()| {
        private_fs::replace(&temp, &target).map_err(io_err(&target))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| target)
}

pub(super) fn write_synced(path: &Path, mut file: File, bytes: &[u8]) -> Result<(), SnapshotError> {
    file.write_all(bytes).map_err(io_err(path))?;
    // A failed fsync leaves this temp file in an unknown state; it is removed and never
    // renamed, so the "fsyncgate" false success of a retried fsync cannot happen here.
    file.sync_all().map_err(io_err(path))
}
