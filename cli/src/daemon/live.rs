//! The daemon's loop (`Live`): wait on the watcher, the socket and a lease;
//! capture due batches; lend the log to another writer (`pause`) and take it back.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tl_index::record::CommitKind;
use tl_index::store::{is_skipped_path, SkippedPaths, Store};
use tl_watch::{Backend, Batch, DebounceConfig, Next, Watcher};
use tracing::{error, info, warn};

use super::idle_gc::{GcOutcome, GcRun};
use super::runaway::{Budget, Runaway};
use super::ship::Shipper;
use super::{alloc, conn, guard, idle_gc};
use crate::command_error::CommandError;

/// How long a pause may last: then the daemon stops waiting for the lease's
/// connection to close and takes the log back as soon as its lock is free (a
/// holder that closed its store but hangs on to the connection).
pub const LEASE_LIMIT: Duration = Duration::from_secs(3600);
/// Between two attempts to reopen the log after a pause.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// True when the lease's connection was closed (or broke) by its holder. Whatever
/// it sent is read and ignored.
pub(super) fn lease_ended(s: &UnixStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

/// Counters for `tl daemon status`.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) started: Option<Instant>,
    pub(super) captures: u64,
    pub(super) gaps: u64,
    pub(super) last_capture_ns: i64,
    /// (when, events_total) a few seconds ago, for events/s.
    pub(super) window: Option<(Instant, u64)>,
    pub(super) rate: f64,
}

/// The log lent to another process by a `pause` request.
pub(super) struct Pause {
    /// The pid the requester gave (0: unknown).
    pub(super) by: u64,
    pub(super) since: Instant,
    /// The requester's connection; None once it closed (or the lease timed out)
    /// and the log is to be reopened.
    pub(super) lease: Option<UnixStream>,
    /// When to try reopening the log next (once `lease` is None).
    pub(super) retry_at: Instant,
    /// Failed attempts to reopen, to log the first and then one a minute.
    pub(super) failures: u32,
}

/// The live-capture engine: a store (writer), a watcher, an optional socket.
pub struct Live<B: Backend> {
    /// The writer; None while paused (another process holds the lock).
    pub(super) store: Option<Store>,
    pub(super) root: PathBuf,
    pub(super) watcher: Watcher<B>,
    /// The socket and the connections being read (see [`conn`]).
    pub(super) clients: conn::Clients,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) stats: Stats,
    /// Some while paused: then `store` is None.
    pub(super) pause: Option<Pause>,
    /// Print each capture on stdout (`tl watch` in a terminal).
    pub verbose: bool,
    /// Set when the loop ended because the root went away.
    pub root_gone: bool,
    /// When to do the idle work (see [`Live::idle_work`]), if any is pending.
    pub(super) idle_work_at: Option<Instant>,
    /// The pid file and the log segments, checked for changes under the daemon
    /// (see [`guard`]); None when there is no pid file (tests).
    pub(super) own_files: Option<guard::OwnFiles>,
    /// The daemon's own GC, while it runs (the log is lent to it: `pause` is
    /// set, without a lease).
    pub(super) gc: Option<idle_gc::GcRun>,
    /// The newest GC of the daemon's that found nothing to drop (it leaves no
    /// record in the log, so this keeps it from being due after every capture).
    gc_checked: Option<tl_index::gc::GcChecked>,
    /// The runaway guard: what each directory wrote lately, what is held (see
    /// [`super::hold`]).
    pub(super) runaway: Runaway,
    /// The paths the captures currently skip although they are there (too
    /// large, unreadable, never held still): logged once as each enters,
    /// listed by `tl daemon status`. Kept here, not in the store, so that a
    /// pause (the store is closed and reopened) does not forget them.
    pub(super) skipped: SkippedPaths,
    /// The shipping to remotes with auto on (see [`super::ship`]).
    pub(super) ship: Shipper,
    /// Some while the disk is full (see [`super::stall`]): then `store` is None.
    pub(super) stall: Option<super::stall::Stall>,
    /// The monotonic clock the lease's time limit is measured with (tests
    /// move it forward an hour).
    pub(super) clock: Box<dyn Fn() -> Instant + Send>,
}

/// Quiet time after a capture before the idle work is done.
const IDLE_WORK_AFTER: Duration = Duration::from_secs(2);

impl<B: Backend> Live<B> {
    /// An engine; `stop` ends [`Live::run`] (after a flush) when set.
    pub fn new(
        store: Store,
        backend: B,
        debounce: DebounceConfig,
        listener: Option<UnixListener>,
        stop: Arc<AtomicBool>,
    ) -> Live<B> {
        let budget = Budget {
            files_per_minute: store.config().runaway_files_per_minute,
            bytes_per_minute: store.config().runaway_bytes_per_minute,
        };
        let ship = Shipper::new(
            store.root(),
            Duration::from_secs(store.config().push_interval_s),
        );
        Live {
            ship,
            runaway: Runaway::new(budget, Instant::now()),
            skipped: SkippedPaths::new(),
            root: store.root().to_path_buf(),
            store: Some(store),
            watcher: Watcher::new(backend, debounce),
            clients: conn::Clients::new(listener),
            stop,
            stats: Stats::default(),
            pause: None,
            verbose: false,
            root_gone: false,
            idle_work_at: None,
            own_files: None,
            gc: None,
            gc_checked: None,
            stall: None,
            clock: Box::new(Instant::now),
        }
    }

    /// Stops the loop with an error when the pid file or the log segments change
    /// under it (see [`guard`]).
    pub fn guard_own_files(&mut self) {
        self.own_files = Some(guard::OwnFiles::new(&self.root));
    }

    /// The store (panics while paused).
    #[cfg(test)]
    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("the log is lent out (paused)")
    }

    /// Replaces the monotonic clock of the lease's time limit.
    #[cfg(test)]
    pub fn set_clock(&mut self, clock: Box<dyn Fn() -> Instant + Send>) {
        self.clock = clock;
    }

    /// The time on the lease's clock.
    pub(super) fn now(&self) -> Instant {
        (self.clock)()
    }

    /// True while the log is lent to another process.
    pub fn paused(&self) -> bool {
        self.pause.is_some()
    }

    /// The writer, or the error telling why there is none now.
    pub(super) fn writer(&mut self) -> Result<&mut Store> {
        match (&mut self.store, &self.pause) {
            (Some(s), _) => Ok(s),
            (None, Some(p)) if p.by != 0 => Err(CommandError::busy(format!(
                "the watcher is paused while pid {} writes",
                p.by
            ))
            .with_hint("retry")
            .into()),
            (None, None) if self.stall.is_some() => {
                let since = self.stall.as_ref().map_or(0, |s| s.since_ns);
                Err(CommandError::failure(format!(
                    "the disk is full: the daemon has captured nothing since {}",
                    tl_index::timespec::format_local(since)
                ))
                .with_hint(
                    "free some space (or run `tl gc`): the daemon resumes by itself and \
                     captures what changed meanwhile",
                )
                .into())
            }
            (None, _) => Err(CommandError::busy(
                "the watcher is paused while another tl command writes",
            )
            .with_hint("retry")
            .into()),
        }
    }

    /// The watcher.
    #[cfg(test)]
    pub fn watcher_mut(&mut self) -> &mut Watcher<B> {
        &mut self.watcher
    }

    /// Captures what changed while nobody watched: a gap from the last checkpoint
    /// to now (when there is history), then a capture against the stat cache.
    pub fn catch_up(&mut self, previous_start_ns: Option<i64>) -> Result<()> {
        let now = Store::now_ns();
        let store = self.writer()?;
        let last = store.last_checkpoint().map(|c| c.time_ns);
        if let Some(from) = last.or(previous_start_ns) {
            store.record_gap(
                from,
                now,
                "no watcher was running (caught up by a scan at start)",
            )?;
            self.stats.gaps += 1;
        }
        self.capture_now("catch-up scan")?;
        // From now on only appends: drop the history from memory.
        self.writer()?.go_lean();
        Ok(())
    }

    fn capture_now(&mut self, why: &str) -> Result<()> {
        let out = self
            .writer()?
            .checkpoint_if_changed(CommitKind::Auto, None)?;
        self.captured(out, why);
        Ok(())
    }

    /// Logs a capture and counts it.
    pub(super) fn captured(&mut self, out: Option<tl_index::store::CheckpointOutcome>, why: &str) {
        self.retry_unsettled();
        self.stats.last_capture_ns = Store::now_ns();
        self.idle_work_at = Some(Instant::now() + IDLE_WORK_AFTER);
        if let Some(out) = out {
            self.stats.captures += 1;
            self.ship.captured();
            // Skipped paths are logged once each, by `note_skipped`.
            for w in out.warnings.iter().filter(|w| !is_skipped_path(w)) {
                warn!("{w}");
            }
            if let Some(over) = &out.over_limit {
                warn!("{}", crate::batch_consent::over_limit_warning(over));
            }
            let c = &out.checkpoint;
            // The store's first capture says what it left out as secrets.
            if let (1, Some(note)) = (c.seq, crate::left_out_text::secrets(&out.secrets_left_out)) {
                warn!("{note}");
            }
            if self.verbose {
                println!("{}", crate::output::checkpoint_line(c));
            } else {
                // " captured " is what benches/watch/watch_bench.py counts.
                info!(
                    why,
                    "captured {}  +{} ~{} -{}",
                    c.id,
                    c.stats.added,
                    c.stats.modified,
                    c.stats.deleted
                );
            }
        }
    }

    /// Folds what the last capture skipped into [`Live::skipped`], logging each
    /// path as it enters (or is skipped for another reason).
    fn note_skipped(&mut self) {
        let Some(report) = self.store.as_mut().and_then(|s| s.take_skip_report()) else {
            return;
        };
        for w in self.skipped.apply(report) {
            warn!("{w}");
        }
    }

    /// Queues again every file the last capture found changing while it read it
    /// (it kept its previous version): it is captured once it settles, after the
    /// debounce's quiet time, like a path an event named.
    pub(super) fn retry_unsettled(&mut self) {
        self.note_skipped();
        let Some(store) = self.store.as_mut() else {
            return;
        };
        for path in store.take_unsettled() {
            self.watcher
                .request_rescan(path, "changed while being read", false);
        }
    }

    /// Work left for when the tree is quiet: the catalog cache is saved and the
    /// compactor started when due (see `Store::idle_maintenance`), and memory freed
    /// by captures is handed back to the system.
    fn idle_work(&mut self) {
        self.idle_work_at = None;
        let mut busy = false;
        if let Some(store) = self.store.as_mut() {
            busy = store.idle_maintenance() || store.compactor_running();
        }
        alloc::release_free_memory();
        if busy {
            // Hand back the compactor's memory too once it is done.
            self.idle_work_at = Some(Instant::now() + Duration::from_millis(500));
            return;
        }
        if self
            .store
            .as_ref()
            .is_some_and(|s| s.gc_due(Store::now_ns(), self.gc_checked))
        {
            if self.ship.is_pushing() {
                // The push reads the sealed segments the GC would rewrite.
                self.idle_work_at = Some(Instant::now() + Duration::from_secs(1));
                return;
            }
            self.start_gc();
        }
    }

    /// Lends the log to a GC of the daemon's own (see [`idle_gc`]).
    fn start_gc(&mut self) {
        if let Some(mut store) = self.store.take() {
            store.save_caches();
        }
        match GcRun::start(&self.root) {
            Ok(run) => {
                info!("the log grew or a day went by since the last GC: running the GC");
                self.gc = Some(run);
            }
            Err(e) => warn!("cannot start the GC ({e}); retrying after the next capture"),
        }
        // Paused without a lease: the log is reopened once the GC is done (or
        // at once, if it could not start).
        let now = Instant::now();
        self.pause = Some(Pause {
            by: u64::from(std::process::id()),
            since: self.now(),
            lease: None,
            retry_at: now,
            failures: 0,
        });
    }

    /// Logs how the daemon's GC went, once it is done; true while it runs.
    fn gc_running(&mut self) -> bool {
        if self.gc.as_ref().is_some_and(|g| !g.is_finished()) {
            return true;
        }
        if let Some(run) = self.gc.take() {
            let outcome = run.join();
            if let Some(checked) = outcome.found_nothing() {
                self.gc_checked = Some(checked);
            }
            match outcome {
                GcOutcome::Done { report, took } => {
                    let p = &report.plan;
                    info!(
                        kept = p.kept(),
                        dropped = p.dropped(),
                        log_bytes_before = p.log_bytes,
                        log_bytes_after = report.log_bytes_after,
                        took_ms = took.as_millis() as u64,
                        "GC done"
                    );
                }
                GcOutcome::Cancelled => {
                    info!("the GC was stopped before it replaced the log; the log is as it was")
                }
                GcOutcome::Failed(e) => warn!("the GC failed ({e}); the log is as it was"),
            }
        }
        false
    }

    /// Captures one batch: a gap first if events may have been lost.
    pub fn capture_batch(&mut self, batch: Batch) -> Result<()> {
        for w in &batch.warnings {
            warn!("{w}");
        }
        if batch.root_gone {
            error!("the watched directory was deleted or moved; stopping");
            self.root_gone = true;
            self.stop.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if !batch.lost.is_empty() {
            let mut reasons = batch.lost.clone();
            reasons.dedup();
            let from = if self.stats.last_capture_ns != 0 {
                self.stats.last_capture_ns
            } else {
                Store::now_ns()
            };
            self.writer()?
                .record_gap(from, Store::now_ns(), &reasons.join("; "))?;
            self.stats.gaps += 1;
            warn!(
                "events may have been lost ({}); rescanning",
                reasons.join("; ")
            );
        }
        let why = format!("{} events", batch.events);
        let full = batch.full_rescan();
        // Only what the batch names: its paths and the directories to rescan,
        // less what the runaway guard holds.
        let rescans = batch.rescans;
        let mut paths: Vec<Vec<u8>> = batch.paths.into_iter().collect();
        paths.extend(rescans.iter().cloned());
        let paths = self.leave_out_held(paths)?;
        // A rescan names a directory, not what changed in it: its files are
        // counted from what the capture changed there.
        let (rescanned, named): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            paths.iter().cloned().partition(|p| rescans.contains(p));
        let mut written = self.written(&named);
        let before = self.recorded_under(&rescanned);
        let held = self.runaway.held_dirs();
        let out = if full && held.is_empty() {
            self.writer()?
                .checkpoint_if_changed(CommitKind::Auto, None)?
        } else if paths.is_empty() {
            None
        } else {
            self.writer()?
                .capture_paths_around(CommitKind::Auto, paths, &held)?
        };
        self.captured(out, &why);
        written.extend(self.changed_under(&rescanned, &before));
        // Captured once: a directory this batch put over budget is held from
        // the next batch on.
        self.count_written(&written);
        Ok(())
    }

    /// Captures whatever is pending now (an error while paused: the events stay
    /// pending).
    pub fn flush(&mut self) -> Result<()> {
        self.writer()?;
        if let Some(b) = self.watcher.flush()? {
            self.capture_batch(b)?;
        }
        Ok(())
    }

    /// Runs until the stop flag is set (signal, `tl daemon stop`, root gone), then
    /// captures what is pending.
    pub fn run(&mut self) -> Result<()> {
        self.stats.started = Some(Instant::now());
        while !self.stop.load(Ordering::SeqCst) {
            self.turn()?;
        }
        // A GC of the daemon's own is cut (the log stays as it was; the next
        // idle moment after the next start runs it again): a stop must not wait
        // for a rewrite of the whole log.
        if let Some(run) = &self.gc {
            run.cancel();
            while !run.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
            }
            self.gc_running();
        }
        if let Some(p) = &self.pause {
            // Stopped while paused: take the log back if its holder is done.
            if p.lease.as_ref().is_none_or(lease_ended) {
                if let Ok(store) = Store::open(&self.root) {
                    self.store = Some(store);
                    self.pause = None;
                }
            }
        }
        if let Some(p) = &self.pause {
            warn!(
                holder = p.by,
                "stopping while another process writes the log: what changed since the \
                 pause is left to the catch-up scan of the next start"
            );
        } else if !self.root_gone {
            self.flush()?;
            // Written at the stop; the next start's catch-up scan captures them.
            self.end_all_holds()?;
        }
        if let Some(store) = self.store.as_mut() {
            store.wait_for_compactor();
            // Not into a moved or deleted tree: that would make `.tl/index` anew
            // at the old path.
            if !self.root_gone {
                store.save_caches();
            }
        }
        Ok(())
    }

    /// One round of the loop: wait, then capture a due batch (or, while paused,
    /// only read events and watch the lease), then answer clients.
    pub fn turn(&mut self) -> Result<()> {
        self.wait();
        if let (None, Some(own)) = (&self.pause, &mut self.own_files) {
            if let Err(what) = own.check() {
                anyhow::bail!(
                    "{what}; stopping rather than writing into a log that changed under it \
                     (`tl fsck` checks what is left; keep .tl/ out of git with .git/info/exclude)"
                );
            }
        }
        if self.pause.is_some() {
            self.watcher.drain()?;
            self.check_pause()?;
        } else if self.stall.is_some() {
            self.check_stall()?;
        } else {
            match self.watcher.next(Duration::ZERO)? {
                Next::Batch(b) => {
                    if let Err(e) = self.capture_batch(b) {
                        self.capture_failed(e)?;
                    }
                }
                Next::Idle => {
                    if self.idle_work_at.is_some_and(|t| Instant::now() >= t) {
                        self.idle_work();
                    }
                }
            }
        }
        if let Some(store) = self.store.as_ref() {
            self.ship
                .tick(|| store.seal_log().map(drop).map_err(|e| e.to_string()));
        }
        self.serve_clients();
        Ok(())
    }

    /// While paused: ends the lease when its connection closed or it ran too long,
    /// then reopens the log (retrying every second while it is still locked) and
    /// captures everything that happened meanwhile as one batch.
    fn check_pause(&mut self) -> Result<()> {
        if self.gc_running() {
            // Look again in a moment (the wait sleeps until `retry_at`).
            if let Some(p) = &mut self.pause {
                p.retry_at = Instant::now() + Duration::from_millis(200);
            }
            return Ok(());
        }
        let now = self.now();
        let Some(p) = &mut self.pause else {
            return Ok(());
        };
        if let Some(lease) = &p.lease {
            if lease_ended(lease) {
                p.lease = None;
            } else if now.saturating_duration_since(p.since) >= LEASE_LIMIT {
                warn!(
                    holder = p.by,
                    "the pause lasted over {} s; taking the log back",
                    LEASE_LIMIT.as_secs()
                );
                p.lease = None;
            }
        }
        if p.lease.is_some() || Instant::now() < p.retry_at {
            return Ok(());
        }
        match Store::open(&self.root) {
            Ok(store) => {
                let (by, paused_for) = (p.by, now.saturating_duration_since(p.since));
                self.store = Some(store);
                self.pause = None;
                if let Some(own) = &mut self.own_files {
                    own.forget();
                }
                info!(
                    holder = by,
                    paused_ms = paused_for.as_millis() as u64,
                    "resumed; capturing what changed during the pause"
                );
                if let Err(e) = self.flush() {
                    return self.capture_failed(e);
                }
                self.writer()?.go_lean();
                Ok(())
            }
            Err(e) => {
                if p.failures % 60 == 0 {
                    warn!("cannot reopen the log yet ({e}); retrying every second");
                }
                p.failures += 1;
                p.retry_at = Instant::now() + REOPEN_EVERY;
                Ok(())
            }
        }
    }

    /// Sleeps until the watcher's descriptor, the socket or a lease is readable,
    /// or a deadline (debounce, fallback scan, reopening) is due. Idle costs no CPU.
    fn wait(&self) {
        let cap = Duration::from_secs(5);
        let budget = match (&self.pause, self.stall_retry_at()) {
            // Stalled: events are only read; the next retry is the deadline.
            (None, Some(t)) => self
                .watcher
                .drain_budget(cap)
                .min(t.saturating_duration_since(Instant::now())),
            (None, None) => match self.idle_work_at {
                Some(t) => self
                    .watcher
                    .sleep_budget(cap)
                    .min(t.saturating_duration_since(Instant::now())),
                None => self.watcher.sleep_budget(cap),
            },
            // Paused: a due batch waits for the log, only the backend's timer counts.
            (Some(p), _) => self.watcher.drain_budget(cap).min(match p.lease {
                Some(_) => {
                    LEASE_LIMIT.saturating_sub(self.now().saturating_duration_since(p.since))
                }
                None => p.retry_at.saturating_duration_since(Instant::now()),
            }),
        };
        let budget = match (&self.pause, self.ship.next_due()) {
            (None, Some(t)) => budget.min(t.saturating_duration_since(Instant::now())),
            _ => budget,
        };
        // A connection still sending its request is dropped at its deadline.
        let budget = match self.clients.next_deadline() {
            Some(t) => budget.min(t.saturating_duration_since(Instant::now())),
            None => budget,
        };
        let budget = match (&self.pause, &self.own_files) {
            (None, Some(own)) => budget.min(own.due_at().saturating_duration_since(Instant::now())),
            _ => budget,
        };
        let backend_fd = self.watcher.backend().as_fd();
        let budget = if backend_fd.is_none() {
            budget.min(Duration::from_millis(2))
        } else {
            budget
        };
        if budget.is_zero() {
            return;
        }
        let mut fds = Vec::with_capacity(3);
        fds.extend(backend_fd);
        fds.extend(self.clients.fds());
        // A closed lease reads as end-of-file (POLLIN, POLLHUP).
        fds.extend(
            self.pause
                .as_ref()
                .and_then(|p| p.lease.as_ref())
                .map(|s| s.as_fd()),
        );
        // A signal ends the wait: the loop checks the stop flag. A failed poll
        // (it cannot fail with valid descriptors) only makes the loop go round.
        let _ = tl_watch::wait_readable(&fds, budget);
    }
}
