//! The `tl` command line: a thin layer over `tl-index` and `tl-wal`.
//!
//! Only this crate prints, reads the environment and chooses exit codes.
#![deny(unsafe_code)]

// Output: `println!`/`print!`/`eprintln!` are shadowed, crate-wide, by versions
// that never panic. A reader that goes away (`tl log | head -1`) makes std's
// panic ("failed printing to stdout: Broken pipe"); here the rest of stdout is
// dropped and the command goes on to its end (its work and what it says on
// stderr, such as an undo hint, are not lost), then exits 0 as git and ripgrep
// do. Any other failure to write stdout makes the command fail at its end.
// These must come before the modules that use them.
macro_rules! println {
    () => {
        $crate::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => {
        $crate::out::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod command_error;
mod commands;
mod daemon;
mod out;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tl: a time machine for working directories.
///
/// tl keeps every state your files pass through in a checksummed log under .tl/,
/// so any of them can be brought back.
#[derive(Parser, Debug)]
#[command(
    name = "tl",
    version,
    after_help = root_after_help()
)]
pub struct Cli {
    /// Run as if tl was started in DIR instead of the current directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start keeping history of a directory (creates .tl/).
    #[command(
        after_help = "Example:\n  tl init            # the current directory\n  tl init ~/project"
    )]
    Init {
        /// The directory (default: the current one; created if missing).
        #[arg(value_name = "DIR")]
        directory: Option<PathBuf>,
    },
    /// Capture the directory now and record a checkpoint.
    #[command(after_help = "Example:\n  tl checkpoint -m \"tests pass\"\n  tl checkpoint --json")]
    Checkpoint {
        /// A message to remember this checkpoint by.
        #[arg(short, long)]
        message: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what changed on disk since the last checkpoint.
    #[command(after_help = "Example:\n  tl status\n  tl status --json")]
    Status {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List checkpoints, newest first, with the gaps where events may be missing.
    ///
    /// Each line: id, time (and how long ago), kind, what changed, message. Times
    /// are printed to the second and, pasted back as T, select that second.
    #[command(
        after_help = "Example:\n  tl log -n 5\n  tl log --since \"1 hour ago\" src/main.rs\n  \
                      tl log --name-status\n  tl log --stat --json"
    )]
    Log {
        /// Print as JSON (an array, newest first; see JSON.md).
        #[arg(long)]
        json: bool,
        /// Only checkpoints at or after this time.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Only checkpoints at or before this time.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// Only the N newest checkpoints.
        #[arg(short = 'n', long = "max-count", value_name = "N")]
        max_count: Option<usize>,
        /// Each checkpoint's changed paths with their line counts.
        #[arg(long, conflicts_with = "name_status")]
        stat: bool,
        /// Each checkpoint's changed paths with A (added), M (modified), D (deleted).
        #[arg(long)]
        name_status: bool,
        /// Only checkpoints that changed this path (or something under it), each
        /// with what happened to it.
        path: Option<PathBuf>,
    },
    /// Show the differences between two points (B defaults to the working directory).
    ///
    /// Words after A are B when they name a point in history (and no file), else
    /// paths; everything after `--` is a path.
    #[command(
        after_help = "Example:\n  tl diff 10m\n  tl diff a1b2c3 d4e5f6 --stat\n  \
                      tl diff a1b2c3 src/main.rs\n  tl diff 1h -- src/"
    )]
    Diff {
        /// The older point.
        a: String,
        /// The newer point (default: the files on disk now), then paths.
        #[arg(value_name = "B|PATH")]
        rest: Vec<String>,
        /// Only a summary of changed paths with line counts.
        #[arg(long)]
        stat: bool,
        /// Print as JSON (see JSON.md).
        #[arg(long)]
        json: bool,
        /// Limit to these paths.
        #[arg(last = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a file's content as it was at time T (a directory: its files).
    #[command(after_help = "Example:\n  tl show src/main.rs --at \"2 hours ago\" > old.rs")]
    Show {
        /// The file.
        path: PathBuf,
        /// When.
        #[arg(long, value_name = "T")]
        at: String,
    },
    /// List the files as they were at time T (default: the last checkpoint): mode,
    /// size and path, everything under PATH (default: the whole tree).
    #[command(after_help = "Example:\n  tl ls\n  tl ls --at 1h src/\n  tl ls --json")]
    Ls {
        /// When (default: the last checkpoint).
        #[arg(long, value_name = "T")]
        at: Option<String>,
        /// A directory or file (default: the whole tree).
        path: Option<PathBuf>,
        /// Print as JSON (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Bring the whole tree back as it was at time T (captures the present first).
    #[command(
        after_help = "Example:\n  tl replay --to \"10 minutes ago\" --dry-run\n  \
                            tl replay --to a1b2c3\n  tl replay --to yesterday --into /tmp/old"
    )]
    Replay {
        /// When.
        #[arg(long, value_name = "T")]
        to: String,
        /// Write the tree into DIR instead of the project (DIR need not exist).
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
        /// Only list what would change.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring back only some paths (files or directories) as they were at time T.
    #[command(after_help = "Example:\n  tl restore src/lib.rs docs/ --at 1h")]
    Restore {
        /// Files or directories to restore.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// When.
        #[arg(long, value_name = "T")]
        at: String,
        /// Only list what would change.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Name a point in history (default: the last checkpoint).
    ///
    /// A name that reads as a time (10m, now) or could be a checkpoint id (4 or
    /// more hex digits) is refused. An existing pin moves only with --force.
    #[command(
        after_help = "Example:\n  tl pin release-1\n  tl pin before-merge 2h\n  \
                      tl pin --force release-1\n  tl pin --delete release-1"
    )]
    Pin {
        /// The name.
        name: String,
        /// When (default: the last checkpoint).
        #[arg(conflicts_with = "delete")]
        at: Option<String>,
        /// Move the pin if the name already names another checkpoint.
        #[arg(long, conflicts_with = "delete")]
        force: bool,
        /// Delete the pin (the checkpoint stays).
        #[arg(long)]
        delete: bool,
    },
    /// List pins.
    #[command(after_help = "Example:\n  tl pins --json")]
    Pins {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a tree snapshot of the last checkpoint now (speeds up replay).
    #[command(after_help = "Example:\n  tl compact")]
    Compact,
    /// Watch the directory and capture every change as it happens (foreground;
    /// Ctrl-C captures what is pending and stops).
    ///
    /// While it runs, `tl checkpoint` goes through it; commands that write the log
    /// themselves (replay, restore, pin, compact, recover) pause it: it captures
    /// what is pending, lends them the log and, when they finish, captures what
    /// changed meanwhile. The log goes to stderr; TL_LOG=warn (or debug) filters it.
    #[command(
        after_help = "Example:\n  tl watch\n  tl watch --debounce-ms 0\n  TL_LOG=warn tl watch"
    )]
    Watch {
        /// Debounce settings.
        #[command(flatten)]
        timing: WatchTiming,
        /// Run as the background daemon (used by `tl daemon start`).
        #[arg(long, hide = true)]
        daemon: bool,
    },
    /// Run the watcher in the background: start, stop, status.
    ///
    /// Other commands work beside it: `tl checkpoint` goes through it, and commands
    /// that write the log themselves (replay, restore, pin, compact, recover) pause
    /// it while they run; it captures what changed meanwhile when they finish.
    #[command(after_help = "Example:\n  tl daemon start\n  tl daemon status\n  tl daemon stop")]
    Daemon {
        /// What to do.
        #[command(subcommand)]
        action: DaemonAction,
    },
    /// Write the history into a Git repository as commits under refs/tl/ (the
    /// project's .git if it has one, else a bare repository at .tl/git). Never touches
    /// branches, HEAD, the index or the work tree; running it again exports only what
    /// is new.
    #[command(
        after_help = "Example:\n  tl export-git\n  tl export-git --every 1h --ref hourly\n  \
                            tl export-git --repo /tmp/history.git --since yesterday\n  \
                            git log --stat refs/tl/main"
    )]
    ExportGit {
        /// The repository (a work tree, a bare repository, or a new directory).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// The ref to write: NAME means refs/tl/NAME (default: main).
        #[arg(long = "ref", value_name = "REF")]
        ref_name: Option<String>,
        /// On a first export, start at this time.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Stop at this time.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// One commit per window of this length (the window's last state), e.g. 1h.
        #[arg(long, value_name = "DURATION")]
        every: Option<String>,
        /// Author and committer (default: "tl <tl@localhost>").
        #[arg(long, value_name = "\"Name <mail>\"")]
        author: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recover the log after a crash (cut a torn tail into .tl/quarantine) and, with
    /// --rebuild, rebuild every derived file (catalog, snapshots) from the log.
    #[command(
        after_help = "Example:\n  tl recover --dry-run\n  tl recover\n  tl recover --rebuild"
    )]
    Recover {
        /// Delete and rebuild the catalog, stat cache and snapshots from the log.
        #[arg(long)]
        rebuild: bool,
        /// Only say what would be done (nothing is changed).
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the log and every derived file; exit 0 only when all agree. Each problem
    /// is named with its segment, offset, LSN, time range, paths and the repair.
    #[command(after_help = "Example:\n  tl fsck\n  tl fsck --deep --json")]
    Fsck {
        /// Also re-read and re-hash every stored content.
        #[arg(long)]
        deep: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Debounce settings of `tl watch` and `tl daemon start`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct WatchTiming {
    /// Capture once the tree has been quiet this long (milliseconds).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,
    /// Capture at least this often while changes keep coming (milliseconds).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub max_delay_ms: u64,
}

/// `tl daemon` actions.
#[derive(Subcommand, Debug)]
pub enum DaemonAction {
    /// Start watching in the background (pid in .tl/daemon.pid, log in .tl/daemon.log).
    Start {
        /// Debounce settings.
        #[command(flatten)]
        timing: WatchTiming,
    },
    /// Stop the daemon (it captures what is pending first).
    Stop,
    /// Show the daemon's state: watched dirs, events/s, last capture, log size, RSS.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The end of `tl --help`: examples, the forms of a time, the exit codes.
fn root_after_help() -> String {
    format!(
        "Examples:\n  tl init\n  tl checkpoint -m \"before refactor\"\n  tl log\n  \
         tl replay --to \"10 minutes ago\"\n\nTimes (T) may be a checkpoint id or prefix, a \
         pin name, an RFC 3339 time, a local time (\"2026-11-22 14:05\"), a relative time \
         (10m, \"2 hours ago\", \"yesterday 17:00\") or @LSN.\n\n{}",
        command_error::EXIT_CODES_HELP
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = commands::run(cli).and_then(|()| out::finish());
    command_error::exit(result)
}
