//! [`RepoPath`]: a path as the store names it, where paths cross from this crate
//! to its callers (the CLI, the daemon) and back.
//!
//! A stored path is bytes: relative to the project root, `/`-separated, no
//! leading or trailing `/`, never decoded (a Linux file name need not be UTF-8).
//! The empty path is the root itself (`tl restore .`). The type says "this is a
//! stored path" in signatures where a bare `Vec<u8>` could be any bytes, gives
//! one lossy [`Display`](fmt::Display) for messages, and one place that turns a
//! command-line argument into a stored path ([`RepoPath::from_argument`]).
//!
//! It is a name, not a proof of safety: paths read from the log are untrusted
//! and restore and export still check each one against [`crate::pathsafe`]. It
//! orders, compares and hashes exactly as its bytes do, so sorted lists of
//! `RepoPath` are sorted as the tree is.
//!
//! Used at the boundaries: restore's and replay's options and reports, scan
//! warnings, the catalog's [`crate::catalog::PathChange`] and
//! [`crate::scan::Change`]. Not here, on purpose: the keys of [`crate::Tree`]
//! (a hot map whose keys come from validated records) and the paths inside the
//! library (records, scans, plans) stay `Vec<u8>`; see ARCHITECTURE.md.

use std::borrow::Borrow;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// A stored path: relative to the project root, `/`-separated bytes; empty for
/// the root. See the module documentation.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(Vec<u8>);

/// A path argument that does not lie inside the project (`../elsewhere`, an
/// absolute path to another directory).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} is outside the project {}", .arg.display(), .root.display())]
pub struct OutsideRoot {
    /// The argument as given.
    pub arg: PathBuf,
    /// The project root.
    pub root: PathBuf,
}

impl RepoPath {
    /// The root of the tree (the empty path): every path is under it.
    pub fn root() -> RepoPath {
        RepoPath(Vec::new())
    }

    /// Wraps bytes already in stored form (from the tree, the log, a scan).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> RepoPath {
        RepoPath(bytes.into())
    }

    /// The path argument `arg`, given in `cwd`, as the store of the project at
    /// `root` names it: `cwd.join(arg)` with `.` and `..` resolved lexically
    /// (symlinks are not followed), made relative to `root`. `root` itself is the
    /// empty path.
    pub fn from_argument(root: &Path, cwd: &Path, arg: &Path) -> Result<RepoPath, OutsideRoot> {
        let abs = normalize(&cwd.join(arg));
        match abs.strip_prefix(root) {
            Ok(rel) => Ok(RepoPath(rel.as_os_str().as_bytes().to_vec())),
            Err(_) => Err(OutsideRoot {
                arg: arg.to_path_buf(),
                root: root.to_path_buf(),
            }),
        }
    }

    /// The bytes, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, as stored.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// True for the root (the empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `self` is `prefix` or lies inside it ([`crate::pathsafe::is_under`]).
    pub fn is_under(&self, prefix: &[u8]) -> bool {
        crate::pathsafe::is_under(&self.0, prefix)
    }
}

/// Lexical normalization: `.` dropped, `..` pops (never above the root).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Decoded lossily (invalid UTF-8 shows as U+FFFD): for messages only, never for
/// opening files. The root shows as `.`.
impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&String::from_utf8_lossy(&self.0))
        }
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoPath({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl From<Vec<u8>> for RepoPath {
    fn from(bytes: Vec<u8>) -> RepoPath {
        RepoPath(bytes)
    }
}

impl From<&[u8]> for RepoPath {
    fn from(bytes: &[u8]) -> RepoPath {
        RepoPath(bytes.to_vec())
    }
}

impl From<RepoPath> for Vec<u8> {
    fn from(p: RepoPath) -> Vec<u8> {
        p.0
    }
}

impl AsRef<[u8]> for RepoPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Sound because `Eq`, `Ord` and `Hash` are the bytes' own: a `RepoPath` can be
/// looked up by `&[u8]` in sets and maps.
impl Borrow<[u8]> for RepoPath {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// A stored path equals the bytes it wraps (so a report can be compared with the
/// paths a test wrote).
impl PartialEq<[u8]> for RepoPath {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl PartialEq<&[u8]> for RepoPath {
    fn eq(&self, other: &&[u8]) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Vec<u8>> for RepoPath {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.0 == other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for RepoPath {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for RepoPath {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_inside_the_root_becomes_its_stored_path() {
        let root = Path::new("/p");
        let p = RepoPath::from_argument(root, Path::new("/p/src"), Path::new("../docs/./a.md"));
        assert_eq!(p.unwrap().as_bytes(), b"docs/a.md");
    }

    #[test]
    fn the_root_as_an_argument_is_the_empty_path() {
        let root = Path::new("/p");
        let p = RepoPath::from_argument(root, Path::new("/p"), Path::new(".")).unwrap();
        assert!(p.is_root());
        assert_eq!(p.to_string(), ".");
    }

    #[test]
    fn argument_outside_the_root_is_refused_naming_both() {
        let root = Path::new("/p");
        let e = RepoPath::from_argument(root, Path::new("/p"), Path::new("../q")).unwrap_err();
        assert_eq!(e.to_string(), "../q is outside the project /p");
        // A sibling whose name starts like the root is outside too.
        let e = RepoPath::from_argument(root, Path::new("/"), Path::new("/pq/a"));
        assert!(e.is_err());
    }

    #[test]
    fn display_is_lossy_and_bytes_are_kept() {
        let p = RepoPath::from_bytes(b"a/\xffb".to_vec());
        assert_eq!(p.to_string(), "a/\u{fffd}b");
        assert_eq!(p.as_bytes(), b"a/\xffb");
    }

    #[test]
    fn order_is_the_bytes_order() {
        let mut v = [
            RepoPath::from_bytes(b"a/b".to_vec()),
            RepoPath::from_bytes(b"a-b".to_vec()),
            RepoPath::from_bytes(b"a".to_vec()),
        ];
        v.sort();
        let bytes: Vec<&[u8]> = v.iter().map(|p| p.as_bytes()).collect();
        assert_eq!(bytes, [&b"a"[..], b"a-b", b"a/b"]);
        assert!(v.binary_search_by(|p| p.as_bytes().cmp(b"a-b")).is_ok());
    }
}
