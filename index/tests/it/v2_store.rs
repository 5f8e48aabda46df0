//! A store written by the version-2 formats (`tests/fixtures/v2-store`, made by
//! `tl` at `f4a9525`, record format 2 with every permission code, snapshot format 2,
//! a 5 MiB file in two parts, a pin and a deleted pin): it opens without being
//! tightened (it is 0700/0600 already), every checkpoint keeps its id and replays
//! byte-identical with its modes, the pin names the same checkpoint, fsck is clean,
//! and a Git export gives the old commit ids. Kept so that later formats (the GC's
//! rewritten logs) are held to reading it unchanged.

use tl_index::catalog::CheckpointIndex;
use tl_index::restore::{materialize, MaterializeOptions};
use tl_index::store::Store;

use crate::fixture_store::{
    self, assert_fsck_deep_is_clean, expected, fixture, hex, walk, OldModes, Seen,
};

const NAME: &str = "v2-store";

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o700,
            file: 0o600,
        },
    )
}

/// What the fixture's `manifest.sh` prints: `kind mode path content`, content in
/// hex or `sha1:HEX` for a file over 4096 bytes.
fn manifest(dir: &std::path::Path) -> Vec<String> {
    use sha1::{Digest, Sha1};
    walk(dir)
        .into_iter()
        .map(|(rel, seen)| match seen {
            Seen::Symlink(target) => format!("symlink - {rel} {}", hex(&target)),
            Seen::File { mode, bytes } => {
                let kind = if mode & 0o100 != 0 { "exec" } else { "file" };
                let content = if bytes.len() > 4096 {
                    format!("sha1:{}", hex(&Sha1::digest(&bytes)))
                } else {
                    hex(&bytes)
                };
                format!("{kind} {mode:o} {rel} {content}")
            }
        })
        .collect()
}

#[test]
fn a_version_2_store_opens_and_replays_every_checkpoint_byte_identical_with_its_id() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    assert!(store.tightened().is_empty(), "{:?}", store.tightened());
    let expected = expected(NAME);
    assert_eq!(store.checkpoints().len(), expected.len());
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            store.checkpoints()[i].id,
            want.header[1],
            "checkpoint {}",
            i + 1
        );
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let into = d.path().join(format!("replay-{i}"));
        materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
        assert_eq!(manifest(&into), want.lines, "checkpoint {}", i + 1);
    }
    drop(store);
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_version_2_store_keeps_its_pins() {
    let (_d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("pins.txt")).unwrap();
    assert_eq!(
        fixture_store::pins_text(&store),
        want,
        "`later` was deleted by an Unpin record"
    );
}

#[test]
fn a_version_2_store_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("expected-git.txt")).unwrap();
    assert_eq!(fixture_store::exported_git_log(&store, d.path()), want);
}
