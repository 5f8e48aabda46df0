//! The stat cache: what each file looked like (size, times, inode, mode) when its
//! content was last hashed, so an unchanged file is not read again. It plays the role
//! of git's index for capture by scanning.
//!
//! The cache is derived data: it can always be rebuilt by re-hashing every file. So
//! [`StatCache::load`] never fails — a missing, truncated, corrupt, foreign or
//! newer-version file is simply an empty cache — and [`StatCache::save`] only
//! promises atomic replacement (temp file + rename), not durability: a cache lost in
//! a crash costs one full re-hash, never correctness.
//!
//! # Racily clean entries
//!
//! A file's modification time has a granularity (1 ns on ext4, 1 s or 2 s on some
//! filesystems, and clocks are read in ticks). A file written again within the same
//! tick after it was hashed keeps the same `mtime`; if its size did not change
//! either, its stat would match the cache while its content did not. Git calls such
//! an entry "racily clean" and solves it by comparing the entry's mtime with the
//! index file's own timestamp. We do the same with [`StatCache::taken_ns`], the wall
//! clock read *before* the scan that produced the cache stat'ed anything: an entry
//! whose mtime is not older than `taken_ns - RACY_SLACK_NS` is never trusted and its
//! file is read again on the next scan (and then, usually, becomes trustworthy).
//! The slack covers filesystems with coarse (up to 2 s) timestamps.
//!
//! # File format (version 1, all integers little-endian)
//!
//! ```text
//! magic      8 bytes  "TLSTATC\0"
//! version    u32      1
//! reserved   u32      0
//! taken_ns   i64
//! n_entries  u64
//! entries    n_entries × {
//!              path_len u32, path bytes,
//!              size u64, mtime_ns i64, ctime_ns i64, inode u64, mode u32,
//!              hash [u8; 32] }
//! crc32      u32      crc32 (crc32fast) of every byte before it
//! ```
//! Entries are sorted by path and unique; a file that breaks this is rejected.

use std::collections::BTreeMap;
use std::path::Path;

use crate::types::BlobHash;

#[cfg(test)]
mod tests;

/// File magic of a saved stat cache.
const MAGIC: [u8; 8] = *b"TLSTATC\0";
/// Current (and only) format version.
const VERSION: u32 = 1;
/// Bytes of the fixed header: magic, version, reserved, taken_ns, n_entries.
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8;
/// Bytes of one entry after its path.
const ENTRY_FIXED_LEN: usize = 8 + 8 + 8 + 8 + 4 + 32;
/// Longest path accepted when loading; anything longer means a corrupt file.
const PATH_LEN_MAX: usize = 64 * 1024;

const _: () = assert!(HEADER_LEN == 32);
const _: () = assert!(ENTRY_FIXED_LEN == 68);

/// How much older than [`StatCache::taken_ns`] an entry's mtime must be for the
/// entry to be trusted (see the module docs on racily clean entries). 2 s covers
/// FAT-like filesystems; ext4, xfs, btrfs and APFS have nanosecond timestamps.
pub const RACY_SLACK_NS: i64 = 2_000_000_000;

/// What a file looked like when its content was hashed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CachedStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the Unix epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// Raw `st_mode` (file type and permission bits).
    pub mode: u32,
    /// BLAKE3 hash of the content read with this stat.
    pub hash: BlobHash,
}

impl CachedStat {
    /// The stat cache's view of a `statat`/`fstat` result (hash left zero); shared
    /// by capture and restore's re-check.
    // The casts widen or keep the platform's stat field types.
    #[allow(clippy::unnecessary_cast)]
    pub fn of_stat(st: &rustix::fs::Stat) -> CachedStat {
        CachedStat {
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec as i64),
            ctime_ns: (st.st_ctime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_ctime_nsec as i64),
            inode: st.st_ino as u64,
            mode: st.st_mode as u32,
            hash: BlobHash::default(),
        }
    }
    /// True when `other` describes the same file state (everything but the hash).
    pub fn same_stat(&self, other: &CachedStat) -> bool {
        self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.ctime_ns == other.ctime_ns
            && self.inode == other.inode
            && self.mode == other.mode
    }
}

/// Path → stat and hash of every file captured by the last scan.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct StatCache {
    entries: BTreeMap<Vec<u8>, CachedStat>,
    taken_ns: i64,
}

impl StatCache {
    /// An empty cache: every file will be read.
    pub fn new() -> StatCache {
        StatCache::default()
    }

    /// An empty cache whose entries will be compared against `taken_ns` (wall clock,
    /// ns since the epoch, read before the scan that fills it stat'ed anything).
    pub fn with_taken_ns(taken_ns: i64) -> StatCache {
        StatCache {
            entries: BTreeMap::new(),
            taken_ns,
        }
    }

    /// The time this cache's content was taken (see the module docs).
    pub fn taken_ns(&self) -> i64 {
        self.taken_ns
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `path`, racily clean or not.
    pub fn get(&self, path: &[u8]) -> Option<&CachedStat> {
        self.entries.get(path)
    }

    /// Adds or replaces the entry of `path`.
    pub fn insert(&mut self, path: Vec<u8>, stat: CachedStat) {
        self.entries.insert(path, stat);
    }

    /// Keeps only the entries whose path `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        self.entries.retain(|p, _| keep(p));
    }

    /// Iterates over the entries in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &CachedStat)> {
        self.entries.iter().map(|(p, s)| (p.as_slice(), s))
    }

    /// The cached hash of `path` if `current` (whose `hash` field is ignored) matches
    /// the cached stat and the entry is not racily clean; `None` means "read it".
    pub fn fresh_hash(&self, path: &[u8], current: &CachedStat) -> Option<BlobHash> {
        let cached = self.entries.get(path)?;
        if !cached.same_stat(current) || self.is_racy(cached) {
            return None;
        }
        Some(cached.hash)
    }

    /// True when `entry`'s mtime is too close to (or after) [`Self::taken_ns`] for
    /// its stat to prove its content unchanged.
    pub fn is_racy(&self, entry: &CachedStat) -> bool {
        entry.mtime_ns >= self.taken_ns.saturating_sub(RACY_SLACK_NS)
    }

    /// Encodes the cache in the version 1 format described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let paths_len: usize = self.entries.keys().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(
            HEADER_LEN + self.entries.len() * (ENTRY_FIXED_LEN + 4) + paths_len + 4,
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.taken_ns.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (path, stat) in &self.entries {
            assert!(
                path.len() <= PATH_LEN_MAX,
                "stat cache path longer than PATH_LEN_MAX"
            );
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(&stat.size.to_le_bytes());
            out.extend_from_slice(&stat.mtime_ns.to_le_bytes());
            out.extend_from_slice(&stat.ctime_ns.to_le_bytes());
            out.extend_from_slice(&stat.inode.to_le_bytes());
            out.extend_from_slice(&stat.mode.to_le_bytes());
            out.extend_from_slice(&stat.hash.0);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a cache written by [`Self::to_bytes`]; `None` for anything else
    /// (never panics, whatever the bytes).
    pub fn from_bytes(bytes: &[u8]) -> Option<StatCache> {
        if bytes.len() < HEADER_LEN + 4 {
            return None;
        }
        let (body, crc_bytes) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc_bytes.try_into().ok()?) {
            return None;
        }
        let mut r = Reader { bytes: body };
        if r.take(8)? != MAGIC || r.u32()? != VERSION || r.u32()? != 0 {
            return None;
        }
        let taken_ns = r.i64()?;
        let n_entries = r.u64()?;
        // Every entry takes at least ENTRY_FIXED_LEN + 4 bytes: a bound on n_entries
        // that a corrupt count cannot get past.
        if n_entries > (r.bytes.len() / (ENTRY_FIXED_LEN + 4)) as u64 {
            return None;
        }
        let mut entries = BTreeMap::new();
        let mut last: Option<Vec<u8>> = None;
        for _ in 0..n_entries {
            let path_len = r.u32()? as usize;
            if path_len > PATH_LEN_MAX {
                return None;
            }
            let path = r.take(path_len)?.to_vec();
            let stat = CachedStat {
                size: r.u64()?,
                mtime_ns: r.i64()?,
                ctime_ns: r.i64()?,
                inode: r.u64()?,
                mode: r.u32()?,
                hash: BlobHash(r.take(32)?.try_into().ok()?),
            };
            if last.as_ref().is_some_and(|l| *l >= path) {
                return None;
            }
            last = Some(path.clone());
            entries.insert(path, stat);
        }
        if !r.bytes.is_empty() {
            return None;
        }
        Some(StatCache { entries, taken_ns })
    }

    /// Loads the cache saved at `path`; an empty cache if the file is missing,
    /// unreadable, corrupt, or of another format or version.
    pub fn load(path: &Path) -> StatCache {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| StatCache::from_bytes(&bytes))
            .unwrap_or_default()
    }

    /// Saves the cache to `path`, atomically replacing any previous file (written to
    /// a temporary file in the same directory, then renamed). Not fsynced: the cache
    /// is derived, and losing it only costs a re-hash.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        // An unpredictable owner-only temporary (`tl_wal::private_fs`), never
        // written through a symlink.
        tl_wal::private_fs::write_atomic(
            path,
            &self.to_bytes(),
            tl_wal::private_fs::Durability::Cache,
        )
    }
}

/// A bounds-checked little-endian cursor for decoding.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}
