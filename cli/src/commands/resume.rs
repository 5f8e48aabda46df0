//! `tl resume DIR`: lift the runaway guard's hold of a directory.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use tl_index::store::find_root;
use tl_index::RepoPath;

use crate::command_error::CommandError;
use crate::output::summary_json;

/// Capture a directory the daemon held again: it wrote faster than the runaway
/// budget (`runaway_files_per_minute`, `runaway_bytes_per_minute`), so the
/// daemon captured it once and then stopped capturing it.
///
/// The daemon captures DIR once, now, and then as usual; a writer still running
/// is held again once it exceeds the budget. To stop capturing DIR for good, add
/// it to .tlignore instead.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl resume gen/out\n  tl daemon status   # lists the held directories\n"
)]
pub struct ResumeArgs {
    /// The held directory, as `tl status` names it (e.g. gen/out).
    #[arg(value_name = "DIR")]
    directory: PathBuf,
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Asks the running daemon to end the hold and capture the directory.
pub fn cmd_resume(cwd: &Path, args: ResumeArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let dir = RepoPath::from_argument(&root, cwd, &args.directory)
        .map_err(|e| CommandError::usage(e.to_string()).with_hint("give a directory inside it"))?;
    if dir.as_bytes().is_empty() {
        return Err(
            CommandError::usage("the root is never held; name a directory under it").into(),
        );
    }
    let dir_text = dir.to_string();
    let Some(done) = crate::daemon::client::resume(&root, &dir_text)? else {
        return Err(CommandError::usage(format!(
            "no daemon is watching {}, so nothing is held",
            root.display()
        ))
        .with_hint("holds exist only under a running daemon (`tl daemon start`)")
        .into());
    };
    if args.json {
        let v = json!({
            "hold": done.hold,
            "checkpoint": done.checkpoint.as_ref().map(summary_json),
        });
        println!("{v}");
        return Ok(());
    }
    let held = crate::hold_text::held_for(&done.hold, crate::output::now_ns());
    match &done.checkpoint {
        Some(c) => println!(
            "Resumed {dir_text} (held {held}): {}",
            crate::output::checkpoint_done(c)
        ),
        None => println!("Resumed {dir_text} (held {held}); nothing in it changed."),
    }
    Ok(())
}
