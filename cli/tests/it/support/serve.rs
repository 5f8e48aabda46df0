//! A `tl serve` child for the tests: started with `--port 0`, its one line
//! (`Serving http://ADDR/?token=TOKEN`) read within a bound, requests sent
//! with the token over 127.0.0.1, stopped by SIGTERM (then SIGKILL) on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{self, Request, Response};

/// How long the server may take to print its line.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running `tl serve`.
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The run's token.
    pub token: String,
    /// The line it printed.
    pub line: String,
}

impl Server {
    /// Starts `tl serve --port 0 EXTRA...` in `dir` and reads its line.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
            .current_dir(dir)
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start tl serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(l) => l.trim_end().to_string(),
            Err(_) => {
                let _ = child.kill();
                panic!("tl serve printed no line within {START_LIMIT:?}");
            }
        };
        let rest = line
            .strip_prefix("Serving http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let (addr, token) = rest
            .split_once("/?token=")
            .unwrap_or_else(|| panic!("no token in {line:?}"));
        Server {
            addr: addr.parse().unwrap(),
            token: token.to_string(),
            line: line.clone(),
            child: Some(child),
        }
    }

    /// `GET target` with the token as a Bearer header.
    pub fn get(&self, target: &str) -> Response {
        self.send(Request::new("GET", target))
    }

    /// `GET target`, asserting 200, parsed as JSON.
    pub fn json(&self, target: &str) -> Value {
        let r = self.get(target);
        assert_eq!(r.status, 200, "GET {target}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {target}: {e}"))
    }

    /// Sends `req` with the token added.
    pub fn send(&self, req: Request) -> Response {
        let req = req.header("Authorization", &format!("Bearer {}", self.token));
        http::send(self.addr, &req).expect("request to tl serve")
    }

    /// Sends `req` as it is (no token).
    pub fn send_plain(&self, req: Request) -> Response {
        http::send(self.addr, &req).expect("request to tl serve")
    }

    /// Sends raw request bytes (a Host header of one's choosing).
    pub fn send_raw(&self, bytes: &[u8]) -> Response {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        http::read_response(&mut BufReader::new(s), false).expect("response")
    }

    /// Opens `/api/events` and returns the stream's reader, past the headers.
    pub fn events(&self) -> BufReader<TcpStream> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET /api/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
            self.addr, self.token
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let status = http::read_line(&mut r).unwrap();
        assert!(status.contains(" 200 "), "events: {status}");
        while !http::read_line(&mut r).unwrap().is_empty() {}
        r
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads SSE lines until an `event: NAME` line, then its `data:` line;
/// panics when the stream ends or times out first.
pub fn next_event(r: &mut BufReader<TcpStream>, name: &str) -> Value {
    let want = format!("event: {name}");
    loop {
        let line = http::read_line(r).expect("event stream");
        if line.trim_end() == want {
            let data = http::read_line(r).expect("event data");
            let data = data.strip_prefix("data: ").unwrap_or(&data).to_string();
            return serde_json::from_str(&data).unwrap();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}
