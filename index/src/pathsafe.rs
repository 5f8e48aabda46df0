//! Path safety: which stored paths `tl` will ever write, export or trust.
//!
//! Paths in the log come from capture, but the log is a file on disk like any other
//! and may have been damaged or forged, so restore and export treat every path as
//! untrusted input. This module implements rules 1-3 of "Path safety" in
//! `RELIABILITY.md`:
//!
//! 1. [`validate_path_syntax`]: a path is relative and made of `/`-separated,
//!    non-empty components, none of them `.` or `..` (also when split on `\`, as
//!    Windows does), with no NUL byte, no absolute, drive (`C:`) or UNC (`\\`)
//!    prefix, at most [`PATH_MAX_BYTES`] bytes and [`PATH_MAX_DEPTH`] components.
//! 2. [`validate_path`]: rule 1 plus no component that names `.git` or `.tl` on any
//!    file system we may restore to: case-insensitively (Windows, macOS), with HFS+
//!    ignorable code points removed (macOS, Git's `is_hfs_dotgit`), with trailing dots
//!    and spaces or an alternate data stream suffix removed and as the 8.3 short name
//!    (Windows, Git's `is_ntfs_dotgit`; CVE-2014-9390).
//! 3. [`check_no_duplicates_or_prefix_conflicts`]: no path twice, and no path that is
//!    both an entry and a parent directory of another entry (`a` and `a/b`).
//!
//! What this does *not* do: case-folding collisions between two entries (`A` and
//! `a` on a case-insensitive file system) and Unicode normalization collisions are not
//! detected; restore must still write relative to a directory handle without following
//! symlinks (rule 4), which no string check can replace.

use std::collections::HashSet;
use std::fmt;

/// Longest accepted path, in bytes (Linux's `PATH_MAX`).
pub const PATH_MAX_BYTES: usize = 4096;

/// Most components accepted in one path. Restore walks paths component by component
/// with one open directory handle per level, so depth is a resource bound too.
pub const PATH_MAX_DEPTH: usize = 256;

/// A path that breaks one of the rules, with the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsafe path {path:?}: {rule}")]
pub struct PathError {
    /// The offending path, decoded lossily (invalid UTF-8 shows as U+FFFD) and so only
    /// fit for messages, never for opening files.
    pub path: String,
    /// Which rule the path breaks.
    pub rule: PathRule,
}

/// The rule a path breaks; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathRule {
    /// The path is empty.
    Empty,
    /// The path is longer than [`PATH_MAX_BYTES`].
    TooLong {
        /// Length of the path in bytes.
        len: usize,
    },
    /// The path has more than [`PATH_MAX_DEPTH`] components.
    TooDeep {
        /// Number of components (counted on `/`).
        depth: usize,
    },
    /// The path contains a NUL byte, which no file system API can pass through.
    Nul,
    /// The path starts with `/` or `\` (absolute, or a UNC `\\server` prefix).
    Absolute,
    /// The path starts with a Windows drive prefix such as `C:`.
    DrivePrefix,
    /// Two separators in a row, or one at the start or the end.
    EmptyComponent,
    /// A component is `.` or `..`, or only dots and spaces, which Windows trims to
    /// one of those.
    DotComponent,
    /// A component names `.git` or `.tl` in some spelling a file system accepts.
    Reserved {
        /// The offending component, decoded lossily.
        component: String,
    },
    /// The same path appears twice.
    Duplicate,
    /// The path is an entry, and another entry lies below it as if it were a
    /// directory.
    EntryIsAlsoParent {
        /// The entry below, decoded lossily.
        child: String,
    },
}

impl fmt::Display for PathRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathRule::Empty => write!(f, "empty path"),
            PathRule::TooLong { len } => {
                write!(
                    f,
                    "{len} bytes long, more than the limit of {PATH_MAX_BYTES}"
                )
            }
            PathRule::TooDeep { depth } => {
                write!(
                    f,
                    "{depth} components deep, more than the limit of {PATH_MAX_DEPTH}"
                )
            }
            PathRule::Nul => write!(f, "contains a NUL byte"),
            PathRule::Absolute => write!(f, "absolute (starts with a separator)"),
            PathRule::DrivePrefix => write!(f, "starts with a drive prefix like `C:`"),
            PathRule::EmptyComponent => write!(f, "has an empty component"),
            PathRule::DotComponent => write!(f, "has a `.` or `..` component"),
            PathRule::Reserved { component } => {
                write!(f, "component {component:?} names `.git` or `.tl`")
            }
            PathRule::Duplicate => write!(f, "appears more than once"),
            PathRule::EntryIsAlsoParent { child } => {
                write!(f, "is an entry and also the parent directory of {child:?}")
            }
        }
    }
}

fn error(path: &[u8], rule: PathRule) -> PathError {
    PathError {
        path: String::from_utf8_lossy(path).into_owned(),
        rule,
    }
}

fn is_separator(b: u8) -> bool {
    b == b'/' || b == b'\\'
}

/// True when `path` is `prefix` or lies inside it (`a/b` is under `a`, `ab` is not).
/// The empty prefix is the root, which holds every path. The one test of "is this
/// path in that part of the tree" for scans, restores and the CLI's path filters.
pub fn is_under(path: &[u8], prefix: &[u8]) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix) && (path.len() == prefix.len() || path[prefix.len()] == b'/'))
}

/// Rule 1 only: checks that `path` is a well-formed relative path. Record decoding uses
/// this, not [`validate_path`], so that a `.git`-named path that capture let through
/// (`.GIT/hooks/post-checkout` is a legal name on Linux) makes restore and the git
/// export skip that one entry, with a warning, rather than making the whole log
/// unreadable or every later replay and export fail.
pub fn validate_path_syntax(path: &[u8]) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(error(path, PathRule::Empty));
    }
    if path.len() > PATH_MAX_BYTES {
        return Err(error(path, PathRule::TooLong { len: path.len() }));
    }
    if path.contains(&0) {
        return Err(error(path, PathRule::Nul));
    }
    if is_separator(path[0]) {
        return Err(error(path, PathRule::Absolute));
    }
    if path.len() >= 2 && path[0].is_ascii_alphabetic() && path[1] == b':' {
        return Err(error(path, PathRule::DrivePrefix));
    }
    let depth = path.iter().filter(|&&b| b == b'/').count() + 1;
    if depth > PATH_MAX_DEPTH {
        return Err(error(path, PathRule::TooDeep { depth }));
    }
    for component in path.split(|&b| is_separator(b)) {
        if component.is_empty() {
            return Err(error(path, PathRule::EmptyComponent));
        }
        // `.` and `..`, and what Windows turns into them by trimming trailing dots and
        // spaces (`. `, `...`). A Linux file named `...` is refused too: rare, and
        // restoring it on Windows would climb out of the tree.
        if component.iter().all(|&b| b == b'.' || b == b' ') {
            return Err(error(path, PathRule::DotComponent));
        }
    }
    Ok(())
}

/// Rules 1 and 2: checks that `path` is safe to create below a restore or export root.
pub fn validate_path(path: &[u8]) -> Result<(), PathError> {
    validate_path_syntax(path)?;
    for component in path.split(|&b| is_separator(b)) {
        if is_reserved_component(component) {
            let component = String::from_utf8_lossy(component).into_owned();
            return Err(error(path, PathRule::Reserved { component }));
        }
    }
    Ok(())
}

/// Length of the HFS+ ignorable code point encoded at the start of `bytes`, if any.
/// HFS+ drops these when comparing names, so `.g\u{200c}it` opens `.git` (Git's
/// `next_hfs_char`). Matching the UTF-8 byte sequences directly needs no decoding and
/// so also works inside names that are not valid UTF-8.
fn hfs_ignorable_len(bytes: &[u8]) -> Option<usize> {
    match bytes {
        // U+200C..=U+200F and U+202A..=U+202E.
        [0xE2, 0x80, 0x8C..=0x8F, ..] | [0xE2, 0x80, 0xAA..=0xAE, ..] => Some(3),
        // U+206A..=U+206F.
        [0xE2, 0x81, 0xAA..=0xAF, ..] => Some(3),
        // U+FEFF, the byte order mark.
        [0xEF, 0xBB, 0xBF, ..] => Some(3),
        _ => None,
    }
}

/// A name as HFS+ and NTFS compare it: HFS+ ignorable code points dropped, ASCII
/// lowercased (both are case-insensitive; Git, too, folds only ASCII here), an NTFS
/// stream suffix cut (`.git:stream`, `.git::$INDEX_ALLOCATION` open `.git`) and
/// trailing dots and spaces dropped (NTFS: `.git. .` is `.git`). Shared with the git
/// export's checks of `.gitmodules` and friends.
pub fn fs_folded_name(component: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(component.len());
    let mut i = 0;
    while i < component.len() {
        if let Some(n) = hfs_ignorable_len(&component[i..]) {
            i += n;
            continue;
        }
        name.push(component[i].to_ascii_lowercase());
        i += 1;
    }
    if let Some(colon) = name.iter().position(|&b| b == b':') {
        name.truncate(colon);
    }
    while let Some(&last) = name.last() {
        if last == b'.' || last == b' ' {
            name.pop();
        } else {
            break;
        }
    }
    name
}

/// True if a symlink target (as stored: the link's bytes) has a component naming
/// `.git` on some file system (`.git`, `../.GIT/hooks`, `/abs/.git/config`,
/// `git~1`): a checkout of such a link lets later writes through it reach a
/// repository's own files. Split on `/` and `\`.
pub fn target_names_dot_git(target: &[u8]) -> bool {
    target.split(|&b| is_separator(b)).any(|c| {
        let name = fs_folded_name(c);
        matches!(
            name.as_slice(),
            b".git" | [b'g', b'i', b't', b'~', b'1'..=b'9']
        )
    })
}

/// True if `component` names `.git` or `.tl` on some file system: see the module docs.
fn is_reserved_component(component: &[u8]) -> bool {
    let name = fs_folded_name(component);
    match name.as_slice() {
        b".git" | b".tl" => true,
        // NTFS 8.3 short names: `.git` is usually `GIT~1`, but a name created after
        // others with the same stem gets `~2`, `~3`..., so refuse any single digit.
        [b'g', b'i', b't', b'~', b'1'..=b'9'] | [b't', b'l', b'~', b'1'..=b'9'] => true,
        _ => false,
    }
}

/// Rule 3: checks that no path appears twice and that no path is also the parent
/// directory of another (`a` and `a/b`), which restore could only satisfy by replacing
/// one with the other. Works in any order; memory is one hash set of the borrowed
/// paths, time is linear in their total length.
pub fn check_no_duplicates_or_prefix_conflicts<'a>(
    paths: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), PathError> {
    let mut seen: HashSet<&'a [u8]> = HashSet::new();
    let mut all = Vec::new();
    for path in paths {
        if !seen.insert(path) {
            return Err(error(path, PathRule::Duplicate));
        }
        all.push(path);
    }
    for child in all {
        for (i, &b) in child.iter().enumerate() {
            if b == b'/' && seen.contains(&child[..i]) {
                let child_lossy = String::from_utf8_lossy(child).into_owned();
                return Err(error(
                    &child[..i],
                    PathRule::EntryIsAlsoParent { child: child_lossy },
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
