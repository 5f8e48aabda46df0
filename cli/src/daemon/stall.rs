//! A full disk under the daemon (issue 19): a capture that fails for want of
//! space (ENOSPC, or EDQUOT over a quota) does not stop the daemon. The failed
//! batch was never acknowledged; the log writer is poisoned by the failed
//! write (nothing more is written until it is reopened), so the daemon closes
//! the store, keeps reading the watcher's events (the kernel queue must not
//! overflow), says so in `tl daemon status` and its log, and retries with a
//! growing wait (1 s doubling to [`RETRY_MAX`]). When a retry reopens the log
//! (recovery cuts the torn tail of the failed write), it records a Gap from the
//! last capture to now and captures the whole tree against the stat cache:
//! what changed meanwhile is in the next checkpoint, every earlier one as it was.
//!
//! While stalled the daemon holds no lock: other commands open the log
//! themselves (a pause request is granted at once).

use std::time::{Duration, Instant};

use anyhow::Result;
use tl_index::store::Store;
use tl_watch::Backend;
use tracing::{info, warn};

use super::live::Live;
use super::protocol;

/// The longest wait between two retries.
pub(super) const RETRY_MAX: Duration = Duration::from_secs(30);
/// The first wait.
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// The errno values of "no space": ENOSPC (28) and EDQUOT (122 on Linux, 69 on
/// the BSDs and macOS).
fn no_space_codes() -> [i32; 2] {
    [libc::ENOSPC, libc::EDQUOT]
}

/// True when `err` (anywhere in its chain) is a file system out of space or
/// over quota. Some layers keep only the text of the I/O error they met (the
/// poisoned writer's first failure): the rendered chain's "(os error N)" counts too.
pub(super) fn out_of_space(err: &anyhow::Error) -> bool {
    let codes = no_space_codes();
    let typed = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|c| codes.contains(&c))
    });
    let text = format!("{err:#}");
    typed
        || codes
            .iter()
            .any(|c| text.contains(&format!("(os error {c})")))
}

/// The daemon's state while the disk is full.
pub(super) struct Stall {
    /// When the first capture failed (ns since the epoch, for the status).
    pub(super) since_ns: i64,
    /// The last capture before it (the gap's start; the failure time when
    /// there was none); None once the gap is recorded.
    pub(super) gap_from_ns: Option<i64>,
    /// The error of the last failed attempt.
    pub(super) reason: String,
    /// Failed attempts to resume.
    pub(super) retries: u32,
    /// When to try next.
    pub(super) retry_at: Instant,
}

impl Stall {
    fn wait(&self) -> Duration {
        RETRY_FIRST
            .saturating_mul(1u32 << self.retries.min(5))
            .min(RETRY_MAX)
    }

    /// What `tl daemon status` shows of it.
    pub(super) fn status(&self) -> protocol::Stalled {
        protocol::Stalled {
            since: tl_index::timespec::format_rfc3339(self.since_ns),
            since_ns: self.since_ns,
            reason: self.reason.clone(),
            retries: self.retries,
            next_retry_s: self
                .retry_at
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
        }
    }
}

impl<B: Backend> Live<B> {
    /// Handles a capture's error: out of space, the daemon stalls (see the
    /// module) and goes on; any other error is the caller's.
    pub(super) fn capture_failed(&mut self, err: anyhow::Error) -> Result<()> {
        if !out_of_space(&err) {
            return Err(err);
        }
        self.stall_on(format!("{err:#}"));
        Ok(())
    }

    /// Stalls for want of space (or, stalled already, counts a failed retry).
    pub(super) fn stall_on(&mut self, reason: String) {
        // The writer is poisoned (or a content file half written): close it.
        self.store = None;
        // The failed batch is gone: the whole tree is scanned on resuming.
        self.watcher
            .request_rescan(Vec::new(), "the disk was full", false);
        let now = Instant::now();
        if let Some(s) = &mut self.stall {
            s.reason = reason;
            s.retries += 1;
            s.retry_at = now + s.wait();
            if s.retries % 10 == 0 {
                warn!(retries = s.retries, "the disk is still full ({})", s.reason);
            }
            return;
        }
        let since_ns = Store::now_ns();
        let gap_from_ns = if self.stats.last_capture_ns != 0 {
            self.stats.last_capture_ns
        } else {
            since_ns
        };
        warn!(
            "the disk is full: cannot capture ({reason}); the daemon keeps watching and \
             resumes by itself when space frees (free some space, or run `tl gc`)"
        );
        let mut stall = Stall {
            since_ns,
            gap_from_ns: Some(gap_from_ns),
            reason,
            retries: 0,
            retry_at: now,
        };
        stall.retry_at = now + stall.wait();
        self.stall = Some(stall);
    }

    /// True while the disk is full.
    pub fn stalled(&self) -> bool {
        self.stall.is_some()
    }

    /// When the next retry is due, while stalled.
    pub(super) fn stall_retry_at(&self) -> Option<Instant> {
        self.stall.as_ref().map(|s| s.retry_at)
    }

    /// While stalled: reads events (they are captured on resuming) and, when a
    /// retry is due, reopens the log, records the gap and captures the tree.
    pub(super) fn check_stall(&mut self) -> Result<()> {
        self.watcher.drain()?;
        let Some(s) = &self.stall else {
            return Ok(());
        };
        // Lent to another command meanwhile: it gives the log back first.
        if self.pause.is_some() || Instant::now() < s.retry_at {
            return Ok(());
        }
        let (since, reason) = (s.since_ns, s.reason.clone());
        match self.resume_after_stall() {
            Ok(()) => {
                self.stall = None;
                // The warning at the start may not have reached a full disk.
                info!(
                    stalled_s = (Store::now_ns() - since) / 1_000_000_000,
                    "space is back: resumed after the disk was full since {} ({reason}); \
                     the gap is recorded and the tree captured",
                    tl_index::timespec::format_local(since)
                );
                Ok(())
            }
            Err(e) => self.capture_failed(e),
        }
    }

    /// Reopens the log, records the gap once, and captures what is pending
    /// (the whole tree: see [`Live::stall_on`]).
    fn resume_after_stall(&mut self) -> Result<()> {
        if self.store.is_none() {
            self.store = Some(Store::open(&self.root)?);
        }
        if let Some(from) = self.stall.as_ref().and_then(|s| s.gap_from_ns) {
            let now = Store::now_ns();
            self.writer()?.record_gap(
                from,
                now,
                "the disk was full: nothing could be captured (caught up by a scan)",
            )?;
            self.stats.gaps += 1;
            if let Some(s) = &mut self.stall {
                s.gap_from_ns = None;
            }
        }
        self.flush()?;
        self.writer()?.go_lean();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_is_recognised_typed_and_as_text_and_nothing_else_is() {
        let typed = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC))
            .context("writing the log");
        assert!(out_of_space(&typed));
        let quota = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EDQUOT));
        assert!(out_of_space(&quota));
        let text = anyhow::anyhow!(
            "the log writer is poisoned by an earlier I/O failure ({}); nothing more is written",
            std::io::Error::from_raw_os_error(libc::ENOSPC)
        );
        assert!(out_of_space(&text));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EIO));
        assert!(!out_of_space(&other));
        assert!(!out_of_space(&anyhow::anyhow!("no space for that idea")));
    }

    #[test]
    fn the_retry_wait_doubles_from_one_second_up_to_thirty() {
        let mut s = Stall {
            since_ns: 0,
            gap_from_ns: None,
            reason: String::new(),
            retries: 0,
            retry_at: Instant::now(),
        };
        let mut waits = Vec::new();
        for r in 0..8 {
            s.retries = r;
            waits.push(s.wait().as_secs());
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
