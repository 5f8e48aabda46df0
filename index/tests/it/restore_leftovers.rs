//! Leftovers of a restore that did not finish (issue 19): the `.tl-tmp-PID-N`
//! temporaries a restore killed mid-write leaves are never captured, and the
//! next open of the store for writing removes them. The kill is a real SIGKILL
//! of a child process (this test binary run again, as the ignored test
//! `restore_leftovers::child_restores_the_first_checkpoint`) while it writes.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tl_index::catalog::CheckpointIndex;
use tl_index::record::CommitKind;
use tl_index::restore::{materialize, MaterializeOptions};
use tl_index::store::Store;

use crate::support::project;

/// The id of a process that is gone (a child that exited and was reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn temporaries_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tl-tmp-"))
        .collect();
    names.sort();
    names
}

#[test]
fn temporaries_are_never_captured_whatever_the_ignore_files_say() {
    let (_tmp, root, mut store) = project();
    let dead = dead_pid();
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("a"), b"a").unwrap();
    fs::write(root.join(format!(".tl-tmp-{dead}-1")), b"half a file").unwrap();
    fs::write(root.join(format!("d/.tl-tmp-{dead}-2")), b"half a file").unwrap();
    std::os::unix::fs::symlink("half a link", root.join(format!(".tl-tmp-{dead}-3"))).unwrap();
    fs::write(root.join(".tl-tmp-notes"), b"a name like any other").unwrap();
    fs::write(root.join(".tlignore"), b"!.tl-tmp-*\n").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let paths: Vec<String> = store
        .head()
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(paths, [".tl-tmp-notes", ".tlignore", "a"]);
    // A targeted capture (the daemon's) naming them does not take them either.
    let named = [".tl-tmp-{dead}-1", "d/.tl-tmp-{dead}-2", "d"]
        .map(|p| p.replace("{dead}", &dead.to_string()).into_bytes())
        .to_vec();
    fs::write(root.join(format!("d/.tl-tmp-{dead}-2")), b"more of it").unwrap();
    assert!(store
        .capture_paths(CommitKind::Auto, named)
        .unwrap()
        .is_none());
}

/// The child's side: restores the first checkpoint of the project at
/// `TL_TEST_LEFTOVERS_ROOT` in place, slowly enough to be killed mid-write.
#[test]
#[ignore = "run by a_restore_killed_mid_write_leaves_temporaries_the_next_open_removes"]
fn child_restores_the_first_checkpoint() {
    let Some(root) = std::env::var_os("TL_TEST_LEFTOVERS_ROOT") else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    materialize(
        &store,
        &tree,
        Path::new(&root),
        &MaterializeOptions::default(),
    )
    .unwrap();
}

/// Content of `len` bytes that compresses poorly (so writing it takes a while).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs the child restore and kills it once one of its temporaries is seen;
/// true when a temporary was there at the kill.
fn kill_mid_write(root: &Path) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "restore_leftovers::child_restores_the_first_checkpoint",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("TL_TEST_LEFTOVERS_ROOT", root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!(".tl-tmp-{}-", child.id());
    let end = Instant::now() + Duration::from_secs(120);
    let mut seen = false;
    while Instant::now() < end {
        if temporaries_in(root).iter().any(|n| n.starts_with(&prefix)) {
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = child.kill();
    child.wait().unwrap();
    seen && temporaries_in(root).iter().any(|n| n.starts_with(&prefix))
}

#[test]
fn a_restore_killed_mid_write_leaves_temporaries_the_next_open_removes() {
    let (_tmp, root, mut store) = project();
    const FILES: u64 = 4;
    for i in 0..FILES {
        fs::write(root.join(format!("f{i}")), noise(16 << 20, i)).unwrap();
    }
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let mut killed = false;
    for round in 0..5 {
        for i in 0..FILES {
            fs::write(root.join(format!("f{i}")), format!("round {round}")).unwrap();
        }
        store.checkpoint(CommitKind::Manual, None).unwrap();
        drop(store);
        killed = kill_mid_write(&root);
        store = Store::open(&root).unwrap();
        if killed {
            break;
        }
    }
    assert!(
        killed,
        "the child was never killed while a temporary existed"
    );
    // `store` is the next open: it removed them.
    assert!(!store.temporaries_removed().is_empty());
    assert_eq!(temporaries_in(&root), Vec::<String>::new());
    assert_eq!(
        fs::read_dir(store.layout().restoring()).unwrap().count(),
        0,
        "the killed restore's mark is removed too"
    );
    // And the capture after it records none (nor would it have).
    let done = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(done.warnings.is_empty());
    assert!(store.head().keys().all(|k| !k.starts_with(b".tl-tmp-")));
}
