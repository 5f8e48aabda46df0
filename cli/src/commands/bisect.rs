//! `tl bisect`: find the first bad state by running a command on every
//! captured state between a good and a bad one (a binary search, as `git
//! bisect run`), in a scratch copy outside the project.
//!
//! Each step writes only what differs from the previous step's tree into the
//! copy (`restore::materialize_scratch`), then runs the command with its
//! working directory at the copy's counterpart of the directory bisect was run
//! from. The project's files are never touched and nothing is recorded.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::json;
use tl_index::bisect::{Search, Verdict};
use tl_index::catalog::{Checkpoint, CheckpointIndex};
use tl_index::scan::Change;
use tl_index::store::Store;
use tl_index::textdiff::TextPair;
use tl_index::timespec::{format_local, format_rfc3339};
use tl_index::Tree;

use crate::cli_util::open_read;
use crate::command_error::CommandError;
use crate::output::{checkpoint_json, path as show_path};

/// Find the first bad state between a good and a bad one.
///
/// Every captured state between them is a candidate (not only checkpoints you
/// made): those of the bad state's timeline. CMD runs in a scratch copy
/// outside the project, from the copy's counterpart of the current directory;
/// exit 0 means good, 125 skip (untestable), anything else (a crash too) bad,
/// as with `git bisect run`. Your working directory is not touched.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl bisect --good 1h --bad now -- cargo test -q parser\n  \
                  tl bisect --good release-1 --bad now --json -- sh -c 'make && ./check'\n"
)]
pub struct BisectArgs {
    #[arg(long, value_name = "T", help = time_help!("A state known good."))]
    good: String,
    #[arg(long, value_name = "T", help = time_help!("A state known bad (later than --good)."))]
    bad: String,
    /// Print the result as one JSON object (see JSON.md); the command's own
    /// output goes to stderr.
    #[arg(long)]
    json: bool,
    /// Keep the scratch copy (its path is printed) instead of removing it.
    #[arg(long)]
    keep: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

/// One step: a state tested and what it was.
struct Step {
    state: CheckpointIndex,
    verdict: Verdict,
    code: String,
}

/// Runs the search.
pub fn cmd_bisect(cwd: &Path, args: BisectArgs) -> Result<()> {
    let store = open_read(cwd)?;
    let good = store.resolve(&args.good)?;
    let bad = store.resolve(&args.bad)?;
    if good >= bad {
        return Err(CommandError::usage(format!(
            "--good {} ({}) is not before --bad {} ({})",
            args.good,
            store.checkpoints()[good].id,
            args.bad,
            store.checkpoints()[bad].id
        ))
        .with_hint("give the older, good state to --good and the newer, bad one to --bad")
        .into());
    }
    let states = candidates(&store, good, bad)?;
    let rel = cwd
        .strip_prefix(store.root())
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let scratch = tempfile::Builder::new()
        .prefix("tl-bisect-")
        .tempdir_in(std::env::temp_dir())
        .context("cannot make the scratch directory for bisect")?;
    if scratch.path().starts_with(store.root()) {
        return Err(CommandError::usage(format!(
            "the scratch directory {} would be inside the project",
            scratch.path().display()
        ))
        .with_hint("set TMPDIR to a directory outside the project")
        .into());
    }
    let copy = scratch.path().join("tree");
    eprintln!(
        "tl: bisecting {} states between {} (good) and {} (bad) in {}",
        states.len().saturating_sub(2),
        store.checkpoints()[good].id,
        store.checkpoints()[bad].id,
        copy.display()
    );
    let mut search = Search::new(states.len());
    let mut steps: Vec<Step> = Vec::new();
    let mut written = Tree::new();
    while let Some(pos) = search.next() {
        let idx = states[pos];
        let tree = store.tree_at(idx)?;
        tl_index::restore::materialize_scratch(&store, &tree, &copy, &written).with_context(
            || {
                format!(
                    "cannot write state {} into {}",
                    store.checkpoints()[idx].id,
                    copy.display()
                )
            },
        )?;
        written = tree;
        let dir = copy.join(&rel);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot make {} in the scratch copy", dir.display()))?;
        let (verdict, code) = run_step(&args.cmd, &dir)?;
        let c = &store.checkpoints()[idx];
        eprintln!(
            "tl: step {}: {} ({}): {} ({code})",
            steps.len() + 1,
            c.id,
            format_local(c.time_ns),
            word(verdict)
        );
        search.record(pos, verdict);
        steps.push(Step {
            state: idx,
            verdict,
            code,
        });
    }
    let found = search.found();
    let first_bad = &store.checkpoints()[states[found.first_bad]];
    let last_good = &store.checkpoints()[states[found.last_good]];
    let untested: Vec<&Checkpoint> = found
        .untested
        .iter()
        .map(|&p| &store.checkpoints()[states[p]])
        .collect();
    if args.keep {
        let kept = scratch.keep();
        eprintln!(
            "tl: the scratch copy stays in {}",
            kept.join("tree").display()
        );
    }
    let old = store.tree_at(states[found.last_good])?;
    let new = store.tree_at(states[found.first_bad])?;
    let changes = tl_index::scan::diff_trees(&old, &new);
    if args.json {
        let v = json!({
            "first_bad": checkpoint_json(first_bad),
            "last_good": checkpoint_json(last_good),
            "untested": untested.iter().map(|c| checkpoint_json(c)).collect::<Vec<_>>(),
            "candidates": states.len().saturating_sub(2),
            "steps": steps.iter().map(|s| {
                let c = &store.checkpoints()[s.state];
                json!({"id": c.id, "time": format_rfc3339(c.time_ns), "verdict": word(s.verdict), "exit": s.code})
            }).collect::<Vec<_>>(),
            "changes": changes.iter().map(|c| json!({"status": letter(c), "path": show_path(c.path().as_bytes())})).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    if untested.is_empty() {
        writeln!(out, "First bad state: {}", describe(first_bad))?;
    } else {
        writeln!(
            out,
            "The first bad state is one of {} (skipped) and {}",
            untested
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            describe(first_bad)
        )?;
    }
    writeln!(out, "Last good state: {}", describe(last_good))?;
    writeln!(
        out,
        "{} step(s). What changed from the last good state:",
        steps.len()
    )?;
    print_diff(&mut out, &store, &changes)?;
    Ok(())
}

/// The states to search: those of the bad state's timeline line strictly
/// after `good` up to `bad`, with `good` first.
fn candidates(
    store: &Store,
    good: CheckpointIndex,
    bad: CheckpointIndex,
) -> Result<Vec<CheckpointIndex>> {
    let catalog = store.catalog()?;
    let line = catalog.lineage(store.checkpoints()[bad].timeline);
    let mut states = vec![good];
    states.extend(line.into_iter().filter(|&i| i > good && i <= bad));
    if states.last() != Some(&bad) {
        states.push(bad);
    }
    Ok(states)
}

/// Runs the user's command in `dir`; its output goes to stderr.
fn run_step(cmd: &[String], dir: &Path) -> Result<(Verdict, String)> {
    let stderr = std::io::stderr()
        .as_fd_owned()
        .context("cannot pass stderr to the command")?;
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(stderr)
        .status()
        .map_err(|e| {
            CommandError::usage(format!("cannot run {}: {e}", cmd[0])).with_hint(
                "give the command after `--`, e.g. `tl bisect --good 1h --bad now -- make test`",
            )
        })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(0), _) => (Verdict::Good, "exit 0".into()),
        (Some(125), _) => (Verdict::Skip, "exit 125".into()),
        (Some(c), _) => (Verdict::Bad, format!("exit {c}")),
        (None, Some(s)) => (Verdict::Bad, format!("killed by signal {s}")),
        (None, None) => (Verdict::Bad, "no exit status".into()),
    })
}

trait AsFdOwned {
    fn as_fd_owned(&self) -> std::io::Result<std::os::fd::OwnedFd>;
}

impl AsFdOwned for std::io::Stderr {
    fn as_fd_owned(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned()
    }
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Good => "good",
        Verdict::Bad => "bad",
        Verdict::Skip => "skip",
    }
}

fn letter(c: &Change) -> &'static str {
    match c {
        Change::Added(..) => "A",
        Change::Modified(..) => "M",
        Change::Deleted(..) => "D",
    }
}

fn describe(c: &Checkpoint) -> String {
    format!(
        "{} ({}, {}{})",
        c.id,
        format_local(c.time_ns),
        c.kind.as_str(),
        c.message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    )
}

/// The unified diff of `changes` (binary files and files over 1 MiB named only).
fn print_diff(out: &mut impl Write, store: &Store, changes: &[Change]) -> Result<()> {
    const SHOWN_MAX: u64 = 1 << 20;
    for c in changes {
        let (old_e, new_e) = match c {
            Change::Added(_, e) => (None, Some(*e)),
            Change::Modified(_, o, e) => (Some(*o), Some(*e)),
            Change::Deleted(_, o) => (Some(*o), None),
        };
        let name = show_path(c.path().as_bytes());
        writeln!(out, "{} {name}", letter(c))?;
        let big = [old_e, new_e].iter().flatten().any(|e| e.size > SHOWN_MAX);
        if big {
            continue;
        }
        let read = |e: Option<tl_index::Entry>| -> Result<Vec<u8>> {
            Ok(match e {
                Some(e) => store.blob_bytes(&e.hash)?,
                None => Vec::new(),
            })
        };
        let (before, after) = (read(old_e)?, read(new_e)?);
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
        match TextPair::new(&before, &after) {
            Some(t) => write!(out, "{}", t.unified(&old_name, &new_name))?,
            None => writeln!(out, "Binary files {old_name} and {new_name} differ")?,
        }
    }
    Ok(())
}
