//! Times, ids and pins as a user pastes them: whatever `tl log` prints selects the
//! checkpoint it was printed for; one rule for id prefixes; pins that neither
//! shadow nor hide ids and times, and move or go only when asked.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::{fails, json, ok};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    ok(d.path(), &["init"]);
    d
}

/// Waits (bounded) until the wall clock is in a later second than `ns`, so two
/// checkpoints are not printed with the same time.
fn next_second_after(ns: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        if now / 1_000_000_000 > ns / 1_000_000_000 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Two checkpoints in different seconds: a.txt is "one" then "two". Returns the
/// second checkpoint's JSON.
fn two_checkpoints(d: &Path) -> serde_json::Value {
    let first = json(d, &["checkpoint", "--json"]);
    next_second_after(first["time_ns"].as_i64().unwrap());
    fs::write(d.join("a.txt"), "two\n").unwrap();
    json(d, &["checkpoint", "--json"])
}

/// The time `tl log` prints on the line of checkpoint `id`.
fn printed_time(d: &Path, id: &str) -> String {
    let log = ok(d, &["log"]);
    let line = log.lines().find(|l| l.starts_with(id)).unwrap();
    let rest = line[id.len()..].trim_start();
    rest[..rest.find(" (").unwrap()].to_string()
}

#[test]
fn a_time_printed_by_log_with_its_offset_selects_that_checkpoint() {
    let d = project();
    let second = two_checkpoints(d.path());
    let shown = printed_time(d.path(), second["id"].as_str().unwrap());
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", &shown]), "two\n");
}

#[test]
fn a_printed_time_without_its_offset_still_selects_that_checkpoint_despite_the_dropped_fraction() {
    let d = project();
    let second = two_checkpoints(d.path());
    let shown = printed_time(d.path(), second["id"].as_str().unwrap());
    let local = &shown[..shown.rfind(' ').unwrap()];
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", local]), "two\n");
}

#[test]
fn log_since_and_until_the_same_printed_second_match_the_checkpoint_of_that_second() {
    let d = project();
    let second = two_checkpoints(d.path());
    let id = second["id"].as_str().unwrap();
    let shown = printed_time(d.path(), id);
    let v = json(
        d.path(),
        &["log", "--json", "--since", &shown, "--until", &shown],
    );
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id]);
}

#[test]
fn json_times_are_rfc3339_utc_with_fractions_whatever_the_time_zone() {
    let d = project();
    let cp = two_checkpoints(d.path());
    let out = Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(d.path())
        .env("TZ", "Asia/Kathmandu")
        .args(["log", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let time = v[0]["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.contains('T'), "{time}");
    let ns = cp["time_ns"].as_i64().unwrap();
    if ns % 1_000_000_000 != 0 {
        assert!(time.contains('.'), "fractional seconds expected: {time}");
    }
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", time]), "two\n");
}

#[test]
fn an_id_prefix_shorter_than_four_digits_is_too_short_whatever_it_matches() {
    let d = project();
    let id = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A hex prefix made of number-`d` pairs (`754d`, `12d3d`) reads as days, and an
    // expression that reads as a time is a time: those prefixes are not names here.
    for short in ["a", "c", &id[..1], &id[..3]]
        .into_iter()
        .filter(|p| !reads_as_days(p))
    {
        let err = fails(d.path(), &["show", "a.txt", "--at", short]);
        assert!(err.contains("too short"), "{short}: {err}");
    }
    let four = (4..=id.len())
        .map(|n| &id[..n])
        .find(|p| !reads_as_days(p))
        .unwrap();
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", four]), "one\n");
}

/// True when `s` is one or more (digits, `d`) pairs: a relative time in days.
fn reads_as_days(s: &str) -> bool {
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || rest.as_bytes().get(digits) != Some(&b'd') {
            return false;
        }
        rest = &rest[digits + 1..];
    }
    !s.is_empty()
}

#[test]
fn pinning_a_name_that_names_another_checkpoint_needs_force() {
    let d = project();
    let two = two_checkpoints(d.path());
    let log = json(d.path(), &["log", "--json"]);
    let first = log[1]["id"].as_str().unwrap().to_string();
    ok(d.path(), &["pin", "good", &first]);
    let err = fails(d.path(), &["pin", "good"]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", "good"]), "one\n");
    // The same checkpoint again is no move.
    assert!(ok(d.path(), &["pin", "good", &first]).contains("Already pinned"));
    let out = ok(d.path(), &["pin", "--force", "good"]);
    assert!(out.contains(two["id"].as_str().unwrap()), "{out}");
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", "good"]), "two\n");
}

#[test]
fn a_pin_named_like_a_checkpoint_id_or_a_time_is_refused() {
    let d = project();
    let id = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for name in [
        id.as_str(),
        "c60e5b685891",
        "cafe",
        "10m",
        "now",
        "yesterday",
        "2026-11-22",
    ] {
        let err = fails(d.path(), &["pin", name]);
        assert!(err.contains("cannot be a pin name"), "{name}: {err}");
    }
    assert!(json(d.path(), &["pins", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
    ok(d.path(), &["pin", "bad"]);
}

#[test]
fn pin_delete_removes_the_pin_and_keeps_the_checkpoint() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    ok(d.path(), &["pin", "release"]);
    assert!(ok(d.path(), &["pin", "--delete", "release"]).contains("Deleted pin release"));
    assert!(json(d.path(), &["pins", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
    let err = fails(d.path(), &["show", "a.txt", "--at", "release"]);
    assert!(
        err.contains("not a checkpoint id, a pin, a timeline or a time"),
        "{err}"
    );
    let err = fails(d.path(), &["pin", "--delete", "release"]);
    assert!(err.contains("no pin named"), "{err}");
    assert_eq!(
        json(d.path(), &["log", "--json"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn pins_are_listed_in_aligned_columns() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    ok(d.path(), &["pin", "a-long-pin-name"]);
    ok(d.path(), &["pin", "x"]);
    let out = ok(d.path(), &["pins"]);
    // The id column starts where the longest name's padding ends, on every line.
    let starts: Vec<usize> = out
        .lines()
        .map(|l| {
            let gap = l.find("  ").unwrap();
            gap + l[gap..].len() - l[gap..].trim_start().len()
        })
        .collect();
    assert_eq!(starts.len(), 2, "{out}");
    assert_eq!(starts[0], starts[1], "ids start in one column: {out}");
}
