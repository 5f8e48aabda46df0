//! `tl replay`: bring back the whole tree; what `tl restore` shares with it.
//!
//! In place, both first capture the present as a checkpoint of its own (when it
//! differs from the last one), so the replay itself can be undone (`tl replay --to
//! <that checkpoint>`, or `tl restore PATH --at <it>` after a restore), then write
//! only what differs, then record a `restore` checkpoint of the result. A replay
//! that finds the files already matching adds no checkpoint. `--into` writes no
//! history and needs only a read-only store.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use tl_index::catalog::Checkpoint;
use tl_index::pathsafe::is_under;
use tl_index::record::CommitKind;
use tl_index::restore::{materialize_with_progress, MaterializeOptions, MaterializeReport};
use tl_index::scan::ScanWarning;
use tl_index::store::Store;
use tl_index::timespec::{format_local, format_rfc3339};

use crate::cli_util::{open, open_read};
use crate::command_error::CommandError;
use crate::output::path as show_path;

/// Bring the whole tree back as it was at time T (captures the present first).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl replay --to \"10 minutes ago\" --dry-run\n  \
                  tl replay --to a1b2c3\n  tl replay --to yesterday --into /tmp/old\n"
)]
pub struct ReplayArgs {
    #[arg(long, value_name = "T", help = time_help!("Bring the tree back as it was at T."))]
    to: String,
    /// Write the tree into DIR instead of the project (DIR need not exist; no
    /// history is written).
    #[arg(long, value_name = "DIR")]
    into: Option<PathBuf>,
    /// Only list what would be written and removed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Which command is reporting, and how its result is undone.
pub enum Done<'a> {
    Replay,
    Restore { paths: &'a [PathBuf] },
}

/// Replays in place (capturing the present first) or into another directory.
pub fn cmd_replay(cwd: &Path, args: ReplayArgs) -> Result<()> {
    let ReplayArgs {
        to,
        into,
        dry_run,
        json,
    } = args;
    let to = to.as_str();
    let into = into.map(|d| cwd.join(d));
    let mut opts = MaterializeOptions {
        dry_run,
        ..MaterializeOptions::default()
    };
    if let Some(dir) = &into {
        super::init::refuse_inside_tl(dir)?;
        // Writes no history: a read-only store (and no writer lock) is enough.
        if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            return Err(CommandError::usage(format!(
                "{} exists and is not a directory",
                dir.display()
            ))
            .with_hint("--into takes a directory (it need not exist yet)")
            .into());
        }
        let store = open_read(cwd)?;
        let idx = store.resolve(to)?;
        let target = store.tree_at(idx)?;
        let cp = store.checkpoints()[idx].clone();
        let report = run(&store, &target, dir, &opts)?;
        print_report(&report, dry_run, json, &cp, None, &Done::Replay);
        return Ok(());
    }
    let mut store = open(cwd)?;
    let idx = store.resolve(to)?;
    let target = store.tree_at(idx)?;
    let cp = store.checkpoints()[idx].clone();
    let before = if dry_run {
        None
    } else {
        let before = capture_before(&mut store, format!("before replay to {}", cp.id))?;
        opts.leave = before.leave;
        Some(before.checkpoint)
    };
    let root = store.root().to_path_buf();
    let report = run(&store, &target, &root, &opts)?;
    if !dry_run && changed(&report) {
        // Record the replayed state as a checkpoint of its own (kind restore).
        let msg = format!("replay to {}", cp.id);
        store.checkpoint(CommitKind::Restore, Some(msg))?;
    }
    print_report(
        &report,
        dry_run,
        json,
        &cp,
        before.flatten().as_deref(),
        &Done::Replay,
    );
    Ok(())
}

/// What the capture before a replay or restore leaves for it.
pub struct Before {
    /// The checkpoint holding the present (None before any).
    pub checkpoint: Option<String>,
    /// Paths the capture could not read although they are there: left alone.
    pub leave: Vec<Vec<u8>>,
}

/// Captures the present before writing, if it differs from the last checkpoint.
pub fn capture_before(store: &mut Store, message: String) -> Result<Before> {
    let out = store.capture_if_changed(CommitKind::Auto, Some(message))?;
    let leave = left_alone(&out.warnings);
    let checkpoint = match out.checkpoint {
        Some(c) => Some(c.id),
        None => store.checkpoints().last().map(|c| c.id.clone()),
    };
    Ok(Before { checkpoint, leave })
}

pub fn changed(r: &MaterializeReport) -> bool {
    !r.written.is_empty() || !r.removed.is_empty()
}

/// The paths the capture before a replay could not read although they are there
/// (named in a warning): the replay leaves them as they are on disk, so that no
/// file is ever deleted or overwritten because it could not be captured.
fn left_alone(warnings: &[ScanWarning]) -> Vec<Vec<u8>> {
    let mut leave = Vec::new();
    for w in warnings {
        eprintln!("tl: warning: {w}");
        if !w.path.is_empty() && w.kind.keeps_previous_version() {
            eprintln!(
                "tl: {}: left as it is on disk by this replay (it could not be captured)",
                show_path(&w.path)
            );
            leave.push(w.path.clone());
        }
    }
    leave
}

pub fn print_report(
    r: &MaterializeReport,
    dry_run: bool,
    json: bool,
    cp: &Checkpoint,
    undo: Option<&str>,
    done: &Done,
) {
    // Nothing changed: nothing to undo.
    let undo = undo.filter(|_| changed(r) && !dry_run);
    let undo_command = undo.map(|u| match done {
        Done::Replay => format!("tl replay --to {u}"),
        Done::Restore { paths } => format!(
            "tl restore {} --at {u}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    });
    if json {
        let v = json!({
            "checkpoint": cp.id,
            "time": format_rfc3339(cp.time_ns),
            "time_ns": cp.time_ns,
            "dry_run": dry_run,
            "written": r.written.iter().map(|p| show_path(p)).collect::<Vec<_>>(),
            "removed": r.removed.iter().map(|p| show_path(p)).collect::<Vec<_>>(),
            "unchanged": r.unchanged,
            "bytes_written": r.bytes_written,
            "undo": undo,
            "undo_command": undo_command,
        });
        println!("{v}");
        return;
    }
    // The full list for a dry run (that is what it is for) or a small change.
    if dry_run || r.written.len() + r.removed.len() <= 20 {
        for p in &r.written {
            println!("W {}", show_path(p));
        }
        for p in &r.removed {
            println!("D {}", show_path(p));
        }
    }
    let (head, write, remove) = match (dry_run, done) {
        (true, _) => ("Dry run:", "would write", "would remove"),
        (false, Done::Replay) => ("Replayed:", "wrote", "removed"),
        (false, Done::Restore { .. }) => ("Restored:", "wrote", "removed"),
    };
    if !dry_run && !changed(r) {
        println!(
            "Nothing to do: the files already match {} ({}); {} file(s) unchanged, no \
             checkpoint added",
            cp.id,
            format_local(cp.time_ns),
            r.unchanged
        );
        return;
    }
    println!(
        "{head} {write} {} file(s), {remove} {}, {} unchanged, to match {} ({})",
        r.written.len(),
        r.removed.len(),
        r.unchanged,
        cp.id,
        format_local(cp.time_ns)
    );
    if let (Some(u), Some(cmd)) = (undo, undo_command) {
        // On stderr: a closed stdout (`| head`) must not lose how to undo.
        eprintln!("The previous state is checkpoint {u}: `{cmd}` undoes this.");
    }
}

/// Materializes with a progress bar on long replays (only when stderr is a terminal).
/// The report's `unchanged` counts every file of the target (under `only`) left as
/// it was, including those the plan did not need to look at.
pub fn run(
    store: &tl_index::store::Store,
    target: &tl_index::Tree,
    dir: &Path,
    opts: &MaterializeOptions,
) -> Result<MaterializeReport> {
    use std::io::IsTerminal;
    let bar = (std::io::stderr().is_terminal() && !opts.dry_run).then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = materialize_with_progress(store, target, dir, opts, &|done, total| {
        if let Some(b) = &bar {
            // Shown only for replays long enough to be worth a bar.
            if done == 1 && total >= 500 {
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            b.set_length(total);
            b.set_position(done);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for s in &report.skipped {
        eprintln!("warning: {s}");
    }
    for p in &report.kept {
        let p = show_path(p);
        eprintln!("warning: {p}: changed since the replay began; kept; run the replay again");
    }
    let mut report = report;
    let in_scope = target
        .keys()
        .filter(|k| {
            opts.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|p| is_under(k, p)))
        })
        .count();
    report.unchanged = in_scope.saturating_sub(report.written.len()) as u64;
    Ok(report)
}
