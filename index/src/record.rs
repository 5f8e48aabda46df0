//! Record payloads: what `tl-index` stores, as opaque bytes, in each `tl-wal` record.
//!
//! A capture batch is `[Blob…][Put|Delete|Rename…][Commit]`; pins, unpins and gap
//! markers are batches of their own. Every payload is decoded from untrusted bytes
//! (the log is a file on disk), so [`Record::decode`] bounds every length against a
//! hard limit and against the bytes left *before* allocating, rejects anything it
//! does not understand, and never panics. `index/RECORDS.md` has the same layout
//! with the reasons behind it.
//!
//! # Encoding, version 6
//!
//! All integers are little-endian. `bytes(max)` is a `u32` length followed by that
//! many bytes, the length at most `max`. `str(max)` is `bytes(max)` holding UTF-8.
//!
//! ```text
//! offset  size  field
//! 0       1     version: u8, the oldest that holds the record: 2 for tags 1-8,
//!               3 for tags 9-10, 4 for tag 11, 5 for tags 12-13, 6 for tag 14
//!               and for a Commit with timeline != 0 or kind 3 or 4
//!               (RECORD_VERSION = 6); 1 is still read
//! 1       1     tag: u8, selects the body below (0 is never used: zeroes are no record)
//! 2       ...   body
//!
//! tag 1  Blob    hash [32] · raw_len u64 · offset u64 · codec u8 (0 None, 1 Zstd)
//!                · data bytes(BLOB_DATA_MAX)
//! tag 2  Put     path bytes(PATH_MAX_BYTES) · hash [32] · mode u8 (0 File, 1 Exec,
//!                2 Symlink, 3 PrivateFile, 4 PrivateExec, 5 GroupFile, 6 GroupExec;
//!                version 1 only 0 to 2) · size u64 · mtime_ns i64
//! tag 3  Delete  path bytes(PATH_MAX_BYTES)
//! tag 4  Rename  from bytes(PATH_MAX_BYTES) · to bytes(PATH_MAX_BYTES)
//! tag 5  Commit  time_ns i64 · seq u64 · kind u8 (0 Auto, 1 Manual, 2 Restore,
//!                3 Switch, 4 Undo: version 6)
//!                · timeline u32 · acked_lsn u64 · chain [32]
//!                · added u32 · modified u32 · deleted u32 · bytes_new u64
//!                · message: u8 flag (0 absent, 1 present) then, if present,
//!                  str(MESSAGE_MAX_BYTES)
//! tag 6  Pin     name str(NAME_MAX_BYTES) · target_lsn u64 · time_ns i64
//! tag 7  Unpin   name str(NAME_MAX_BYTES)
//! tag 8  Gap     from_ns i64 · to_ns i64 · reason str(GAP_REASON_MAX_BYTES)
//! tag 13 Hold    dir bytes(PATH_MAX_BYTES), not the root · from_ns i64
//!                · to_ns i64 · files_per_minute u64 · bytes_per_minute u64
//!                · ended str(GAP_REASON_MAX_BYTES)            (version 5 only)
//! tag 14 Timeline op u8 (0 Create, 1 Rename, 2 Remove) · id u32 · name str(NAME_MAX_BYTES)
//!                · has_base u8 (0, 1 only in a Create) · base_lsn u64 (the LSN of
//!                the batch of the state it starts from; 0 without a base)
//!                · time_ns i64                               (version 6 only)
//! tag 9  Origin  chain [32]                                  (version 3 only)
//! tag 10 Thinned time_ns i64 · prev_head [32] · prev_end_lsn u64
//!                · states_before u64 · kept u64 · dropped u64
//!                · first_seq u64 · last_seq u64 · policy str(POLICY_MAX_BYTES)
//!                                                            (version 3 only)
//! tag 11 Block   count u32 (1..=BLOCK_MEMBERS_MAX) · count × (hash [32] · raw_len u64)
//!                · codec u8 · data bytes(BLOB_DATA_MAX): the members' contents
//!                concatenated in order, at most BLOCK_RAW_MAX bytes in all, stored
//!                per codec as one unit                      (version 4 only)
//! tag 12 Chunked hash [32] · raw_len u64 · offset u64 · params u8 (1 = FastCDC
//!                2020, min 256 KiB, avg 1 MiB, max 4 MiB: CHUNK_PARAMS_V1)
//!                · count u32 (1..=CHUNKED_RUN_MAX) · count × (chunk hash [32]
//!                · len u32 (1..=BLOB_PART_MAX_RAW)): the content `hash` from
//!                `offset` on is these chunks, each a blob of its own, in order;
//!                the lengths end within raw_len                (version 5 only)
//! ```
//!
//! The record ends exactly where its body ends: trailing bytes are an error, so a
//! payload has one encoding and re-encoding a decoded record gives the same bytes
//! (save the version byte of a version-1 record, which re-encodes as version 2).
//! Paths must pass [`validate_path_syntax`](crate::pathsafe::validate_path_syntax);
//! names must pass [`is_valid_name`].

use crate::pathsafe::PATH_MAX_BYTES;
use crate::types::{BlobHash, Mode};
use tl_wal::Lsn;

mod content;
mod decode;
mod encode;
#[cfg(test)]
mod hold_tests;
mod timeline;
#[cfg(test)]
mod timeline_tests;

pub use content::{compress_zstd, decompress_part, part_raw_len_max};
pub use decode::DecodeError;
pub use timeline::{TimelineId, TimelineOp, TimelineOpKind};

/// The newest encoding version this code reads and writes (see
/// [`Record::version`]: each record is written in the oldest version that holds
/// it). Version 1 has the layout of 2 with Put mode codes 0 to 2 only; version 3
/// adds the tags Origin and Thinned, 4 the tag Block (GC alone writes them), 5
/// the tag Chunked (capture writes it for big files, `index/CHUNKS.md`).
/// Version 5 also adds the tag Hold (the daemon's runaway guard).
/// Version 6 adds the tag Timeline and the Commit kinds Switch and Undo.
pub const RECORD_VERSION: u8 = 6;

/// The oldest encoding version this code reads.
pub const RECORD_VERSION_MIN: u8 = 1;

/// Largest raw (uncompressed) part of a blob. Capture splits bigger files into parts
/// of at most this size, so decompressing one part never needs more memory than this.
pub const BLOB_PART_MAX_RAW: usize = 4 * 1024 * 1024;

/// Largest stored `data` of one Blob part: zstd's worst-case expansion of
/// [`BLOB_PART_MAX_RAW`] bytes (`ZSTD_COMPRESSBOUND`: `n + n/256` plus a small
/// constant), rounded up.
pub const BLOB_DATA_MAX: usize = BLOB_PART_MAX_RAW + (BLOB_PART_MAX_RAW >> 8) + 1024;

/// Most raw bytes of one solid block (all its members together): reading one
/// file from a block decompresses at most this much.
pub const BLOCK_RAW_MAX: usize = BLOB_PART_MAX_RAW;

/// Most members of one solid block.
pub const BLOCK_MEMBERS_MAX: usize = 1 << 16;

/// Most chunks one [`Record::Chunked`] lists (2.4 MB of list): content with
/// more chunks is listed by several records, each from its own offset. At the
/// smallest chunk (256 KiB) one record covers 16 GiB.
pub const CHUNKED_RUN_MAX: usize = 1 << 16;

/// Longest commit message, in bytes.
pub const MESSAGE_MAX_BYTES: usize = 64 * 1024;

/// Longest pin name, in bytes.
pub const NAME_MAX_BYTES: usize = 128;

/// Longest gap reason, in bytes.
pub const GAP_REASON_MAX_BYTES: usize = 4096;

/// Largest encoded record: a Blob part of [`BLOB_DATA_MAX`] bytes and its header.
/// The write-ahead log's record size limit must be at least this.
pub const RECORD_MAX_BYTES: usize = 2 + 32 + 8 + 8 + 1 + 4 + BLOB_DATA_MAX;

// The Blob record is the largest; the others are bounded well below it.
const _: () = assert!(2 + 2 * (4 + PATH_MAX_BYTES) < RECORD_MAX_BYTES);
const _: () = assert!(2 + 80 + 1 + 4 + MESSAGE_MAX_BYTES < RECORD_MAX_BYTES);
const _: () = assert!(2 + 32 + 8 + 8 + 1 + 4 + 36 * CHUNKED_RUN_MAX < RECORD_MAX_BYTES);
// Lengths are stored as u32.
const _: () = assert!(BLOB_DATA_MAX <= u32::MAX as usize);

/// How a Blob part's `data` is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Codec {
    /// Raw bytes.
    None,
    /// One or more zstd frames.
    Zstd,
}

impl Codec {
    /// The on-disk code (stable: part of the record format).
    pub fn code(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
        }
    }

    /// Parses an on-disk code; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<Codec> {
        match code {
            0 => Some(Codec::None),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// The cut-point parameters of a [`Record::Chunked`]: part of the record format,
/// since other parameters cut the same content elsewhere.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ChunkParams {
    /// FastCDC 2020 (the `fastcdc` crate's `v2020` with its default gear table,
    /// normalization level 1): min 256 KiB, average 1 MiB, max 4 MiB.
    V1,
}

/// The one set of chunking parameters capture uses today.
pub const CHUNK_PARAMS_V1: ChunkParams = ChunkParams::V1;

impl ChunkParams {
    /// The on-disk code (stable: part of the record format).
    pub fn code(self) -> u8 {
        match self {
            ChunkParams::V1 => 1,
        }
    }

    /// Parses an on-disk code; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<ChunkParams> {
        match code {
            1 => Some(ChunkParams::V1),
            _ => None,
        }
    }

    /// Smallest chunk (except the last of a file), in bytes.
    pub fn min_size(self) -> u32 {
        match self {
            ChunkParams::V1 => 256 * 1024,
        }
    }

    /// The average chunk the cut points aim at, in bytes.
    pub fn avg_size(self) -> u32 {
        match self {
            ChunkParams::V1 => 1024 * 1024,
        }
    }

    /// Largest chunk, in bytes: never above [`BLOB_PART_MAX_RAW`], so a chunk is
    /// one ordinary Blob record.
    pub fn max_size(self) -> u32 {
        match self {
            ChunkParams::V1 => BLOB_PART_MAX_RAW as u32,
        }
    }
}

/// One chunk of a [`Record::Chunked`]: a blob of its own, named by its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// BLAKE3 of the chunk's bytes (the blob that holds them).
    pub hash: BlobHash,
    /// Its length, 1 to [`BLOB_PART_MAX_RAW`] bytes.
    pub len: u32,
}

/// Why a commit was made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CommitKind {
    /// By the watcher, after changes settled.
    Auto,
    /// By the user (`tl checkpoint`), usually with a message.
    Manual,
    /// The state captured just before a restore or replay, so it can be undone.
    Restore,
    /// A timeline switch (version 6): the batch turns the last state of the
    /// timeline switched from into the newest state of the one switched to, and
    /// the commit opens the new timeline's next state.
    Switch,
    /// `tl undo` (version 6): the batch brings back the state captured just
    /// before the operation undone.
    Undo,
}

impl CommitKind {
    /// The on-disk code (stable: part of the record format).
    pub fn code(self) -> u8 {
        match self {
            CommitKind::Auto => 0,
            CommitKind::Manual => 1,
            CommitKind::Restore => 2,
            CommitKind::Switch => 3,
            CommitKind::Undo => 4,
        }
    }

    /// True for the kinds that bring a tree back (replay, restore, switch, undo):
    /// the operations `tl undo` undoes.
    pub fn is_operation(self) -> bool {
        matches!(
            self,
            CommitKind::Restore | CommitKind::Switch | CommitKind::Undo
        )
    }

    /// The kind as a word: `auto`, `manual`, `restore`, `switch`, `undo`. Stable: exported Git commit
    /// messages contain it (so incremental exports depend on it), and the CLI and
    /// its JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitKind::Auto => "auto",
            CommitKind::Manual => "manual",
            CommitKind::Restore => "restore",
            CommitKind::Switch => "switch",
            CommitKind::Undo => "undo",
        }
    }

    /// Parses an on-disk code; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<CommitKind> {
        match code {
            0 => Some(CommitKind::Auto),
            1 => Some(CommitKind::Manual),
            2 => Some(CommitKind::Restore),
            3 => Some(CommitKind::Switch),
            4 => Some(CommitKind::Undo),
            _ => None,
        }
    }
}

/// Counts of what a commit's batch changed, kept in the commit so `tl log` need not
/// fold the batch to show them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct CommitStats {
    /// Paths that did not exist before.
    pub added: u32,
    /// Paths whose content or mode changed.
    pub modified: u32,
    /// Paths removed.
    pub deleted: u32,
    /// Bytes of new blob data this batch stored (after compression).
    pub bytes_new: u64,
}

/// One record payload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Record {
    /// Content, or one part of it: a file bigger than [`BLOB_PART_MAX_RAW`] is stored
    /// as several Blob records with the same `hash` and `raw_len`, in `offset` order.
    Blob {
        /// BLAKE3 of the whole raw content (not of this part).
        hash: BlobHash,
        /// Length of the whole raw content.
        raw_len: u64,
        /// Where this part's raw bytes start in the whole content.
        offset: u64,
        /// How `data` is stored.
        codec: Codec,
        /// This part, stored per `codec`.
        data: Vec<u8>,
    },
    /// A path now has this content and mode.
    Put {
        /// Relative, `/`-separated path bytes.
        path: Vec<u8>,
        /// Hash of the content (for a symlink, of its target).
        hash: BlobHash,
        /// File, executable or symlink.
        mode: Mode,
        /// Raw content length.
        size: u64,
        /// Modification time as captured, nanoseconds since the Unix epoch.
        mtime_ns: i64,
    },
    /// A path no longer exists.
    Delete {
        /// Relative, `/`-separated path bytes.
        path: Vec<u8>,
    },
    /// A path moved; its entry is unchanged.
    Rename {
        /// The old path.
        from: Vec<u8>,
        /// The new path; differs from `from`.
        to: Vec<u8>,
    },
    /// Ends a batch: the records since the previous commit take effect together.
    Commit {
        /// Wall-clock time of the commit, nanoseconds since the Unix epoch.
        time_ns: i64,
        /// Commit sequence number, one more than the previous commit's.
        seq: u64,
        /// Why the commit was made.
        kind: CommitKind,
        /// A user's message (manual checkpoints).
        message: Option<String>,
        /// The timeline this batch belongs to (0 is the first one).
        timeline: u32,
        /// The highest LSN known durable when this batch was built.
        acked_lsn: Lsn,
        /// [`chain_hash`] of the previous commit's chain and this batch's records.
        chain: [u8; 32],
        /// What the batch changed.
        stats: CommitStats,
    },
    /// Names a point in history; kept forever by retention.
    Pin {
        /// The pin's name; see [`is_valid_name`].
        name: String,
        /// The LSN of the commit it names.
        target_lsn: Lsn,
        /// When the pin was made, nanoseconds since the Unix epoch.
        time_ns: i64,
    },
    /// Removes a pin.
    Unpin {
        /// The pin's name.
        name: String,
    },
    /// Events may have been missed between the two times (watcher overflow, daemon
    /// down): the tree at times inside the interval is not known exactly.
    Gap {
        /// Start of the interval, nanoseconds since the Unix epoch.
        from_ns: i64,
        /// End of the interval; not before `from_ns`.
        to_ns: i64,
        /// Why, for `tl log`.
        reason: String,
    },
    /// The daemon's runaway guard held a directory (version 5): between the two
    /// times nothing under it was captured, so its history has a hole there, as
    /// a gap has for the whole tree.
    Hold(Hold),
    /// In a batch rewritten by GC (version 3): the checkpoint its Commit closes
    /// keeps the id it was given in the log it was first written to, which is
    /// derived from this chain value instead of the Commit's own (`index/GC.md`).
    Origin {
        /// The Commit's chain value in the original log.
        chain: [u8; 32],
    },
    /// GC thinned the log before this record (version 3): what it did, so that
    /// fsck can tell a thinned log from a rewritten one.
    Thinned(Thinned),
    /// Several whole blobs compressed together (version 4, written by GC): small
    /// files compress far better in one unit than each alone.
    Block {
        /// The blobs, in the order their contents follow one another in `data`.
        members: Vec<BlockMember>,
        /// How `data` is stored.
        codec: Codec,
        /// The members' raw contents concatenated, stored per `codec`.
        data: Vec<u8>,
    },
    /// A timeline made, renamed or removed (version 6; `record/timeline`).
    Timeline(TimelineOp),
    /// Big content as a list of content-defined chunks (version 5): the bytes
    /// of `hash` from `offset` on are the chunks' contents in order, each chunk
    /// a blob stored once however many files and versions share it.
    Chunked {
        /// BLAKE3 of the whole raw content.
        hash: BlobHash,
        /// Length of the whole raw content.
        raw_len: u64,
        /// Where the first chunk starts in the content (0 unless the list is
        /// longer than [`CHUNKED_RUN_MAX`]).
        offset: u64,
        /// How the cut points were chosen.
        params: ChunkParams,
        /// The chunks, 1 to [`CHUNKED_RUN_MAX`].
        chunks: Vec<Chunk>,
    },
}

/// One blob of a [`Record::Block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockMember {
    /// BLAKE3 of its content.
    pub hash: BlobHash,
    /// Length of its content.
    pub raw_len: u64,
}

impl BlockMember {
    /// The length of all of `members`' contents together (saturating; the
    /// members of a decoded Block sum to at most [`BLOCK_RAW_MAX`]).
    pub fn total(members: &[BlockMember]) -> u64 {
        members
            .iter()
            .fold(0u64, |sum, m| sum.saturating_add(m.raw_len))
    }
}

/// A held interval (see [`Record::Hold`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The directory, relative to the root (never the root).
    pub dir: Vec<u8>,
    /// When the hold started, ns since the Unix epoch.
    pub from_ns: i64,
    /// When it ended (the capture that follows brings the directory up to
    /// date); not before `from_ns`.
    pub to_ns: i64,
    /// Files the directory wrote in the minute before it was held.
    pub files_per_minute: u64,
    /// Bytes of those files.
    pub bytes_per_minute: u64,
    /// How the hold ended, for `tl log`.
    pub ended: String,
}

/// What a GC did, as recorded after the log it rewrote (see [`Record::Thinned`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thinned {
    /// When the GC ran, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The chain value of the last Commit of the log before the GC: whoever kept
    /// it (a replica, a Git export) can check that this log continues theirs.
    pub prev_head: [u8; 32],
    /// Where the log before the GC ended.
    pub prev_end_lsn: Lsn,
    /// Checkpoints before the GC.
    pub states_before: u64,
    /// Checkpoints it kept; `kept + dropped == states_before`.
    pub kept: u64,
    /// Checkpoints it dropped.
    pub dropped: u64,
    /// The sequence numbers of the thinned range: gaps between Commit seqs
    /// inside `first_seq..=last_seq` are dropped checkpoints, not lost ones.
    pub first_seq: u64,
    /// Last of the range; not below `first_seq`.
    pub last_seq: u64,
    /// The retention policy applied, as written in `.tl/config.toml`.
    pub policy: String,
}

const TAG_BLOB: u8 = 1;
const TAG_PUT: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_RENAME: u8 = 4;
pub(crate) const TAG_COMMIT: u8 = 5;
const TAG_PIN: u8 = 6;
const TAG_UNPIN: u8 = 7;
const TAG_GAP: u8 = 8;
const TAG_HOLD: u8 = 13;
const TAG_ORIGIN: u8 = 9;
const TAG_THINNED: u8 = 10;
const TAG_BLOCK: u8 = 11;
const TAG_CHUNKED: u8 = 12;
pub(crate) const TAG_TIMELINE: u8 = 14;

/// Longest policy text of a Thinned record, in bytes.
pub const POLICY_MAX_BYTES: usize = 4096;

impl Record {
    /// The oldest encoding version that can hold this record, which is the one
    /// written: records of tags 1 to 8 are written as version 2, so a log GC never
    /// touched stays readable by a version-2 reader; Origin and Thinned need 3,
    /// Block 4, Chunked and Hold 5, Timeline 6, and so does a Commit on a
    /// timeline other than the first or of kind Switch or Undo.
    pub fn version(&self) -> u8 {
        match self {
            Record::Origin { .. } | Record::Thinned(_) => 3,
            Record::Block { .. } => 4,
            Record::Chunked { .. } | Record::Hold(_) => 5,
            Record::Timeline(_) => 6,
            Record::Commit { kind, timeline, .. }
                if *timeline != 0 || matches!(kind, CommitKind::Switch | CommitKind::Undo) =>
            {
                6
            }
            _ => 2,
        }
    }
}

/// True if `name` can be a pin name: 1 to [`NAME_MAX_BYTES`] bytes of
/// `[A-Za-z0-9._-]`, not starting with `-`. The same rule decides which time
/// expressions are names (`crate::timespec`), so a pin can always be named on the
/// command line, and a leading `-` would read as an option.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_BYTES
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// The commit chain: BLAKE3 (in derive-key mode, so it cannot collide with a blob
/// hash) over the previous commit's `chain` and each record of this batch before the
/// Commit, as `u64` little-endian length then encoded bytes. The length prefix keeps
/// record boundaries part of what is hashed, so moving bytes from one record to the
/// next changes the result.
///
/// Each commit's chain covers all history before it: editing, dropping or reordering
/// any earlier record changes every later chain, which makes tampering evident to
/// anyone who kept a later chain value. The first commit chains from `[0; 32]`.
pub fn chain_hash<'a>(
    prev_chain: &[u8; 32],
    batch_records_bytes: impl Iterator<Item = &'a [u8]>,
) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("tl 2026 commit chain v1");
    hasher.update(prev_chain);
    for record in batch_records_bytes {
        hasher.update(&(record.len() as u64).to_le_bytes());
        hasher.update(record);
    }
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod chunked_tests;
#[cfg(test)]
mod tests;
