//! The other side of `.tl/daemon.sock`: commands ask a running watcher instead of
//! taking the writer lock themselves, with the typed requests and replies of
//! `protocol`, and print the replies themselves. Every function returns
//! `Ok(None)`/`Ok(false)` when no watcher runs, so the caller goes on without one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use tl_index::layout::Layout;
use tl_index::store::find_root;

use super::protocol::{self, Checkpointed, Flushed, Lent, Pid, Request, Resumed, Status};
use crate::command_error::CommandError;

/// Sends one request to the watcher of `root`; None when no watcher answers.
pub fn request<T: DeserializeOwned>(
    root: &Path,
    req: &Request,
    timeout: Duration,
) -> Result<Option<T>> {
    Ok(exchange(root, req, timeout)?.map(|(v, _)| v))
}

/// The watcher's state; None when none runs.
pub fn status(root: &Path, timeout: Duration) -> Result<Option<Status>> {
    request(root, &Request::Status, timeout)
}

/// Asks the watcher to capture what is pending and stop; its pid, or None when
/// none runs.
pub fn stop(root: &Path) -> Result<Option<u32>> {
    let pid: Option<Pid> = request(root, &Request::Stop, Duration::from_secs(60))?;
    Ok(pid.map(|p| p.pid))
}

/// Asks the watcher of `root` to lift the hold of `dir` and capture it once;
/// None when no watcher runs. The watcher refuses a directory it does not hold.
pub fn resume(root: &Path, dir: &str) -> Result<Option<Resumed>> {
    let req = Request::Resume {
        dir: dir.to_string(),
    };
    // The capture of the held directory may read many files.
    request(root, &req, Duration::from_secs(600))
}

/// The log of a running watcher lent to this process: while this value lives the
/// watcher only reads events, without capturing; dropping it (or this process
/// ending, however) closes the connection, and the watcher takes the log back and
/// captures what changed meanwhile. Drop the [`tl_index::store::Store`] opened under
/// it first.
pub struct Lease {
    _conn: UnixStream,
    captured: bool,
}

impl Lease {
    /// True when the watcher said, as it lent the log, that the last checkpoint
    /// holds the tree as it is on disk (see [`protocol::Lent::captured`]).
    pub fn tree_captured(&self) -> bool {
        self.captured
    }
}

/// Asks the watcher of `root` to capture what is pending and release the writer
/// lock (`pause`). None when no watcher answers.
pub fn pause(root: &Path) -> Result<Option<Lease>> {
    let req = Request::Pause {
        pid: u64::from(std::process::id()),
    };
    // The watcher captures pending events first: as slow as a checkpoint.
    let Some((lent, conn)) = exchange::<Lent>(root, &req, Duration::from_secs(600))? else {
        return Ok(None);
    };
    Ok(Some(Lease {
        _conn: conn,
        captured: lent.captured,
    }))
}

/// [`request`], also returning the connection.
fn exchange<T: DeserializeOwned>(
    root: &Path,
    req: &Request,
    timeout: Duration,
) -> Result<Option<(T, UnixStream)>> {
    let sock = Layout::new(root).daemon_socket();
    let stream = match UnixStream::connect(&sock) {
        Ok(s) => s,
        Err(_) => return Ok(None), // no socket, or a stale one: nobody listens
    };
    stream.set_read_timeout(Some(timeout))?;
    let mut w = &stream;
    // A watcher that refuses (another uid) answers and closes at once, maybe
    // before the request is sent: its answer is read whatever the write did. A
    // failed exchange is the watcher's, not a closed stdout: no io::Error in it.
    let sent = writeln!(w, "{}", protocol::encode_request(req));
    let mut line = String::new();
    let read = BufReader::new(&stream).read_line(&mut line);
    if line.is_empty() {
        let why = match (sent, read) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ => "it closed the connection".to_string(),
        };
        bail!("the watcher of {} did not answer ({why})", root.display());
    }
    let reply = protocol::decode_reply::<T>(&line)
        .with_context(|| format!("the watcher of {} gave a bad answer", root.display()))?;
    match reply {
        Ok(v) => Ok(Some((v, stream))),
        Err(refusal) if refusal.busy => Err(CommandError::busy(refusal.error).into()),
        Err(refusal) => bail!("{}", refusal.error),
    }
}

fn root_of(cwd: &Path) -> Option<std::path::PathBuf> {
    find_root(cwd).ok()
}

/// `tl checkpoint` through a running watcher (which captures pending events
/// first): the new checkpoint, or None when no watcher runs.
pub fn checkpoint(cwd: &Path, message: Option<&str>) -> Result<Option<Checkpointed>> {
    let Some(root) = root_of(cwd) else {
        return Ok(None);
    };
    let req = Request::Checkpoint {
        message: message.map(str::to_string),
    };
    request(&root, &req, Duration::from_secs(600))
}

/// Asks a running watcher to capture what is pending, so a read (`tl status`,
/// `tl log`) sees every change already seen by the watcher. Best effort.
pub fn flush(cwd: &Path) {
    if let Some(root) = root_of(cwd) {
        let _ = request::<Flushed>(&root, &Request::Flush, Duration::from_secs(60));
    }
}
