//! `tl pin` and `tl pins`: names for points in history.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;
use tl_index::store::Store;

use crate::cli_util::{open, open_read};
use crate::command_error::CommandError;

/// Name a point in history (default: the last checkpoint).
///
/// A name that reads as a time (10m, now) or could be a checkpoint id (4 or
/// more hex digits) is refused. An existing pin moves only with --force.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl pin release-1\n  tl pin before-merge 2h\n  \
                  tl pin --force release-1\n  tl pin --delete release-1\n"
)]
pub struct PinArgs {
    /// The pin's name: letters, digits, '.', '_' and '-' (e.g. release-1).
    name: String,
    #[arg(
        conflicts_with = "delete",
        value_name = "T",
        help = time_help!("The point to name (default: the last checkpoint).")
    )]
    at: Option<String>,
    /// Move the pin if the name already names another checkpoint.
    #[arg(long, conflicts_with = "delete")]
    force: bool,
    /// Delete the pin of that name (its checkpoint stays).
    #[arg(long)]
    delete: bool,
}

/// List pins.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl pins\n  tl pins --json\n")]
pub struct PinsArgs {
    /// Print the pins as a JSON array (see JSON.md).
    #[arg(long)]
    json: bool,
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

/// Names, moves or deletes a pin.
pub fn cmd_pin(cwd: &Path, args: PinArgs) -> Result<()> {
    let action = PinAction::new(args.force, args.delete);
    let (name, at) = (args.name.as_str(), args.at.as_deref());
    if !matches!(action, PinAction::Delete) {
        if let Some(problem) = Store::pin_name_problem(name) {
            return Err(CommandError::usage_from(&problem).into());
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
        None => match store.last_index() {
            None => bail!("there are no checkpoints to pin yet; run `tl checkpoint` first"),
            Some(last) => last,
        },
    };
    let before = store.catalog()?.pins().get(name).map(|p| p.target_lsn);
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

/// Lists the pins with their checkpoints.
pub fn cmd_pins(cwd: &Path, args: PinsArgs) -> Result<()> {
    let json = args.json;
    let store = open_read(cwd)?;
    let cat = store.catalog()?;
    let mut out = std::io::stdout().lock();
    let rows: Vec<_> = cat
        .pins()
        .iter()
        .map(|(name, pin)| {
            let cp = cat
                .checkpoint_at_lsn(pin.target_lsn)
                .map(|i| &cat.checkpoints()[i]);
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
