//! Decoding: payload bytes as a [`Record`], never panicking, each refusal a typed
//! [`DecodeError`] naming the field and offset.

use super::{
    is_valid_name, CommitKind, CommitStats, Record, Thinned, GAP_REASON_MAX_BYTES,
    MESSAGE_MAX_BYTES, NAME_MAX_BYTES, POLICY_MAX_BYTES, RECORD_VERSION, RECORD_VERSION_MIN,
    TAG_BLOB, TAG_BLOCK, TAG_CHUNKED, TAG_COMMIT, TAG_DELETE, TAG_GAP, TAG_ORIGIN, TAG_PIN,
    TAG_PUT, TAG_RENAME, TAG_THINNED, TAG_UNPIN,
};
use crate::pathsafe::{self, PathError, PATH_MAX_BYTES};
use crate::types::{BlobHash, Mode, MODE_CODE_MAX_V1};
use tl_wal::Lsn;

mod content;
use content::{decode_blob, decode_block, decode_chunked};

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
    #[error("unknown record tag {found} at offset {offset}, expected 1..=14")]
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

impl Record {
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
            super::TAG_HOLD if version >= 5 => decode_hold(&mut r)?,
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
                let target_lsn = Lsn::new(r.u64("Pin.target_lsn")?);
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
            TAG_ORIGIN if version >= 3 => Record::Origin {
                chain: r.array32("Origin.chain")?,
            },
            TAG_THINNED if version >= 3 => decode_thinned(&mut r)?,
            TAG_BLOCK if version >= 4 => decode_block(&mut r)?,
            TAG_CHUNKED if version >= 5 => decode_chunked(&mut r)?,
            super::TAG_TIMELINE if version >= 6 => {
                Record::Timeline(super::timeline::decode_body(&mut r)?)
            }
            found => {
                return Err(DecodeError::UnknownTag {
                    offset: tag_offset,
                    found,
                })
            }
        };
        // One encoding per record: each is written in the oldest version that
        // holds it, so a record of tags 1 to 8 marked version 3 or later, or of
        // tags 9 and 10 marked 4, is refused (versions 1 and 2 share tags 1 to 8),
        // and so is a Commit that needs version 6 (a timeline other than 0, kind
        // Switch or Undo) marked older.
        if (version >= 3 || record.version() >= 3) && record.version() != version {
            return Err(DecodeError::Inconsistent {
                field: "version",
                offset: 0,
                reason: "a record is written in the oldest version that holds it \
                         (2 for tags 1 to 8, 3 for 9 and 10, 4 for 11, 5 for 12 and 13, \
                         6 for 14 and for a Commit on a timeline other than 0 or of \
                         kind 3 or 4)",
            });
        }
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

fn decode_thinned(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let time_ns = r.i64("Thinned.time_ns")?;
    let prev_head = r.array32("Thinned.prev_head")?;
    let prev_end_lsn = Lsn::new(r.u64("Thinned.prev_end_lsn")?);
    let states_before = r.u64("Thinned.states_before")?;
    let kept = r.u64("Thinned.kept")?;
    let dropped_offset = r.pos;
    let dropped = r.u64("Thinned.dropped")?;
    if kept.checked_add(dropped) != Some(states_before) {
        return Err(DecodeError::Inconsistent {
            field: "Thinned.dropped",
            offset: dropped_offset,
            reason: "kept + dropped must equal states_before",
        });
    }
    let first_seq = r.u64("Thinned.first_seq")?;
    let last_offset = r.pos;
    let last_seq = r.u64("Thinned.last_seq")?;
    if last_seq < first_seq {
        return Err(DecodeError::Inconsistent {
            field: "Thinned.last_seq",
            offset: last_offset,
            reason: "the thinned range must not end before it starts",
        });
    }
    let policy = r.string("Thinned.policy", POLICY_MAX_BYTES)?;
    Ok(Record::Thinned(Thinned {
        time_ns,
        prev_head,
        prev_end_lsn,
        states_before,
        kept,
        dropped,
        first_seq,
        last_seq,
        policy,
    }))
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
        expected: "0 (Auto), 1 (Manual), 2 (Restore), 3 (Switch), 4 (Undo)",
    })?;
    let timeline = r.u32("Commit.timeline")?;
    let acked_lsn = Lsn::new(r.u64("Commit.acked_lsn")?);
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
/// A cursor over untrusted bytes: every read checks the bytes left first.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Where the next field starts.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

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

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
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

    pub(super) fn name(&mut self, field: &'static str) -> Result<String, DecodeError> {
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

fn decode_hold(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    // The root is never held: an empty path fails the path rules.
    let dir = r.path("Hold.dir")?;
    let from_ns = r.i64("Hold.from_ns")?;
    let to_offset = r.pos;
    let to_ns = r.i64("Hold.to_ns")?;
    if to_ns < from_ns {
        return Err(DecodeError::Inconsistent {
            field: "Hold.to_ns",
            offset: to_offset,
            reason: "a hold must not end before it starts",
        });
    }
    let files_per_minute = r.u64("Hold.files_per_minute")?;
    let bytes_per_minute = r.u64("Hold.bytes_per_minute")?;
    let ended = r.string("Hold.ended", GAP_REASON_MAX_BYTES)?;
    Ok(Record::Hold(super::Hold {
        dir,
        from_ns,
        to_ns,
        files_per_minute,
        bytes_per_minute,
        ended,
    }))
}
