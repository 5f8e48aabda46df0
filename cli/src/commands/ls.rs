//! `tl ls [--at T] [PATH]`: the tree as it was; what `tl show` shares with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::json;
use tl_index::catalog::{Checkpoint, CheckpointIndex};
use tl_index::layout::TL_DIR;
use tl_index::store::Store;
use tl_index::timespec::format_local;
use tl_index::types::{Entry, Tree};

use super::diff::git_mode;
use crate::cli_util::{open_read, rel_path};
use crate::output::path as show_path;
use tl_index::pathsafe::is_under;

/// List the files as they were at time T (default: the last checkpoint): mode,
/// size and path, everything under PATH (default: the whole tree).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl ls\n  tl ls --at 1h src/\n  tl ls --json\n")]
pub struct LsArgs {
    #[arg(long, value_name = "T", help = time_help!("List the tree as it was at T (default: the last checkpoint)."))]
    at: Option<String>,
    /// The directory or file to list (default: the whole tree).
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// Print the listing as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Why `rel` has no entry in a tree, in words a user can act on.
pub fn why_absent(store: &Store, rel: &[u8], cp: &Checkpoint, arg: &Path) -> String {
    let first = rel.split(|&b| b == b'/').next().unwrap_or(rel);
    if first == TL_DIR.as_bytes() {
        return format!(
            "{} is inside .tl, tl's own directory, which is never captured",
            arg.display()
        );
    }
    if first == b".git" {
        return format!(
            "{} is inside .git, which tl never captures (`tl export-git` writes history \
             there)",
            arg.display()
        );
    }
    let is_dir = store
        .root()
        .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(rel))
        .is_dir();
    if tl_index::scan::IgnoreRules::new(store.root()).ignored(rel, is_dir) {
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        if !is_dir && tl_index::scan::is_secret(name) {
            return format!(
                "{} is not captured: tl leaves out files named like secrets (`.env`, keys; \
                 the list is in the README) unless an ignore file keeps them; `!{}` in \
                 .tlignore captures it from then on",
                arg.display(),
                show_path(name)
            );
        }
        return format!(
            "{} is ignored (by .gitignore, .git/info/exclude or .tlignore), so tl does not \
             capture it; a `!` rule in .tlignore captures it from then on",
            arg.display()
        );
    }
    format!(
        "{} did not exist at checkpoint {} ({}); `tl log {}` lists when it changed",
        show_path(rel),
        cp.id,
        format_local(cp.time_ns),
        arg.display()
    )
}

/// One entry of a listing: a path of the tree and its entry.
pub struct Listed<'a> {
    /// The stored path.
    pub path: &'a [u8],
    /// What the tree holds there.
    pub entry: &'a Entry,
}

/// The entries of `tree` at or under `rel` (everything for the root).
pub fn entries_under<'a>(tree: &'a Tree, rel: &'a [u8]) -> Vec<Listed<'a>> {
    tree.iter()
        .filter(|(k, _)| is_under(k, rel))
        .map(|(path, entry)| Listed { path, entry })
        .collect()
}

fn resolve_at(store: &Store, at: Option<&str>) -> Result<CheckpointIndex> {
    match at {
        Some(t) => Ok(store.resolve(t)?),
        None => match store.last_index() {
            None => bail!("there are no checkpoints yet; run `tl checkpoint` first"),
            Some(last) => Ok(last),
        },
    }
}

/// Prints `list` as `tl ls` does: mode, size (right-aligned), path.
pub fn print_listing(out: &mut dyn Write, list: &[Listed<'_>]) -> Result<()> {
    let width = list
        .iter()
        .map(|l| l.entry.size.to_string().len())
        .max()
        .unwrap_or(0);
    for Listed { path: p, entry: e } in list {
        writeln!(
            out,
            "{} {:>width$}  {}",
            git_mode(e.mode),
            e.size,
            show_path(p)
        )?;
    }
    Ok(())
}

/// Prints the entries under PATH at T.
pub fn cmd_ls(cwd: &Path, args: LsArgs) -> Result<()> {
    let (at, path, json_out) = (args.at.as_deref(), args.path.as_deref(), args.json);
    let store = open_read(cwd)?;
    let idx = resolve_at(&store, at)?;
    let cp = &store.checkpoints()[idx];
    let rel = match path {
        Some(p) => rel_path(&store, cwd, p)?,
        None => tl_index::RepoPath::root(),
    };
    let rel = rel.as_bytes();
    let tree = store.tree_at(idx)?;
    let list = entries_under(&tree, rel);
    if list.is_empty() && !rel.is_empty() {
        bail!(
            "{}",
            why_absent(&store, rel, cp, path.unwrap_or(Path::new("")))
        );
    }
    let mut out = std::io::stdout().lock();
    if json_out {
        let files: Vec<_> = list
            .iter()
            .map(|Listed { path: p, entry: e }| {
                json!({"path": show_path(p), "mode": git_mode(e.mode), "size": e.size,
                       "hash": e.hash.to_hex()})
            })
            .collect();
        writeln!(
            out,
            "{}",
            json!({"checkpoint": cp.id,
                   "time": tl_index::timespec::format_rfc3339(cp.time_ns),
                   "files": files})
        )?;
        return Ok(());
    }
    print_listing(&mut out, &list)?;
    Ok(())
}
