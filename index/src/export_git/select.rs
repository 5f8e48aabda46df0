//! Which checkpoints become commits: every one, or the last of each `--every` window
//! with the window still open held back.

use super::ExportOptions;
use crate::catalog::{Checkpoint, CheckpointIndex};

/// A checkpoint that becomes a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pick {
    /// Its index in the store's checkpoints.
    pub(super) index: CheckpointIndex,
    /// How many checkpoints the commit stands for (its window's, ending with it).
    pub(super) stands_for: usize,
}

/// What [`select`] chose.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Selection {
    pub(super) picks: Vec<Pick>,
    /// Checkpoints held back because their `--every` window is still open.
    pub(super) held_back: usize,
    /// When that window closes (ns since the epoch).
    pub(super) open_window_ends_ns: Option<i64>,
}

/// Which of the checkpoints in scope after `after` (all of them when `None`) become commits
/// (all of them, filtered by `--since` on a first export and by `--until`; with
/// `--every`, the last of each window).
pub(super) fn select(
    cps: &[Checkpoint],
    in_scope: &[bool],
    after: Option<CheckpointIndex>,
    first_export: bool,
    opts: &ExportOptions,
) -> Selection {
    let from = after.map_or(0, |i| i.get() + 1);
    let candidates = (from..cps.len())
        .map(CheckpointIndex::new)
        .filter(|&i| in_scope[i.get()])
        .filter(|&i| !first_export || opts.since_ns.is_none_or(|s| cps[i].time_ns >= s))
        .filter(|&i| opts.until_ns.is_none_or(|u| cps[i].time_ns <= u));
    let Some(every) = opts.every_ns else {
        let picks = candidates
            .map(|index| Pick {
                index,
                stands_for: 1,
            })
            .collect();
        return Selection {
            picks,
            ..Selection::default()
        };
    };
    let mut picks: Vec<Pick> = Vec::new();
    let mut last_window = None;
    for index in candidates {
        let w = cps[index].time_ns.div_euclid(every);
        if last_window == Some(w) {
            let p = picks.last_mut().expect("a window has a pick");
            *p = Pick {
                index,
                stands_for: p.stands_for + 1,
            };
        } else {
            picks.push(Pick {
                index,
                stands_for: 1,
            });
            last_window = Some(w);
        }
    }
    if let Some(&last) = picks.last() {
        let end = (cps[last.index].time_ns.div_euclid(every) + 1).saturating_mul(every);
        if end > opts.now_ns {
            picks.pop();
            return Selection {
                picks,
                held_back: last.stands_for,
                open_window_ends_ns: Some(end),
            };
        }
    }
    Selection {
        picks,
        ..Selection::default()
    }
}
