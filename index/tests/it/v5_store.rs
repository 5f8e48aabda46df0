//! A store written by the version-5 formats (`tests/fixtures/v5-store`: the v4
//! fixture carried on by `tl` at `f1dc7fb` with chunk lists): the current code
//! opens it, every checkpoint keeps its id and replays byte-identical, the pins
//! name the same checkpoints, fsck is clean, a Git export gives the old commit
//! ids, and every state reads as timeline `main`'s, also after the current
//! code made a second timeline and switched to it and back.

use tl_index::catalog::CheckpointIndex;
use tl_index::record::{CommitKind, TimelineId};
use tl_index::store::Store;

use crate::fixture_store::{self, assert_fsck_deep_is_clean, expected, fixture, OldModes};

const NAME: &str = "v5-store";

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o755,
            file: 0o644,
        },
    )
}

/// Every checkpoint of the store at `root` replays as `expected.txt` says, and
/// the pins name the same checkpoints.
fn assert_replays_as_expected(root: &std::path::Path, scratch: &std::path::Path) {
    let store = Store::open(root).unwrap();
    let expected = expected(NAME);
    assert!(store.checkpoints().len() >= expected.len());
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            store.checkpoints()[i].id,
            want.header[1],
            "checkpoint {}",
            i + 1
        );
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let into = scratch.join(format!("replay-{i}-{}", want.header[1]));
        assert_eq!(
            fixture_store::manifest_of(NAME, &store, &tree, &into),
            want.lines,
            "checkpoint {}",
            i + 1
        );
    }
    assert_eq!(
        fixture_store::pins_text(&store),
        std::fs::read_to_string(fixture(NAME).join("pins.txt")).unwrap()
    );
}

#[test]
fn a_version_5_store_with_chunk_lists_opens_and_replays_with_its_ids_and_pins() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let chunked = store
        .catalog()
        .unwrap()
        .blobs()
        .values()
        .filter(|b| !b.runs.is_empty())
        .count();
    assert!(
        chunked >= 2,
        "the fixture holds {chunked} chunk lists, not two"
    );
    drop(store);
    assert_replays_as_expected(&root, d.path());
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_version_5_store_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("expected-git.txt")).unwrap();
    assert_eq!(fixture_store::exported_git_log(&store, d.path()), want);
}

#[test]
fn every_state_of_a_store_from_before_timelines_is_on_main() {
    let (_d, root) = project();
    let store = Store::open(&root).unwrap();
    let cat = store.catalog().unwrap();
    let live: Vec<&str> = cat.timelines().live().map(|t| t.name.as_str()).collect();
    assert_eq!(live, ["main"]);
    assert_eq!(cat.current_timeline(), TimelineId::MAIN);
    assert!(cat
        .checkpoints()
        .iter()
        .all(|c| c.timeline == TimelineId::MAIN));
    assert_eq!(cat.lineage(TimelineId::MAIN).len(), cat.checkpoints().len());
    let newest = CheckpointIndex::new(cat.checkpoints().len() - 1);
    assert_eq!(cat.timeline_head(TimelineId::MAIN), Some(newest));
    assert_eq!(store.resolve("main").unwrap(), newest);
    assert_eq!(store.resolve("main@now").unwrap(), newest);
}

#[test]
fn a_timeline_made_in_a_version_5_store_leaves_its_states_replaying_as_before() {
    let (d, root) = project();
    let mut store = Store::open(&root).unwrap();
    // The project holds no files: bring the newest state back first.
    let newest = CheckpointIndex::new(store.checkpoints().len() - 1);
    let tree = store.tree_at(newest).unwrap();
    tl_index::restore::materialize_fresh_root(&store, &tree).unwrap();
    let exp = store.create_timeline("exp", Some(newest)).unwrap();
    tl_index::switch::switch(&mut store, exp, &|_, _| {}).unwrap();
    std::fs::write(root.join("a.txt"), "on exp\n").unwrap();
    store
        .checkpoint(CommitKind::Manual, Some("exp".into()))
        .unwrap();
    tl_index::switch::switch(&mut store, TimelineId::MAIN, &|_, _| {}).unwrap();
    assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"v5 text\n");
    drop(store);
    assert_replays_as_expected(&root, d.path());
    let store = Store::open(&root).unwrap();
    let head = store.resolve("exp").unwrap();
    assert_eq!(store.checkpoints()[head].timeline, exp);
    assert_eq!(store.checkpoints()[head].message.as_deref(), Some("exp"));
    drop(store);
    assert_fsck_deep_is_clean(&root);
}
