//! Step 1 and 2 of a materialization: check the target, compare with the disk, and
//! decide every write and removal before anything is touched.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self};

use super::disk::{list_tree, read_link, stat_at, Disk};
use super::guard::{self, Seen};
use super::{
    components, io_err, lossy, MaterializeOptions, MaterializeReport, RestoreError, SkippedPath,
};
use crate::dirfd::{Reach, Walker};
use crate::pathsafe::{self, is_under, PathError, PathRule};
use crate::store::Store;
use crate::types::{BlobHash, Entry, Mode, Tree};
use crate::RepoPath;

/// A regular file to write.
pub(super) struct PlannedFile {
    pub(super) path: Vec<u8>,
    pub(super) entry: Entry,
    /// What the disk had there when planned.
    pub(super) seen: Seen,
}

/// A symlink to create.
pub(super) struct PlannedLink {
    pub(super) path: Vec<u8>,
    /// The link's target bytes, read and verified while planning.
    pub(super) target: Vec<u8>,
    /// What the disk had there when planned.
    pub(super) seen: Seen,
}

/// A file or symlink to remove.
pub(super) struct PlannedRemoval {
    pub(super) path: Vec<u8>,
    /// What it was when planned.
    pub(super) seen: Seen,
}

/// The work a materialization does, decided before anything is written.
#[derive(Default)]
pub(super) struct Plan {
    /// Regular files to write.
    pub(super) files: Vec<PlannedFile>,
    /// Symlinks to create.
    pub(super) links: Vec<PlannedLink>,
    /// Non-directories to remove.
    pub(super) removes: Vec<PlannedRemoval>,
    /// Entries not touched because of their name.
    pub(super) skipped: Vec<SkippedPath>,
    /// When planning began (ns since the epoch), for [`guard`]'s racy rule.
    pub(super) started_ns: i64,
    /// Directories (holding only removed things) standing where a file will be.
    pub(super) clear_dirs: Vec<Vec<u8>>,
    pub(super) unchanged: u64,
    pub(super) bytes: u64,
}

impl Plan {
    pub(super) fn report(&self) -> MaterializeReport {
        let mut written: Vec<RepoPath> = self
            .files
            .iter()
            .map(|f| RepoPath::from(f.path.as_slice()))
            .chain(self.links.iter().map(|l| RepoPath::from(l.path.as_slice())))
            .collect();
        written.sort();
        let mut removed: Vec<RepoPath> = self
            .removes
            .iter()
            .map(|r| RepoPath::from(r.path.as_slice()))
            .collect();
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

/// `Some(rule)` if `path` breaks only the rule on reserved names (restore skips it);
/// an error if it breaks another.
pub(super) fn reserved(path: &[u8]) -> Result<Option<PathRule>, PathError> {
    match pathsafe::validate_path(path) {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.rule, PathRule::Reserved { .. }) => Ok(Some(e.rule)),
        Err(e) => Err(e),
    }
}

pub(super) fn make_plan(
    store: &Store,
    target: &Tree,
    tracked: &Tree,
    w: &mut Walker<'_>,
    opts: &MaterializeOptions,
    owner: super::Owner,
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
                let mut o = o.as_bytes();
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
        if !store.has_blob(&entry.hash) {
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
    candidates.retain(|p| !opts.leave.iter().any(|l| is_under(p, l.as_bytes())));
    // In place, the caller has just captured the disk, so the tracked tree is what
    // is on disk: a path whose entry is the same in both trees needs no look. This
    // keeps a replay of a few changed files from stat'ing the whole tree. (A file
    // edited in the instant between that capture and this plan is left as it is.)
    // A dry run captures nothing first, so the disk may differ from the tracked tree
    // anywhere: it looks at every path.
    // Those paths count as unchanged, as a dry run finds them on disk.
    let mut already_right = 0u64;
    if !tracked.is_empty() && !opts.dry_run && owner == super::Owner::User {
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
    let recoverable =
        |h: &BlobHash| opts.dry_run || owner == super::Owner::Scratch || store.has_blob(h);
    let stat_cache = crate::statcache::StatCache::load(&store.layout().stat_cache());
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
                    Some(bytes) => plan.links.push(PlannedLink {
                        path: path.to_vec(),
                        target: bytes,
                        seen,
                    }),
                    None => plan.files.push(PlannedFile {
                        path: path.to_vec(),
                        entry: *entry,
                        seen,
                    }),
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
                    plan.removes.push(PlannedRemoval {
                        path: path.to_vec(),
                        seen,
                    });
                }
            }
        }
    }
    let removed: HashSet<&[u8]> = plan.removes.iter().map(|r| r.path.as_slice()).collect();
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
            path: RepoPath::from(p),
            rule,
        })
        .collect();
    Ok(plan)
}
