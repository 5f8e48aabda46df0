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
//! killed) or after [`live::LEASE_LIMIT`], the daemon reopens the log and captures
//! everything pending as one batch.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use tl_index::layout::Layout;
use tl_index::store::{Store, StoreError};
use tl_watch::DebounceConfig;
use tracing::{error, info, warn};

use crate::command_error::CommandError;

mod alloc;
pub mod autostart;
pub mod client;
mod conn;
mod guard;
mod hold;
mod idle_gc;
mod live;
mod logging;
pub mod protocol;
pub(crate) mod runaway;
mod server;
mod ship;
mod stall;
#[cfg(test)]
mod tests;

pub use live::Live;

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
    alloc::one_heap_for_all_threads();
    logging::init_log();
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
