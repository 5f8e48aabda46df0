//! Tree snapshots: an rkyv 0.8 archive of a whole tree at an LSN, written by the
//! compactor and read without deserializing.
//!
//! A snapshot is a cache: it can always be deleted and rebuilt from the log. It is
//! also untrusted input like any file on disk, so [`Snapshot::open`] checks every
//! byte before it hands out a single entry: header crc32, format version and rkyv
//! format flags, body length against the file length, BLAKE3 of the body, rkyv's
//! own validation (bytecheck), and finally our invariants (paths non-empty and
//! strictly sorted, mode codes known, entry count matching the header).
//!
//! The byte layout, and why it is what it is, lives in `index/SNAPSHOT.md`.
//!
//! ```no_run
//! # fn main() -> Result<(), tl_index::snapshot::SnapshotError> {
//! use std::path::Path;
//! use tl_index::snapshot::{newest_at_or_before, Snapshot};
//!
//! let dir = Path::new(".tl/snapshots");
//! if let Some((_lsn, path)) = newest_at_or_before(dir, 4096)? {
//!     let snap = Snapshot::open(&path)?;
//!     let entry = snap.get(b"src/main.rs");
//!     # let _ = entry;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What this module is *not*: it does not decide when to compact, does not fold the
//! log, and knows nothing of the log's record format. Limits: with rkyv's 32-bit
//! relative pointers a body is at most [`BODY_LEN_MAX`] bytes (about 2 GiB, in the
//! order of 25 million entries with short paths).

mod raw;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;

use tl_wal::private_fs;

use crate::types::{BlobHash, Entry, Mode, Tree, MODE_CODE_MAX_V1};

/// First eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TLSNAP\0\0";

/// The format version this code writes. It also reads version 1, whose layout is
/// the same and whose entries' mode codes are 0 to 2 only.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format version this code reads.
pub const FORMAT_VERSION_MIN: u32 = 1;

/// Length of the header proper (versions 1 and 2) (the crc32 is its last field).
pub const HEADER_LEN: usize = 132;

/// Offset of the rkyv body: the header rounded up to 16 bytes, so that a 16-byte
/// aligned file buffer (an `AlignedVec` or an mmap) gives a 16-byte aligned body.
pub const BODY_OFFSET: usize = 144;

/// Largest body accepted, in bytes. rkyv's default 32-bit relative pointers cannot
/// address more than `i32::MAX` bytes, and the bound is checked before any
/// allocation sized by the header.
pub const BODY_LEN_MAX: u64 = i32::MAX as u64;

/// Flag bit: the body's primitives are little-endian (rkyv 0.8 default).
pub const FLAG_LITTLE_ENDIAN: u32 = 1 << 0;
/// Flag bit: the body's relative pointers and lengths are 32 bits (rkyv 0.8 default).
pub const FLAG_POINTER_WIDTH_32: u32 = 1 << 1;
/// Flag bit: the body's primitives are naturally aligned (rkyv without `unaligned`).
pub const FLAG_ALIGNED: u32 = 1 << 2;
/// The exact flags this build writes and accepts.
pub const FLAGS: u32 = FLAG_LITTLE_ENDIAN | FLAG_POINTER_WIDTH_32 | FLAG_ALIGNED;

const _: () = assert!(BODY_OFFSET.is_multiple_of(16));
const _: () = assert!(BODY_OFFSET >= HEADER_LEN);
const _: () = assert!(BODY_OFFSET - HEADER_LEN < 16);
// The FLAG_POINTER_WIDTH_32 bit is only true if rkyv was built with 32-bit pointers;
// a workspace feature change (`pointer_width_64`) must fail here, not on disk.
const _: () = assert!(size_of::<rkyv::primitive::FixedIsize>() == 4);

// Header field offsets (see SNAPSHOT.md).
const OFF_VERSION: usize = 8;
const OFF_HEADER_LEN: usize = 12;
const OFF_FLAGS: usize = 16;
const OFF_TIMELINE: usize = 20;
const OFF_LSN: usize = 24;
const OFF_TIME_NS: usize = 32;
const OFF_SEQ: usize = 40;
const OFF_CHAIN: usize = 48;
const OFF_ENTRY_COUNT: usize = 80;
const OFF_BODY_LEN: usize = 88;
const OFF_BODY_HASH: usize = 96;
const OFF_HEADER_CRC: usize = 128;
const _: () = assert!(OFF_HEADER_CRC + 4 == HEADER_LEN);

/// The file name suffix of a snapshot.
const SUFFIX: &str = ".snap";
/// Digits in the zero-padded LSN of a file name (`u64::MAX` has 20).
const LSN_DIGITS: usize = 20;

/// What a snapshot says about the point of history it folds.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SnapshotMeta {
    /// The log position through which the snapshot folds the log: replay continues
    /// with the records after it.
    pub lsn: u64,
    /// Wall-clock time (ns since the Unix epoch) of the last Commit folded.
    pub time_ns: i64,
    /// Timeline the folded history belongs to.
    pub timeline: u32,
    /// Sequence number of the last Commit folded.
    pub seq: u64,
    /// Chain hash of the last Commit folded, so a tail replay can keep verifying
    /// the chain from here.
    pub chain: [u8; 32],
}

/// The archived body: every entry of the tree, sorted by path, no duplicates.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct SnapshotBody {
    /// The entries, strictly increasing by `path` (byte order).
    pub entries: Vec<SnapEntry>,
}

/// One path of the tree as stored in a snapshot body.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct SnapEntry {
    /// Relative, `/`-separated path bytes, not necessarily UTF-8; never empty.
    pub path: Vec<u8>,
    /// BLAKE3 of the content.
    pub hash: [u8; 32],
    /// [`Mode::code`].
    pub mode: u8,
    /// Raw content length in bytes.
    pub size: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: i64,
}

impl SnapEntry {
    fn new(path: &[u8], entry: &Entry) -> SnapEntry {
        SnapEntry {
            path: path.to_vec(),
            hash: entry.hash.0,
            mode: entry.mode.code(),
            size: entry.size,
            mtime_ns: entry.mtime_ns,
        }
    }
}

impl ArchivedSnapEntry {
    /// The entry's path bytes.
    pub fn path(&self) -> &[u8] {
        self.path.as_slice()
    }

    /// The entry as the shared [`Entry`] type.
    ///
    /// Only call on entries of a [`Snapshot`], whose mode codes were checked at open.
    fn to_entry(&self) -> Entry {
        Entry {
            hash: BlobHash(self.hash),
            mode: Mode::from_code(self.mode).expect("mode codes are checked by Snapshot::open"),
            size: self.size.to_native(),
            mtime_ns: self.mtime_ns.to_native(),
        }
    }
}

/// Everything that can go wrong writing, listing or opening a snapshot. Each variant
/// names the file (`<memory>` for [`validate_bytes`]) and the field or offset.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An I/O operation on `path` failed.
    #[error("snapshot I/O on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Bytes 0..8 are not `TLSNAP\0\0`.
    #[error("{file}: not a tl snapshot: bytes 0..8 are {found:02x?}, expected \"TLSNAP\\0\\0\"")]
    BadMagic {
        /// The file.
        file: PathBuf,
        /// The first (up to) 8 bytes.
        found: Vec<u8>,
    },
    /// The format version at offset 8 is not one this build reads.
    #[error("{file}: snapshot format version {found} at offset 8, this build reads versions {FORMAT_VERSION_MIN} to {FORMAT_VERSION}")]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found.
        found: u32,
    },
    /// The header crc32 at offset 128 does not match bytes 0..128.
    #[error("{file}: header crc32 mismatch at offset 128: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderChecksum {
        /// The file.
        file: PathBuf,
        /// The crc stored in the header.
        stored: u32,
        /// The crc computed over the header.
        computed: u32,
    },
    /// A header field that the crc covers holds a value this version never writes
    /// (header length, flags, body length bound, padding).
    #[error(
        "{file}: header field `{field}` at offset {offset}: found {found}, expected {expected}"
    )]
    BadHeader {
        /// The file.
        file: PathBuf,
        /// The field's name.
        field: &'static str,
        /// The field's byte offset.
        offset: usize,
        /// What was found.
        found: u64,
        /// What was expected.
        expected: String,
    },
    /// The BLAKE3 of the body does not match the header.
    #[error("{file}: body BLAKE3 mismatch (body at offset {BODY_OFFSET}, {body_len} bytes): stored {stored}, computed {computed}")]
    BodyChecksum {
        /// The file.
        file: PathBuf,
        /// Body length from the header.
        body_len: u64,
        /// Hex of the stored hash.
        stored: String,
        /// Hex of the computed hash.
        computed: String,
    },
    /// The file is shorter than its header says.
    #[error("{file}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file.
        file: PathBuf,
        /// The length the header (or the fixed header size) requires.
        expected: u64,
        /// The actual length.
        found: u64,
    },
    /// The file is longer than its header says (bytes after the body).
    #[error("{file}: {found} bytes, but the header accounts for exactly {expected}")]
    TrailingBytes {
        /// The file.
        file: PathBuf,
        /// The length the header requires.
        expected: u64,
        /// The actual length.
        found: u64,
    },
    /// rkyv validation (bytecheck) rejected the body.
    #[error("{file}: rkyv validation of the body failed: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// rkyv's message.
        message: String,
    },
    /// Entry `index` does not sort strictly after entry `index - 1`.
    #[error("{file}: entry {index} is not strictly after entry {} by path", index - 1)]
    Unsorted {
        /// The file.
        file: PathBuf,
        /// Index of the first out-of-order (or duplicate) entry.
        index: u64,
    },
    /// Entry `index` breaks an invariant the archive format itself cannot express.
    #[error("{file}: entry {index}: {reason}")]
    BadEntry {
        /// The file.
        file: PathBuf,
        /// Index of the entry.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The header's entry count differs from the body's.
    #[error("{file}: header says {header} entries (offset 80), body holds {body}")]
    EntryCount {
        /// The file.
        file: PathBuf,
        /// Count in the header.
        header: u64,
        /// Count in the body.
        body: u64,
    },
    /// The file is named for one LSN but its header holds another.
    #[error("{file}: named for LSN {name_lsn} but the header (offset 24) says {header_lsn}")]
    LsnMismatch {
        /// The file.
        file: PathBuf,
        /// LSN parsed from the file name.
        name_lsn: u64,
        /// LSN in the header.
        header_lsn: u64,
    },
    /// The tree cannot be archived (too large for 32-bit relative pointers, or an
    /// empty path).
    #[error("cannot archive tree for LSN {lsn}: {message}")]
    Encode {
        /// LSN of the snapshot being written.
        lsn: u64,
        /// What went wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file name of the snapshot at `lsn`: the LSN zero-padded to 20 digits, so that
/// names sort like LSNs.
pub fn file_name(lsn: u64) -> String {
    format!("{lsn:0LSN_DIGITS$}{SUFFIX}")
}

/// Parses a name made by [`file_name`]; `None` for anything else (temp files too).
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != LSN_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Serializes header + padding + body. Does not check the body's invariants, so
/// tests can build hostile files with valid checksums through it.
fn encode_file(meta: &SnapshotMeta, body: &SnapshotBody) -> Result<Vec<u8>, SnapshotError> {
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
fn encode_header(meta: &SnapshotMeta, entry_count: u64, body: &[u8]) -> [u8; BODY_OFFSET] {
    let mut h = [0u8; BODY_OFFSET];
    h[0..8].copy_from_slice(&MAGIC);
    h[OFF_VERSION..][..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[OFF_HEADER_LEN..][..4].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[OFF_FLAGS..][..4].copy_from_slice(&FLAGS.to_le_bytes());
    h[OFF_TIMELINE..][..4].copy_from_slice(&meta.timeline.to_le_bytes());
    h[OFF_LSN..][..8].copy_from_slice(&meta.lsn.to_le_bytes());
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

fn write_synced(path: &Path, mut file: File, bytes: &[u8]) -> Result<(), SnapshotError> {
    file.write_all(bytes).map_err(io_err(path))?;
    // A failed fsync leaves this temp file in an unknown state; it is removed and never
    // renamed, so the "fsyncgate" false success of a retried fsync cannot happen here.
    file.sync_all().map_err(io_err(path))
}

/// Snapshot files in `dir` as `(lsn, path)`, sorted by LSN. Names that are not
/// exactly `<20 digits>.snap` (temp files, strays) are ignored. A missing `dir`
/// holds no snapshots.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for item in read {
        let item = item.map_err(io_err(dir))?;
        if let Some(lsn) = item.file_name().to_str().and_then(parse_file_name) {
            out.push((lsn, item.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The snapshot with the largest LSN `<= lsn` in `dir`, if any. It is only listed,
/// not opened: a damaged file is reported by [`Snapshot::open`], and the caller can
/// fall back to an older one or to the log.
pub fn newest_at_or_before(dir: &Path, lsn: u64) -> Result<Option<(u64, PathBuf)>, SnapshotError> {
    Ok(list_snapshots(dir)?
        .into_iter()
        .rev()
        .find(|(l, _)| *l <= lsn))
}

fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

/// The parsed, checked header.
struct Header {
    /// The format version (mode codes above 2 only from version 2).
    version: u32,
    meta: SnapshotMeta,
    entry_count: u64,
    body_len: u64,
    body_hash: [u8; 32],
}

/// Checks the header in `bytes` (which may be the whole file or just a prefix of
/// it). Order: magic, version (a future version may move every other field), the
/// crc, then the values the crc covers, before anything is sized by them.
fn parse_header(file: &Path, bytes: &[u8]) -> Result<Header, SnapshotError> {
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
            lsn: le_u64(bytes, OFF_LSN),
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
fn check_file_len(file: &Path, header: &Header, file_len: u64) -> Result<(), SnapshotError> {
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
fn check_body(file: &Path, header: &Header, body: &[u8]) -> Result<(), SnapshotError> {
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
fn check_invariants(
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

/// An opened, fully validated snapshot. Lookups read the archive in place: nothing
/// is deserialized.
pub struct Snapshot {
    path: PathBuf,
    meta: SnapshotMeta,
    body: raw::Body,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .field("len", &self.len())
            .finish()
    }
}

impl Snapshot {
    /// Opens and validates the snapshot at `path`.
    ///
    /// The file is *read* into a 16-byte aligned buffer (one copy, the same cost as
    /// the BLAKE3 pass every open makes anyway), not kept mapped: another process
    /// truncating or rewriting a mapped file would turn validated bytes into a
    /// SIGBUS or undefined behavior later. See [`Snapshot::open_mmap`] for the mapped
    /// variant and `index/SNAPSHOT.md` for the numbers.
    pub fn open(path: &Path) -> Result<Snapshot, SnapshotError> {
        let mut file = File::open(path).map_err(io_err(path))?;
        let mut head = [0u8; BODY_OFFSET];
        let n_head = read_up_to(&mut file, &mut head).map_err(io_err(path))?;
        let header = parse_header(path, &head[..n_head])?;
        let file_len = file.metadata().map_err(io_err(path))?.len();
        check_file_len(path, &header, file_len)?;
        // body_len <= BODY_LEN_MAX and equals what the file holds: the allocation is
        // bounded by a real file, never by a hostile length field alone.
        let body_len = header.body_len as usize;
        let mut body = AlignedVec::<16>::with_capacity(body_len);
        body.resize(body_len, 0);
        let n_body = read_up_to(&mut file, &mut body).map_err(io_err(path))?;
        if n_body < body_len {
            // Shrunk between metadata() and read(): someone is truncating it now.
            return Err(SnapshotError::Truncated {
                file: path.to_path_buf(),
                expected: (BODY_OFFSET + body_len) as u64,
                found: (BODY_OFFSET + n_body) as u64,
            });
        }
        Self::finish(path, header, raw::Storage::Owned(body))
    }

    fn finish(
        path: &Path,
        header: Header,
        storage: raw::Storage,
    ) -> Result<Snapshot, SnapshotError> {
        let body = raw::Body::validated(path, &header, storage)?;
        if let Some(name_lsn) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_file_name)
        {
            if name_lsn != header.meta.lsn {
                return Err(SnapshotError::LsnMismatch {
                    file: path.to_path_buf(),
                    name_lsn,
                    header_lsn: header.meta.lsn,
                });
            }
        }
        Ok(Snapshot {
            path: path.to_path_buf(),
            meta: header.meta,
            body,
        })
    }

    fn archived(&self) -> &ArchivedSnapshotBody {
        self.body.archived()
    }

    fn entries(&self) -> &[ArchivedSnapEntry] {
        self.archived().entries.as_slice()
    }

    /// The file this snapshot was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's metadata: LSN, time, timeline, sequence and chain hash.
    pub fn meta(&self) -> SnapshotMeta {
        self.meta
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The entry at `path`, by binary search over the archive (O(log n), no
    /// allocation).
    pub fn get(&self, path: &[u8]) -> Option<Entry> {
        let entries = self.entries();
        let i = entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()?;
        Some(entries[i].to_entry())
    }

    /// All entries in path order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], Entry)> + ExactSizeIterator + '_ {
        self.entries()
            .iter()
            .map(|e| (e.path.as_slice(), e.to_entry()))
    }

    /// Entries strictly under the directory `dir` (paths starting with `dir/`), in
    /// path order; all entries when `dir` is empty. Two binary searches, then a
    /// slice: O(log n) to find, no allocation beyond the bounds.
    pub fn range_prefix(
        &self,
        dir: &[u8],
    ) -> impl DoubleEndedIterator<Item = (&[u8], Entry)> + ExactSizeIterator + '_ {
        let entries = self.entries();
        let range = if dir.is_empty() {
            0..entries.len()
        } else {
            // Every path under `dir/` lies in [dir + "/", dir + "0"): '0' follows '/'.
            let mut low = dir.to_vec();
            low.push(b'/');
            let mut high = dir.to_vec();
            high.push(b'/' + 1);
            let start = entries.partition_point(|e| e.path.as_slice() < low.as_slice());
            let end = entries.partition_point(|e| e.path.as_slice() < high.as_slice());
            start..end
        };
        entries[range]
            .iter()
            .map(|e| (e.path.as_slice(), e.to_entry()))
    }

    /// Deserializes the whole tree (allocates every path).
    pub fn to_tree(&self) -> Tree {
        self.iter().map(|(p, e)| (p.to_vec(), e)).collect()
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
