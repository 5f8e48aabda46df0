//! The runaway guard's accounting (issue 13): how much each directory's subtree
//! wrote in the last minute, and which directories are held.
//!
//! A pure type: time is passed in ([`Now`]), nothing is read or written, so the
//! rules below are unit-tested with a made-up clock (`runaway/tests.rs`).
//!
//! - Every path a batch captures counts one file, with its size (what a capture
//!   reads), into each directory above it: `gen/out/a.c` counts into `gen/out`
//!   and `gen`. The root counts nothing and is never held: holding it would stop
//!   all capture, which the guard exists to avoid.
//! - A directory is over budget when its subtree wrote more than
//!   [`Budget::files_per_minute`] files or [`Budget::bytes_per_minute`] bytes in
//!   the last [`WINDOW`]. Of the directories over budget after a batch, the
//!   deepest are held (those with no directory over budget below them): a
//!   generator writing into `gen/out/` holds `gen/out`, not `gen` with its
//!   hand-edited files; one writing into `gen/out/1/`, `gen/out/2/`, ... (none
//!   over budget alone) holds `gen/out`.
//! - The batch that crossed the budget is captured whole (the directory is
//!   "captured once"); from then on the caller leaves the held directory out and
//!   counts nothing under it. What a held directory wrote is taken off the counts
//!   of the directories above it, so `gen` is not held next for `gen/out`'s burst.
//! - A hold lasts until [`Runaway::release`] (`tl resume DIR`, or the directory
//!   was ignored): a directory going quiet does not end it, so history never
//!   quietly starts again from a state nobody looked at.
//!
//! Limits: at most [`DIRS_MAX`] directories are counted at once (a directory
//! first seen while the table is full is not counted; the ones above it, already
//! counted, still are), each with at most one bucket per second of the window.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tl_index::pathsafe::is_under;

/// The span the budget is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Most directories counted at once.
pub const DIRS_MAX: usize = 1 << 16;

/// How much a directory may write per [`WINDOW`] before it is held
/// (`runaway_files_per_minute`, `runaway_bytes_per_minute` in `.tl/config.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Files written (created or changed) per minute.
    pub files_per_minute: u64,
    /// Bytes of the files written per minute (their whole sizes).
    pub bytes_per_minute: u64,
}

/// The time of a batch, both as the loop measures spans and as the log stamps
/// records.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic, for the window.
    pub at: Instant,
    /// Wall clock, ns since the Unix epoch, for the hold's start.
    pub ns: i64,
}

/// One path a batch captures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Relative to the root, `/`-separated.
    pub path: Vec<u8>,
    /// Its size now (0 when gone, or a directory).
    pub bytes: u64,
}

/// What a directory's subtree wrote in the window when it was held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rate {
    /// Files in the last [`WINDOW`].
    pub files: u64,
    /// Bytes in the last [`WINDOW`].
    pub bytes: u64,
}

/// A held directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The directory, relative to the root (never the root).
    pub dir: Vec<u8>,
    /// When it was held, ns since the Unix epoch.
    pub since_ns: i64,
    /// What it wrote in the minute before it was held.
    pub rate: Rate,
    /// Paths under it the watcher reported since, left uncaptured.
    pub events_held: u64,
}

/// Counts of one second.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Whole seconds since [`Runaway::origin`].
    second: u64,
    files: u64,
    bytes: u64,
}

/// The buckets of one directory, oldest first, none older than the window.
#[derive(Debug, Default)]
struct Window {
    buckets: VecDeque<Bucket>,
}

impl Window {
    fn add(&mut self, second: u64, files: u64, bytes: u64) {
        match self.buckets.back_mut() {
            Some(b) if b.second == second => {
                b.files += files;
                b.bytes = b.bytes.saturating_add(bytes);
            }
            _ => self.buckets.push_back(Bucket {
                second,
                files,
                bytes,
            }),
        }
    }

    /// Drops the buckets that left the window ending at `second`.
    fn expire(&mut self, second: u64) {
        let oldest = second.saturating_sub(WINDOW.as_secs() - 1);
        while self.buckets.front().is_some_and(|b| b.second < oldest) {
            self.buckets.pop_front();
        }
    }

    fn rate(&self) -> Rate {
        self.buckets.iter().fold(Rate::default(), |r, b| Rate {
            files: r.files + b.files,
            bytes: r.bytes.saturating_add(b.bytes),
        })
    }

    /// Takes `other`'s counts off these, second by second.
    fn subtract(&mut self, other: &Window) {
        for o in &other.buckets {
            if let Some(b) = self.buckets.iter_mut().find(|b| b.second == o.second) {
                b.files = b.files.saturating_sub(o.files);
                b.bytes = b.bytes.saturating_sub(o.bytes);
            }
        }
    }
}

/// The accounting and the holds; see the module docs.
#[derive(Debug)]
pub struct Runaway {
    budget: Budget,
    /// Seconds are counted from here.
    origin: Instant,
    windows: HashMap<Vec<u8>, Window>,
    holds: BTreeMap<Vec<u8>, Hold>,
}

impl Runaway {
    /// No directory counted or held yet; seconds count from `origin`.
    pub fn new(budget: Budget, origin: Instant) -> Runaway {
        assert!(
            budget.files_per_minute > 0,
            "a budget of 0 files holds everything"
        );
        assert!(
            budget.bytes_per_minute > 0,
            "a budget of 0 bytes holds everything"
        );
        Runaway {
            budget,
            origin,
            windows: HashMap::new(),
            holds: BTreeMap::new(),
        }
    }

    /// The held directory `path` is at or under, if any.
    pub fn held_dir_of(&self, path: &[u8]) -> Option<&[u8]> {
        self.holds
            .keys()
            .find(|d| is_under(path, d))
            .map(Vec::as_slice)
    }

    /// The holds, by directory.
    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.values()
    }

    /// The held directories.
    pub fn held_dirs(&self) -> Vec<Vec<u8>> {
        self.holds.keys().cloned().collect()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }

    /// Counts `n` paths under a held directory that were left uncaptured.
    pub fn note_held_events(&mut self, dir: &[u8], n: u64) {
        if let Some(h) = self.holds.get_mut(dir) {
            h.events_held += n;
        }
    }

    /// Counts what a batch captured at `now` (none of it under a held
    /// directory: the caller left those out) and returns the directories this
    /// put on hold, deepest first.
    pub fn record(&mut self, written: &[Written], now: Now) -> Vec<Hold> {
        let second = now.at.saturating_duration_since(self.origin).as_secs();
        for w in written {
            debug_assert!(
                self.held_dir_of(&w.path).is_none(),
                "held paths are left out"
            );
            for dir in ancestors(&w.path) {
                if !self.windows.contains_key(dir) && self.windows.len() >= DIRS_MAX {
                    continue;
                }
                self.windows
                    .entry(dir.to_vec())
                    .or_default()
                    .add(second, 1, w.bytes);
            }
        }
        self.windows.retain(|_, w| {
            w.expire(second);
            !w.buckets.is_empty()
        });
        // Every directory counted this second may be over budget now.
        let over: Vec<Vec<u8>> = self
            .windows
            .iter()
            .filter(|(_, w)| {
                w.buckets.back().is_some_and(|b| b.second == second) && {
                    let r = w.rate();
                    r.files > self.budget.files_per_minute || r.bytes > self.budget.bytes_per_minute
                }
            })
            .map(|(dir, _)| dir.clone())
            .collect();
        let mut deepest: Vec<Vec<u8>> = over
            .iter()
            .filter(|d| !over.iter().any(|o| o != *d && is_under(o, d)))
            .cloned()
            .collect();
        deepest.sort_by(|a, b| depth(b).cmp(&depth(a)).then(a.cmp(b)));
        deepest
            .into_iter()
            .map(|dir| self.hold(dir, now.ns))
            .collect()
    }

    /// Holds `dir`: its counts (and those below it) are dropped, and taken off
    /// the directories above it.
    fn hold(&mut self, dir: Vec<u8>, now_ns: i64) -> Hold {
        let window = self.windows.remove(&dir).unwrap_or_default();
        let rate = window.rate();
        for above in ancestors(&dir) {
            if let Some(w) = self.windows.get_mut(above) {
                w.subtract(&window);
            }
        }
        self.windows.retain(|d, _| !is_under(d, &dir));
        let hold = Hold {
            dir: dir.clone(),
            since_ns: now_ns,
            rate,
            events_held: 0,
        };
        self.holds.insert(dir, hold.clone());
        hold
    }

    /// Ends the hold of `dir` (None: it is not held). Its budget starts afresh.
    pub fn release(&mut self, dir: &[u8]) -> Option<Hold> {
        self.holds.remove(dir)
    }
}

/// The directories above `path`, nearest first, the root left out.
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut end = path.len();
    std::iter::from_fn(move || {
        let cut = path[..end].iter().rposition(|&b| b == b'/')?;
        end = cut;
        Some(&path[..cut])
    })
}

fn depth(dir: &[u8]) -> usize {
    dir.iter().filter(|&&b| b == b'/').count()
}

/// The rate as `tl status` shows it: "12,000 files and 3.4 MiB in the last minute".
pub fn rate_text(rate: Rate) -> String {
    format!(
        "{} files and {} in the minute before",
        group_thousands(rate.files),
        human_bytes(rate.bytes)
    )
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
