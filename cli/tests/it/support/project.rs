//! A project with a history to push, for the remote tests: deterministic files,
//! the checkpoint ids of `tl log`, a tree compared byte for byte, and the
//! remote's settings file edited (its push time limit).

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{json, ok};

/// One file of a tree: its path under the root and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileEntry {
    /// The path relative to the tree's root.
    pub path: PathBuf,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// Writes `files` files (under a few directories) of about `size` bytes each
/// for `version`: the same arguments write the same bytes; another version
/// changes every file. The bytes are incompressible after a readable first line.
pub fn write_tree(root: &Path, version: u64, files: usize, size: usize) {
    for i in 0..files {
        let dir = root.join(format!("dir{}", i % 5));
        fs::create_dir_all(&dir).unwrap();
        let mut x = (version + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1);
        let mut body = format!("file {i} version {version}\n").into_bytes();
        while body.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.extend_from_slice(&x.to_le_bytes());
        }
        fs::write(dir.join(format!("f{i}.bin")), body).unwrap();
    }
}

/// `tl init`, then `versions` checkpoints of [`write_tree`]; the ids, oldest first.
pub fn history(root: &Path, versions: u64, files: usize, size: usize) -> Vec<String> {
    fs::create_dir_all(root).unwrap();
    ok(root, &["init"]);
    (0..versions)
        .map(|v| checkpoint(root, v, files, size))
        .collect()
}

/// Writes version `v` of the tree and checkpoints it; the checkpoint's id.
pub fn checkpoint(root: &Path, v: u64, files: usize, size: usize) -> String {
    write_tree(root, v, files, size);
    let out = json(
        root,
        &["checkpoint", "--json", "-m", &format!("version {v}")],
    );
    out["id"].as_str().unwrap().to_string()
}

/// The checkpoint ids `tl log --json` lists, newest first.
pub fn log_ids(root: &Path) -> Vec<String> {
    json(root, &["log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("type").is_none_or(|t| t == "checkpoint"))
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// Every file under `dir` but `.tl/`, sorted by path.
pub fn tree_of(dir: &Path) -> Vec<FileEntry> {
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
                out.push(FileEntry {
                    path: p.strip_prefix(dir).unwrap().to_path_buf(),
                    bytes: fs::read(&p).unwrap(),
                });
            }
        }
    }
    out.sort();
    out
}

/// Sets the remote's push time limit (`push_timeout_s` in
/// `.tl/remotes/NAME/remote`); panics when the file has no such key.
pub fn set_push_timeout(root: &Path, remote: &str, secs: u64) {
    let path = root.join(".tl/remotes").join(remote).join("remote");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the remote's settings {}: {e}", path.display()));
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split('=')
                .next()
                .is_some_and(|k| k.trim() == "push_timeout_s")
            {
                found = true;
                format!("push_timeout_s = {secs}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "no push_timeout_s in {}: {text}", path.display());
    fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Asserts `tl fsck` reports the store clean.
pub fn assert_fsck_clean(root: &Path) {
    let report = ok(root, &["fsck"]);
    assert!(report.contains("OK"), "{report}");
}
