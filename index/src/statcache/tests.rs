//! Goal: the stat cache round-trips through its file format, loading never panics
//! and degrades to an empty cache on bad bytes, and the racily-clean rule holds.

use super::*;
use proptest::prelude::*;

fn stat(mtime_ns: i64, byte: u8) -> CachedStat {
    CachedStat {
        size: 10,
        mtime_ns,
        ctime_ns: mtime_ns,
        inode: 42,
        mode: 0o100644,
        hash: BlobHash([byte; 32]),
    }
}

fn sample() -> StatCache {
    let mut cache = StatCache::with_taken_ns(100_000_000_000);
    cache.insert(b"a.txt".to_vec(), stat(1, 1));
    cache.insert(b"dir/\xff\xfe".to_vec(), stat(2, 2));
    cache.insert(Vec::new(), stat(3, 3));
    cache
}

#[test]
fn round_trip_through_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statcache");
    let cache = sample();
    cache.save(&path).unwrap();
    assert_eq!(StatCache::load(&path), cache);
    // Saving again replaces the file atomically and leaves no temp file behind.
    cache.save(&path).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn missing_corrupt_or_foreign_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statcache");
    assert!(StatCache::load(&path).is_empty());

    let bytes = sample().to_bytes();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        assert_eq!(StatCache::from_bytes(&bad), None, "flipped byte {i}");
    }
    for len in 0..bytes.len() {
        assert_eq!(
            StatCache::from_bytes(&bytes[..len]),
            None,
            "truncated to {len}"
        );
    }
    // A future version with a valid checksum is foreign too.
    let mut future = bytes[..bytes.len() - 4].to_vec();
    future[8] = 2;
    let crc = crc32fast::hash(&future);
    future.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(StatCache::from_bytes(&future), None);

    std::fs::write(&path, b"not a cache").unwrap();
    assert!(StatCache::load(&path).is_empty());
}

#[test]
fn racily_clean_entries_are_not_trusted() {
    let taken_ns = 100 * 1_000_000_000;
    let mut cache = StatCache::with_taken_ns(taken_ns);
    let old = stat(taken_ns - RACY_SLACK_NS - 1, 1);
    let racy = stat(taken_ns - RACY_SLACK_NS, 2);
    let future = stat(taken_ns + 5, 3);
    cache.insert(b"old".to_vec(), old);
    cache.insert(b"racy".to_vec(), racy);
    cache.insert(b"future".to_vec(), future);
    assert_eq!(cache.fresh_hash(b"old", &old), Some(old.hash));
    assert_eq!(cache.fresh_hash(b"racy", &racy), None);
    assert_eq!(cache.fresh_hash(b"future", &future), None);
    // Any stat difference means "read it".
    let mut touched = old;
    touched.ctime_ns += 1;
    assert_eq!(cache.fresh_hash(b"old", &touched), None);
    assert_eq!(cache.fresh_hash(b"absent", &old), None);
}

proptest! {
    #[test]
    fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = StatCache::from_bytes(&bytes);
    }

    #[test]
    fn round_trip_any(entries in proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 0..12),
        (any::<u64>(), any::<i64>(), any::<i64>(), any::<u64>(), any::<u32>(), any::<[u8; 32]>()),
        0..8,
    ), taken_ns in any::<i64>()) {
        let mut cache = StatCache::with_taken_ns(taken_ns);
        for (path, (size, mtime_ns, ctime_ns, inode, mode, hash)) in entries {
            cache.insert(path, CachedStat { size, mtime_ns, ctime_ns, inode, mode, hash: BlobHash(hash) });
        }
        prop_assert_eq!(StatCache::from_bytes(&cache.to_bytes()), Some(cache));
    }
}
