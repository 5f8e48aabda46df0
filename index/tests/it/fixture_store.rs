//! Fixture stores written by earlier versions (`tests/fixtures/vN-store`): copied
//! into a temporary project, their replays listed as `manifest.sh` lists them, and
//! the `expected.txt` the old binary wrote read back, their pins and Git export
//! compared with what the old binary gave. Shared by `v1_store` to `v6_store`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tl_index::fsck::{fsck, FsckOptions};

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The permissions the old code left on a store's directories and files.
#[derive(Clone, Copy)]
pub struct OldModes {
    /// Of every directory.
    pub dir: u32,
    /// Of every file.
    pub file: u32,
}

fn copy_dir(from: &Path, to: &Path, modes: OldModes) {
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(modes.dir)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest, modes);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            fs::set_permissions(&dest, fs::Permissions::from_mode(modes.file)).unwrap();
        }
    }
}

/// A project whose `.tl/` is a copy of fixture `name`'s `dot-tl/` (opening writes
/// to it), with the modes the old code left.
pub fn project(name: &str, modes: OldModes) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    copy_dir(&fixture(name).join("dot-tl"), &root.join(".tl"), modes);
    (d, root)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a replay left at one path.
pub enum Seen {
    /// A regular file, its permission bits and content.
    File { mode: u32, bytes: Vec<u8> },
    /// A symlink and its target.
    Symlink(Vec<u8>),
}

/// Every file and symlink under `dir` by path, in byte order (as `manifest.sh`
/// sorts with `LC_ALL=C`).
pub fn walk(dir: &Path) -> Vec<(String, Seen)> {
    fn go(dir: &Path, prefix: &str, out: &mut Vec<(String, Seen)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = format!("{prefix}{name}");
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                go(&entry.path(), &format!("{rel}/"), out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(entry.path()).unwrap();
                out.push((
                    rel,
                    Seen::Symlink(target.as_os_str().as_encoded_bytes().to_vec()),
                ));
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                let bytes = fs::read(entry.path()).unwrap();
                out.push((rel, Seen::File { mode, bytes }));
            }
        }
    }
    let mut out = Vec::new();
    go(dir, "", &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One checkpoint of `expected.txt`: the header line's words after `checkpoint`
/// (its number, and in later fixtures its id) and the manifest lines.
pub struct ExpectedCheckpoint {
    pub header: Vec<String>,
    pub lines: Vec<String>,
}

pub fn expected(name: &str) -> Vec<ExpectedCheckpoint> {
    let text = fs::read_to_string(fixture(name).join("expected.txt")).unwrap();
    let mut out: Vec<ExpectedCheckpoint> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("checkpoint ") {
            Some(rest) => out.push(ExpectedCheckpoint {
                header: rest.split(' ').map(str::to_string).collect(),
                lines: Vec::new(),
            }),
            None => out.last_mut().unwrap().lines.push(line.to_string()),
        }
    }
    out
}

/// `git log --format='%H %T %s' refs/tl/main` of the bare repository `repo`.
pub fn git_log(repo: &Path) -> String {
    git_log_of(repo, "refs/tl/main")
}

/// `git log --format='%H %T %s' REF` of the bare repository `repo`.
pub fn git_log_of(repo: &Path, ref_name: &str) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["log", "--format=%H %T %s", ref_name])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git is installed (apt-get install git)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What fixture `name`'s `manifest.sh` prints for `tree` of `store`,
/// materialized afresh under `into`.
pub fn manifest_of(
    name: &str,
    store: &tl_index::store::Store,
    tree: &tl_index::types::Tree,
    into: &Path,
) -> Vec<String> {
    let _ = fs::remove_dir_all(into);
    let opts = tl_index::restore::MaterializeOptions::default();
    tl_index::restore::materialize(store, tree, into, &opts).unwrap();
    let out = Command::new("sh")
        .arg(fixture(name).join("manifest.sh"))
        .arg(into)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The store's pins as `pins.txt` lists them: `NAME ID` lines, by name.
pub fn pins_text(store: &tl_index::store::Store) -> String {
    store
        .catalog()
        .unwrap()
        .pins()
        .keys()
        .map(|name| {
            let idx = store.resolve(name).unwrap();
            format!("{name} {}\n", store.checkpoints()[idx].id)
        })
        .collect()
}

/// Every checkpoint of `store` exported to a new repository under `scratch`, as
/// [`git_log`] lists it (to compare with `expected-git.txt`).
pub fn exported_git_log(store: &tl_index::store::Store, scratch: &Path) -> String {
    let repo = scratch.join("git");
    let mut opts = tl_index::export_git::ExportOptions::new(i64::MAX / 2);
    opts.repo = Some(repo.clone());
    tl_index::export_git::export(store, &opts, &|_| {}).unwrap();
    git_log(&repo)
}

/// `tl fsck --deep` of the project at `root` finds nothing wrong.
pub fn assert_fsck_deep_is_clean(root: &Path) {
    let report = fsck(
        root,
        &FsckOptions {
            deep: true,
            check_tail: true,
        },
    )
    .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
