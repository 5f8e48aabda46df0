//! What a capture left out, in words a user can act on: the files left out as
//! likely secrets (and how to capture one), for the first capture and `tl
//! status`; the paths skipped although there (too large, unreadable, never held
//! still, special), with the way out, for `tl status` and `tl daemon status`.

use tl_index::repopath::RepoPath;
use tl_index::scan::WarningKind;

/// How many paths a message names before it says "and N more".
const NAMED_MAX: usize = 10;

/// The paths, comma-separated, at most [`NAMED_MAX`] of them.
fn named(paths: &[RepoPath]) -> String {
    let mut text: Vec<String> = paths
        .iter()
        .take(NAMED_MAX)
        .map(|p| p.to_string())
        .collect();
    if paths.len() > NAMED_MAX {
        text.push(format!("and {} more", paths.len() - NAMED_MAX));
    }
    text.join(", ")
}

/// The last component of `path` (what a `!NAME` rule in the root's `.tlignore`
/// matches at any depth).
fn file_name(path: &RepoPath) -> String {
    let text = path.to_string();
    match text.rsplit_once('/') {
        Some((_, name)) => name.to_string(),
        None => text,
    }
}

/// "Left out N file(s) that usually hold secrets: … (to capture one, add `!NAME`
/// to .tlignore)", or None when there are none.
pub fn secrets(paths: &[RepoPath]) -> Option<String> {
    let first = paths.first()?;
    let files = match paths.len() {
        1 => "1 file that usually holds".to_string(),
        n => format!("{n} files that usually hold"),
    };
    Some(format!(
        "left out {files} secrets: {} (to capture one, add `!{}` to \
         .tlignore; the list of names is in the README)",
        named(paths),
        file_name(first)
    ))
}

/// The word for why a path was skipped, as JSON gives it (`kind`).
pub fn kind_word(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::TooLarge => "too_large",
        WarningKind::Unreadable => "unreadable",
        WarningKind::ChangedWhileRead => "changed_while_read",
        WarningKind::Special => "special",
        WarningKind::Walk => "walk",
    }
}

/// What to do about a path skipped for `kind` (`way_out` in JSON).
pub fn way_out(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::TooLarge => {
            "raise max_file_bytes in .tl/config.toml to capture it, or add it to .tlignore"
        }
        WarningKind::Unreadable => "make it readable (chmod u+r), or add it to .tlignore",
        WarningKind::ChangedWhileRead => {
            "it is captured once it holds still (the daemon retries; or `tl checkpoint` when it \
             is quiet), or add it to .tlignore"
        }
        WarningKind::Special => {
            "tl captures files and symlinks only; add it to .tlignore to stop this note"
        }
        WarningKind::Walk => "fix the ignore file",
    }
}

/// The JSON of one skipped path (`tl status --json`, `tl daemon status --json`).
pub fn skipped_json(path: &str, kind: WarningKind, message: &str) -> serde_json::Value {
    serde_json::json!({
        "path": path,
        "kind": kind_word(kind),
        "message": message,
        "way_out": way_out(kind),
    })
}

/// The lines listing skipped paths, `indent` before each: a heading, then per
/// path its warning and the way out.
pub fn skipped_lines<'a>(
    skipped: impl ExactSizeIterator<Item = (&'a str, WarningKind, &'a str)>,
    indent: &str,
) -> Vec<String> {
    let n = skipped.len();
    if n == 0 {
        return Vec::new();
    }
    let files = match n {
        1 => "1 path is".to_string(),
        n => format!("{n} paths are"),
    };
    let mut lines = vec![format!("{indent}{files} skipped, not captured:")];
    for (path, kind, message) in skipped {
        lines.push(format!("{indent}  {path}: {message}"));
        lines.push(format!("{indent}    way out: {}", way_out(kind)));
    }
    lines
}

/// The kind a word from [`kind_word`] names (the daemon sends words).
pub fn kind_of_word(word: &str) -> WarningKind {
    match word {
        "too_large" => WarningKind::TooLarge,
        "unreadable" => WarningKind::Unreadable,
        "changed_while_read" => WarningKind::ChangedWhileRead,
        "special" => WarningKind::Special,
        _ => WarningKind::Walk,
    }
}
