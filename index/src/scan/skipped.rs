//! What a capture records for a path it skipped although the path is still there.
//!
//! A scan leaves out what it cannot capture: a file that never held still while
//! read, one it cannot read, one larger than `max_file_bytes`, a directory it
//! cannot list. Left at that, the new state would lack those paths and the log
//! would record them as deleted, and a later replay to that state would delete
//! them from the disk although they never went away. So the capture keeps, for
//! each such path (and everything under a skipped directory), the entry the last
//! checkpoint has: the path keeps its previous recorded version, no `Delete` is
//! written, and the warning says so by name. A path the last checkpoint does not
//! have stays out of the new state (there is no version to keep).
//!
//! This is for paths that are still there. A tracked file that became ignored, or
//! that a FIFO or socket replaced, is no longer captured on purpose: it leaves the
//! new states (a `Delete`), and a replay leaves the disk's file alone because the
//! capture taken before it does not track it.

use std::ops::Bound;

use super::ScanWarning;
use crate::pathsafe::is_under;
use crate::types::Tree;

/// Puts back into `tree` (what a scan found) the entries of `previous` (the last
/// checkpoint's tree) at or under each path a warning says was skipped although
/// still there ([`WarningKind::keeps_previous_version`](super::WarningKind)), and
/// completes each such warning's message with what the capture recorded.
pub fn keep_skipped(previous: &Tree, tree: &mut Tree, warnings: &mut [ScanWarning]) {
    for w in warnings.iter_mut() {
        if w.path.is_root() || !w.kind.keeps_previous_version() {
            continue;
        }
        let mut kept = false;
        let at = w.path.as_bytes();
        let from = (Bound::Included(at), Bound::Unbounded);
        for (path, entry) in previous
            .range::<[u8], _>(from)
            .take_while(|(p, _)| p.starts_with(at))
            .filter(|(p, _)| is_under(p, at))
        {
            kept = true;
            tree.entry(path.clone()).or_insert(*entry);
        }
        let consequence = if kept {
            "the version of the last checkpoint is kept"
        } else {
            "not captured (no earlier version to keep)"
        };
        w.message = format!("{}; {consequence}", w.message);
    }
}
