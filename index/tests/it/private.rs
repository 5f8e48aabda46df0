//! History is as private as what it holds: `.tl/` and everything under it are
//! owner-only, nothing under it is written through a planted symlink, and the
//! read permissions of a captured file come back with it.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use tl_index::catalog::CheckpointIndex;

use tl_index::record::CommitKind;
use tl_index::restore::{materialize, MaterializeOptions};
use tl_index::store::{Store, StoreError};
use tl_index::Mode;

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every entry under `dir` with its mode, symlinks excluded.
fn entries(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(dir.to_path_buf(), mode_of(dir))];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(entries(&p));
        } else if meta.is_file() {
            out.push((p.clone(), mode_of(&p)));
        }
    }
    out
}

fn assert_owner_only(tl: &Path, when: &str) {
    for (p, mode) in entries(tl) {
        assert_eq!(
            mode & 0o077,
            0,
            "{when}: {} is {mode:o}, readable beyond its owner",
            p.display()
        );
        if p.is_dir() {
            assert_eq!(mode, 0o700, "{when}: {}", p.display());
        }
    }
}

#[test]
fn a_new_store_and_everything_written_under_it_are_owner_only() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a"), b"a").unwrap();
    let mut store = Store::init(root).unwrap();
    assert!(
        store.tightened().is_empty(),
        "a new store needs no tightening"
    );
    store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_owner_only(&root.join(".tl"), "after a checkpoint");
    store.compact().unwrap();
    store.save_caches();
    assert!(root.join(".tl/index/catalog").is_file());
    assert_owner_only(&root.join(".tl"), "after compact");
}

#[test]
fn an_existing_world_readable_store_is_tightened_on_open_and_says_what() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a"), b"a").unwrap();
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    drop(store);
    // As the code before this change left it.
    let tl = root.join(".tl");
    for (p, _) in entries(&tl) {
        chmod(&p, if p.is_dir() { 0o755 } else { 0o644 });
    }
    let store = Store::open_read_only(root).unwrap();
    let tightened = store.tightened().to_vec();
    assert_eq!(tightened.first(), Some(&tl), "{tightened:?}");
    assert!(tightened.contains(&tl.join("config.toml")), "{tightened:?}");
    assert!(tightened.contains(&tl.join("wal")), "{tightened:?}");
    drop(store);
    assert_owner_only(&tl, "after the open");
    assert!(Store::open(root).unwrap().tightened().is_empty());
}

#[test]
fn planted_symlinks_at_cache_and_snapshot_temporaries_leave_the_victim_untouched() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a"), b"a").unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let mut store = Store::init(&root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let snap = store.compact().unwrap();
    fs::remove_file(&snap).unwrap();
    let pid = std::process::id();
    let index = root.join(".tl/index");
    // The names the code before this change wrote through (create + truncate).
    for planted in [
        index.join("catalog.tmp"),
        index.join(format!("statcache.tmp.{pid}")),
        PathBuf::from(format!("{}.tmp.{pid}", snap.display())),
    ] {
        symlink(&victim, planted).unwrap();
    }
    fs::write(root.join("a"), b"changed").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    store.save_caches();
    // The snapshot of the last checkpoint has another name: plant that one too.
    let last = store.compact().unwrap();
    fs::remove_file(&last).unwrap();
    symlink(&victim, format!("{}.tmp.{pid}", last.display())).unwrap();
    assert_eq!(store.compact().unwrap(), last);
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(index.join("catalog").is_file() && index.join("statcache").is_file());
    assert!(fs::symlink_metadata(&last).unwrap().is_file());
}

#[test]
fn a_symlink_where_a_store_file_belongs_is_refused_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a"), b"a").unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let mut store = Store::init(&root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    // A cache: saving it fails (it is only a cache), the victim is untouched.
    symlink(&victim, root.join(".tl/index/catalog")).unwrap();
    store.save_caches();
    fs::write(root.join("a"), b"changed").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    drop(store);

    // A directory of the store replaced by a symlink: the open is refused.
    let elsewhere = d.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::remove_dir_all(root.join(".tl/snapshots")).unwrap();
    symlink(&elsewhere, root.join(".tl/snapshots")).unwrap();
    let err = Store::open(&root)
        .err()
        .expect("a symlinked snapshots/ is refused");
    assert!(matches!(err, StoreError::UnexpectedEntry(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(".tl/snapshots") && text.contains("a symlink"),
        "{text}"
    );
}

#[test]
fn read_permissions_are_recorded_and_restored_exactly() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    let cases = [
        ("plain", 0o644, Mode::File, 0o644),
        ("script", 0o755, Mode::Exec, 0o755),
        ("secret.txt", 0o600, Mode::PrivateFile, 0o600),
        ("private.sh", 0o700, Mode::PrivateExec, 0o700),
        ("team", 0o640, Mode::GroupFile, 0o640),
        ("team.sh", 0o750, Mode::GroupExec, 0o750),
        // Write bits for others are not kept, nor are setuid/setgid/sticky.
        ("shared", 0o666, Mode::File, 0o644),
        ("setuid", 0o4755, Mode::Exec, 0o755),
        ("readonly", 0o400, Mode::PrivateFile, 0o600),
    ];
    for (name, mode, _, _) in cases {
        fs::write(root.join(name), name).unwrap();
        chmod(&root.join(name), mode);
    }
    let mut store = Store::init(&root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let into = d.path().join("into");
    materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
    for (name, _, recorded, restored) in cases {
        assert_eq!(tree[name.as_bytes()].mode, recorded, "{name}");
        assert_eq!(mode_of(&into.join(name)), restored, "{name} restored");
    }
}

#[test]
fn a_mode_only_change_is_recorded_and_replayed_in_place() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("secret.txt"), b"k").unwrap();
    chmod(&root.join("secret.txt"), 0o644);
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    chmod(&root.join("secret.txt"), 0o600);
    let two = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(two.checkpoint.stats.modified, 1, "chmod 600 is a change");
    assert_eq!(
        store.tree_at(CheckpointIndex::new(1)).unwrap()[&b"secret.txt"[..]].mode,
        Mode::PrivateFile
    );
    // Back to the first checkpoint in place, then to the second.
    for (idx, want) in [(0, 0o644), (1, 0o600)] {
        // The caller captures the present first (a chmod alone included).
        store.checkpoint(CommitKind::Restore, None).unwrap();
        let tree = store.tree_at(CheckpointIndex::new(idx)).unwrap();
        let report = materialize(&store, &tree, root, &MaterializeOptions::default()).unwrap();
        assert_eq!(
            report.written,
            vec![b"secret.txt".to_vec()],
            "checkpoint {idx}"
        );
        assert_eq!(mode_of(&root.join("secret.txt")), want, "checkpoint {idx}");
    }
}
