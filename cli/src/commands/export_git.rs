//! `tl export-git`: writes the history into a Git repository under `refs/tl/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::json;
use tl_index::export_git::{self, ExportOptions, Progress};
use tl_index::store::Store;
use tl_index::timespec::{self, format_local, TimeExpr};

/// Write the history into a Git repository as commits under refs/tl/ (the
/// project's .git if it has one, else a bare repository at .tl/git). Never touches
/// branches, HEAD, the index or the work tree; running it again exports only what
/// is new.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl export-git\n  tl export-git --every 1h30m --ref hourly\n  \
                  tl export-git --repo /tmp/history.git --since yesterday\n  \
                  git log --stat refs/tl/main\n"
)]
pub struct ExportGitArgs {
    /// The repository to write into: a work tree, a bare repository, or a new
    /// directory (made a bare repository).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// The ref to write the current timeline (or --timeline's) to: NAME means
    /// refs/tl/NAME (default: every timeline, each to refs/tl/<timeline>).
    #[arg(long = "ref", value_name = "REF")]
    ref_name: Option<String>,
    /// Only this timeline (with the states it inherited), to refs/tl/NAME
    /// unless --ref says otherwise.
    #[arg(long, value_name = "NAME")]
    timeline: Option<String>,
    #[arg(long, value_name = "T", help = time_help!("On a first export, start at T."))]
    since: Option<String>,
    #[arg(long, value_name = "T", help = time_help!("Export nothing after T."))]
    until: Option<String>,
    /// One commit per window of this length, holding the window's last state: a
    /// number and a unit, repeated (90s, 10m, 1h30m, 2 days; s, m, h, d, w).
    #[arg(long, value_name = "DURATION")]
    every: Option<String>,
    /// Author and committer of the commits (default: "tl <tl@localhost>").
    #[arg(long, value_name = "\"Name <mail>\"")]
    author: Option<String>,
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// A time bound: an instant as typed, or the time of the checkpoint it names.
fn bound(store: &Store, t: &str) -> Result<i64> {
    match timespec::parse(t, &jiff::Zoned::now()) {
        Ok(TimeExpr::Instant(ns)) => Ok(ns),
        Ok(TimeExpr::Window(w)) => Ok(w.start),
        Ok(_) => Ok(store.checkpoints()[store.resolve(t)?].time_ns),
        Err(e) => bail!("{e}"),
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Shown only on a terminal and only when there is more than a little to do.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} exporting: {pos}/{len} commits, {msg} hashed ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Runs `tl export-git`.
pub fn cmd_export_git(cwd: &Path, args: ExportGitArgs) -> Result<()> {
    let store = crate::cli_util::open_read(cwd)?;
    let mut opts = ExportOptions::new(now_ns());
    opts.repo = args.repo.map(|r| cwd.join(r));
    if let Some(r) = &args.ref_name {
        opts.ref_name = export_git::full_ref_name(r);
    }
    if let Some(a) = args.author {
        opts.author = a;
    }
    opts.since_ns = args
        .since
        .as_deref()
        .map(|t| bound(&store, t))
        .transpose()?;
    opts.until_ns = args
        .until
        .as_deref()
        .map(|t| bound(&store, t))
        .transpose()?;
    opts.every_ns = args
        .every
        .as_deref()
        .map(|e| {
            timespec::parse_duration(e)
                .map_err(|m| crate::command_error::CommandError::usage(format!("--every {m}")))
        })
        .transpose()?;
    if store.checkpoints().is_empty() {
        bail!("there are no checkpoints to export yet; run `tl checkpoint` first");
    }
    // One ref per timeline, or the one asked for.
    let catalog = store.catalog()?;
    let targets: Vec<(String, tl_index::record::TimelineId)> =
        match (&args.timeline, &args.ref_name) {
            (Some(name), r) => {
                let t = store.timeline_named(name)?;
                let r = r.clone().unwrap_or_else(|| t.name.clone());
                vec![(export_git::full_ref_name(&r), t.id)]
            }
            (None, Some(r)) => vec![(export_git::full_ref_name(r), catalog.current_timeline())],
            (None, None) => catalog
                .timelines()
                .live()
                .filter(|t| catalog.timeline_head(t.id).is_some())
                .map(|t| (export_git::full_ref_name(&t.name), t.id))
                .collect(),
        };
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    for (ref_name, timeline) in targets {
        opts.ref_name = ref_name;
        opts.timeline = Some(timeline);
        let bar = progress_bar();
        let report = export_git::export(&store, &opts, &|p: Progress| {
            if let Some(b) = &bar {
                // Large exports only: a bar that would flash for a moment helps nobody.
                if b.is_hidden() && started.elapsed().as_millis() > 300 {
                    b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                }
                b.set_length(p.commits_total);
                b.set_position(p.commits_done);
                b.set_message(indicatif::HumanBytes(p.bytes).to_string());
            }
        })?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        reports.push(report);
    }
    if args.json {
        let mut list: Vec<serde_json::Value> = reports.iter().map(report_json).collect();
        // The first ref's report, as before timelines, with every ref's beside it.
        let mut first = list.first().cloned().unwrap_or_else(|| json!({}));
        first["refs"] = serde_json::Value::Array(std::mem::take(&mut list));
        println!("{first}");
        return Ok(());
    }
    for r in &reports {
        print_report(r, started);
    }
    Ok(())
}

/// Entries left out because Git would refuse them, as JSON (export-git's and
/// publish's `left_out`).
pub fn left_out_json(left_out: &[export_git::LeftOut]) -> Vec<serde_json::Value> {
    left_out
        .iter()
        .map(|w| {
            json!({
                "commit": w.commit,
                "checkpoint": w.checkpoint,
                "path": crate::output::path(&w.path),
                "reason": w.reason,
            })
        })
        .collect()
}

fn report_json(r: &export_git::ExportReport) -> serde_json::Value {
    json!({
        "repo": r.repo.display().to_string(),
        "created_repo": r.created_repo,
        "ref": r.ref_name,
        "old_tip": r.old_tip,
        "tip": r.tip,
        "tip_checkpoint": r.tip_checkpoint,
        "commits_written": r.commits_written,
        "objects_written": r.objects_written,
        "pack": r.pack.as_ref().map(|p| p.display().to_string()),
        "pack_bytes": r.pack_bytes,
        "held_back": r.held_back,
        "open_window_ends": r.open_window_ends_ns.map(timespec::format_rfc3339),
        "rebuilt_map": r.rebuilt_map,
        "left_out": left_out_json(&r.left_out),
        "up_to_date": r.commits_written == 0,
    })
}

fn print_report(r: &export_git::ExportReport, started: std::time::Instant) {
    for w in &r.left_out {
        eprintln!("warning: {w}; Git would refuse it (the log keeps it)");
    }
    let short = |s: &Option<String>| s.as_deref().map(|t| t[..12].to_string());
    if r.commits_written == 0 {
        match (short(&r.tip), &r.tip_checkpoint) {
            (Some(tip), Some(cp)) => println!(
                "Nothing new to export: {} in {} is already at {tip} (checkpoint {cp}).",
                r.ref_name,
                r.repo.display()
            ),
            _ => println!("Nothing to export into {} yet.", r.repo.display()),
        }
    } else {
        println!(
            "Exported {} commit(s) to {} in {}{}: {} (checkpoint {}).",
            r.commits_written,
            r.ref_name,
            r.repo.display(),
            if r.created_repo {
                " (new bare repository)"
            } else {
                ""
            },
            short(&r.tip).unwrap_or_default(),
            r.tip_checkpoint.as_deref().unwrap_or("?")
        );
        println!(
            "Wrote {} object(s) in one pack of {} in {:.2?}.",
            r.objects_written,
            indicatif::HumanBytes(r.pack_bytes),
            started.elapsed()
        );
    }
    if r.held_back > 0 {
        println!(
            "{} checkpoint(s) wait for their --every window to close at {}.",
            r.held_back,
            r.open_window_ends_ns.map(format_local).unwrap_or_default()
        );
    }
}
