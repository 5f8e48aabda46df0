//! `tl show PATH --at T`: a file's content as it was (a directory: its files).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use tl_index::timespec::format_local;

use super::ls::{entries_under, print_listing, why_absent};
use crate::cli_util::{open_read, rel_path};

/// Print a file's content as it was at time T (a directory: its files).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl show src/main.rs --at \"2 hours ago\" > old.rs\n")]
pub struct ShowArgs {
    /// The file (or directory) to show, relative to the current directory.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    #[arg(long, value_name = "T", help = time_help!("Show it as it was at T."))]
    at: String,
}

/// Prints the file's content at T, or a directory's listing.
pub fn cmd_show(cwd: &Path, args: ShowArgs) -> Result<()> {
    let (path, at) = (args.path.as_path(), args.at.as_str());
    let store = open_read(cwd)?;
    let idx = store.resolve(at)?;
    let rel = rel_path(&store, cwd, path)?;
    let rel = rel.as_bytes();
    let tree = store.tree_at(idx)?;
    let cp = &store.checkpoints()[idx];
    let mut out = std::io::stdout().lock();
    let Some(entry) = tree.get(rel) else {
        // A directory: list it, as `git show REV:DIR` does.
        let list = entries_under(&tree, rel);
        if list.is_empty() {
            bail!("{}", why_absent(&store, rel, cp, path));
        }
        eprintln!(
            "tl: {} is a directory at checkpoint {} ({}); its files (`tl ls --at {} {}`):",
            path.display(),
            cp.id,
            format_local(cp.time_ns),
            cp.id,
            path.display()
        );
        print_listing(&mut out, &list)?;
        return Ok(());
    };
    store.read_blob(&entry.hash, &mut out)?;
    out.flush()?;
    Ok(())
}
