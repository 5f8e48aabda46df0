//! The other side of `.tl/daemon.sock`: commands ask a running watcher instead of
//! taking the writer lock themselves. Every function returns `Ok(None)`/`Ok(false)`
//! when no watcher runs, so the caller goes on without one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tl_index::store::find_root;

use crate::command_error::CommandError;

/// Sends one request to the watcher of `root`; None when no watcher answers.
pub fn request(root: &Path, req: &Value, timeout: Duration) -> Result<Option<Value>> {
    Ok(exchange(root, req, timeout)?.map(|(v, _)| v))
}

/// The log of a running watcher lent to this process: while this value lives the
/// watcher only reads events, without capturing; dropping it (or this process
/// ending, however) closes the connection, and the watcher takes the log back and
/// captures what changed meanwhile. Drop the [`tl_index::store::Store`] opened under
/// it first.
pub struct Lease {
    _conn: UnixStream,
}

/// Asks the watcher of `root` to capture what is pending and release the writer
/// lock (`pause`). None when no watcher answers.
pub fn pause(root: &Path) -> Result<Option<Lease>> {
    let req = json!({"op": "pause", "pid": std::process::id()});
    // The watcher captures pending events first: as slow as a checkpoint.
    let Some((_, conn)) = exchange(root, &req, Duration::from_secs(600))? else {
        return Ok(None);
    };
    Ok(Some(Lease { _conn: conn }))
}

/// [`request`], also returning the connection.
fn exchange(root: &Path, req: &Value, timeout: Duration) -> Result<Option<(Value, UnixStream)>> {
    let sock = tl_index::layout::Layout::new(root).daemon_socket();
    let stream = match UnixStream::connect(&sock) {
        Ok(s) => s,
        Err(_) => return Ok(None), // no socket, or a stale one: nobody listens
    };
    stream.set_read_timeout(Some(timeout))?;
    let mut w = &stream;
    // A watcher that refuses (another uid) answers and closes at once, maybe
    // before the request is sent: its answer is read whatever the write did. A
    // failed exchange is the watcher's, not a closed stdout: no io::Error in it.
    let sent = writeln!(w, "{req}");
    let mut line = String::new();
    let read = BufReader::new(&stream).read_line(&mut line);
    if line.is_empty() {
        let why = match (sent, read) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ => "it closed the connection".to_string(),
        };
        bail!("the watcher of {} did not answer ({why})", root.display());
    }
    let v: Value = serde_json::from_str(&line)
        .with_context(|| format!("the watcher of {} gave a bad answer", root.display()))?;
    if v["ok"].as_bool() != Some(true) {
        let why = v["error"]
            .as_str()
            .unwrap_or("the watcher refused the request");
        if v["busy"].as_bool() == Some(true) {
            return Err(CommandError::busy(why).into());
        }
        bail!("{why}");
    }
    Ok(Some((v, stream)))
}

fn root_of(cwd: &Path) -> Option<std::path::PathBuf> {
    find_root(cwd).ok()
}

/// `tl checkpoint` through a running watcher (which captures pending events first).
/// Prints the result and returns true when a watcher did it.
pub fn checkpoint(cwd: &Path, message: Option<&str>, json_out: bool) -> Result<bool> {
    let Some(root) = root_of(cwd) else {
        return Ok(false);
    };
    let req = json!({"op": "checkpoint", "message": message, "json": json_out});
    let Some(v) = request(&root, &req, Duration::from_secs(600))? else {
        return Ok(false);
    };
    for w in v["warnings"].as_array().into_iter().flatten() {
        eprintln!("tl: warning: {}", w.as_str().unwrap_or(""));
    }
    println!("{}", v["stdout"].as_str().unwrap_or(""));
    Ok(true)
}

/// Asks a running watcher to capture what is pending, so a read (`tl status`,
/// `tl log`) sees every change already seen by the watcher. Best effort.
pub fn flush(cwd: &Path) {
    if let Some(root) = root_of(cwd) {
        let _ = request(&root, &json!({"op": "flush"}), Duration::from_secs(60));
    }
}
