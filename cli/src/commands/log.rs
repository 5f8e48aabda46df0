//! `tl log`: checkpoints and gaps, newest first, filtered by time and path.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tl_index::catalog::{Checkpoint, CheckpointIndex, Gap, PathChange};
use tl_index::store::Store;
use tl_index::timespec::{self, format_local, format_rfc3339, TimeExpr};
use tl_index::types::{Entry, Tree};
use tl_index::RepoPath;

use super::diff::StatRow;
use crate::cli_util::{open_read, rel_path};
use crate::hold_text::HeldInterval;
use crate::output::touches;
use crate::output::{checkpoint_json, checkpoint_line_with, counts, now_ns, path as show_path};
use tl_index::pathsafe::is_under;

/// List checkpoints, newest first, with the gaps where events may be missing.
///
/// Each line: id, time (and how long ago), kind, what changed, message. Times
/// are printed to the second and, pasted back as T, select that second.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl log -n 5\n  tl log --since \"1 hour ago\" src/main.rs\n  \
                  tl log --name-status\n  tl log --stat --json\n  tl log --timeline experiment\n  tl log --all\n"
)]
pub struct LogArgs {
    /// Print the checkpoints as a JSON array, newest first (see JSON.md).
    #[arg(long)]
    json: bool,
    #[arg(long, value_name = "T", help = time_help!("Only checkpoints at or after T."))]
    since: Option<String>,
    #[arg(long, value_name = "T", help = time_help!("Only checkpoints at or before T."))]
    until: Option<String>,
    /// Only the N newest checkpoints (e.g. -n 5).
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max_count: Option<usize>,
    /// Show each checkpoint's changed paths with their line counts.
    #[arg(long, conflicts_with = "name_status")]
    stat: bool,
    /// Show each checkpoint's changed paths with A (added), M (modified), D (deleted).
    #[arg(long)]
    name_status: bool,
    /// Only checkpoints that changed this file or directory (or something under
    /// it), each with what happened to it.
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// The states of timeline NAME, with those it inherited from the timeline
    /// it started from (default: the current timeline's).
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    timeline: Option<String>,
    /// The states of every timeline, each line naming its timeline.
    #[arg(long)]
    all: bool,
}

impl LogArgs {
    fn detail(&self) -> Detail {
        match (self.stat, self.name_status) {
            (true, _) => Detail::Stat,
            (_, true) => Detail::NameStatus,
            _ => Detail::Counts,
        }
    }
}

/// What is shown of each checkpoint's paths.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// The counts only.
    Counts,
    /// A letter (A, M, D) and the path of each change.
    NameStatus,
    /// Each changed path with its line counts.
    Stat,
}

/// One path a checkpoint changed, with its state before.
pub struct PathEvent<'a> {
    pub path: &'a [u8],
    pub before: Option<Entry>,
    pub after: Option<Entry>,
}

impl PathEvent<'_> {
    /// A, M or D as git prints them.
    pub fn letter(&self) -> char {
        match (self.before, self.after) {
            (None, _) => 'A',
            (Some(_), Some(_)) => 'M',
            (Some(_), None) => 'D',
        }
    }
}

/// A row of the log: a checkpoint (by index), a gap or a held interval.
enum Row<'a> {
    Checkpoint(CheckpointIndex),
    Gap(&'a Gap),
    Hold(HeldInterval),
}

/// The bound of `--since` (inclusive start) or `--until` (exclusive end) in ns.
fn bound(store: &Store, t: &str, end: bool) -> Result<i128> {
    match timespec::parse(t, &jiff::Zoned::now()) {
        Ok(TimeExpr::Instant(ns)) => Ok(i128::from(ns) + i128::from(end)),
        Ok(TimeExpr::Window(w)) => Ok(i128::from(if end { w.end } else { w.start })),
        Ok(_) => {
            let ns = store.checkpoints()[store.resolve(t)?].time_ns;
            Ok(i128::from(ns) + i128::from(end))
        }
        Err(e) => bail!("{e}"),
    }
}

/// Which states the log shows: None for all of them (`--all`, or a log that
/// never had a second timeline), else a flag per checkpoint: on the line of
/// timeline `name` (default: the current one).
fn log_scope(store: &Store, name: Option<&str>, all: bool) -> Result<Option<Vec<bool>>> {
    let catalog = store.catalog()?;
    if all || (name.is_none() && catalog.timelines().all().count() == 1) {
        return Ok(None);
    }
    let id = match name {
        Some(n) => store.timeline_named(n)?.id,
        None => catalog.current_timeline(),
    };
    let mut on = vec![false; catalog.checkpoints().len()];
    for i in catalog.lineage(id) {
        on[i.get()] = true;
    }
    Ok(Some(on))
}

/// Prints the rows of the log that pass the filters.
pub fn cmd_log(cwd: &Path, args: LogArgs) -> Result<()> {
    let detail = args.detail();
    crate::daemon::client::flush(cwd);
    let open_holds = open_holds(cwd);
    let store = open_read(cwd)?;
    let cps = store.checkpoints();
    let since = args
        .since
        .as_deref()
        .map(|t| bound(&store, t, false))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| bound(&store, t, true))
        .transpose()?;
    let prefix = args
        .path
        .as_ref()
        .map(|p| rel_path(&store, cwd, p))
        .transpose()?;
    let in_time = |from: i64, to: i64| {
        since.is_none_or(|s| i128::from(to) >= s) && until.is_none_or(|u| i128::from(from) < u)
    };
    let scope = log_scope(&store, args.timeline.as_deref(), args.all)?;
    let timelines = store.catalog()?.timelines();
    let mut rows: Vec<(i64, Row)> = Vec::new();
    for (i, c) in cps.iter().enumerate() {
        if scope.as_ref().is_some_and(|s| !s[i]) {
            continue;
        }
        if in_time(c.time_ns, c.time_ns) && prefix.as_ref().is_none_or(|p| touches(c, p.as_bytes()))
        {
            rows.push((c.time_ns, Row::Checkpoint(CheckpointIndex::new(i))));
        }
    }
    for gap in store.gaps() {
        let (from, to) = (&gap.from_ns, &gap.to_ns);
        // With a path: the gap matters when the capture that closed it (the first
        // checkpoint at or after its end) changed that path.
        let keep_for_path = prefix.as_ref().is_none_or(|p| {
            cps.iter()
                .find(|c| c.time_ns >= *to)
                .is_some_and(|c| touches(c, p.as_bytes()))
        });
        if in_time(*from, *to) && keep_for_path {
            rows.push((*to, Row::Gap(gap)));
        }
    }
    let now = now_ns();
    let closed = store.holds().iter().map(HeldInterval::closed);
    for hold in closed.chain(open_holds) {
        let to = hold.to_ns.unwrap_or(now);
        if in_time(hold.from_ns, to) && prefix.as_ref().is_none_or(|p| hold.concerns(p.as_bytes()))
        {
            rows.push((to, Row::Hold(hold)));
        }
    }
    // Newest first; a checkpoint at a gap's end time (the capture closing it) first.
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0).then_with(|| {
            let rank = |r: &Row| !matches!(r, Row::Checkpoint(_)) as u8;
            rank(&a.1).cmp(&rank(&b.1))
        })
    });
    if let Some(n) = args.max_count {
        let mut seen = 0;
        let cut = rows
            .iter()
            .position(|(_, r)| {
                if matches!(r, Row::Checkpoint(_)) {
                    seen += 1;
                }
                seen > n
            })
            .unwrap_or(rows.len());
        rows.truncate(cut);
    }
    let wanted: Vec<CheckpointIndex> = rows
        .iter()
        .filter_map(|(_, r)| match r {
            Row::Checkpoint(i) => Some(*i),
            Row::Gap(_) | Row::Hold(_) => None,
        })
        .collect();
    // The state before each change is needed only to show the paths.
    let events = if detail != Detail::Counts || prefix.is_some() {
        path_events(cps, &wanted)
    } else {
        Vec::new()
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(_, r)| match r {
                Row::Checkpoint(i) => {
                    let mut v = checkpoint_json(&cps[*i]);
                    v["timeline"] = Value::String(timelines.name_of(cps[*i].timeline));
                    if detail != Detail::Counts || prefix.is_some() {
                        let evs = shown_events(&events, *i, prefix.as_ref().map(RepoPath::as_bytes));
                        v["changes"] = Value::Array(
                            evs.iter()
                                .map(|e| {
                                    json!({"status": e.letter().to_string(), "path": show_path(e.path)})
                                })
                                .collect(),
                        );
                    }
                    v
                }
                Row::Gap(Gap {
                    from_ns: from,
                    to_ns: to,
                    reason,
                }) => json!({
                    "type": "gap", "from": format_rfc3339(*from), "to": format_rfc3339(*to),
                    "from_ns": from, "to_ns": to, "reason": reason,
                }),
                Row::Hold(h) => h.json(),
            })
            .collect();
        writeln!(out, "{}", Value::Array(list))?;
        return Ok(());
    }
    if !rows.iter().any(|(_, r)| matches!(r, Row::Checkpoint(_))) {
        writeln!(
            out,
            "No checkpoints{}.",
            if cps.is_empty() { " yet" } else { " match" }
        )?;
    }
    for (_, row) in &rows {
        match row {
            Row::Checkpoint(i) => {
                let c = &cps[*i];
                let evs = shown_events(&events, *i, prefix.as_ref().map(RepoPath::as_bytes));
                let mut what = match &prefix {
                    Some(p) => path_summary(&evs, p.as_bytes()),
                    None => counts(c),
                };
                if args.all {
                    what = format!("{what}  [{}]", timelines.name_of(c.timeline));
                }
                writeln!(out, "{}", checkpoint_line_with(c, &what, now))?;
                match detail {
                    Detail::Counts => {}
                    Detail::NameStatus => {
                        for e in &evs {
                            writeln!(out, "    {} {}", e.letter(), show_path(e.path))?;
                        }
                    }
                    Detail::Stat => {
                        let stats = evs
                            .iter()
                            .map(|e| super::diff::line_stat(&store, e.before, e.after))
                            .collect::<Result<Vec<_>>>()?;
                        let rows: Vec<StatRow> = evs
                            .iter()
                            .zip(stats)
                            .map(|(e, stat)| StatRow {
                                name: show_path(e.path),
                                stat,
                            })
                            .collect();
                        for line in super::diff::stat_lines(&rows) {
                            writeln!(out, "   {line}")?;
                        }
                    }
                }
            }
            Row::Gap(Gap {
                from_ns: from,
                to_ns: to,
                reason,
            }) => writeln!(
                out,
                "gap           {} .. {}  events may be missing: {reason}",
                format_local(*from),
                format_local(*to)
            )?,
            Row::Hold(h) => writeln!(out, "{}", h.line())?,
        }
    }
    // The horizon, once it matters: some history reaches past the first band
    // (where states start to be thinned), or a GC has run.
    let policy = &store.config().retention;
    let first_band_ns = policy.horizon().bands.first().map_or(0, |b| b.until.ns());
    let catalog = store.catalog()?;
    let reaches_past = cps
        .first()
        .is_some_and(|c| now.saturating_sub(c.time_ns) > first_band_ns);
    if reaches_past || !catalog.thinnings().is_empty() {
        writeln!(
            out,
            "\n{} ({}.)",
            crate::retention_text::horizon(policy),
            crate::retention_text::last_gc(catalog.thinnings().last())
        )?;
    }
    Ok(())
}

/// The holds of a running daemon's runaway guard (none when none runs).
fn open_holds(cwd: &Path) -> Vec<HeldInterval> {
    let Ok(root) = tl_index::store::find_root(cwd) else {
        return Vec::new();
    };
    crate::daemon::client::status(&root, std::time::Duration::from_secs(10))
        .ok()
        .flatten()
        .map(|s| s.holds.iter().map(HeldInterval::open).collect())
        .unwrap_or_default()
}

/// The changes of one checkpoint, each with the entry before it.
struct CheckpointEvents<'a> {
    at: CheckpointIndex,
    events: Vec<PathEvent<'a>>,
}

/// The changes of checkpoint `i` under `prefix` (all without one).
fn shown_events<'a>(
    events: &'a [CheckpointEvents<'a>],
    i: CheckpointIndex,
    prefix: Option<&[u8]>,
) -> Vec<&'a PathEvent<'a>> {
    events
        .binary_search_by_key(&i, |e| e.at)
        .ok()
        .map(|k| &events[k].events)
        .map(|evs| {
            evs.iter()
                .filter(|e| prefix.is_none_or(|p| is_under(e.path, p)))
                .collect()
        })
        .unwrap_or_default()
}

/// What happened to a path (a file) or under it (a directory) in one checkpoint.
fn path_summary(evs: &[&PathEvent], prefix: &[u8]) -> String {
    if let [e] = evs {
        if e.path == prefix {
            let word = match e.letter() {
                'A' => "added",
                'D' => "deleted",
                _ => match (e.before, e.after) {
                    (Some(b), Some(a)) if b.hash == a.hash => "mode changed",
                    _ => "modified",
                },
            };
            return format!("{word} {}", show_path(prefix));
        }
    }
    let count = |l: char| evs.iter().filter(|e| e.letter() == l).count();
    format!(
        "+{} ~{} -{} under {}/",
        count('A'),
        count('M'),
        count('D'),
        show_path(prefix)
    )
}

/// For each wanted checkpoint (indexes), its changes with the entries before them:
/// the trees are folded from the first checkpoint.
fn path_events<'a>(cps: &'a [Checkpoint], wanted: &[CheckpointIndex]) -> Vec<CheckpointEvents<'a>> {
    let Some(last) = wanted.iter().max().map(|i| i.get()) else {
        return Vec::new();
    };
    let mut is_wanted = vec![false; last + 1];
    for &i in wanted {
        is_wanted[i.get()] = true;
    }
    let mut tree = Tree::new();
    let mut out = Vec::new();
    for (i, c) in cps.iter().enumerate().take(last + 1) {
        if is_wanted[i] {
            let evs = c
                .changes
                .iter()
                .map(|ch| match ch {
                    PathChange::Put(p, e) => PathEvent {
                        path: p.as_bytes(),
                        before: tree.get(p.as_bytes()).copied(),
                        after: Some(*e),
                    },
                    PathChange::Delete(p) => PathEvent {
                        path: p.as_bytes(),
                        before: tree.get(p.as_bytes()).copied(),
                        after: None,
                    },
                })
                .collect();
            out.push(CheckpointEvents {
                at: CheckpointIndex::new(i),
                events: evs,
            });
        }
        tl_index::catalog::apply(&mut tree, &c.changes);
    }
    out
}
