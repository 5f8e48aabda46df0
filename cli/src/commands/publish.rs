//! `tl publish`: a state as a commit on a branch of the project's Git repository,
//! on request only.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tl_index::export_git::publish::{self, OnMoved, PublishOptions, PublishReport, Shape};
use tl_index::export_git::DEFAULT_AUTHOR;
use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_index::timespec::format_rfc3339;

use crate::batch_consent::Confirm;

/// Write a state onto a branch of the project's Git repository.
///
/// One commit holding the state at T (default: what the directory holds now,
/// captured first), or with --since one commit per checkpoint from T0 to T.
/// A new branch starts on HEAD's commit; a branch tl published to goes on
/// from where tl left it. HEAD, the index and the work tree are not touched
/// unless --checkout. A branch that moved since (someone committed to it) is
/// refused unless --force, which commits on top of it: nothing on it is lost.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl publish --branch wip\n  tl publish 10m --branch before-refactor -m \"before the refactor\"\n  \
                  tl publish --branch session --since 9:00\n  tl publish --branch session --since 9:00 --squash\n  \
                  git log --stat wip\n"
)]
pub struct PublishArgs {
    #[arg(value_name = "T", help = time_help!("The state to publish (default: now, captured first)."))]
    at: Option<String>,
    /// The branch to write (created if missing): NAME or refs/heads/NAME.
    #[arg(long, value_name = "NAME")]
    branch: String,
    #[arg(long, value_name = "T0", help = time_help!("One commit per checkpoint of T's line from T0 to T."))]
    since: Option<String>,
    /// With --since: one commit holding T's state instead of one per checkpoint.
    #[arg(long, requires = "since")]
    squash: bool,
    /// The commit message (default: tl's, naming the checkpoint and its message).
    #[arg(long, short = 'm', value_name = "MSG")]
    message: Option<String>,
    /// Author and committer (default: git config user.name and user.email, else
    /// "tl <tl@localhost>").
    #[arg(long, value_name = "\"Name <mail>\"")]
    author: Option<String>,
    /// Publish onto a branch that moved since tl last published to it (or that
    /// tl never wrote), as a commit on top of it.
    #[arg(long)]
    force: bool,
    /// Then make the branch current: for the present, HEAD and the index move
    /// to it and the files stay (refused with staged changes); for a past T,
    /// `git checkout NAME` (which keeps local changes or refuses).
    #[arg(long)]
    checkout: bool,
    /// Print the result as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

fn git_identity(root: &Path) -> Option<String> {
    let get = |key: &str| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["config", "--get", key])
            .output()
            .ok()?;
        let v = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !v.is_empty()).then_some(v)
    };
    Some(format!("{} <{}>", get("user.name")?, get("user.email")?))
}

/// The present as a checkpoint: through a running daemon, else a capture here.
fn capture_present(cwd: &Path) -> Result<()> {
    if crate::daemon::client::checkpoint(cwd, None)?.is_some() {
        return Ok(());
    }
    let mut store = crate::cli_util::open(cwd)?;
    let consent = Confirm::new(None, None);
    let out = store.checkpoint_guarded(CommitKind::Manual, None, &|_| {}, &consent)?;
    for w in &out.warnings {
        eprintln!("tl: warning: {w}");
    }
    Ok(())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `tl publish`.
pub fn cmd_publish(cwd: &Path, args: PublishArgs) -> Result<()> {
    if args.at.is_none() {
        capture_present(cwd)?;
    }
    let store = crate::cli_util::open_read(cwd)?;
    if store.checkpoints().is_empty() {
        bail!("there are no checkpoints to publish yet; run `tl checkpoint` first");
    }
    let at = match &args.at {
        Some(t) => store.resolve(t)?,
        None => store
            .catalog()?
            .timeline_head(store.current_timeline())
            .context("the current timeline has no state yet; run `tl checkpoint` first")?,
    };
    let since = args
        .since
        .as_deref()
        .map(|t| store.resolve(t))
        .transpose()?;
    let author = args
        .author
        .clone()
        .or_else(|| git_identity(store.root()))
        .unwrap_or_else(|| DEFAULT_AUTHOR.to_string());
    let opts = PublishOptions {
        branch: args.branch.clone(),
        at,
        since,
        shape: match (since, args.squash) {
            (Some(_), false) => Shape::PerCheckpoint,
            _ => Shape::OneCommit,
        },
        message: args.message.clone(),
        author,
        on_moved: if args.force {
            OnMoved::BuildOnTop
        } else {
            OnMoved::Refuse
        },
        now_s: now_s(),
    };
    let report = publish::publish(&store, &opts)?;
    let present = if args.at.is_none() {
        Present::Published
    } else {
        Present::NotPublished
    };
    let checked_out = args.checkout && checkout(&store, &report, present)?;
    if args.json {
        println!("{}", report_json(&report, checked_out));
        return Ok(());
    }
    print_report(&report, checked_out);
    Ok(())
}

fn git_in(store: &Store) -> std::process::Command {
    let mut c = std::process::Command::new("git");
    c.arg("-C").arg(store.root());
    c
}

/// Runs git, failing with what to do when it cannot run or says no.
fn run_git(store: &Store, args: &[&str], short: &str) -> Result<std::process::ExitStatus> {
    git_in(store).args(args).status().with_context(|| {
        format!(
            "{short} is written, but git could not run for --checkout; is it installed \
             (`apt-get install git`)?"
        )
    })
}

/// Makes the published branch the current one; true when done.
///
/// The present (no T): HEAD moves to the branch and the index to its tree,
/// while the files stay as they are (they are what was published), refused
/// when the index holds staged changes. A past state: `git checkout`, which
/// keeps local changes or refuses.
fn checkout(store: &Store, report: &PublishReport, present: Present) -> Result<bool> {
    let short = report.branch.trim_start_matches("refs/heads/");
    let tip = report.tip.as_deref().unwrap_or("?");
    match present {
        Present::Published => {
            let staged = run_git(store, &["diff", "--cached", "--quiet"], short)?;
            if !staged.success() {
                bail!(
                    "{short} is written ({tip}), but the index holds staged changes, so it was \
                     not checked out; commit or unstage them, then `git checkout {short}`"
                );
            }
            let head = run_git(
                store,
                &[
                    "symbolic-ref",
                    "-m",
                    "tl publish --checkout",
                    "HEAD",
                    &report.branch,
                ],
                short,
            )?;
            let reset = run_git(store, &["reset", "-q"], short)?;
            if !head.success() || !reset.success() {
                bail!(
                    "{short} is written ({tip}), but git could not make it current (see Git's \
                     message above); run `git checkout {short}`"
                );
            }
        }
        Present::NotPublished => {
            if !run_git(store, &["checkout", "-q", short], short)?.success() {
                bail!(
                    "{short} is written ({tip}), but `git checkout {short}` refused (see Git's \
                     message above); the branch stays as published"
                );
            }
        }
    }
    Ok(true)
}

/// Whether the state published is what the directory holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Present {
    Published,
    NotPublished,
}

fn report_json(r: &PublishReport, checked_out: bool) -> serde_json::Value {
    json!({
        "repo": r.repo.display().to_string(),
        "branch": r.branch,
        "old_tip": r.old_tip,
        "tip": r.tip,
        "base": r.base,
        "commits": r.commits.iter().map(|c| json!({
            "commit": c.commit,
            "checkpoint": c.checkpoint,
            "time": format_rfc3339(c.time_ns),
        })).collect::<Vec<_>>(),
        "objects_written": r.objects_written,
        "pack_bytes": r.pack_bytes,
        "left_out": super::export_git::left_out_json(&r.left_out),
        "up_to_date": r.commits.is_empty(),
        "checked_out": checked_out,
    })
}

fn print_report(r: &PublishReport, checked_out: bool) {
    for w in &r.left_out {
        eprintln!("tl: warning: {w}; Git would refuse it (the log keeps it)");
    }
    let short = r.branch.trim_start_matches("refs/heads/");
    let twelve = |s: &str| s[..12.min(s.len())].to_string();
    let Some(last) = r.commits.last() else {
        println!(
            "{short} already holds that state ({}); nothing to publish.",
            r.tip.as_deref().map(twelve).unwrap_or_default()
        );
        return;
    };
    let on = match (&r.old_tip, &r.base) {
        (Some(_), Some(b)) => format!("on top of its tip {}", twelve(b)),
        (None, Some(b)) => format!("new branch, on HEAD's commit {}", twelve(b)),
        (_, None) => "new branch, with no parent".to_string(),
    };
    println!(
        "Published {} commit(s) to {short} ({on}): {} holds checkpoint {}.",
        r.commits.len(),
        twelve(&last.commit),
        last.checkpoint
    );
    if checked_out {
        println!("Checked out {short}.");
    } else {
        println!(
            "HEAD, the index and your files are as they were; see it with `git log --stat {short}`."
        );
    }
}
