//! Capture of some paths only: what live capture does with a batch of events.
//!
//! A full [`scan`](super::scan) walks the whole tree. When a watcher says which
//! paths changed, only those need looking at: [`scan_paths`] takes *scopes* —
//! paths that may now be files, symlinks, directories or gone — and returns every
//! entry found at or under each scope, read exactly as the full scan reads (stat
//! cache, double stat, parts, deduplication, warnings). The caller replaces what
//! its tree holds at or under each scope with what was found there.
//!
//! # Ignore rules
//!
//! The full scan's walker (the `ignore` crate) decides what to skip as it descends;
//! a targeted scan starts deep in the tree, so [`IgnoreRules`] evaluates the same
//! rules for one path: every component from the top down must pass (a directory
//! that is ignored is never entered), and for each component the ignore files of
//! the directories above it are consulted deepest first, with the walker's
//! precedence: `.tlignore` (any depth) over `.gitignore` (any depth) over
//! `.git/info/exclude`. The matchers are loaded lazily and kept; the caller calls
//! [`IgnoreRules::forget`] when an ignore file changes (live capture then scans
//! the whole tree anyway). `tests::targeted_scan_equals_full_scan` checks the two on
//! random trees with random ignore files.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use super::walk::Found;
use super::{
    now_ns, process_found, NewRecord, ScanError, ScanOptions, ScanStats, ScanWarning, WarningKind,
    IGNORE_FILE_NAME, NEVER_CAPTURED,
};
use crate::repopath::RepoPath;
use crate::scan::Stored;
use crate::statcache::{CachedStat, StatCache};
use crate::types::Tree;

/// The ignore files of one directory.
struct DirRules {
    custom: Gitignore,
    git: Gitignore,
    exclude: Gitignore,
}

/// The capture's ignore rules, evaluated path by path (see the module docs).
pub struct IgnoreRules {
    root: PathBuf,
    dirs: HashMap<Vec<u8>, DirRules>,
}

impl IgnoreRules {
    /// Rules of the project at `root`, read lazily.
    pub fn new(root: &Path) -> IgnoreRules {
        IgnoreRules {
            root: root.to_path_buf(),
            dirs: HashMap::new(),
        }
    }

    /// Drops every loaded ignore file (call when one changed).
    pub fn forget(&mut self) {
        self.dirs.clear();
    }

    /// Drops the ignore files loaded for `scope` and the directories under it
    /// (they may have been replaced).
    pub fn forget_under(&mut self, scope: &[u8]) {
        self.dirs
            .retain(|d, _| !crate::pathsafe::is_under(d, scope));
    }

    /// True when a change at `rel` can change the ignore rules: an ignore file, or
    /// anything inside a `.git` directory (`info/exclude`).
    pub fn is_rule_path(rel: &[u8]) -> bool {
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        name == b".gitignore"
            || name == IGNORE_FILE_NAME.as_bytes()
            || rel.split(|&b| b == b'/').any(|c| c == b".git")
    }

    fn abs(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(OsStr::from_bytes(rel))
        }
    }

    fn load(&self, dir: &[u8]) -> DirRules {
        let abs = self.abs(dir);
        let build = |files: &[PathBuf]| -> Gitignore {
            let mut b = GitignoreBuilder::new(&abs);
            for f in files {
                if f.exists() {
                    // A malformed line is skipped here as the walker skips it (the
                    // full scan reports it as a warning).
                    let _ = b.add(f);
                }
            }
            b.build()
                .unwrap_or_else(|_| GitignoreBuilder::new(&abs).build().expect("empty"))
        };
        DirRules {
            custom: build(&[abs.join(IGNORE_FILE_NAME)]),
            git: build(&[abs.join(".gitignore")]),
            exclude: match git_common_dir(&abs) {
                Some(git) => build(&[git.join("info").join("exclude")]),
                None => Gitignore::empty(),
            },
        }
    }

    /// True when the full scan would leave `rel` out: a component named `.tl` or
    /// `.git`, or an ignore rule matching `rel` or one of its parent directories.
    pub fn ignored(&mut self, rel: &[u8], is_dir: bool) -> bool {
        if rel.is_empty() {
            return false;
        }
        let mut end = 0;
        loop {
            let next = rel[end..].iter().position(|&b| b == b'/').map(|i| end + i);
            let (prefix, last) = match next {
                Some(i) => (&rel[..i], false),
                None => (rel, true),
            };
            let name = &prefix[prefix.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)..];
            if NEVER_CAPTURED.iter().any(|n| name == n.as_bytes()) {
                return true;
            }
            // A restore's temporary (one a killed restore left).
            if last && !is_dir && crate::restore::is_temporary(name) {
                return true;
            }
            if self.matched(prefix, !last || is_dir) {
                return true;
            }
            match next {
                Some(i) => end = i + 1,
                None => return false,
            }
        }
    }

    /// The walker's verdict on `path` alone (its parents are checked by the caller).
    /// True when an ignore file's rule keeps `path` (a file): a `!` rule is its
    /// last word. The full walk asks this of the files a default rule would
    /// leave out (`defaults`: editor temporaries, likely secrets).
    pub fn explicitly_kept(&mut self, path: &[u8]) -> bool {
        self.verdict(path, false) == Some(false)
    }

    fn matched(&mut self, path: &[u8], is_dir: bool) -> bool {
        let name = &path[path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)..];
        self.verdict(path, is_dir)
            .unwrap_or_else(|| !is_dir && super::defaults::default_rule(name).is_some())
    }

    /// What the ignore files say of `path` alone: Some(true) ignored, Some(false)
    /// kept by a `!` rule, None when no rule matches.
    fn verdict(&mut self, path: &[u8], is_dir: bool) -> Option<bool> {
        let abs = self.abs(path);
        let (mut custom, mut git, mut exclude) = (None, None, None);
        let mut dir: &[u8] = path;
        loop {
            dir = match dir.iter().rposition(|&b| b == b'/') {
                Some(i) => &dir[..i],
                None if dir.is_empty() => break,
                None => b"",
            };
            if !self.dirs.contains_key(dir) {
                let rules = self.load(dir);
                self.dirs.insert(dir.to_vec(), rules);
            }
            let rules = &self.dirs[dir];
            let verdict = |m: Match<_>| match m {
                Match::None => None,
                Match::Ignore(_) => Some(true),
                Match::Whitelist(_) => Some(false),
            };
            custom = custom.or_else(|| verdict(rules.custom.matched(&abs, is_dir)));
            git = git.or_else(|| verdict(rules.git.matched(&abs, is_dir)));
            exclude = exclude.or_else(|| verdict(rules.exclude.matched(&abs, is_dir)));
            if custom.is_some() || dir.is_empty() {
                break;
            }
        }
        custom.or(git).or(exclude)
    }
}

/// The directory holding `info/exclude` for a directory with a `.git`: `.git`
/// itself, or for a linked worktree (`.git` is a file) its common directory.
fn git_common_dir(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = std::fs::metadata(&dot_git).ok()?;
    if !meta.is_file() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let real = PathBuf::from(text.lines().next()?.strip_prefix("gitdir: ")?);
    let common = std::fs::read_to_string(real.join("commondir")).ok()?;
    let common = common.lines().next()?;
    Some(if common.starts_with('.') {
        real.join(common)
    } else {
        PathBuf::from(common)
    })
}

/// What [`scan_paths`] found.
#[derive(Clone, Debug)]
pub struct PartialScan {
    /// The scopes looked at, sorted, none under another.
    pub scopes: Vec<Vec<u8>>,
    /// Every entry found at or under a scope.
    pub tree: Tree,
    /// Stat cache entries of the files read or confirmed, to merge into the cache.
    pub cache: Vec<(Vec<u8>, CachedStat)>,
    /// When this scan started (for the merged cache's racily-clean rule).
    pub taken_ns: i64,
    /// Non-fatal problems, sorted by path.
    pub warnings: Vec<ScanWarning>,
    /// Counters.
    pub stats: ScanStats,
}

impl PartialScan {
    /// True when `path` is at or under one of the scopes.
    pub fn covers(&self, path: &[u8]) -> bool {
        in_sorted(&self.scopes, path)
    }
}

/// True when `path` or one of its parent directories is in `sorted` (the empty
/// path, the root, contains everything).
fn in_sorted(sorted: &[Vec<u8>], path: &[u8]) -> bool {
    let has = |p: &[u8]| sorted.binary_search_by(|s| s.as_slice().cmp(p)).is_ok();
    if has(b"") || has(path) {
        return true;
    }
    path.iter()
        .enumerate()
        .any(|(i, &b)| b == b'/' && has(&path[..i]))
}

/// True when `rel` is a plain relative path: no leading or doubled `/`, no `.`
/// or `..` component (a scope must not lead out of the root).
fn plain(rel: &[u8]) -> bool {
    rel.is_empty()
        || rel
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// Sorts `scopes` and drops those inside another, and any that is not a plain
/// relative path (a watcher never reports one; nothing outside the root is read).
fn normalize(mut scopes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    scopes.retain(|s| plain(s));
    scopes.sort();
    scopes.dedup();
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(scopes.len());
    for s in scopes {
        // Sorted: a scope's ancestors come before it (but not necessarily just
        // before: "a" < "a.b" < "a/c"), and `out` stays sorted.
        if !in_sorted(&out, &s) {
            out.push(s);
        }
    }
    out
}

/// Scans the given scopes of `root` (paths relative to it) and returns what each
/// holds now; new content goes to `sink`. See the module docs.
pub fn scan_paths<E: Send>(
    root: &Path,
    scopes: Vec<Vec<u8>>,
    rules: &mut IgnoreRules,
    previous: &StatCache,
    options: &ScanOptions,
    stored: &dyn Stored,
    sink: &(dyn Fn(NewRecord) -> Result<(), E> + Sync),
) -> Result<PartialScan, ScanError<E>> {
    plan_paths(root, scopes, rules)?.read(previous, options, stored, sink)
}

/// The scopes of a targeted scan listed, not read yet: the first step of
/// [`scan_paths`], so that the caller can look at [`PlannedPaths::estimate`]
/// before any content is read (as [`super::Planned`] for a whole tree).
pub struct PlannedPaths {
    root_fd: std::os::fd::OwnedFd,
    taken_ns: i64,
    scopes: Vec<Vec<u8>>,
    found: Vec<Found>,
    warnings: Vec<ScanWarning>,
}

/// Lists what the scopes of `root` hold now (names and ignore rules only).
pub fn plan_paths<E>(
    root: &Path,
    scopes: Vec<Vec<u8>>,
    rules: &mut IgnoreRules,
) -> Result<PlannedPaths, ScanError<E>> {
    let taken_ns = now_ns();
    std::fs::symlink_metadata(root).map_err(|source| ScanError::RootUnreadable {
        path: root.to_path_buf(),
        source,
    })?;
    let scopes = normalize(scopes);
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    let mut dir_ok: HashMap<Vec<u8>, bool> = HashMap::new();
    for scope in &scopes {
        rules.forget_under(scope);
        collect(root, scope, rules, &mut dir_ok, &mut found, &mut warnings);
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    found.dedup_by(|a, b| a.rel == b.rel);
    Ok(PlannedPaths {
        root_fd: super::open_root(root)?,
        taken_ns,
        scopes,
        found,
        warnings,
    })
}

impl PlannedPaths {
    /// What reading would add to `head`, from stat sizes (see
    /// [`super::BatchEstimate`]).
    pub fn estimate(&self, head: &Tree, options: &ScanOptions) -> super::BatchEstimate {
        super::estimate::estimate(&self.found, head, options, None)
    }

    /// Reads what the scopes hold; new content goes to `sink`.
    pub fn read<E: Send>(
        self,
        previous: &StatCache,
        options: &ScanOptions,
        stored: &dyn Stored,
        sink: &(dyn Fn(NewRecord) -> Result<(), E> + Sync),
    ) -> Result<PartialScan, ScanError<E>> {
        let PlannedPaths {
            root_fd,
            taken_ns,
            scopes,
            found,
            mut warnings,
        } = self;
        let pool = if found.len() >= super::read::PARALLEL_MIN {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(options.threads)
                    .build()?,
            )
        } else {
            None
        };
        let processed = process_found(
            root_fd.as_fd(),
            &found,
            pool.as_ref(),
            previous,
            options,
            stored,
            sink,
        )?;
        warnings.extend(processed.warnings);
        warnings.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(PartialScan {
            scopes,
            tree: processed.tree,
            cache: processed.cache,
            taken_ns,
            warnings,
            stats: processed.stats,
        })
    }
}

/// True when every parent directory of `rel` is a real directory (not a symlink,
/// not gone): otherwise nothing at `rel` belongs to the tree. Only a shortcut for
/// what to list: reading goes through directory handles (`process_found`), so a
/// parent swapped for a symlink after this check leads nowhere outside the root.
fn parents_are_dirs(root: &Path, rel: &[u8], dir_ok: &mut HashMap<Vec<u8>, bool>) -> bool {
    let mut end = 0;
    while let Some(i) = rel[end..].iter().position(|&b| b == b'/') {
        let parent = &rel[..end + i];
        let ok = match dir_ok.get(parent) {
            Some(ok) => *ok,
            None => {
                let ok = std::fs::symlink_metadata(root.join(OsStr::from_bytes(parent)))
                    .map(|m| m.file_type().is_dir())
                    .unwrap_or(false);
                dir_ok.insert(parent.to_vec(), ok);
                ok
            }
        };
        if !ok {
            return false;
        }
        end += i + 1;
    }
    true
}

/// Adds what `scope` holds now to `found` (nothing when it is gone or ignored).
fn collect(
    root: &Path,
    scope: &[u8],
    rules: &mut IgnoreRules,
    dir_ok: &mut HashMap<Vec<u8>, bool>,
    found: &mut Vec<Found>,
    warnings: &mut Vec<ScanWarning>,
) {
    if !scope.is_empty() && !parents_are_dirs(root, scope, dir_ok) {
        return;
    }
    let abs = if scope.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(scope))
    };
    let meta = match std::fs::symlink_metadata(&abs) {
        Ok(m) => m,
        Err(e) if gone(&e) => return,
        Err(e) => {
            warnings.push(unreadable(scope, &abs, &e));
            return;
        }
    };
    let t = meta.file_type();
    if rules.ignored(scope, t.is_dir()) {
        return;
    }
    if t.is_dir() {
        walk_dir(root, scope, rules, found, warnings);
    } else if t.is_file() || t.is_symlink() {
        found.push(Found {
            abs,
            rel: scope.to_vec(),
        });
    } else {
        warnings.push(special(scope));
    }
}

/// Walks the directory `dir` (not ignored itself) depth first.
fn walk_dir(
    root: &Path,
    dir: &[u8],
    rules: &mut IgnoreRules,
    found: &mut Vec<Found>,
    warnings: &mut Vec<ScanWarning>,
) {
    let mut stack = vec![dir.to_vec()];
    while let Some(dir) = stack.pop() {
        let abs_dir = if dir.is_empty() {
            root.to_path_buf()
        } else {
            root.join(OsStr::from_bytes(&dir))
        };
        let entries = match std::fs::read_dir(&abs_dir) {
            Ok(rd) => rd,
            Err(e) if gone(&e) => continue,
            Err(e) => {
                warnings.push(unreadable(&dir, &abs_dir, &e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    warnings.push(unreadable(&dir, &abs_dir, &e));
                    continue;
                }
            };
            let rel = join(&dir, entry.file_name().as_bytes());
            let t = match entry.file_type() {
                Ok(t) => t,
                Err(e) if gone(&e) => continue,
                Err(e) => {
                    warnings.push(unreadable(&rel, &entry.path(), &e));
                    continue;
                }
            };
            if rules.ignored(&rel, t.is_dir()) {
                continue;
            }
            if t.is_dir() {
                stack.push(rel);
            } else if t.is_file() || t.is_symlink() {
                found.push(Found {
                    abs: entry.path(),
                    rel,
                });
            } else {
                warnings.push(special(&rel));
            }
        }
    }
}

/// `dir/name` (`name` alone at the root).
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        v.extend_from_slice(dir);
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn unreadable(rel: &[u8], abs: &Path, e: &io::Error) -> ScanWarning {
    ScanWarning {
        path: RepoPath::from(rel),
        kind: WarningKind::Unreadable,
        message: format!("skipped: cannot read {}: {e}", abs.display()),
    }
}

fn special(rel: &[u8]) -> ScanWarning {
    ScanWarning {
        path: RepoPath::from(rel),
        kind: WarningKind::Special,
        message: "skipped: not a regular file, directory or symlink (FIFO, socket or device)"
            .to_string(),
    }
}
