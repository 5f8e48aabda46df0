//! `tl checkpoint`: capture the directory now and record a checkpoint.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use tl_index::record::CommitKind;

use crate::cli_util::open;
use crate::output::checkpoint_json;

/// Capture the directory now and record a checkpoint.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl checkpoint -m \"tests pass\"\n  tl checkpoint --json\n")]
pub struct CheckpointArgs {
    /// A message to remember this checkpoint by (e.g. -m "tests pass").
    #[arg(short, long, value_name = "TEXT")]
    message: Option<String>,
    /// Print the new checkpoint as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Through a running watcher when there is one (it captures pending events
/// first), else by a capture of its own.
pub fn cmd_checkpoint(cwd: &Path, args: CheckpointArgs) -> Result<()> {
    let CheckpointArgs { message, json } = args;
    if crate::daemon::client::checkpoint(cwd, message.as_deref(), json)? {
        return Ok(());
    }
    let mut store = open(cwd)?;
    let bar = crate::output::capture_progress(store.checkpoints().is_empty());
    let out = store.checkpoint_with_progress(CommitKind::Manual, message, &|bytes| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in &out.warnings {
        eprintln!("tl: warning: {w}");
    }
    let c = &out.checkpoint;
    if json {
        let mut v = checkpoint_json(c);
        v["no_changes"] = json!(c.changes.is_empty());
        v["warnings"] = json!(out
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>());
        println!("{v}");
    } else {
        println!("{}", crate::output::checkpoint_done(c));
    }
    Ok(())
}
