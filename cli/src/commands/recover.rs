//! `tl recover`: recover the log after a crash and rebuild what derives from it.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use tl_index::fsck::{fsck as check, FsckOptions, Problem};
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
    let RecoverArgs { rebuild, dry_run } = args;
    let root = find_root(cwd)?;
    let mut out = std::io::stdout().lock();
    if dry_run {
        // A running watcher lends the log for the check, so its tail is checked too.
        let _lease = crate::daemon::client::pause(&root)?;
        let report = check(
            &root,
            &FsckOptions {
                deep: false,
                check_tail: true,
            },
        )
        .with_context(|| format!("cannot check {}", root.display()))?;
        if report.writer_running {
            return Err(CommandError::busy("a tl writer holds the log")
                .with_hint("stop it before `tl recover`")
                .into());
        }
        if report.is_clean() && !rebuild {
            writeln!(out, "Nothing to do: the log and every derived file agree.")?;
            return Ok(());
        }
        writeln!(out, "Dry run: nothing is changed. `tl recover` would:")?;
        for p in &report.problems {
            let action = match p.kind {
                tl_index::fsck::ProblemKind::TornTail => {
                    "cut the torn tail into .tl/quarantine/ (never acknowledged)"
                }
                k if k.is_derived() => {
                    "move the file to .tl/quarantine/ and rebuild it from the log"
                }
                tl_index::fsck::ProblemKind::LogOpen => "fail: the log cannot be opened",
                _ => "keep the damage in place, read past it and report this loss",
            };
            writeln!(out, "* {action}:")?;
            write_problem(&mut out, p)?;
        }
        if rebuild {
            writeln!(
                out,
                "* rebuild the catalog, stat cache and snapshots from the log (--rebuild)"
            )?;
        }
        return Ok(());
    }

    let mut store = crate::cli_util::open_writer_at(&root)?;
    let r = store
        .recovery()
        .cloned()
        .expect("a writer has a recovery report");
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
    // The log is recovered and locked by us: check it (the tail is ours now).
    let report = tl_index::fsck::fsck_storage(
        store.layout(),
        std::sync::Arc::new(
            tl_wal::FsStorage::new(store.layout().log_dir(), store.layout().quarantine())
                .context("cannot read the log")?,
        ),
        &FsckOptions {
            deep: false,
            check_tail: false,
        },
    );
    let lost: Vec<&Problem> = report.log_problems().collect();
    for p in &lost {
        writeln!(out, "Lost (damage kept in place, read past):")?;
        write_problem(&mut out, p)?;
    }
    let derived: Vec<&Problem> = report
        .problems
        .iter()
        .filter(|p| p.kind.is_derived())
        .collect();
    if !derived.is_empty() || rebuild {
        let kept = quarantine_derived(store.tl_dir(), &derived)?;
        for (p, to) in derived.iter().zip(&kept) {
            writeln!(out, "Derived file disagrees with the log: {}", p.what)?;
            writeln!(out, "    moved to {}", to.display())?;
        }
        let snaps = store.rebuild()?;
        writeln!(
            out,
            "Rebuilt the catalog ({} checkpoints, {} blobs, {} pins) and {} snapshot(s) from the log.",
            store.checkpoints().len(),
            store.catalog().blobs.len(),
            store.catalog().pins.len(),
            snaps.len()
        )?;
    }
    if lost.is_empty() && derived.is_empty() {
        writeln!(
            out,
            "The log is intact: {} segment(s), LSNs {}..{}, {} checkpoint(s).",
            report.segments,
            report.start_lsn,
            report.end_lsn,
            store.checkpoints().len()
        )?;
    } else if !lost.is_empty() {
        writeln!(
            out,
            "{} damaged place(s) remain in the log, kept in place; everything else is readable. \
             `tl fsck` will keep naming them.",
            lost.len()
        )?;
    }
    Ok(())
}

/// Moves the damaged derived files named by `problems` into `.tl/quarantine/`
/// (a derived file is rebuilt from the log, but no byte is deleted unseen).
fn quarantine_derived(tl: &Path, problems: &[&Problem]) -> Result<Vec<std::path::PathBuf>> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = tl.join("quarantine").join(format!("derived-{stamp}"));
    let mut moved = Vec::new();
    for p in problems {
        let Some(file) = &p.file else {
            moved.push(dir.clone());
            continue;
        };
        tl_wal::private_fs::ensure_dir(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let to = dir.join(name);
        match std::fs::rename(file, &to) {
            Ok(()) => moved.push(to),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => moved.push(to),
            Err(e) => return Err(e).with_context(|| format!("cannot move {}", file.display())),
        }
    }
    Ok(moved)
}
