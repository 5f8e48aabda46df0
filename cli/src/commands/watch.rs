//! `tl watch`: capture every change as it happens, in the foreground.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use tl_index::store::find_root;
use tl_watch::DebounceConfig;

use crate::daemon;

/// Watch the directory and capture every change as it happens (foreground;
/// Ctrl-C captures what is pending and stops).
///
/// While it runs, `tl checkpoint` goes through it; commands that write the log
/// themselves (replay, restore, pin, compact, recover) pause it: it captures
/// what is pending, lends them the log and, when they finish, captures what
/// changed meanwhile. The log goes to stderr; TL_LOG=warn (or debug) filters it.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl watch\n  tl watch --debounce-ms 0\n  TL_LOG=warn tl watch\n"
)]
pub struct WatchArgs {
    #[command(flatten)]
    timing: WatchTiming,
    /// Run as the background daemon (used by `tl daemon start`).
    #[arg(long, hide = true)]
    daemon: bool,
}

/// Debounce settings of `tl watch` and `tl daemon start`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct WatchTiming {
    /// Capture once the tree has been quiet this long, in milliseconds (0: at once).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,
    /// Capture at least this often while changes keep coming, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub max_delay_ms: u64,
}

impl WatchTiming {
    /// The watcher's debounce configuration.
    fn debounce(self) -> DebounceConfig {
        DebounceConfig {
            quiet: Duration::from_millis(self.debounce_ms),
            max_delay: Duration::from_millis(self.max_delay_ms.max(self.debounce_ms)),
        }
    }
}

/// `tl watch`: foreground until Ctrl-C (or SIGTERM, or `tl daemon stop`).
pub fn cmd_watch(cwd: &Path, args: WatchArgs) -> Result<()> {
    let root = find_root(cwd)?;
    daemon::run_watch(&root, args.timing.debounce(), !args.daemon)
}
