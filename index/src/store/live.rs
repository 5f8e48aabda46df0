//! What live capture (the daemon, `tl watch`) needs from the store beyond the
//! commands: captures that commit nothing when nothing changed, and gap markers.

use super::{now_ns, CheckpointOutcome, Result, Store};
use crate::record::{CommitKind, Record};

impl Store {
    /// Captures the directory like [`Store::checkpoint`], but commits nothing and
    /// returns None when the tree is unchanged since the last checkpoint (a batch of
    /// events may end where it started: a file written and restored, ignored paths).
    pub fn checkpoint_if_changed(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<Option<CheckpointOutcome>> {
        self.capture(kind, message, &|_| {}, true)
    }

    /// Records that events between `from_ns` and `to_ns` may have been lost (the
    /// capture that follows closes the gap by scanning). `tl log` shows it.
    pub fn record_gap(&mut self, from_ns: i64, to_ns: i64, reason: &str) -> Result<()> {
        let mut reason = reason.to_string();
        let max = crate::record::GAP_REASON_MAX_BYTES;
        if reason.len() > max {
            let mut cut = max;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let rec = Record::Gap {
            from_ns: from_ns.min(to_ns),
            to_ns,
            reason,
        }
        .encode();
        self.wal()?.append(&[&rec])?;
        self.fold_to_end()?;
        self.save_catalog();
        Ok(())
    }

    /// The current time as the store stamps commits (ns since the Unix epoch).
    pub fn now_ns() -> i64 {
        now_ns()
    }
}
