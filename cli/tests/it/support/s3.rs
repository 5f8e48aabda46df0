//! A real S3-compatible server for the tests: moto's server (`moto_server`,
//! PyPI `moto[server]`) on 127.0.0.1, started on a free port, killed on drop.
//!
//! Moto keeps its objects in memory, so a plain restart would come back empty,
//! unlike any real server. It runs with its request recorder on (every request
//! appended, body included, to a file before it is handled), and
//! [`MotoServer::restart`] replays the recorded writes into the new process:
//! what was stored before the stop is there again (a request recorded but cut
//! by the stop may be applied, as a server that committed it before dying would).
//!
//! The raw object operations talk plain HTTP through [`super::http`]. Moto in
//! server mode checks no signature, but answers a request without an
//! `Authorization` header as an anonymous one (403 on a private object), so each
//! sends a syntactically valid SigV4 header with a dummy signature.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;

use super::http::{self, Request, Response};

/// What a test says when moto's server is not installed.
pub const MOTO_MISSING: &str =
    "moto_server not found: run pip install 'moto[server]' (or bash .ci/test)";

/// How long a starting server may take to answer (pyenv shims and Python
/// imports take seconds on a loaded 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The credentials and region every test uses (moto accepts any).
pub const ACCESS_KEY: &str = "testing";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testing";
/// See [`ACCESS_KEY`].
pub const REGION: &str = "us-east-1";

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
                    SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// A running `moto_server -H 127.0.0.1 -p PORT`.
pub struct MotoServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    starts: u32,
    program: String,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The environment a `tl` child needs to reach an S3 endpoint.
#[derive(Debug, Clone)]
pub struct S3Env {
    endpoint: String,
}

impl S3Env {
    /// Credentials, region and `AWS_ENDPOINT_URL=endpoint`.
    pub fn new(endpoint: &str) -> Self {
        S3Env {
            endpoint: endpoint.to_string(),
        }
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets the variables on `cmd`, and removes the AWS ones that would make
    /// it depend on the machine (profiles, session tokens, instance metadata).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ALLOW_HTTP",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
    }

    /// A `tl` command in `dir` with this environment.
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tl"));
        cmd.current_dir(dir);
        self.apply(&mut cmd);
        cmd
    }

    /// Runs `tl ARGS` in `dir` with this environment.
    pub fn tl(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir).args(args).output().unwrap()
    }

    /// Runs `tl ARGS`, asserts success, returns stdout.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.tl(dir, args);
        assert!(
            out.status.success(),
            "tl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl MotoServer {
    /// Starts a server on a free port and waits until it answers; panics with
    /// [`MOTO_MISSING`] when `moto_server` is not installed.
    pub fn start() -> Self {
        Self::start_program("moto_server")
    }

    /// [`MotoServer::start`] running `program` (found in `PATH`) as the server.
    pub fn start_program(program: &str) -> Self {
        let mut last = String::new();
        // A free port may be taken between our probe and moto's bind.
        for _ in 0..5 {
            let port = free_port();
            let mut server = MotoServer {
                child: None,
                port,
                dir: tempfile::tempdir().unwrap(),
                starts: 0,
                program: program.to_string(),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("moto_server did not start: {last}");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a `tl` child needs to talk to this server directly.
    pub fn env(&self) -> S3Env {
        S3Env::new(&self.endpoint())
    }

    /// Kills the server (SIGKILL): connections are refused from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, starts it again on the same port with the
    /// objects it held (the recorded writes replayed).
    pub fn restart(&mut self) {
        self.stop();
        let recorded = self.recording();
        let previous = self.dir.path().join(format!("recording.{}", self.starts));
        if recorded.exists() {
            fs::rename(&recorded, &previous).unwrap();
        }
        // The port may linger for a moment after the kill.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => panic!("moto_server did not restart: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        if previous.exists() {
            self.replay(&previous);
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel,
    /// nothing is answered.
    pub fn pause(&self) {
        self.signal(Signal::STOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::CONT);
    }

    /// Creates a bucket; panics unless the server accepts it.
    pub fn create_bucket(&self, name: &str) {
        let resp = self.send(Request::new("PUT", &format!("/{name}")));
        assert_eq!(resp.status, 200, "create bucket {name}: {}", resp.text());
    }

    /// Every object in `bucket` (all pages), sorted by key.
    pub fn list_objects(&self, bucket: &str) -> Vec<ObjectInfo> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{bucket}?list-type=2");
            if let Some(t) = &token {
                target.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let resp = self.send(Request::new("GET", &target));
            assert_eq!(resp.status, 200, "list {bucket}: {}", resp.text());
            let xml = resp.text();
            for contents in xml.split("<Contents>").skip(1) {
                let key = xml_unescape(tag(contents, "Key").expect("a Key in Contents"));
                let size = tag(contents, "Size").and_then(|s| s.parse().ok()).unwrap();
                objects.push(ObjectInfo { key, size });
            }
            match tag(&xml, "NextContinuationToken") {
                Some(t) if tag(&xml, "IsTruncated") == Some("true") => {
                    token = Some(xml_unescape(t))
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects
    }

    /// The object's bytes; `None` when there is no such key.
    pub fn get_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let resp = self.send(Request::new("GET", &object_path(bucket, key)));
        match resp.status {
            200 => Some(resp.body),
            404 => None,
            s => panic!("get {bucket}/{key}: {s} {}", resp.text()),
        }
    }

    /// Writes (or overwrites) an object unconditionally.
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        let resp = self.put_object_raw(bucket, key, body, None);
        assert_eq!(resp.status, 200, "put {bucket}/{key}: {}", resp.text());
    }

    /// A PUT of an object with `If-None-Match: VALUE` when given; the raw answer.
    pub fn put_object_raw(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        if_none_match: Option<&str>,
    ) -> Response {
        let mut req = Request::new("PUT", &object_path(bucket, key))
            .header("Content-Type", "application/octet-stream")
            .body(body);
        if let Some(v) = if_none_match {
            req = req.header("If-None-Match", v);
        }
        self.send(req)
    }

    /// Deletes an object.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let resp = self.send(Request::new("DELETE", &object_path(bucket, key)));
        assert!(
            resp.status == 204 || resp.status == 200,
            "delete {bucket}/{key}: {}",
            resp.text()
        );
    }

    /// Cuts an object to its first `len` bytes (damage on the server).
    pub fn truncate_object(&self, bucket: &str, key: &str, len: usize) {
        let mut body = self.get_object(bucket, key).expect("object to truncate");
        assert!(len < body.len(), "{key} is only {} bytes", body.len());
        body.truncate(len);
        self.put_object(bucket, key, &body);
    }

    /// Flips one bit of byte `offset` of an object (damage on the server).
    pub fn flip_bit(&self, bucket: &str, key: &str, offset: usize) {
        let mut body = self.get_object(bucket, key).expect("object to damage");
        body[offset] ^= 0x10;
        self.put_object(bucket, key, &body);
    }

    /// Sends a request to the server, with the dummy `Authorization` header.
    pub fn send(&self, req: Request) -> Response {
        http::send(self.addr(), &signed(req))
            .unwrap_or_else(|e| panic!("moto at {}: {e}", self.addr()))
    }

    /// The server's request log (werkzeug's one line a request, e.g.
    /// `"PUT /bucket/key HTTP/1.1" 200`), since its first start.
    pub fn request_log(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for n in 1..=self.starts {
            let text = fs::read_to_string(self.log_path(n)).unwrap_or_default();
            lines.extend(
                text.lines()
                    .filter(|l| l.contains("\" ") && l.contains(" HTTP/1."))
                    .map(str::to_string),
            );
        }
        lines
    }

    fn recording(&self) -> PathBuf {
        self.dir.path().join("recording")
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dir.path().join(format!("moto.{start}.log"))
    }

    fn signal(&self, sig: Signal) {
        let child = self.child.as_ref().expect("moto_server is not running");
        kill_process(Pid::from_child(child), sig).unwrap();
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = fs::File::create(self.log_path(self.starts)).unwrap();
        let child = Command::new(&self.program)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", self.recording())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MOTO_MISSING}"),
            Err(e) => panic!("moto_server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                let log = fs::read_to_string(self.log_path(self.starts)).unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            let probe = signed(Request::new("GET", "/"));
            if http::send(self.addr(), &probe).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "no answer on port {} in {START_TIMEOUT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends the writes recorded in `file` again, in order. A multipart upload
    /// gets a new upload id when replayed: each recorded id is mapped to the
    /// next new one created for the same key.
    fn replay(&self, file: &Path) {
        let text = fs::read_to_string(file).unwrap();
        let mut new_ids: BTreeMap<String, VecDeque<String>> = BTreeMap::new();
        let mut mapped: BTreeMap<String, String> = BTreeMap::new();
        for line in text.lines() {
            // A line cut by the kill is not a request.
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let method = entry["method"].as_str().unwrap_or("");
            if !matches!(method, "PUT" | "POST" | "DELETE") {
                continue;
            }
            let url = entry["url"].as_str().unwrap_or("");
            let Some(mut target) = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
            else {
                continue;
            };
            let path = target.split('?').next().unwrap_or("").to_string();
            if let Some(old) = query_value(&target, "uploadId") {
                let new = mapped.entry(old.clone()).or_insert_with(|| {
                    new_ids
                        .get_mut(&path)
                        .and_then(VecDeque::pop_front)
                        .unwrap_or_else(|| old.clone())
                });
                target = target.replace(&format!("uploadId={old}"), &format!("uploadId={new}"));
            }
            let body = match (&entry["body"], entry["body_encoded"].as_bool()) {
                (Value::String(b), Some(true)) => base64_decode(b),
                (Value::String(b), _) => b.clone().into_bytes(),
                _ => Vec::new(),
            };
            let mut req = Request::new(method, &target).body(body);
            if let Value::Object(headers) = &entry["headers"] {
                for (name, value) in headers {
                    let skip = ["host", "content-length", "connection", "transfer-encoding"]
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h));
                    if let (false, Some(v)) = (skip, value.as_str()) {
                        req = req.header(name, v);
                    }
                }
            }
            let resp = http::send(self.addr(), &req).unwrap();
            if method == "POST" && query_has(&target, "uploads") {
                if let Some(id) = tag(&resp.text(), "UploadId") {
                    new_ids.entry(path).or_default().push_back(id.to_string());
                }
            }
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `req` with the dummy SigV4 `Authorization` header moto wants.
pub fn signed(req: Request) -> Request {
    req.header("Authorization", AUTH)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn object_path(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(encode).collect();
    format!("/{bucket}/{}", key.join("/"))
}

/// Percent-encodes all but the unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of the first `<name>…</name>` in `xml`.
fn tag<'x>(xml: &'x str, name: &str) -> Option<&'x str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn query_value(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn query_has(target: &str, name: &str) -> bool {
    target.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv == name || kv.starts_with(&format!("{name}=")))
    })
}

/// Standard base64 (the recorder's body encoding), padding optional.
fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
