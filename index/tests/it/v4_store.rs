//! A store written by the version-4 formats (`tests/fixtures/v4-store`: the v2
//! fixture carried on by `tl` at `2a659b1`: a GC packed its content into solid
//! blocks, and a multi-part blob was written after them): the current code opens
//! it, every checkpoint keeps its id and replays byte-identical, the pin names the
//! same checkpoint, fsck is clean, and a Git export gives the old commit ids.

use tl_index::catalog::CheckpointIndex;
use tl_index::store::Store;

use crate::fixture_store::{self, assert_fsck_deep_is_clean, expected, fixture, OldModes};

const NAME: &str = "v4-store";

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    fixture_store::project(
        NAME,
        OldModes {
            dir: 0o700,
            file: 0o600,
        },
    )
}

/// Every checkpoint of the store at `root` replays as `expected.txt` says, and
/// the pin names the same checkpoint.
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
fn a_version_4_store_with_solid_blocks_opens_and_replays_with_its_ids_and_pin() {
    let (d, root) = project();
    let reader =
        tl_wal::LogReader::open(root.join(".tl/wal"), root.join(".tl/quarantine")).unwrap();
    let blocks = reader
        .iter_from(reader.start_lsn())
        .unwrap()
        .filter_map(|r| tl_index::record::Record::decode(&r.unwrap().data).ok())
        .filter(|r| matches!(r, tl_index::record::Record::Block { .. }))
        .count();
    assert!(blocks > 0, "the fixture holds no Block record");
    assert_replays_as_expected(&root, d.path());
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_version_4_store_exports_the_same_git_commits_as_the_old_code() {
    let (d, root) = project();
    let store = Store::open(&root).unwrap();
    let want = std::fs::read_to_string(fixture(NAME).join("expected-git.txt")).unwrap();
    assert_eq!(fixture_store::exported_git_log(&store, d.path()), want);
}

#[test]
fn new_versions_of_a_version_4_stores_big_files_are_stored_as_chunks_and_old_ones_still_replay() {
    let (d, root) = project();
    let mut store = Store::open(&root).unwrap();
    // The project holds no files: write edited versions of the newest state's
    // big files (big.bin: 5 MiB in two plain parts; mid.bin: 2 MiB in a block).
    let newest = CheckpointIndex::new(store.checkpoints().len() - 1);
    let tree = store.tree_at(newest).unwrap();
    let old = |path: &[u8]| store.blob_bytes(&tree[path].hash).unwrap();
    let mut big = old(b"big.bin");
    big.extend_from_slice(b"appended by the chunking code\n");
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let mut mid = old(b"mid.bin");
    mid[1_000_000] ^= 0xff;
    std::fs::write(root.join("mid.bin"), &mid).unwrap();
    store
        .checkpoint(tl_index::record::CommitKind::Manual, Some("chunked".into()))
        .unwrap();
    let cat = store.catalog().unwrap();
    let big_blob = &cat.blobs()[&tl_index::types::BlobHash::of(&big)];
    assert!(
        big_blob.runs.len() == 1 && big_blob.parts.is_empty(),
        "the new version of big.bin (over one maximal chunk) is a chunk list"
    );
    for content in [&big, &mid] {
        assert_eq!(
            store
                .blob_bytes(&tl_index::types::BlobHash::of(content))
                .unwrap(),
            *content
        );
    }
    drop(store);
    assert_replays_as_expected(&root, d.path());
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_gc_by_the_current_code_migrates_a_version_4_store_keeping_every_state() {
    let (d, root) = project();
    // Every state is kept (keep-all covers the fixture's age): the GC rewrites
    // the log in the current formats (the content since its last GC is packed)
    // and every checkpoint keeps its id and its tree.
    let config = root.join(".tl/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[retention]\nkeep-all = \"36500d\"\n");
    std::fs::write(&config, text).unwrap();
    // A new big file (incompressible, so over the 1 MiB worth repacking) makes
    // a chunked state and gives the GC content to pack: it rewrites the log.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    std::fs::write(root.join("new.bin"), &noise).unwrap();
    let mut store = Store::open(&root).unwrap();
    store
        .checkpoint(tl_index::record::CommitKind::Manual, None)
        .unwrap();
    let clock = tl_index::retention::Clock {
        now_ns: Store::now_ns(),
        utc_offset_secs: 0,
    };
    let (store, report) = tl_index::gc::run(store, clock).unwrap();
    assert_eq!(report.plan.dropped(), 0);
    assert!(!report.plan.is_noop(), "the GC rewrote the log");
    let newest = store.head()[b"new.bin".as_slice()];
    assert!(store.blob_bytes(&newest.hash).unwrap() == noise);
    drop(store);
    assert_replays_as_expected(&root, d.path());
    assert_fsck_deep_is_clean(&root);
}
