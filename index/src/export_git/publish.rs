//! `tl publish`: on explicit request, a state of the log as a commit (or one
//! commit per checkpoint since a point) on a branch of the project's own Git
//! repository, where the user's tools see it.
//!
//! - Only the project's `.git` (its common dir, for a linked worktree); only a
//!   pack in `objects/pack/`, the branch's ref and its reflog are written. HEAD,
//!   the index and the work tree are never touched (the CLI's `--checkout` asks
//!   Git to switch afterwards).
//! - Objects the repository already has (its pack indexes and loose objects,
//!   [`existing`](super::existing)) are not written again.
//! - Parent: a new branch starts on `HEAD`'s commit (none on an unborn
//!   branch); a branch tl published to goes on from its tip. A branch whose tip
//!   is not the one tl left ([`record`](PublishRecord), `.tl/git-publish/`) has
//!   moved: refused unless [`OnMoved::BuildOnTop`], which keeps the branch's
//!   commits as the first parent's history, so nothing on it is lost.
//! - A state equal to the tip's tree makes no commit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::commit::{check_author, commit_object, commit_object_with_message};
use super::existing;
use super::filter;
use super::objects::{Blobs, Objects, WantedBlob};
use super::pack::{self, hex, object_id, parse_hex, Kind, Oid};
use super::repo::{branch_ref, ReflogEntry, Repo};
use super::tree::build;
use super::{ExportError, LeftOut};
use crate::catalog::CheckpointIndex;
use crate::store::Store;

/// How many commits a publish makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One commit holding the last state (`--squash`, or no `--since`).
    OneCommit,
    /// One commit per checkpoint of the line from `since` to `at` whose state
    /// differs from the one before.
    PerCheckpoint,
}

/// What to do when the branch moved since tl last published to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnMoved {
    /// Refuse, naming both commits.
    Refuse,
    /// Commit on top of the branch as it is now (`--force`).
    BuildOnTop,
}

/// What to publish and where.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// The branch, as the user typed it (`wip` or `refs/heads/wip`).
    pub branch: String,
    /// The state to publish.
    pub at: CheckpointIndex,
    /// First state of a series (`--since`), on the same line as `at`.
    pub since: Option<CheckpointIndex>,
    /// One commit or one per checkpoint.
    pub shape: Shape,
    /// The commit message instead of tl's (each commit's, with its trailers).
    pub message: Option<String>,
    /// `Name <mail>` for author and committer.
    pub author: String,
    /// What to do with a branch that moved.
    pub on_moved: OnMoved,
    /// The current time, seconds (for the reflog).
    pub now_s: i64,
}

/// One commit a publish made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCommit {
    /// Its id (hex).
    pub commit: String,
    /// The checkpoint whose state it holds.
    pub checkpoint: String,
    /// That checkpoint's time, ns.
    pub time_ns: i64,
}

/// What a publish did.
#[derive(Clone, Debug, Default)]
pub struct PublishReport {
    /// The repository (its common dir).
    pub repo: PathBuf,
    /// The full ref (`refs/heads/NAME`).
    pub branch: String,
    /// The branch's tip before (hex), `None` when it was created.
    pub old_tip: Option<String>,
    /// The branch's tip now (hex).
    pub tip: Option<String>,
    /// The parent of the first commit made (hex): HEAD's commit for a new branch,
    /// else the old tip.
    pub base: Option<String>,
    /// Commits made, oldest first (empty when the branch already held the state).
    pub commits: Vec<PublishedCommit>,
    /// Objects written (in one pack).
    pub objects_written: usize,
    /// The pack's size.
    pub pack_bytes: u64,
    /// Entries left out because Git would refuse them.
    pub left_out: Vec<LeftOut>,
}

/// What tl left on a branch: `.tl/git-publish/<key>`, a text file rewritten whole.
///
/// ```text
/// tl-publish 1
/// repo <common dir>
/// ref refs/heads/wip
/// tip <commit id> <tree id>
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishRecord {
    /// The commit tl made the tip.
    pub tip: Oid,
    /// Its tree.
    pub tree: Oid,
}

impl PublishRecord {
    fn path(store: &Store, repo: &Path, ref_name: &str) -> PathBuf {
        super::map::path_for(&store.layout().git_publish_dir(), repo, ref_name)
    }

    /// The record for (repo, ref), if it exists and is well formed for them.
    pub fn load(path: &Path, repo: &Path, ref_name: &str) -> Option<PublishRecord> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        if lines.next()? != "tl-publish 1"
            || lines.next()? != format!("repo {}", repo.display())
            || lines.next()? != format!("ref {ref_name}")
        {
            return None;
        }
        let mut tip = lines.next()?.strip_prefix("tip ")?.split(' ');
        Some(PublishRecord {
            tip: parse_hex(tip.next()?)?,
            tree: parse_hex(tip.next()?)?,
        })
    }

    fn save(&self, path: &Path, repo: &Path, ref_name: &str) -> std::io::Result<()> {
        let text = format!(
            "tl-publish 1\nrepo {}\nref {ref_name}\ntip {} {}\n",
            repo.display(),
            hex(&self.tip),
            hex(&self.tree)
        );
        if let Some(dir) = path.parent() {
            tl_wal::private_fs::ensure_dir(dir)?;
        }
        tl_wal::private_fs::write_atomic(
            path,
            text.as_bytes(),
            tl_wal::private_fs::Durability::Synced,
        )
    }
}

/// The checkpoints that become commits: `at` alone, or every state of `at`'s
/// line from `since` to `at`.
fn picks(store: &Store, opts: &PublishOptions) -> Result<Vec<CheckpointIndex>, ExportError> {
    let cps = store.checkpoints();
    let Some(since) = opts.since else {
        return Ok(vec![opts.at]);
    };
    if since > opts.at {
        return Err(ExportError::Options(format!(
            "--since {} is after the state to publish ({}); give an earlier --since",
            cps[since].id, cps[opts.at].id
        )));
    }
    let line = store.catalog()?.lineage(cps[opts.at].timeline);
    if !line.contains(&since) {
        return Err(ExportError::Options(format!(
            "--since {} is not on the line of {} (another timeline's state); give a state \
             of that line (`tl log --timeline NAME`)",
            cps[since].id, cps[opts.at].id
        )));
    }
    let series: Vec<CheckpointIndex> = line
        .into_iter()
        .filter(|&i| i >= since && i <= opts.at)
        .collect();
    Ok(match opts.shape {
        Shape::PerCheckpoint => series,
        Shape::OneCommit => vec![opts.at],
    })
}

/// Publishes; see the module docs.
pub fn publish(store: &Store, opts: &PublishOptions) -> Result<PublishReport, ExportError> {
    check_author(&opts.author)?;
    let ref_name = branch_ref(&opts.branch)?;
    let project = Repo::of_project(store.root())?.ok_or_else(|| {
        ExportError::Repo(format!(
            "{} has no Git repository (.git); tl publish writes a branch of the project's \
             own repository: run `git init` first (or `tl export-git --repo DIR` for a \
             repository of tl's history)",
            store.root().display()
        ))
    })?;
    if project.head_branch().as_deref() == Some(ref_name.as_str()) {
        return Err(ExportError::Options(format!(
            "{ref_name} is the branch checked out here; publishing to it would move it under \
             your index and work tree. Publish to another branch (`--branch tl/wip`) and \
             merge it with Git"
        )));
    }
    let repo = &project.repo;
    let record_path = PublishRecord::path(store, &repo.common, &ref_name);
    let old_tip = repo.read_ref(&ref_name)?;
    let record = PublishRecord::load(&record_path, &repo.common, &ref_name);
    let (base, mut base_tree) = match (old_tip, record) {
        (Some(tip), Some(r)) if r.tip == tip => (Some(tip), Some(r.tree)),
        (Some(tip), _) => match opts.on_moved {
            OnMoved::BuildOnTop => (Some(tip), None),
            OnMoved::Refuse => {
                let short = ref_name.trim_start_matches("refs/heads/");
                return Err(ExportError::Foreign(format!(
                    "branch {short} is at {}, {}; look at it with `git log {short}`. \
                     `--force` puts tl's commit on top of it (its commits stay in the history), \
                     or publish to another --branch",
                    &hex(&tip)[..12],
                    match record {
                        Some(r) => format!(
                            "not where tl left it ({}): it moved since",
                            &hex(&r.tip)[..12]
                        ),
                        None => "and tl never published to it".to_string(),
                    }
                )));
            }
        },
        (None, _) => (project.head_commit()?, None),
    };
    let picks = picks(store, opts)?;
    let cps = store.checkpoints();

    let mut out = Objects {
        pack_dir: repo.pack_dir(),
        pack: None,
        known: existing::object_ids(&repo.common),
        write: true,
    };
    let ids_path = store.layout().git_blob_ids();
    let mut blobs = Blobs {
        ids: super::blob_ids::load(&ids_path, &out.known),
        new: Vec::new(),
        bytes: 0,
    };
    let pack_io = |source| ExportError::Io {
        path: repo.pack_dir(),
        source,
    };
    let mut report = PublishReport {
        repo: repo.common.clone(),
        branch: ref_name.clone(),
        old_tip: old_tip.map(|t| hex(&t)),
        tip: old_tip.map(|t| hex(&t)),
        base: base.map(|b| hex(&b)),
        ..PublishReport::default()
    };
    let mut parent = base;
    let mut reported: HashSet<(Vec<u8>, String)> = HashSet::new();
    let squashed = match (opts.shape, opts.since) {
        (Shape::OneCommit, Some(_)) => {
            let line = store.catalog()?.lineage(cps[opts.at].timeline);
            line.iter()
                .filter(|&&i| Some(i) >= opts.since && i <= opts.at)
                .count()
        }
        _ => 1,
    };
    for idx in picks {
        let cp = &cps[idx];
        let tree = store.tree_at(idx)?;
        let split = filter::exportable(store, &tree, cp)?;
        let wanted = split.kept.iter().map(|k| WantedBlob::of(k.entry)).collect();
        blobs.resolve(store, wanted, &mut out, &|_| {})?;
        let mut dir = build(&split.kept, &blobs, cp)?;
        let tree_id = dir.hash(&mut out).map_err(pack_io)?;
        if Some(tree_id) == base_tree {
            continue;
        }
        let body = match &opts.message {
            Some(m) => {
                commit_object_with_message(&tree_id, parent.as_ref(), &opts.author, cp, squashed, m)
            }
            None => commit_object(&tree_id, parent.as_ref(), &opts.author, cp, squashed),
        };
        let id = object_id(Kind::Commit, &body);
        out.put(Kind::Commit, id, &body).map_err(pack_io)?;
        for s in split.skipped {
            // Each path once, while its reason stays the same.
            if reported.insert((s.path.clone(), s.reason.clone())) {
                report.left_out.push(LeftOut {
                    commit: hex(&id),
                    checkpoint: cp.id.clone(),
                    path: s.path,
                    reason: s.reason,
                });
            }
        }
        report.commits.push(PublishedCommit {
            commit: hex(&id),
            checkpoint: cp.id.clone(),
            time_ns: cp.time_ns,
        });
        parent = Some(id);
        base_tree = Some(tree_id);
    }
    if let Some(pack) = out.pack.take() {
        if pack.is_empty() {
            pack.abandon();
        } else {
            let written = pack.finish().map_err(pack_io)?;
            report.objects_written = written.objects;
            report.pack_bytes = written.bytes;
        }
    }
    let (Some(new), Some(tree)) = (parent, base_tree) else {
        return Ok(report);
    };
    if report.commits.is_empty() {
        return Ok(report);
    }
    repo.update_ref(&ref_name, old_tip, new)?;
    let last = report.commits.last().expect("checked above");
    let message = format!(
        "tl publish: {} commit(s), last the state of checkpoint {}",
        report.commits.len(),
        last.checkpoint
    );
    // The reflog is a courtesy to Git's tools; the ref has moved already.
    let _ = repo.append_reflog(&ReflogEntry {
        name: &ref_name,
        old: old_tip,
        new,
        who: &opts.author,
        time_s: opts.now_s,
        message: &message,
    });
    // A cache: failing to write it only costs the next publish time.
    let _ = super::blob_ids::save(&ids_path, &blobs.ids);
    PublishRecord { tip: new, tree }
        .save(&record_path, &repo.common, &ref_name)
        .map_err(|source| ExportError::Io {
            path: record_path.clone(),
            source,
        })?;
    report.tip = Some(pack::hex(&new));
    Ok(report)
}
