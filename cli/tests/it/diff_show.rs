//! `tl diff` as git shows it: binary by git's rule, mode changes, `A [B] [PATH...]`
//! arguments, a start before the first checkpoint, both points in JSON.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::util::{fails, json, ok, tl};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    fs::write(d.path().join("b.txt"), "b\n").unwrap();
    ok(d.path(), &["init"]);
    d
}

fn id(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn diff_treats_a_file_with_a_nul_byte_as_binary_as_git_does() {
    let d = project();
    fs::write(d.path().join("data"), "text\0more\n").unwrap();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("data"), "text\0less\n").unwrap();
    let out = ok(d.path(), &["diff", &first]);
    assert!(
        out.contains("Binary files a/data and b/data differ"),
        "{out}"
    );
    assert!(!out.contains("+text"), "{out}");
    let v = json(d.path(), &["diff", &first, "--json"]);
    assert_eq!(v["files"][0]["binary"], true);
}

#[test]
fn diff_shows_a_mode_change_as_git_does() {
    let d = project();
    let run = d.path().join("run.sh");
    fs::write(&run, "echo hi\n").unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::set_permissions(&run, fs::Permissions::from_mode(0o644)).unwrap();
    let out = ok(d.path(), &["diff", &first]);
    assert!(
        out.contains("diff --git a/run.sh b/run.sh\nold mode 100755\nnew mode 100644\n"),
        "{out}"
    );
    let stat = ok(d.path(), &["diff", &first, "--stat"]);
    assert!(stat.contains("run.sh | mode 100755 => 100644"), "{stat}");
    let v = json(d.path(), &["diff", &first, "--json"]);
    assert_eq!(v["files"][0]["old_mode"], "100755");
    assert_eq!(v["files"][0]["new_mode"], "100644");
}

#[test]
fn diff_takes_paths_after_a_single_point_without_dashes() {
    let d = project();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("b.txt"), "bb\n").unwrap();
    let out = ok(d.path(), &["diff", &first, "a.txt"]);
    assert!(out.contains("a/a.txt") && !out.contains("b.txt"), "{out}");
}

#[test]
fn diff_takes_two_points_then_paths() {
    let d = project();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("b.txt"), "bb\n").unwrap();
    let second = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("a.txt"), "three\n").unwrap();
    let out = ok(d.path(), &["diff", &first, &second, "b.txt"]);
    assert!(out.contains("+bb") && !out.contains("a.txt"), "{out}");
    let out = ok(d.path(), &["diff", &first, &second]);
    assert!(out.contains("+two") && !out.contains("three"), "{out}");
}

#[test]
fn diff_with_a_word_that_is_neither_point_nor_path_hints_at_dashes() {
    let d = project();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    let err = fails(d.path(), &["diff", &first, "src/missing.rs"]);
    assert!(
        err.contains("neither a point in history nor a path") && err.contains("--"),
        "{err}"
    );
}

#[test]
fn diff_from_before_the_first_checkpoint_starts_at_the_first_with_a_note() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    let out = tl(d.path(), &["diff", "1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("+two"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("first checkpoint"));
}

#[test]
fn diff_json_names_both_points() {
    let d = project();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    let v = json(d.path(), &["diff", &first, "--json"]);
    assert_eq!(v["from"]["id"], first.as_str());
    assert_eq!(v["to"], "worktree");
    let second = id(&json(d.path(), &["checkpoint", "--json"]));
    let v = json(d.path(), &["diff", &first, &second, "--json"]);
    assert_eq!(v["to"]["id"], second.as_str());
}

#[test]
fn diff_stat_aligns_its_columns() {
    let d = project();
    let first = id(&json(d.path(), &["checkpoint", "--json"]));
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("a-much-longer-name.txt"), "x\n").unwrap();
    let stat = ok(d.path(), &["diff", &first, "--stat"]);
    let bars: Vec<usize> = stat.lines().filter_map(|l| l.find('|')).collect();
    assert_eq!(bars.len(), 2, "{stat}");
    assert_eq!(bars[0], bars[1], "{stat}");
}
