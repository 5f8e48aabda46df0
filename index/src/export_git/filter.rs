//! Which entries of a checkpoint go into its commit.
//!
//! An entry Git would refuse is left out of that commit, and the export goes on:
//! one bad entry must not make every later export fail (the log keeps it, so it is
//! never lost). Left out: a path with a component naming `.git` or `.tl` in some
//! spelling (`.GIT/hooks/post-checkout` is a legal name on Linux, and capture keeps
//! it); a symlink whose target points into `.git` (`../.git/hooks`, in any
//! spelling); a symlinked `.gitmodules`, `.gitattributes` or `.gitignore`; a `.gitmodules`
//! or `.gitattributes` whose content Git's fsck rejects ([`gitmeta`]). The decision
//! depends only on the path, the entry and its content, so a recomputation of the
//! history makes the same commits.
//!
//! Paths that break the syntax rules (`..`, absolute...) cannot come from a record
//! the log decodes, and a tree with a path that is both a file and a directory cannot
//! come from a fold: both still fail the export, naming the checkpoint (the log is
//! damaged or forged; `tl fsck` says more).

use crate::catalog::Checkpoint;
use crate::pathsafe::{self, PathRule};
use crate::store::Store;
use crate::types::{Entry, Mode, Tree};

use super::gitmeta::{self, MetaFile};
use super::ExportError;

/// An entry left out of a commit, and why.
pub(super) struct Skipped {
    pub path: Vec<u8>,
    pub reason: String,
}

/// `Some(reason)` if the entry is left out of the export; an error if the log itself
/// is damaged (see the module docs).
pub(super) fn check_entry(
    store: &Store,
    path: &[u8],
    e: &Entry,
    cp: &Checkpoint,
) -> Result<Option<String>, ExportError> {
    if let Err(err) = pathsafe::validate_path(path) {
        return match err.rule {
            PathRule::Reserved { .. } => Ok(Some(format!(
                "{}, which Git refuses in a tree (hasDotgit) and a checkout would write into \
                 a repository",
                err.rule
            ))),
            _ => Err(ExportError::Path {
                checkpoint: cp.id.clone(),
                reason: err.to_string(),
            }),
        };
    }
    if e.mode == Mode::Symlink && pathsafe::target_names_dot_git(&store.blob_bytes(&e.hash)?) {
        return Ok(Some(
            "a symlink whose target points into .git: a checkout would let later writes \
             through it reach a repository's files"
                .into(),
        ));
    }
    let metas = gitmeta::meta_files_of(path);
    if metas.is_empty() {
        return Ok(None);
    }
    if e.mode == Mode::Symlink {
        return Ok(Some(
            "a symlink, and Git refuses symlinked .gitmodules, .gitattributes and .gitignore"
                .into(),
        ));
    }
    let needs_content = metas
        .iter()
        .any(|m| matches!(m, MetaFile::Modules | MetaFile::Attributes));
    if !needs_content {
        return Ok(None);
    }
    if e.size > gitmeta::MAX_CHECKED_BYTES as u64 {
        return Ok(Some(format!(
            "larger than {} bytes, too large for Git to check",
            gitmeta::MAX_CHECKED_BYTES
        )));
    }
    let content = store.blob_bytes(&e.hash)?;
    for m in metas {
        let verdict = match m {
            MetaFile::Modules => gitmeta::check_gitmodules(&content),
            MetaFile::Attributes => gitmeta::check_gitattributes(&content),
            MetaFile::Ignore => Ok(()),
        };
        if let Err(why) = verdict {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// An entry of a tree that a commit holds.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeptEntry<'t> {
    pub(super) path: &'t [u8],
    pub(super) entry: &'t Entry,
}

/// A whole tree split for a commit: what it holds, in path order, and what is left
/// out of it (with why).
pub(super) struct Exportable<'t> {
    pub(super) kept: Vec<KeptEntry<'t>>,
    pub(super) skipped: Vec<Skipped>,
}

/// The entries of a whole tree that go into checkpoint `cp`'s commit, and those left
/// out.
pub(super) fn exportable<'t>(
    store: &Store,
    tree: &'t Tree,
    cp: &Checkpoint,
) -> Result<Exportable<'t>, ExportError> {
    pathsafe::check_no_duplicates_or_prefix_conflicts(tree.keys().map(|k| k.as_slice())).map_err(
        |e| ExportError::Path {
            checkpoint: cp.id.clone(),
            reason: e.to_string(),
        },
    )?;
    let mut kept = Vec::with_capacity(tree.len());
    let mut skipped = Vec::new();
    for (p, e) in tree {
        match check_entry(store, p, e, cp)? {
            None => kept.push(KeptEntry { path: p, entry: e }),
            Some(reason) => skipped.push(Skipped {
                path: p.clone(),
                reason,
            }),
        }
    }
    Ok(Exportable { kept, skipped })
}

/// The error for a path that is both a file and a directory.
pub(super) fn conflict(path: &[u8], cp: &Checkpoint) -> ExportError {
    ExportError::Path {
        checkpoint: cp.id.clone(),
        reason: format!(
            "path {:?} is both a file and a directory",
            String::from_utf8_lossy(path)
        ),
    }
}
