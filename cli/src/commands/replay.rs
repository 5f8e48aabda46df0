//! `tl replay` and `tl restore`: bring back a whole tree or some paths.
//!
//! In place, both first capture the present as a checkpoint of its own, so the
//! replay itself can be undone (`tl replay --to <that checkpoint>`), then write only
//! what differs, then record a `restore` checkpoint of the result.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use tl_index::record::CommitKind;
use tl_index::restore::{materialize_with_progress, MaterializeOptions, MaterializeReport};
use tl_index::timespec::format_local;

use super::{open, rel_path};
use crate::output::path as show_path;

pub fn replay(
    cwd: &Path,
    to: &str,
    into: Option<PathBuf>,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    if let Some(dir) = &into {
        super::init::refuse_inside_tl(dir)?;
    }
    let mut store = open(cwd)?;
    let idx = store.resolve(to)?;
    let target = store.tree_at(idx)?;
    let cp = store.checkpoints()[idx].clone();
    let opts = MaterializeOptions {
        dry_run,
        only: None,
    };
    let (report, before) = match &into {
        Some(dir) => (run(&store, &target, dir, &opts)?, None),
        None => {
            let before = if dry_run {
                None
            } else {
                let msg = format!("before replay to {}", cp.id);
                Some(store.checkpoint(CommitKind::Auto, Some(msg))?.checkpoint)
            };
            let root = store.root().to_path_buf();
            (run(&store, &target, &root, &opts)?, before)
        }
    };
    if into.is_none() && !dry_run {
        // Record the replayed state as a checkpoint of its own (kind restore).
        let msg = format!("replay to {}", cp.id);
        store.checkpoint(CommitKind::Restore, Some(msg))?;
    }
    print_report(
        &report,
        dry_run,
        json,
        &cp.id,
        cp.time_ns,
        before.as_ref().map(|c| c.id.as_str()),
    );
    Ok(())
}

pub fn restore(cwd: &Path, paths: &[PathBuf], at: &str, dry_run: bool) -> Result<()> {
    let mut store = open(cwd)?;
    let idx = store.resolve(at)?;
    let target = store.tree_at(idx)?;
    let cp = store.checkpoints()[idx].clone();
    let only: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| rel_path(&store, cwd, p))
        .collect::<Result<_>>()?;
    for (p, arg) in only.iter().zip(paths) {
        let exists_then = target.keys().any(|k| crate::output::under(k, p));
        let exists_now = store.head().keys().any(|k| crate::output::under(k, p));
        if !exists_then && !exists_now {
            anyhow::bail!(
                "{} did not exist at checkpoint {} ({}) and is not tracked now",
                arg.display(),
                cp.id,
                format_local(cp.time_ns)
            );
        }
    }
    let before = if dry_run {
        None
    } else {
        let msg = format!("before restore from {}", cp.id);
        Some(store.checkpoint(CommitKind::Auto, Some(msg))?.checkpoint)
    };
    let root = store.root().to_path_buf();
    let opts = MaterializeOptions {
        dry_run,
        only: Some(only),
    };
    let report = run(&store, &target, &root, &opts)?;
    if !dry_run {
        let msg = format!("restore from {}", cp.id);
        store.checkpoint(CommitKind::Restore, Some(msg))?;
    }
    print_report(
        &report,
        dry_run,
        false,
        &cp.id,
        cp.time_ns,
        before.as_ref().map(|c| c.id.as_str()),
    );
    Ok(())
}

fn print_report(
    r: &MaterializeReport,
    dry_run: bool,
    json: bool,
    id: &str,
    time_ns: i64,
    undo: Option<&str>,
) {
    if json {
        let v = json!({
            "checkpoint": id,
            "time": format_local(time_ns),
            "dry_run": dry_run,
            "written": r.written.iter().map(|p| show_path(p)).collect::<Vec<_>>(),
            "removed": r.removed.iter().map(|p| show_path(p)).collect::<Vec<_>>(),
            "unchanged": r.unchanged,
            "bytes_written": r.bytes_written,
            "undo": undo,
        });
        println!("{v}");
        return;
    }
    let verb = if dry_run { "would write" } else { "wrote" };
    // The full list for a dry run (that is what it is for) or a small change.
    if dry_run || r.written.len() + r.removed.len() <= 20 {
        for p in &r.written {
            println!("W {}", show_path(p));
        }
        for p in &r.removed {
            println!("D {}", show_path(p));
        }
    }
    println!(
        "{} {} {} file(s), removed {} ({} unchanged) to match {} ({})",
        if dry_run { "Dry run:" } else { "Replayed:" },
        verb,
        r.written.len(),
        r.removed.len(),
        r.unchanged,
        id,
        format_local(time_ns)
    );
    if let Some(u) = undo {
        eprintln!("The previous state is checkpoint {u}: `tl replay --to {u}` undoes this.");
    }
}

/// Materializes with a progress bar on long replays (only when stderr is a terminal).
fn run(
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
    Ok(report)
}
