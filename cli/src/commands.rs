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

use crate::command_error::CommandError;
use crate::output::{checkpoint_json, path as show_path};
use crate::{Cli, Command};

mod diff;
mod export_git;
mod fsck;
mod init;
mod lock_wait;
mod log;
mod ls;
mod replay;
mod watch;

pub use lock_wait::StillLocked;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let cwd = match &cli.dir {
        Some(d) => {
            let c = std::fs::canonicalize(d)
                .map_err(|e| CommandError::usage(format!("cannot use -C {}: {e}", d.display())))?;
            if !c.is_dir() {
                return Err(
                    CommandError::usage(format!("-C {} is not a directory", d.display())).into(),
                );
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
            max_count,
            stat,
            name_status,
            path,
        } => log::log(
            &cwd,
            log::Args {
                json,
                since,
                until,
                path,
                max_count,
                detail: match (stat, name_status) {
                    (true, _) => log::Detail::Stat,
                    (_, true) => log::Detail::NameStatus,
                    _ => log::Detail::Counts,
                },
            },
        ),
        Command::Diff {
            a,
            rest,
            stat,
            json,
            paths,
        } => diff::diff(
            &cwd,
            diff::Args {
                a,
                rest,
                paths,
                stat,
                json,
            },
        ),
        Command::Show { path, at } => ls::show(&cwd, &path, &at),
        Command::Ls { at, path, json } => ls::ls(&cwd, at.as_deref(), path.as_deref(), json),
        Command::Replay {
            to,
            into,
            dry_run,
            json,
        } => replay::replay(&cwd, &to, into.map(|d| cwd.join(d)), dry_run, json),
        Command::Restore {
            paths,
            at,
            dry_run,
            json,
        } => replay::restore(&cwd, &paths, &at, dry_run, json),
        Command::Pin {
            name,
            at,
            force,
            delete,
        } => pin(&cwd, &name, at.as_deref(), PinAction::new(force, delete)),
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
                Err(e) if crate::command_error::is_busy(&e) => {}
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

/// Tells the user when opening took group/other permissions off `.tl/` (a store
/// made before `.tl/` was owner-only).
pub fn report_tightened(store: &Store) {
    let tightened = store.tightened();
    if let Some(first) = tightened.first() {
        eprintln!(
            "tl: note: {} was readable by other users; made it owner-only ({} entries: \
             directories 0700, files without group/other bits), since history holds \
             copies of private files",
            first.display(),
            tightened.len()
        );
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
    report_tightened(store);
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
    let Ok(rel) = abs.strip_prefix(store.root()) else {
        return Err(CommandError::usage(format!(
            "{} is outside the project {}",
            p.display(),
            store.root().display()
        ))
        .with_hint("give a path inside it")
        .into());
    };
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
        eprintln!("tl: warning: {w}");
    }
    let c = &out.checkpoint;
    if json {
        let mut v = checkpoint_json(c);
        v["no_changes"] = json!(c.changes.is_empty());
        v["warnings"] = json!(out
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>());
        println!("{v}");
    } else {
        println!("{}", crate::output::checkpoint_done(c));
    }
    Ok(())
}

fn status(cwd: &Path, json: bool) -> Result<()> {
    let watcher = watcher_state(cwd);
    let store = open_read(cwd)?;
    let (changes, warnings) = store.status()?;
    for w in &warnings {
        eprintln!("tl: warning: {w}");
    }
    let last = store.checkpoints().last();
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
            json!({
                "changes": list,
                "clean": changes.is_empty(),
                "checkpoint": last.map(|c| c.id.clone()),
                "checkpoint_time": last.map(|c| tl_index::timespec::format_rfc3339(c.time_ns)),
                "capturing": watcher.is_some(),
                "last_capture": watcher.and_then(|w| w.last_capture_ns).map(tl_index::timespec::format_rfc3339),
            })
        );
        return Ok(());
    }
    let now = crate::output::now_ns();
    match (&watcher, last) {
        (_, None) => println!("No checkpoints yet; run `tl checkpoint`."),
        (Some(w), Some(c)) => println!(
            "A watcher is capturing changes (last capture {}). {} since checkpoint {} ({}){}",
            w.last_capture_ns
                .map(|t| crate::output::ago(t, now))
                .unwrap_or_else(|| "not yet".into()),
            if changes.is_empty() {
                "No changes"
            } else {
                "Changes not captured yet"
            },
            c.id,
            crate::output::ago(c.time_ns, now),
            if changes.is_empty() { "." } else { ":" }
        ),
        (None, Some(c)) if changes.is_empty() => println!(
            "No changes since checkpoint {} ({}). Nothing is capturing changes: `tl daemon \
             start` captures each one, `tl checkpoint` records the present once.",
            c.id,
            crate::output::ago(c.time_ns, now)
        ),
        (None, Some(c)) => println!(
            "Changes since checkpoint {} ({}), not captured (nothing is capturing changes; \
             `tl checkpoint` records them, `tl daemon start` captures each one):",
            c.id,
            crate::output::ago(c.time_ns, now)
        ),
    }
    let mut out = std::io::stdout().lock();
    for c in &changes {
        let (s, p) = letter(c);
        writeln!(out, "{s} {}", show_path(p))?;
    }
    Ok(())
}

/// A running watcher, as `tl status` reports it.
struct WatcherState {
    /// When it last captured (ns since the epoch), if it has.
    last_capture_ns: Option<i64>,
}

/// Asks a running watcher to capture what is pending, then for its state; None
/// when none runs.
fn watcher_state(cwd: &Path) -> Option<WatcherState> {
    crate::daemon::client::flush(cwd);
    let root = find_root(cwd).ok()?;
    let req = json!({"op": "status"});
    let v = crate::daemon::client::request(&root, &req, Duration::from_secs(10))
        .ok()
        .flatten()?;
    let last_capture_ns = v["last_capture_ns"].as_i64();
    Some(WatcherState { last_capture_ns })
}

fn letter(c: &Change) -> (char, &[u8]) {
    match c {
        Change::Added(p, _) => ('A', p),
        Change::Modified(p, _, _) => ('M', p),
        Change::Deleted(p, _) => ('D', p),
    }
}

/// What `tl pin` does with the name.
enum PinAction {
    /// Name a checkpoint; refuse a name pinned elsewhere.
    Create,
    /// Name a checkpoint, moving the pin if needed (--force).
    Move,
    /// Delete the pin (--delete).
    Delete,
}

impl PinAction {
    fn new(force: bool, delete: bool) -> PinAction {
        match (force, delete) {
            (_, true) => PinAction::Delete,
            (true, false) => PinAction::Move,
            (false, false) => PinAction::Create,
        }
    }
}

fn pin(cwd: &Path, name: &str, at: Option<&str>, action: PinAction) -> Result<()> {
    if !matches!(action, PinAction::Delete) {
        if let Some(problem) = Store::pin_name_problem(name) {
            return Err(CommandError::usage(problem).into());
        }
    }
    let mut store = open(cwd)?;
    if matches!(action, PinAction::Delete) {
        store.unpin(name)?;
        println!("Deleted pin {name}");
        return Ok(());
    }
    let idx = match at {
        Some(t) => store.resolve(t)?,
        None => match store.checkpoints().len() {
            0 => bail!("there are no checkpoints to pin yet; run `tl checkpoint` first"),
            n => n - 1,
        },
    };
    let before = store.catalog().pins.get(name).map(|p| p.target_lsn);
    match action {
        PinAction::Move => store.move_pin(name, idx)?,
        _ => store.pin(name, idx)?,
    }
    let c = &store.checkpoints()[idx];
    let verb = match before {
        Some(lsn) if lsn == c.lsn => "Already pinned",
        Some(_) => "Moved pin",
        None => "Pinned",
    };
    println!(
        "{verb} {name} -> {} ({})",
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
                       "time": cp.map(|c| tl_index::timespec::format_rfc3339(c.time_ns)),
                       "time_ns": cp.map(|c| c.time_ns)})
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "No pins yet; `tl pin NAME` names the last checkpoint.")?;
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, cp) in rows {
        match cp {
            Some(c) => writeln!(
                out,
                "{name:<width$}  {}  {}",
                c.id,
                tl_index::timespec::format_local(c.time_ns)
            )?,
            None => writeln!(out, "{name:<width$}  (its checkpoint is gone)")?,
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
