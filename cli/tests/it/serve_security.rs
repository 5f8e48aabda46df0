//! `tl serve` refuses what it must: no token, a foreign Host, hostile paths,
//! unbounded ranges, writes without --allow-restore. Bad input is a 4xx with a
//! JSON error, never a 5xx.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::serve::project;
use crate::support::http::Request;
use crate::support::serve::Server;

fn is_json_error(r: &crate::support::http::Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("{}", r.text()));
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
}

#[test]
fn every_route_without_the_token_is_401_and_a_wrong_token_too() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    for route in [
        "/",
        "/app.js",
        "/api/openapi.json",
        "/api/checkpoints",
        "/api/tree",
        "/api/file?path=a.txt",
        "/api/diff?from=now",
        "/api/history?path=a.txt",
        "/api/activity",
        "/api/status",
        "/api/events",
    ] {
        is_json_error(&s.send_plain(Request::new("GET", route)), 401);
        let wrong = Request::new("GET", route).header("Authorization", "Bearer 00");
        is_json_error(&s.send_plain(wrong), 401);
    }
    let post = Request::new("POST", "/api/restore").header("Content-Type", "application/json");
    is_json_error(&s.send_plain(post), 401);
}

#[test]
fn the_token_url_sets_an_httponly_strict_cookie_that_opens_the_page() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let r = s.send_plain(Request::new("GET", &format!("/?token={}", s.token)));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = s.send_plain(Request::new("GET", "/").header("Cookie", &pair));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<script src=\"/app.js\">"));
    let api = s.send_plain(Request::new("GET", "/api/status").header("Cookie", &pair));
    assert_eq!(api.status, 200);
    let bad = s.send_plain(Request::new("GET", "/?token=nope"));
    is_json_error(&bad, 401);
}

#[test]
fn a_foreign_host_header_is_refused_even_with_the_token() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let port = s.addr.port();
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_string(),
        format!("localhost.evil.example:{port}"),
    ] {
        let raw = format!(
            "GET /api/status HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            s.token
        );
        is_json_error(&s.send_raw(raw.as_bytes()), 421);
    }
    let ok = format!(
        "GET /api/status HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        s.token
    );
    assert_eq!(s.send_raw(ok.as_bytes()).status, 200);
}

#[test]
fn hostile_paths_are_refused_by_the_replay_rules() {
    let d = project();
    std::fs::write(d.path().join("secret-outside"), "x").unwrap();
    let s = Server::start(d.path(), &[]);
    for p in [
        "../secret-outside",
        "..%2Fsecret-outside",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "a.txt/..",
        "./a.txt",
        "a%2F%2Fb",
        ".tl/config",
        ".TL/config",
        ".git/config",
        "a%00b",
        "C:a.txt",
        "...",
        "",
        "\\etc\\passwd",
    ] {
        for route in ["/api/file", "/api/history", "/api/tree", "/api/checkpoints"] {
            let r = s.get(&format!("{route}?path={p}"));
            is_json_error(&r, 400);
        }
        let r = s.get(&format!("/api/diff?from=now&path={p}"));
        is_json_error(&r, 400);
    }
}

#[test]
fn bad_input_is_a_4xx_with_a_json_error_never_a_5xx() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    for (target, status) in [
        ("/api/tree?at=garbage", 404),
        ("/api/tree?at=2999-01-01", 404),
        ("/api/file", 400),
        ("/api/file?path=nope.txt", 404),
        ("/api/file?path=src", 404),
        ("/api/history?path=nope.txt", 404),
        ("/api/diff", 400),
        ("/api/diff?from=now&format=xml", 400),
        ("/api/checkpoints?limit=0", 400),
        ("/api/checkpoints?limit=1001", 400),
        ("/api/checkpoints?limit=-1", 400),
        ("/api/checkpoints?offset=x", 400),
        ("/api/checkpoints?since=garbage", 404),
        ("/api/activity?buckets=0", 400),
        ("/api/activity?buckets=100000000", 400),
        ("/api/activity?since=now&until=1999-01-01", 400),
        ("/api/tree?limit=100000000", 400),
        ("/api/nope", 404),
        ("/api/file?path=%ff%fe", 404),
    ] {
        is_json_error(&s.get(target), status);
    }
    let long = format!("/api/file?path={}", "a".repeat(20_000));
    is_json_error(&s.get(&long), 400);
}

#[test]
fn huge_pages_and_ranges_are_bounded() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let max = s.json("/api/checkpoints?limit=1000");
    assert_eq!(max["limit"], 1000);
    let wide = s.json("/api/activity?since=2000-01-01&until=now&buckets=2000");
    assert_eq!(wide["buckets"].as_array().unwrap().len(), 2000);
    let far = s.json("/api/checkpoints?offset=99999999999");
    assert_eq!(far["checkpoints"].as_array().unwrap().len(), 0);
}

/// Every file under `dir` (`.tl/` included) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn without_allow_restore_the_server_never_writes() {
    let d = project();
    let before = snapshot(d.path());
    let s = Server::start(d.path(), &[]);
    let log = s.json("/api/checkpoints");
    let first = log["checkpoints"][2]["id"].as_str().unwrap().to_string();
    let body = format!(r#"{{"path":"a.txt","at":"{first}","confirm":true}}"#);
    let r = s.send(
        Request::new("POST", "/api/restore")
            .header("Content-Type", "application/json")
            .body(body.clone().into_bytes()),
    );
    is_json_error(&r, 403);
    let whole = body.replace("a.txt", ".");
    let r = s.send(
        Request::new("POST", "/api/restore")
            .header("Content-Type", "application/json")
            .body(whole.into_bytes()),
    );
    is_json_error(&r, 403);
    for target in [
        "/api/tree",
        "/api/file?path=a.txt",
        "/api/diff?from=now",
        "/api/history?path=a.txt",
        "/api/activity",
        "/api/status",
    ] {
        assert_eq!(s.get(target).status, 200, "{target}");
    }
    for m in ["PUT", "DELETE", "PATCH"] {
        let r = s.send(Request::new(m, "/api/restore"));
        assert!((400..500).contains(&r.status), "{m}: {}", r.status);
    }
    drop(s);
    assert_eq!(
        snapshot(d.path()),
        before,
        "the server wrote to the project"
    );
}

#[test]
fn a_restore_needs_json_and_a_confirmation() {
    let d = project();
    let s = Server::start(d.path(), &["--allow-restore"]);
    let form = s.send(
        Request::new("POST", "/api/restore")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(b"path=a.txt&at=now&confirm=true".to_vec()),
    );
    is_json_error(&form, 415);
    for body in [
        "{}",
        r#"{"path":"a.txt","at":"now"}"#,
        r#"{"path":"a.txt","at":"now","confirm":false}"#,
        r#"{"path":"../x","at":"now","confirm":true}"#,
        r#"{"path":".tl/config","at":"now","confirm":true}"#,
        r#"{"path":"a.txt","at":"garbage","confirm":true}"#,
        "not json",
    ] {
        let r = s.send(
            Request::new("POST", "/api/restore")
                .header("Content-Type", "application/json")
                .body(body.as_bytes().to_vec()),
        );
        assert!((400..500).contains(&r.status), "{body}: {}", r.text());
    }
}
