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
//! use tl_wal::Lsn;
//!
//! let dir = Path::new(".tl/snapshots");
//! if let Some(found) = newest_at_or_before(dir, Lsn::new(4096))? {
//!     let snap = Snapshot::open(&found.path)?;
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

mod check;
mod raw;
#[cfg(test)]
mod tests;
mod write;

pub use check::validate_bytes;
use check::{check_body, check_file_len, parse_header, Header};
pub use write::write_snapshot;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;
use tl_wal::Lsn;

use crate::types::{BlobHash, Entry, Mode, Tree};

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
    pub lsn: Lsn,
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
        name_lsn: Lsn,
        /// LSN in the header.
        header_lsn: Lsn,
    },
    /// The tree cannot be archived (too large for 32-bit relative pointers, or an
    /// empty path).
    #[error("cannot archive tree for LSN {lsn}: {message}")]
    Encode {
        /// LSN of the snapshot being written.
        lsn: Lsn,
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
pub fn file_name(lsn: Lsn) -> String {
    format!("{:0LSN_DIGITS$}{SUFFIX}", lsn.get())
}

/// Parses a name made by [`file_name`]; `None` for anything else (temp files too).
pub fn parse_file_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != LSN_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Lsn::new)
}

/// A snapshot file found in a directory: the LSN its name gives (the end of the
/// checkpoint it holds), and where it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotFile {
    /// The LSN in its name.
    pub lsn: Lsn,
    /// Its path.
    pub path: PathBuf,
}

/// Snapshot files in `dir`, sorted by LSN. Names that are not
/// exactly `<20 digits>.snap` (temp files, strays) are ignored. A missing `dir`
/// holds no snapshots.
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotFile>, SnapshotError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for item in read {
        let item = item.map_err(io_err(dir))?;
        if let Some(lsn) = item.file_name().to_str().and_then(parse_file_name) {
            out.push(SnapshotFile {
                lsn,
                path: item.path(),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The snapshot with the largest LSN `<= lsn` in `dir`, if any. It is only listed,
/// not opened: a damaged file is reported by [`Snapshot::open`], and the caller can
/// fall back to an older one or to the log.
pub fn newest_at_or_before(dir: &Path, lsn: Lsn) -> Result<Option<SnapshotFile>, SnapshotError> {
    Ok(list_snapshots(dir)?
        .into_iter()
        .rev()
        .find(|s| s.lsn <= lsn))
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
