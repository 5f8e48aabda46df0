//! `tl gc` end to end (issue 12): the dry run changes nothing, the GC thins to
//! the policy and keeps ids and content, and kill -9 of a real `tl gc` at random
//! moments never loses a state it was to keep.
//!
//! `TL_GC_KILL9_RUNS` sets the number of kill runs (default 50).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{fails, json, ok};

/// A policy that keeps only what is always kept: the newest state and the pins.
const KEEP_NOTHING: &str = "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\n\
                            keep-minutely = \"0s\"\nkeep-hourly = \"0s\"\nkeep-daily = \"0s\"\n";

fn ids(root: &Path) -> BTreeSet<String> {
    let log: Value = json(root, &["log", "--json"]);
    log.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The id of the checkpoint with the highest sequence number.
fn newest_id(root: &Path) -> String {
    let log: Value = json(root, &["log", "--json"]);
    let newest = log
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|c| c["seq"].as_u64().unwrap())
        .unwrap();
    newest["id"].as_str().unwrap().to_string()
}

fn log_bytes(root: &Path) -> u64 {
    fs::read_dir(root.join(".tl/wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Every file under `dir` (but `.tl/`), with its content.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".tl") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A project with `n` checkpoints of a few files each, the second one pinned
/// `keep`, and the keep-nothing policy.
fn project_with_history(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    fs::write(root.join(".tl/config.toml"), KEEP_NOTHING).unwrap();
    for i in 0..n {
        fs::write(
            root.join(format!("f{}.txt", i % 4)),
            format!("version {i}\n").repeat(50),
        )
        .unwrap();
        ok(root, &["checkpoint"]);
        if i == 1 {
            ok(root, &["pin", "keep"]);
        }
    }
    d
}

fn replayed(root: &Path, at: &str, into: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let _ = fs::remove_dir_all(into);
    ok(
        root,
        &["replay", "--to", at, "--into", into.to_str().unwrap()],
    );
    tree(into)
}

#[test]
fn gc_dry_run_lists_what_would_go_and_changes_nothing() {
    let d = project_with_history(6);
    let root = d.path();
    let before = ids(root);
    let bytes = log_bytes(root);
    let plan = json(root, &["gc", "--dry-run", "--json"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["states_before"], 6);
    assert_eq!(plan["kept"], 2, "{plan}");
    assert_eq!(plan["would_drop"].as_array().unwrap().len(), 4);
    let text = ok(root, &["gc", "--dry-run"]);
    assert!(
        text.contains("would keep 2 of 6 states and drop 4"),
        "{text}"
    );
    assert_eq!(ids(root), before);
    assert_eq!(log_bytes(root), bytes);
}

#[test]
fn gc_thins_to_the_policy_keeping_ids_pins_and_content() {
    let d = project_with_history(8);
    let root = d.path();
    let out = tempfile::tempdir().unwrap();
    let pinned_before = replayed(root, "keep", &out.path().join("a"));
    let head_before = tree(root);
    let before = ids(root);
    let report = json(root, &["gc", "--json"]);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["states_before"], 8);
    assert_eq!(report["kept"], 2);
    assert_eq!(report["dropped"], 6);
    assert!(report["log_bytes_after"].as_u64() < report["log_bytes_before"].as_u64());
    assert!(report["seconds"].as_f64().is_some());
    let after = ids(root);
    assert_eq!(after.len(), 2);
    assert!(after.is_subset(&before), "ids are unchanged");
    assert_eq!(replayed(root, "keep", &out.path().join("b")), pinned_before);
    let newest = newest_id(root);
    assert_eq!(replayed(root, &newest, &out.path().join("c")), head_before);
    let fsck = ok(root, &["fsck", "--deep"]);
    assert!(
        fsck.contains("OK")
            && fsck.contains("thinned by tl gc at")
            && fsck.contains("kept 2 of 8 states (#1..#8)"),
        "{fsck}"
    );
    let gcs = json(root, &["fsck", "--json"])["gcs"].clone();
    assert_eq!(gcs[0]["dropped"], 6, "{gcs}");
    // The horizon and the GC show where users look.
    let log = ok(root, &["log"]);
    assert!(
        log.contains("Retention ([retention] in .tl/config.toml): no rule keeps past states")
            && log.contains("last GC")
            && log.contains("kept 2 of 8 states"),
        "{log}"
    );
    let status = ok(root, &["status"]);
    assert!(
        status.contains("Store: ") && status.contains("kept 2 of 8 states"),
        "{status}"
    );
    let again = ok(root, &["gc"]);
    assert!(again.contains("Nothing to do"), "{again}");
    // Capture goes on after a GC.
    fs::write(root.join("new.txt"), b"after").unwrap();
    ok(root, &["checkpoint"]);
    assert_eq!(ids(root).len(), 3);
}

#[test]
fn gc_refuses_a_bad_retention_section_naming_the_known_keys() {
    let d = project_with_history(2);
    let root = d.path();
    fs::write(
        root.join(".tl/config.toml"),
        "[retention]\nkeep-weekly = \"4w\"\n",
    )
    .unwrap();
    let err = fails(root, &["gc"]);
    assert!(
        err.contains("keep-weekly") && err.contains("keep-daily"),
        "{err}"
    );
}

#[test]
fn kill_9_during_gc_never_loses_a_kept_state() {
    let runs: usize = std::env::var("TL_GC_KILL9_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    fs::write(root.join(".tl/config.toml"), KEEP_NOTHING).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rng = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Enough content that a GC takes a while: 300 files of ~4 KB.
    let write = |i: usize, v: u64| {
        let body: Vec<u8> = format!("file {i} version {v}\n").into_bytes().repeat(200);
        fs::write(root.join(format!("f{i:03}.txt")), body).unwrap();
    };
    for i in 0..300 {
        write(i, 0);
    }
    ok(root, &["checkpoint"]);
    ok(root, &["pin", "base"]);
    let out = tempfile::tempdir().unwrap();
    let base = replayed(root, "base", &out.path().join("base"));
    // One GC that drops two states, timed, to aim the kills.
    for v in 1..4 {
        for i in 0..20 {
            write(i, v);
        }
        ok(root, &["checkpoint"]);
    }
    let t = Instant::now();
    ok(root, &["gc"]);
    let full = t.elapsed();
    assert_eq!(ids(root).len(), 2, "the timed GC dropped two states");
    let (mut killed, mut completed) = (0, 0);
    let (mut finished_by_recover, mut undone_by_recover) = (0, 0);
    for run in 0..runs {
        for _ in 0..3 {
            for _ in 0..10 {
                write((rng() % 300) as usize, run as u64 + 4);
            }
            ok(root, &["checkpoint"]);
        }
        let before = ids(root);
        let head = tree(root);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
            .current_dir(root)
            .arg("gc")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let window = full.as_micros().max(20_000) as u64 * 3 / 2;
        std::thread::sleep(Duration::from_micros(rng() % window));
        let _ = child.kill();
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        if done.status.success() {
            completed += 1;
        } else {
            killed += 1;
        }
        // The next writer finishes or undoes the GC, and says which.
        let said = ok(root, &["recover"]);
        if said.contains("Finished a GC") {
            finished_by_recover += 1;
        } else if said.contains("Removed the unfinished new log") {
            undone_by_recover += 1;
        }
        let after = ids(root);
        let newest = before.iter().find(|id| after.contains(*id));
        assert!(
            after == before || after.len() == 2,
            "run {run}: the old log or the thinned one, nothing between: {before:?} -> {after:?}"
        );
        assert!(newest.is_some(), "run {run}: kept states lost");
        assert_eq!(
            replayed(root, "base", &out.path().join("r")),
            base,
            "run {run}"
        );
        let last = newest_id(root);
        assert_eq!(
            replayed(root, &last, &out.path().join("h")),
            head,
            "run {run}"
        );
        if run % 10 == 9 || run + 1 == runs {
            let report = ok(root, &["fsck", "--deep"]);
            assert!(report.contains("OK"), "run {run}: {report}");
        }
    }
    eprintln!(
        "GC kill -9: {runs} runs ({killed} killed, {completed} completed; `tl recover` \
         finished {finished_by_recover} interrupted GCs and undid {undone_by_recover}), every \
         kept state replayed identical after `tl recover`; one GC took {full:?}"
    );
}

#[test]
fn gc_packs_new_content_into_solid_blocks_keeping_every_state() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    // Over 1 MiB (as stored) of small files in a shared vocabulary, as source
    // code is: each compresses so-so alone, far better together.
    const WORDS: [&str; 32] = [
        "fn", "let", "mut", "match", "Some", "None", "Ok", "Err", "impl", "for", "in", "return",
        "self", "Vec", "String", "usize", "u64", "pub", "struct", "enum", "where", "trait", "use",
        "crate", "mod", "if", "else", "while", "loop", "break", "continue", "as",
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..600 {
        let mut body = String::new();
        while body.len() < 6_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.push_str(WORDS[(x % 32) as usize]);
            body.push(if x.is_multiple_of(7) { '\n' } else { ' ' });
        }
        fs::write(root.join(format!("f{i:03}.rs")), body).unwrap();
    }
    ok(root, &["checkpoint"]);
    fs::write(root.join("f000.rs"), b"changed\n").unwrap();
    ok(root, &["checkpoint"]);
    let before = ids(root);
    let out = tempfile::tempdir().unwrap();
    let first = before.iter().next().unwrap().clone();
    let old_first = replayed(root, &first, &out.path().join("a"));
    let plan = json(root, &["gc", "--dry-run", "--json"]);
    assert_eq!(plan["dropped"], 0);
    assert!(
        plan["unpacked_bytes"].as_u64().unwrap() >= 1 << 20,
        "{plan}"
    );
    let report = json(root, &["gc", "--json"]);
    assert_eq!(report["kept"], 2);
    let (was, now) = (
        report["log_bytes_before"].as_u64().unwrap(),
        report["log_bytes_after"].as_u64().unwrap(),
    );
    assert!(
        now < was * 3 / 4,
        "packing shrank the log only from {was} to {now}"
    );
    assert_eq!(ids(root), before, "every state and its id stay");
    assert_eq!(replayed(root, &first, &out.path().join("b")), old_first);
    assert!(ok(root, &["fsck", "--deep"]).contains("OK"));
    assert!(ok(root, &["gc"]).contains("Nothing to do"));
}
