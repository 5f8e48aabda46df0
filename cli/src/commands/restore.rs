//! `tl restore PATH... --at T`: bring back some paths (`.` is the whole tree).
//! Like a replay, it first captures the present, so that it can be undone.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use tl_index::pathsafe::is_under;
use tl_index::replay::{InPlace, Purpose};

use super::replay::{in_place, present_of, print_report, Done};
use crate::cli_util::{open, rel_path};

/// Bring back only some paths (files or directories) as they were at time T.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl restore src/lib.rs docs/ --at 1h\n  tl restore . --at a1b2c3\n"
)]
pub struct RestoreArgs {
    /// The files or directories to restore (`.` at the root: the whole tree).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[arg(long, value_name = "T", help = time_help!("Restore them as they were at T."))]
    at: String,
    /// Only list what would be written and removed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// Restores the paths in place, capturing the present first.
pub fn cmd_restore(cwd: &Path, args: RestoreArgs) -> Result<()> {
    let RestoreArgs {
        paths,
        at,
        dry_run,
        json,
    } = args;
    let (paths, at) = (paths.as_slice(), at.as_str());
    let mut store = open(cwd)?;
    let idx = store.resolve(at)?;
    let target = store.tree_at(idx)?;
    let cp = store.checkpoints()[idx].clone();
    let only: Vec<tl_index::RepoPath> = paths
        .iter()
        .map(|p| rel_path(&store, cwd, p))
        .collect::<Result<_>>()?;
    for (p, arg) in only.iter().zip(paths) {
        let exists_then = target.keys().any(|k| is_under(k, p.as_bytes()));
        let exists_now = store.head().keys().any(|k| is_under(k, p.as_bytes()));
        if !exists_then && !exists_now {
            bail!(
                "{} and is not tracked now",
                super::ls::why_absent(&store, p.as_bytes(), &cp, arg)
            );
        }
    }
    let req = InPlace {
        target: idx,
        only: Some(only),
        purpose: Purpose::Restore,
        dry_run,
        present: present_of(&store),
    };
    let done = in_place(&mut store, &req, &target)?;
    print_report(
        &done.report,
        dry_run,
        json,
        &cp,
        Some(&done),
        &Done::Restore { paths },
    );
    Ok(())
}
