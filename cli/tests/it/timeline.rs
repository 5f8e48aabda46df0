//! `tl timeline`, `tl undo` and `tl log --timeline/--all` end to end: the
//! real binary on a real directory.

use std::fs;
use std::path::Path;

use crate::util::{fails, json, ok, tl};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    fs::write(d.path().join("a.txt"), "a on main\n").unwrap();
    fs::write(d.path().join("keep.txt"), "shared\n").unwrap();
    ok(d.path(), &["checkpoint", "-m", "one"]);
    d
}

fn read(root: &Path, p: &str) -> Option<String> {
    fs::read_to_string(root.join(p)).ok()
}

fn names(root: &Path) -> Vec<(String, bool)> {
    json(root, &["timeline", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_new_timeline_takes_the_edits_along_and_switching_back_shelves_them() {
    let d = project();
    let root = d.path();
    // An edit not captured yet comes along to the new timeline.
    fs::write(root.join("a.txt"), "edited before create\n").unwrap();
    ok(root, &["timeline", "create", "exp"]);
    assert_eq!(read(root, "a.txt").unwrap(), "edited before create\n");
    fs::write(root.join("new-on-exp.txt"), "x\n").unwrap();
    // Switching away captures it (the shelf) and brings main's newest state.
    ok(root, &["timeline", "switch", "main"]);
    assert_eq!(read(root, "a.txt").unwrap(), "edited before create\n");
    assert_eq!(
        read(root, "new-on-exp.txt"),
        None,
        "files made on exp stay with it"
    );
    // An edit on main, then back to exp: exp's shelf comes back whole.
    fs::write(root.join("a.txt"), "a on main again\n").unwrap();
    ok(root, &["timeline", "switch", "exp"]);
    assert_eq!(read(root, "new-on-exp.txt").unwrap(), "x\n");
    assert_eq!(read(root, "a.txt").unwrap(), "edited before create\n");
    ok(root, &["timeline", "switch", "main"]);
    assert_eq!(read(root, "a.txt").unwrap(), "a on main again\n");
    assert_eq!(names(root), [("main".into(), true), ("exp".into(), false)]);
}

#[test]
fn switching_never_touches_ignored_or_untracked_files() {
    let d = project();
    let root = d.path();
    fs::write(root.join(".gitignore"), "build/\n").unwrap();
    ok(root, &["checkpoint"]);
    ok(root, &["timeline", "create", "exp"]);
    fs::create_dir(root.join("build")).unwrap();
    fs::write(root.join("build/out.o"), "object\n").unwrap();
    ok(root, &["timeline", "switch", "main"]);
    assert_eq!(read(root, "build/out.o").unwrap(), "object\n");
}

#[test]
fn a_timeline_from_a_past_state_and_names_at_times_resolve() {
    let d = project();
    let root = d.path();
    let first = json(root, &["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    ok(root, &["checkpoint", "-m", "two"]);
    ok(
        root,
        &["timeline", "create", "old", "--from", &first, "--no-switch"],
    );
    assert_eq!(
        read(root, "a.txt").unwrap(),
        "two\n",
        "--no-switch writes nothing"
    );
    assert_eq!(names(root), [("main".into(), true), ("old".into(), false)]);
    // `old` names its newest state, `main@now` main's.
    assert_eq!(ok(root, &["show", "--at", "old", "a.txt"]), "a on main\n");
    assert_eq!(ok(root, &["show", "--at", "main@now", "a.txt"]), "two\n");
    let diff = ok(root, &["diff", "old", "main"]);
    assert!(
        diff.contains("-a on main") && diff.contains("+two"),
        "{diff}"
    );
    let into = d.path().join("../into-old");
    ok(
        root,
        &["replay", "--to", "old", "--into", into.to_str().unwrap()],
    );
    assert_eq!(read(&into, "a.txt").unwrap(), "a on main\n");
    let _ = fs::remove_dir_all(&into);
    // A restore of one path from another timeline.
    ok(root, &["restore", "a.txt", "--at", "old"]);
    assert_eq!(read(root, "a.txt").unwrap(), "a on main\n");
}

#[test]
fn log_shows_the_current_timeline_by_default_and_every_one_with_all() {
    let d = project();
    let root = d.path();
    ok(root, &["timeline", "create", "exp"]);
    fs::write(root.join("a.txt"), "exp\n").unwrap();
    ok(root, &["checkpoint", "-m", "on exp"]);
    ok(root, &["timeline", "switch", "main"]);
    fs::write(root.join("a.txt"), "main\n").unwrap();
    ok(root, &["checkpoint", "-m", "on main"]);
    let msgs = |args: &[&str]| -> Vec<String> {
        json(root, args)
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "checkpoint")
            .map(|r| {
                format!(
                    "{}:{}",
                    r["timeline"].as_str().unwrap(),
                    r["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let main = msgs(&["log", "--json"]);
    assert!(main.contains(&"main:on main".to_string()), "{main:?}");
    assert!(!main.iter().any(|m| m.contains("on exp")), "{main:?}");
    let exp = msgs(&["log", "--json", "--timeline", "exp"]);
    assert!(exp.contains(&"exp:on exp".to_string()), "{exp:?}");
    assert!(
        exp.contains(&"main:one".to_string()),
        "inherited states shown: {exp:?}"
    );
    assert!(!exp.iter().any(|m| m.contains("on main")), "{exp:?}");
    let all = msgs(&["log", "--json", "--all"]);
    assert!(all.contains(&"exp:on exp".to_string()) && all.contains(&"main:on main".to_string()));
    assert!(ok(root, &["log", "--all"]).contains("[exp]"));
}

#[test]
fn rm_refuses_the_current_timeline_and_says_how_to_bring_one_back() {
    let d = project();
    let root = d.path();
    ok(root, &["timeline", "create", "exp"]);
    let err = fails(root, &["timeline", "rm", "exp"]);
    assert!(err.contains("exp is the current timeline"), "{err}");
    ok(root, &["timeline", "switch", "main"]);
    let out = tl(root, &["timeline", "rm", "exp"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("tl timeline create exp --from"), "{said}");
    assert_eq!(names(root), [("main".into(), true)]);
    let err = fails(root, &["timeline", "switch", "exp"]);
    assert!(
        err.contains("no timeline named exp") && err.contains("tl timeline list"),
        "{err}"
    );
    // The name is free again; its states are still in the log.
    let cmd: String = said
        .lines()
        .find(|l| l.contains("--from"))
        .unwrap()
        .split('`')
        .nth(1)
        .unwrap()
        .to_string();
    let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    ok(root, &args);
    assert_eq!(names(root), [("main".into(), true), ("exp".into(), false)]);
}

#[test]
fn rename_and_bad_names_are_refused_with_a_reason() {
    let d = project();
    let root = d.path();
    ok(root, &["timeline", "create", "exp", "--no-switch"]);
    ok(root, &["timeline", "rename", "exp", "spike"]);
    ok(root, &["timeline", "rename", "main", "trunk"]);
    assert_eq!(
        names(root),
        [("trunk".into(), true), ("spike".into(), false)]
    );
    assert!(fails(root, &["timeline", "create", "spike"]).contains("already exists"));
    assert!(fails(root, &["timeline", "create", "10m"]).contains("reads as a time"));
    assert!(fails(root, &["timeline", "create", "abcdef"]).contains("checkpoint id"));
    ok(root, &["pin", "rel"]);
    assert!(fails(root, &["timeline", "create", "rel"]).contains("name of a pin"));
    assert!(fails(root, &["pin", "spike"]).contains("name of a timeline"));
    assert!(fails(root, &["timeline", "switch", "trunk"]).contains("already on timeline trunk"));
}

#[test]
fn undo_undoes_a_replay_and_undo_twice_is_redo() {
    let d = project();
    let root = d.path();
    let first = json(root, &["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(root.join("a.txt"), "second\n").unwrap();
    fs::write(root.join("b.txt"), "b\n").unwrap();
    ok(root, &["replay", "--to", &first]);
    assert_eq!(read(root, "a.txt").unwrap(), "a on main\n");
    assert_eq!(read(root, "b.txt"), None);
    let v = json(root, &["undo", "--json"]);
    assert_eq!(v["undone_kind"], "restore");
    assert_eq!(
        read(root, "a.txt").unwrap(),
        "second\n",
        "the state before the replay is back"
    );
    assert_eq!(read(root, "b.txt").unwrap(), "b\n");
    let v = json(root, &["undo", "--json"]);
    assert_eq!(v["undone_kind"], "undo");
    assert_eq!(
        read(root, "a.txt").unwrap(),
        "a on main\n",
        "undo twice is redo"
    );
    assert_eq!(read(root, "b.txt"), None);
}

#[test]
fn undo_undoes_a_switch_and_a_restore() {
    let d = project();
    let root = d.path();
    ok(root, &["timeline", "create", "exp"]);
    fs::write(root.join("a.txt"), "exp\n").unwrap();
    ok(root, &["timeline", "switch", "main"]);
    let said = ok(root, &["undo"]);
    assert!(said.contains("Undid") && said.contains("switch"), "{said}");
    assert_eq!(read(root, "a.txt").unwrap(), "exp\n");
    assert_eq!(names(root), [("main".into(), false), ("exp".into(), true)]);
    // A restore of one path, undone.
    let first = json(root, &["log", "--json", "--all"])
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(root, &["restore", "a.txt", "--at", &first]);
    assert_eq!(read(root, "a.txt").unwrap(), "a on main\n");
    ok(root, &["undo"]);
    assert_eq!(read(root, "a.txt").unwrap(), "exp\n");
}

#[test]
fn undo_with_nothing_to_undo_says_so() {
    let d = project();
    let err = fails(d.path(), &["undo"]);
    assert!(
        err.contains("nothing") || err.contains("no replay"),
        "{err}"
    );
}

#[test]
fn export_git_writes_one_ref_per_timeline_sharing_the_history_before_the_fork() {
    use crate::util::{git, git_text};
    let d = project();
    let root = d.path();
    let repo = d.path().join("../exported.git");
    let repo_arg = repo.to_str().unwrap().to_string();
    ok(root, &["timeline", "create", "exp"]);
    fs::write(root.join("a.txt"), "on exp\n").unwrap();
    ok(root, &["checkpoint", "-m", "exp work"]);
    ok(root, &["timeline", "switch", "main"]);
    fs::write(root.join("a.txt"), "on main\n").unwrap();
    ok(root, &["checkpoint", "-m", "main work"]);
    ok(root, &["export-git", "--repo", &repo_arg]);
    let main_log = git_text(&repo, &["log", "--format=%s", "refs/tl/main"]);
    let exp_log = git_text(&repo, &["log", "--format=%s", "refs/tl/exp"]);
    assert!(
        main_log.contains("main work") && !main_log.contains("exp work"),
        "{main_log}"
    );
    assert!(
        exp_log.contains("exp work") && !exp_log.contains("main work"),
        "{exp_log}"
    );
    // The state both started from is one commit, an ancestor of both tips.
    let base = git_text(&repo, &["merge-base", "refs/tl/main", "refs/tl/exp"]);
    assert!(git_text(&repo, &["log", "-1", "--format=%s", base.trim()]).contains("one"));
    assert_eq!(
        git(&repo, &["show", "refs/tl/exp:a.txt"]),
        b"on exp\n".to_vec()
    );
    git(&repo, &["fsck", "--strict"]);
    // Again: nothing new, both refs up to date.
    let v = json(root, &["export-git", "--repo", &repo_arg, "--json"]);
    assert_eq!(v["refs"].as_array().unwrap().len(), 2);
    assert!(v["refs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["up_to_date"] == true));
    let _ = fs::remove_dir_all(&repo);
}

#[test]
fn gc_keeping_nothing_keeps_each_timelines_newest_state_whole() {
    let d = project();
    let root = d.path();
    ok(root, &["timeline", "create", "exp"]);
    fs::write(root.join("on-exp.txt"), "made on exp\n").unwrap();
    ok(root, &["checkpoint", "-m", "exp work"]);
    fs::write(root.join("on-exp.txt"), "exp, shelved\n").unwrap();
    ok(root, &["timeline", "switch", "main"]);
    for i in 0..4 {
        fs::write(root.join("a.txt"), format!("main {i}\n")).unwrap();
        ok(root, &["checkpoint", "-m", &format!("main {i}")]);
    }
    let before = json(root, &["log", "--all", "--json"]);
    let n_before = before.as_array().unwrap().len();
    fs::write(
        root.join(".tl/config.toml"),
        "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\nkeep-minutely = \"0s\"\n\
         keep-hourly = \"0s\"\nkeep-daily = \"0s\"\n",
    )
    .unwrap();
    let out = ok(root, &["gc"]);
    assert!(out.contains("Thinned"), "{out}");
    let after = json(root, &["log", "--all", "--json"]);
    assert!(
        after.as_array().unwrap().len() < n_before,
        "the GC dropped main's older states: {after}"
    );
    assert_eq!(names(root), [("main".into(), true), ("exp".into(), false)]);
    assert!(ok(root, &["fsck", "--deep"]).contains("OK"));
    // exp's shelf comes back whole after the GC, and main's newest state too.
    ok(root, &["timeline", "switch", "exp"]);
    assert_eq!(read(root, "on-exp.txt").unwrap(), "exp, shelved\n");
    assert_eq!(read(root, "a.txt").unwrap(), "a on main\n");
    ok(root, &["timeline", "switch", "main"]);
    assert_eq!(read(root, "a.txt").unwrap(), "main 3\n");
    assert_eq!(read(root, "on-exp.txt"), None);
}
