//! The Timeline record (tag 14, version 6): a timeline made, renamed or removed.
//!
//! A timeline is a named line of states. The first one, id 0, is `main` and
//! needs no record (every log written before timelines is `main`'s). Which
//! timeline a state is on is its Commit's `timeline` field; this record gives
//! ids their names and says where a new timeline starts. Written as a batch of
//! its own, as a Pin is.

use tl_wal::Lsn;

use super::decode::{DecodeError, Reader};

/// A timeline's number: 0 is the first (`main`), the others are given by their
/// Create record, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimelineId(pub u32);

impl TimelineId {
    /// The first timeline, `main` unless renamed.
    pub const MAIN: TimelineId = TimelineId(0);
}

impl std::fmt::Display for TimelineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a Timeline record does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimelineOpKind {
    /// A new timeline `id` named `name`, starting at the state whose Commit is
    /// at `base` (its newest state until it has one of its own).
    Create,
    /// Timeline `id` is now called `name`.
    Rename,
    /// Timeline `id` (called `name` when removed) is gone from the list; its
    /// states stay in the log until GC.
    Remove,
}

impl TimelineOpKind {
    /// The on-disk code (stable: part of the record format).
    pub fn code(self) -> u8 {
        match self {
            TimelineOpKind::Create => 0,
            TimelineOpKind::Rename => 1,
            TimelineOpKind::Remove => 2,
        }
    }

    /// Parses an on-disk code; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<TimelineOpKind> {
        match code {
            0 => Some(TimelineOpKind::Create),
            1 => Some(TimelineOpKind::Rename),
            2 => Some(TimelineOpKind::Remove),
            _ => None,
        }
    }
}

/// One Timeline record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineOp {
    /// Create, rename or remove.
    pub kind: TimelineOpKind,
    /// The timeline; never 0 in a Create.
    pub id: TimelineId,
    /// Its (new) name; see [`super::is_valid_name`].
    pub name: String,
    /// Create: the LSN of the batch of the state it starts from (None when
    /// the log had no state yet). Rename, Remove: None.
    pub base: Option<Lsn>,
    /// When, ns since the Unix epoch.
    pub time_ns: i64,
}

/// Appends the body of a Timeline record (after version and tag).
pub(super) fn encode_body(op: &TimelineOp, out: &mut Vec<u8>) {
    out.push(op.kind.code());
    out.extend_from_slice(&op.id.0.to_le_bytes());
    let name = op.name.as_bytes();
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name);
    match op.base {
        Some(lsn) => {
            out.push(1);
            out.extend_from_slice(&lsn.get().to_le_bytes());
        }
        None => {
            out.push(0);
            out.extend_from_slice(&0u64.to_le_bytes());
        }
    }
    out.extend_from_slice(&op.time_ns.to_le_bytes());
}

/// Decodes the body of a Timeline record.
pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<TimelineOp, DecodeError> {
    let op_offset = r.pos();
    let code = r.u8("Timeline.op")?;
    let kind = TimelineOpKind::from_code(code).ok_or(DecodeError::BadCode {
        field: "Timeline.op",
        offset: op_offset,
        found: code,
        expected: "0 (Create), 1 (Rename), 2 (Remove)",
    })?;
    let id_offset = r.pos();
    let id = TimelineId(r.u32("Timeline.id")?);
    if kind == TimelineOpKind::Create && id == TimelineId::MAIN {
        return Err(DecodeError::Inconsistent {
            field: "Timeline.id",
            offset: id_offset,
            reason: "timeline 0 is the first one and is never created",
        });
    }
    let name = r.name("Timeline.name")?;
    let flag_offset = r.pos();
    let flag = r.u8("Timeline.has_base")?;
    let base_offset = r.pos();
    let lsn = Lsn::new(r.u64("Timeline.base_lsn")?);
    let base = match flag {
        0 if lsn == Lsn::ZERO => None,
        1 if kind == TimelineOpKind::Create => Some(lsn),
        0 | 1 => {
            return Err(DecodeError::Inconsistent {
                field: "Timeline.base_lsn",
                offset: base_offset,
                reason: "only a Create has a base, and no base is LSN 0",
            })
        }
        found => {
            return Err(DecodeError::BadCode {
                field: "Timeline.has_base",
                offset: flag_offset,
                found,
                expected: "0 (no base), 1 (a base)",
            })
        }
    };
    let time_ns = r.i64("Timeline.time_ns")?;
    Ok(TimelineOp {
        kind,
        id,
        name,
        base,
        time_ns,
    })
}
