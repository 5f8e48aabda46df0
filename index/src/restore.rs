//! Materialization: make a directory hold a stored [`Tree`] (`tl replay`, `tl restore`).
//!
//! ```text
//! materialize(store, target, dir, opts)
//!   1. check   every target path (pathsafe rules 1-3), every target blob present,
//!              every symlink target well-formed          -> refuse before any write
//!   2. plan    compare the disk with the target, path by path, through directory
//!              handles (never following a symlink)       -> refuse before any write
//!   3. remove  tracked files the target does not have, and non-directories standing
//!              where the target needs a directory
//!   4. write   files (temp file + rename), then symlinks (temp + rename)
//!   5. tidy    remove the directories that removals left empty (nothing is
//!              fsynced: the log keeps every byte, so a replay can be redone)
//! ```
//!
//! # What is written
//!
//! A target entry is written when the disk differs from it: missing, another kind, or
//! (for a file) another BLAKE3 content hash or executable bit, or (for a symlink)
//! another target. Files get exactly `0o644` or `0o755` (no setuid, setgid or sticky
//! bit, no ownership change); directories are created `0o755` (less the umask).
//!
//! # What is removed: "restore never loses work"
//!
//! A path is a *removal candidate* only when it is **tracked**: in place (when `dir`
//! is the store's root) that means in [`Store::head`], the last capture; into another
//! directory (`tl replay --into DIR`) nothing is tracked, so **nothing that is not in
//! the target is ever removed there** (a DIR that held an older replay keeps the files
//! the target does not have; give an empty or new DIR for an exact copy). Untracked and
//! ignored files (build outputs...) are never candidates, in place or not.
//!
//! Removing or overwriting anything additionally requires that its current content be
//! **recoverable**: stored, complete, in the log ([`crate::catalog::Catalog::has_blob`]).
//! A tracked file edited since the last capture, or an untracked file standing where
//! the target has a file, makes the whole restore refuse with
//! [`RestoreError::UnsavedWork`] before anything is written. Callers capture first
//! (`Store::checkpoint(CommitKind::Restore, ..)`), as `DESIGN.md` requires, so in
//! place every tracked file is recoverable and the restore can itself be undone.
//!
//! Where the target needs a directory and the disk has a file or a symlink (a
//! symlink to a directory included: it is never entered), that file or symlink is
//! removed only if it is a removal candidate (tracked, recoverable, not in the
//! target); otherwise the restore refuses with [`RestoreError::Conflict`]. Where the
//! target has a file and the disk a directory, the directory is removed only if
//! everything below it is a removal candidate. FIFOs, sockets and devices are never
//! touched: one in the way of the target is a conflict.
//!
//! Directories are removed only when they became empty because of this restore's
//! removals; empty directories that were already there stay.
//!
//! # What changed after the plan is kept
//!
//! A replay captures the present, plans, then writes for a while: a file the user
//! edits meanwhile is not in the log. Just before each rename over a path (or unlink
//! of it), `guard` checks that the path is still what the plan saw (stat, and the
//! content when the stat is too recent to trust); if not, it is left as it is and
//! listed in [`MaterializeReport::kept`] ("changed since the replay began; run the
//! replay again"). Nothing is overwritten unsaved.
//!
//! # Names tl never writes
//!
//! An entry (of the target or the tracked tree) whose path breaks only the rule on
//! `.git`/`.tl` names (pathsafe rule 2: `.GIT/hooks/post-checkout` is legal on
//! Linux, and capture keeps it) is skipped: neither written nor removed, and listed
//! in [`MaterializeReport::skipped`]; the rest of the tree is restored. Any other
//! broken path rule refuses the whole restore: no decoded record can hold one.
//!
//! # How the disk is touched (`RELIABILITY.md`, "Path safety", rule 4)
//!
//! Every access goes through directory handles opened one component at a time with
//! `O_DIRECTORY|O_NOFOLLOW` below a handle on `dir`: `openat`, `mkdirat`,
//! `renameat`, `symlinkat`, `unlinkat`, `fstatat(AT_SYMLINK_NOFOLLOW)`. A symlink, file
//! or anything else where a directory is expected stops the walk; nothing is ever
//! created through a symlink, so nothing can be written outside `dir`. New content goes
//! to a temp file `.tl-tmp-PID-N` created `O_CREAT|O_EXCL|O_NOFOLLOW` in the target's
//! directory (`temps`: a later restore writing into that directory removes those a
//! killed restore left behind); [`Store::read_blob`] verifies the BLAKE3 hash while streaming, and the
//! temp file is renamed into place only after a successful verification.
//!
//! # Failure
//!
//! Errors found while checking or planning leave the disk untouched. An I/O error
//! while executing stops the restore part-way: every file is then either its old or
//! its new version (never a mix), and running the restore again finishes the job.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags};
use rustix::io::Errno;

use crate::dirfd::{open_dir, Reach, Walker};
use crate::pathsafe::{self, is_under, PathError, PathRule};
use crate::statcache::CachedStat;
use crate::store::{Store, StoreError};
use crate::types::{BlobHash, Entry, Mode, Tree};

mod guard;
mod temps;

use guard::Seen;

/// What to materialize and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaterializeOptions {
    /// Plan only: inspect the disk, check everything, report the plan, write nothing.
    pub dry_run: bool,
    /// Restrict the restore to these paths and everything below them (`tl restore
    /// PATH...`): `/`-separated, relative to `dir`, a trailing `/` allowed. Each must
    /// name a path or a directory of the target or of the tracked tree.
    pub only: Option<Vec<Vec<u8>>>,
    /// Paths (and everything below them) left exactly as they are on disk, neither
    /// removed nor overwritten, whatever the target says: what the capture taken
    /// just before could not read (see [`crate::scan::keep_skipped`]). A replay
    /// never deletes a file because it could not be captured.
    pub leave: Vec<Vec<u8>>,
}

/// What a materialization did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaterializeReport {
    /// Paths written (created or replaced), sorted.
    pub written: Vec<Vec<u8>>,
    /// Paths removed (tracked, not in the target), sorted.
    pub removed: Vec<Vec<u8>>,
    /// Target entries already right on disk.
    pub unchanged: u64,
    /// Content bytes written (file sizes plus symlink target lengths).
    pub bytes_written: u64,
    /// Entries neither written nor removed because of their name (a component naming
    /// `.git` or `.tl` in some spelling, such as a captured `.GIT/hooks/post-checkout`:
    /// legal on Linux, but never written by tl), sorted by path.
    pub skipped: Vec<SkippedPath>,
    /// Paths left as they are because they changed on disk after the plan was made
    /// (edited while the restore ran): overwriting or removing them would lose that
    /// change. Sorted; running the restore again finishes the job.
    pub kept: Vec<Vec<u8>>,
}

/// An entry a materialization does not touch, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPath {
    /// The path.
    pub path: Vec<u8>,
    /// The rule its name breaks.
    pub rule: PathRule,
}

impl std::fmt::Display for SkippedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: not restored, and left as it is on disk: {}; tl never writes such a name",
            lossy(&self.path),
            self.rule
        )
    }
}

/// Hooks into a materialization: progress, and a look at the plan before anything
/// is written.
pub trait Observer {
    /// The plan is made (and checked); nothing is written yet.
    fn planned(&self, _plan: &MaterializeReport) {}
    /// `done` of `total` files and symlinks written.
    fn progress(&self, _done: u64, _total: u64) {}
}

struct ProgressFn<'a>(&'a dyn Fn(u64, u64));

impl Observer for ProgressFn<'_> {
    fn progress(&self, done: u64, total: u64) {
        (self.0)(done, total)
    }
}

/// Why a materialization refused or stopped. Each message names the path and the
/// next step.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A target (or tracked) path breaks a path-safety rule; nothing was written.
    #[error(
        "refusing to restore: {0}; nothing was written (the log may be damaged or forged: run `tl fsck`)"
    )]
    UnsafePath(#[from] PathError),
    /// A target entry's content is not (completely) in the log; nothing was written.
    #[error(
        "{path}: its content {hash} is missing from the log; nothing was written; run `tl fsck`"
    )]
    MissingContent {
        /// The path, decoded lossily.
        path: String,
        /// The content hash, hex.
        hash: String,
    },
    /// A symlink entry whose target cannot be created; nothing was written.
    #[error(
        "{path}: the stored symlink target is unusable ({why}); nothing was written; run `tl fsck`"
    )]
    BadSymlink {
        /// The path, decoded lossily.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The restore would overwrite or remove content that is not saved in the log.
    #[error(
        "{path}: its current content is not saved in the log and restoring would {action} it; \
         nothing was written; run `tl checkpoint` first, or move it away"
    )]
    UnsavedWork {
        /// The path, decoded lossily.
        path: String,
        /// "overwrite" or "remove".
        action: &'static str,
    },
    /// Something untracked (or not a file, directory or symlink) is in the way.
    #[error("{path}: {why}; nothing was written; move it away and retry")]
    Conflict {
        /// The path in the way, decoded lossily.
        path: String,
        /// What the conflict is.
        why: String,
    },
    /// An `only` path matches nothing in the target nor in the tracked tree.
    #[error(
        "{path}: not in the tree being restored nor tracked now; check the path with `tl show`"
    )]
    NoSuchPath {
        /// The path, decoded lossily.
        path: String,
    },
    /// An I/O error on the disk being restored.
    #[error(
        "{path}: {op} failed: {source}; the restore may have stopped part-way (every file is \
         either its old or its new version): fix the cause and run it again"
    )]
    Io {
        /// The path concerned (relative to the restore root), decoded lossily.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Reading content from the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn io_err<'a>(path: &'a [u8], op: &'static str) -> impl FnOnce(io::Error) -> RestoreError + 'a {
    move |source| RestoreError::Io {
        path: if path.is_empty() {
            ".".to_string()
        } else {
            lossy(path)
        },
        op,
        source,
    }
}

fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').collect()
}

/// What is on disk at a path.
enum Disk {
    Missing,
    /// Component `i` of the path's directories is not a directory.
    Blocked(usize),
    File {
        mode: Mode,
        /// The stat, to look the file up in the stat cache (hash left zero).
        stat: CachedStat,
    },
    Symlink {
        stat: CachedStat,
    },
    Dir,
    Other,
}

fn stat_at(w: &mut Walker<'_>, comps: &[&[u8]]) -> io::Result<Disk> {
    let (name, dirs) = comps.split_last().expect("a path has a component");
    match w.reach(dirs, false)? {
        Reach::Missing => return Ok(Disk::Missing),
        Reach::NotDir(i) => return Ok(Disk::Blocked(i)),
        Reach::Dir => {}
    }
    let st = match rustix::fs::statat(w.fd(), os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Disk::Missing),
        Err(e) => return Err(e.into()),
    };
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Disk::File {
            mode: Mode::of_file(st.st_mode as u32),
            stat: guard::cached_stat(&st),
        },
        FileType::Symlink => Disk::Symlink {
            stat: guard::cached_stat(&st),
        },
        FileType::Directory => Disk::Dir,
        _ => Disk::Other,
    })
}

fn read_link(w: &Walker<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(w.fd(), os(name), Vec::new())?.into_bytes())
}

/// Appends every non-directory below the directory `fd` (named `prefix`) to `out`,
/// without following symlinks.
fn list_tree(fd: BorrowedFd<'_>, prefix: &[u8], out: &mut Vec<Vec<u8>>) -> io::Result<()> {
    let names: Vec<Vec<u8>> = rustix::fs::Dir::read_from(fd)?
        .map(|e| e.map(|e| e.file_name().to_bytes().to_vec()))
        .collect::<Result<_, _>>()?;
    for name in names {
        if name == b"." || name == b".." {
            continue;
        }
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        let st = rustix::fs::statat(fd, os(&name), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = open_dir(fd, &name)?;
            list_tree(sub.as_fd(), &full, out)?;
        } else {
            out.push(full);
        }
    }
    Ok(())
}

/// Removes directory `name` in `parent` and the directories below it; fails (with
/// `ENOTEMPTY`) if anything else is left in them.
fn remove_empty_tree(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let fd = open_dir(parent, name)?;
    let names: Vec<Vec<u8>> = rustix::fs::Dir::read_from(&fd)?
        .map(|e| e.map(|e| e.file_name().to_bytes().to_vec()))
        .collect::<Result<_, _>>()?;
    for sub in names {
        if sub != b"." && sub != b".." {
            remove_empty_tree(fd.as_fd(), &sub)?;
        }
    }
    rustix::fs::unlinkat(parent, os(name), AtFlags::REMOVEDIR)?;
    Ok(())
}

/// The work a materialization does, decided before anything is written.
#[derive(Default)]
struct Plan {
    /// Regular files to write, and what the disk had there.
    files: Vec<(Vec<u8>, Entry, Seen)>,
    /// Symlinks to create: path, target bytes (read and verified while planning),
    /// what the disk had there.
    links: Vec<(Vec<u8>, Vec<u8>, Seen)>,
    /// Non-directories to remove, and what they were.
    removes: Vec<(Vec<u8>, Seen)>,
    /// Entries not touched because of their name.
    skipped: Vec<SkippedPath>,
    /// When planning began (ns since the epoch), for [`guard`]'s racy rule.
    started_ns: i64,
    /// Directories (holding only removed things) standing where a file will be.
    clear_dirs: Vec<Vec<u8>>,
    unchanged: u64,
    bytes: u64,
}

impl Plan {
    fn report(&self) -> MaterializeReport {
        let mut written: Vec<Vec<u8>> = self
            .files
            .iter()
            .map(|(p, ..)| p.clone())
            .chain(self.links.iter().map(|(p, ..)| p.clone()))
            .collect();
        written.sort();
        let mut removed: Vec<Vec<u8>> = self.removes.iter().map(|(p, _)| p.clone()).collect();
        removed.sort();
        let mut skipped = self.skipped.clone();
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        MaterializeReport {
            written,
            removed,
            unchanged: self.unchanged,
            bytes_written: self.bytes,
            skipped,
            kept: Vec::new(),
        }
    }
}

/// Makes `dir` hold `target` (restricted to `opts.only`), writing only what differs;
/// see the module documentation for exactly what is written and removed.
///
/// `dir` is either the store's root (in place: tracked files the target does not have
/// are removed) or another directory, created if missing (nothing outside the target
/// is removed there). The report lists the plan; in a dry run nothing is written.
pub fn materialize(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
) -> Result<MaterializeReport, RestoreError> {
    materialize_with_progress(store, target, dir, opts, &|_, _| {})
}

/// [`materialize`], calling `progress(files_written, files_to_write)` as it writes.
pub fn materialize_with_progress(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<MaterializeReport, RestoreError> {
    materialize_observed(store, target, dir, opts, &ProgressFn(progress))
}

/// [`materialize`], telling `observer` the plan before writing and the progress
/// while writing.
pub fn materialize_observed(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
    observer: &dyn Observer,
) -> Result<MaterializeReport, RestoreError> {
    let in_place = match (
        std::fs::canonicalize(dir),
        std::fs::canonicalize(store.root()),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let root = match open_root(dir) {
        Ok(fd) => Some(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !in_place => None,
        Err(e) => return Err(io_err(b"", "opening the restore directory")(e)),
    };
    let empty = Tree::new();
    let tracked = if in_place { store.head() } else { &empty };
    // Check and plan against the disk as it is (a missing `dir` is empty).
    let plan = {
        let mut walker = Walker::new(root.as_ref().map(|fd| fd.as_fd()));
        make_plan(store, target, tracked, &mut walker, opts)?
    };
    let mut report = plan.report();
    if opts.dry_run {
        return Ok(report);
    }
    observer.planned(&report);
    let root = match root {
        Some(fd) => fd,
        None => {
            std::fs::create_dir_all(dir).map_err(io_err(b"", "creating the restore directory"))?;
            open_root(dir).map_err(io_err(b"", "opening the restore directory"))?
        }
    };
    let kept = execute(store, &plan, root.as_fd(), observer)?;
    if !kept.is_empty() {
        let is_kept = |p: &Vec<u8>| kept.binary_search(p).is_ok();
        report.written.retain(|p| !is_kept(p));
        report.removed.retain(|p| !is_kept(p));
        report.bytes_written -= plan
            .files
            .iter()
            .filter(|(p, ..)| is_kept(p))
            .map(|(_, e, _)| e.size)
            .chain(
                plan.links
                    .iter()
                    .filter(|(p, ..)| is_kept(p))
                    .map(|(_, b, _)| b.len() as u64),
            )
            .sum::<u64>();
        report.kept = kept;
    }
    Ok(report)
}

fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    // `dir` is the user's choice: it may itself be reached through a symlink.
    Ok(rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        FsMode::empty(),
    )?)
}

/// `Some(rule)` if `path` breaks only the rule on reserved names (restore skips it);
/// an error if it breaks another.
fn reserved(path: &[u8]) -> Result<Option<PathRule>, PathError> {
    match pathsafe::validate_path(path) {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.rule, PathRule::Reserved { .. }) => Ok(Some(e.rule)),
        Err(e) => Err(e),
    }
}

fn make_plan(
    store: &Store,
    target: &Tree,
    tracked: &Tree,
    w: &mut Walker<'_>,
    opts: &MaterializeOptions,
) -> Result<Plan, RestoreError> {
    let started_ns = guard::now_ns();
    // 1. Check the target: paths, content present, symlink targets. A name that
    // only the `.git`/`.tl` rule refuses (capture keeps `.GIT/...` on Linux) is
    // skipped, not refused: one such entry must not make every replay fail. Other
    // broken rules cannot come from a decoded record: the log is damaged or forged.
    let mut skipped: BTreeMap<&[u8], PathRule> = BTreeMap::new();
    for path in target.keys() {
        if let Some(rule) = reserved(path)? {
            skipped.insert(path.as_slice(), rule);
        }
    }
    pathsafe::check_no_duplicates_or_prefix_conflicts(target.keys().map(|k| k.as_slice()))?;
    let only: Option<Vec<&[u8]>> = match &opts.only {
        None => None,
        Some(list) => {
            let mut v = Vec::new();
            for o in list {
                let mut o = o.as_slice();
                while o.ends_with(b"/") {
                    o = &o[..o.len() - 1];
                }
                // The empty path is the root: the whole tree.
                if !o.is_empty() {
                    pathsafe::validate_path(o)?;
                }
                v.push(o);
            }
            Some(v)
        }
    };
    let selected = |p: &[u8]| match &only {
        None => true,
        Some(list) => list.iter().any(|o| is_under(p, o)),
    };
    if let Some(list) = &only {
        for o in list.iter().filter(|o| !o.is_empty()) {
            let hit = target.keys().chain(tracked.keys()).any(|p| is_under(p, o));
            if !hit {
                return Err(RestoreError::NoSuchPath { path: lossy(o) });
            }
        }
    }
    let mut candidates: BTreeSet<&[u8]> = BTreeSet::new();
    for (path, entry) in target
        .iter()
        .filter(|(p, _)| selected(p) && !skipped.contains_key(p.as_slice()))
    {
        if !store.catalog().has_blob(&entry.hash) {
            return Err(RestoreError::MissingContent {
                path: lossy(path),
                hash: entry.hash.to_hex(),
            });
        }
        candidates.insert(path);
    }
    for path in tracked.keys().filter(|p| selected(p)) {
        match reserved(path)? {
            Some(rule) => {
                skipped.entry(path.as_slice()).or_insert(rule);
            }
            None => {
                candidates.insert(path);
            }
        }
    }
    skipped.retain(|p, _| selected(p));
    let mut candidates: BTreeSet<&[u8]> = candidates
        .into_iter()
        .filter(|p| !skipped.contains_key(p))
        .collect();
    candidates.retain(|p| !opts.leave.iter().any(|l| is_under(p, l)));
    // In place, the caller has just captured the disk, so the tracked tree is what
    // is on disk: a path whose entry is the same in both trees needs no look. This
    // keeps a replay of a few changed files from stat'ing the whole tree. (A file
    // edited in the instant between that capture and this plan is left as it is.)
    // A dry run captures nothing first, so the disk may differ from the tracked tree
    // anywhere: it looks at every path.
    // Those paths count as unchanged, as a dry run finds them on disk.
    let mut already_right = 0u64;
    if !tracked.is_empty() && !opts.dry_run {
        candidates.retain(|p| match (target.get(*p), tracked.get(*p)) {
            (Some(a), Some(b)) if a.hash == b.hash && a.mode == b.mode => {
                already_right += 1;
                false
            }
            _ => true,
        });
    }
    let mut links: BTreeMap<&[u8], Vec<u8>> = BTreeMap::new();
    for (path, entry) in target.iter().filter(|(p, e)| {
        selected(p) && e.mode == Mode::Symlink && !skipped.contains_key(p.as_slice())
    }) {
        let bytes = store.blob_bytes(&entry.hash)?;
        let bad = |why: &str| RestoreError::BadSymlink {
            path: lossy(path),
            why: why.to_string(),
        };
        if bytes.is_empty() {
            return Err(bad("empty"));
        }
        if bytes.contains(&0) {
            return Err(bad("contains a NUL byte"));
        }
        if bytes.len() >= pathsafe::PATH_MAX_BYTES {
            return Err(bad("longer than the system allows"));
        }
        links.insert(path, bytes);
    }

    // 2. Compare with the disk.
    // A dry run reports the plan as the real run would make it: the real run
    // captures the present first (the caller's duty), so unsaved content counts as
    // recoverable here.
    let recoverable = |h: &BlobHash| opts.dry_run || store.catalog().has_blob(h);
    let stat_cache = crate::statcache::StatCache::load(&store.tl_dir().join("index/statcache"));
    let mut plan = Plan {
        unchanged: already_right,
        ..Plan::default()
    };
    // (non-directory in the way, path needing a directory there)
    let mut blockers: Vec<(Vec<u8>, &[u8])> = Vec::new();
    for &path in &candidates {
        let comps = components(path);
        let name = comps[comps.len() - 1];
        let disk = stat_at(w, &comps).map_err(io_err(path, "inspecting"))?;
        // What is on disk, for files and symlinks: content hash and kind.
        let current: Option<(BlobHash, Mode)> = match disk {
            Disk::File { mode, stat } => {
                // A file whose stat matches the stat cache (and is not racily
                // clean) has the cached hash: no need to read it, as in a capture.
                let h = match stat_cache.fresh_hash(path, &stat) {
                    Some(h) => h,
                    None => guard::hash_file(w.fd(), name).map_err(io_err(path, "reading"))?,
                };
                Some((h, mode))
            }
            Disk::Symlink { .. } => {
                let t = read_link(w, name).map_err(io_err(path, "reading the symlink"))?;
                Some((BlobHash::of(&t), Mode::Symlink))
            }
            _ => None,
        };
        // What execute checks again just before replacing or removing the path.
        let seen = match (&disk, current) {
            (Disk::File { stat, .. } | Disk::Symlink { stat }, Some((hash, _))) => {
                Seen::Entry { stat: *stat, hash }
            }
            _ => Seen::Nothing,
        };
        match target.get(path) {
            Some(entry) => {
                match disk {
                    Disk::Missing => {}
                    Disk::Blocked(i) => blockers.push((comps[..=i].join(&b'/'), path)),
                    Disk::File { .. } | Disk::Symlink { .. } => {
                        let (h, mode) = current.expect("hashed above");
                        if h == entry.hash && mode == entry.mode {
                            plan.unchanged += 1;
                            continue;
                        }
                        if !recoverable(&h) {
                            return Err(RestoreError::UnsavedWork {
                                path: lossy(path),
                                action: "overwrite",
                            });
                        }
                    }
                    Disk::Dir => plan.clear_dirs.push(path.to_vec()),
                    Disk::Other => {
                        return Err(RestoreError::Conflict {
                            path: lossy(path),
                            why: "a FIFO, socket or device is where the target has a file".into(),
                        })
                    }
                }
                plan.bytes += entry.size;
                match links.remove(path) {
                    Some(bytes) => plan.links.push((path.to_vec(), bytes, seen)),
                    None => plan.files.push((path.to_vec(), *entry, seen)),
                }
            }
            None => {
                // Tracked, not in the target: remove it if it is still there as a
                // file or symlink. A directory or a special file now at that path is
                // not what was tracked: it is left alone.
                if let Some((h, _)) = current {
                    if !recoverable(&h) {
                        return Err(RestoreError::UnsavedWork {
                            path: lossy(path),
                            action: "remove",
                        });
                    }
                    plan.removes.push((path.to_vec(), seen));
                }
            }
        }
    }
    let removed: HashSet<&[u8]> = plan.removes.iter().map(|(p, _)| p.as_slice()).collect();
    for (blocker, needed_by) in &blockers {
        if !removed.contains(blocker.as_slice()) {
            return Err(RestoreError::Conflict {
                path: lossy(blocker),
                why: format!(
                    "it is not a directory (a file or a symlink, never followed), {} needs a \
                     directory there, and it is not a tracked file the target drops",
                    lossy(needed_by)
                ),
            });
        }
    }
    for dir in &plan.clear_dirs {
        let comps = components(dir);
        let mut below = Vec::new();
        match w.reach(&comps, false).map_err(io_err(dir, "inspecting"))? {
            Reach::Dir => list_tree(w.fd(), dir, &mut below).map_err(io_err(dir, "listing"))?,
            _ => {
                return Err(io_err(dir, "inspecting")(io::Error::other(
                    "the directory changed while being inspected",
                )))
            }
        }
        if let Some(other) = below.iter().find(|p| !removed.contains(p.as_slice())) {
            return Err(RestoreError::Conflict {
                path: lossy(other),
                why: format!(
                    "the target has a file at {} where the disk has a directory, and this \
                     is in it without being a tracked file the target drops",
                    lossy(dir)
                ),
            });
        }
    }
    plan.started_ns = started_ns;
    plan.skipped = skipped
        .into_iter()
        .map(|(p, rule)| SkippedPath {
            path: p.to_vec(),
            rule,
        })
        .collect();
    Ok(plan)
}

/// Carries out `plan`; returns the paths kept because they changed since the plan
/// (sorted).
fn execute(
    store: &Store,
    plan: &Plan,
    root: BorrowedFd<'_>,
    observer: &dyn Observer,
) -> Result<Vec<Vec<u8>>, RestoreError> {
    let mut w = Walker::new(Some(root));
    let mut kept = Vec::new();
    // Removals first: they free the paths where the target needs directories.
    for (path, seen) in &plan.removes {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        if let Reach::Dir = w.reach(dirs, false).map_err(io_err(path, "removing"))? {
            let as_planned = guard::still_as_planned(w.fd(), name, seen, plan.started_ns)
                .map_err(io_err(path, "inspecting"))?;
            if !as_planned {
                kept.push(path.clone());
                continue;
            }
            match rustix::fs::unlinkat(w.fd(), os(name), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(io_err(path, "removing")(e.into())),
            }
        }
    }
    for dir in &plan.clear_dirs {
        w.clear();
        let comps = components(dir);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        let reached = w.reach(dirs, false).map_err(io_err(dir, "removing"))?;
        if let Reach::Dir = reached {
            remove_empty_tree(w.fd(), name).map_err(io_err(dir, "removing the directory"))?;
        }
        w.clear();
    }
    // Then files, then symlinks (never written through: they come last, and every
    // walk refuses to pass through one anyway).
    let total = (plan.files.len() + plan.links.len()) as u64;
    // Write in log order: content is then read sequentially through the store's
    // kept-open reader instead of refilling its window for every file.
    let first_lsn = |e: &Entry| {
        store
            .catalog()
            .blobs
            .get(&e.hash)
            .and_then(|(_, parts)| parts.first().map(|p| p.1))
    };
    let mut files: Vec<&(Vec<u8>, Entry, Seen)> = plan.files.iter().collect();
    files.sort_by_key(|(_, e, _)| first_lsn(e).unwrap_or(u64::MAX));
    let check = |w: &Walker<'_>, path: &[u8], name: &[u8], seen: &Seen| {
        guard::still_as_planned(w.fd(), name, seen, plan.started_ns)
            .map_err(io_err(path, "inspecting"))
    };
    // Directories written into, each cleared of stale temporaries once.
    let mut tidied: HashSet<Vec<u8>> = HashSet::new();
    let mut tidy = |w: &Walker<'_>, dirs: &[&[u8]]| {
        if tidied.insert(dirs.join(&b'/')) {
            // Best effort: a leftover temporary costs space, never correctness.
            let _ = temps::remove_stale(w.fd());
        }
    };
    for (i, (path, entry, seen)) in files.into_iter().enumerate() {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        reach_for_write(&mut w, path, dirs)?;
        tidy(&w, dirs);
        let replace = || check(&w, path, name, seen);
        if write_file(store, &w, path, name, entry, &replace)? == Written::Kept {
            kept.push(path.clone());
        }
        observer.progress(i as u64 + 1, total);
    }
    for (path, bytes, seen) in &plan.links {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        reach_for_write(&mut w, path, dirs)?;
        tidy(&w, dirs);
        let replace = || check(&w, path, name, seen);
        if write_link(&w, path, name, bytes, &replace)? == Written::Kept {
            kept.push(path.clone());
        }
    }
    // Directories that the removals left empty, deepest first.
    let mut parents: BTreeSet<(usize, Vec<u8>)> = BTreeSet::new();
    for (path, _) in &plan.removes {
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                let p = &path[..i];
                parents.insert((p.split(|&b| b == b'/').count(), p.to_vec()));
            }
        }
    }
    for (_, dir) in parents.iter().rev() {
        w.clear();
        let comps = components(dir);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        if let Reach::Dir = w.reach(dirs, false).map_err(io_err(dir, "tidying"))? {
            match rustix::fs::unlinkat(w.fd(), os(name), AtFlags::REMOVEDIR) {
                Ok(()) => {}
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT | Errno::NOTDIR) => {}
                Err(e) => return Err(io_err(dir, "removing the empty directory")(e.into())),
            };
        }
    }
    // No fsync here, like git checkout: the log holds every byte written, so after a
    // power cut a replay can simply be run again. (syncfs would flush the whole
    // filesystem, other programs' dirty data included: seconds on a busy disk.)
    kept.sort();
    Ok(kept)
}

/// Whether a file or symlink was put in place.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Yes,
    /// What was there changed since the plan: left as it is.
    Kept,
}

fn reach_for_write(w: &mut Walker<'_>, path: &[u8], dirs: &[&[u8]]) -> Result<(), RestoreError> {
    match w
        .reach(dirs, true)
        .map_err(io_err(path, "creating directories"))?
    {
        Reach::Dir => Ok(()),
        Reach::Missing => Err(io_err(path, "creating directories")(io::Error::other(
            "a directory vanished while being created",
        ))),
        Reach::NotDir(i) => Err(io_err(&dirs[..=i].join(&b'/'), "creating a directory")(
            io::Error::other("a file or symlink appeared where a directory is needed"),
        )),
    }
}

/// Creates a temp file next to `name`, `O_EXCL|O_NOFOLLOW`.
fn create_temp(dir: BorrowedFd<'_>) -> io::Result<(Vec<u8>, File)> {
    loop {
        let tmp = temps::name();
        match rustix::fs::openat(
            dir,
            os(&tmp),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            FsMode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((tmp, File::from(fd))),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `Ok(true)` if the path may be replaced now (see [`guard`]).
type MayReplace<'a> = dyn Fn() -> Result<bool, RestoreError> + 'a;

fn write_file(
    store: &Store,
    w: &Walker<'_>,
    path: &[u8],
    name: &[u8],
    entry: &Entry,
    may_replace: &MayReplace<'_>,
) -> Result<Written, RestoreError> {
    let dir = w.fd();
    let (tmp, file) = create_temp(dir).map_err(io_err(path, "creating a temp file"))?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 18, &file);
        store.read_blob(&entry.hash, &mut out)?;
        out.flush().map_err(io_err(path, "writing"))?;
        drop(out);
        // Exactly the recorded bits, whatever the umask: a private file comes
        // back private (never setuid/setgid/sticky: Mode has no such bits).
        rustix::fs::fchmod(
            &file,
            FsMode::from_raw_mode(entry.mode.permissions() as rustix::fs::RawMode),
        )
        .map_err(|e| io_err(path, "setting the mode")(e.into()))?;
        // The last look, right before the rename (the content was just streamed).
        if !may_replace()? {
            return Ok(Written::Kept);
        }
        rustix::fs::renameat(dir, os(&tmp), dir, os(name))
            .map_err(|e| io_err(path, "renaming into place")(e.into()))?;
        Ok(Written::Yes)
    })();
    if !matches!(result, Ok(Written::Yes)) {
        let _ = rustix::fs::unlinkat(dir, os(&tmp), AtFlags::empty());
    }
    result
}

fn write_link(
    w: &Walker<'_>,
    path: &[u8],
    name: &[u8],
    target: &[u8],
    may_replace: &MayReplace<'_>,
) -> Result<Written, RestoreError> {
    let dir = w.fd();
    if !may_replace()? {
        return Ok(Written::Kept);
    }
    let tmp = loop {
        let tmp = temps::name();
        match rustix::fs::symlinkat(os(target), dir, os(&tmp)) {
            Ok(()) => break tmp,
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(io_err(path, "creating the symlink")(e.into())),
        }
    };
    rustix::fs::renameat(dir, os(&tmp), dir, os(name)).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, os(&tmp), AtFlags::empty());
        io_err(path, "renaming the symlink into place")(e.into())
    })?;
    Ok(Written::Yes)
}
