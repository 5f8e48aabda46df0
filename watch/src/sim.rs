//! A deterministic simulated backend for tests: the test scripts the events,
//! optionally perturbed like a real kernel under stress ([`perturb`]: dropped
//! events, with or without an overflow notice, reordering, events for ignored paths).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Backend, Event};

/// A backend that delivers what its [`SimHandle`] was given, in order.
pub struct SimBackend {
    queue: Arc<Mutex<VecDeque<Event>>>,
}

/// The test's side of a [`SimBackend`].
#[derive(Clone)]
pub struct SimHandle {
    queue: Arc<Mutex<VecDeque<Event>>>,
}

impl SimBackend {
    /// A backend and the handle that feeds it.
    pub fn new() -> (SimBackend, SimHandle) {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        (
            SimBackend {
                queue: queue.clone(),
            },
            SimHandle { queue },
        )
    }
}

impl SimHandle {
    /// Queues events for the next poll.
    pub fn send(&self, events: impl IntoIterator<Item = Event>) {
        self.queue.lock().unwrap().extend(events);
    }

    /// Events not delivered yet.
    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

impl Backend for SimBackend {
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()> {
        let mut q = self.queue.lock().unwrap();
        if q.is_empty() && !timeout.is_zero() {
            drop(q);
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
            q = self.queue.lock().unwrap();
        }
        out.extend(q.drain(..));
        Ok(())
    }

    fn watched_dirs(&self) -> usize {
        1
    }

    fn name(&self) -> &'static str {
        "sim"
    }
}

/// How [`perturb`] mistreats a stream of events.
#[derive(Clone, Copy, Debug)]
pub struct Perturbation {
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// Drop about one event in this many (0: none).
    pub drop_one_in: u32,
    /// After a drop, say so with an overflow rescan (as inotify does); when false,
    /// drops are silent and only a later rescan converges.
    pub overflow_on_drop: bool,
    /// Shuffle events inside windows of this size (0 or 1: keep order).
    pub reorder_window: usize,
    /// Insert an event for an ignored path (`.git/…`, `.tl/…`) about one in this many.
    pub ignored_one_in: u32,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn one_in(&mut self, n: u32) -> bool {
        n != 0 && self.next().is_multiple_of(n as u64)
    }
}

/// `events` as a stressed kernel might deliver them; deterministic for a seed.
pub fn perturb(events: Vec<Event>, p: &Perturbation) -> Vec<Event> {
    let mut rng = Rng(p.seed.max(1));
    let mut out = Vec::with_capacity(events.len());
    let mut dropped = false;
    for e in events {
        if rng.one_in(p.ignored_one_in) {
            let name = if rng.next().is_multiple_of(2) {
                ".git/index"
            } else {
                ".tl/wal/x"
            };
            out.push(Event::Changed(name.as_bytes().to_vec()));
        }
        if rng.one_in(p.drop_one_in) {
            dropped = true;
            continue;
        }
        out.push(e);
    }
    if p.reorder_window > 1 {
        for chunk in out.chunks_mut(p.reorder_window) {
            for i in (1..chunk.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                chunk.swap(i, j);
            }
        }
    }
    if dropped && p.overflow_on_drop {
        out.push(Event::Rescan {
            dir: Vec::new(),
            reason: "simulated queue overflow".into(),
            lost: true,
        });
    }
    out
}
