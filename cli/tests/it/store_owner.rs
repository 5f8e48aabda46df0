//! A `.tl` that is a symlink, or a directory another uid owns, is refused by
//! every command before it reads or writes anything there (issue 19, local
//! security): another local user could otherwise point a project's `.tl` at a
//! store of theirs, or plant one in a directory above it.

use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt};
use std::path::{Path, PathBuf};

use crate::util::{ok, tl};

/// Every entry under `dir` with its kind, length, mode, mtime and content
/// (files): what must not change when a command is refused.
fn tree_state(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let mut what = format!(
                "{:?} len {} mode {:o} mtime {}.{}",
                m.file_type(),
                m.len(),
                m.mode(),
                m.mtime(),
                m.mtime_nsec()
            );
            if m.is_dir() {
                todo.push(p.clone());
            } else if m.is_file() {
                what.push_str(&format!(" {:?}", fs::read(&p).unwrap()));
            }
            out.push((p, what));
        }
    }
    out.sort();
    out
}

fn stderr_of(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = tl(dir, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commands a symlinked or foreign `.tl` must not get past, with `id` a
/// checkpoint of the store it points at.
fn commands(id: &str) -> Vec<Vec<String>> {
    [
        vec!["status"],
        vec!["checkpoint", "-m", "through the link"],
        vec!["log"],
        vec!["replay", "--to", id],
        vec!["daemon", "start"],
        vec!["daemon", "status"],
        vec!["fsck"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(str::to_string).collect())
    .collect()
}

/// A project in `base/NAME` with one checkpoint of `f`; returns its root and
/// the checkpoint's id.
fn project_with_a_checkpoint(base: &Path, name: &str) -> (PathBuf, String) {
    let root = base.join(name);
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("f"), format!("{name}'s\n")).unwrap();
    ok(&root, &["checkpoint", "-m", name]);
    let log = ok(&root, &["log"]);
    (root, log.split_whitespace().next().unwrap().to_string())
}

#[test]
fn a_symlinked_tl_is_refused_by_every_command_and_nothing_is_written_through_it() {
    let d = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(d.path()).unwrap();
    // The store another user would own, and a project whose `.tl` points at it.
    let (theirs, id) = project_with_a_checkpoint(&base, "theirs");
    let root = base.join("proj");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("f"), b"mine\n").unwrap();
    let link = root.join(".tl");
    let target = theirs.join(".tl");
    symlink(&target, &link).unwrap();
    let store_before = tree_state(&target);
    let proj_before = tree_state(&root);
    for args in commands(&id) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for dir in [root.clone(), root.join("sub")] {
            let (code, err) = stderr_of(&dir, &args);
            let said = format!("tl {args:?} in {}: exit {code:?}: {err}", dir.display());
            assert_eq!(code, Some(1), "{said}");
            assert!(
                err.contains(&format!(
                    "{} is a symlink to {}",
                    link.display(),
                    target.display()
                )) && err.contains("refuses to follow it"),
                "{said}"
            );
            assert!(err.contains("rm ") && err.contains("tl init"), "{said}");
        }
    }
    assert_eq!(
        tree_state(&target),
        store_before,
        "written through the link"
    );
    assert_eq!(tree_state(&root), proj_before, "the project changed");
    assert!(!target.join("daemon.pid").exists());
    // `tl init` neither follows the link nor says the project is initialised.
    let (code, err) = stderr_of(&root, &["init"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is a symlink to"), "{err}");
    // A dangling link is refused too, and its target is not created.
    let gone = base.join("gone");
    fs::remove_file(&link).unwrap();
    symlink(&gone, &link).unwrap();
    for args in [&["init"][..], &["status"], &["checkpoint"]] {
        let (code, err) = stderr_of(&root, args);
        assert_eq!(code, Some(1), "tl {args:?}: {err}");
        assert!(err.contains("is a symlink to"), "tl {args:?}: {err}");
    }
    assert!(
        fs::symlink_metadata(&gone).is_err(),
        "created {}",
        gone.display()
    );
    // The hint's way out: the real directory in place of the link.
    fs::remove_file(&link).unwrap();
    fs::rename(&target, &link).unwrap();
    let log = ok(&root, &["log"]);
    assert!(log.contains(&id), "{log}");
}

#[test]
fn a_tl_owned_by_another_uid_is_refused_by_every_command() {
    let ours = fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(
        ours, 0,
        "this test gives .tl to uid 65534 with chown, which needs root: run it as root"
    );
    let d = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(d.path()).unwrap();
    let (root, id) = project_with_a_checkpoint(&base, "proj");
    fs::create_dir(root.join("sub")).unwrap();
    let tl_dir = root.join(".tl");
    lchown(&tl_dir, Some(65534), Some(65534)).unwrap();
    let store_before = tree_state(&tl_dir);
    for args in commands(&id) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for dir in [root.clone(), root.join("sub")] {
            let (code, err) = stderr_of(&dir, &args);
            let said = format!("tl {args:?} in {}: exit {code:?}: {err}", dir.display());
            assert_eq!(code, Some(1), "{said}");
            assert!(
                err.contains(&format!(
                    "{} is owned by uid 65534, not by uid 0 running tl",
                    tl_dir.display()
                )),
                "{said}"
            );
            assert!(err.contains("chown -R"), "{said}");
        }
    }
    assert_eq!(tree_state(&tl_dir), store_before, "the store changed");
    let (code, err) = stderr_of(&root, &["init"]);
    assert_eq!(code, Some(1), "{err}");
    // Given back, the same store opens: the owner alone was refused.
    lchown(&tl_dir, Some(0), Some(0)).unwrap();
    let log = ok(&root, &["log"]);
    assert!(log.contains(&id), "{log}");
}
