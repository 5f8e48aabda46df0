//! Bodies of the fuzz targets over `tl-index`'s readers of disk bytes: record
//! payloads, snapshots, time expressions, and the whole open → recover → fold →
//! read → fsck path over arbitrary `.tl` log contents. Shared by `cargo fuzz`
//! (`fuzz/fuzz_targets/{record_decode,snapshot_access,timespec_parse,store_open_replay}.rs`)
//! and the corpus replay under `cargo test` (`benches/tests/fuzz_corpus.rs`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tl_index::catalog::CheckpointIndex;

use tl_index::fsck::{fsck_storage, FsckOptions};
use tl_index::record::{self, Record};
use tl_index::snapshot::{self, Snapshot};
use tl_index::store::Store;
use tl_index::timespec;
use tl_wal::format::SegmentHeader;
use tl_wal::testing::MemStorage;
use tl_wal::Lsn;

use crate::common::SegmentBuilder;

/// Target `record_decode`: any payload decodes or fails cleanly; what decodes
/// re-encodes to bytes that decode to the same record; a blob part's or a solid
/// block's data never decompresses past its bound (zstd bombs).
pub fn record_decode(data: &[u8]) {
    let Ok(rec) = Record::decode(data) else {
        return;
    };
    let again = Record::decode(&rec.encode()).expect("an encoded record decodes");
    assert_eq!(again, rec, "decode(encode(r)) != r");
    if let Record::Blob {
        raw_len,
        offset,
        codec,
        data,
        ..
    } = &rec
    {
        let max = record::part_raw_len_max(*raw_len, *offset);
        if let Ok(raw) = record::decompress_part(*codec, data, max) {
            assert!(raw.len() as u64 <= max, "decompressed past the bound");
        }
    }
    if let Record::Block {
        members,
        codec,
        data,
    } = &rec
    {
        let max = record::BlockMember::total(members);
        assert!(
            max <= record::BLOCK_RAW_MAX as u64,
            "members past the block limit"
        );
        if let Ok(raw) = record::decompress_part(*codec, data, max) {
            assert!(
                raw.len() as u64 <= max,
                "a block decompressed past its bound"
            );
        }
    }
}

fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("tl-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
}

/// Target `snapshot_access`: validation never panics, and a file that validates
/// opens, iterates in strictly increasing path order and folds to a tree of the
/// size its header says.
pub fn snapshot_access(data: &[u8]) {
    let Ok(meta) = snapshot::validate_bytes(data) else {
        return;
    };
    let path = scratch_dir().join(snapshot::file_name(meta.lsn));
    std::fs::write(&path, data).expect("write scratch snapshot");
    let snap = Snapshot::open(&path).expect("bytes that validate open");
    assert_eq!(snap.meta(), meta);
    let mut prev: Option<Vec<u8>> = None;
    for (p, e) in snap.iter() {
        assert!(!p.is_empty());
        if let Some(q) = &prev {
            assert!(q.as_slice() < p, "paths not strictly increasing");
        }
        assert_eq!(snap.get(p), Some(e));
        prev = Some(p.to_vec());
    }
    assert_eq!(snap.to_tree().len(), snap.len());
    let _ = std::fs::remove_file(&path);
}

/// Target `timespec_parse`: any text parses or fails with a message; never panics
/// (overflowing offsets, huge numbers, odd Unicode).
pub fn timespec_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = jiff::Timestamp::from_second(1_795_000_000)
        .expect("fixed time")
        .to_zoned(jiff::tz::TimeZone::UTC);
    match timespec::parse(text, &now) {
        Ok(expr) => {
            let _ = expr.to_string();
            if let timespec::TimeExpr::Instant(ns) = expr {
                let _ = timespec::format_in(ns, &jiff::tz::TimeZone::UTC);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn project_root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = scratch_dir().join("project");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("project dir");
        drop(Store::init(&root).expect("init"));
        std::fs::remove_dir_all(root.join(".tl/wal")).expect("drop the real log");
        root
    })
}

/// Target `store_open_replay`: arbitrary log contents under a store. The input is
/// a segment file when it starts with a valid segment header (real segments from
/// the corpus), else a valid header followed by the bytes after a mode byte,
/// repaired as the mode says (see `common::repair`). The store must open or fail
/// cleanly; every checkpoint's tree and every content must read or fail cleanly;
/// `fsck --deep` must agree with the store's fold, and when it finds nothing wrong
/// every file of the last tree must read back.
pub fn store_open_replay(data: &[u8]) {
    let (name, file) = match SegmentHeader::decode(data) {
        Ok(h) => (tl_wal::segment_name(h.base_lsn), data.to_vec()),
        Err(_) => {
            let (mode, body) = data.split_first().map_or((0, &[][..]), |(m, b)| (*m, b));
            let mut seg = SegmentBuilder::new(Lsn::ZERO);
            seg.tail(body, mode);
            (seg.name(), seg.bytes)
        }
    };
    let storage = MemStorage::new();
    storage.put_file(&name, file);
    let root = project_root();
    let tl = root.join(".tl");
    // Caches of the previous input must not be taken for this one's.
    for sub in ["index", "snapshots"] {
        let _ = std::fs::remove_dir_all(tl.join(sub));
        let _ = std::fs::create_dir_all(tl.join(sub));
    }
    let Ok(store) = Store::open_with_storage(root, Arc::new(storage.clone())) else {
        return;
    };
    let n = store.checkpoints().len();
    for i in (0..n).rev().take(8) {
        let _ = store.tree_at(CheckpointIndex::new(i));
    }
    let head: Vec<_> = store.head().values().copied().take(64).collect();
    let read: Vec<bool> = head
        .iter()
        .map(|e| store.blob_bytes(&e.hash).is_ok())
        .collect();
    let ids: Vec<String> = store.checkpoints().iter().map(|c| c.id.clone()).collect();
    drop(store);
    let report = fsck_storage(
        &tl_index::layout::Layout::new(root),
        Arc::new(storage),
        &FsckOptions {
            deep: true,
            check_tail: true,
        },
    );
    let fsck_ids: Vec<String> = report
        .catalog
        .checkpoints()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(fsck_ids, ids, "fsck's fold differs from the store's");
    if report.is_clean() {
        assert!(
            read.iter().all(|ok| *ok),
            "fsck --deep is clean but content does not read back"
        );
    }
}

/// Seed inputs: (target, name, bytes).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    // A real store's log: blobs (raw and zstd), puts, a delete, a pin, commits.
    let dir = scratch_dir().join("seed-project");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("seed dir");
    std::fs::write(dir.join("a.txt"), b"hello\n").expect("seed file");
    std::fs::write(dir.join("src/lib.rs"), "fn f() {}\n".repeat(200)).expect("seed file");
    let mut store = Store::init(&dir).expect("seed store");
    store
        .checkpoint(tl_index::record::CommitKind::Manual, Some("one".into()))
        .expect("seed checkpoint");
    std::fs::remove_file(dir.join("a.txt")).expect("seed rm");
    std::fs::write(dir.join("b.bin"), [0u8, 1, 2, 255]).expect("seed file");
    store
        .checkpoint(tl_index::record::CommitKind::Auto, None)
        .expect("seed checkpoint");
    store
        .pin("seed", CheckpointIndex::new(0))
        .expect("seed pin");
    let snap_path = store.compact().expect("seed snapshot");
    drop(store);
    let seg = std::fs::read(dir.join(".tl/wal/00000000000000000000.seg")).expect("seed segment");
    out.push(("store_open_replay", "real-store".to_string(), seg.clone()));
    let mut torn = seg.clone();
    torn.truncate(seg.len() - 50);
    out.push(("store_open_replay", "real-store-torn".to_string(), torn));
    let mut flipped = seg.clone();
    flipped[seg.len() / 2] ^= 4;
    out.push((
        "store_open_replay",
        "real-store-flipped".to_string(),
        flipped,
    ));
    // Records of that log, one per seed.
    let reader = tl_wal::LogReader::open(dir.join(".tl/wal"), dir.join(".tl/quarantine"))
        .expect("seed reader");
    for (i, r) in reader
        .iter_from(reader.start_lsn())
        .expect("seed iter")
        .enumerate()
    {
        let r = r.expect("seed record");
        out.push(("record_decode", format!("real-{i}"), r.data));
    }
    let mut bomb = Vec::new();
    zstd::stream::copy_encode(
        std::io::Read::take(std::io::repeat(0), 64 << 20),
        &mut bomb,
        3,
    )
    .expect("bomb");
    let bomb_rec = Record::Blob {
        hash: tl_index::types::BlobHash::of(b"x"),
        raw_len: 10,
        offset: 0,
        codec: tl_index::record::Codec::Zstd,
        data: bomb,
    };
    out.push(("record_decode", "zstd-bomb".to_string(), bomb_rec.encode()));
    out.push((
        "snapshot_access",
        "real".to_string(),
        std::fs::read(snap_path).expect("seed snapshot"),
    ));
    for (i, t) in [
        "@1234",
        "2026-11-22T10:00:00Z",
        "2026-11-22 14:05",
        "10m",
        "2 hours ago",
        "yesterday 17:00",
        "a1b2c3d4",
        "@18446744073709551615",
        "99999999999 years ago",
        "2026-11-22T10:00:00+25:00",
    ]
    .iter()
    .enumerate()
    {
        out.push(("timespec_parse", format!("form-{i}"), t.as_bytes().to_vec()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
