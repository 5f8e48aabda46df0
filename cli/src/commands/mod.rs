//! The command line: [`Cli`], one [`Command`] variant per command, and one file per
//! command (or group) owning its `#[derive(clap::Args)]` struct and a `cmd_*`
//! function that opens the store, calls the libraries and prints. A clap doc
//! comment is the `--help` text: it says what the argument takes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tl_index::store::find_root;

use crate::command_error::CommandError;

/// The `--help` text of an argument taking a time T: what it is for, then the
/// forms T takes (see `tl_index::timespec`).
macro_rules! time_help {
    ($what:literal) => {
        concat!(
            $what,
            " T: a checkpoint id or a prefix of it, a pin name, a relative time (10m, 1h30m, \
             \"2 hours ago\"), yesterday or \"yesterday 17:00\", a local time (17:00, \
             \"2026-11-22 14:05\"), an RFC 3339 time, now, @LSN, a timeline's name (its newest \
             state) or NAME@T (timeline NAME's state at T)"
        )
    };
}

mod bisect;
mod checkpoint;
mod clone;
mod compact;
mod completions;
mod config;
mod daemon;
mod diff;
mod export_git;
mod fetch;
mod fsck;
mod gc;
mod init;
mod log;
mod ls;
mod man;
mod pin;
mod publish;
mod push;
mod recover;
mod remote;
mod replay;
mod restore;
mod resume;
mod show;
mod status;
#[cfg(test)]
mod tests;
mod timeline;
mod undo;
mod verify;
mod watch;

pub use diff::git_mode;

/// What `tl --version` prints after "tl ": the crate's version and the commit it
/// was built from (cli/build.rs: "commit 0123456789ab 2026-12-02", or "unknown
/// commit" outside a git checkout).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TL_COMMIT"), ")");

/// tl: a time machine for working directories.
///
/// tl keeps every state your files pass through in a checksummed log under .tl/,
/// so any of them can be brought back.
#[derive(Parser, Debug)]
#[command(name = "tl", version = VERSION, after_help = root_after_help())]
pub struct Cli {
    /// Run as if tl was started in DIR instead of the current directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The end of `tl --help`: examples, the forms of a time, the exit codes.
fn root_after_help() -> String {
    format!(
        "Examples:\n  tl init\n  tl checkpoint -m \"before refactor\"\n  tl log\n  \
         tl replay --to \"10 minutes ago\"\n\nTimes (T) may be a checkpoint id or prefix, a \
         pin name, an RFC 3339 time, a local time (\"2026-11-22 14:05\"), a relative time \
         (10m, \"2 hours ago\", \"yesterday 17:00\") or @LSN.\n\n{}",
        crate::command_error::EXIT_CODES_HELP
    )
}

/// The commands, each with the arguments its own file defines. The variants have
/// no doc comment of their own: it would replace the Args struct's `--help` text.
#[derive(Subcommand, Debug)]
#[allow(missing_docs)]
pub enum Command {
    Init(init::InitArgs),
    Checkpoint(checkpoint::CheckpointArgs),
    Status(status::StatusArgs),
    Log(log::LogArgs),
    Diff(diff::DiffArgs),
    Show(show::ShowArgs),
    Ls(ls::LsArgs),
    Replay(replay::ReplayArgs),
    Restore(restore::RestoreArgs),
    Pin(pin::PinArgs),
    Pins(pin::PinsArgs),
    Compact(compact::CompactArgs),
    Gc(gc::GcArgs),
    Watch(watch::WatchArgs),
    Daemon(daemon::DaemonArgs),
    ExportGit(export_git::ExportGitArgs),
    Publish(publish::PublishArgs),
    Recover(recover::RecoverArgs),
    Fsck(fsck::FsckArgs),
    Resume(resume::ResumeArgs),
    Remote(remote::RemoteArgs),
    Push(push::PushArgs),
    Clone(clone::CloneArgs),
    Fetch(fetch::FetchArgs),
    Verify(verify::VerifyArgs),
    Timeline(timeline::TimelineArgs),
    Undo(undo::UndoArgs),
    Bisect(bisect::BisectArgs),
    Serve(crate::serve::ServeArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
    Config(config::ConfigArgs),
}

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let cwd = working_dir(cli.dir.as_deref())?;
    if !matches!(
        cli.command,
        Command::Init(_) | Command::Clone(_) | Command::Fetch(_)
    ) {
        if let Ok(root) = find_root(&cwd) {
            init::warn_if_git_tracks_tl(&root);
        }
    }
    match cli.command {
        Command::Init(args) => init::cmd_init(&cwd, args),
        Command::Checkpoint(args) => checkpoint::cmd_checkpoint(&cwd, args),
        Command::Status(args) => status::cmd_status(&cwd, args),
        Command::Log(args) => log::cmd_log(&cwd, args),
        Command::Diff(args) => diff::cmd_diff(&cwd, args),
        Command::Show(args) => show::cmd_show(&cwd, args),
        Command::Ls(args) => ls::cmd_ls(&cwd, args),
        Command::Replay(args) => replay::cmd_replay(&cwd, args),
        Command::Restore(args) => restore::cmd_restore(&cwd, args),
        Command::Pin(args) => pin::cmd_pin(&cwd, args),
        Command::Pins(args) => pin::cmd_pins(&cwd, args),
        Command::Compact(args) => compact::cmd_compact(&cwd, args),
        Command::Gc(args) => gc::cmd_gc(&cwd, args),
        Command::Watch(args) => watch::cmd_watch(&cwd, args),
        Command::Resume(args) => resume::cmd_resume(&cwd, args),
        Command::Daemon(args) => daemon::cmd_daemon(&cwd, args),
        Command::ExportGit(args) => export_git::cmd_export_git(&cwd, args),
        Command::Publish(args) => publish::cmd_publish(&cwd, args),
        Command::Recover(args) => recover::cmd_recover(&cwd, args),
        Command::Fsck(args) => fsck::cmd_fsck(&cwd, args),
        Command::Remote(args) => remote::cmd_remote(&cwd, args),
        Command::Push(args) => push::cmd_push(&cwd, args),
        Command::Clone(args) => clone::cmd_clone(&cwd, args),
        Command::Fetch(args) => fetch::cmd_fetch(&cwd, args),
        Command::Verify(args) => verify::cmd_verify(&cwd, args),
        Command::Timeline(args) => timeline::cmd_timeline(&cwd, args),
        Command::Undo(args) => undo::cmd_undo(&cwd, args),
        Command::Bisect(args) => bisect::cmd_bisect(&cwd, args),
        Command::Serve(args) => crate::serve::cmd_serve(&cwd, args),
        Command::Completions(args) => completions::cmd_completions(&cwd, args),
        Command::Man(args) => man::cmd_man(&cwd, args),
        Command::Config(args) => config::cmd_config(&cwd, args),
    }
}

/// The directory the command runs in: `-C DIR` or the current one.
fn working_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let Some(d) = dir else {
        return std::env::current_dir().context("cannot read the current directory");
    };
    let c = std::fs::canonicalize(d)
        .map_err(|e| CommandError::usage(format!("cannot use -C {}: {e}", d.display())))?;
    if !c.is_dir() {
        return Err(CommandError::usage(format!("-C {} is not a directory", d.display())).into());
    }
    Ok(c)
}
