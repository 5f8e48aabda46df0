//! Timelines as the log names them: the fold of the Timeline records (ids,
//! names, where each starts) and the questions asked of them with the
//! checkpoints: a timeline's newest state and its line of states.
//!
//! Timeline 0 is the first, called `main` until renamed; it needs no record,
//! so a log written before timelines is all `main`'s. Which timeline a state
//! belongs to is its Commit's; the current timeline is the last state's (a
//! switch's Commit is on the timeline switched to).

use std::collections::BTreeMap;

use tl_wal::Lsn;

use super::{Checkpoint, CheckpointIndex};
use crate::record::{TimelineId, TimelineOp, TimelineOpKind};

/// The name of timeline 0 until it is renamed.
pub const MAIN_NAME: &str = "main";

/// One timeline as the log names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Its number.
    pub id: TimelineId,
    /// Its name now.
    pub name: String,
    /// The LSN of the state it started from (None: timeline 0, or made before
    /// the log had a state).
    pub base_lsn: Option<Lsn>,
    /// When it was made (0 for timeline 0).
    pub created_ns: i64,
    /// Removed by `tl timeline rm`: gone from the list, its states still there.
    pub removed: bool,
}

/// Every timeline the log names, removed ones included (their states still
/// belong to them), and the records that named them, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timelines {
    by_id: BTreeMap<TimelineId, Timeline>,
    ops: Vec<TimelineOp>,
}

impl Default for Timelines {
    fn default() -> Timelines {
        let mut by_id = BTreeMap::new();
        by_id.insert(
            TimelineId::MAIN,
            Timeline {
                id: TimelineId::MAIN,
                name: MAIN_NAME.to_string(),
                base_lsn: None,
                created_ns: 0,
                removed: false,
            },
        );
        Timelines {
            by_id,
            ops: Vec::new(),
        }
    }
}

impl Timelines {
    /// Folds one Timeline record. A record about an unknown id (a Rename or
    /// Remove whose Create damage took) names it from then on; a Create of an
    /// id already made is ignored (ids are never reused).
    pub(super) fn apply(&mut self, op: TimelineOp) {
        match op.kind {
            TimelineOpKind::Create => {
                self.by_id.entry(op.id).or_insert_with(|| Timeline {
                    id: op.id,
                    name: op.name.clone(),
                    base_lsn: op.base,
                    created_ns: op.time_ns,
                    removed: false,
                });
            }
            TimelineOpKind::Rename | TimelineOpKind::Remove => {
                let t = self.by_id.entry(op.id).or_insert_with(|| Timeline {
                    id: op.id,
                    name: op.name.clone(),
                    base_lsn: None,
                    created_ns: op.time_ns,
                    removed: false,
                });
                if op.kind == TimelineOpKind::Rename {
                    t.name = op.name.clone();
                } else {
                    t.removed = true;
                }
            }
        }
        self.ops.push(op);
    }

    /// The records folded, in log order (what the catalog cache keeps).
    pub(crate) fn ops(&self) -> &[TimelineOp] {
        &self.ops
    }

    /// The timeline `id`, removed or not (a Commit may name an id no record
    /// named: it is listed under its number).
    pub fn get(&self, id: TimelineId) -> Option<&Timeline> {
        self.by_id.get(&id)
    }

    /// The name shown for `id`: its name, or `#N` for an id no record named.
    pub fn name_of(&self, id: TimelineId) -> String {
        self.get(id)
            .map_or_else(|| format!("#{id}"), |t| t.name.clone())
    }

    /// The timeline not removed called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Timeline> {
        self.by_id.values().find(|t| !t.removed && t.name == name)
    }

    /// The timelines not removed, by id.
    pub fn live(&self) -> impl Iterator<Item = &Timeline> {
        self.by_id.values().filter(|t| !t.removed)
    }

    /// Every timeline, removed ones included, by id.
    pub fn all(&self) -> impl Iterator<Item = &Timeline> {
        self.by_id.values()
    }

    /// The id a new timeline gets: one more than any named so far.
    pub fn next_id(&self) -> TimelineId {
        let last = self.by_id.keys().next_back().map_or(0, |id| id.0);
        TimelineId(last.saturating_add(1))
    }
}

/// The index of the checkpoint whose batch starts at `lsn`.
fn at_lsn(checkpoints: &[Checkpoint], lsn: Lsn) -> Option<CheckpointIndex> {
    checkpoints
        .binary_search_by_key(&lsn, |c| c.lsn)
        .ok()
        .map(CheckpointIndex::new)
}

/// The newest state of timeline `id`: its last checkpoint, or the one it
/// started from while it has none of its own (None: neither exists).
pub fn head_of(
    timelines: &Timelines,
    checkpoints: &[Checkpoint],
    id: TimelineId,
) -> Option<CheckpointIndex> {
    if let Some(i) = checkpoints.iter().rposition(|c| c.timeline == id) {
        return Some(CheckpointIndex::new(i));
    }
    timelines
        .get(id)
        .and_then(|t| t.base_lsn)
        .and_then(|lsn| at_lsn(checkpoints, lsn))
}

/// The states of timeline `id` in log order, with the ones it inherited: those
/// of the timeline it started from up to and including its base, and so on
/// back to a timeline with no base. Each step back must go to an earlier
/// state, so a hostile log cannot make it loop.
pub fn lineage(
    timelines: &Timelines,
    checkpoints: &[Checkpoint],
    id: TimelineId,
) -> Vec<CheckpointIndex> {
    let mut parts: Vec<Vec<CheckpointIndex>> = Vec::new();
    let mut cur = id;
    // States after `limit` are not inherited (exclusive upper bound).
    let mut limit = checkpoints.len();
    loop {
        let own: Vec<CheckpointIndex> = checkpoints[..limit]
            .iter()
            .enumerate()
            .filter(|(_, c)| c.timeline == cur)
            .map(|(i, _)| CheckpointIndex::new(i))
            .collect();
        let first_own = own.first().map_or(limit, |i| i.get());
        parts.push(own);
        let Some(base) = timelines
            .get(cur)
            .and_then(|t| t.base_lsn)
            .and_then(|lsn| at_lsn(checkpoints, lsn))
        else {
            break;
        };
        if base.get() >= first_own || base.get() >= limit {
            break;
        }
        let base_cp = &checkpoints[base.get()];
        // The base itself, then what its timeline had before it.
        parts.push(vec![base]);
        cur = base_cp.timeline;
        limit = base.get();
        if parts.len() > 2 * (timelines.by_id.len() + 1) {
            break;
        }
    }
    let mut out: Vec<CheckpointIndex> = parts.into_iter().rev().flatten().collect();
    out.dedup();
    out
}
