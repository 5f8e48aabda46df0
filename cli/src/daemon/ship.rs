//! The daemon's shipping to remotes (issue 15): for every remote added with
//! auto on, once the log has held unshipped data for `push_interval_s`
//! (`.tl/config.toml`, default 10 s), the daemon seals the active segment and a
//! thread runs the same push as `tl push` (`remote::push::push_once`, bounded
//! by the remote's `push_timeout_s`). Capture goes on meanwhile: new batches go
//! to the next segment. A push that fails is tried again with a backoff that
//! doubles from 5 s to 5 minutes; a remote that stays unreachable never blocks
//! capture, and `tl daemon status` shows each remote's lag and last error.
//!
//! While nothing was captured since the last push, the daemon makes no request
//! at all: there is no polling of the remote, only pushes of new data.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tl_index::layout::Layout;
use tl_index::remote::config::{self, RemoteSettings};
use tl_index::remote::push::{push_once, PushReport};
use tracing::{info, warn};

use super::protocol::RemoteStatus;
use crate::remote_env;

/// The first retry after a failed push; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_secs(5);
/// The longest wait between two attempts at a failing remote.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the daemon knows of one auto remote.
struct Remote {
    name: String,
    url: String,
    /// When the oldest capture this remote lacks was made (None: up to date).
    behind_since: Option<Instant>,
    /// The same, as a wall-clock time (ns since the epoch), for the status.
    behind_since_ns: Option<i64>,
    /// The last push that succeeded (ns since the epoch).
    last_push_ns: Option<i64>,
    /// Why the last push failed (None after a success).
    last_error: Option<String>,
    /// Failed pushes in a row.
    failures: u32,
    /// No attempt before this (a backoff after failures).
    not_before: Instant,
}

/// What one push thread did, per remote.
struct Pushed {
    name: String,
    outcome: Result<PushReport, String>,
}

/// A push running on its own thread.
struct Run {
    thread: JoinHandle<Vec<Pushed>>,
    /// When the segment was sealed: the push carries every capture before it.
    sealed_at: Instant,
}

/// The remotes to ship to and the push in flight (see the module docs).
pub(super) struct Shipper {
    layout: Layout,
    interval: Duration,
    remotes: Vec<Remote>,
    run: Option<Run>,
    /// The first capture since the last seal, if any.
    first_since_seal: Option<(Instant, i64)>,
}

impl Shipper {
    /// The shipper of the project at `root`, pushing data once it is
    /// `interval` old. The remotes are read from `.tl/` at each push.
    pub(super) fn new(root: &Path, interval: Duration) -> Shipper {
        let mut shipper = Shipper {
            layout: Layout::new(root),
            interval,
            remotes: Vec::new(),
            run: None,
            first_since_seal: None,
        };
        shipper.reload();
        shipper
    }

    /// Reads the list of auto remotes again, keeping what is known of those
    /// still there; a new one is behind by everything not yet pushed.
    fn reload(&mut self) -> Vec<RemoteSettings> {
        let listed = match config::list(&self.layout) {
            Ok(all) => all.into_iter().filter(|r| r.auto).collect::<Vec<_>>(),
            Err(e) => {
                warn!("cannot read the remotes ({e}); not shipping until they can be read");
                return Vec::new();
            }
        };
        let now = Instant::now();
        let mut kept = Vec::with_capacity(listed.len());
        for settings in &listed {
            let known = self
                .remotes
                .iter()
                .position(|r| r.name == settings.name && r.url == settings.url.to_string());
            kept.push(match known {
                Some(i) => self.remotes.swap_remove(i),
                None => Remote {
                    name: settings.name.clone(),
                    url: settings.url.to_string(),
                    // Unknown: a push finds out (and is a no-op if up to date).
                    behind_since: Some(now),
                    behind_since_ns: Some(tl_index::store::Store::now_ns()),
                    last_push_ns: None,
                    last_error: None,
                    failures: 0,
                    not_before: now,
                },
            });
        }
        self.remotes = kept;
        listed
    }

    /// A capture was committed now: every remote is behind by it.
    pub(super) fn captured(&mut self) {
        let now = Instant::now();
        let now_ns = tl_index::store::Store::now_ns();
        if self.first_since_seal.is_none() {
            self.first_since_seal = Some((now, now_ns));
        }
        for r in &mut self.remotes {
            if r.behind_since.is_none() {
                r.behind_since = Some(now);
                r.behind_since_ns = Some(now_ns);
            }
        }
    }

    /// True while a push runs (the daemon does not lend the log to its GC
    /// then: the push reads the sealed segments).
    pub(super) fn is_pushing(&self) -> bool {
        self.run.is_some()
    }

    /// When a push will be due, if one is pending.
    pub(super) fn next_due(&self) -> Option<Instant> {
        if self.run.is_some() {
            // Checked each turn of the loop (at least every few seconds).
            return None;
        }
        self.remotes
            .iter()
            .filter_map(|r| {
                r.behind_since
                    .map(|b| (b + self.interval).max(r.not_before))
            })
            .min()
    }

    /// Collects a finished push; starts one when data has waited long enough
    /// for a remote that is not backing off. `seal` seals the log's active
    /// segment (the daemon's store); a failure to seal is logged and retried.
    pub(super) fn tick(&mut self, seal: impl FnOnce() -> Result<(), String>) {
        self.collect();
        if self.run.is_some() || self.remotes.iter().all(|r| r.behind_since.is_none()) {
            return;
        }
        let now = Instant::now();
        if self.next_due().is_none_or(|due| due > now) {
            return;
        }
        let settings = self.reload();
        let due: Vec<RemoteSettings> = settings
            .into_iter()
            .filter(|s| {
                self.remotes.iter().any(|r| {
                    r.name == s.name
                        && r.not_before <= now
                        && r.behind_since.is_some_and(|b| b + self.interval <= now)
                })
            })
            .collect();
        if due.is_empty() {
            return;
        }
        if let Err(e) = seal() {
            warn!("cannot seal the log's segment to ship it ({e}); trying again later");
            for r in &mut self.remotes {
                r.not_before = now + BACKOFF_FIRST;
            }
            return;
        }
        self.first_since_seal = None;
        let layout_root: PathBuf = self.layout.root().to_path_buf();
        let thread = std::thread::Builder::new()
            .name("tl-push".into())
            .spawn(move || push_all(&layout_root, due));
        match thread {
            Ok(thread) => {
                self.run = Some(Run {
                    thread,
                    sealed_at: now,
                })
            }
            Err(e) => warn!("cannot start the push thread ({e}); trying again later"),
        }
    }

    /// Takes in the outcome of a finished push.
    fn collect(&mut self) {
        if self.run.as_ref().is_none_or(|r| !r.thread.is_finished()) {
            return;
        }
        let Some(run) = self.run.take() else { return };
        let pushed = match run.thread.join() {
            Ok(p) => p,
            Err(_) => {
                warn!("the push thread panicked; trying again later");
                return;
            }
        };
        let now = Instant::now();
        for p in pushed {
            let Some(r) = self.remotes.iter_mut().find(|r| r.name == p.name) else {
                continue;
            };
            match p.outcome {
                Ok(report) => {
                    if r.failures > 0 {
                        info!(remote = r.name, "pushing works again");
                    }
                    r.failures = 0;
                    r.last_error = None;
                    r.last_push_ns = Some(tl_index::store::Store::now_ns());
                    r.not_before = now;
                    // Captures since the seal are not in this push.
                    match self.first_since_seal {
                        Some((at, at_ns)) if at >= run.sealed_at => {
                            r.behind_since = Some(at);
                            r.behind_since_ns = Some(at_ns);
                        }
                        _ => {
                            r.behind_since = None;
                            r.behind_since_ns = None;
                        }
                    }
                    if !report.was_noop() {
                        info!(
                            remote = r.name,
                            uploaded = report.uploaded,
                            bytes = report.bytes_uploaded,
                            generation = report.generation,
                            "pushed"
                        );
                    }
                }
                Err(e) => {
                    r.failures += 1;
                    let wait = backoff(r.failures);
                    // Logged at the first failure and then once in ten.
                    if r.failures == 1 || r.failures % 10 == 0 {
                        warn!(
                            remote = r.name,
                            failures = r.failures,
                            retry_in_s = wait.as_secs(),
                            "cannot push: {e}"
                        );
                    }
                    r.last_error = Some(e);
                    r.not_before = now + wait;
                }
            }
        }
    }

    /// Each auto remote's state, for `tl daemon status`.
    pub(super) fn statuses(&self) -> Vec<RemoteStatus> {
        let now = Instant::now();
        let now_ns = tl_index::store::Store::now_ns();
        self.remotes
            .iter()
            .map(|r| RemoteStatus {
                name: r.name.clone(),
                url: r.url.clone(),
                lag_s: r
                    .behind_since_ns
                    .map(|b| ((now_ns - b).max(0) as f64 / 1e9 * 10.0).round() / 10.0),
                last_push: r.last_push_ns.map(tl_index::timespec::format_rfc3339),
                last_push_ns: r.last_push_ns,
                last_error: r.last_error.clone(),
                failures: r.failures,
                pushing: self.run.is_some(),
                retry_in_s: (r.failures > 0)
                    .then(|| r.not_before.saturating_duration_since(now).as_secs()),
            })
            .collect()
    }
}

/// The wait after `failures` failed pushes in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

/// Pushes to each remote in turn (on the push thread).
fn push_all(root: &Path, remotes: Vec<RemoteSettings>) -> Vec<Pushed> {
    let layout = Layout::new(root);
    remotes
        .into_iter()
        .map(|r| {
            let s3 = remote_env::s3_settings(r.endpoint.as_deref());
            let outcome = push_once(&layout, &r, &s3).map_err(|e| error_chain(&e));
            Pushed {
                name: r.name,
                outcome,
            }
        })
        .collect()
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_five_seconds_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
