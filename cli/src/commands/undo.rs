//! `tl undo`: undo the last replay, restore, timeline switch or undo.
//!
//! Like jj's operation log: the state captured just before that operation is
//! brought back (the present is captured first), and the undo is recorded as
//! an operation of its own, so a second `tl undo` redoes what the first undid.

use std::path::Path;

use anyhow::Result;
use serde_json::json;
use tl_index::replay::ReplayError;
use tl_index::store::Store;
use tl_index::switch::Moved;
use tl_index::timespec::format_rfc3339;

use crate::cli_util::open;
use crate::output::path as show_path;

/// Undo the last replay, restore, timeline switch or undo.
///
/// Brings back exactly the state captured just before that operation (what you
/// have now is captured first, so nothing is lost), on the timeline it was on.
/// Undo twice is redo.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl replay --to 1h\n  tl undo\n  tl undo   # redo\n")]
pub struct UndoArgs {
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Undoes the last operation.
pub fn cmd_undo(cwd: &Path, args: UndoArgs) -> Result<()> {
    let mut store = open(cwd)?;
    let last = tl_index::switch::last_operation(&store)?;
    let op = store.checkpoints()[last.op].clone();
    let moved = run_moving(&mut store, tl_index::switch::undo)?;
    if args.json {
        let names = store.catalog()?.timelines();
        let v = json!({
            "undone": op.id,
            "undone_kind": op.kind.as_str(),
            "restored": moved.target.as_ref().map(|c| c.id.clone()),
            "restored_time": moved.target.as_ref().map(|c| format_rfc3339(c.time_ns)),
            "timeline": names.name_of(moved.to),
            "previous_timeline": names.name_of(moved.from),
            "recorded": moved.recorded.id,
            "written": moved.report.written.iter().map(|p| show_path(p.as_bytes())).collect::<Vec<_>>(),
            "removed": moved.report.removed.iter().map(|p| show_path(p.as_bytes())).collect::<Vec<_>>(),
            "unchanged": moved.report.unchanged,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "Undid {} ({}{})",
        op.id,
        op.kind.as_str(),
        op.message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    super::timeline::print_moved(&store, &moved, "Undone");
    Ok(())
}

/// Runs a switch or an undo with a progress bar, and says what the capture
/// before it could not read and what it left alone.
pub fn run_moving(
    store: &mut Store,
    op: impl FnOnce(&mut Store, &dyn Fn(u64, u64)) -> Result<Moved, ReplayError>,
) -> Result<Moved> {
    let bar = super::replay::progress_bar(false);
    let moved = op(store, &|done, total| super::replay::tick(&bar, done, total));
    let mut moved = moved?;
    for w in &moved.capture_warnings {
        eprintln!("tl: warning: {w}");
    }
    for p in &moved.left_alone {
        eprintln!(
            "tl: {}: left as it is on disk (it could not be captured)",
            show_path(p.as_bytes())
        );
    }
    moved.report = super::replay::finish(bar, moved.report);
    Ok(moved)
}
