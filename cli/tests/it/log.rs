//! `tl log`: gaps at their time and filtered, `-n`, relative times, the paths of
//! each checkpoint, a path's own history, multi-line messages.

use std::fs;
use std::path::Path;

use tl_index::store::Store;

use crate::util::{json, ok};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    fs::write(d.path().join("b.txt"), "b\n").unwrap();
    ok(d.path(), &["init"]);
    d
}

/// Records a gap of events from `from_ns` to `to_ns`, as a watcher does.
fn record_gap(d: &Path, from_ns: i64, to_ns: i64) {
    let mut store = Store::open(&fs::canonicalize(d).unwrap()).unwrap();
    store.record_gap(from_ns, to_ns, "test gap").unwrap();
}

/// c1, a gap just after it, c2 (a.txt changed). Returns (c1, c2) as JSON.
fn with_gap(d: &Path) -> (serde_json::Value, serde_json::Value) {
    let c1 = json(d, &["checkpoint", "--json", "-m", "first"]);
    let t1 = c1["time_ns"].as_i64().unwrap();
    record_gap(d, t1, t1 + 1);
    fs::write(d.join("a.txt"), "two\n").unwrap();
    let c2 = json(d, &["checkpoint", "--json", "-m", "second"]);
    (c1, c2)
}

#[test]
fn log_gap_rows_sit_at_their_time_between_checkpoints() {
    let d = project();
    let (c1, c2) = with_gap(d.path());
    let out = ok(d.path(), &["log"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with(c2["id"].as_str().unwrap()), "{out}");
    assert!(lines[1].starts_with("gap"), "{out}");
    assert!(lines[2].starts_with(c1["id"].as_str().unwrap()), "{out}");
}

#[test]
fn log_time_and_path_filters_apply_to_gap_rows() {
    let d = project();
    let (_, c2) = with_gap(d.path());
    let since = ok(d.path(), &["log", "--since", c2["id"].as_str().unwrap()]);
    assert!(!since.contains("gap"), "{since}");
    // The capture closing the gap changed a.txt, not b.txt.
    assert!(ok(d.path(), &["log", "a.txt"]).contains("gap"));
    let b = ok(d.path(), &["log", "b.txt"]);
    assert!(!b.contains("gap"), "{b}");
}

#[test]
fn log_json_includes_gaps_in_time_order() {
    let d = project();
    with_gap(d.path());
    let v = json(d.path(), &["log", "--json"]);
    let types: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["checkpoint", "gap", "checkpoint"]);
    assert_eq!(v[1]["reason"], "test gap");
    assert!(v[1]["from"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn log_n_shows_only_the_newest_checkpoints() {
    let d = project();
    for i in 0..3 {
        fs::write(d.path().join("a.txt"), format!("{i}\n")).unwrap();
        ok(d.path(), &["checkpoint", "-m", &format!("m{i}")]);
    }
    let v = json(d.path(), &["log", "--json", "-n", "2"]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["message"], "m2");
    assert_eq!(ok(d.path(), &["log", "-n", "1"]).lines().count(), 1);
}

#[test]
fn log_shows_how_long_ago_beside_the_time() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["log"]);
    assert!(out.contains(" s ago)"), "{out}");
}

#[test]
fn log_name_status_lists_the_paths_each_checkpoint_changed() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::remove_file(d.path().join("b.txt")).unwrap();
    fs::write(d.path().join("c.txt"), "c\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["log", "-n", "1", "--name-status"]);
    assert!(
        out.contains("    M a.txt\n")
            && out.contains("    D b.txt\n")
            && out.contains("    A c.txt\n"),
        "{out}"
    );
    let v = json(d.path(), &["log", "--json", "-n", "1", "--name-status"]);
    assert_eq!(v[0]["changes"].as_array().unwrap().len(), 3);
}

#[test]
fn log_stat_lists_changed_paths_with_line_counts_in_aligned_columns() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join("a.txt"), "one\nmore\n").unwrap();
    fs::create_dir(d.path().join("longer-directory")).unwrap();
    fs::write(d.path().join("longer-directory/file.txt"), "x\ny\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["log", "-n", "1", "--stat"]);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" | ")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains("a.txt") && rows[0].ends_with("+1 -0"),
        "{out}"
    );
    assert!(rows[1].ends_with("+2 -0"), "{out}");
    assert_eq!(rows[0].find('|'), rows[1].find('|'), "{out}");
}

#[test]
fn log_with_a_path_says_what_happened_to_that_path_not_the_totals() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("c.txt"), "c\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["log", "a.txt"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("modified a.txt"), "{out}");
    assert!(lines[1].contains("added a.txt"), "{out}");
    assert!(!out.contains("+1 ~1"), "{out}");
}

#[test]
fn log_keeps_each_line_of_a_multi_line_message_on_a_line_of_its_own() {
    let d = project();
    ok(d.path(), &["checkpoint", "-m", "subject\n\nbody line"]);
    let out = ok(d.path(), &["log"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("subject"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.trim() == "body line" && l.starts_with("    ")),
        "{out}"
    );
}
