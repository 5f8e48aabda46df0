//! A fault-injecting TCP proxy for the remote tests: listens on 127.0.0.1:0
//! in front of a server (moto) and, per request, in the [`Mode`] set at that
//! moment, passes it on, answers 500 or 503 itself, delays it, resets the
//! connection after some bytes, or hangs (reads it and never answers).
//!
//! It reads HTTP/1.1 request framing (head, `Content-Length` or chunked body)
//! in the client-to-server direction to count requests and to act per request;
//! answers are copied back as raw bytes. Threads are bounded
//! ([`MAX_CONNECTIONS`] connections, two threads each, beyond that a
//! connection is closed at once); every blocking read wakes at least every
//! [`POLL`] to see the stop flag, and dropping the proxy joins them all.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections served at once; more are closed as soon as accepted.
pub const MAX_CONNECTIONS: usize = 64;

/// How often a blocked thread looks at the stop flag.
pub const POLL: Duration = Duration::from_millis(50);

/// What the proxy does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward it to the server.
    Pass,
    /// Answer `500 Internal Server Error` (S3's `InternalError`) and close.
    Fail500,
    /// Answer `503 Slow Down` with `Retry-After: SECS` and close.
    Fail503 {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u32,
    },
    /// Wait this long, then forward it.
    Delay(Duration),
    /// Forward it, then reset the connection (RST) once this many more bytes
    /// have crossed it, in either direction.
    ResetAfter(u64),
    /// Read it and never answer (the connection stays open until the client
    /// closes it or the proxy is dropped).
    Hang,
}

/// Counts since the proxy started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Connections accepted.
    pub connections: u64,
    /// Request heads read (whatever the mode did with them).
    pub requests: u64,
    /// Connections reset by [`Mode::ResetAfter`].
    pub resets: u64,
    /// Connections closed at once as [`MAX_CONNECTIONS`] were open.
    pub refused: u64,
}

struct Shared {
    upstream: SocketAddr,
    mode: Mutex<Mode>,
    stop: AtomicBool,
    connections: AtomicU64,
    requests: AtomicU64,
    resets: AtomicU64,
    refused: AtomicU64,
    active: AtomicUsize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A running proxy; stops and joins its threads on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in [`Mode::Pass`] in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            mode: Mutex::new(Mode::Pass),
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept_loop(listener, s));
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` of the proxy, the endpoint to give `tl`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches what happens to the requests read from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.shared.mode.lock().unwrap()
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let s = &self.shared;
        Counts {
            connections: s.connections.load(Ordering::SeqCst),
            requests: s.requests.load(Ordering::SeqCst),
            resets: s.resets.load(Ordering::SeqCst),
            refused: s.refused.load(Ordering::SeqCst),
        }
    }

    /// Connections being served right now.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock().unwrap());
        for w in workers {
            let _ = w.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let mut workers = shared.workers.lock().unwrap();
        workers.retain(|w| !w.is_finished());
        if shared.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let s = Arc::clone(&shared);
        workers.push(std::thread::spawn(move || {
            let mut conn = Conn::new(stream, Arc::clone(&s));
            let _ = conn.serve();
            conn.close();
            s.active.fetch_sub(1, Ordering::SeqCst);
        }));
    }
}

/// What happened to the connection's byte budget (see [`Mode::ResetAfter`]).
struct Budget {
    remaining: Mutex<Option<u64>>,
    exhausted: AtomicBool,
}

impl Budget {
    /// How many of `n` bytes may cross now (all when no budget is set).
    fn take(&self, n: usize) -> usize {
        let mut r = self.remaining.lock().unwrap();
        match *r {
            None => n,
            Some(left) => {
                let k = (n as u64).min(left);
                *r = Some(left - k);
                if left - k == 0 {
                    self.exhausted.store(true, Ordering::SeqCst);
                }
                k as usize
            }
        }
    }
}

/// One client connection and, once a request is passed, its upstream one.
struct Conn {
    client: TcpStream,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    upstream: Option<TcpStream>,
    answers: Option<JoinHandle<()>>,
    budget: Arc<Budget>,
}

/// A request head read from the client.
struct Head {
    bytes: Vec<u8>,
    body: BodyLen,
    expects_continue: bool,
}

enum BodyLen {
    Fixed(u64),
    Chunked,
}

impl Conn {
    fn new(client: TcpStream, shared: Arc<Shared>) -> Self {
        let _ = client.set_read_timeout(Some(POLL));
        let _ = client.set_nodelay(true);
        Conn {
            client,
            buf: Vec::new(),
            shared,
            upstream: None,
            answers: None,
            budget: Arc::new(Budget {
                remaining: Mutex::new(None),
                exhausted: AtomicBool::new(false),
            }),
        }
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst) || self.budget.exhausted.load(Ordering::SeqCst)
    }

    /// Reads more from the client into `buf`; `Ok(0)` at EOF, an error once
    /// the proxy stops.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if self.stopped() {
                return Err(io::Error::other("stopped"));
            }
            match self.client.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if is_timeout(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        while let Some(head) = self.read_head()? {
            self.shared.requests.fetch_add(1, Ordering::SeqCst);
            let mode = *self.shared.mode.lock().unwrap();
            match mode {
                Mode::Fail500 => return self.answer(&head, 500, "Internal Server Error", None),
                Mode::Fail503 { retry_after_secs } => {
                    return self.answer(&head, 503, "Slow Down", Some(retry_after_secs))
                }
                Mode::Hang => return self.hang(),
                Mode::Delay(d) => {
                    self.sleep(d)?;
                    self.forward(&head)?;
                }
                Mode::ResetAfter(k) => {
                    self.budget.remaining.lock().unwrap().get_or_insert(k);
                    self.forward(&head)?;
                }
                Mode::Pass => self.forward(&head)?,
            }
        }
        Ok(())
    }

    /// The next request head; `None` when the client closed between requests.
    fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let bytes: Vec<u8> = self.buf.drain(..end + 4).collect();
                let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
                let header = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
                        .map(str::to_string)
                };
                let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                    BodyLen::Chunked
                } else {
                    BodyLen::Fixed(
                        header("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                    )
                };
                let expects_continue =
                    header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                return Ok(Some(Head {
                    bytes,
                    body,
                    expects_continue,
                }));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Sends `bytes` upstream within the connection's byte budget; an error
    /// once the budget is spent (the connection is then reset).
    fn send_upstream(&mut self, bytes: &[u8]) -> io::Result<()> {
        let k = self.budget.take(bytes.len());
        let up = self.upstream.as_mut().expect("connected");
        up.write_all(&bytes[..k])?;
        if k < bytes.len() || self.budget.exhausted.load(Ordering::SeqCst) {
            return Err(io::Error::other("reset"));
        }
        Ok(())
    }

    fn forward(&mut self, head: &Head) -> io::Result<()> {
        if self.upstream.is_none() {
            let up = TcpStream::connect_timeout(&self.shared.upstream, Duration::from_secs(5))?;
            let _ = up.set_nodelay(true);
            let mut from = up.try_clone()?;
            let mut to = self.client.try_clone()?;
            let budget = Arc::clone(&self.budget);
            let shared = Arc::clone(&self.shared);
            from.set_read_timeout(Some(POLL))?;
            self.answers = Some(std::thread::spawn(move || {
                copy_answers(&mut from, &mut to, &budget, &shared)
            }));
            self.upstream = Some(up);
        }
        self.send_upstream(&head.bytes)?;
        self.pass_body(head, true)
    }

    /// Moves the request's body from the client to upstream (or drops it
    /// when `to_upstream` is false).
    fn pass_body(&mut self, head: &Head, to_upstream: bool) -> io::Result<()> {
        match head.body {
            BodyLen::Fixed(mut left) => {
                while left > 0 {
                    if self.buf.is_empty() && self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let n = (left as usize).min(self.buf.len());
                    let part: Vec<u8> = self.buf.drain(..n).collect();
                    if to_upstream {
                        self.send_upstream(&part)?;
                    }
                    left -= n as u64;
                }
                Ok(())
            }
            BodyLen::Chunked => loop {
                let line = self.take_line()?;
                let size = String::from_utf8_lossy(&line);
                let size = size.trim_end().split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
                if to_upstream {
                    self.send_upstream(&line)?;
                }
                if size == 0 {
                    // Trailers up to the empty line.
                    loop {
                        let t = self.take_line()?;
                        if to_upstream {
                            self.send_upstream(&t)?;
                        }
                        if t == b"\r\n" || t == b"\n" {
                            return Ok(());
                        }
                    }
                }
                let data = BodyLen::Fixed(size + 2);
                let inner = Head {
                    bytes: Vec::new(),
                    body: data,
                    expects_continue: false,
                };
                self.pass_body(&inner, to_upstream)?;
            },
        }
    }

    /// One line from the client, with its line ending.
    fn take_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                return Ok(self.buf.drain(..=i).collect());
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Answers the request itself with `status` and closes the connection.
    fn answer(
        &mut self,
        head: &Head,
        status: u16,
        reason: &str,
        retry_after: Option<u32>,
    ) -> io::Result<()> {
        if !head.expects_continue {
            // Read the body first: closing on unread bytes would reset the
            // connection before the client reads the answer.
            self.pass_body(head, false)?;
        }
        let code = if status == 503 {
            "SlowDown"
        } else {
            "InternalError"
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>fault proxy: {status} {reason}</Message></Error>"
        );
        let mut resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(secs) = retry_after {
            resp.push_str(&format!("Retry-After: {secs}\r\n"));
        }
        resp.push_str("\r\n");
        resp.push_str(&body);
        self.client.write_all(resp.as_bytes())?;
        let _ = self.client.shutdown(Shutdown::Write);
        Ok(())
    }

    /// Reads and drops whatever the client sends, answers nothing, until the
    /// client closes or the proxy stops.
    fn hang(&mut self) -> io::Result<()> {
        loop {
            self.buf.clear();
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    fn sleep(&self, d: Duration) -> io::Result<()> {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            if self.stopped() {
                return Err(io::Error::other("stopped"));
            }
            std::thread::sleep(POLL.min(end - std::time::Instant::now()));
        }
        Ok(())
    }

    /// Ends the connection: a reset (RST) when the byte budget ran out, a
    /// close otherwise; waits for the answer thread.
    fn close(&mut self) {
        let reset = self.budget.exhausted.load(Ordering::SeqCst);
        if reset {
            self.shared.resets.fetch_add(1, Ordering::SeqCst);
            let _ = rustix::net::sockopt::set_socket_linger(&self.client, Some(Duration::ZERO));
        }
        if let Some(up) = &self.upstream {
            let _ = up.shutdown(Shutdown::Both);
        }
        if !reset {
            // Let the answer thread copy what upstream already sent.
            let _ = self.client.shutdown(Shutdown::Read);
        }
        if let Some(a) = self.answers.take() {
            let _ = a.join();
        }
        // Dropping the last handle of the client socket closes it (RST with
        // a zero linger).
    }
}

/// Copies the server's answers to the client until either side closes, the
/// byte budget runs out or the proxy stops.
fn copy_answers(from: &mut TcpStream, to: &mut TcpStream, budget: &Budget, shared: &Shared) {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) || budget.exhausted.load(Ordering::SeqCst) {
            return;
        }
        match from.read(&mut chunk) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                let k = budget.take(n);
                if to.write_all(&chunk[..k]).is_err() || k < n {
                    return;
                }
            }
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
