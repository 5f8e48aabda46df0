//! The daemon's answers on `.tl/daemon.sock`: each complete request (read by
//! `conn` without blocking the loop) decoded as a `protocol::Request`, handled,
//! and answered with a typed reply. The daemon sends data; the client prints.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tl_index::layout::Layout;
use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_watch::Backend;
use tracing::{info, warn};

use super::conn;
use super::live::{Live, Pause};
use super::protocol::{
    self, CheckpointSummary, Checkpointed, Flushed, Lent, Pid, Refusal, Request,
};

impl<B: Backend> Live<B> {
    /// Answers every complete request (see [`conn::Clients::poll`]: reading them
    /// never blocks, so no client holds up a capture).
    pub(super) fn serve_clients(&mut self) {
        for req in self.clients.poll() {
            if let Err(e) = self.serve(req) {
                warn!("client request failed: {e:#}");
            }
        }
    }

    fn serve(&mut self, req: conn::Request) -> Result<()> {
        let conn::Request { stream, body } = req;
        let line = match body {
            Request::Pause { pid } => return self.pause(stream, pid),
            Request::Flush => {
                let r = self.flush();
                encode(self.stall_if_full(r).map(|()| Flushed {}))
            }
            Request::Checkpoint { message } => {
                let r = self.checkpoint(message);
                encode(self.stall_if_full(r))
            }
            Request::Status => encode(Ok(self.status())),
            Request::Resume { dir } => encode(self.resume(&dir)),
            Request::Stop => {
                self.stop.store(true, Ordering::SeqCst);
                encode(Ok(Pid {
                    pid: std::process::id(),
                }))
            }
        };
        let mut w = &stream;
        writeln!(w, "{line}")?;
        Ok(())
    }

    /// A request's result; out of space, the daemon stalls (see
    /// [`super::stall`]) and the requester gets the error.
    fn stall_if_full<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            if super::stall::out_of_space(e) {
                self.stall_on(format!("{e:#}"));
            }
        }
        r
    }

    /// `checkpoint`: captures what is pending, then records a manual checkpoint.
    fn checkpoint(&mut self, message: Option<String>) -> Result<Checkpointed> {
        self.flush()?;
        let out = self.writer()?.checkpoint(CommitKind::Manual, message)?;
        self.stats.last_capture_ns = Store::now_ns();
        self.retry_unsettled();
        Ok(Checkpointed {
            checkpoint: CheckpointSummary::of(&out.checkpoint),
            warnings: out.warnings.iter().map(|w| w.to_string()).collect(),
        })
    }

    /// `pause`: captures what is pending, closes the log (its lock is free before
    /// the reply goes out) and keeps `stream` as the lease.
    fn pause(&mut self, stream: UnixStream, by: u64) -> Result<()> {
        // Stalled on a full disk, the log is closed already: lend it at once.
        let flushed = if self.stalled() {
            Ok(())
        } else {
            match self.flush() {
                Err(e) if super::stall::out_of_space(&e) => self.capture_failed(e),
                other => other,
            }
        };
        let reply = flushed.map(|()| {
            let captured = self.tree_is_captured();
            if let Some(store) = self.store.as_mut() {
                store.wait_for_compactor();
                store.save_caches_if_due();
            }
            // Dropping the store drops its log: the writer lock is released.
            self.store = None;
            let now = Instant::now();
            self.pause = Some(Pause {
                by,
                since: self.now(),
                lease: None,
                retry_at: now,
                failures: 0,
            });
            info!(
                holder = by,
                captured, "paused: the log is lent to another tl command"
            );
            Lent {
                pid: std::process::id(),
                captured,
            }
        });
        let granted = reply.is_ok();
        let mut w = &stream;
        let sent = writeln!(w, "{}", encode(reply));
        if let (true, Some(p)) = (granted, &mut self.pause) {
            // Without a working connection the lease is over already: the next
            // round reopens the log.
            if sent.is_ok() && stream.set_nonblocking(true).is_ok() {
                p.lease = Some(stream);
            }
        }
        sent?;
        Ok(())
    }

    /// True when the last checkpoint holds the tree as it is on disk, as far as
    /// this daemon can tell right after a flush (see [`Lent::captured`]).
    fn tree_is_captured(&self) -> bool {
        self.store.is_some()
            && !self.stalled()
            && self.watcher.is_idle()
            && self.runaway.is_empty()
            && self.skipped.is_empty()
    }

    fn status(&mut self) -> protocol::Status {
        let now = Instant::now();
        let total = self.watcher.events_total();
        match self.stats.window {
            Some((t, n)) if now - t >= Duration::from_secs(1) => {
                self.stats.rate = (total - n) as f64 / (now - t).as_secs_f64();
                self.stats.window = Some((now, total));
            }
            None => {
                let up = self
                    .stats
                    .started
                    .map(|s| (now - s).as_secs_f64())
                    .unwrap_or(0.0);
                self.stats.rate = if up > 0.0 { total as f64 / up } else { 0.0 };
                self.stats.window = Some((now, total));
            }
            _ => {}
        }
        let last = (self.stats.last_capture_ns != 0).then_some(self.stats.last_capture_ns);
        protocol::Status {
            pid: std::process::id(),
            root: self.root.display().to_string(),
            paused: self.pause.is_some(),
            paused_by: self.pause.as_ref().map(|p| p.by),
            backend: self.watcher.backend().name().to_string(),
            watched_dirs: self.watcher.backend().watched_dirs(),
            events_total: total,
            events_per_s: (self.stats.rate * 10.0).round() / 10.0,
            captures: self.stats.captures,
            gaps: self.stats.gaps,
            last_capture: last.map(tl_index::timespec::format_rfc3339),
            last_capture_ns: last,
            uptime_s: self.stats.started.map(|s| (now - s).as_secs()).unwrap_or(0),
            log_bytes: dir_bytes(&Layout::new(&self.root).log_dir()),
            rss_bytes: rss_bytes(),
            last_gc: self
                .store
                .as_ref()
                .and_then(|s| s.last_gc())
                .map(|t| protocol::LastGc {
                    time: tl_index::timespec::format_rfc3339(t.thinned.time_ns),
                    time_ns: t.thinned.time_ns,
                    kept: t.thinned.kept,
                    states_before: t.thinned.states_before,
                }),
            holds: self.hold_statuses(),
            skipped: self
                .skipped
                .iter()
                .map(|w| protocol::SkippedFile {
                    path: w.path.to_string(),
                    kind: crate::left_out_text::kind_word(w.kind).to_string(),
                    message: w.message.clone(),
                })
                .collect(),
            remotes: self.ship.statuses(),
            stalled: self.stall.as_ref().map(|s| s.status()),
        }
    }
}

/// The reply line of a handled request: its data, or the error as the client
/// will print it, marked busy when it is (the client then exits 4, and a writer
/// waiting for the lock keeps waiting).
fn encode<T: Serialize>(result: Result<T>) -> String {
    protocol::encode_reply(&result.map_err(|e| refusal(&e)))
}

fn refusal(e: &anyhow::Error) -> Refusal {
    let line = crate::command_error::report(e)
        .map(|r| r.line())
        .unwrap_or_default();
    Refusal {
        error: line.strip_prefix("tl: ").unwrap_or(&line).to_string(),
        busy: crate::command_error::is_busy(e),
    }
}
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Resident set size of this process (Linux: /proc/self/status).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
