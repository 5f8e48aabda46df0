//! `tl compact`: write a tree snapshot of the last checkpoint now.

use std::path::Path;

use anyhow::Result;

use crate::cli_util::open;

/// Write a tree snapshot of the last checkpoint now (speeds up replay).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl compact\n")]
pub struct CompactArgs {}

/// Writes the snapshot and says where.
pub fn cmd_compact(cwd: &Path, _args: CompactArgs) -> Result<()> {
    let mut store = open(cwd)?;
    let path = store.compact()?;
    println!("Wrote snapshot {}", path.display());
    Ok(())
}
