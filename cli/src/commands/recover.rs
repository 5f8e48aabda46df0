//! `tl recover`: recover the log after a crash and rebuild what derives from it
//! (the work is `tl_index::recover`'s; this prints its report).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use tl_index::recover::{self, Action, Rebuild, RecoverError};
use tl_index::store::find_root;

use super::fsck::write_problem;
use crate::command_error::CommandError;

/// Recover the log after a crash (cut a torn tail into .tl/quarantine) and, with
/// --rebuild, rebuild every derived file (catalog, snapshots) from the log.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl recover --dry-run\n  tl recover\n  tl recover --rebuild\n")]
pub struct RecoverArgs {
    /// Also delete and rebuild the catalog, stat cache and snapshots from the log,
    /// even where they agree with it.
    #[arg(long)]
    rebuild: bool,
    /// Only say what would be done (nothing is changed).
    #[arg(long)]
    dry_run: bool,
}

/// `tl recover [--rebuild] [--dry-run]`.
///
/// Opening the log for writing runs its recovery (a torn tail is cut into
/// `.tl/quarantine/`); damage inside sealed segments stays in place and is read past.
/// Then every loss is reported, and derived files that disagree with the log (or all
/// of them, with `--rebuild`) are rebuilt, damaged ones first moved to quarantine.
/// Running it again changes nothing.
pub fn cmd_recover(cwd: &Path, args: RecoverArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let rebuild = match args.rebuild {
        true => Rebuild::Everything,
        false => Rebuild::WhereDamaged,
    };
    if args.dry_run {
        return dry_run(&root, rebuild);
    }
    let mut store = crate::cli_util::open_writer_at(&root)?;
    let gc = store.gc_recovery();
    let r = recover::recover(&mut store, rebuild)?;
    let mut out = std::io::stdout().lock();
    match gc {
        Some(tl_index::gc::Interrupted::Finished) => writeln!(
            out,
            "Finished a GC that a crash interrupted after its new log was ready (the log is \
             the thinned one)"
        )?,
        Some(tl_index::gc::Interrupted::Undone) => writeln!(
            out,
            "Removed the unfinished new log of a GC that a crash interrupted (the log is as \
             before that GC)"
        )?,
        None => {}
    }
    if let Some(t) = &r.torn_tail {
        writeln!(
            out,
            "Cut a torn tail of {} bytes at LSN {} ({} offset {}), never acknowledged; kept in {}",
            t.bytes, t.lsn, t.segment, t.offset, t.quarantined_as
        )?;
    }
    if let Some(name) = &r.torn_creation {
        writeln!(
            out,
            "Set aside segment {name}, whose creation never finished (kept in .tl/quarantine/)"
        )?;
    }
    for p in &r.lost {
        writeln!(out, "Lost (damage kept in place, read past):")?;
        write_problem(&mut out, p)?;
    }
    for q in &r.quarantined {
        writeln!(
            out,
            "Derived file disagrees with the log: {}",
            q.problem.what
        )?;
        writeln!(out, "    moved to {}", q.moved_to.display())?;
    }
    if let Some(b) = &r.rebuilt {
        writeln!(
            out,
            "Rebuilt the catalog ({} checkpoints, {} blobs, {} pins) and {} snapshot(s) from the log.",
            b.checkpoints, b.blobs, b.pins, b.snapshots
        )?;
    }
    if r.lost.is_empty() && r.quarantined.is_empty() {
        writeln!(
            out,
            "The log is intact: {} segment(s), LSNs {}..{}, {} checkpoint(s).",
            r.segments, r.start_lsn, r.end_lsn, r.checkpoints
        )?;
    } else if !r.lost.is_empty() {
        writeln!(
            out,
            "{} damaged place(s) remain in the log, kept in place; everything else is readable. \
             `tl fsck` will keep naming them.",
            r.lost.len()
        )?;
    }
    Ok(())
}

/// `--dry-run`: what `tl recover` would do, changing nothing.
fn dry_run(root: &Path, rebuild: Rebuild) -> Result<()> {
    // A running watcher lends the log for the check, so its tail is checked too.
    let _lease = crate::daemon::client::pause(root)?;
    let plan = match recover::plan(root) {
        Err(RecoverError::WriterRunning) => {
            return Err(CommandError::busy("a tl writer holds the log")
                .with_hint("stop it before `tl recover`")
                .into())
        }
        other => other?,
    };
    let mut out = std::io::stdout().lock();
    if plan.steps.is_empty() && rebuild == Rebuild::WhereDamaged {
        writeln!(out, "Nothing to do: the log and every derived file agree.")?;
        return Ok(());
    }
    writeln!(out, "Dry run: nothing is changed. `tl recover` would:")?;
    for (action, p) in &plan.steps {
        let action = match action {
            Action::CutTornTail => "cut the torn tail into .tl/quarantine/ (never acknowledged)",
            Action::QuarantineAndRebuild => {
                "move the file to .tl/quarantine/ and rebuild it from the log"
            }
            Action::Fail => "fail: the log cannot be opened",
            Action::ReadPast => "keep the damage in place, read past it and report this loss",
        };
        writeln!(out, "* {action}:")?;
        write_problem(&mut out, p)?;
    }
    if rebuild == Rebuild::Everything {
        writeln!(
            out,
            "* rebuild the catalog, stat cache and snapshots from the log (--rebuild)"
        )?;
    }
    Ok(())
}
