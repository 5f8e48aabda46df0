//! A store rewritten by the version-3 GC (`tests/fixtures/v3-store`: the v2
//! fixture after `tl gc` by `tl` at `13f46b7`, with Origin and Thinned records,
//! content copied as stored, a catalog cache `TLCATv2`): the current code opens
//! it, the two kept checkpoints keep their ids and replay byte-identical, the pin
//! names the same checkpoint, fsck is clean and lists the GC, a Git export gives
//! the old commit ids, and a GC by the current code (solid blocks, record
//! format 4) migrates it keeping all of that.

use tl_index::catalog::CheckpointIndex;
use tl_index::gc;
use tl_index::retention::Clock;
use tl_index::store::Store;

use crate::fixture_store::{self, assert_fsck_deep_is_clean, expected, fixture, OldModes};

const NAME: &str = "v3-store";

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o700,
            file: 0o600,
        },
    )
}

/// Every checkpoint of the store at `root` replays as `expected.txt` says.
fn assert_replays_as_expected(root: &std::path::Path, scratch: &std::path::Path) {
    let store = Store::open(root).unwrap();
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
        let into = scratch.join(format!("replay-{i}-{}", want.header[1]));
        let got = fixture_store::manifest_of(NAME, &store, &tree, &into);
        assert_eq!(got, want.lines, "checkpoint {}", i + 1);
    }
    assert_eq!(
        fixture_store::pins_text(&store),
        std::fs::read_to_string(fixture(NAME).join("pins.txt")).unwrap()
    );
    drop(store);
    assert_fsck_deep_is_clean(root);
}

#[test]
fn a_store_thinned_by_the_version_3_gc_opens_and_replays_with_its_ids_and_pin() {
    let (d, root) = project();
    assert_replays_as_expected(&root, d.path());
    let store = Store::open(&root).unwrap();
    let thinnings = store.catalog().unwrap().thinnings();
    assert_eq!(thinnings.len(), 1);
    let t = &thinnings[0].thinned;
    assert_eq!((t.states_before, t.kept, t.dropped), (4, 2, 2));
}

#[test]
fn a_store_thinned_by_the_version_3_gc_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("expected-git.txt")).unwrap();
    assert_eq!(fixture_store::exported_git_log(&store, d.path()), want);
}

#[test]
fn a_gc_by_the_current_code_migrates_a_version_3_store_into_solid_blocks() {
    let (d, root) = project();
    // The fixture's project holds no files: a capture records the empty tree as
    // the newest state, so that the keep-nothing policy drops 49bf887be925 and
    // the current GC rewrites the log (Block records, format 4).
    let mut store = Store::open(&root).unwrap();
    store
        .checkpoint(tl_index::record::CommitKind::Manual, Some("emptied".into()))
        .unwrap();
    let clock = Clock {
        now_ns: Store::now_ns(),
        utc_offset_secs: 0,
    };
    let (store, report) = gc::run(store, clock).unwrap();
    assert_eq!((report.plan.kept(), report.plan.dropped()), (2, 1));
    let ids: Vec<&str> = store.checkpoints().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids[0], "319e6ed43d2f", "the pinned state keeps its id");
    assert_eq!(
        store.catalog().unwrap().thinnings().len(),
        2,
        "both GCs recorded"
    );
    // The pinned state replays as the old code replayed it.
    let want = &expected(NAME)[0];
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let into = d.path().join("migrated");
    let got = fixture_store::manifest_of(NAME, &store, &tree, &into);
    assert_eq!(got, want.lines);
    assert_eq!(store.resolve("release-1").unwrap().get(), 0);
    drop(store);
    // The rewritten log holds solid blocks now.
    let reader =
        tl_wal::LogReader::open(root.join(".tl/wal"), root.join(".tl/quarantine")).unwrap();
    let blocks = reader
        .iter_from(reader.start_lsn())
        .unwrap()
        .filter_map(|r| tl_index::record::Record::decode(&r.unwrap().data).ok())
        .filter(|r| matches!(r, tl_index::record::Record::Block { .. }))
        .count();
    assert!(blocks > 0, "no Block record after the GC");
    assert_fsck_deep_is_clean(&root);
}
