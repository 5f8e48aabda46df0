//! A store written by the version-6 formats (`tests/fixtures/v6-store`: made
//! from nothing by `tl` at `0b93b79`, with timelines, chunk lists, pins, a gap,
//! a hold, a publish record and a snapshot): the current code opens it, every
//! checkpoint keeps its id, its timeline and its kind and replays
//! byte-identical, the pins name the same checkpoints, each timeline has the
//! same line, start and head, fsck is clean, and a Git export of each timeline
//! gives the old commit ids. A format change without a migration fails here.

use std::path::{Path, PathBuf};

use tl_index::catalog::CheckpointIndex;
use tl_index::export_git::publish::PublishRecord;
use tl_index::export_git::{export, ExportOptions};
use tl_index::record::{CommitKind, TimelineId};
use tl_index::store::Store;

use crate::fixture_store::{self, assert_fsck_deep_is_clean, expected, fixture, OldModes};

const NAME: &str = "v6-store";

fn project() -> (tempfile::TempDir, PathBuf) {
    // Git keeps no modes but the executable bit: a checkout has 0755/0644 where
    // tl made 0700/0600.
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o755,
            file: 0o644,
        },
    )
}

/// The ids of the checkpoints of `store` at `indices`.
fn ids(store: &Store, indices: &[CheckpointIndex]) -> Vec<String> {
    indices
        .iter()
        .map(|&i| store.checkpoints()[i].id.clone())
        .collect()
}

/// The index of the checkpoint whose id is `id`.
fn index_of(store: &Store, id: &str) -> CheckpointIndex {
    let i = store.checkpoints().iter().position(|c| c.id == id);
    CheckpointIndex::new(i.unwrap_or_else(|| panic!("no checkpoint {id}")))
}

/// Every checkpoint of the store at `root` has the id, timeline and kind
/// `expected.txt` gives and replays as it says; the pins name the same
/// checkpoints.
fn assert_replays_as_expected(root: &Path, scratch: &Path) {
    let store = Store::open(root).unwrap();
    let cat = store.catalog().unwrap();
    let expected = expected(NAME);
    assert_eq!(store.checkpoints().len(), expected.len());
    for (i, want) in expected.iter().enumerate() {
        let cp = &store.checkpoints()[i];
        let n = i + 1;
        assert_eq!(cp.id, want.header[1], "checkpoint {n}");
        let timeline = cat.timelines().get(cp.timeline).map(|t| t.name.as_str());
        assert_eq!(timeline, Some(want.header[2].as_str()), "checkpoint {n}");
        assert_eq!(cp.kind.as_str(), want.header[3], "checkpoint {n}");
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let into = scratch.join(format!("replay-{i}-{}", want.header[1]));
        assert_eq!(
            fixture_store::manifest_of(NAME, &store, &tree, &into),
            want.lines,
            "checkpoint {n}"
        );
    }
    assert_eq!(
        fixture_store::pins_text(&store),
        std::fs::read_to_string(fixture(NAME).join("pins.txt")).unwrap()
    );
}

#[test]
fn a_version_6_store_opens_and_replays_every_state_with_its_id_timeline_and_pins() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let chunked = store
        .catalog()
        .unwrap()
        .blobs()
        .values()
        .filter(|b| !b.runs.is_empty())
        .count();
    assert_eq!(chunked, 2, "the fixture's two versions of big.bin");
    drop(store);
    assert_replays_as_expected(&root, d.path());
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_version_6_store_keeps_its_timelines_lines_starts_and_heads() {
    let (_d, root) = project();
    let store = Store::open(&root).unwrap();
    let cat = store.catalog().unwrap();
    let live: Vec<&str> = cat.timelines().live().map(|t| t.name.as_str()).collect();
    assert_eq!(live, ["main", "exp"]);
    assert_eq!(cat.current_timeline(), TimelineId::MAIN);
    let exp = store.timeline_named("exp").unwrap().id;
    // exp started at `two` (the pin v6-two), on main.
    let two = index_of(&store, "ff973d469de1");
    assert_eq!(store.resolve("v6-two").unwrap(), two);
    let base = cat.timelines().get(exp).unwrap().base_lsn;
    assert_eq!(base, Some(store.checkpoints()[two].lsn));
    assert_eq!(
        ids(&store, &cat.lineage(exp)),
        [
            "61965bb00224",
            "ff973d469de1",
            "7ab064f0cb3d",
            "c73bfd8c24b6",
            "def8dcd68130"
        ]
    );
    assert_eq!(
        ids(&store, &cat.lineage(TimelineId::MAIN)),
        [
            "61965bb00224",
            "ff973d469de1",
            "bbf6b14e4aef",
            "3625ccbff81a",
            "d74eeff1c857",
            "8cfe3b703e5b",
            "aaa7b95a01b4",
            "c91883149111",
            "238169f57ba6",
            "6f9f38a3f926"
        ]
    );
    assert_eq!(
        store.resolve("exp").unwrap(),
        index_of(&store, "def8dcd68130")
    );
    assert_eq!(
        store.resolve("main").unwrap(),
        index_of(&store, "6f9f38a3f926")
    );
    // The switch history: each switch and the undo on the timeline it went to.
    let moves: Vec<(String, &str, Option<&str>)> = cat
        .checkpoints()
        .iter()
        .filter(|c| matches!(c.kind, CommitKind::Switch | CommitKind::Undo))
        .map(|c| {
            let on = cat.timelines().get(c.timeline).unwrap().name.clone();
            (on, c.kind.as_str(), c.message.as_deref())
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("exp".into(), "switch", Some("switch from main to exp")),
            ("main".into(), "switch", Some("switch from exp to main")),
            ("exp".into(), "undo", Some("undo of bbf6b14e4aef (switch)")),
            ("main".into(), "switch", Some("switch from exp to main")),
        ]
    );
}

#[test]
fn a_version_6_store_keeps_the_daemons_gap_and_hold_and_the_publish_record() {
    let (_d, root) = project();
    let store = Store::open(&root).unwrap();
    let cat = store.catalog().unwrap();
    let gaps: Vec<&str> = cat.gaps().iter().map(|g| g.reason.as_str()).collect();
    assert_eq!(
        gaps,
        ["no watcher was running (caught up by a scan at start)"]
    );
    let holds: Vec<(&[u8], u64)> = cat
        .holds()
        .iter()
        .map(|h| (h.dir.as_slice(), h.files_per_minute))
        .collect();
    assert_eq!(holds, [(&b"gen"[..], 12)]);
    let hold = &cat.holds()[0];
    assert!(hold.from_ns <= hold.to_ns);
    let dir = root.join(".tl/git-publish");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let record = PublishRecord::load(
        &files[0],
        Path::new("/tmp/v6make/proj/.git"),
        "refs/heads/wip",
    )
    .expect("the publish record reads as the one tl left on wip");
    assert_eq!(
        fixture_store::hex(&record.tip),
        "2514974778fca98300e22ba6ccd1856fa550847c"
    );
    // The tree of the last state, as the Git export gives it.
    assert_eq!(
        fixture_store::hex(&record.tree),
        "fecc2adede228251f5e65c40d3dd3423c205f1f0"
    );
}

#[test]
fn a_version_6_store_exports_the_same_git_commits_for_each_timeline() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let repo = d.path().join("git");
    for (name, want) in [
        ("main", "expected-git.txt"),
        ("exp", "expected-git-exp.txt"),
    ] {
        let mut opts = ExportOptions::new(i64::MAX / 2);
        opts.repo = Some(repo.clone());
        opts.ref_name = format!("refs/tl/{name}");
        opts.timeline = Some(store.timeline_named(name).unwrap().id);
        export(&store, &opts, &|_| {}).unwrap();
        assert_eq!(
            fixture_store::git_log_of(&repo, &opts.ref_name),
            std::fs::read_to_string(fixture(NAME).join(want)).unwrap(),
            "{name}"
        );
    }
}
