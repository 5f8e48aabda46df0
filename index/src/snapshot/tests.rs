//! Goal: a snapshot reads back exactly the tree it was written from, and every kind of
//! damage (truncation, flipped header bytes, flipped body bits, and hostile bodies
//! with valid checksums) is reported as the right typed error, never as a panic or
//! a wrong tree.

use std::path::Path;

use proptest::prelude::*;

use super::check::{le_u32, le_u64};
use super::write::encode_file;
use super::*;

fn entry(seed: u64) -> Entry {
    let mode = Mode::from_code((seed % 3) as u8).unwrap();
    Entry {
        hash: BlobHash::of(&seed.to_le_bytes()),
        mode,
        size: seed.wrapping_mul(7919),
        mtime_ns: (seed as i64).wrapping_mul(-1_000_003),
    }
}

fn meta(lsn: u64) -> SnapshotMeta {
    SnapshotMeta {
        lsn: Lsn::new(lsn),
        time_ns: -42,
        timeline: 7,
        seq: lsn / 2,
        chain: [0xab; 32],
    }
}

fn tree_of(n: u64) -> Tree {
    (0..n)
        .map(|i| (format!("dir{}/file{i}", i % 17).into_bytes(), entry(i)))
        .collect()
}

fn small_tree() -> Tree {
    let mut tree = Tree::new();
    tree.insert(b"a".to_vec(), entry(1));
    tree.insert(b"a/b".to_vec(), entry(2));
    tree.insert(b"a/c/d".to_vec(), entry(3));
    tree.insert(b"a-b".to_vec(), entry(4));
    tree.insert(b"a0".to_vec(), entry(5));
    tree.insert(vec![0xff, 0xfe, b'/', 0x80], entry(6)); // not UTF-8
    tree.insert(b"z\0nul".to_vec(), entry(7));
    tree
}

/// Encodes `tree` to file bytes without touching the disk.
fn encode_tree(meta: &SnapshotMeta, tree: &Tree) -> Vec<u8> {
    let body = SnapshotBody {
        entries: tree.iter().map(|(p, e)| SnapEntry::new(p, e)).collect(),
    };
    encode_file(meta, &body).unwrap()
}

/// Recomputes the body hash and the header crc after a deliberate corruption, so that
/// only rkyv validation or our invariant checks stand between the bytes and a reader.
fn reseal(bytes: &mut [u8]) {
    let body_len = (bytes.len() - BODY_OFFSET) as u64;
    bytes[OFF_BODY_LEN..][..8].copy_from_slice(&body_len.to_le_bytes());
    let hash = blake3::hash(&bytes[BODY_OFFSET..]);
    bytes[OFF_BODY_HASH..][..32].copy_from_slice(hash.as_bytes());
    let crc = crc32fast::hash(&bytes[..OFF_HEADER_CRC]);
    bytes[OFF_HEADER_CRC..][..4].copy_from_slice(&crc.to_le_bytes());
}

/// Opens `bytes` all three ways (in memory, read, mmap) and checks they agree.
fn open_all(dir: &Path, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let path = dir.join("under-test.snap");
    fs::write(&path, bytes).unwrap();
    let from_memory = validate_bytes(bytes);
    let opened = Snapshot::open(&path);
    // SAFETY: the test owns the temp file and does not change it while mapped.
    #[allow(unsafe_code)]
    let mapped = unsafe { Snapshot::open_mmap(&path) };
    let from_memory = from_memory
        .as_ref()
        .map(|m| *m)
        .map_err(std::mem::discriminant);
    let outcome = |r: &Result<Snapshot, SnapshotError>| {
        r.as_ref().map(|s| s.meta()).map_err(std::mem::discriminant)
    };
    assert_eq!(
        from_memory,
        outcome(&opened),
        "validate_bytes and open disagree"
    );
    assert_eq!(
        from_memory,
        outcome(&mapped),
        "validate_bytes and open_mmap disagree"
    );
    if let (Ok(a), Ok(b)) = (&opened, &mapped) {
        assert!(a.iter().eq(b.iter()));
    }
    opened
}

fn roundtrip(tree: &Tree) {
    let dir = tempfile::tempdir().unwrap();
    let m = meta(123_456);
    let path = write_snapshot(dir.path(), &m, tree).unwrap();
    assert_eq!(path.file_name().unwrap(), "00000000000000123456.snap");
    let snap = Snapshot::open(&path).unwrap();
    assert_eq!(snap.meta(), m);
    assert_eq!(snap.len(), tree.len());
    assert_eq!(snap.is_empty(), tree.is_empty());
    assert_eq!(&snap.to_tree(), tree);
    assert!(snap.iter().map(|(p, e)| (p.to_vec(), e)).eq(tree.clone()));
    for (p, e) in tree {
        assert_eq!(snap.get(p), Some(*e));
    }
    assert_eq!(validate_bytes(&fs::read(&path).unwrap()).unwrap(), m);
}

#[test]
fn roundtrip_small_non_utf8() {
    roundtrip(&small_tree());
}

#[test]
fn roundtrip_empty() {
    roundtrip(&Tree::new());
}

#[test]
fn roundtrip_100k() {
    roundtrip(&tree_of(100_000));
}

#[test]
fn lookup_hit_and_miss() {
    let dir = tempfile::tempdir().unwrap();
    let tree = small_tree();
    let snap = Snapshot::open(&write_snapshot(dir.path(), &meta(1), &tree).unwrap()).unwrap();
    assert_eq!(snap.get(b"a/b"), Some(entry(2)));
    assert_eq!(snap.get(&[0xff, 0xfe, b'/', 0x80]), Some(entry(6)));
    for miss in [
        &b""[..],
        b"0",
        b"a/",
        b"a/b/",
        b"a/bb",
        b"zz",
        b"z",
        b"\xff",
    ] {
        assert_eq!(snap.get(miss), None, "{miss:?}");
    }
}

#[test]
fn range_prefix_selects_directory() {
    let dir = tempfile::tempdir().unwrap();
    let snap =
        Snapshot::open(&write_snapshot(dir.path(), &meta(1), &small_tree()).unwrap()).unwrap();
    let paths = |d: &[u8]| {
        snap.range_prefix(d)
            .map(|(p, _)| p.to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(b"a"), vec![b"a/b".to_vec(), b"a/c/d".to_vec()]);
    assert_eq!(paths(b"a/c"), vec![b"a/c/d".to_vec()]);
    assert_eq!(paths(b"a/b"), Vec::<Vec<u8>>::new());
    assert_eq!(paths(b"nope"), Vec::<Vec<u8>>::new());
    assert_eq!(paths(b"").len(), snap.len());
    assert_eq!(paths(&[0xff, 0xfe]), vec![vec![0xff, 0xfe, b'/', 0x80]]);
}

#[test]
fn format_features_match_flags() {
    // FLAG_LITTLE_ENDIAN: rkyv must write a u32 little-endian.
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&0x0102_0304u32).unwrap();
    assert_eq!(bytes.as_slice(), &[4, 3, 2, 1]);
    // FLAG_ALIGNED: archived u64 keeps its natural alignment.
    assert_eq!(align_of::<rkyv::Archived<u64>>(), 8);
}

#[test]
fn header_layout_is_stable() {
    // A fixture of the version-2 header (laid out as version 1): any change here is
    // a format change.
    let bytes = encode_tree(&meta(5), &Tree::new());
    assert_eq!(&bytes[0..8], b"TLSNAP\0\0");
    assert_eq!(le_u32(&bytes, 8), 2);
    assert_eq!(le_u32(&bytes, 12), 132);
    assert_eq!(le_u32(&bytes, 16), 0b111);
    assert_eq!(le_u32(&bytes, 20), 7);
    assert_eq!(le_u64(&bytes, 24), 5);
    assert_eq!(le_u64(&bytes, 32) as i64, -42);
    assert_eq!(le_u64(&bytes, 40), 2);
    assert_eq!(&bytes[48..80], &[0xab; 32]);
    assert_eq!(le_u64(&bytes, 80), 0);
    assert_eq!(le_u64(&bytes, 88), (bytes.len() - 144) as u64);
    assert_eq!(&bytes[96..128], blake3::hash(&bytes[144..]).as_bytes());
    assert_eq!(le_u32(&bytes, 128), crc32fast::hash(&bytes[..128]));
    assert_eq!(&bytes[132..144], &[0; 12]);
    // The archived body types: SNAPSHOT.md documents these sizes.
    assert_eq!(
        (
            size_of::<ArchivedSnapshotBody>(),
            align_of::<ArchivedSnapshotBody>()
        ),
        (8, 4)
    );
    assert_eq!(
        (
            size_of::<ArchivedSnapEntry>(),
            align_of::<ArchivedSnapEntry>()
        ),
        (64, 8)
    );
    assert_eq!(
        bytes.len() - BODY_OFFSET,
        8,
        "an empty tree is just the root"
    );
}

#[test]
fn bad_magic() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encode_tree(&meta(1), &small_tree());
    bytes[0] = b'X';
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(
        matches!(err, SnapshotError::BadMagic { ref found, .. } if found[0] == b'X'),
        "{err}"
    );
    assert!(err.to_string().contains("under-test.snap"), "{err}");
    assert!(matches!(
        validate_bytes(b"hello"),
        Err(SnapshotError::BadMagic { .. })
    ));
    assert!(matches!(
        validate_bytes(b""),
        Err(SnapshotError::Truncated { .. })
    ));
    assert!(matches!(
        validate_bytes(b"TLSN"),
        Err(SnapshotError::Truncated { .. })
    ));
}

#[test]
fn future_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encode_tree(&meta(1), &small_tree());
    bytes[OFF_VERSION..][..4].copy_from_slice(&3u32.to_le_bytes());
    reseal(&mut bytes);
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnsupportedVersion { found: 3, .. }),
        "{err}"
    );
}

#[test]
fn a_version_1_snapshot_reads_and_knows_only_the_first_three_modes() {
    let entry = |mode| Entry {
        hash: BlobHash([1; 32]),
        mode,
        size: 1,
        mtime_ns: 1,
    };
    for (mode, readable) in [
        (Mode::File, true),
        (Mode::Exec, true),
        (Mode::Symlink, true),
        (Mode::PrivateFile, false),
        (Mode::PrivateExec, false),
        (Mode::GroupFile, false),
        (Mode::GroupExec, false),
    ] {
        let tree: Tree = [(b"a".to_vec(), entry(mode))].into_iter().collect();
        let mut bytes = encode_tree(&meta(1), &tree);
        assert!(validate_bytes(&bytes).is_ok(), "version 2 knows {mode:?}");
        bytes[OFF_VERSION..][..4].copy_from_slice(&1u32.to_le_bytes());
        reseal(&mut bytes);
        let result = validate_bytes(&bytes);
        if readable {
            assert!(result.is_ok(), "{mode:?}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(SnapshotError::BadEntry { .. })),
                "{mode:?}: {result:?}"
            );
        }
    }
}

#[test]
fn header_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encode_tree(&meta(1), &small_tree());
    bytes[OFF_LSN] ^= 1;
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err, SnapshotError::HeaderChecksum { .. }), "{err}");
}

#[test]
fn flags_and_header_len_are_checked_even_with_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let base = encode_tree(&meta(1), &small_tree());
    for (offset, value, field) in [
        (OFF_FLAGS, FLAGS & !FLAG_LITTLE_ENDIAN, "flags"),
        (OFF_FLAGS, FLAGS | 1 << 8, "flags"),
        (OFF_HEADER_LEN, 136, "header_len"),
    ] {
        let mut bytes = base.clone();
        bytes[offset..][..4].copy_from_slice(&value.to_le_bytes());
        reseal(&mut bytes);
        let err = open_all(dir.path(), &bytes).unwrap_err();
        assert!(
            matches!(err, SnapshotError::BadHeader { field: f, .. } if f == field),
            "{err}"
        );
    }
    let mut bytes = base.clone();
    bytes[OFF_BODY_LEN..][..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..OFF_HEADER_CRC]);
    bytes[OFF_HEADER_CRC..][..4].copy_from_slice(&crc.to_le_bytes());
    let err = validate_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::BadHeader {
                field: "body_len",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn every_header_byte_flipped_is_detected() {
    let base = encode_tree(&meta(1), &small_tree());
    for offset in 0..BODY_OFFSET {
        for bit in 0..8 {
            let mut bytes = base.clone();
            bytes[offset] ^= 1 << bit;
            let err = validate_bytes(&bytes).expect_err("a flipped header bit must not validate");
            let expected = match offset {
                0..8 => matches!(err, SnapshotError::BadMagic { .. }),
                8..12 => matches!(err, SnapshotError::UnsupportedVersion { .. }),
                12..132 => matches!(err, SnapshotError::HeaderChecksum { .. }),
                _ => matches!(
                    err,
                    SnapshotError::BadHeader {
                        field: "padding",
                        ..
                    }
                ),
            };
            assert!(expected, "offset {offset} bit {bit}: {err}");
        }
        let mut bytes = base.clone();
        bytes[offset] ^= 0xff;
        assert!(validate_bytes(&bytes).is_err(), "offset {offset} all bits");
    }
}

#[test]
fn truncated_at_every_64th() {
    let dir = tempfile::tempdir().unwrap();
    let base = encode_tree(&meta(1), &tree_of(500));
    let body_len = base.len() - BODY_OFFSET;
    for k in 0..64 {
        let cut = BODY_OFFSET + body_len * k / 64;
        let err = open_all(dir.path(), &base[..cut]).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Truncated { expected, found, .. }
                if expected == base.len() as u64 && found == cut as u64),
            "cut {cut}: {err}"
        );
    }
    // Inside the header, too.
    for cut in [0, 3, 8, 11, 12, 100, BODY_OFFSET - 1] {
        let err = validate_bytes(&base[..cut]).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    let mut longer = base.clone();
    longer.push(0);
    let err = open_all(dir.path(), &longer).unwrap_err();
    assert!(matches!(err, SnapshotError::TrailingBytes { .. }), "{err}");
}

/// xorshift64*: deterministic randomness without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn random_body_bit_flips_fail_the_checksum() {
    let base = encode_tree(&meta(1), &tree_of(300));
    let mut rng = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2_000 {
        let mut bytes = base.clone();
        let n_flips = 1 + next(&mut rng) % 4;
        for _ in 0..n_flips {
            let bit = next(&mut rng) as usize % ((bytes.len() - BODY_OFFSET) * 8);
            bytes[BODY_OFFSET + bit / 8] ^= 1 << (bit % 8);
        }
        if bytes == base {
            continue; // two flips of the same bit
        }
        let err = validate_bytes(&bytes).unwrap_err();
        assert!(matches!(err, SnapshotError::BodyChecksum { .. }), "{err}");
    }
}

/// Writes `entries` as-is (no sorting, no checks) with valid checksums.
fn hostile(entries: Vec<SnapEntry>) -> Vec<u8> {
    encode_file(&meta(1), &SnapshotBody { entries }).unwrap()
}

fn raw_entry(path: &[u8], mode: u8) -> SnapEntry {
    SnapEntry {
        path: path.to_vec(),
        hash: [1; 32],
        mode,
        size: 1,
        mtime_ns: 1,
    }
}

/// A predicate on the error a case must produce.
type ErrorCheck = fn(&SnapshotError) -> bool;

#[test]
fn unsorted_duplicate_empty_and_bad_mode_are_caught_after_valid_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<SnapEntry>, ErrorCheck)> = vec![
        (vec![raw_entry(b"b", 0), raw_entry(b"a", 0)], |e| {
            matches!(e, SnapshotError::Unsorted { index: 1, .. })
        }),
        (
            vec![raw_entry(b"a", 0), raw_entry(b"b", 0), raw_entry(b"b", 1)],
            |e| matches!(e, SnapshotError::Unsorted { index: 2, .. }),
        ),
        (vec![raw_entry(b"", 0)], |e| {
            matches!(e, SnapshotError::BadEntry { index: 0, .. })
        }),
        (vec![raw_entry(b"a", 0), raw_entry(b"b", 7)], |e| {
            matches!(e, SnapshotError::BadEntry { index: 1, .. })
        }),
    ];
    for (entries, expected) in cases {
        let err = open_all(dir.path(), &hostile(entries)).unwrap_err();
        assert!(expected(&err), "{err}");
    }
    // The header's count must match the body's.
    let mut bytes = encode_tree(&meta(1), &small_tree());
    bytes[OFF_ENTRY_COUNT] += 1;
    reseal(&mut bytes);
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err, SnapshotError::EntryCount { .. }), "{err}");
}

#[test]
fn resealed_corruption_is_caught_by_rkyv_validation() {
    let dir = tempfile::tempdir().unwrap();
    let base = encode_tree(&meta(1), &small_tree());
    // The root (`entries`: a 32-bit relative pointer, then a 32-bit length) is the last
    // 8 bytes of the body. A huge length points outside the buffer.
    let mut bytes = base.clone();
    let len_at = bytes.len() - 4;
    bytes[len_at..].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut bytes);
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err, SnapshotError::Invalid { .. }), "{err}");
    // A pointer far out of bounds.
    let mut bytes = base.clone();
    let ptr_at = bytes.len() - 8;
    bytes[ptr_at..][..4].copy_from_slice(&i32::MIN.to_le_bytes());
    reseal(&mut bytes);
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err, SnapshotError::Invalid { .. }), "{err}");
    // A body too short to hold a root at all.
    let mut bytes = base[..BODY_OFFSET + 4].to_vec();
    reseal(&mut bytes);
    let err = open_all(dir.path(), &bytes).unwrap_err();
    assert!(matches!(err, SnapshotError::Invalid { .. }), "{err}");
}

#[test]
fn resealed_random_corruption_never_panics_or_breaks_invariants() {
    let base = encode_tree(&meta(1), &small_tree());
    let mut rng = 0x1234_5678_9abc_def1;
    let (mut n_ok, mut n_err) = (0, 0);
    for _ in 0..5_000 {
        let mut bytes = base.clone();
        for _ in 0..1 + next(&mut rng) % 3 {
            let i = BODY_OFFSET + next(&mut rng) as usize % (bytes.len() - BODY_OFFSET);
            bytes[i] = next(&mut rng) as u8;
        }
        reseal(&mut bytes);
        match validate_bytes(&bytes) {
            // Flips in hashes, sizes or times give another valid tree: fine.
            Ok(_) => n_ok += 1,
            Err(SnapshotError::Invalid { .. })
            | Err(SnapshotError::Unsorted { .. })
            | Err(SnapshotError::BadEntry { .. })
            | Err(SnapshotError::EntryCount { .. }) => n_err += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(n_ok > 0 && n_err > 0, "ok {n_ok}, err {n_err}");
}

#[test]
fn lsn_in_name_must_match_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_snapshot(dir.path(), &meta(10), &small_tree()).unwrap();
    let renamed = dir.path().join(file_name(Lsn::new(11)));
    fs::rename(&path, &renamed).unwrap();
    let err = Snapshot::open(&renamed).unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::LsnMismatch {
                name_lsn,
                header_lsn,
                ..
            } if name_lsn == Lsn::new(11) && header_lsn == Lsn::new(10)
        ),
        "{err}"
    );
}

#[test]
fn missing_file_is_io_with_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(Lsn::new(1)));
    let err = Snapshot::open(&path).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Io { path: ref p, .. } if p == &path),
        "{err}"
    );
}

#[test]
fn empty_path_is_refused_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = small_tree();
    tree.insert(Vec::new(), entry(0));
    let err = write_snapshot(dir.path(), &meta(1), &tree).unwrap_err();
    assert!(matches!(err, SnapshotError::Encode { .. }), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn listing_sorts_and_ignores_strays() {
    let dir = tempfile::tempdir().unwrap();
    assert!(list_snapshots(&dir.path().join("missing"))
        .unwrap()
        .is_empty());
    for lsn in [300, 5, 1_000_000, 0, u64::MAX] {
        write_snapshot(dir.path(), &meta(lsn), &small_tree()).unwrap();
    }
    for stray in [
        "00000000000000000007.snap.tmp.123",
        "7.snap",
        "0000000000000000000x.snap",
        "00000000000000000007.snapx",
        "000000000000000000007.snap",
        "99999999999999999999.snap", // 20 digits but > u64::MAX
    ] {
        fs::write(dir.path().join(stray), b"junk").unwrap();
    }
    let lsns: Vec<u64> = list_snapshots(dir.path())
        .unwrap()
        .into_iter()
        .map(|s| s.lsn.get())
        .collect();
    assert_eq!(lsns, vec![0, 5, 300, 1_000_000, u64::MAX]);
    let at = |lsn| {
        newest_at_or_before(dir.path(), Lsn::new(lsn))
            .unwrap()
            .map(|s| s.lsn.get())
    };
    assert_eq!(at(0), Some(0));
    assert_eq!(at(4), Some(0));
    assert_eq!(at(5), Some(5));
    assert_eq!(at(999_999), Some(300));
    assert_eq!(at(u64::MAX - 1), Some(1_000_000));
    assert_eq!(at(u64::MAX), Some(u64::MAX));
    let path = newest_at_or_before(dir.path(), Lsn::new(301))
        .unwrap()
        .unwrap()
        .path;
    assert_eq!(Snapshot::open(&path).unwrap().meta(), meta(300));
    assert_eq!(
        parse_file_name(&file_name(Lsn::new(u64::MAX))),
        Some(Lsn::new(u64::MAX))
    );
}

#[test]
fn rewrite_of_same_lsn_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    write_snapshot(dir.path(), &meta(9), &small_tree()).unwrap();
    let path = write_snapshot(dir.path(), &meta(9), &tree_of(3)).unwrap();
    assert_eq!(Snapshot::open(&path).unwrap().to_tree(), tree_of(3));
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left behind"
    );
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (any::<[u8; 32]>(), 0u8..3, any::<u64>(), any::<i64>()).prop_map(|(h, m, size, mtime_ns)| {
        Entry {
            hash: BlobHash(h),
            mode: Mode::from_code(m).unwrap(),
            size,
            mtime_ns,
        }
    })
}

fn arb_tree() -> impl Strategy<Value = Tree> {
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..12),
        arb_entry(),
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_arbitrary_trees_roundtrip(tree in arb_tree(), lsn in any::<u64>(), seq in any::<u64>(),
                                      time_ns in any::<i64>(), timeline in any::<u32>(),
                                      chain in any::<[u8; 32]>()) {
        let m = SnapshotMeta { lsn: Lsn::new(lsn), time_ns, timeline, seq, chain };
        let bytes = encode_tree(&m, &tree);
        prop_assert_eq!(validate_bytes(&bytes).unwrap(), m);
        let dir = tempfile::tempdir().unwrap();
        let path = write_snapshot(dir.path(), &m, &tree).unwrap();
        let snap = Snapshot::open(&path).unwrap();
        prop_assert_eq!(snap.to_tree(), tree.clone());
        for (p, e) in &tree {
            prop_assert_eq!(snap.get(p), Some(*e));
        }
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = validate_bytes(&bytes);
    }

    #[test]
    fn prop_arbitrary_bodies_behind_valid_headers_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..600),
        entry_count in 0u64..4,
    ) {
        // Past every checksum: only rkyv validation and our invariants remain.
        let mut bytes = encode_tree(&meta(1), &Tree::new());
        bytes.truncate(BODY_OFFSET);
        bytes.extend_from_slice(&body);
        bytes[OFF_ENTRY_COUNT..][..8].copy_from_slice(&entry_count.to_le_bytes());
        reseal(&mut bytes);
        let _ = validate_bytes(&bytes);
    }

    #[test]
    fn prop_mutated_valid_files_never_panic(tree in arb_tree(), edits in
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            seal in any::<bool>()) {
        let mut bytes = encode_tree(&meta(1), &tree);
        for (i, b) in edits {
            let at = BODY_OFFSET + i.index(bytes.len() - BODY_OFFSET);
            bytes[at] = b;
        }
        if seal {
            reseal(&mut bytes);
        }
        if let Ok(m) = validate_bytes(&bytes) {
            prop_assert_eq!(m, meta(1));
        }
    }
}

/// Not a check: prints open timings of the copying and the mapped reader for the
/// numbers in SNAPSHOT.md. Run with `TL_SNAPSHOT_MEASURE=1 cargo test --release -p
/// tl-index measure_open -- --nocapture`.
#[test]
fn measure_open_copy_vs_mmap() {
    if std::env::var_os("TL_SNAPSHOT_MEASURE").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000_000;
    let path = write_snapshot(dir.path(), &meta(1), &tree_of(n)).unwrap();
    let file_len = fs::metadata(&path).unwrap().len();
    let time = |label: &str, f: &dyn Fn() -> Snapshot| {
        let mut best = std::time::Duration::MAX;
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let snap = f();
            best = best.min(start.elapsed());
            assert_eq!(snap.len() as u64, n);
        }
        println!("{label}: {n} entries, {file_len} bytes, best of 5: {best:?}");
    };
    time("open (read + copy)", &|| Snapshot::open(&path).unwrap());
    // SAFETY: the test owns the file and does not change it.
    #[allow(unsafe_code)]
    time("open_mmap", &|| {
        unsafe { Snapshot::open_mmap(&path) }.unwrap()
    });
    let body = fs::read(&path).unwrap();
    let start = std::time::Instant::now();
    let _ = blake3::hash(&body[BODY_OFFSET..]);
    println!("blake3 of the body alone: {:?}", start.elapsed());
    let snap = Snapshot::open(&path).unwrap();
    let start = std::time::Instant::now();
    for i in (0..n).step_by(97) {
        assert!(snap
            .get(format!("dir{}/file{i}", i % 17).as_bytes())
            .is_some());
    }
    println!("get: {:?} per lookup", start.elapsed() / (n / 97) as u32);
}
