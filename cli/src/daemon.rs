//! Live capture: the loop behind `tl watch` and `tl daemon`, and its unix socket.
//!
//! One process per tree holds the log's writer lock and runs [`Live::run`]: the
//! platform watcher's debounced batches each become one Commit of kind auto (a
//! capture by scan against the stat cache, committed only when something changed).
//! Where events may have been lost (queue overflow, watch limit, no watcher
//! running before start), a Gap record with its time span precedes the capture
//! that closes it. `.tl/daemon.sock` serves `tl checkpoint` (through the daemon,
//! after a flush of pending events), a flush for `tl status`/`tl log`, the status
//! and stop requests: one JSON object per line each way.
//!
//! The `pause` request lends the writer lock to another command (`tl replay`,
//! `tl pin`, `tl compact`...): the daemon captures what is pending, closes the log
//! and replies; the requester's connection is then the lease. While it is open the
//! daemon keeps reading the watcher's events (so the kernel queue does not
//! overflow) without capturing them; when it closes (the command ended, or was
//! killed) or after [`LEASE_LIMIT`], the daemon reopens the log and captures
//! everything pending as one batch.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tl_index::record::CommitKind;
use tl_index::store::{Store, StoreError};
use tl_watch::{Backend, Batch, DebounceConfig, Next, Watcher};
use tracing::{error, info, warn};

use tl_index::layout::Layout;

use crate::command_error::CommandError;

pub mod client;
mod conn;
mod guard;
#[cfg(test)]
mod tests;

/// How long a pause may last: then the daemon stops waiting for the lease's
/// connection to close and takes the log back as soon as its lock is free (a
/// holder that closed its store but hangs on to the connection).
pub const LEASE_LIMIT: Duration = Duration::from_secs(3600);
/// Between two attempts to reopen the log after a pause.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Timestamps of the log: local time, as everywhere else in tl's output.
struct LocalTime;

impl tracing_subscriber::fmt::time::FormatTime for LocalTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", tl_index::timespec::format_local(Store::now_ns()))
    }
}

/// Sends the log to stderr (the terminal for `tl watch`, `.tl/daemon.log` for the
/// daemon): `2026-11-22 14:05:33 +01:00  INFO message field=value`. `TL_LOG`
/// filters it (`warn`, `debug`, ...; default `info`).
pub fn init_log() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(LocalTime)
        .with_target(false)
        .try_init();
}

/// True when the lease's connection was closed (or broke) by its holder. Whatever
/// it sent is read and ignored.
fn lease_ended(s: &UnixStream) -> bool {
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

/// The pid recorded in `.tl/daemon.pid`, if that process is alive.
pub fn live_pid(root: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(Layout::new(root).daemon_pid())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Opens the store for writing, turning "locked" into "already watched by pid N".
pub fn open_writer(root: &Path) -> Result<Store> {
    match Store::open(root) {
        Ok(s) => {
            crate::cli_util::report_tightened(&s);
            Ok(s)
        }
        Err(StoreError::Open(tl_wal::OpenError::Locked { .. })) => match live_pid(root) {
            Some(pid) => Err(CommandError::busy(format!(
                "{} is already watched by pid {pid} (stop it with `tl daemon stop`)",
                root.display()
            ))
            .into()),
            None => Err(CommandError::busy(format!(
                "{} is locked by another tl writer",
                root.display()
            ))
            .with_hint("wait for it to finish")
            .into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Counters for `tl daemon status`.
#[derive(Default)]
struct Stats {
    started: Option<Instant>,
    captures: u64,
    gaps: u64,
    last_capture_ns: i64,
    /// (when, events_total) a few seconds ago, for events/s.
    window: Option<(Instant, u64)>,
    rate: f64,
}

/// The log lent to another process by a `pause` request.
struct Pause {
    /// The pid the requester gave (0: unknown).
    by: u64,
    since: Instant,
    /// The requester's connection; None once it closed (or the lease timed out)
    /// and the log is to be reopened.
    lease: Option<UnixStream>,
    /// When to try reopening the log next (once `lease` is None).
    retry_at: Instant,
    /// Failed attempts to reopen, to log the first and then one a minute.
    failures: u32,
}

/// The live-capture engine: a store (writer), a watcher, an optional socket.
pub struct Live<B: Backend> {
    /// The writer; None while paused (another process holds the lock).
    store: Option<Store>,
    root: PathBuf,
    watcher: Watcher<B>,
    /// The socket and the connections being read (see [`conn`]).
    clients: conn::Clients,
    stop: Arc<AtomicBool>,
    stats: Stats,
    /// Some while paused: then `store` is None.
    pause: Option<Pause>,
    /// Print each capture on stdout (`tl watch` in a terminal).
    pub verbose: bool,
    /// Set when the loop ended because the root went away.
    pub root_gone: bool,
    /// When to do the idle work (see [`Live::idle_work`]), if any is pending.
    idle_work_at: Option<Instant>,
    /// The pid file and the log segments, checked for changes under the daemon
    /// (see [`guard`]); None when there is no pid file (tests).
    own_files: Option<guard::OwnFiles>,
}

/// Quiet time after a capture before the idle work is done.
const IDLE_WORK_AFTER: Duration = Duration::from_secs(2);

/// Makes every thread allocate from one heap. glibc gives each thread that
/// allocates concurrently an arena of its own and keeps what they free: after the
/// catch-up scan's worker threads exit, an idle daemon on a 100k-file tree held
/// 31 MB in three such arenas (65 MB RSS in all, 34 MB with one arena). Captures
/// lose nothing measurable: their threads mostly read and hash.
#[allow(unsafe_code)]
fn one_heap_for_all_threads() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called before the
    // process starts any thread of its own.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands memory freed by captures back to the system (glibc keeps it in its
/// per-thread arenas otherwise: the idle daemon would keep the peak of its
/// largest capture resident). With `one_heap_for_all_threads`, the binary's only
/// `unsafe`: OS interfaces.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel; it is
    // thread-safe and takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl<B: Backend> Live<B> {
    /// An engine; `stop` ends [`Live::run`] (after a flush) when set.
    pub fn new(
        store: Store,
        backend: B,
        debounce: DebounceConfig,
        listener: Option<UnixListener>,
        stop: Arc<AtomicBool>,
    ) -> Live<B> {
        Live {
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

    /// True while the log is lent to another process.
    pub fn paused(&self) -> bool {
        self.pause.is_some()
    }

    /// The writer, or the error telling why there is none now.
    fn writer(&mut self) -> Result<&mut Store> {
        match (&mut self.store, &self.pause) {
            (Some(s), _) => Ok(s),
            (None, Some(p)) if p.by != 0 => Err(CommandError::busy(format!(
                "the watcher is paused while pid {} writes",
                p.by
            ))
            .with_hint("retry")
            .into()),
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
        let last = store.checkpoints().last().map(|c| c.time_ns);
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
    fn captured(&mut self, out: Option<tl_index::store::CheckpointOutcome>, why: &str) {
        self.retry_unsettled();
        self.stats.last_capture_ns = Store::now_ns();
        self.idle_work_at = Some(Instant::now() + IDLE_WORK_AFTER);
        if let Some(out) = out {
            self.stats.captures += 1;
            for w in &out.warnings {
                warn!("{w}");
            }
            let c = &out.checkpoint;
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

    /// Queues again every file the last capture found changing while it read it
    /// (it kept its previous version): it is captured once it settles, after the
    /// debounce's quiet time, like a path an event named.
    fn retry_unsettled(&mut self) {
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
        release_free_memory();
        if busy {
            // Hand back the compactor's memory too once it is done.
            self.idle_work_at = Some(Instant::now() + Duration::from_millis(500));
        }
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
        if batch.full_rescan() {
            return self.capture_now(&why);
        }
        // Only what the batch names: its paths and the directories to rescan.
        let mut paths: Vec<Vec<u8>> = batch.paths.into_iter().collect();
        paths.extend(batch.rescans);
        let out = self.writer()?.capture_paths(CommitKind::Auto, paths)?;
        self.captured(out, &why);
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
        } else {
            match self.watcher.next(Duration::ZERO)? {
                Next::Batch(b) => self.capture_batch(b)?,
                Next::Idle => {
                    if self.idle_work_at.is_some_and(|t| Instant::now() >= t) {
                        self.idle_work();
                    }
                }
            }
        }
        self.serve_clients();
        Ok(())
    }

    /// While paused: ends the lease when its connection closed or it ran too long,
    /// then reopens the log (retrying every second while it is still locked) and
    /// captures everything that happened meanwhile as one batch.
    fn check_pause(&mut self) -> Result<()> {
        let Some(p) = &mut self.pause else {
            return Ok(());
        };
        if let Some(lease) = &p.lease {
            if lease_ended(lease) {
                p.lease = None;
            } else if p.since.elapsed() >= LEASE_LIMIT {
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
                let (by, paused_for) = (p.by, p.since.elapsed());
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
                self.flush()?;
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
        let budget = match &self.pause {
            None => match self.idle_work_at {
                Some(t) => self
                    .watcher
                    .sleep_budget(cap)
                    .min(t.saturating_duration_since(Instant::now())),
                None => self.watcher.sleep_budget(cap),
            },
            // Paused: a due batch waits for the log, only the backend's timer counts.
            Some(p) => self.watcher.drain_budget(cap).min(match p.lease {
                Some(_) => LEASE_LIMIT.saturating_sub(p.since.elapsed()),
                None => p.retry_at.saturating_duration_since(Instant::now()),
            }),
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

    /// Answers every complete request (see [`conn::Clients::poll`]: reading them
    /// never blocks, so no client holds up a capture).
    fn serve_clients(&mut self) {
        for req in self.clients.poll() {
            if let Err(e) = self.serve(req) {
                warn!("client request failed: {e:#}");
            }
        }
    }

    fn serve(&mut self, req: conn::Request) -> Result<()> {
        let conn::Request { stream, body } = req;
        if body["op"].as_str() == Some("pause") {
            return self.pause(stream, &body);
        }
        let reply = match self.handle(&body) {
            Ok(v) => v,
            Err(e) => error_reply(&e),
        };
        let mut w = &stream;
        writeln!(w, "{reply}")?;
        Ok(())
    }

    /// `pause`: captures what is pending, closes the log (its lock is free before
    /// the reply goes out) and keeps `stream` as the lease.
    fn pause(&mut self, stream: UnixStream, req: &Value) -> Result<()> {
        let by = req["pid"].as_u64().unwrap_or(0);
        let reply = match self.flush() {
            Ok(()) => {
                if let Some(store) = self.store.as_mut() {
                    store.wait_for_compactor();
                    store.save_caches();
                }
                // Dropping the store drops its log: the writer lock is released.
                self.store = None;
                let now = Instant::now();
                self.pause = Some(Pause {
                    by,
                    since: now,
                    lease: None,
                    retry_at: now,
                    failures: 0,
                });
                info!(holder = by, "paused: the log is lent to another tl command");
                json!({"ok": true, "pid": std::process::id()})
            }
            Err(e) => error_reply(&e),
        };
        let granted = reply["ok"].as_bool() == Some(true);
        let mut w = &stream;
        let sent = writeln!(w, "{reply}");
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

    fn handle(&mut self, req: &Value) -> Result<Value> {
        match req["op"].as_str().unwrap_or("") {
            "flush" => {
                self.flush()?;
                Ok(json!({"ok": true}))
            }
            "checkpoint" => {
                self.flush()?;
                let message = req["message"].as_str().map(str::to_string);
                let out = self.writer()?.checkpoint(CommitKind::Manual, message)?;
                self.stats.last_capture_ns = Store::now_ns();
                let c = &out.checkpoint;
                let warnings: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
                self.retry_unsettled();
                let stdout = if req["json"].as_bool().unwrap_or(false) {
                    let mut v = crate::output::checkpoint_json(c);
                    v["no_changes"] = json!(c.changed_nothing());
                    v["warnings"] = json!(warnings);
                    v.to_string()
                } else {
                    crate::output::checkpoint_done(c)
                };
                Ok(json!({"ok": true, "stdout": stdout, "warnings": warnings}))
            }
            "status" => Ok(self.status()),
            "stop" => {
                self.stop.store(true, Ordering::SeqCst);
                Ok(json!({"ok": true, "pid": std::process::id()}))
            }
            other => anyhow::bail!("unknown request {other:?}"),
        }
    }

    fn status(&mut self) -> Value {
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
        let log_bytes = dir_bytes(&Layout::new(&self.root).log_dir());
        json!({
            "ok": true,
            "pid": std::process::id(),
            "root": self.root.display().to_string(),
            "paused": self.pause.is_some(),
            "paused_by": self.pause.as_ref().map(|p| p.by),
            "backend": self.watcher.backend().name(),
            "watched_dirs": self.watcher.backend().watched_dirs(),
            "events_total": total,
            "events_per_s": (self.stats.rate * 10.0).round() / 10.0,
            "captures": self.stats.captures,
            "gaps": self.stats.gaps,
            "last_capture": (self.stats.last_capture_ns != 0)
                .then(|| tl_index::timespec::format_rfc3339(self.stats.last_capture_ns)),
            "last_capture_ns": (self.stats.last_capture_ns != 0)
                .then_some(self.stats.last_capture_ns),
            "uptime_s": self.stats.started.map(|s| (now - s).as_secs()).unwrap_or(0),
            "log_bytes": log_bytes,
            "rss_bytes": rss_bytes(),
        })
    }
}

/// A refused request: the error as the client will print it, and whether it is
/// busy (the client then exits 4, and a writer waiting for the lock keeps waiting).
fn error_reply(e: &anyhow::Error) -> Value {
    let r = crate::command_error::report(e);
    let line = r.as_ref().map(|r| r.line()).unwrap_or_default();
    json!({
        "ok": false,
        "error": line.strip_prefix("tl: ").unwrap_or(&line),
        "busy": crate::command_error::is_busy(e),
    })
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

/// Files the running watcher owns; removed on a clean exit.
pub struct Presence {
    files: Vec<PathBuf>,
}

impl Presence {
    /// Writes the pid file and binds the socket (a stale one is replaced: holding
    /// the writer lock proves no other watcher runs). A socket that cannot be bound
    /// (path too long for a unix socket) is logged, not fatal.
    pub fn claim(root: &Path) -> Result<(Presence, Option<UnixListener>)> {
        let layout = Layout::new(root);
        let pid = layout.daemon_pid();
        // Owner-only, through a fresh temporary renamed over the name: a symlink
        // planted at `.tl/daemon.pid` is refused, never written through.
        tl_wal::private_fs::write_atomic(
            &pid,
            format!("{}\n", std::process::id()).as_bytes(),
            tl_wal::private_fs::Durability::Cache,
        )
        .with_context(|| format!("cannot write {}", pid.display()))?;
        let sock = layout.daemon_socket();
        let _ = std::fs::remove_file(&sock);
        let listener = match conn::bind_private(&sock) {
            Ok(l) => Some(l),
            Err(e) => {
                warn!(
                    "cannot create {} ({e}); `tl checkpoint` will wait for this watcher to stop",
                    sock.display()
                );
                None
            }
        };
        Ok((
            Presence {
                files: vec![sock, pid],
            },
            listener,
        ))
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// `tl watch` and the daemon body: watch `root` until a signal or a stop request.
pub fn run_watch(root: &Path, debounce: DebounceConfig, verbose: bool) -> Result<()> {
    one_heap_for_all_threads();
    init_log();
    let store = open_writer(root)?;
    // A pid file left behind: the previous watcher died (kill -9, crash, reboot).
    let previous_start_ns = std::fs::metadata(Layout::new(root).daemon_pid())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64);
    if previous_start_ns.is_some() {
        warn!("the previous watcher did not stop cleanly (stale .tl/daemon.pid)");
    }
    let (presence, listener) = Presence::claim(root)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot handle signals")?;
    }
    // Watch first, then catch up: a change during the catch-up scan is an event.
    let backend = tl_watch::platform_backend(root)
        .with_context(|| format!("cannot watch {}", root.display()))?;
    let dirs = backend.watched_dirs();
    let name = backend.name();
    let mut live = Live::new(store, backend, debounce, listener, stop);
    live.verbose = verbose;
    live.guard_own_files();
    info!(
        backend = name,
        dirs,
        debounce_ms = debounce.quiet.as_millis() as u64,
        max_delay_ms = debounce.max_delay.as_millis() as u64,
        pid = std::process::id(),
        "watching {}",
        root.display()
    );
    let result = live.catch_up(previous_start_ns).and_then(|()| live.run());
    match &result {
        Ok(()) if live.root_gone => info!("stopped: the watched directory is gone"),
        Ok(()) if live.paused() => info!("stopped without the log (lent out)"),
        Ok(()) => info!("stopped after capturing pending changes"),
        Err(e) => error!("stopped on an error: {e:#}"),
    }
    drop(presence);
    result
}
