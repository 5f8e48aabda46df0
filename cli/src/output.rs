//! Formatting shared by the commands: times, paths, JSON values.

use serde_json::{json, Value};
use tl_index::catalog::Checkpoint;
use tl_index::timespec::format_local;

/// A path as the user sees it (lossy for non-UTF-8 names).
pub fn path(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// One checkpoint as JSON.
pub fn checkpoint_json(c: &Checkpoint) -> Value {
    json!({
        "id": c.id,
        "lsn": c.lsn,
        "end_lsn": c.end_lsn,
        "seq": c.seq,
        "time": format_local(c.time_ns),
        "time_ns": c.time_ns,
        "kind": kind_name(c.kind),
        "message": c.message,
        "added": c.stats.added,
        "modified": c.stats.modified,
        "deleted": c.stats.deleted,
        "bytes_new": c.stats.bytes_new,
    })
}

/// The kind as a word.
pub fn kind_name(k: tl_index::record::CommitKind) -> &'static str {
    match k {
        tl_index::record::CommitKind::Auto => "auto",
        tl_index::record::CommitKind::Manual => "manual",
        tl_index::record::CommitKind::Restore => "restore",
    }
}

/// One checkpoint as a line of `tl log`.
pub fn checkpoint_line(c: &Checkpoint) -> String {
    let counts = if c.changed_nothing() {
        "no changes".to_string()
    } else {
        format!(
            "+{} ~{} -{}",
            c.stats.added, c.stats.modified, c.stats.deleted
        )
    };
    let msg = c
        .message
        .as_deref()
        .map(|m| format!("  {m}"))
        .unwrap_or_default();
    format!(
        "{}  {}  {:<7}  {counts}{msg}",
        c.id,
        format_local(c.time_ns),
        kind_name(c.kind)
    )
}

/// True when a checkpoint changed `prefix` or anything under it.
pub fn touches(c: &Checkpoint, prefix: &[u8]) -> bool {
    c.changes.iter().any(|ch| under(ch.path(), prefix))
}

/// True when `p` is `prefix` or inside it.
pub fn under(p: &[u8], prefix: &[u8]) -> bool {
    if prefix.is_empty() {
        return true;
    }
    p == prefix || (p.starts_with(prefix) && p.get(prefix.len()) == Some(&b'/'))
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
