//! `tl status`: what changed on disk since the last checkpoint.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tl_index::scan::{Change, ScanWarning};
use tl_index::store::{find_root, is_skipped_path, WorktreeStatus};

use crate::cli_util::open_read;
use crate::left_out_text;
use crate::output::path as show_path;

/// Show what changed on disk since the last checkpoint.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl status\n  tl status --json\n")]
pub struct StatusArgs {
    /// Print the changes as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Prints the changes and whether a watcher captures them.
pub fn cmd_status(cwd: &Path, args: StatusArgs) -> Result<()> {
    let json = args.json;
    let watcher = watcher_state(cwd);
    let store = open_read(cwd)?;
    let WorktreeStatus {
        changes,
        warnings,
        secrets_left_out,
    } = store.status()?;
    // Paths skipped although there are listed once each, with the way out;
    // other problems (an ignore file that does not parse) are warnings.
    let mut skipped: Vec<&ScanWarning> = Vec::new();
    for w in &warnings {
        if !is_skipped_path(w) {
            eprintln!("tl: warning: {w}");
        } else if !skipped.iter().any(|s| s.path == w.path) {
            skipped.push(w);
        }
    }
    let last = store.checkpoints().last();
    if json {
        let list: Vec<_> = changes
            .iter()
            .map(|c| {
                let (s, p) = letter(c);
                json!({"status": s.to_string(), "path": show_path(p)})
            })
            .collect();
        println!(
            "{}",
            json!({
                "changes": list,
                "clean": changes.is_empty(),
                "checkpoint": last.map(|c| c.id.clone()),
                "checkpoint_time": last.map(|c| tl_index::timespec::format_rfc3339(c.time_ns)),
                "capturing": watcher.is_some(),
                "last_capture": watcher.as_ref().and_then(|w| w.last_capture_ns).map(tl_index::timespec::format_rfc3339),
                "secrets_left_out": secrets_left_out.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "skipped": skipped
                    .iter()
                    .map(|w| left_out_text::skipped_json(&w.path.to_string(), w.kind, &w.message))
                    .collect::<Vec<_>>(),
                "holds": watcher.map(|w| w.holds).unwrap_or_default(),
            })
        );
        return Ok(());
    }
    let now = crate::output::now_ns();
    match (&watcher, last) {
        (_, None) => println!("No checkpoints yet; run `tl checkpoint`."),
        (Some(w), Some(c)) => println!(
            "A watcher is capturing changes (last capture {}). {} since checkpoint {} ({}){}",
            w.last_capture_ns
                .map(|t| crate::output::ago(t, now))
                .unwrap_or_else(|| "not yet".into()),
            if changes.is_empty() {
                "No changes"
            } else {
                "Changes not captured yet"
            },
            c.id,
            crate::output::ago(c.time_ns, now),
            if changes.is_empty() { "." } else { ":" }
        ),
        (None, Some(c)) if changes.is_empty() => println!(
            "No changes since checkpoint {} ({}). Nothing is capturing changes: `tl daemon \
             start` captures each one, `tl checkpoint` records the present once.",
            c.id,
            crate::output::ago(c.time_ns, now)
        ),
        (None, Some(c)) => println!(
            "Changes since checkpoint {} ({}), not captured (nothing is capturing changes; \
             `tl checkpoint` records them, `tl daemon start` captures each one):",
            c.id,
            crate::output::ago(c.time_ns, now)
        ),
    }
    let mut out = std::io::stdout().lock();
    // A held directory's changes are one line, not thousands.
    let holds = watcher.map(|w| w.holds).unwrap_or_default();
    let held_dir = |p: &[u8]| {
        holds
            .iter()
            .position(|h| tl_index::pathsafe::is_under(p, h.dir.as_bytes()))
    };
    for (i, h) in holds.iter().enumerate() {
        let [what, ways_out] = crate::hold_text::hold_lines(h, now);
        let n = changes
            .iter()
            .filter(|c| held_dir(letter(c).1) == Some(i))
            .count();
        writeln!(out, "{what}\n{ways_out}")?;
        if n > 0 {
            writeln!(out, "  {n} paths under it differ from the last capture")?;
        }
    }
    for c in &changes {
        let (s, p) = letter(c);
        if held_dir(p).is_some() {
            continue;
        }
        writeln!(out, "{s} {}", show_path(p))?;
    }
    let paths: Vec<String> = skipped.iter().map(|w| w.path.to_string()).collect();
    let lines = left_out_text::skipped_lines(
        skipped
            .iter()
            .zip(&paths)
            .map(|(w, p)| (p.as_str(), w.kind, w.message.as_str())),
        "",
    );
    for line in lines {
        writeln!(out, "{line}")?;
    }
    if let Some(note) = left_out_text::secrets(&secrets_left_out) {
        let mut note = note;
        note[..1].make_ascii_uppercase();
        writeln!(out, "{note}.")?;
    }
    let log_bytes = tl_index::gc::dir_bytes(&store.layout().log_dir()).unwrap_or(0);
    let last = store
        .catalog()
        .ok()
        .and_then(|c| c.thinnings().last().cloned());
    writeln!(
        out,
        "Store: {:.1} MB of log in .tl/wal; {}.",
        log_bytes as f64 / 1e6,
        crate::retention_text::last_gc(last.as_ref())
    )?;
    Ok(())
}

/// A running watcher, as `tl status` reports it.
struct WatcherState {
    /// When it last captured (ns since the epoch), if it has.
    last_capture_ns: Option<i64>,
    /// The directories the runaway guard holds.
    holds: Vec<crate::daemon::protocol::HoldStatus>,
}

/// Asks a running watcher to capture what is pending, then for its state; None
/// when none runs.
fn watcher_state(cwd: &Path) -> Option<WatcherState> {
    crate::daemon::client::flush(cwd);
    let root = find_root(cwd).ok()?;
    let v = crate::daemon::client::status(&root, Duration::from_secs(10))
        .ok()
        .flatten()?;
    Some(WatcherState {
        last_capture_ns: v.last_capture_ns,
        holds: v.holds,
    })
}

fn letter(c: &Change) -> (char, &[u8]) {
    match c {
        Change::Added(p, _) => ('A', p.as_bytes()),
        Change::Modified(p, _, _) => ('M', p.as_bytes()),
        Change::Deleted(p, _) => ('D', p.as_bytes()),
    }
}
