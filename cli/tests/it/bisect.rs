//! `tl bisect` end to end: real states, a real command run in the scratch
//! copy, skips, a crashing command, the working directory left untouched.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{fails, ok, tl};

/// A project with `n` states, the i-th (from 1) holding `v` = i and
/// `sub/marker`; returns the ids, oldest first.
fn history(root: &Path, n: usize) -> Vec<String> {
    ok(root, &["init"]);
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/marker"), "m\n").unwrap();
    for i in 1..=n {
        fs::write(root.join("v"), format!("{i}\n")).unwrap();
        if i % 7 == 0 {
            fs::write(root.join(format!("extra-{i}")), "x\n").unwrap();
        }
        ok(root, &["checkpoint", "-m", &format!("v{i}")]);
    }
    let log: Value = serde_json::from_str(&ok(root, &["log", "--json"])).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "checkpoint")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .rev()
        .collect()
}

fn bisect(dir: &Path, ids: &[String], script: &str) -> Value {
    let out = ok(
        dir,
        &[
            "bisect",
            "--good",
            &ids[0],
            "--bad",
            ids.last().unwrap(),
            "--json",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn bisect_finds_the_first_bad_state_in_at_most_log2_steps_and_leaves_the_tree_alone() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 40);
    let before = fs::read(root.join("v")).unwrap();
    // Bad from v = 23 on; the command runs from the copy's counterpart of sub/.
    let v = bisect(
        &root.join("sub"),
        &ids,
        "test -f marker && test \"$(basename \"$PWD\")\" = sub && test \"$(cat ../v)\" -lt 23",
    );
    assert_eq!(v["first_bad"]["id"], ids[22].as_str(), "{v}");
    assert_eq!(v["last_good"]["id"], ids[21].as_str());
    let steps = v["steps"].as_array().unwrap().len();
    // 38 states strictly between: at most ceil(log2 39) = 6 steps.
    assert!(steps <= 6, "{steps} steps");
    assert_eq!(v["changes"][0]["path"], "v");
    // Untouched: same content, no file of the copy, no new state.
    assert_eq!(fs::read(root.join("v")).unwrap(), before);
    let log: Value = serde_json::from_str(&ok(root, &["log", "--json"])).unwrap();
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "checkpoint")
            .count(),
        40
    );
}

#[test]
fn bisect_every_state_is_a_candidate_and_files_are_removed_between_steps() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 30);
    // Bad once extra-14 exists: the copy must lose it again when a state
    // without it is written (minimal diffs remove what the target lacks).
    let v = bisect(root, &ids, "test ! -e extra-14");
    assert_eq!(v["first_bad"]["id"], ids[13].as_str(), "{v}");
}

#[test]
fn bisect_skips_untestable_states_and_names_the_range_left() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 20);
    // 10 and 11 cannot be tested; the first bad one is 11.
    let v = bisect(
        root,
        &ids,
        "n=$(cat v); if [ $n -eq 10 ] || [ $n -eq 11 ]; then exit 125; fi; test $n -lt 11",
    );
    let untested: Vec<&str> = v["untested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(v["first_bad"]["id"], ids[11].as_str(), "{v}");
    assert_eq!(untested, [ids[9].as_str(), ids[10].as_str()]);
    assert!(v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["verdict"] == "skip"));
}

#[test]
fn a_command_that_crashes_counts_as_bad() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 12);
    let v = bisect(root, &ids, "if [ $(cat v) -ge 5 ]; then kill -SEGV $$; fi");
    assert_eq!(v["first_bad"]["id"], ids[4].as_str(), "{v}");
    let crashed = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["exit"].as_str().unwrap().contains("signal"));
    assert!(crashed, "{v}");
}

#[test]
fn bisect_refuses_a_good_state_after_the_bad_one_and_a_missing_command() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 3);
    let err = fails(
        root,
        &["bisect", "--good", &ids[2], "--bad", &ids[0], "--", "true"],
    );
    assert!(err.contains("is not before --bad"), "{err}");
    let out = tl(
        root,
        &[
            "bisect",
            "--good",
            &ids[0],
            "--bad",
            &ids[2],
            "--",
            "no-such-command-tl",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run no-such-command-tl"));
}

#[test]
fn bisect_prints_the_first_bad_state_and_its_diff() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let ids = history(root, 8);
    let out = ok(
        root,
        &[
            "bisect",
            "--good",
            &ids[0],
            "--bad",
            &ids[7],
            "--",
            "sh",
            "-c",
            "test $(cat v) -lt 6",
        ],
    );
    assert!(
        out.contains(&format!("First bad state: {}", ids[5])),
        "{out}"
    );
    assert!(out.contains("-5") && out.contains("+6"), "{out}");
}
