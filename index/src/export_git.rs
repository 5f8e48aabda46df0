//! `tl export-git`: the log's checkpoints as Git commits. Git objects (SHA-1 blobs,
//! trees, commits) are computed here and nowhere else, never on the capture path.
//!
//! - Target: the project's own `.git` (its common dir, for a worktree), or a bare
//!   repository at `.tl/git`, or `--repo DIR`. Only a pack in `objects/pack/` and
//!   one ref under `refs/tl/` are written; branches, HEAD, the index and the work
//!   tree are never touched.
//! - One commit per checkpoint, or per `--every` window (the window's last state;
//!   windows are aligned to the Unix epoch, and a window still open is held back so
//!   an exported commit never has to be rewritten). Commit time is the checkpoint's
//!   time in UTC; the message names the checkpoint id and kind and carries the full
//!   chain hash as a `Tl-Checkpoint:` trailer.
//! - Incremental: [`map`] remembers which commit each checkpoint became. It is only
//!   trusted when the ref still points at one of its commits; otherwise the history
//!   is recomputed without writing (commit ids are deterministic) until it meets the
//!   ref's commit, and an unknown commit is an error.
//! - Trees: an in-memory directory tree whose nodes cache their ids; a checkpoint's
//!   changes invalidate only the directories on their paths, so unchanged subtrees
//!   are never serialized or hashed again.
//! - Entries Git or a checkout would refuse (a component naming `.git` in any
//!   spelling, such as a captured `.GIT/hooks/post-checkout`; a symlinked
//!   `.gitmodules`, `.gitattributes`, `.gitignore`; a `.gitmodules` or
//!   `.gitattributes` that Git's fsck rejects, [`gitmeta`]) are left out of the
//!   commit, each reported once as a [`LeftOut`] naming commit, checkpoint and path;
//!   the rest is exported (`filter`). A damaged log (a path that is both a file
//!   and a directory) fails the export with the checkpoint named.

mod blob_ids;
mod commit;
mod delta;
mod existing;
mod filter;
pub mod gitmeta;
pub mod map;
mod objects;
pub mod pack;
pub mod publish;
pub mod repo;
mod select;
mod tree;
mod window;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::catalog::{CheckpointIndex, PathChange};
use crate::store::{Store, StoreError};
use commit::{check_author, commit_object};
use filter::{conflict, Skipped};
use map::{GitMap, MappedCommit};
use objects::{Blobs, Objects, WantedBlob};
use pack::{object_id, Kind, Oid};
use repo::Repo;
use select::{select, Pick, Selection};
use tree::{build, components, Dir};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An I/O error on a file of the repository or the mapping.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The repository cannot be used.
    #[error("{0}")]
    Repo(String),
    /// A bad `--ref`.
    #[error("--ref {0}")]
    Ref(String),
    /// A bad option.
    #[error("{0}")]
    Options(String),
    /// A path Git would refuse.
    #[error("checkpoint {checkpoint}: {reason}; Git would refuse it, so nothing was exported")]
    Path {
        /// Id of the checkpoint that has it.
        checkpoint: String,
        /// What is wrong, naming the path.
        reason: String,
    },
    /// The ref points to a commit tl did not make from this history.
    #[error("{0}")]
    Foreign(String),
}

/// What to export and where.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Target repository; `None`: the project's `.git`, else `.tl/git`.
    pub repo: Option<PathBuf>,
    /// Full ref name, under `refs/tl/`.
    pub ref_name: String,
    /// Only checkpoints at or after this time (ns) on a first export.
    pub since_ns: Option<i64>,
    /// Only checkpoints at or before this time (ns).
    pub until_ns: Option<i64>,
    /// One commit per window of this many ns.
    pub every_ns: Option<i64>,
    /// `Name <mail>` for author and committer.
    pub author: String,
    /// The current time (windows ending after it are held back).
    pub now_ns: i64,
    /// Only the states of this timeline's line (with those it inherited);
    /// None: every state of the log, in log order.
    pub timeline: Option<crate::record::TimelineId>,
}

/// Default author and committer.
pub const DEFAULT_AUTHOR: &str = "tl <tl@localhost>";

impl ExportOptions {
    /// Defaults: `refs/tl/main`, the default repository, every checkpoint.
    pub fn new(now_ns: i64) -> ExportOptions {
        ExportOptions {
            repo: None,
            ref_name: "refs/tl/main".into(),
            since_ns: None,
            until_ns: None,
            every_ns: None,
            author: DEFAULT_AUTHOR.into(),
            now_ns,
            timeline: None,
        }
    }
}

/// `main` → `refs/tl/main`; a name starting with `refs/` is kept as given.
pub fn full_ref_name(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/tl/{name}")
    }
}

/// How far an export has got.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Commits made (or recomputed) so far.
    pub commits_done: u64,
    /// Commits this run makes.
    pub commits_total: u64,
    /// Content bytes hashed so far.
    pub bytes: u64,
}

/// What an export did.
#[derive(Clone, Debug, Default)]
pub struct ExportReport {
    /// The repository written (its common dir).
    pub repo: PathBuf,
    /// True when tl created the repository.
    pub created_repo: bool,
    /// The ref.
    pub ref_name: String,
    /// Its value before.
    pub old_tip: Option<String>,
    /// Its value now.
    pub tip: Option<String>,
    /// Id of the checkpoint the tip is the state of.
    pub tip_checkpoint: Option<String>,
    /// New commits.
    pub commits_written: usize,
    /// Objects written (in one pack).
    pub objects_written: usize,
    /// The pack written, if any.
    pub pack: Option<PathBuf>,
    /// Its size.
    pub pack_bytes: u64,
    /// Checkpoints not exported because their `--every` window is still open.
    pub held_back: usize,
    /// When that window closes (ns).
    pub open_window_ends_ns: Option<i64>,
    /// True when the mapping was missing or stale and was recomputed.
    pub rebuilt_map: bool,
    /// Entries left out of the commits written, because Git would refuse them.
    pub left_out: Vec<LeftOut>,
}

/// An entry left out of an exported commit because Git would refuse it (a name Git
/// reserves, a symlinked `.gitmodules`, a `.gitmodules` Git's fsck rejects...). It is
/// reported for the commit where it first appears (or changes); later commits leave
/// it out silently while it stays the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// The commit it is left out of (hex).
    pub commit: String,
    /// The checkpoint that commit is made of.
    pub checkpoint: String,
    /// The path.
    pub path: Vec<u8>,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "commit {} (checkpoint {}): left out {:?}: {}",
            &self.commit[..self.commit.len().min(12)],
            self.checkpoint,
            String::from_utf8_lossy(&self.path),
            self.reason
        )
    }
}

/// Exports the store's checkpoints into a Git repository; see the module docs.
pub fn export(
    store: &Store,
    opts: &ExportOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ExportReport, ExportError> {
    repo::check_ref_name(&opts.ref_name)?;
    check_author(&opts.author)?;
    if opts.every_ns.is_some_and(|e| e <= 0) {
        return Err(ExportError::Options("--every must be positive".into()));
    }
    let repo = match &opts.repo {
        Some(d) => Repo::open_or_create(d)?,
        None => Repo::default_for(store.root(), &store.layout().git_dir())?,
    };
    let ref_name = opts.ref_name.as_str();
    let old_tip = repo.read_ref(ref_name)?;
    let map_path = map::path_for(&store.layout().git_map_dir(), &repo.common, ref_name);
    let options_line = format!("{} {}", opts.every_ns.unwrap_or(0), opts.author);
    let cps = store.checkpoints();
    // Which states this ref holds: a timeline's line, or all of them.
    let in_scope: Vec<bool> = match opts.timeline {
        Some(t) => {
            let mut v = vec![false; cps.len()];
            for i in store.catalog()?.lineage(t) {
                v[i.get()] = true;
            }
            v
        }
        None => vec![true; cps.len()],
    };

    let mut report = ExportReport {
        repo: repo.common.clone(),
        created_repo: repo.created,
        ref_name: ref_name.to_string(),
        old_tip: old_tip.map(|t| pack::hex(&t)),
        tip: old_tip.map(|t| pack::hex(&t)),
        ..ExportReport::default()
    };

    // Where to continue from: the mapped checkpoint the ref points at.
    let mut gitmap = GitMap {
        options: options_line.clone(),
        commits: Vec::new(),
    };
    let mut cont: Option<CheckpointIndex> = None;
    if let (Some(tip), Some(m)) = (old_tip, GitMap::load(&map_path, &repo.common, ref_name)) {
        if let Some(k) = m.commits.iter().position(|c| c.commit == tip) {
            if m.options != options_line {
                return Err(ExportError::Options(format!(
                    "{ref_name} was exported with other options (every ns and author: {}); \
                     use the same --every and --author, or another --ref",
                    m.options
                )));
            }
            if let Some(idx) = cps
                .iter()
                .enumerate()
                .position(|(i, c)| in_scope[i] && c.chain == m.commits[k].chain)
            {
                gitmap = m;
                gitmap.commits.truncate(k + 1);
                cont = Some(CheckpointIndex::new(idx));
            }
        }
    }

    let mut out = Objects {
        pack_dir: repo.pack_dir(),
        pack: None,
        known: HashSet::new(),
        write: true,
    };
    let mut blobs = Blobs {
        ids: gitmap.blob_ids(),
        new: Vec::new(),
        bytes: 0,
    };
    out.known.extend(blobs.ids.values().copied());
    let pack_io = |source| ExportError::Io {
        path: repo.pack_dir(),
        source,
    };

    // The state the next commit builds on, and the content at each of its paths
    // (the previous version of a path is the delta base of its next one).
    let mut root: Option<Dir> = None;
    let mut contents: HashMap<Vec<u8>, crate::types::BlobHash> = HashMap::new();
    let mut prev_idx: Option<CheckpointIndex> = None;
    let mut parent: Option<Oid> = None;
    if let Some(idx) = cont {
        let tree = store.tree_at(idx)?;
        out.write = false;
        // What was left out was reported when that commit was made.
        let keep = filter::exportable(store, &tree, &cps[idx])?.kept;
        contents = keep
            .iter()
            .map(|k| (k.path.to_vec(), k.entry.hash))
            .collect();
        let wanted = keep.iter().map(|k| WantedBlob::of(k.entry)).collect();
        blobs.resolve(store, wanted, &mut out, &|_| {})?;
        let mut dir = build(&keep, &blobs, &cps[idx])?;
        let id = dir.hash(&mut out).map_err(pack_io)?;
        out.write = true;
        let last = gitmap.commits.last_mut().expect("continuing from a commit");
        if id == last.tree {
            last.blobs.append(&mut blobs.new);
            root = Some(dir);
            prev_idx = Some(idx);
            parent = old_tip;
        } else {
            // The mapping disagrees with the log: recompute it.
            cont = None;
            gitmap.commits.clear();
            blobs.ids.clear();
            blobs.new.clear();
            out.known.clear();
        }
    }
    // A ref that the mapping does not explain is looked for in a recomputation.
    let rebuilding = old_tip.is_some() && cont.is_none();
    report.rebuilt_map = rebuilding;
    let mut found_tip = !rebuilding;
    out.write = found_tip;

    let Selection {
        picks,
        held_back,
        open_window_ends_ns,
    } = select(cps, &in_scope, prev_idx, cont.is_none(), opts);
    report.held_back = held_back;
    report.open_window_ends_ns = open_window_ends_ns;
    let total = picks.len() as u64;
    let mut commits_written = 0;
    for (
        n,
        &Pick {
            index: idx,
            stands_for: squashed,
        },
    ) in picks.iter().enumerate()
    {
        let cp = &cps[idx];
        let mut skipped: Vec<Skipped> = Vec::new();
        // Changes are applied one checkpoint after another only over states
        // all in this ref's line; across another timeline's states the tree is
        // built again.
        let contiguous =
            prev_idx.is_some_and(|p| in_scope[p.get() + 1..=idx.get()].iter().all(|&b| b));
        match (&mut root, prev_idx) {
            (Some(dir), Some(prev)) if contiguous => {
                // Apply the changes of every checkpoint since the last commit.
                let mut wanted = Vec::new();
                let mut left_out: HashMap<(usize, usize), String> = HashMap::new();
                for (ci, c) in cps[prev.get() + 1..=idx.get()].iter().enumerate() {
                    // In the order the tree applies them: deletes, then puts.
                    for ch in &c.changes {
                        if let PathChange::Delete(p) = ch {
                            contents.remove(p.as_bytes());
                        }
                    }
                    for (k, ch) in c.changes.iter().enumerate() {
                        if let PathChange::Put(p, e) = ch {
                            let p = p.as_bytes();
                            match filter::check_entry(store, p, e, c)? {
                                None => {
                                    let previous = contents.insert(p.to_vec(), e.hash);
                                    wanted.push(WantedBlob::at(p, e, previous));
                                }
                                Some(reason) => {
                                    contents.remove(p);
                                    left_out.insert((ci, k), reason);
                                }
                            }
                        }
                    }
                }
                blobs.resolve(store, wanted, &mut out, &|b| {
                    progress(Progress {
                        commits_done: n as u64,
                        commits_total: total,
                        bytes: b,
                    })
                })?;
                for (ci, c) in cps[prev.get() + 1..=idx.get()].iter().enumerate() {
                    for ch in &c.changes {
                        if let PathChange::Delete(p) = ch {
                            dir.remove(&components(p.as_bytes()));
                            skipped.retain(|s| *p != s.path);
                        }
                    }
                    for (k, ch) in c.changes.iter().enumerate() {
                        if let PathChange::Put(p, e) = ch {
                            skipped.retain(|s| *p != s.path);
                            if let Some(reason) = left_out.remove(&(ci, k)) {
                                // No older version of it stays in the commit either.
                                dir.remove(&components(p.as_bytes()));
                                skipped.push(Skipped {
                                    path: p.as_bytes().to_vec(),
                                    reason,
                                });
                                continue;
                            }
                            dir.insert(&components(p.as_bytes()), e.mode, blobs.ids[&e.hash])
                                .map_err(|_| conflict(p.as_bytes(), c))?;
                        }
                    }
                }
            }
            _ => {
                let tree = store.tree_at(idx)?;
                let split = filter::exportable(store, &tree, cp)?;
                let keep = split.kept;
                skipped = split.skipped;
                contents = keep
                    .iter()
                    .map(|k| (k.path.to_vec(), k.entry.hash))
                    .collect();
                let wanted = keep
                    .iter()
                    .map(|k| WantedBlob::at(k.path, k.entry, None))
                    .collect();
                blobs.resolve(store, wanted, &mut out, &|b| {
                    progress(Progress {
                        commits_done: n as u64,
                        commits_total: total,
                        bytes: b,
                    })
                })?;
                root = Some(build(&keep, &blobs, cp)?);
            }
        }
        let dir = root.as_mut().expect("built above");
        let tree_id = dir.hash(&mut out).map_err(pack_io)?;
        let body = commit_object(&tree_id, parent.as_ref(), &opts.author, cp, squashed);
        let id = object_id(Kind::Commit, &body);
        out.put(Kind::Commit, id, &body).map_err(pack_io)?;
        gitmap.commits.push(MappedCommit {
            chain: cp.chain,
            commit: id,
            tree: tree_id,
            blobs: std::mem::take(&mut blobs.new),
        });
        if found_tip {
            commits_written += 1;
            report.left_out.extend(skipped.into_iter().map(|s| LeftOut {
                commit: pack::hex(&id),
                checkpoint: cp.id.clone(),
                path: s.path,
                reason: s.reason,
            }));
        } else if Some(id) == old_tip {
            found_tip = true;
            out.write = true;
        }
        parent = Some(id);
        prev_idx = Some(idx);
        progress(Progress {
            commits_done: n as u64 + 1,
            commits_total: total,
            bytes: blobs.bytes,
        });
    }
    if !found_tip {
        if let Some(pack) = out.pack.take() {
            pack.abandon();
        }
        return Err(ExportError::Foreign(format!(
            "{ref_name} in {} points to {}, which is not tl's export of this history with these \
             options; export to another --ref, or delete it with `git update-ref -d {ref_name}`",
            repo.common.display(),
            pack::hex(&old_tip.expect("only a ref can be missing"))
        )));
    }

    if let Some(pack) = out.pack.take() {
        if pack.is_empty() {
            pack.abandon();
        } else {
            let written = pack.finish().map_err(pack_io)?;
            report.objects_written = written.objects;
            report.pack_bytes = written.bytes;
            report.pack = Some(written.path);
        }
    }
    if let Some(new) = parent {
        if Some(new) != old_tip {
            repo.update_ref(ref_name, old_tip, new)?;
        }
        report.tip = Some(pack::hex(&new));
    }
    report.commits_written = commits_written;
    report.tip_checkpoint = gitmap.commits.last().and_then(|c| {
        cps.iter()
            .find(|cp| cp.chain == c.chain)
            .map(|cp| cp.id.clone())
    });
    if commits_written > 0 || rebuilding {
        gitmap
            .save(&map_path, &repo.common, ref_name)
            .map_err(|source| ExportError::Io {
                path: map_path.clone(),
                source,
            })?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Mode;

    #[test]
    fn authors() {
        assert!(check_author("A B <a@b>").is_ok());
        assert!(check_author("tl <tl@localhost>").is_ok());
        for bad in ["", "A", "<a@b>", "A <a@b", "A <a<b>", "A\n <a@b>", "A<a@b>"] {
            assert!(check_author(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trees_sort_directories_as_if_with_a_slash() {
        let mut d = Dir::default();
        let id = object_id(Kind::Blob, b"x");
        d.insert(&[b"a.txt"], Mode::File, id).ok().unwrap();
        d.insert(&[b"a", b"b"], Mode::Exec, id).ok().unwrap();
        d.insert(&[b"a-"], Mode::Symlink, id).ok().unwrap();
        let mut out = Objects {
            pack_dir: PathBuf::new(),
            pack: None,
            known: HashSet::new(),
            write: false,
        };
        let root = d.hash(&mut out).unwrap();
        // The same tree as `git mktree` makes (computed here by hand from Git's order:
        // "a-" < "a.txt" < "a/").
        let sub = {
            let mut b = b"100755 b\0".to_vec();
            b.extend_from_slice(&id);
            object_id(Kind::Tree, &b)
        };
        let mut expect = Vec::new();
        for (mode, name, id) in [
            (&b"120000"[..], &b"a-"[..], id),
            (b"100644", b"a.txt", id),
            (b"40000", b"a", sub),
        ] {
            expect.extend_from_slice(mode);
            expect.push(b' ');
            expect.extend_from_slice(name);
            expect.push(0);
            expect.extend_from_slice(&id);
        }
        assert_eq!(root, object_id(Kind::Tree, &expect));
        d.remove(&[b"a", b"b"]);
        assert!(
            !d.entries.contains_key(&b"a"[..]),
            "empty directories are dropped"
        );
    }
}
