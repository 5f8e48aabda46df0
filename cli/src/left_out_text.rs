//! What a capture left out, in words a user can act on: the files left out as
//! likely secrets (and how to capture one), for the first capture and `tl
//! status`.

use tl_index::repopath::RepoPath;

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
