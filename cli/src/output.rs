//! Formatting shared by the commands: times, paths, JSON values.

use serde_json::{json, Value};
use tl_index::catalog::{Catalog, Checkpoint};

use crate::daemon::protocol::CheckpointSummary;
use tl_index::timespec::{format_local, format_rfc3339};

/// A path as the user sees it (lossy for non-UTF-8 names).
pub fn path(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// One checkpoint as JSON (`"time"` is RFC 3339 in UTC with fractional seconds;
/// the shapes are documented in JSON.md).
pub fn checkpoint_json(c: &Checkpoint) -> Value {
    summary_json(&CheckpointSummary::of(c))
}

/// [`checkpoint_json`] of a checkpoint as the daemon reports it.
pub fn summary_json(c: &CheckpointSummary) -> Value {
    serde_json::to_value(CheckpointJson::of(c, None)).unwrap_or(Value::Null)
}

/// The shape of [`checkpoint_json`] (JSON.md), for answers serialized straight
/// to bytes (`tl serve`'s pages of checkpoints): `timeline` only when given.
#[derive(serde::Serialize)]
pub struct CheckpointJson<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: &'a str,
    lsn: u64,
    end_lsn: u64,
    seq: u64,
    time: String,
    time_ns: i64,
    kind: &'a str,
    message: Option<&'a str>,
    added: u64,
    modified: u64,
    deleted: u64,
    bytes_new: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<String>,
}

impl<'a> CheckpointJson<'a> {
    /// `c`, with its timeline's name when given.
    pub fn of(c: &'a CheckpointSummary, timeline: Option<String>) -> CheckpointJson<'a> {
        CheckpointJson {
            ty: "checkpoint",
            id: &c.id,
            lsn: c.lsn,
            end_lsn: c.end_lsn,
            seq: c.seq,
            time: format_rfc3339(c.time_ns),
            time_ns: c.time_ns,
            kind: &c.kind,
            message: c.message.as_deref(),
            added: c.added,
            modified: c.modified,
            deleted: c.deleted,
            bytes_new: c.bytes_new,
            timeline,
        }
    }
}

/// The live timelines as `tl timeline list --json` prints them (and
/// `GET /api/timelines` sends them), by timeline number: name, whether
/// current, its head state (`id`, `time`, `time_ns`; null with no state yet)
/// and how many states its line has, inherited ones included.
pub fn timelines_json(catalog: &Catalog) -> Value {
    let current = catalog.current_timeline();
    let rows = catalog.timelines().live().map(|t| {
        let head = catalog
            .timeline_head(t.id)
            .map(|i| &catalog.checkpoints()[i.get()]);
        json!({
            "name": t.name,
            "current": t.id == current,
            "id": head.map(|c| c.id.clone()),
            "time": head.map(|c| format_rfc3339(c.time_ns)),
            "time_ns": head.map(|c| c.time_ns),
            "states": catalog.lineage(t.id).len(),
        })
    });
    Value::Array(rows.collect())
}

/// The counts of a checkpoint, as `+1 ~2 -0` or `no changes`.
pub fn counts(c: &Checkpoint) -> String {
    if c.changed_nothing() {
        "no changes".to_string()
    } else {
        format!(
            "+{} ~{} -{}",
            c.stats.added, c.stats.modified, c.stats.deleted
        )
    }
}

/// One checkpoint as a line of `tl log` (a multi-line message continues on lines
/// of its own, indented).
pub fn checkpoint_line(c: &Checkpoint) -> String {
    checkpoint_line_with(c, &counts(c), crate::output::now_ns())
}

/// [`checkpoint_line`] with `what` in place of the counts, and the time also shown
/// relative to `now_ns`.
pub fn checkpoint_line_with(c: &Checkpoint, what: &str, now_ns: i64) -> String {
    let mut lines = c.message.as_deref().unwrap_or("").lines();
    let first = lines.next().map(|m| format!("  {m}")).unwrap_or_default();
    let mut out = format!(
        "{}  {} ({})  {:<7}  {what}{first}",
        c.id,
        format_local(c.time_ns),
        ago(c.time_ns, now_ns),
        c.kind.as_str()
    );
    for line in lines {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}

/// The result of `tl checkpoint`, as one line.
pub fn checkpoint_done(c: &CheckpointSummary) -> String {
    if c.changed_nothing() {
        format!(
            "{}  recorded with no changes since the previous checkpoint (no file differs)",
            c.id
        )
    } else {
        format!(
            "{}  +{} ~{} -{}  {} new bytes stored",
            c.id, c.added, c.modified, c.deleted, c.bytes_new
        )
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    tl_index::store::Store::now_ns()
}

/// How long before `now_ns` the instant `ns` was, as `12 s ago`, `3 min ago`,
/// `5 h ago`, `4 days ago`.
pub fn ago(ns: i64, now_ns: i64) -> String {
    let secs = (now_ns.saturating_sub(ns)) / 1_000_000_000;
    match secs {
        s if s < 0 => "in the future".into(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 48 * 3600 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// True when a checkpoint changed `prefix` or anything under it.
pub fn touches(c: &Checkpoint, prefix: &[u8]) -> bool {
    c.changes.iter().any(|ch| ch.path().is_under(prefix))
}

/// A progress spinner for a capture, shown only on a terminal and only for the
/// first capture (later ones are quick: the stat cache skips unchanged files).
pub fn capture_progress(first: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !first || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} capturing: {bytes} of new content stored ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// `12.3 MB`.
pub fn bytes(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else if n >= 1_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{n} bytes")
    }
}
