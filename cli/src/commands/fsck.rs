//! `tl fsck`: check the log and every derived file; how a problem is shown.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tl_index::fsck::{fsck as check, CheckpointRef, FsckOptions, FsckReport, Problem};
use tl_index::store::find_root;
use tl_index::timespec::{format_local, format_rfc3339};
use tl_wal::Lsn;

use crate::command_error::CommandError;
use crate::output::path as show_path;

/// Paths listed per problem in the text report (JSON lists all).
const PATHS_SHOWN: usize = 10;

/// Check the log and every derived file; exit 0 only when all agree, 3 when
/// something is damaged. Each problem is named with its segment, offset, LSN,
/// time range, paths and the repair.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl fsck\n  tl fsck --deep --json\n")]
pub struct FsckArgs {
    /// Also re-read and re-hash every stored content (slower: reads the whole log).
    #[arg(long)]
    deep: bool,
    /// Print the report as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// `tl fsck [--deep] [--json]`: exit 0 only when everything holds.
pub fn cmd_fsck(cwd: &Path, args: FsckArgs) -> Result<()> {
    let FsckArgs { deep, json } = args;
    let root = find_root(cwd)?;
    let opts = FsckOptions {
        deep,
        check_tail: true,
    };
    // A running watcher lends the log (capturing what is pending first), so
    // the end of its last segment is judged too; held until the check is done.
    let lease = crate::cli_util::borrow_from_watcher(&root)?;
    let report = check(&root, &opts).with_context(|| format!("cannot check {}", root.display()))?;
    drop(lease);
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
    for t in r.catalog.thinnings() {
        let g = &t.thinned;
        writeln!(
            out,
            "thinned by tl gc at {}: kept {} of {} states (#{}..#{}); the log before it ended \
             at LSN {} with chain head {}",
            format_local(g.time_ns),
            g.kept,
            g.states_before,
            g.first_seq,
            g.last_seq,
            g.prev_end_lsn,
            tl_index::catalog::hex(&g.prev_head[..6])
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
            json!({"id": c.id, "seq": c.seq, "lsn": c.lsn.get(), "time": tl_index::timespec::format_rfc3339(c.time_ns), "time_ns": c.time_ns})
        }
    }
}

fn problem_json(p: &Problem) -> Value {
    json!({
        "kind": p.kind.code(),
        "what": p.what,
        "file": p.file.as_ref().map(|f| f.display().to_string()),
        "offset": p.offset,
        "lsn": p.lsn.map(Lsn::get),
        "resumes_at": p.resumes_at.map(Lsn::get),
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
        "start_lsn": r.start_lsn.get(),
        "end_lsn": r.end_lsn.get(),
        "records": r.records,
        "batches": r.batches,
        "checkpoints": r.checkpoints,
        "blobs": r.blobs,
        "blobs_rehashed": r.blobs_rehashed,
        "snapshots": r.snapshots,
        "catalog_checked": r.catalog_checked,
        "writer_running": r.writer_running,
        "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
        "gcs": r.catalog.thinnings().iter().map(|t| json!({
            "time": format_rfc3339(t.thinned.time_ns),
            "states_before": t.thinned.states_before,
            "kept": t.thinned.kept,
            "dropped": t.thinned.dropped,
            "first_seq": t.thinned.first_seq,
            "last_seq": t.thinned.last_seq,
            "prev_end_lsn": t.thinned.prev_end_lsn.get(),
            "prev_head": tl_index::catalog::hex(&t.thinned.prev_head),
            "policy": t.thinned.policy,
        })).collect::<Vec<_>>(),
    })
}
