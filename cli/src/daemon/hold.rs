//! The runaway guard in the daemon's loop (issue 13): batches are counted by
//! [`Runaway`](super::runaway::Runaway), a directory over budget is captured once
//! and then held — left out of every capture, a whole-tree rescan included — until
//! `tl resume DIR`, until it is ignored, or until the daemon stops.
//!
//! A hold that ends is written to the log as a Hold record, a mark like a gap:
//! the held directory's history has a hole there. The capture that ends it (the
//! resume's, or the catch-up scan of the next start) brings the directory up to
//! date. A daemon restarted while a directory was held writes the hold at its
//! stop, captures the directory in its catch-up scan, and counts it afresh: a
//! runaway writer still running is held again within the budget's window.

use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;

use anyhow::Result;
use tl_index::pathsafe::is_under;
use tl_index::record::CommitKind;
use tl_index::scan::{diff_trees, IgnoreRules};
use tl_index::store::Store;
use tl_index::types::Tree;
use tl_watch::Backend;
use tracing::{info, warn};

use super::live::Live;
use super::protocol::{CheckpointSummary, HoldStatus, Resumed};
use super::runaway::{rate_text, Hold, Now, Written};
use crate::command_error::CommandError;

/// Why a hold ended, as its Hold record says.
const ENDED_BY_RESUME: &str = "resumed by tl resume";
const ENDED_BY_IGNORE: &str = "the directory was added to the ignore rules";
const ENDED_BY_STOP: &str = "the daemon stopped (its next start captures the directory)";

impl<B: Backend> Live<B> {
    /// `paths` less those under a held directory (counted in its hold). When an
    /// ignore file is among them, a held directory the rules now ignore is
    /// released first: ignoring it is one of the two ways out.
    pub(super) fn leave_out_held(&mut self, mut paths: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
        if self.runaway.is_empty() {
            return Ok(paths);
        }
        if paths
            .iter()
            .any(|p| p.is_empty() || IgnoreRules::is_rule_path(p))
        {
            let mut rules = IgnoreRules::new(&self.root);
            for dir in self.runaway.held_dirs() {
                if rules.ignored(&dir, true) {
                    self.end_hold(&dir, ENDED_BY_IGNORE)?;
                }
            }
        }
        paths.retain(|p| match self.runaway.held_dir_of(p).map(<[u8]>::to_vec) {
            Some(dir) => {
                self.runaway.note_held_events(&dir, 1);
                false
            }
            None => true,
        });
        Ok(paths)
    }

    /// What a batch of `paths` writes, for the budget: each path still there
    /// with its size now. A path gone counts nothing: removing a tree (`rm -rf
    /// node_modules`, a directory newly ignored) is a one-off, not a runaway
    /// writer, and would hold a directory that is no longer there.
    pub(super) fn written(&self, paths: &[Vec<u8>]) -> Vec<Written> {
        paths
            .iter()
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let abs = self.root.join(std::ffi::OsStr::from_bytes(p));
                let meta = std::fs::symlink_metadata(abs).ok()?;
                Some(Written {
                    path: p.clone(),
                    bytes: if meta.is_file() { meta.len() } else { 0 },
                })
            })
            .collect()
    }

    /// What the last checkpoint records at or under `scopes` (all of it for the
    /// root), to be compared after a capture with [`Live::changed_under`].
    pub(super) fn recorded_under(&self, scopes: &[Vec<u8>]) -> Tree {
        let Some(store) = self.store.as_ref() else {
            return Tree::new();
        };
        let head = store.head();
        let mut out = Tree::new();
        for scope in scopes {
            let under = head
                .range::<[u8], _>((Bound::Included(&scope[..]), Bound::Unbounded))
                .take_while(|(p, _)| p.starts_with(scope))
                .filter(|(p, _)| is_under(p, scope));
            out.extend(under.map(|(p, e)| (p.clone(), *e)));
        }
        out
    }

    /// What a capture added or changed at or under `scopes` since `before`, for
    /// the budget: each path with its new size (deletions count nothing, as in
    /// [`Live::written`]).
    pub(super) fn changed_under(&self, scopes: &[Vec<u8>], before: &Tree) -> Vec<Written> {
        if scopes.is_empty() {
            return Vec::new();
        }
        let after = self.recorded_under(scopes);
        diff_trees(before, &after)
            .iter()
            .filter_map(|c| {
                Some(Written {
                    path: c.path().as_bytes().to_vec(),
                    bytes: c.new_entry()?.size,
                })
            })
            .collect()
    }

    /// Counts a captured batch; a directory it put over budget is held.
    pub(super) fn count_written(&mut self, written: &[Written]) {
        let now = Now {
            at: std::time::Instant::now(),
            ns: Store::now_ns(),
        };
        let mut rules: Option<IgnoreRules> = None;
        for hold in self.runaway.record(written, now) {
            // Never hold what the rules ignore (it is not captured anyway).
            let rules = rules.get_or_insert_with(|| IgnoreRules::new(&self.root));
            if rules.ignored(&hold.dir, true) {
                self.runaway.release(&hold.dir);
                continue;
            }
            warn!(
                dir = %String::from_utf8_lossy(&hold.dir),
                files_per_minute = hold.rate.files,
                bytes_per_minute = hold.rate.bytes,
                "held: {} wrote {}; it was captured once and is not captured until \
                 `tl resume {}` or until it is added to .tlignore",
                String::from_utf8_lossy(&hold.dir),
                rate_text(hold.rate),
                String::from_utf8_lossy(&hold.dir),
            );
        }
    }

    /// The holds, as `status` reports them.
    pub(super) fn hold_statuses(&self) -> Vec<HoldStatus> {
        self.runaway.holds().map(hold_status).collect()
    }

    /// `resume`: ends the hold of `dir` and captures it once.
    pub(super) fn resume(&mut self, dir: &str) -> Result<Resumed> {
        self.writer()?;
        let Some(held) = self
            .runaway
            .holds()
            .find(|h| String::from_utf8_lossy(&h.dir) == dir)
            .map(|h| h.dir.clone())
        else {
            let held: Vec<String> = self
                .runaway
                .holds()
                .map(|h| String::from_utf8_lossy(&h.dir).into_owned())
                .collect();
            let what = if held.is_empty() {
                "nothing is held".to_string()
            } else {
                format!("held: {}", held.join(", "))
            };
            return Err(CommandError::usage(format!("{dir} is not held ({what})")).into());
        };
        // Whatever else is pending first, around the holds, as usual.
        self.flush()?;
        let hold = self.end_hold(&held, ENDED_BY_RESUME)?;
        let others = self.runaway.held_dirs();
        let out = self
            .writer()?
            .capture_paths_around(CommitKind::Auto, vec![held], &others)?;
        let checkpoint = out.as_ref().map(|o| CheckpointSummary::of(&o.checkpoint));
        self.captured(out, "resumed");
        Ok(Resumed {
            hold: hold_status(&hold),
            checkpoint,
        })
    }

    /// Ends every hold (the daemon stops).
    pub(super) fn end_all_holds(&mut self) -> Result<()> {
        for dir in self.runaway.held_dirs() {
            self.end_hold(&dir, ENDED_BY_STOP)?;
        }
        Ok(())
    }

    /// Ends the hold of `dir`, recorded in the log with `why`.
    fn end_hold(&mut self, dir: &[u8], why: &str) -> Result<Hold> {
        let hold = self
            .runaway
            .release(dir)
            .expect("only a held directory is released");
        // Marked in the log like a gap: the directory's history has a hole here.
        self.writer()?.record_hold(tl_index::record::Hold {
            dir: hold.dir.clone(),
            from_ns: hold.since_ns,
            to_ns: Store::now_ns(),
            files_per_minute: hold.rate.files,
            bytes_per_minute: hold.rate.bytes,
            ended: why.to_string(),
        })?;
        info!(
            dir = %String::from_utf8_lossy(dir),
            events_held = hold.events_held,
            "hold ended: {why}"
        );
        Ok(hold)
    }
}

fn hold_status(h: &Hold) -> HoldStatus {
    HoldStatus {
        dir: String::from_utf8_lossy(&h.dir).into_owned(),
        since: tl_index::timespec::format_rfc3339(h.since_ns),
        since_ns: h.since_ns,
        files_per_minute: h.rate.files,
        bytes_per_minute: h.rate.bytes,
        events_held: h.events_held,
    }
}
