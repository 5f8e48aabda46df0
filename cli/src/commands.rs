//! One function per command. Each opens the store, calls the library and prints.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tl_index::record::CommitKind;
use tl_index::scan::Change;
use tl_index::store::{find_root, Store, StoreError};
use tl_index::types::{Entry, Mode, Tree};

use crate::output::{checkpoint_json, checkpoint_line, path as show_path, touches, under};
use crate::{Cli, Command};

mod export_git;
mod fsck;
mod init;
mod lock_wait;
mod replay;
mod watch;

pub use lock_wait::StillLocked;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let cwd = match &cli.dir {
        Some(d) => {
            let c = std::fs::canonicalize(d)
                .with_context(|| format!("cannot use -C {}", d.display()))?;
            if !c.is_dir() {
                bail!("-C {} is not a directory", d.display());
            }
            c
        }
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if !matches!(cli.command, Command::Init { .. }) {
        if let Ok(root) = find_root(&cwd) {
            init::warn_if_git_tracks_tl(&root);
        }
    }
    match cli.command {
        Command::Init { directory } => init::init(&directory.map(|d| cwd.join(d)).unwrap_or(cwd)),
        Command::Checkpoint { message, json } => checkpoint(&cwd, message, json),
        Command::Status { json } => status(&cwd, json),
        Command::Log {
            json,
            since,
            until,
            path,
        } => log(&cwd, json, since, until, path),
        Command::Diff {
            a,
            b,
            stat,
            json,
            paths,
        } => diff(&cwd, &a, b.as_deref(), stat, json, &paths),
        Command::Show { path, at } => show(&cwd, &path, &at),
        Command::Replay {
            to,
            into,
            dry_run,
            json,
        } => replay::replay(&cwd, &to, into.map(|d| cwd.join(d)), dry_run, json),
        Command::Restore { paths, at, dry_run } => replay::restore(&cwd, &paths, &at, dry_run),
        Command::Pin { name, at } => pin(&cwd, &name, at.as_deref()),
        Command::Pins { json } => pins(&cwd, json),
        Command::Compact => compact(&cwd),
        Command::Recover { rebuild, dry_run } => fsck::recover(&cwd, rebuild, dry_run),
        Command::Fsck { deep, json } => fsck::fsck(&cwd, deep, json),
        Command::Watch { timing, daemon } => watch::watch(&cwd, timing, daemon),
        Command::Daemon { action } => watch::daemon(&cwd, action),
        Command::ExportGit {
            repo,
            ref_name,
            since,
            until,
            every,
            author,
            json,
        } => export_git::export_git(
            &cwd,
            export_git::Args {
                repo,
                ref_name,
                since,
                until,
                every,
                author,
                json,
            },
        ),
    }
}

/// A store opened for writing, with the pause of a running watcher that lent it
/// the log, if one did. The store (and its lock) is dropped before the lease, so
/// the watcher finds the log free when it takes it back.
pub struct Writer {
    // Field order is drop order: the store first.
    store: Store,
    _lease: Option<crate::daemon::client::Lease>,
}

impl std::ops::Deref for Writer {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// Opens the store of the project containing `cwd` for writing (see
/// [`open_writer_at`]).
pub fn open(cwd: &Path) -> Result<Writer> {
    let root = find_root(cwd)?;
    let store = open_writer_at(&root)?;
    report_recovery(&store);
    Ok(store)
}

/// Opens the store at `root` for writing. When the log is locked and a watcher
/// (`tl watch`, `tl daemon`) holds it, the watcher is paused: it captures what is
/// pending and lends the log until the returned [`Writer`] is dropped, then
/// captures what happened meanwhile. When another command holds it, this waits
/// for it (see [`lock_wait`]), saying for whom after a moment, and gives up with
/// [`lock_wait::StillLocked`] after the timeout.
pub fn open_writer_at(root: &Path) -> Result<Writer> {
    let start = Instant::now();
    let limit = lock_wait::timeout();
    let mut lease: Option<crate::daemon::client::Lease> = None;
    let mut announced = false;
    let mut next_pause = start;
    loop {
        let (lock, holder) = match Store::open(root) {
            Ok(store) => {
                return Ok(Writer {
                    store,
                    _lease: lease,
                })
            }
            Err(StoreError::Open(tl_wal::OpenError::Locked { lock, holder })) => (lock, holder),
            Err(e) => return Err(e.into()),
        };
        // The watcher holds it (or the holder is unknown): ask it to lend the log.
        // While it is paused for another command, that command is the holder.
        let watcher = crate::daemon::live_pid(root);
        let by_watcher = holder.is_none() || (watcher.is_some() && holder == watcher);
        if lease.is_none() && by_watcher && Instant::now() >= next_pause {
            next_pause = Instant::now() + Duration::from_millis(500);
            match crate::daemon::client::pause(root) {
                Ok(Some(l)) => {
                    lease = Some(l);
                    continue;
                }
                Ok(None) => {}
                // Paused for another command already: wait for it like any holder.
                Err(e) if crate::one_line(&e).contains("retry") => {}
                Err(e) => return Err(e),
            }
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(lock_wait::StillLocked {
                lock,
                holder: lock_wait::holder(holder),
                waited,
            }
            .into());
        }
        if !announced && waited >= lock_wait::ANNOUNCE_AFTER {
            announced = true;
            eprintln!(
                "tl: waiting for the lock held by {}...",
                lock_wait::holder(holder)
            );
        }
        std::thread::sleep(lock_wait::RETRY_EVERY.min(limit - waited));
    }
}

/// Opens the store read-only (no lock: works beside a running writer).
pub fn open_read(cwd: &Path) -> Result<Store> {
    let root = find_root(cwd)?;
    let store = Store::open_read_only(&root)?;
    report_recovery(&store);
    Ok(store)
}

fn report_recovery(store: &Store) {
    if let Some(r) = store.recovery() {
        if let Some(t) = &r.torn_tail {
            eprintln!(
                "tl: recovered the log after an unclean stop: {} bytes of an unfinished write \
                 at LSN {} were moved to {}",
                t.bytes, t.lsn, t.quarantined_as
            );
        }
        if !r.corruption.is_empty() {
            eprintln!(
                "tl: the log has {} damaged place(s) (first at LSN {}); `tl fsck` names them, \
                 `tl recover` reports what was lost",
                r.corruption.len(),
                r.corruption[0].lsn
            );
        }
    }
    if let Some((lsn, what)) = store.damage().first() {
        eprintln!(
            "tl: the log is damaged at LSN {lsn} ({what}); showing what is intact. `tl fsck` \
             names the damage, `tl recover` reports what was lost"
        );
    }
}

/// A path argument as stored: relative to the root, `/`-separated.
pub fn rel_path(store: &Store, cwd: &Path, p: &Path) -> Result<Vec<u8>> {
    let abs = cwd.join(p);
    let abs = normalize(&abs);
    let rel = abs.strip_prefix(store.root()).with_context(|| {
        format!(
            "{} is outside the project {}",
            p.display(),
            store.root().display()
        )
    })?;
    Ok(rel.as_os_str().as_bytes().to_vec())
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn checkpoint(cwd: &Path, message: Option<String>, json: bool) -> Result<()> {
    if crate::daemon::client::checkpoint(cwd, message.as_deref(), json)? {
        return Ok(());
    }
    let mut store = open(cwd)?;
    let bar = crate::output::capture_progress(store.checkpoints().is_empty());
    let out = store.checkpoint_with_progress(CommitKind::Manual, message, &|bytes| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in &out.warnings {
        eprintln!("tl: warning: {}", w.message);
    }
    let c = &out.checkpoint;
    if json {
        let mut v = checkpoint_json(c);
        v["no_changes"] = json!(c.changes.is_empty());
        v["warnings"] = json!(out
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect::<Vec<_>>());
        println!("{v}");
    } else if c.changes.is_empty() {
        println!("{} (no changes)", c.id);
    } else {
        println!(
            "{}  +{} ~{} -{}  {} new bytes stored",
            c.id, c.stats.added, c.stats.modified, c.stats.deleted, c.stats.bytes_new
        );
    }
    Ok(())
}

fn status(cwd: &Path, json: bool) -> Result<()> {
    crate::daemon::client::flush(cwd);
    let store = open_read(cwd)?;
    let (changes, warnings) = store.status()?;
    for w in &warnings {
        eprintln!("tl: warning: {}", w.message);
    }
    if json {
        let list: Vec<_> = changes
            .iter()
            .map(|c| {
                let (s, p) = letter(c);
                json!({"status": s.to_string(), "path": show_path(p)})
            })
            .collect();
        println!(
            "{}",
            json!({ "changes": list, "clean": changes.is_empty() })
        );
        return Ok(());
    }
    if changes.is_empty() {
        match store.checkpoints().last() {
            Some(c) => println!("No changes since checkpoint {}.", c.id),
            None => println!("No checkpoints yet; run `tl checkpoint`."),
        }
    }
    let mut out = std::io::stdout().lock();
    for c in &changes {
        let (s, p) = letter(c);
        writeln!(out, "{s} {}", show_path(p))?;
    }
    Ok(())
}

fn letter(c: &Change) -> (char, &[u8]) {
    match c {
        Change::Added(p, _) => ('A', p),
        Change::Modified(p, _, _) => ('M', p),
        Change::Deleted(p, _) => ('D', p),
    }
}

fn log(
    cwd: &Path,
    json: bool,
    since: Option<String>,
    until: Option<String>,
    path: Option<PathBuf>,
) -> Result<()> {
    crate::daemon::client::flush(cwd);
    let store = open_read(cwd)?;
    let cps = store.checkpoints();
    let time_of = |t: &str| -> Result<i64> {
        let idx = store.resolve(t)?;
        Ok(cps[idx].time_ns)
    };
    let since_ns = since
        .as_deref()
        .map(|t| time_bound(t, &time_of))
        .transpose()?;
    let until_ns = until
        .as_deref()
        .map(|t| time_bound(t, &time_of))
        .transpose()?;
    let prefix = path
        .as_ref()
        .map(|p| rel_path(&store, cwd, p))
        .transpose()?;
    let selected: Vec<_> = cps
        .iter()
        .rev()
        .filter(|c| since_ns.is_none_or(|s| c.time_ns >= s))
        .filter(|c| until_ns.is_none_or(|u| c.time_ns <= u))
        .filter(|c| prefix.as_ref().is_none_or(|p| touches(c, p)))
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<_> = selected.iter().map(|c| checkpoint_json(c)).collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    if selected.is_empty() {
        writeln!(
            out,
            "No checkpoints{}.",
            if cps.is_empty() { " yet" } else { " match" }
        )?;
    }
    for c in selected {
        writeln!(out, "{}", checkpoint_line(c))?;
    }
    for (from, to, reason) in &store.catalog().gaps {
        writeln!(
            out,
            "gap  {} .. {}  events may be missing: {reason}",
            tl_index::timespec::format_local(*from),
            tl_index::timespec::format_local(*to)
        )?;
    }
    Ok(())
}

/// A time bound for --since/--until: a time expression taken as an instant when it
/// is one, else the time of the checkpoint it names.
fn time_bound(t: &str, time_of: &dyn Fn(&str) -> Result<i64>) -> Result<i64> {
    match tl_index::timespec::parse(t, &jiff::Zoned::now()) {
        Ok(tl_index::timespec::TimeExpr::Instant(ns)) => Ok(ns),
        Ok(_) => time_of(t),
        Err(e) => bail!("{e}"),
    }
}

fn diff(
    cwd: &Path,
    a: &str,
    b: Option<&str>,
    stat: bool,
    json: bool,
    paths: &[PathBuf],
) -> Result<()> {
    let store = open_read(cwd)?;
    let old = store.tree_at(store.resolve(a)?)?;
    let new = match b {
        Some(b) => Side::Stored(store.tree_at(store.resolve(b)?)?),
        None => Side::Disk(store.scan_worktree()?),
    };
    let prefixes: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| rel_path(&store, cwd, p))
        .collect::<Result<_>>()?;
    let keep = |p: &[u8]| prefixes.is_empty() || prefixes.iter().any(|x| under(p, x));
    let new_tree = match &new {
        Side::Stored(t) | Side::Disk(t) => t,
    };
    let changes: Vec<Change> = tl_index::scan::diff_trees(&old, new_tree)
        .into_iter()
        .filter(|c| keep(c.path()))
        .collect();
    let content = |e: &Entry, disk: bool, p: &[u8]| -> Result<Vec<u8>> {
        if disk && e.mode != Mode::Symlink {
            let full = store.root().join(std::ffi::OsStr::from_bytes(p));
            return std::fs::read(&full).with_context(|| format!("cannot read {}", full.display()));
        }
        Ok(store.blob_bytes(&e.hash)?)
    };
    let disk = matches!(new, Side::Disk(_));
    let mut out = std::io::stdout().lock();
    let mut json_files = Vec::new();
    for c in &changes {
        let (s, p) = letter(c);
        let (before, after) = match c {
            Change::Added(_, e) => (Vec::new(), content(e, disk, p)?),
            Change::Modified(_, o, e) => (store.blob_bytes(&o.hash)?, content(e, disk, p)?),
            Change::Deleted(_, o) => (store.blob_bytes(&o.hash)?, Vec::new()),
        };
        let name = show_path(p);
        let text = std::str::from_utf8(&before)
            .ok()
            .zip(std::str::from_utf8(&after).ok());
        let (ins, del) = match text {
            Some((x, y)) => {
                let d = similar::TextDiff::from_lines(x, y);
                let ins = d
                    .iter_all_changes()
                    .filter(|c| c.tag() == similar::ChangeTag::Insert)
                    .count();
                let del = d
                    .iter_all_changes()
                    .filter(|c| c.tag() == similar::ChangeTag::Delete)
                    .count();
                (ins, del)
            }
            None => (0, 0),
        };
        if json {
            json_files.push(
                json!({"status": s.to_string(), "path": name, "binary": text.is_none(),
                                   "insertions": ins, "deletions": del}),
            );
            continue;
        }
        if stat {
            if text.is_some() {
                writeln!(out, " {name} | +{ins} -{del}")?;
            } else {
                writeln!(out, " {name} | binary")?;
            }
            continue;
        }
        match text {
            Some((x, y)) => {
                let d = similar::TextDiff::from_lines(x, y);
                let old_name = if matches!(c, Change::Added(..)) {
                    "/dev/null".to_string()
                } else {
                    format!("a/{name}")
                };
                let new_name = if matches!(c, Change::Deleted(..)) {
                    "/dev/null".to_string()
                } else {
                    format!("b/{name}")
                };
                write!(
                    out,
                    "{}",
                    d.unified_diff()
                        .context_radius(3)
                        .header(&old_name, &new_name)
                )?;
            }
            None => writeln!(out, "Binary files a/{name} and b/{name} differ")?,
        }
    }
    if json {
        writeln!(out, "{}", json!({ "files": json_files }))?;
    } else if stat {
        writeln!(out, " {} file(s) changed", changes.len())?;
    }
    Ok(())
}

enum Side {
    Stored(Tree),
    Disk(Tree),
}

fn show(cwd: &Path, path: &Path, at: &str) -> Result<()> {
    let store = open_read(cwd)?;
    let idx = store.resolve(at)?;
    let rel = rel_path(&store, cwd, path)?;
    let tree = store.tree_at(idx)?;
    let cp = &store.checkpoints()[idx];
    let Some(entry) = tree.get(&rel) else {
        bail!(
            "{} did not exist at checkpoint {} ({}); `tl log {}` lists when it changed",
            show_path(&rel),
            cp.id,
            tl_index::timespec::format_local(cp.time_ns),
            path.display()
        );
    };
    let mut out = std::io::stdout().lock();
    store.read_blob(&entry.hash, &mut out)?;
    out.flush()?;
    Ok(())
}

fn pin(cwd: &Path, name: &str, at: Option<&str>) -> Result<()> {
    let mut store = open(cwd)?;
    let idx = match at {
        Some(t) => store.resolve(t)?,
        None => match store.checkpoints().len() {
            0 => bail!("there are no checkpoints to pin yet; run `tl checkpoint` first"),
            n => n - 1,
        },
    };
    store.pin(name, idx)?;
    let c = &store.checkpoints()[idx];
    println!(
        "Pinned {name} -> {} ({})",
        c.id,
        tl_index::timespec::format_local(c.time_ns)
    );
    Ok(())
}

fn pins(cwd: &Path, json: bool) -> Result<()> {
    let store = open_read(cwd)?;
    let cat = store.catalog();
    let mut out = std::io::stdout().lock();
    let rows: Vec<_> = cat
        .pins
        .iter()
        .map(|(name, pin)| {
            let cp = cat
                .checkpoint_at_lsn(pin.target_lsn)
                .map(|i| &cat.checkpoints[i]);
            (name, cp)
        })
        .collect();
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(name, cp)| {
                json!({"name": name, "id": cp.map(|c| c.id.clone()),
                       "time": cp.map(|c| tl_index::timespec::format_local(c.time_ns))})
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "No pins yet; `tl pin NAME` names the last checkpoint.")?;
    }
    for (name, cp) in rows {
        match cp {
            Some(c) => writeln!(
                out,
                "{name}  {}  {}",
                c.id,
                tl_index::timespec::format_local(c.time_ns)
            )?,
            None => writeln!(out, "{name}  (its checkpoint is gone)")?,
        }
    }
    Ok(())
}

fn compact(cwd: &Path) -> Result<()> {
    let mut store = open(cwd)?;
    let path = store.compact()?;
    println!("Wrote snapshot {}", path.display());
    Ok(())
}
