//! A store written by the version-1 formats (`tests/fixtures/v1-store`, made by
//! `tl` at `bcb1ff3`): it opens, every checkpoint replays byte-identical to what the
//! old code replayed, fsck is clean, and a Git export gives the old commit ids.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tl_index::export_git::{export, ExportOptions};
use tl_index::fsck::{fsck, FsckOptions};
use tl_index::restore::{materialize, MaterializeOptions};
use tl_index::store::Store;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-store")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            // As the old code left them.
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// The project with the fixture as its `.tl/` (a copy: opening writes to it).
fn project() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    copy_dir(&fixture().join("dot-tl"), &root.join(".tl"));
    (d, root)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `manifest.sh` prints for a directory: `kind path hex` per file or symlink.
fn manifest(dir: &Path) -> Vec<String> {
    fn go(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = format!("{prefix}{name}");
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                go(&entry.path(), &format!("{rel}/"), out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(entry.path()).unwrap();
                out.push(format!(
                    "symlink {rel} {}",
                    hex(target.as_os_str().as_encoded_bytes())
                ));
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                let kind = match mode {
                    0o755 => "exec",
                    0o644 => "file",
                    other => panic!("{rel} came back {other:o}; version 1 knew only 644 and 755"),
                };
                out.push(format!(
                    "{kind} {rel} {}",
                    hex(&fs::read(entry.path()).unwrap())
                ));
            }
        }
    }
    let mut out = Vec::new();
    go(dir, "", &mut out);
    // As `manifest.sh`: by path, in byte order.
    out.sort_by_key(|line| line.split(' ').nth(1).unwrap_or("").to_string());
    out
}

fn expected() -> Vec<Vec<String>> {
    let text = fs::read_to_string(fixture().join("expected.txt")).unwrap();
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("checkpoint ") {
            out.push(Vec::new());
        } else {
            out.last_mut().unwrap().push(line.to_string());
        }
    }
    out
}

#[test]
fn a_version_1_store_opens_and_replays_every_checkpoint_byte_identical() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    assert_eq!(
        store.tightened().first(),
        Some(&root.join(".tl")),
        "the old 0755 store is tightened on open"
    );
    let expected = expected();
    assert_eq!(store.checkpoints().len(), expected.len());
    for (i, want) in expected.iter().enumerate() {
        let tree = store.tree_at(i).unwrap();
        let into = d.path().join(format!("replay-{i}"));
        materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
        assert_eq!(&manifest(&into), want, "checkpoint {}", i + 1);
    }
    drop(store);
    let report = fsck(
        &root,
        &FsckOptions {
            deep: true,
            check_tail: true,
        },
    )
    .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    // Opening again changes nothing more.
    assert!(Store::open(&root).unwrap().tightened().is_empty());
}

#[test]
fn a_version_1_store_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let repo = d.path().join("git");
    let mut opts = ExportOptions::new(i64::MAX / 2);
    opts.repo = Some(repo.clone());
    export(&store, &opts, &|_| {}).unwrap();
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args(["log", "--format=%H %T %s", "refs/tl/main"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git is installed (apt-get install git)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = fs::read_to_string(fixture().join("expected-git.txt")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}
