//! `tl checkpoint`: capture the directory now and record a checkpoint.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use tl_index::record::CommitKind;

use crate::batch_consent::{Confirm, Yes};
use crate::cli_util::open;
use crate::daemon::protocol::{CheckpointSummary, Checkpointed};
use crate::output::summary_json;

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
    /// Capture even when it adds more than max_batch_bytes (.tl/config.toml,
    /// 2 GiB by default) without asking; without it such a capture asks on a
    /// terminal and is refused elsewhere.
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Through a running watcher when there is one (it captures pending events
/// first), else by a capture of its own.
pub fn cmd_checkpoint(cwd: &Path, args: CheckpointArgs) -> Result<()> {
    let CheckpointArgs { message, json, yes } = args;
    if let Some(done) = crate::daemon::client::checkpoint(cwd, message.as_deref())? {
        print(&done, json);
        return Ok(());
    }
    let mut store = open(cwd)?;
    let first = store.checkpoints().is_empty();
    let bar = crate::output::capture_progress(first);
    let consent = Confirm::new(yes.then_some(Yes), bar.as_ref());
    let progress = |bytes| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    };
    let out = store.checkpoint_guarded(CommitKind::Manual, message, &progress, &consent)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The first capture says what it left out as secrets; `tl status` says it
    // every time.
    if let (true, Some(note)) = (first, crate::left_out_text::secrets(&out.secrets_left_out)) {
        eprintln!("tl: note: {note}");
    }
    let done = Checkpointed {
        checkpoint: CheckpointSummary::of(&out.checkpoint),
        warnings: out.warnings.iter().map(|w| w.to_string()).collect(),
    };
    print(&done, json);
    Ok(())
}

/// The new checkpoint (its warnings on stderr), however it was recorded.
fn print(done: &Checkpointed, json: bool) {
    for w in &done.warnings {
        eprintln!("tl: warning: {w}");
    }
    let c = &done.checkpoint;
    if json {
        let mut v = summary_json(c);
        v["no_changes"] = json!(c.changed_nothing());
        v["warnings"] = json!(done.warnings);
        println!("{v}");
    } else {
        println!("{}", crate::output::checkpoint_done(c));
    }
}
