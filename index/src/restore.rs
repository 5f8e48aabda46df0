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
//! directory (`temps`: no capture records one; the next open of the store for
//! writing removes those of a killed restore, `leftovers`, and a later restore
//! writing into that directory those of any dead process); [`Store::read_blob`] verifies the BLAKE3 hash while streaming, and the
//! temp file is renamed into place only after a successful verification.
//!
//! # Names the file system treats as one
//!
//! Before anything is written (dry runs included), the restore learns whether
//! the file system of `dir` ignores case or Unicode normalization (`folding`: a
//! probe temporary and its twin) and refuses, with
//! [`RestoreError::NameCollision`] naming both, a tree holding two paths that
//! would be one file there (`README` and `readme`, a composed and a decomposed
//! `é`): the second would overwrite the first.
//!
//! # Failure
//!
//! Errors found while checking or planning leave the disk untouched. An I/O error
//! while executing stops the restore part-way: every file is then either its old or
//! its new version (never a mix), and running the restore again finishes the job.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode as FsMode, OFlags};

use crate::dirfd::Walker;
use crate::pathsafe::{PathError, PathRule};
use crate::store::{Store, StoreError};
use crate::types::Tree;
use crate::RepoPath;

mod disk;
mod execute;
mod folding;
mod guard;
mod leftovers;
mod plan;
mod temps;

use execute::execute;
pub use folding::{Folding, NameRules};
pub use leftovers::clean_after_crash;
use plan::make_plan;
pub use temps::is_temporary;

/// What to materialize and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaterializeOptions {
    /// Plan only: inspect the disk, check everything, report the plan, write nothing.
    pub dry_run: bool,
    /// Restrict the restore to these paths and everything below them (`tl restore
    /// PATH...`): `/`-separated, relative to `dir`, a trailing `/` allowed. Each must
    /// name a path or a directory of the target or of the tracked tree.
    pub only: Option<Vec<RepoPath>>,
    /// Paths (and everything below them) left exactly as they are on disk, neither
    /// removed nor overwritten, whatever the target says: what the capture taken
    /// just before could not read (see [`crate::scan::keep_skipped`]). A replay
    /// never deletes a file because it could not be captured.
    pub leave: Vec<RepoPath>,
    /// How the file system of `dir` compares names: probed (a temporary created
    /// and removed at once, dry runs included) unless a test says
    /// ([`Folding::Assume`]). A tree holding two names it treats as one is
    /// refused ([`RestoreError::NameCollision`]).
    pub folding: Folding,
}

/// What a materialization did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaterializeReport {
    /// Paths written (created or replaced), sorted.
    pub written: Vec<RepoPath>,
    /// Paths removed (tracked, not in the target), sorted.
    pub removed: Vec<RepoPath>,
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
    pub kept: Vec<RepoPath>,
}

/// An entry a materialization does not touch, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPath {
    /// The path.
    pub path: RepoPath,
    /// The rule its name breaks.
    pub rule: PathRule,
}

impl std::fmt::Display for SkippedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: not restored, and left as it is on disk: {}; tl never writes such a name",
            self.path, self.rule
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

/// Why a materialization refused or stopped. Each message names the path (the
/// CLI adds the next step).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A target (or tracked) path breaks a path-safety rule; nothing was written.
    #[error("refusing to restore: {0}; nothing was written (the log may be damaged or forged)")]
    UnsafePath(#[from] PathError),
    /// A target entry's content is not (completely) in the log; nothing was written.
    #[error("{path}: its content {hash} is missing from the log; nothing was written")]
    MissingContent {
        /// The path, decoded lossily.
        path: String,
        /// The content hash, hex.
        hash: String,
    },
    /// A symlink entry whose target cannot be created; nothing was written.
    #[error("{path}: the stored symlink target is unusable ({why}); nothing was written")]
    BadSymlink {
        /// The path, decoded lossily.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The restore would overwrite or remove content that is not saved in the log.
    #[error(
        "{path}: its current content is not saved in the log and restoring would {action} it; \
         nothing was written"
    )]
    UnsavedWork {
        /// The path, decoded lossily.
        path: String,
        /// "overwrite" or "remove".
        action: &'static str,
    },
    /// Something untracked (or not a file, directory or symlink) is in the way.
    #[error("{path}: {why}; nothing was written")]
    Conflict {
        /// The path in the way, decoded lossily.
        path: String,
        /// What the conflict is.
        why: String,
    },
    /// Two paths of the tree are one name on the file system written to (case or
    /// Unicode normalization folded: `folding`); nothing was written.
    #[error(
        "{first} and {second} would be one file on this file system ({why}): restoring would \
         write one over the other; nothing was written"
    )]
    NameCollision {
        /// The first of the two paths (in the tree's order), decoded lossily.
        first: String,
        /// The second.
        second: String,
        /// How the file system compares names.
        why: &'static str,
    },
    /// An `only` path matches nothing in the target nor in the tracked tree.
    #[error("{path}: not in the tree being restored nor tracked now")]
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
    let place = if in_place {
        Place::Root
    } else {
        Place::Elsewhere
    };
    materialize_planned(store, target, dir, opts, observer, place)
}

/// Where a materialization writes: the store's root (its head is on disk), a
/// directory that holds none of it yet, or tl's own scratch copy holding a
/// tree it wrote there before (`tl bisect`).
#[derive(Clone, Copy)]
enum Place<'a> {
    Root,
    /// The store's root after a switch or undo was interrupted while writing:
    /// the disk may differ from the head at any tracked path.
    RootInterrupted,
    Elsewhere,
    Scratch(&'a Tree),
}

/// Whose files a plan may overwrite or remove.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The user's: only content the log holds (so it can be brought back).
    User,
    /// The user's, after an interrupted switch: as `User`, and every tracked
    /// path is looked at on disk (none is assumed to be the head's).
    UserInterrupted,
    /// tl's scratch copy: anything the tree written there tracks, whatever a
    /// command run in it made of it; every path is looked at on disk.
    Scratch,
}

/// [`materialize_with_progress`] in place after a switch or undo was killed
/// while writing (`crate::switch`): the head is what the log last recorded, but
/// any tracked path may hold the interrupted target's version, so every one is
/// compared on disk; nothing the log does not hold is overwritten or removed.
pub fn materialize_after_interruption(
    store: &Store,
    target: &Tree,
    progress: &dyn Fn(u64, u64),
) -> Result<MaterializeReport, RestoreError> {
    let opts = MaterializeOptions::default();
    let observer = ProgressFn(progress);
    materialize_planned(
        store,
        target,
        store.root(),
        &opts,
        &observer,
        Place::RootInterrupted,
    )
}

/// [`materialize`] into `dir`, tl's own scratch copy, which holds `previous`
/// (the tree last written there, empty the first time) as far as tl knows:
/// only what differs from `target` is written, paths `previous` has and
/// `target` lacks are removed, and files a command changed there are put back
/// whether or not the log holds what it made of them (`tl bisect`).
pub fn materialize_scratch(
    store: &Store,
    target: &Tree,
    dir: &Path,
    previous: &Tree,
) -> Result<MaterializeReport, RestoreError> {
    let opts = MaterializeOptions::default();
    let quiet = ProgressFn(&|_, _| {});
    materialize_planned(store, target, dir, &opts, &quiet, Place::Scratch(previous))
}

/// [`materialize`] into a store's root that holds nothing but `.tl/` (a clone
/// just made): every file of the target is looked at and written, none is
/// assumed there because the head tracks it.
pub fn materialize_fresh_root(
    store: &Store,
    target: &Tree,
) -> Result<MaterializeReport, RestoreError> {
    let opts = MaterializeOptions::default();
    let quiet = ProgressFn(&|_, _| {});
    materialize_planned(store, target, store.root(), &opts, &quiet, Place::Elsewhere)
}

fn materialize_planned(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
    observer: &dyn Observer,
    place: Place,
) -> Result<MaterializeReport, RestoreError> {
    let in_place = matches!(place, Place::Root | Place::RootInterrupted);
    let root = match open_root(dir) {
        Ok(fd) => Some(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !in_place => None,
        Err(e) => return Err(io_err(b"", "opening the restore directory")(e)),
    };
    // The mark goes first: the name probe of `check_names` and the writes make
    // temporaries, and a restore killed during either leaves them to the next
    // open (best effort: without its mark, a killed restore's temporaries are
    // still never captured, and removed by the next restore writing there). A
    // directory still to be made is marked once made.
    let mut mark = root
        .as_ref()
        .and_then(|_| leftovers::Mark::begin(store.layout(), dir).ok());
    check_names(target, dir, root.as_ref(), opts)?;
    let empty = Tree::new();
    let (tracked, owner) = match place {
        Place::Root => (store.head(), Owner::User),
        Place::RootInterrupted => (store.head(), Owner::UserInterrupted),
        Place::Elsewhere => (&empty, Owner::User),
        Place::Scratch(previous) => (previous, Owner::Scratch),
    };
    // Check and plan against the disk as it is (a missing `dir` is empty).
    let plan = {
        let mut walker = Walker::new(root.as_ref().map(|fd| fd.as_fd()));
        make_plan(store, target, tracked, &mut walker, opts, owner)?
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
    if mark.is_none() {
        mark = leftovers::Mark::begin(store.layout(), dir).ok();
    }
    let kept = execute(store, &plan, root.as_fd(), observer)?;
    drop(mark);
    if !kept.is_empty() {
        let is_kept = |p: &[u8]| kept.binary_search_by(|k| k.as_slice().cmp(p)).is_ok();
        report.written.retain(|p| !is_kept(p.as_bytes()));
        report.removed.retain(|p| !is_kept(p.as_bytes()));
        report.bytes_written -= plan
            .files
            .iter()
            .filter(|f| is_kept(&f.path))
            .map(|f| f.entry.size)
            .chain(
                plan.links
                    .iter()
                    .filter(|l| is_kept(&l.path))
                    .map(|l| l.target.len() as u64),
            )
            .sum::<u64>();
        report.kept = kept.into_iter().map(RepoPath::from).collect();
    }
    Ok(report)
}

/// Refuses a target holding two paths (of those `opts.only` selects) that the
/// file system of `dir` (or of its nearest existing ancestor, when `dir` is still
/// to be made) treats as one name (`folding`).
fn check_names(
    target: &Tree,
    dir: &Path,
    root: Option<&OwnedFd>,
    opts: &MaterializeOptions,
) -> Result<(), RestoreError> {
    let rules = match opts.folding {
        Folding::Assume(rules) => rules,
        Folding::Probe => match root {
            Some(fd) => folding::probe(fd.as_fd()),
            None => match dir.ancestors().skip(1).find_map(|a| open_root(a).ok()) {
                Some(fd) => folding::probe(fd.as_fd()),
                None => NameRules::EXACT,
            },
        },
    };
    let only: Option<Vec<&[u8]>> = opts.only.as_ref().map(|list| {
        list.iter()
            .map(|o| {
                let b = o.as_bytes();
                b.strip_suffix(b"/").unwrap_or(b)
            })
            .collect()
    });
    let selected = |p: &[u8]| {
        only.as_ref()
            .is_none_or(|list| list.iter().any(|o| crate::pathsafe::is_under(p, o)))
    };
    folding::check(
        rules,
        target.keys().map(Vec::as_slice).filter(|p| selected(p)),
    )
}

fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    // `dir` is the user's choice: it may itself be reached through a symlink.
    Ok(rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        FsMode::empty(),
    )?)
}
