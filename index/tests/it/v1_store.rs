//! A store written by the version-1 formats (`tests/fixtures/v1-store`, made by
//! `tl` at `bcb1ff3`): it opens, every checkpoint replays byte-identical to what the
//! old code replayed, fsck is clean, and a Git export gives the old commit ids.

use tl_index::catalog::CheckpointIndex;
use tl_index::restore::{materialize, MaterializeOptions};
use tl_index::store::Store;

use crate::fixture_store::{
    self, assert_fsck_deep_is_clean, expected, fixture, hex, walk, OldModes, Seen,
};

const NAME: &str = "v1-store";

/// The project with the fixture as its `.tl/`, 0755 and 0644 as the old code left
/// them.
fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o755,
            file: 0o644,
        },
    )
}

/// What `manifest.sh` prints for a directory: `kind path hex` per file or symlink.
fn manifest(dir: &std::path::Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .map(|(rel, seen)| match seen {
            Seen::Symlink(target) => format!("symlink {rel} {}", hex(&target)),
            Seen::File { mode, bytes } => {
                let kind = match mode {
                    0o755 => "exec",
                    0o644 => "file",
                    other => panic!("{rel} came back {other:o}; version 1 knew only 644 and 755"),
                };
                format!("{kind} {rel} {}", hex(&bytes))
            }
        })
        .collect()
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
    let expected = expected(NAME);
    assert_eq!(store.checkpoints().len(), expected.len());
    for (i, want) in expected.iter().map(|c| &c.lines).enumerate() {
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let into = d.path().join(format!("replay-{i}"));
        materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
        assert_eq!(&manifest(&into), want, "checkpoint {}", i + 1);
    }
    drop(store);
    assert_fsck_deep_is_clean(&root);
    // Opening again changes nothing more.
    assert!(Store::open(&root).unwrap().tightened().is_empty());
}

#[test]
fn a_version_1_store_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("expected-git.txt")).unwrap();
    assert_eq!(fixture_store::exported_git_log(&store, d.path()), want);
}
