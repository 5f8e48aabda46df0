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
use tl_index::replay::{changed, InPlace, InPlaceReport, Present, Purpose};
use tl_index::restore::{MaterializeOptions, MaterializeReport};
use tl_index::timespec::{format_local, format_rfc3339};

use crate::cli_util::{open, open_read, Writer};
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
    if let Some(dir) = into.map(|d| cwd.join(d)) {
        super::init::refuse_inside_tl(&dir)?;
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
        let idx = store.resolve(&to)?;
        let target = store.tree_at(idx)?;
        let cp = store.checkpoints()[idx].clone();
        let opts = MaterializeOptions {
            dry_run,
            ..MaterializeOptions::default()
        };
        let bar = progress_bar(dry_run);
        let report = tl_index::replay::into_dir(&store, &target, &dir, &opts, &|done, total| {
            tick(&bar, done, total)
        });
        let report = finish(bar, report?);
        print_report(&report, dry_run, json, &cp, None, &Done::Replay);
        return Ok(());
    }
    let mut store = open(cwd)?;
    let idx = store.resolve(&to)?;
    let target = store.tree_at(idx)?;
    let cp = store.checkpoints()[idx].clone();
    let req = InPlace {
        target: idx,
        only: None,
        purpose: Purpose::Replay,
        dry_run,
        present: present_of(&store),
    };
    let done = in_place(&mut store, &req, &target)?;
    print_report(&done.report, dry_run, json, &cp, Some(&done), &Done::Replay);
    Ok(())
}

/// What a replay in place knows of the tree before it starts: a daemon that
/// lent the log having captured everything it was told says the last checkpoint
/// holds it, and no scan is needed to make the replay undoable.
pub fn present_of(store: &Writer) -> Present {
    if store.tree_captured_by_watcher() {
        Present::Recorded
    } else {
        Present::Unknown
    }
}

/// Brings `target` back in place through `tl_index::replay::in_place` with a
/// progress bar, and says what the capture before it could not read.
pub fn in_place(
    store: &mut tl_index::store::Store,
    req: &InPlace,
    target: &tl_index::Tree,
) -> Result<InPlaceReport> {
    let bar = progress_bar(req.dry_run);
    let done =
        tl_index::replay::in_place(store, req, target, &|done, total| tick(&bar, done, total));
    let mut done = done?;
    for w in &done.capture_warnings {
        eprintln!("tl: warning: {w}");
    }
    for p in &done.left_alone {
        eprintln!(
            "tl: {}: left as it is on disk by this replay (it could not be captured)",
            show_path(p.as_bytes())
        );
    }
    done.report = finish(bar, done.report);
    Ok(done)
}

/// A progress bar for long replays, only when stderr is a terminal (hidden until
/// [`tick`] finds the replay long enough to be worth it).
pub(super) fn progress_bar(dry_run: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (std::io::stderr().is_terminal() && !dry_run).then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

pub(super) fn tick(bar: &Option<indicatif::ProgressBar>, done: u64, total: u64) {
    if let Some(b) = bar {
        // Shown only for replays long enough to be worth a bar.
        if done == 1 && total >= 500 {
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        b.set_length(total);
        b.set_position(done);
    }
}

/// Clears the bar and warns about the paths written around.
pub(super) fn finish(
    bar: Option<indicatif::ProgressBar>,
    report: MaterializeReport,
) -> MaterializeReport {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for s in &report.skipped {
        eprintln!("warning: {s}");
    }
    for p in &report.kept {
        let p = show_path(p.as_bytes());
        eprintln!("warning: {p}: changed since the replay began; kept; run the replay again");
    }
    report
}

pub fn print_report(
    r: &MaterializeReport,
    dry_run: bool,
    json: bool,
    cp: &Checkpoint,
    in_place: Option<&InPlaceReport>,
    done: &Done,
) {
    // Nothing changed: nothing to undo.
    let undo = in_place
        .and_then(|d| d.before.as_deref())
        .filter(|_| changed(r) && !dry_run);
    // How the state before was known (in place, not a dry run).
    let present = in_place.filter(|_| !dry_run).map(|d| match d.present {
        Present::Unknown => "scanned",
        Present::Recorded => "daemon",
    });
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
            "written": r.written.iter().map(|p| show_path(p.as_bytes())).collect::<Vec<_>>(),
            "removed": r.removed.iter().map(|p| show_path(p.as_bytes())).collect::<Vec<_>>(),
            "unchanged": r.unchanged,
            "bytes_written": r.bytes_written,
            "undo": undo,
            "undo_command": undo_command,
            "present": present,
        });
        println!("{v}");
        return;
    }
    // The full list for a dry run (that is what it is for) or a small change.
    if dry_run || r.written.len() + r.removed.len() <= 20 {
        for p in &r.written {
            println!("W {}", show_path(p.as_bytes()));
        }
        for p in &r.removed {
            println!("D {}", show_path(p.as_bytes()));
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
