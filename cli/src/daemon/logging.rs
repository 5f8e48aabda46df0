//! The daemon's log: `tracing` events to stderr (the terminal for `tl watch`,
//! `.tl/daemon.log` for the daemon), in local time, filtered by `TL_LOG`.

use tl_index::store::Store;

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
