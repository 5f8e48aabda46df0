//! A tiny HTTP/1.1 client over `std::net::TcpStream`, enough to talk to
//! moto's server from the tests (create a bucket, list, read, overwrite or
//! damage an object) without a dependency: one request a connection
//! (`Connection: close`), a `Content-Length` body, a response read whole
//! (`Content-Length`, chunked, or up to EOF). Every read and write is bounded.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one connect, read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// One header of a request or a response.
#[derive(Debug, Clone)]
pub struct Header {
    /// The header's name as sent.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A request to send with [`send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<Header>,
    body: Vec<u8>,
}

impl Request {
    /// `METHOD TARGET` (the path and query, e.g. `/bucket/key?uploads`).
    pub fn new(method: &str, target: &str) -> Self {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the body (sent with its `Content-Length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The request's bytes on the wire.
    pub fn to_bytes(&self, host: SocketAddr) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            self.method, self.target
        );
        for h in &self.headers {
            head.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers in the order received.
    pub headers: Vec<Header>,
    /// The body (decoded when chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `req` to `addr` on a new connection and reads the whole response.
pub fn send(addr: SocketAddr, req: &Request) -> io::Result<Response> {
    send_with_timeout(addr, req, IO_TIMEOUT)
}

/// [`send`] with each connect, read and write bounded by `timeout`.
pub fn send_with_timeout(
    addr: SocketAddr,
    req: &Request,
    timeout: Duration,
) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&req.to_bytes(addr))?;
    read_response(&mut BufReader::new(stream), req.method == "HEAD")
}

/// Reads one response from `r` (no body for a HEAD request).
pub fn read_response(r: &mut impl BufRead, head_only: bool) -> io::Result<Response> {
    let status_line = read_line(r)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
        headers.push(Header {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        resp.body = read_chunked(r)?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        read_line(r)?;
    }
}

/// One line without its CRLF; an error at EOF.
pub fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("header not UTF-8"))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}
