//! A backend and a debouncer together: wait for the next batch.

use std::io;
use std::time::{Duration, Instant};

use crate::{Backend, Batch, DebounceConfig, Debouncer, Event};

/// What [`Watcher::next`] returns.
#[derive(Debug)]
pub enum Next {
    /// A batch is ready to capture.
    Batch(Batch),
    /// `wait` passed without a ready batch (events may be pending).
    Idle,
}

/// A [`Backend`] whose events go through a [`Debouncer`].
pub struct Watcher<B: Backend> {
    backend: B,
    debouncer: Debouncer,
    scratch: Vec<Event>,
    events_total: u64,
}

impl<B: Backend> Watcher<B> {
    /// Watches with `backend`, debouncing as `config` says.
    pub fn new(backend: B, config: DebounceConfig) -> Watcher<B> {
        Watcher {
            backend,
            debouncer: Debouncer::new(config),
            scratch: Vec::new(),
            events_total: 0,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Events received since start.
    pub fn events_total(&self) -> u64 {
        self.events_total
    }

    /// How long the caller may sleep before calling [`Watcher::next`] again with
    /// nothing readable on the backend's descriptor.
    pub fn sleep_budget(&self, cap: Duration) -> Duration {
        let now = Instant::now();
        let mut d = cap;
        for t in [self.debouncer.deadline(), self.backend.next_timer()]
            .into_iter()
            .flatten()
        {
            d = d.min(t.saturating_duration_since(now));
        }
        d
    }

    /// Polls the backend for at most `wait` (less if a batch falls due sooner) and
    /// returns a batch once one is ready.
    pub fn next(&mut self, wait: Duration) -> io::Result<Next> {
        let start = Instant::now();
        loop {
            let now = Instant::now();
            if let Some(b) = self.debouncer.take_ready(now) {
                return Ok(Next::Batch(b));
            }
            let left = wait.saturating_sub(now - start);
            let timeout = self.sleep_budget(left);
            self.scratch.clear();
            self.backend.poll(timeout, &mut self.scratch)?;
            let now = Instant::now();
            self.events_total += self.scratch.len() as u64;
            for e in self.scratch.drain(..) {
                self.debouncer.push(e, now);
            }
            if let Some(b) = self.debouncer.take_ready(now) {
                return Ok(Next::Batch(b));
            }
            if now - start >= wait {
                return Ok(Next::Idle);
            }
        }
    }

    /// Drains what the backend has ready and returns everything pending, ready or
    /// not (flush before exit or before a checkpoint asked for by the user).
    pub fn flush(&mut self) -> io::Result<Option<Batch>> {
        self.drain()?;
        Ok(self.debouncer.take())
    }

    /// Moves what the backend has ready into the debouncer without handing out a
    /// batch, however due: for a caller that cannot capture now (another process
    /// holds the log) but must keep the kernel's queue from overflowing. Everything
    /// stays pending for a later [`Watcher::flush`]. Returns the events received.
    pub fn drain(&mut self) -> io::Result<usize> {
        self.scratch.clear();
        self.backend.poll(Duration::ZERO, &mut self.scratch)?;
        let now = Instant::now();
        let n = self.scratch.len();
        self.events_total += n as u64;
        for e in self.scratch.drain(..) {
            self.debouncer.push(e, now);
        }
        Ok(n)
    }

    /// Like [`Watcher::sleep_budget`] for a caller that only calls
    /// [`Watcher::drain`]: the debouncer's deadline is ignored (a due batch waits),
    /// only the backend's own timer counts.
    pub fn drain_budget(&self, cap: Duration) -> Duration {
        match self.backend.next_timer() {
            Some(t) => cap.min(t.saturating_duration_since(Instant::now())),
            None => cap,
        }
    }

    /// True when nothing is pending here or in the backend: no event waits in
    /// the debouncer (call [`Watcher::flush`] first to drain the kernel's queue),
    /// and the backend has no fallback scan due (every directory is watched). A
    /// caller that captured what the last flush returned then knows the tree.
    pub fn is_idle(&self) -> bool {
        !self.debouncer.has_pending() && self.backend.next_timer().is_none()
    }

    /// Queues a rescan of `dir` as if the backend asked for it.
    pub fn request_rescan(&mut self, dir: Vec<u8>, reason: &str, lost: bool) {
        self.debouncer.push(
            Event::Rescan {
                dir,
                reason: reason.into(),
                lost,
            },
            Instant::now(),
        );
    }
}
