//! The daemon's side of `.tl/daemon.sock`: connections are read without ever
//! blocking the capture loop. Each is non-blocking and polled by the loop with
//! the watcher's descriptor; what a client sent is kept in a buffer of at most
//! [`REQUEST_MAX`] bytes until its newline arrives, within [`REQUEST_DEADLINE`] of
//! the connection (a slow client is dropped, a long line too). A peer of another
//! uid is refused before anything it sent is read (`SO_PEERCRED`).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::warn;

use super::protocol;

/// The longest request line accepted (requests are a few dozen bytes; a
/// checkpoint message is the only free text).
pub const REQUEST_MAX: usize = 4096;
/// The time a client has from connecting to the end of its request line.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Connections read at once; more are refused until one is done.
pub const PENDING_MAX: usize = 32;
/// How long a reply may take to write (it is small: the kernel's buffer takes it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection whose request line is not complete yet.
struct Pending {
    stream: UnixStream,
    buf: Vec<u8>,
    deadline: Instant,
}

/// A complete request: what it asks and the connection to answer on.
pub struct Request {
    /// The connection (blocking, with a write timeout).
    pub stream: UnixStream,
    /// The request line, decoded.
    pub body: protocol::Request,
}

/// The listening socket and the connections being read.
pub struct Clients {
    listener: Option<UnixListener>,
    pending: Vec<Pending>,
    uid: u32,
}

/// What reading a connection gave.
enum Got {
    /// The request line is not complete yet.
    More,
    /// The whole line (without its newline).
    Line(Vec<u8>),
    /// The connection is to be dropped (closed, too long, an error).
    Drop(Option<String>),
}

impl Clients {
    /// Serves `listener` (None: no socket, nothing to serve).
    pub fn new(listener: Option<UnixListener>) -> Clients {
        Clients {
            listener,
            pending: Vec::new(),
            uid: rustix::process::geteuid().as_raw(),
        }
    }

    /// The descriptors the loop waits on: the listener and every pending
    /// connection.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.listener
            .iter()
            .map(|l| l.as_fd())
            .chain(self.pending.iter().map(|p| p.stream.as_fd()))
    }

    /// The earliest deadline of a pending connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Accepts waiting connections (refusing other uids and any beyond
    /// [`PENDING_MAX`]), reads what each sent so far and returns the complete
    /// requests. Never blocks.
    pub fn poll(&mut self) -> Vec<Request> {
        self.accept();
        let now = Instant::now();
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let outcome = match read_some(&mut self.pending[i]) {
                Got::More if now >= self.pending[i].deadline => Got::Drop(Some(format!(
                    "no complete request within {} s",
                    REQUEST_DEADLINE.as_secs()
                ))),
                other => other,
            };
            match outcome {
                Got::More => i += 1,
                Got::Line(line) => {
                    let p = self.pending.swap_remove(i);
                    if let Some(r) = parse(p.stream, &line) {
                        done.push(r);
                    }
                }
                Got::Drop(why) => {
                    let p = self.pending.swap_remove(i);
                    if let Some(why) = why {
                        warn!("client connection dropped: {why}");
                        refuse(&p.stream, &why);
                    }
                }
            }
        }
        done
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        // WouldBlock (nobody waiting) or a failed accept ends the round.
        while let Ok((stream, _)) = listener.accept() {
            if let Err(why) = self.admit(&stream) {
                warn!("client connection refused: {why}");
                refuse(&stream, &why);
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.pending.push(Pending {
                stream,
                buf: Vec::new(),
                deadline: Instant::now() + REQUEST_DEADLINE,
            });
        }
    }

    /// Why `stream` may not be served, if it may not.
    fn admit(&self, stream: &UnixStream) -> Result<(), String> {
        check_peer_uid(peer_uid(stream)?, self.uid)?;
        if self.pending.len() >= PENDING_MAX {
            return Err(format!(
                "{PENDING_MAX} connections are being read already; retry"
            ));
        }
        Ok(())
    }
}

/// The uid of the process at the other end of `stream` (`SO_PEERCRED`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(stream: &UnixStream) -> Result<u32, String> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("cannot tell who connected ({e})"))?;
    Ok(peer.uid.as_raw())
}

/// Elsewhere (BSD, macOS: `getpeereid`, which rustix does not wrap) the socket's
/// 0600 mode inside the 0700 `.tl/` is what keeps other users out; the peer is
/// taken to be the daemon's own uid.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(_stream: &UnixStream) -> Result<u32, String> {
    Ok(rustix::process::getuid().as_raw())
}

/// Only the uid running the daemon may use it: another user could otherwise pause
/// it, stop it or read its status.
pub fn check_peer_uid(peer: u32, ours: u32) -> Result<(), String> {
    if peer == ours {
        Ok(())
    } else {
        Err(format!(
            "uid {peer} may not use this watcher (it runs as uid {ours})"
        ))
    }
}

/// Reads what is there without blocking.
fn read_some(p: &mut Pending) -> Got {
    let mut chunk = [0u8; 1024];
    loop {
        match (&p.stream).read(&mut chunk) {
            Ok(0) => return Got::Drop(None),
            Ok(n) => {
                let got = &chunk[..n];
                if let Some(end) = got.iter().position(|&b| b == b'\n') {
                    if p.buf.len() + end > REQUEST_MAX {
                        return too_long();
                    }
                    p.buf.extend_from_slice(&got[..end]);
                    return Got::Line(std::mem::take(&mut p.buf));
                }
                if p.buf.len() + n > REQUEST_MAX {
                    return too_long();
                }
                p.buf.extend_from_slice(got);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Got::More,
            Err(e) => return Got::Drop(Some(format!("read failed: {e}"))),
        }
    }
}

fn too_long() -> Got {
    Got::Drop(Some(format!("a request over {REQUEST_MAX} bytes")))
}

/// The request in `line`, or None after telling the client it is not one.
fn parse(stream: UnixStream, line: &[u8]) -> Option<Request> {
    match serde_json::from_slice::<Value>(line) {
        Ok(body) if !body.is_object() => {
            refuse(&stream, "bad request: not a JSON object");
            None
        }
        Ok(body) => match serde_json::from_value::<protocol::Request>(body) {
            Ok(body) => {
                let ready = stream.set_nonblocking(false).is_ok()
                    && stream.set_write_timeout(Some(REPLY_TIMEOUT)).is_ok();
                ready.then_some(Request { stream, body })
            }
            Err(e) => {
                refuse(&stream, &format!("bad request: {e}"));
                None
            }
        },
        Err(e) => {
            refuse(&stream, &format!("bad request: {e}"));
            None
        }
    }
}

/// Tells the client why it is not served; best effort, never blocks.
fn refuse(stream: &UnixStream, why: &str) {
    let _ = stream.set_nonblocking(true);
    let mut w = stream;
    let refusal = protocol::Refusal {
        error: why.to_string(),
        busy: false,
    };
    let _ = writeln!(w, "{}", protocol::encode_reply::<()>(&Err(refusal)));
}

/// Binds the socket at `path` with mode 0600 whatever the umask: the umask is
/// narrowed while binding (the daemon runs no other thread yet), and the mode set
/// again after.
pub fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
