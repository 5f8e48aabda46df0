//! `tl serve`: the JSON API against the real binary on a real project.

use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::http::Request;
use crate::support::serve::{next_event, Server};
use crate::util::{json, ok};

/// A project with three checkpoints: a.txt added, changed, src/ added.
pub fn project() -> TempDir {
    let d = TempDir::new().unwrap();
    let p = d.path();
    ok(p, &["init"]);
    std::fs::write(p.join("a.txt"), "one\n").unwrap();
    ok(p, &["checkpoint", "-m", "first"]);
    std::fs::write(p.join("a.txt"), "one\ntwo\n").unwrap();
    ok(p, &["checkpoint", "-m", "second"]);
    std::fs::create_dir(p.join("src")).unwrap();
    std::fs::write(p.join("src/main.rs"), "fn main() {}\n").unwrap();
    ok(p, &["checkpoint", "-m", "third"]);
    d
}

/// [`project`] with a second timeline, `exp`, one state ahead (exp.txt
/// added), and `main` current again.
pub fn project_with_timelines() -> TempDir {
    let d = project();
    let p = d.path();
    ok(p, &["timeline", "create", "exp"]);
    std::fs::write(p.join("exp.txt"), "only on exp\n").unwrap();
    ok(p, &["checkpoint", "-m", "on exp"]);
    ok(p, &["timeline", "switch", "main"]);
    d
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "checkpoint")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn serve_prints_one_line_with_the_address_and_a_token_new_each_run() {
    let d = project();
    let a = Server::start(d.path(), &[]);
    let b = Server::start(d.path(), &[]);
    assert!(
        a.line.starts_with("Serving http://127.0.0.1:"),
        "{}",
        a.line
    );
    assert_eq!(a.token.len(), 64);
    assert_ne!(a.token, b.token);
    assert_ne!(a.addr.port(), 0);
}

#[test]
fn checkpoints_are_the_objects_of_tl_log_json_newest_first_with_paging() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let log = json(d.path(), &["log", "--json"]);
    let all = s.json("/api/checkpoints");
    assert_eq!(all["total"], 3);
    let log_cps: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "checkpoint")
        .collect();
    let api_cps: Vec<&Value> = all["checkpoints"].as_array().unwrap().iter().collect();
    assert_eq!(api_cps, log_cps, "same objects as tl log --json");
    let p1 = s.json("/api/checkpoints?limit=2");
    assert_eq!(ids(&p1["checkpoints"]).len(), 2);
    assert_eq!(p1["next_offset"], 2);
    let p2 = s.json("/api/checkpoints?limit=2&offset=2");
    assert_eq!(ids(&p2["checkpoints"]), vec![ids(&log)[2].clone()]);
    assert_eq!(p2["next_offset"], Value::Null);
    let src = s.json("/api/checkpoints?path=src");
    assert_eq!(ids(&src["checkpoints"]), vec![ids(&log)[0].clone()]);
    let second = ids(&log)[1].clone();
    let until = s.json(&format!("/api/checkpoints?until={second}"));
    assert_eq!(until["total"], 2);
    let since = s.json(&format!("/api/checkpoints?since={second}"));
    assert_eq!(since["total"], 2);
    assert_eq!(s.json("/api/checkpoints?timeline=main")["total"], 3);
    let r = s.get("/api/checkpoints?timeline=nope");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn file_tree_diff_and_history_at_a_past_instant() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let log = ids(&json(d.path(), &["log", "--json"]));
    let first = &log[2];
    let f = s.get(&format!("/api/file?path=a.txt&at={first}"));
    assert_eq!(f.status, 200);
    assert_eq!(f.text(), "one\n");
    assert!(f.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(s.get("/api/file?path=a.txt&at=now").text(), "one\ntwo\n");
    let tree = s.json(&format!("/api/tree?at={first}"));
    let paths: Vec<&str> = tree["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["a.txt"]);
    assert_eq!(s.json("/api/tree")["total"], 2);
    let diff = s.get(&format!("/api/diff?from={first}&to=now"));
    assert_eq!(diff.status, 200);
    let text = diff.text();
    assert!(text.contains("diff --git a/a.txt b/a.txt"), "{text}");
    assert!(text.contains("+two"), "{text}");
    assert!(text.contains("new file mode"), "{text}");
    let only = s.get(&format!("/api/diff?from={first}&path=src")).text();
    assert!(!only.contains("a.txt"), "{only}");
    let dj = s.json(&format!("/api/diff?from={first}&format=json"));
    let files = dj["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], "a.txt");
    assert_eq!(files[0]["insertions"], 1);
    let h = s.json("/api/history?path=a.txt");
    let labels: Vec<&str> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["+1 -0 lines: second", "added, 1 lines: first"]);
}

#[test]
fn the_time_t_takes_every_form_the_cli_takes() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let log = ids(&json(d.path(), &["log", "--json"]));
    ok(d.path(), &["pin", "release", &log[1]]);
    let cps = s.json("/api/checkpoints");
    let time = cps["checkpoints"][1]["time"].as_str().unwrap().to_string();
    for t in ["now", "0s", "release", &log[1][..8], "@999999", &time] {
        let r = s.get(&format!("/api/tree?at={}", t.replace('+', "%2B")));
        assert_eq!(r.status, 200, "at={t}: {}", r.text());
    }
    let pinned = s.json("/api/tree?at=release");
    assert_eq!(pinned["checkpoint"]["id"], log[1].as_str());
    let at_time = s.json(&format!("/api/tree?at={time}"));
    assert_eq!(at_time["checkpoint"]["id"], log[1].as_str());
}

#[test]
fn activity_counts_changes_per_bucket_over_the_history() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let a = s.json("/api/activity?buckets=5");
    let b = a["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 5);
    let cps: u64 = b.iter().map(|x| x["checkpoints"].as_u64().unwrap()).sum();
    let changes: u64 = b.iter().map(|x| x["changes"].as_u64().unwrap()).sum();
    assert_eq!((cps, changes), (3, 3));
}

#[test]
fn timelines_are_those_of_tl_timeline_list_json_and_each_line_has_its_activity() {
    let d = project_with_timelines();
    let s = Server::start(d.path(), &[]);
    let list = json(d.path(), &["timeline", "list", "--json"]);
    assert_eq!(s.json("/api/timelines"), list);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["main", "exp"]);
    assert_eq!(list[0]["current"], true);
    for t in list.as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let line = s.json(&format!("/api/checkpoints?timeline={name}"));
        assert_eq!(line["total"], t["states"], "{name}");
        let a = s.json(&format!("/api/activity?buckets=4&timeline={name}"));
        let cps: u64 = a["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["checkpoints"].as_u64().unwrap())
            .sum();
        assert_eq!(Value::from(cps), t["states"], "{name}");
    }
    let r = s.get("/api/activity?timeline=nope");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn status_names_the_root_and_says_restores_are_off_by_default() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let st = s.json("/api/status");
    assert_eq!(st["checkpoints"], 3);
    assert_eq!(st["allow_restore"], false);
    assert_eq!(st["daemon"], Value::Null);
    let r = Server::start(d.path(), &["--allow-restore"]);
    assert_eq!(r.json("/api/status")["allow_restore"], true);
}

#[test]
fn new_captures_show_up_in_the_api_and_as_an_event() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let mut ev = s.events();
    let hello = next_event(&mut ev, "hello");
    assert_eq!(hello["checkpoints"], 3);
    std::fs::write(d.path().join("b.txt"), "new\n").unwrap();
    // The server holds no lock: a checkpoint beside it is written as usual.
    ok(d.path(), &["checkpoint", "-m", "fourth"]);
    let got = next_event(&mut ev, "checkpoint");
    assert_eq!(got["newest"]["message"], "fourth");
    assert_eq!(s.json("/api/checkpoints")["total"], 4);
    assert_eq!(s.get("/api/file?path=b.txt").text(), "new\n");
}

#[test]
fn sigterm_stops_the_server_cleanly_with_an_event_stream_open() {
    let d = project();
    let mut s = Server::start(d.path(), &[]);
    let mut ev = s.events();
    next_event(&mut ev, "hello");
    let st = s
        .terminate(Duration::from_secs(10))
        .expect("tl serve did not stop within 10 s of SIGTERM");
    assert!(st.success(), "exit status {st:?}");
}

#[test]
fn restore_with_allow_restore_and_confirmation_brings_a_file_back() {
    let d = project();
    let s = Server::start(d.path(), &["--allow-restore"]);
    let log = ids(&json(d.path(), &["log", "--json"]));
    let post = |body: &str| {
        s.send(
            Request::new("POST", "/api/restore")
                .header("Content-Type", "application/json")
                .body(body.as_bytes().to_vec()),
        )
    };
    let unconfirmed = post(&format!(
        r#"{{"path":"a.txt","at":"{}","confirm":false}}"#,
        log[2]
    ));
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.text());
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    let done = post(&format!(
        r#"{{"path":"a.txt","at":"{}","confirm":true}}"#,
        log[2]
    ));
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
}

#[test]
fn under_the_daemon_the_newest_file_holds_the_edit_just_made() {
    let d = crate::daemon::Daemon::start(2_000);
    let root = d.root();
    crate::daemon::write(&root, "a.txt", "first\n");
    crate::daemon::wait_sync(&root, Duration::from_secs(20));
    let s = Server::start(&root, &[]);
    assert_eq!(s.get("/api/file?path=a.txt").text(), "first\n");
    // Inside the daemon's 2 s debounce: the server asks it to capture first.
    crate::daemon::write(&root, "a.txt", "just now\n");
    assert_eq!(s.get("/api/file?path=a.txt&at=now").text(), "just now\n");
    crate::daemon::write(&root, "b.txt", "new\n");
    let tree = s.json("/api/tree");
    let paths: Vec<&str> = tree["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"b.txt"), "{paths:?}");
}
