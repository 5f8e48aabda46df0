//! `tl timeline create|switch|list|rm|rename`: named lines of states.
//!
//! Switching captures the present onto the current timeline (the shelf), then
//! writes only what differs to bring back the other timeline's newest state;
//! untracked and ignored files are never touched. `tl undo` switches back.

use std::path::Path;

use anyhow::Result;
use tl_index::replay::changed;
use tl_index::store::Store;
use tl_index::switch::Moved;
use tl_index::timespec::format_local;

use crate::cli_util::{open, open_read};
use crate::output::{ago, now_ns, timelines_json};

/// Timelines: named lines of states, with auto-shelving on switch.
///
/// The first timeline is `main`. `tl log` shows the current timeline's states
/// (with those it inherited); `NAME` or `NAME@T` names a timeline's state
/// wherever a command takes a time T.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl timeline create experiment\n  tl timeline list\n  \
                  tl timeline switch main\n  tl diff main experiment\n  \
                  tl timeline rename experiment spike\n  tl timeline rm spike\n"
)]
pub struct TimelineArgs {
    #[command(subcommand)]
    action: TimelineAction,
}

#[derive(clap::Subcommand, Debug)]
enum TimelineAction {
    /// Make a new timeline starting at the current state (edits not captured
    /// yet are captured first and come along) or at T, and switch to it.
    Create {
        /// Its name: letters, digits, '.', '_' and '-', not a time, an id or a pin.
        name: String,
        #[arg(long, value_name = "T", help = time_help!("Start it at T instead of now."))]
        from: Option<String>,
        /// Make it without switching to it.
        #[arg(long)]
        no_switch: bool,
    },
    /// Switch to timeline NAME: the present is shelved on the current timeline,
    /// then NAME's newest state is written (only what differs).
    Switch {
        /// The name of the timeline to switch to (`tl timeline list` shows them).
        name: String,
    },
    /// List the timelines (`*` marks the current one).
    List {
        /// Print them as a JSON array (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Remove timeline NAME from the list (not the current one); its states
    /// stay until a GC drops them.
    Rm {
        /// The name of the timeline to remove (not the current one).
        name: String,
    },
    /// Rename timeline OLD to NEW.
    Rename {
        /// The timeline's name now (`tl timeline list` shows them).
        old: String,
        /// The name it gets: letters, digits, '.', '_' and '-', not a time, an id or a pin.
        new: String,
    },
}

/// Runs one `tl timeline` action.
pub fn cmd_timeline(cwd: &Path, args: TimelineArgs) -> Result<()> {
    match args.action {
        TimelineAction::Create {
            name,
            from,
            no_switch,
        } => create(cwd, &name, from.as_deref(), no_switch),
        TimelineAction::Switch { name } => {
            let mut store = open(cwd)?;
            let to = store.timeline_named(&name)?.id;
            let moved =
                super::undo::run_moving(&mut store, |s, p| tl_index::switch::switch(s, to, p))?;
            print_moved(&store, &moved, "Switched");
            Ok(())
        }
        TimelineAction::List { json } => list(cwd, json),
        TimelineAction::Rm { name } => {
            let mut store = open(cwd)?;
            let head = store.remove_timeline(&name)?;
            let head = head.map(|i| store.checkpoints()[i].id.clone());
            match head {
                Some(id) => {
                    println!(
                        "Removed timeline {name} (its newest state was {id}); its states stay \
                         until a GC drops them"
                    );
                    eprintln!(
                        "`tl timeline create {name} --from {id} --no-switch` brings it back."
                    );
                }
                None => println!("Removed timeline {name} (it had no state)"),
            }
            Ok(())
        }
        TimelineAction::Rename { old, new } => {
            let mut store = open(cwd)?;
            store.rename_timeline(&old, &new)?;
            println!("Renamed timeline {old} to {new}");
            Ok(())
        }
    }
}

fn create(cwd: &Path, name: &str, from: Option<&str>, no_switch: bool) -> Result<()> {
    let mut store = open(cwd)?;
    let base = match from {
        Some(t) => Some(store.resolve(t)?),
        None => {
            // The present comes along: captured first, it is the new timeline's start.
            let current = store
                .catalog()?
                .timelines()
                .name_of(store.current_timeline());
            let msg = format!("on {current} before timeline {name} was made");
            let out = store.capture_if_changed(tl_index::record::CommitKind::Auto, Some(msg))?;
            for w in &out.warnings {
                eprintln!("tl: warning: {w}");
            }
            store.last_index()
        }
    };
    let id = store.create_timeline(name, base)?;
    let from_text = base.map_or_else(
        || "no state yet".to_string(),
        |i| {
            let c = &store.checkpoints()[i];
            format!("{} ({})", c.id, format_local(c.time_ns))
        },
    );
    if no_switch {
        println!("Made timeline {name}, starting at {from_text}");
        return Ok(());
    }
    let moved = super::undo::run_moving(&mut store, |s, p| tl_index::switch::switch(s, id, p))?;
    println!("Made timeline {name}, starting at {from_text}");
    print_moved(&store, &moved, "Switched");
    Ok(())
}

/// Says what a switch or an undo did.
pub fn print_moved(store: &Store, m: &Moved, verb: &str) {
    let Ok(catalog) = store.catalog() else { return };
    let names = catalog.timelines();
    let target = m.target.as_ref().map_or_else(
        || "no state (its tracked files removed)".to_string(),
        |c| format!("{} ({})", c.id, format_local(c.time_ns)),
    );
    let (to, from) = (names.name_of(m.to), names.name_of(m.from));
    let place = if m.to == m.from {
        format!("on timeline {to}")
    } else {
        format!("to timeline {to} from {from}")
    };
    println!(
        "{verb} {place}: brought back {target}; wrote {} file(s), removed {}, {} unchanged",
        m.report.written.len(),
        m.report.removed.len(),
        m.report.unchanged
    );
    if !changed(&m.report) {
        println!("The files already matched.");
    }
    if let Some(b) = &m.before {
        eprintln!("The previous state is {b} (on {from}): `tl undo` brings it back.");
    }
}

fn list(cwd: &Path, json: bool) -> Result<()> {
    crate::daemon::client::flush(cwd);
    let store = open_read(cwd)?;
    let catalog = store.catalog()?;
    if json {
        println!("{}", timelines_json(catalog));
        return Ok(());
    }
    let current = catalog.current_timeline();
    let now = now_ns();
    let mut rows = Vec::new();
    for t in catalog.timelines().live() {
        let head = catalog
            .timeline_head(t.id)
            .map(|i| &catalog.checkpoints()[i.get()]);
        let states = catalog.lineage(t.id).len();
        rows.push((t, head, states));
    }
    let width = rows.iter().map(|(t, _, _)| t.name.len()).max().unwrap_or(4);
    for (t, head, states) in &rows {
        let mark = if t.id == current { '*' } else { ' ' };
        let head = head.map_or_else(
            || "no state yet".to_string(),
            |c| {
                format!(
                    "{}  {} ({})",
                    c.id,
                    format_local(c.time_ns),
                    ago(c.time_ns, now)
                )
            },
        );
        println!("{mark} {:<width$}  {head}  {states} state(s)", t.name);
    }
    Ok(())
}
