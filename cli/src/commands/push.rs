//! `tl push [NAME]`: ship what the remote lacks.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use tl_index::layout::Layout;
use tl_index::remote::config::{self, RemoteSettings};
use tl_index::remote::push::{push_once, PushReport};
use tl_index::store::find_root;

use crate::command_error::CommandError;
use crate::output::bytes as show_bytes;
use crate::remote_env;

/// Send the history to a remote (all of them without NAME): the log's sealed
/// segments it lacks, then a new manifest.
///
/// Everything checkpointed before the push is included: the log's current
/// segment is sealed first (a running daemon lends the log for that moment and
/// goes on capturing). Idempotent and resumable: a push that failed or was
/// killed is finished by the next one; the local store is never changed by a
/// failure. Gives up after the remote's push_timeout_s (default 60 s), saying
/// what failed. Superseded objects (after `tl gc`) are deleted by a later push
/// once the new manifest is there and 24 h have passed.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl push\n  tl push usb --json\n")]
pub struct PushArgs {
    /// The remote (see `tl remote list`); every remote when left out.
    name: Option<String>,
    /// Print what was pushed as JSON (see JSON.md): one object, or an array
    /// without NAME.
    #[arg(long)]
    json: bool,
}

/// `tl push [NAME] [--json]`.
pub fn cmd_push(cwd: &Path, args: PushArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let layout = Layout::new(&root);
    let remotes = match &args.name {
        Some(n) => vec![config::load(&layout, n)?],
        None => config::list(&layout)?,
    };
    if remotes.is_empty() {
        return Err(CommandError::usage("this project has no remote")
            .with_hint("add one with `tl remote add NAME URL` (s3://BUCKET/PREFIX or file:///PATH)")
            .into());
    }
    seal(&root)?;
    let mut rows = Vec::new();
    for r in &remotes {
        let s3 = remote_env::s3_settings(r.endpoint.as_deref());
        let report = push_once(&layout, r, &s3)
            .with_context(|| format!("cannot push to {} ({})", r.name, r.url))?;
        if args.json {
            rows.push(report_json(r, &report));
        } else {
            println!("{}", report_text(r, &report));
        }
    }
    if args.json {
        match (args.name.is_some(), rows.len()) {
            (true, 1) => println!("{}", rows.remove(0)),
            _ => println!("{}", serde_json::Value::Array(rows)),
        }
    }
    Ok(())
}

/// Seals the log's current segment, borrowing a running daemon's log for the
/// moment it takes, so that everything acknowledged is in a sealed segment.
fn seal(root: &Path) -> Result<()> {
    let writer = crate::cli_util::open_writer_at(root)?;
    writer
        .seal_log()
        .context("cannot seal the log's current segment")?;
    Ok(())
}

fn report_text(r: &RemoteSettings, p: &PushReport) -> String {
    let what = if p.was_noop() {
        "up to date".to_string()
    } else {
        format!(
            "pushed {} segment(s), {}",
            p.uploaded,
            show_bytes(p.bytes_uploaded)
        )
    };
    let mut s = format!(
        "{} ({}): {what}; the remote holds {} checkpoint(s) in {} segment(s) through LSN {}, manifest generation {}",
        r.name, p.url, p.checkpoints, p.segments, p.end_lsn, p.generation
    );
    if p.deleted > 0 {
        s.push_str(&format!("; deleted {} superseded object(s)", p.deleted));
    }
    if p.pending_deletes > 0 {
        s.push_str(&format!(
            "; {} superseded object(s) wait for their grace period",
            p.pending_deletes
        ));
    }
    s
}

fn report_json(r: &RemoteSettings, p: &PushReport) -> serde_json::Value {
    json!({
        "remote": r.name,
        "url": p.url,
        "up_to_date": p.was_noop(),
        "uploaded": p.uploaded,
        "bytes_uploaded": p.bytes_uploaded,
        "segments": p.segments,
        "checkpoints": p.checkpoints,
        "end_lsn": p.end_lsn.get(),
        "generation": p.generation,
        "manifest_written": p.manifest_written,
        "deleted": p.deleted,
        "pending_deletes": p.pending_deletes,
        "encrypted": r.encrypted(),
    })
}
