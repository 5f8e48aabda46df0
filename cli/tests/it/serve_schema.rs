//! schemathesis (PyPI) against `/api/openapi.json` of a running `tl serve`:
//! generated requests for every operation (the event stream aside, which
//! never ends), with bounded examples; no 5xx, every response matching the
//! document's status codes, content types and schemas.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::serve::project;
use crate::support::serve::Server;

#[test]
fn schemathesis_finds_no_5xx_and_every_response_matches_the_openapi_document() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let url = format!("http://{}/api/openapi.json", s.addr);
    // st keeps a cache in its working directory: a temporary one, not cli/.
    let scratch = tempfile::TempDir::new().unwrap();
    let child = Command::new("st")
        .current_dir(scratch.path())
        .args(["run", &url, "--url", &format!("http://{}", s.addr)])
        .args(["-H", &format!("Authorization: Bearer {}", s.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
        ])
        .args(["--exclude-path", "/api/events"])
        .args([
            "-n",
            "25",
            "--request-timeout",
            "20",
            "--generation-deterministic",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run schemathesis' `st` ({e}): run `pip install schemathesis`")
        });
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(300)) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("schemathesis ran more than 300 s");
    };
    let out = out.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis failed:\n{text}");
}
