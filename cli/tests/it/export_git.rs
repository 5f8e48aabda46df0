//! `tl export-git` through the binary: each exported commit, extracted with
//! `git archive`, equals `tl replay --into` of its checkpoint byte for byte, modes
//! and symlinks included; a second run says there is nothing new; errors are one
//! line.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::util::{git, ok, tl};
use serde_json::Value;

/// Every entry below `dir`: "file"/"exec" + bytes, or "link" + target.
fn listing(dir: &Path) -> BTreeMap<String, (&'static str, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, ("link", t.into_os_string().into_encoded_bytes()));
            } else if meta.is_dir() {
                if rel != ".tl" {
                    stack.push(p);
                }
            } else {
                let kind = if meta.permissions().mode() & 0o100 != 0 {
                    "exec"
                } else {
                    "file"
                };
                out.insert(rel, (kind, fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn each_commit_extracts_to_exactly_what_replay_writes() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("src/a")).unwrap();
    fs::write(root.join("src/a/x.rs"), "x\n").unwrap();
    fs::write(root.join("src.txt"), "s").unwrap();
    fs::write(root.join("tool"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("src/a/x.rs", root.join("ln")).unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint", "-m", "one"]);
    fs::write(root.join("src/a/x.rs"), "x2\n").unwrap();
    fs::set_permissions(root.join("tool"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(root.join("ln")).unwrap();
    symlink("tool", root.join("ln")).unwrap();
    fs::write(root.join("bin.dat"), [0u8, 255, 1, 2]).unwrap();
    ok(root, &["checkpoint"]);

    let out = ok(root, &["export-git"]);
    assert!(
        out.contains("Exported 2 commit(s) to refs/tl/main"),
        "{out}"
    );
    let gitdir = root.join(".tl/git");
    git(&gitdir, &["fsck", "--strict", "--no-dangling"]);
    let again = ok(root, &["export-git"]);
    assert!(again.starts_with("Nothing new to export"), "{again}");

    let log: Value = serde_json::from_str(&ok(root, &["log", "--json"])).unwrap();
    let ids: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let commits =
        String::from_utf8(git(&gitdir, &["rev-list", "--reverse", "refs/tl/main"])).unwrap();
    let commits: Vec<&str> = commits.lines().collect();
    assert_eq!(commits.len(), ids.len());
    for (commit, id) in commits.iter().zip(&ids) {
        let work = tempfile::tempdir().unwrap();
        let from_git = work.path().join("git");
        let from_tl = work.path().join("tl");
        fs::create_dir(&from_git).unwrap();
        let tar = git(&gitdir, &["archive", "--format=tar", commit]);
        let mut child = Command::new("tar")
            .args(["-x", "-C"])
            .arg(&from_git)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
        assert!(child.wait().unwrap().success());
        ok(
            root,
            &["replay", "--to", id, "--into", from_tl.to_str().unwrap()],
        );
        assert_eq!(
            listing(&from_git),
            listing(&from_tl),
            "commit {commit} vs {id}"
        );
    }

    // JSON, --every and the one-line errors.
    let v: Value = serde_json::from_str(&ok(
        root,
        &["export-git", "--every", "1d", "--ref", "daily", "--json"],
    ))
    .unwrap();
    assert_eq!(v["ref"], "refs/tl/daily");
    assert!(v["held_back"].as_u64().unwrap() >= 1, "{v}");
    for (args, want) in [
        (&["export-git", "--every", "soon"][..], "--every"),
        (&["export-git", "--ref", "refs/heads/main"][..], "refs/tl/"),
        (&["export-git", "--author", "nobody"][..], "--author"),
    ] {
        let out = tl(root, args);
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
}

/// `--every` takes the durations `tl diff` and `--to` take (`1h30m`, `2 hours`), one
/// unit table for both; calendar units, which have no fixed length, are refused.
#[test]
fn export_every_takes_compound_durations_like_every_time_argument() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a.txt"), "a").unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    for (every, name) in [
        ("1h30m", "hm"),
        ("2 hours", "two"),
        ("1 hr 30 min", "spaced"),
    ] {
        let v: Value = serde_json::from_str(&ok(
            root,
            &["export-git", "--every", every, "--ref", name, "--json"],
        ))
        .unwrap();
        assert_eq!(v["ref"], format!("refs/tl/{name}"), "{every}: {v}");
        assert_eq!(
            v["held_back"], 1,
            "{every}: the only window is still open: {v}"
        );
    }
    let err = crate::util::fails(root, &["export-git", "--every", "1mo", "--ref", "mo"]);
    assert!(
        err.contains("--every") && err.contains("no fixed length"),
        "{err}"
    );
    ok(root, &["diff", "1h30m"]);
}
