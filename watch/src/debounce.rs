//! Coalescing per path and debounce.
//!
//! Events are folded into one pending [`Batch`]: a path seen many times is there
//! once; a path under a directory already due for a rescan is dropped (the rescan
//! covers it). The batch is ready when the tree has been quiet for
//! [`DebounceConfig::quiet`] since the last event, or [`DebounceConfig::max_delay`]
//! after its first event, whichever comes first, so a file written continuously
//! is still captured at least once per `max_delay`. Warnings and a deleted root
//! make the batch ready at once. Time is passed in, so the logic is deterministic.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::Event;

/// Debounce settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebounceConfig {
    /// Quiet period after the last event (default 50 ms; 0 = as soon as polled).
    pub quiet: Duration,
    /// Longest wait after the first event of a batch (default 1 s).
    pub max_delay: Duration,
}

impl Default for DebounceConfig {
    fn default() -> Self {
        DebounceConfig {
            quiet: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

/// What to capture: the coalesced events of one debounce period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Paths that changed (files or directories), sorted, deduplicated.
    pub paths: BTreeSet<Vec<u8>>,
    /// Directories to scan entirely (empty path = the root).
    pub rescans: BTreeSet<Vec<u8>>,
    /// Why events may have been lost in this period (empty: the batch is exact).
    pub lost: Vec<String>,
    /// Messages for the user.
    pub warnings: Vec<String>,
    /// The root was deleted or moved.
    pub root_gone: bool,
    /// Raw events folded into this batch.
    pub events: u64,
    /// When the first event of the batch arrived.
    pub first_at: Option<Instant>,
}

impl Batch {
    /// True when nothing was folded in.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// True when the whole tree must be scanned.
    pub fn full_rescan(&self) -> bool {
        self.rescans.contains(&Vec::new())
    }
}

fn under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

/// Folds events into batches; see the module docs.
#[derive(Debug)]
pub struct Debouncer {
    config: DebounceConfig,
    pending: Batch,
    last_at: Option<Instant>,
    urgent: bool,
}

impl Debouncer {
    /// A debouncer with these settings.
    pub fn new(config: DebounceConfig) -> Debouncer {
        Debouncer {
            config,
            pending: Batch::default(),
            last_at: None,
            urgent: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> DebounceConfig {
        self.config
    }

    /// Folds one event that arrived at `now`.
    pub fn push(&mut self, event: Event, now: Instant) {
        let b = &mut self.pending;
        b.events += 1;
        b.first_at.get_or_insert(now);
        self.last_at = Some(now);
        match event {
            Event::Changed(p) => {
                if !b.rescans.iter().any(|d| under(&p, d)) {
                    b.paths.insert(p);
                }
            }
            Event::Rescan { dir, reason, lost } => {
                if lost {
                    b.lost.push(reason);
                }
                if !b.rescans.iter().any(|d| under(&dir, d)) {
                    b.paths.retain(|p| !under(p, &dir));
                    b.rescans.retain(|d| !under(d, &dir));
                    b.rescans.insert(dir);
                }
            }
            Event::Warning(w) => {
                b.warnings.push(w);
                self.urgent = true;
            }
            Event::RootGone => {
                b.root_gone = true;
                self.urgent = true;
            }
        }
    }

    /// When the pending batch becomes ready (None: nothing pending).
    pub fn deadline(&self) -> Option<Instant> {
        let first = self.pending.first_at?;
        let last = self.last_at.unwrap_or(first);
        if self.urgent {
            return Some(first);
        }
        Some((last + self.config.quiet).min(first + self.config.max_delay))
    }

    /// True when a batch is pending and ready at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    /// Takes the pending batch if it is ready at `now`.
    pub fn take_ready(&mut self, now: Instant) -> Option<Batch> {
        if self.ready(now) {
            self.take()
        } else {
            None
        }
    }

    /// Takes the pending batch whether or not it is ready (flush).
    pub fn take(&mut self) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        self.last_at = None;
        self.urgent = false;
        Some(std::mem::take(&mut self.pending))
    }

    /// True when events are pending.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn coalesces_and_waits_for_quiet() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DebounceConfig::default());
        d.push(Event::Changed(b"a".to_vec()), t0);
        d.push(Event::Changed(b"a".to_vec()), t0 + ms(10));
        d.push(Event::Changed(b"b".to_vec()), t0 + ms(20));
        assert!(!d.ready(t0 + ms(60)));
        assert!(d.ready(t0 + ms(70)));
        let b = d.take_ready(t0 + ms(70)).unwrap();
        assert_eq!(b.paths.len(), 2);
        assert_eq!(b.events, 3);
        assert!(d.take().is_none());
    }

    #[test]
    fn continuous_writes_are_cut_at_max_delay() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DebounceConfig::default());
        let mut t = t0;
        let mut batches = 0;
        while t < t0 + ms(3500) {
            d.push(Event::Changed(b"log".to_vec()), t);
            if d.take_ready(t).is_some() {
                batches += 1;
            }
            t += ms(10);
        }
        assert_eq!(batches, 3, "one batch per second of continuous writes");
    }

    #[test]
    fn rescan_absorbs_paths_under_it_and_records_loss() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DebounceConfig::default());
        d.push(Event::Changed(b"src/a".to_vec()), t0);
        d.push(Event::Changed(b"srcx".to_vec()), t0);
        d.push(
            Event::Rescan {
                dir: b"src".to_vec(),
                reason: "overflow".into(),
                lost: true,
            },
            t0,
        );
        d.push(Event::Changed(b"src/b/c".to_vec()), t0);
        let b = d.take().unwrap();
        assert_eq!(
            b.paths.into_iter().collect::<Vec<_>>(),
            vec![b"srcx".to_vec()]
        );
        assert_eq!(b.rescans.len(), 1);
        assert_eq!(b.lost, vec!["overflow".to_string()]);
    }

    #[test]
    fn zero_quiet_is_ready_at_once_and_root_gone_is_urgent() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DebounceConfig {
            quiet: Duration::ZERO,
            max_delay: ms(1000),
        });
        d.push(Event::Changed(b"a".to_vec()), t0);
        assert!(d.ready(t0));
        d.take();
        let mut d = Debouncer::new(DebounceConfig::default());
        d.push(Event::RootGone, t0);
        assert!(d.ready(t0));
        assert!(d.take().unwrap().root_gone);
    }
}
