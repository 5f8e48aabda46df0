//! A backend read by a thread of its own, so the kernel's queue is drained while
//! the caller is busy capturing.
//!
//! The daemon's loop is single-threaded: while it captures a batch it does not read
//! events. inotify's queue holds `fs.inotify.max_user_events` (16,384 by default)
//! events; a burst of small-file writes produces three per file, so a capture that
//! takes a second during a 50,000-events/s burst overflowed the queue (a gap and a
//! whole-tree rescan). [`Threaded`] moves the reading to a thread that only reads
//! and queues, waking the caller through a pipe (its read end is
//! [`Backend::as_fd`]). The queue in memory is bounded too: past
//! [`BACKLOG_MAX`] events it is replaced by one lossy rescan of the root, as an
//! overflow of the kernel's queue would be.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{wait_readable, Backend, Event};

/// Events queued in memory before the backlog is replaced by a rescan of the root
/// (about 100 MB of events).
pub const BACKLOG_MAX: usize = 1_000_000;

/// How long the reading thread blocks in a backend that has no descriptor to
/// wait on (the simulated one) before polling it again.
const POLL_SLICE: Duration = Duration::from_millis(1);

/// The longest wait on the backend's descriptor: the thread wakes only for
/// events, the backend's timer, or the stop signal.
const WAIT_MAX: Duration = Duration::from_secs(3600);

struct Shared {
    queue: Mutex<Queue>,
    /// The backlog bound ([`BACKLOG_MAX`] outside tests).
    backlog_max: usize,
    stop: AtomicBool,
    watched_dirs: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    /// An error of the inner backend: reported once, then the thread is gone.
    error: Option<io::Error>,
    /// The backlog overflowed since the caller last polled.
    overflowed: bool,
}

/// A [`Backend`] whose inner backend is polled by a thread of its own.
pub struct Threaded {
    shared: Arc<Shared>,
    wake: std::io::PipeReader,
    /// Written on drop: wakes the thread so it stops at once.
    stop: std::io::PipeWriter,
    thread: Option<JoinHandle<()>>,
    name: &'static str,
}

impl Threaded {
    /// Starts the reading thread for `inner`.
    pub fn spawn<B: Backend + 'static>(inner: B) -> io::Result<Threaded> {
        Threaded::spawn_with_backlog(inner, BACKLOG_MAX)
    }

    /// [`Threaded::spawn`] with another backlog bound (tests).
    pub fn spawn_with_backlog<B: Backend + 'static>(
        mut inner: B,
        backlog_max: usize,
    ) -> io::Result<Threaded> {
        let (wake, mut signal) = std::io::pipe()?;
        let (stop_rx, stop) = std::io::pipe()?;
        for fd in [wake.as_fd(), signal.as_fd()] {
            let flags = rustix::fs::fcntl_getfl(fd)?;
            rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            backlog_max,
            stop: AtomicBool::new(false),
            watched_dirs: AtomicUsize::new(inner.watched_dirs()),
        });
        let name = inner.name();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tl-watch-{name}"))
            .spawn(move || {
                let mut batch = Vec::new();
                while !s.stop.load(Ordering::Relaxed) {
                    let result = match inner.as_fd() {
                        Some(fd) => {
                            let wait = inner
                                .next_timer()
                                .map(|t| t.saturating_duration_since(std::time::Instant::now()))
                                .unwrap_or(WAIT_MAX)
                                .min(WAIT_MAX);
                            // A failed wait only means polling without one.
                            let _ = wait_readable(&[fd, stop_rx.as_fd()], wait);
                            if s.stop.load(Ordering::Relaxed) {
                                return;
                            }
                            inner.poll(Duration::ZERO, &mut batch)
                        }
                        None => inner.poll(POLL_SLICE, &mut batch),
                    };
                    s.watched_dirs
                        .store(inner.watched_dirs(), Ordering::Relaxed);
                    let failed = result.is_err();
                    if batch.is_empty() && !failed {
                        continue;
                    }
                    {
                        let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
                        if let Err(e) = result {
                            q.error = Some(e);
                        }
                        q.events.extend(batch.drain(..));
                        if q.events.len() > s.backlog_max {
                            q.events.clear();
                            q.overflowed = true;
                        }
                    }
                    // A full pipe already holds a wake-up: nothing to do then.
                    let _ = signal.write(&[1]);
                    if failed {
                        return;
                    }
                }
            })?;
        Ok(Threaded {
            shared,
            wake,
            stop,
            thread: Some(thread),
            name,
        })
    }
}

impl Backend for Threaded {
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()> {
        if !timeout.is_zero() && self.is_empty() {
            let ts = rustix::event::Timespec {
                tv_sec: timeout.as_secs() as i64,
                tv_nsec: timeout.subsec_nanos() as _,
            };
            let fd = self.wake.as_fd();
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut sink = [0u8; 256];
        while matches!(self.wake.read(&mut sink), Ok(n) if n > 0) {}
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if std::mem::take(&mut q.overflowed) {
            out.push(Event::Rescan {
                dir: Vec::new(),
                reason: format!(
                    "over {} events were waiting to be captured",
                    self.shared.backlog_max
                ),
                lost: true,
            });
        }
        out.extend(q.events.drain(..));
        if q.events.capacity() > 4096 {
            q.events.shrink_to(4096);
        }
        match q.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.wake.as_fd())
    }

    fn watched_dirs(&self) -> usize {
        self.shared.watched_dirs.load(Ordering::Relaxed)
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

impl Threaded {
    fn is_empty(&self) -> bool {
        let q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.events.is_empty() && q.error.is_none() && !q.overflowed
    }
}

impl Drop for Threaded {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.stop.write(&[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimBackend;

    #[test]
    fn events_read_by_the_thread_reach_the_caller_in_order() {
        let (sim, handle) = SimBackend::new();
        let mut t = Threaded::spawn(sim).unwrap();
        let sent: Vec<Event> = (0..1000)
            .map(|i| Event::Changed(format!("f{i}").into_bytes()))
            .collect();
        handle.send(sent.clone());
        let mut got = Vec::new();
        while got.len() < sent.len() {
            t.poll(Duration::from_secs(5), &mut got).unwrap();
        }
        assert_eq!(got, sent);
        assert_eq!(t.name(), "sim");
    }

    #[test]
    fn a_backlog_over_its_bound_becomes_one_lossy_rescan_of_the_root() {
        let (sim, handle) = SimBackend::new();
        let mut t = Threaded::spawn_with_backlog(sim, 100).unwrap();
        // Nobody polls while 1,000 events arrive: the backlog overflows.
        handle.send((0..1000).map(|i| Event::Changed(format!("f{i}").into_bytes())));
        while handle.pending() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        handle.send([Event::Changed(b"after".to_vec())]);
        let mut got = Vec::new();
        while !got.contains(&Event::Changed(b"after".to_vec())) {
            t.poll(Duration::from_secs(5), &mut got).unwrap();
        }
        assert!(
            matches!(&got[0], Event::Rescan { dir, lost: true, .. } if dir.is_empty()),
            "{:?}",
            &got[0]
        );
        assert!(
            got.len() <= 102,
            "the backlog was dropped: {} events",
            got.len()
        );
    }

    #[test]
    fn a_caller_waiting_on_the_descriptor_is_woken() {
        let (sim, handle) = SimBackend::new();
        let t = Threaded::spawn(sim).unwrap();
        let fd = t.as_fd().unwrap();
        handle.send([Event::Changed(b"a".to_vec())]);
        let ts = rustix::event::Timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let n = rustix::event::poll(&mut fds, Some(&ts)).unwrap();
        assert_eq!(n, 1, "the pipe became readable");
    }
}
