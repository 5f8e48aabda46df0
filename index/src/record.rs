//! Record payloads: what `tl-index` stores, as opaque bytes, in each `tl-wal` record.
//!
//! A capture batch is `[Blob…][Put|Delete|Rename…][Commit]`; pins, unpins and gap
//! markers are batches of their own. Every payload is decoded from untrusted bytes
//! (the log is a file on disk), so [`Record::decode`] bounds every length against a
//! hard limit and against the bytes left *before* allocating, rejects anything it
//! does not understand, and never panics. `index/RECORDS.md` has the same layout
//! with the reasons behind it.
//!
//! # Encoding, version 2
//!
//! All integers are little-endian. `bytes(max)` is a `u32` length followed by that
//! many bytes, the length at most `max`. `str(max)` is `bytes(max)` holding UTF-8.
//!
//! ```text
//! offset  size  field
//! 0       1     version: u8 = 2 (RECORD_VERSION); 1 is still read
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
//! tag 5  Commit  time_ns i64 · seq u64 · kind u8 (0 Auto, 1 Manual, 2 Restore)
//!                · timeline u32 · acked_lsn u64 · chain [32]
//!                · added u32 · modified u32 · deleted u32 · bytes_new u64
//!                · message: u8 flag (0 absent, 1 present) then, if present,
//!                  str(MESSAGE_MAX_BYTES)
//! tag 6  Pin     name str(NAME_MAX_BYTES) · target_lsn u64 · time_ns i64
//! tag 7  Unpin   name str(NAME_MAX_BYTES)
//! tag 8  Gap     from_ns i64 · to_ns i64 · reason str(GAP_REASON_MAX_BYTES)
//! ```
//!
//! The record ends exactly where its body ends: trailing bytes are an error, so a
//! payload has one encoding and re-encoding a decoded record gives the same bytes
//! (save the version byte of a version-1 record, which re-encodes as version 2).
//! Paths must pass [`validate_path_syntax`](crate::pathsafe::validate_path_syntax);
//! names must pass [`is_valid_name`].

use std::io::Read;

use crate::pathsafe::{self, PathError, PATH_MAX_BYTES};
use crate::types::{BlobHash, Mode, MODE_CODE_MAX_V1};

/// The encoding version this code writes. It also reads version 1, whose layout is
/// the same and whose Put mode codes are 0 to 2 only.
pub const RECORD_VERSION: u8 = 2;

/// The oldest encoding version this code reads.
pub const RECORD_VERSION_MIN: u8 = 1;

/// Largest raw (uncompressed) part of a blob. Capture splits bigger files into parts
/// of at most this size, so decompressing one part never needs more memory than this.
pub const BLOB_PART_MAX_RAW: usize = 4 * 1024 * 1024;

/// Largest stored `data` of one Blob part: zstd's worst-case expansion of
/// [`BLOB_PART_MAX_RAW`] bytes (`ZSTD_COMPRESSBOUND`: `n + n/256` plus a small
/// constant), rounded up.
pub const BLOB_DATA_MAX: usize = BLOB_PART_MAX_RAW + (BLOB_PART_MAX_RAW >> 8) + 1024;

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

/// Why a commit was made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CommitKind {
    /// By the watcher, after changes settled.
    Auto,
    /// By the user (`tl checkpoint`), usually with a message.
    Manual,
    /// The state captured just before a restore or replay, so it can be undone.
    Restore,
}

impl CommitKind {
    /// The on-disk code (stable: part of the record format).
    pub fn code(self) -> u8 {
        match self {
            CommitKind::Auto => 0,
            CommitKind::Manual => 1,
            CommitKind::Restore => 2,
        }
    }

    /// The kind as a word: `auto`, `manual`, `restore`. Stable: exported Git commit
    /// messages contain it (so incremental exports depend on it), and the CLI and
    /// its JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitKind::Auto => "auto",
            CommitKind::Manual => "manual",
            CommitKind::Restore => "restore",
        }
    }

    /// Parses an on-disk code; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<CommitKind> {
        match code {
            0 => Some(CommitKind::Auto),
            1 => Some(CommitKind::Manual),
            2 => Some(CommitKind::Restore),
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
        acked_lsn: u64,
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
        target_lsn: u64,
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
}

const TAG_BLOB: u8 = 1;
const TAG_PUT: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_RENAME: u8 = 4;
const TAG_COMMIT: u8 = 5;
const TAG_PIN: u8 = 6;
const TAG_UNPIN: u8 = 7;
const TAG_GAP: u8 = 8;

/// Why a payload could not be decoded. Offsets are byte offsets into the payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload ends inside a field.
    #[error(
        "record truncated in {field} at offset {offset}: need {needed} bytes, {remaining} left"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the payload.
        remaining: usize,
    },
    /// The version byte is not one this code reads.
    #[error(
        "record version {found} is not supported (this build reads versions \
         {RECORD_VERSION_MIN} to {supported})"
    )]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The newest version this build reads.
        supported: u8,
    },
    /// The tag byte names no known record type.
    #[error("unknown record tag {found} at offset {offset}, expected 1..=8")]
    UnknownTag {
        /// Offset of the tag.
        offset: usize,
        /// The tag found.
        found: u8,
    },
    /// A one-byte enum field holds a code with no meaning.
    #[error("bad {field} code {found} at offset {offset}, expected one of {expected}")]
    BadCode {
        /// `mode`, `codec`, `kind` or `message flag`.
        field: &'static str,
        /// Offset of the code.
        offset: usize,
        /// The code found.
        found: u8,
        /// The accepted codes, for the message.
        expected: &'static str,
    },
    /// A length prefix is larger than the field's limit.
    #[error("{field} length {len} at offset {offset} exceeds the limit of {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Offset of the length prefix.
        offset: usize,
        /// The length found.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A text field is not UTF-8.
    #[error("{field} at offset {offset} is not valid UTF-8")]
    BadUtf8 {
        /// The field.
        field: &'static str,
        /// Offset of the field's bytes.
        offset: usize,
    },
    /// A path field is not a well-formed relative path.
    #[error("{field} at offset {offset}: {source}")]
    BadPath {
        /// The field.
        field: &'static str,
        /// Offset of the path's bytes.
        offset: usize,
        /// The rule it breaks.
        source: PathError,
    },
    /// A name is empty or has characters outside `[A-Za-z0-9._-]` or starts with `-`.
    #[error(
        "{field} at offset {offset} is not a valid name ([A-Za-z0-9._-]+, not starting with '-')"
    )]
    BadName {
        /// The field.
        field: &'static str,
        /// Offset of the name's bytes.
        offset: usize,
    },
    /// Fields that are each well-formed contradict each other.
    #[error("inconsistent {field} at offset {offset}: {reason}")]
    Inconsistent {
        /// The field found wrong.
        field: &'static str,
        /// Offset of that field.
        offset: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// Bytes remain after the record's last field.
    #[error("{count} trailing bytes after the record at offset {offset}")]
    TrailingBytes {
        /// Where the record ended.
        offset: usize,
        /// How many bytes follow.
        count: usize,
    },
    /// A blob part would decompress to more than its expected length.
    #[error("blob part decompresses to more than the expected {limit} bytes")]
    PartTooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// zstd refused the data.
    #[error("blob part does not decompress: {reason}")]
    Decompress {
        /// zstd's message.
        reason: String,
    },
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

impl Record {
    /// Encodes the record as a fresh payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the record's encoding to `out`.
    ///
    /// The caller must build valid records (limits, well-formed paths and names): a
    /// record that would not decode is a bug, caught by a decode-back check in debug
    /// builds, because writing it would make the log unreadable at that point.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(RECORD_VERSION);
        match self {
            Record::Blob {
                hash,
                raw_len,
                offset,
                codec,
                data,
            } => {
                out.push(TAG_BLOB);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&raw_len.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.push(codec.code());
                put_bytes(out, data);
            }
            Record::Put {
                path,
                hash,
                mode,
                size,
                mtime_ns,
            } => {
                out.push(TAG_PUT);
                put_bytes(out, path);
                out.extend_from_slice(&hash.0);
                out.push(mode.code());
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(&mtime_ns.to_le_bytes());
            }
            Record::Delete { path } => {
                out.push(TAG_DELETE);
                put_bytes(out, path);
            }
            Record::Rename { from, to } => {
                out.push(TAG_RENAME);
                put_bytes(out, from);
                put_bytes(out, to);
            }
            Record::Commit {
                time_ns,
                seq,
                kind,
                message,
                timeline,
                acked_lsn,
                chain,
                stats,
            } => {
                out.push(TAG_COMMIT);
                out.extend_from_slice(&time_ns.to_le_bytes());
                out.extend_from_slice(&seq.to_le_bytes());
                out.push(kind.code());
                out.extend_from_slice(&timeline.to_le_bytes());
                out.extend_from_slice(&acked_lsn.to_le_bytes());
                out.extend_from_slice(chain);
                out.extend_from_slice(&stats.added.to_le_bytes());
                out.extend_from_slice(&stats.modified.to_le_bytes());
                out.extend_from_slice(&stats.deleted.to_le_bytes());
                out.extend_from_slice(&stats.bytes_new.to_le_bytes());
                match message {
                    None => out.push(0),
                    Some(message) => {
                        out.push(1);
                        put_bytes(out, message.as_bytes());
                    }
                }
            }
            Record::Pin {
                name,
                target_lsn,
                time_ns,
            } => {
                out.push(TAG_PIN);
                put_bytes(out, name.as_bytes());
                out.extend_from_slice(&target_lsn.to_le_bytes());
                out.extend_from_slice(&time_ns.to_le_bytes());
            }
            Record::Unpin { name } => {
                out.push(TAG_UNPIN);
                put_bytes(out, name.as_bytes());
            }
            Record::Gap {
                from_ns,
                to_ns,
                reason,
            } => {
                out.push(TAG_GAP);
                out.extend_from_slice(&from_ns.to_le_bytes());
                out.extend_from_slice(&to_ns.to_le_bytes());
                put_bytes(out, reason.as_bytes());
            }
        }
        // Pair assertion: what we write must read back as itself.
        debug_assert_eq!(
            Record::decode(&out[start..]).as_ref(),
            Ok(self),
            "encoded record does not decode to itself"
        );
    }

    /// Decodes one payload. Never panics; allocates at most about `bytes.len()`.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8("version")?;
        if !(RECORD_VERSION_MIN..=RECORD_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: RECORD_VERSION,
            });
        }
        let tag_offset = r.pos;
        let tag = r.u8("tag")?;
        let record = match tag {
            TAG_BLOB => decode_blob(&mut r)?,
            TAG_PUT => {
                let path = r.path("Put.path")?;
                let hash = BlobHash(r.array32("Put.hash")?);
                let mode_offset = r.pos;
                let code = r.u8("Put.mode")?;
                let mode = Mode::from_code(code)
                    .filter(|_| version >= 2 || code <= MODE_CODE_MAX_V1)
                    .ok_or(DecodeError::BadCode {
                        field: "Put.mode",
                        offset: mode_offset,
                        found: code,
                        expected: if version >= 2 {
                            "0 (File), 1 (Exec), 2 (Symlink), 3 (PrivateFile), \
                             4 (PrivateExec), 5 (GroupFile), 6 (GroupExec)"
                        } else {
                            "0 (File), 1 (Exec), 2 (Symlink) in a version-1 record"
                        },
                    })?;
                let size = r.u64("Put.size")?;
                let mtime_ns = r.i64("Put.mtime_ns")?;
                Record::Put {
                    path,
                    hash,
                    mode,
                    size,
                    mtime_ns,
                }
            }
            TAG_DELETE => Record::Delete {
                path: r.path("Delete.path")?,
            },
            TAG_RENAME => {
                let from = r.path("Rename.from")?;
                let to_offset = r.pos;
                let to = r.path("Rename.to")?;
                if from == to {
                    return Err(DecodeError::Inconsistent {
                        field: "Rename.to",
                        offset: to_offset,
                        reason: "a rename's target must differ from its source",
                    });
                }
                Record::Rename { from, to }
            }
            TAG_COMMIT => decode_commit(&mut r)?,
            TAG_PIN => {
                let name = r.name("Pin.name")?;
                let target_lsn = r.u64("Pin.target_lsn")?;
                let time_ns = r.i64("Pin.time_ns")?;
                Record::Pin {
                    name,
                    target_lsn,
                    time_ns,
                }
            }
            TAG_UNPIN => Record::Unpin {
                name: r.name("Unpin.name")?,
            },
            TAG_GAP => {
                let from_ns = r.i64("Gap.from_ns")?;
                let to_offset = r.pos;
                let to_ns = r.i64("Gap.to_ns")?;
                if to_ns < from_ns {
                    return Err(DecodeError::Inconsistent {
                        field: "Gap.to_ns",
                        offset: to_offset,
                        reason: "a gap must not end before it starts",
                    });
                }
                let reason = r.string("Gap.reason", GAP_REASON_MAX_BYTES)?;
                Record::Gap {
                    from_ns,
                    to_ns,
                    reason,
                }
            }
            found => {
                return Err(DecodeError::UnknownTag {
                    offset: tag_offset,
                    found,
                })
            }
        };
        let remaining = r.remaining();
        if remaining != 0 {
            return Err(DecodeError::TrailingBytes {
                offset: r.pos,
                count: remaining,
            });
        }
        Ok(record)
    }
}

fn decode_blob(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
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

fn decode_commit(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let time_ns = r.i64("Commit.time_ns")?;
    let seq = r.u64("Commit.seq")?;
    let kind_offset = r.pos;
    let code = r.u8("Commit.kind")?;
    let kind = CommitKind::from_code(code).ok_or(DecodeError::BadCode {
        field: "Commit.kind",
        offset: kind_offset,
        found: code,
        expected: "0 (Auto), 1 (Manual), 2 (Restore)",
    })?;
    let timeline = r.u32("Commit.timeline")?;
    let acked_lsn = r.u64("Commit.acked_lsn")?;
    let chain = r.array32("Commit.chain")?;
    let stats = CommitStats {
        added: r.u32("Commit.stats.added")?,
        modified: r.u32("Commit.stats.modified")?,
        deleted: r.u32("Commit.stats.deleted")?,
        bytes_new: r.u64("Commit.stats.bytes_new")?,
    };
    let flag_offset = r.pos;
    let message = match r.u8("Commit.message flag")? {
        0 => None,
        1 => Some(r.string("Commit.message", MESSAGE_MAX_BYTES)?),
        found => {
            return Err(DecodeError::BadCode {
                field: "Commit.message flag",
                offset: flag_offset,
                found,
                expected: "0 (absent), 1 (present)",
            })
        }
    };
    Ok(Record::Commit {
        time_ns,
        seq,
        kind,
        message,
        timeline,
        acked_lsn,
        chain,
        stats,
    })
}

/// Appends a `u32` length prefix and the bytes.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("record field longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor over untrusted bytes: every read checks the bytes left first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, field: &'static str, n: u64) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        // Compare in u64 so a huge length cannot wrap on a 32-bit target.
        if n > remaining as u64 {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                remaining,
            });
        }
        let n = n as usize;
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N as u64)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    fn array32(&mut self, field: &'static str) -> Result<[u8; 32], DecodeError> {
        self.array(field)
    }

    /// A length-prefixed byte string, the length checked against `max` and then
    /// against the bytes left, before the caller copies anything.
    fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len_offset = self.pos;
        let len = u64::from(self.u32(field)?);
        if len > max as u64 {
            return Err(DecodeError::TooLong {
                field,
                offset: len_offset,
                len,
                max: max as u64,
            });
        }
        self.take(field, len)
    }

    fn string(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        let offset = self.pos + 4;
        let bytes = self.bytes(field, max)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::BadUtf8 { field, offset }),
        }
    }

    fn name(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.pos + 4;
        let name = self.string(field, NAME_MAX_BYTES)?;
        if !is_valid_name(&name) {
            return Err(DecodeError::BadName { field, offset });
        }
        Ok(name)
    }

    fn path(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let offset = self.pos + 4;
        let path = self.bytes(field, PATH_MAX_BYTES)?;
        pathsafe::validate_path_syntax(path).map_err(|source| DecodeError::BadPath {
            field,
            offset,
            source,
        })?;
        Ok(path.to_vec())
    }
}

/// The most raw bytes the part of a blob starting at `offset` can hold: the rest of
/// the content, but no more than [`BLOB_PART_MAX_RAW`]. Pass it to
/// [`decompress_part`].
pub fn part_raw_len_max(raw_len: u64, offset: u64) -> u64 {
    raw_len.saturating_sub(offset).min(BLOB_PART_MAX_RAW as u64)
}

/// Compresses one raw part with zstd at `level` (1..=22; zstd clamps out-of-range
/// levels). Capture stores the result only when it is smaller than `raw`.
pub fn compress_zstd(raw: &[u8], level: i32) -> Vec<u8> {
    // In-memory compression with a valid level fails only if zstd cannot allocate
    // its context, which is as fatal as any other allocation failure.
    zstd::bulk::compress(raw, level).expect("zstd compression of an in-memory buffer failed")
}

/// zstd window limit for decoding: 2^23 = 8 MiB, twice [`BLOB_PART_MAX_RAW`]. zstd
/// shrinks the window to the input size when compressing a known-size buffer, so
/// nothing we write needs more, and a forged frame header cannot make the decoder
/// reserve zstd's default 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
const _: () = assert!(1usize << ZSTD_WINDOW_LOG_MAX >= BLOB_PART_MAX_RAW);

/// Decodes one blob part's `data` to its raw bytes, refusing to produce more than
/// `raw_len_max` bytes (use [`part_raw_len_max`]) or more than [`BLOB_PART_MAX_RAW`].
///
/// A zstd frame is untrusted: a few KiB can expand to gigabytes. This decodes as a
/// stream and stops one byte past the limit, so memory stays within the limit plus
/// zstd's bounded window, and the time spent is proportional to the limit, not to
/// what the frame claims. The result may be shorter than `raw_len_max`; the caller
/// checks the assembled content against the blob's hash.
pub fn decompress_part(
    codec: Codec,
    data: &[u8],
    raw_len_max: u64,
) -> Result<Vec<u8>, DecodeError> {
    let limit = raw_len_max.min(BLOB_PART_MAX_RAW as u64);
    match codec {
        Codec::None => {
            if data.len() as u64 > limit {
                return Err(DecodeError::PartTooLarge { limit });
            }
            Ok(data.to_vec())
        }
        Codec::Zstd => {
            let decompress_error = |e: std::io::Error| DecodeError::Decompress {
                reason: e.to_string(),
            };
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(data).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            let mut out = Vec::new();
            decoder
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(decompress_error)?;
            if out.len() as u64 > limit {
                return Err(DecodeError::PartTooLarge { limit });
            }
            Ok(out)
        }
    }
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
mod tests;
