//! `tl fsck` and `tl recover`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tl_index::fsck::{fsck as check, CheckpointRef, FsckOptions, FsckReport, Problem};
use tl_index::store::find_root;
use tl_index::timespec::format_local;

use crate::command_error::CommandError;
use crate::output::path as show_path;

/// Paths listed per problem in the text report (JSON lists all).
const PATHS_SHOWN: usize = 10;

/// `tl fsck [--deep] [--json]`: exit 0 only when everything holds.
pub fn fsck(cwd: &Path, deep: bool, json: bool) -> Result<()> {
    let root = find_root(cwd)?;
    let opts = FsckOptions {
        deep,
        check_tail: true,
    };
    let report = check(&root, &opts).with_context(|| format!("cannot check {}", root.display()))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", report_json(&report, deep))?;
    } else {
        write_summary(&mut out, &report, deep)?;
        for p in &report.problems {
            write_problem(&mut out, p)?;
        }
    }
    out.flush()?;
    if !report.is_clean() {
        let n = report.problems.len();
        let cmd = if report.problems.iter().all(|p| p.kind.is_derived()) {
            "tl recover --rebuild"
        } else {
            "tl recover"
        };
        return Err(CommandError::damage(format!("fsck found {n} problem(s)"))
            .with_hint(format!(
                "`{cmd}` repairs what can be repaired (`--dry-run` first shows what it would do)"
            ))
            .into());
    }
    Ok(())
}

fn write_summary(out: &mut dyn Write, r: &FsckReport, deep: bool) -> Result<()> {
    writeln!(
        out,
        "{} segment(s), LSNs {}..{}, {} record(s) in {} batch(es), {} checkpoint(s), {} blob(s){}, {} snapshot(s), catalog cache {}",
        r.segments,
        r.start_lsn,
        r.end_lsn,
        r.records,
        r.batches,
        r.checkpoints,
        r.blobs,
        if deep {
            format!(" ({} re-hashed)", r.blobs_rehashed)
        } else {
            String::new()
        },
        r.snapshots,
        if r.catalog_checked { "checked" } else { "absent" },
    )?;
    if r.writer_running {
        writeln!(
            out,
            "note: a tl writer holds the log, so the end of the last segment was not judged"
        )?;
    }
    if r.is_clean() {
        writeln!(out, "OK: the log and every derived file agree.")?;
    } else {
        writeln!(out, "{} problem(s):", r.problems.len())?;
    }
    Ok(())
}

fn cp_text(c: &CheckpointRef) -> String {
    format!("{} (#{}, {})", c.id, c.seq, format_local(c.time_ns))
}

/// One problem, several lines: what, where, when, paths, repair.
pub fn write_problem(out: &mut dyn Write, p: &Problem) -> Result<()> {
    writeln!(out, "- {}: {}", p.kind.code(), p.what)?;
    let mut at = Vec::new();
    if let Some(f) = &p.file {
        at.push(f.display().to_string());
    }
    if let Some(o) = p.offset {
        at.push(format!("offset {o}"));
    }
    if let Some(l) = p.lsn {
        at.push(format!("LSN {l}"));
    }
    if !at.is_empty() {
        writeln!(out, "    at: {}", at.join(", "))?;
    }
    let when = match (&p.after, &p.before) {
        (Some(a), Some(b)) => format!("after checkpoint {} and before {}", cp_text(a), cp_text(b)),
        (Some(a), None) => format!("after checkpoint {} (the last)", cp_text(a)),
        (None, Some(b)) => format!("before checkpoint {} (the first)", cp_text(b)),
        (None, None) => String::new(),
    };
    if !when.is_empty() {
        writeln!(out, "    when: {when}")?;
    }
    if p.checkpoints_lost > 0 {
        writeln!(out, "    lost: {} checkpoint(s)", p.checkpoints_lost)?;
    }
    if !p.paths.is_empty() {
        let shown: Vec<String> = p
            .paths
            .iter()
            .take(PATHS_SHOWN)
            .map(|x| show_path(x))
            .collect();
        let more = p.paths.len().saturating_sub(PATHS_SHOWN);
        let more = if more > 0 {
            format!(" (+{more} more; --json lists all)")
        } else {
            String::new()
        };
        writeln!(out, "    paths: {}{more}", shown.join(", "))?;
    }
    writeln!(out, "    repair: {}", p.repair)?;
    Ok(())
}

fn cp_json(c: &Option<CheckpointRef>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => {
            json!({"id": c.id, "seq": c.seq, "lsn": c.lsn, "time": tl_index::timespec::format_rfc3339(c.time_ns), "time_ns": c.time_ns})
        }
    }
}

fn problem_json(p: &Problem) -> Value {
    json!({
        "kind": p.kind.code(),
        "what": p.what,
        "file": p.file.as_ref().map(|f| f.display().to_string()),
        "offset": p.offset,
        "lsn": p.lsn,
        "resumes_at": p.resumes_at,
        "after": cp_json(&p.after),
        "before": cp_json(&p.before),
        "checkpoints_lost": p.checkpoints_lost,
        "paths": p.paths.iter().map(|x| show_path(x)).collect::<Vec<_>>(),
        "repair": p.repair,
        "derived": p.kind.is_derived(),
    })
}

fn report_json(r: &FsckReport, deep: bool) -> Value {
    json!({
        "ok": r.is_clean(),
        "deep": deep,
        "segments": r.segments,
        "start_lsn": r.start_lsn,
        "end_lsn": r.end_lsn,
        "records": r.records,
        "batches": r.batches,
        "checkpoints": r.checkpoints,
        "blobs": r.blobs,
        "blobs_rehashed": r.blobs_rehashed,
        "snapshots": r.snapshots,
        "catalog_checked": r.catalog_checked,
        "writer_running": r.writer_running,
        "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
    })
}

/// `tl recover [--rebuild] [--dry-run]`.
///
/// Opening the log for writing runs its recovery (a torn tail is cut into
/// `.tl/quarantine/`); damage inside sealed segments stays in place and is read past.
/// Then every loss is reported, and derived files that disagree with the log (or all
/// of them, with `--rebuild`) are rebuilt, damaged ones first moved to quarantine.
/// Running it again changes nothing.
pub fn recover(cwd: &Path, rebuild: bool, dry_run: bool) -> Result<()> {
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

    let mut store = super::open_writer_at(&root)?;
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
