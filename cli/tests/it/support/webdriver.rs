//! Headless Chromium driven through chromedriver's WebDriver protocol (JSON
//! over HTTP on 127.0.0.1) with the std-only client of `http`: start, open a
//! URL, find, click, run a script, accept a confirm(), take a screenshot.
//! Debian's `chromium` and `chromium-driver`; nothing downloads a browser.
//! A missing tool fails the test naming the command that installs it.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use super::http::{self, Request};

/// The install command named when a tool is missing.
pub const INSTALL: &str = "apt-get install -y chromium chromium-driver";

/// A chromedriver child with one browser session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: TempDir,
}

fn which(name: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start() -> Browser {
        let driver_bin = which("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is missing: run `{INSTALL}`"));
        let chromium =
            which("chromium").unwrap_or_else(|| panic!("chromium is missing: run `{INSTALL}`"));
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): run `{INSTALL}`"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let profile = TempDir::new().unwrap();
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let start = Instant::now();
        while http::send_with_timeout(
            addr,
            &Request::new("GET", "/status"),
            Duration::from_secs(2),
        )
        .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,900",
                         format!("--user-data-dir={}", b._profile.path().display())],
            },
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("session id").to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = Request::new(method, path);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string().into_bytes());
        }
        let r = http::send_with_timeout(self.addr, &req, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("chromedriver {method} {path}: {}", r.text()));
        assert_eq!(r.status, 200, "chromedriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`), returns its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Clicks the first element matching the CSS selector.
    pub fn click(&self, css: &str) {
        let el = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .expect("element id")
            .to_string();
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// The text of a confirm() shown now, then accepts it.
    pub fn accept_confirm(&self) -> String {
        let text = self.call("GET", &self.s("/alert/text"), None);
        self.call("POST", &self.s("/alert/accept"), Some(json!({})));
        text.as_str().unwrap_or_default().to_string()
    }

    /// Waits up to `limit` for `script` to return a truthy value; panics with
    /// `what` and the page's message otherwise.
    pub fn wait_for(&self, what: &str, script: &str, args: Value, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.run(script, args.clone());
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            if start.elapsed() > limit {
                let msg = self.run(
                    "return document.getElementById('message').textContent",
                    json!([]),
                );
                panic!("{what} not seen within {limit:?}; the page says {msg}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let v = self.call("GET", &self.s("/screenshot"), None);
        base64_decode(v.as_str().expect("screenshot data"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let req = Request::new("DELETE", &format!("/session/{}", self.session));
            let _ = http::send_with_timeout(self.addr, &req, Duration::from_secs(10));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshot), without a dependency.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
