//! `tl diff A [B] [--] [PATH...]`: what changed between two points, as git shows it.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tl_index::catalog::CheckpointIndex;
use tl_index::scan::Change;
use tl_index::store::{ResolveError, Store, StoreError};
use tl_index::textdiff::TextPair;
use tl_index::timespec::format_rfc3339;
use tl_index::types::{Entry, Mode, Tree};
use tl_index::RepoPath;

use crate::cli_util::{open_read, rel_path};
use crate::command_error::CommandError;
use crate::output::path as show_path;
use tl_index::pathsafe::is_under;

/// Show the differences between two points (B defaults to the working directory).
///
/// Words after A are B when they name a point in history (and no file), else
/// paths; everything after `--` is a path.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl diff 10m\n  tl diff a1b2c3 d4e5f6 --stat\n  \
                  tl diff a1b2c3 src/main.rs\n  tl diff 1h -- src/\n"
)]
pub struct DiffArgs {
    #[arg(value_name = "A", help = time_help!("The older point A, a time T."))]
    a: String,
    /// The newer point B (a time, as for A; default: the files on disk now),
    /// then the files or directories to limit the diff to.
    #[arg(value_name = "B|PATH")]
    rest: Vec<String>,
    /// Only a summary: each changed path with its line counts.
    #[arg(long)]
    stat: bool,
    /// Print the changed files as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
    /// Files or directories to limit the diff to, taken as paths even when they
    /// read as a time.
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// The mode as git writes it, with the permission bits tl keeps (git itself only
/// knows 100644 and 100755; a private file shows as 100600).
pub fn git_mode(m: Mode) -> &'static str {
    match m {
        Mode::Symlink => "120000",
        Mode::File => "100644",
        Mode::Exec => "100755",
        Mode::PrivateFile => "100600",
        Mode::PrivateExec => "100700",
        Mode::GroupFile => "100640",
        Mode::GroupExec => "100750",
    }
}

/// The `--stat` column of one change between two stored entries: `+3 -1`,
/// `binary`, or the mode change.
pub fn line_stat(store: &Store, before: Option<Entry>, after: Option<Entry>) -> Result<String> {
    let modes = (before.map(|e| e.mode), after.map(|e| e.mode));
    if too_big_to_diff(before, after) {
        let same = before.map(|e| e.hash) == after.map(|e| e.hash);
        return Ok(with_mode(
            (!same).then(|| "binary".into()),
            modes.0,
            modes.1,
        ));
    }
    let read = |e: Option<Entry>| -> Result<Vec<u8>> {
        Ok(match e {
            Some(e) => store.blob_bytes(&e.hash)?,
            None => Vec::new(),
        })
    };
    let (x, y) = (read(before)?, read(after)?);
    Ok(stat_of(&x, &y, modes.0, modes.1))
}

/// Contents over this many bytes are never read for a diff: they are shown as
/// binary. A line diff of them would be unreadable, and reading them would hold
/// them in memory (a disk image, a database).
pub const TEXT_DIFF_MAX_BYTES: u64 = 16 << 20;

/// True when either side is over [`TEXT_DIFF_MAX_BYTES`].
fn too_big_to_diff(before: Option<Entry>, after: Option<Entry>) -> bool {
    [before, after]
        .iter()
        .flatten()
        .any(|e| e.size > TEXT_DIFF_MAX_BYTES)
}

fn stat_of(x: &[u8], y: &[u8], old: Option<Mode>, new: Option<Mode>) -> String {
    let content = if x == y {
        None
    } else {
        Some(match TextPair::new(x, y) {
            Some(text) => {
                let c = text.line_counts();
                format!("+{} -{}", c.insertions, c.deletions)
            }
            None => "binary".into(),
        })
    };
    with_mode(content, old, new)
}

/// The `--stat` column from what changed in the content (None: nothing) and the
/// two modes.
fn with_mode(content: Option<String>, old: Option<Mode>, new: Option<Mode>) -> String {
    let mode = match (old, new) {
        (Some(o), Some(n)) if o != n => Some(format!("mode {} => {}", git_mode(o), git_mode(n))),
        _ => None,
    };
    match (content, mode) {
        (Some(c), Some(m)) => format!("{c}, {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => "+0 -0".into(),
    }
}

/// One line of `--stat`: a path as shown and what changed in it (`+3 -1`,
/// `Bin 10 -> 12 bytes`).
pub struct StatRow {
    /// The path, as the user sees it.
    pub name: String,
    /// What changed.
    pub stat: String,
}

/// `name | what` lines with the names padded to one width.
pub fn stat_lines(rows: &[StatRow]) -> Vec<String> {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|StatRow { name, stat }| format!(" {name:<width$} | {stat}"))
        .collect()
}

/// A side of the diff: a checkpoint, or the files on disk.
enum Point {
    Checkpoint(CheckpointIndex),
    Disk,
}

/// Resolves the older point; a time before the first checkpoint means the first
/// checkpoint, with a note.
fn resolve_from(store: &Store, a: &str) -> Result<CheckpointIndex> {
    match store.resolve(a) {
        Ok(i) => Ok(i),
        Err(StoreError::Resolve(before @ ResolveError::BeforeFirst { .. })) => {
            let first = &store.checkpoints()[0];
            eprintln!(
                "tl: note: {before}; showing the changes since the first checkpoint {}",
                first.id
            );
            Ok(CheckpointIndex::new(0))
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints the diff, its `--stat` summary or its JSON.
pub fn cmd_diff(cwd: &Path, args: DiffArgs) -> Result<()> {
    let store = open_read(cwd)?;
    let from = resolve_from(&store, &args.a)?;
    // B is the first word after A when it names a point in history and no file.
    let mut words = args.rest.iter();
    let mut to = Point::Disk;
    let mut path_args: Vec<PathBuf> = Vec::new();
    if let Some(first) = args.rest.first() {
        let is_file = cwd.join(first).symlink_metadata().is_ok()
            || rel_path(&store, cwd, Path::new(first)).is_ok_and(|p| {
                !p.is_root() && store.head().keys().any(|k| is_under(k, p.as_bytes()))
            });
        match (store.resolve(first), is_file) {
            (Ok(i), false) => {
                to = Point::Checkpoint(i);
                words.next();
            }
            (Ok(_), true) => {
                return Err(CommandError::usage(format!(
                    "\"{first}\" is both a point in history and a path"
                ))
                .with_hint(format!(
                    "write `tl diff {} {first} --` for the point, `tl diff {} -- {first}` for \
                     the path",
                    args.a, args.a
                ))
                .into())
            }
            (Err(_), true) => {}
            (Err(e), false) => bail!(
                "\"{first}\" is neither a point in history nor a path: {e}; paths after `--` \
                 are taken as they are (`tl diff {} -- {first}`)",
                args.a
            ),
        }
    }
    for w in words {
        path_args.push(PathBuf::from(w));
    }
    path_args.extend(args.paths.iter().cloned());
    let old = store.tree_at(from)?;
    let new: Tree = match to {
        Point::Checkpoint(i) => store.tree_at(i)?,
        Point::Disk => store.scan_worktree()?,
    };
    let prefixes: Vec<RepoPath> = path_args
        .iter()
        .map(|p| rel_path(&store, cwd, p))
        .collect::<Result<_>>()?;
    let keep = |p: &[u8]| prefixes.is_empty() || prefixes.iter().any(|x| is_under(p, x.as_bytes()));
    let changes: Vec<Change> = tl_index::scan::diff_trees(&old, &new)
        .into_iter()
        .filter(|c| keep(c.path().as_bytes()))
        .collect();
    let disk = matches!(to, Point::Disk);
    let content = |e: &Entry, p: &[u8]| -> Result<Vec<u8>> {
        if disk && e.mode != Mode::Symlink {
            let full = store.root().join(std::ffi::OsStr::from_bytes(p));
            return std::fs::read(&full).with_context(|| format!("cannot read {}", full.display()));
        }
        Ok(store.blob_bytes(&e.hash)?)
    };
    let mut out = std::io::stdout().lock();
    let mut json_files = Vec::new();
    let mut stat_rows = Vec::new();
    for c in &changes {
        let (old_e, new_e) = match c {
            Change::Added(_, e) => (None, Some(*e)),
            Change::Modified(_, o, e) => (Some(*o), Some(*e)),
            Change::Deleted(_, o) => (Some(*o), None),
        };
        let p = c.path().as_bytes();
        // Too big to read: compared by hash, shown as binary.
        let big = too_big_to_diff(old_e, new_e);
        let before = match old_e {
            Some(o) if !big => store.blob_bytes(&o.hash)?,
            _ => Vec::new(),
        };
        let after = match new_e {
            Some(e) if !big => content(&e, p)?,
            _ => Vec::new(),
        };
        let same = if big {
            old_e.map(|e| e.hash) == new_e.map(|e| e.hash)
        } else {
            before == after
        };
        let name = show_path(p);
        let text = if big {
            None
        } else {
            TextPair::new(&before, &after)
        };
        let counts = text.map(|t| t.line_counts()).unwrap_or_default();
        let (ins, del) = (counts.insertions, counts.deletions);
        let status = match c {
            Change::Added(..) => "A",
            Change::Modified(..) => "M",
            Change::Deleted(..) => "D",
        };
        if args.json {
            json_files.push(json!({
                "status": status, "path": name, "binary": text.is_none(),
                "insertions": ins, "deletions": del,
                "old_mode": old_e.map(|e| git_mode(e.mode)),
                "new_mode": new_e.map(|e| git_mode(e.mode)),
            }));
            continue;
        }
        if args.stat {
            let (old_mode, new_mode) = (old_e.map(|e| e.mode), new_e.map(|e| e.mode));
            let stat = if big {
                with_mode((!same).then(|| "binary".into()), old_mode, new_mode)
            } else {
                stat_of(&before, &after, old_mode, new_mode)
            };
            stat_rows.push(StatRow { name, stat });
            continue;
        }
        writeln!(out, "diff --git a/{name} b/{name}")?;
        match (old_e, new_e) {
            (None, Some(n)) => writeln!(out, "new file mode {}", git_mode(n.mode))?,
            (Some(o), None) => writeln!(out, "deleted file mode {}", git_mode(o.mode))?,
            (Some(o), Some(n)) if o.mode != n.mode => {
                writeln!(out, "old mode {}", git_mode(o.mode))?;
                writeln!(out, "new mode {}", git_mode(n.mode))?;
            }
            _ => {}
        }
        if same {
            continue;
        }
        let old_name = if old_e.is_none() {
            "/dev/null".to_string()
        } else {
            format!("a/{name}")
        };
        let new_name = if new_e.is_none() {
            "/dev/null".to_string()
        } else {
            format!("b/{name}")
        };
        match text {
            Some(text) => write!(out, "{}", text.unified(&old_name, &new_name))?,
            None => writeln!(out, "Binary files {old_name} and {new_name} differ")?,
        }
    }
    if args.json {
        let point = |p: &Point| -> Value {
            match p {
                Point::Checkpoint(i) => {
                    let c = &store.checkpoints()[*i];
                    json!({"id": c.id, "time": format_rfc3339(c.time_ns), "time_ns": c.time_ns})
                }
                Point::Disk => json!("worktree"),
            }
        };
        writeln!(
            out,
            "{}",
            json!({ "from": point(&Point::Checkpoint(from)), "to": point(&to), "files": json_files })
        )?;
    } else if args.stat {
        for line in stat_lines(&stat_rows) {
            writeln!(out, "{line}")?;
        }
        writeln!(out, " {} file(s) changed", changes.len())?;
    }
    Ok(())
}
