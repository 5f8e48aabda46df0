//! The daemon's own GC: when the tree is quiet and `Store::gc_due` says so (the
//! log grew by `gc_every_bytes` since the last GC, or a day went by), the daemon
//! lends the log to a GC of its own, as it lends it to `tl gc`: it opens the
//! full store (the lock never leaves it, so no other writer slips in), hands it
//! to a thread at the lowest CPU priority that runs the same `gc::run` as
//! `tl gc`, and keeps reading events meanwhile; once the thread is done it
//! reopens the log and captures what changed during the GC. A GC that found
//! nothing to drop is remembered ([`GcChecked`]), so that it is not due again
//! until the log grows on or a day goes by; one asked to stop mid-way is cut
//! ([`Cancel`]), leaving the log as it was.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tl_index::gc::{self, Cancel, GcChecked, GcError, GcReport};
use tl_index::retention::Clock;
use tl_index::store::Store;
use tl_index::timespec::local_utc_offset_secs;

/// A GC running on its own thread.
pub(super) struct GcRun {
    thread: JoinHandle<Result<GcReport, GcError>>,
    started: Instant,
    cancel: Cancel,
}

/// How a finished GC went, for the daemon's log.
pub(super) enum GcOutcome {
    /// It ran (or found nothing to do).
    Done {
        /// What it did.
        report: Box<GcReport>,
        /// How long it took.
        took: Duration,
    },
    /// It was cut short by [`GcRun::cancel`]; the log is as it was.
    Cancelled,
    /// It failed; the log is as it was (or the next open finishes the swap).
    Failed(String),
}

impl GcRun {
    /// Opens the store at `root` with its full history and starts the GC on a
    /// thread of the lowest priority. The caller has closed its own store.
    pub(super) fn start(root: &Path) -> Result<GcRun, String> {
        let store = Store::open(root).map_err(|e| e.to_string())?;
        let cancel = Cancel::new();
        let stop = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("tl-gc".into())
            .spawn(move || {
                lowest_priority();
                let now_ns = Store::now_ns();
                let clock = Clock {
                    now_ns,
                    utc_offset_secs: local_utc_offset_secs(now_ns),
                };
                gc::run_cancellable(store, clock, &stop).map(|(_, report)| report)
            })
            .map_err(|e| e.to_string())?;
        Ok(GcRun {
            thread,
            started: Instant::now(),
            cancel,
        })
    }

    /// Asks the GC to stop at its next batch or blob (it finishes a swap
    /// already begun); [`GcRun::join`] then says [`GcOutcome::Cancelled`].
    pub(super) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the GC thread is done (its store closed).
    pub(super) fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the GC and says how it went.
    pub(super) fn join(self) -> GcOutcome {
        let took = self.started.elapsed();
        match self.thread.join() {
            Ok(Ok(report)) => GcOutcome::Done {
                report: Box::new(report),
                took,
            },
            Ok(Err(GcError::Cancelled)) => GcOutcome::Cancelled,
            Ok(Err(e)) => GcOutcome::Failed(e.to_string()),
            Err(_) => GcOutcome::Failed("the GC thread panicked".into()),
        }
    }
}

impl GcOutcome {
    /// Where a GC that dropped nothing looked (see [`GcReport::found_nothing`]).
    pub(super) fn found_nothing(&self) -> Option<GcChecked> {
        match self {
            GcOutcome::Done { report, .. } => report.found_nothing(),
            GcOutcome::Cancelled | GcOutcome::Failed(_) => None,
        }
    }
}

/// Puts the calling thread at the lowest CPU priority (nice 19), so that GC
/// never competes with the user's work. On Linux the nice value is a thread's
/// own; elsewhere it would be the whole daemon's, so it is left alone there.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        // Best effort: a GC at normal priority is still correct.
        let _ = rustix::process::setpriority_process(Some(tid), 19);
    }
}
