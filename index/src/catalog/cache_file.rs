//! `.tl/index/catalog`, the catalog cache: its bytes (`TLCATv5`, checksummed with
//! BLAKE3; an older file is not read: the log is folded again and the cache
//! rewritten — `TLCATv1` could not hold ids kept by GC nor its Thinned records,
//! `TLCATv2` no chunk lists, `TLCATv3` no Hold records, `TLCATv4` no timelines) written from a [`Catalog`] and read back into one. Only the full catalog
//! has a cache file: a lean one lacks the history it would have to hold.

use std::path::Path;

use tl_wal::Lsn;

use super::{
    apply, hex, Catalog, ChainBreak, Checkpoint, ChunkRun, Gap, PartAt, PathChange, Pin,
    StoredBlob, ThinnedAt,
};
use crate::record::{Chunk, CommitKind, CommitStats, Record, TimelineId};
use crate::repopath::RepoPath;
use crate::types::{BlobHash, Entry, Mode};

impl Catalog {
    /// Writes the catalog cache.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = self.encode();
        // No fsync: this is a cache with a checksum. After a crash it is either the
        // old copy, the new one, or damaged, and a damaged one is rebuilt from the log.
        // Through an unpredictable owner-only temporary, never through a symlink.
        tl_wal::private_fs::write_atomic(path, &bytes, tl_wal::private_fs::Durability::Cache)
    }

    /// Reads the catalog cache; `None` when missing, damaged or of another version
    /// (the caller then rebuilds it from the log).
    pub fn load(path: &Path) -> Option<Catalog> {
        let bytes = std::fs::read(path).ok()?;
        Catalog::decode(&bytes)
    }

    /// True when the file at `path` is a catalog cache of an older version
    /// (`TLCATv1` to `TLCATv4`): not damaged, only stale; the next open rewrites it.
    pub fn is_older_cache(path: &Path) -> bool {
        use std::io::Read;
        let mut magic = [0u8; 8];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| OLDER_MAGICS.contains(&&magic[..]))
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(CATALOG_MAGIC);
        w.extend_from_slice(&self.state.repo_id);
        put_u64(&mut w, self.state.through.get());
        put_u64(&mut w, self.checkpoints.len() as u64);
        for c in &self.checkpoints {
            put_u64(&mut w, c.lsn.get());
            put_u64(&mut w, c.end_lsn.get());
            put_u64(&mut w, c.time_ns as u64);
            put_u64(&mut w, c.seq);
            w.push(c.kind.code());
            put_u64(&mut w, u64::from(c.timeline.0));
            match &c.message {
                Some(m) => {
                    w.push(1);
                    put_bytes(&mut w, m.as_bytes());
                }
                None => w.push(0),
            }
            put_u64(&mut w, c.stats.added as u64);
            put_u64(&mut w, c.stats.modified as u64);
            put_u64(&mut w, c.stats.deleted as u64);
            put_u64(&mut w, c.stats.bytes_new);
            w.extend_from_slice(&c.chain);
            match &c.origin {
                Some(o) => {
                    w.push(1);
                    w.extend_from_slice(o);
                }
                None => w.push(0),
            }
            put_u64(&mut w, c.changes.len() as u64);
            for ch in &c.changes {
                match ch {
                    PathChange::Put(p, e) => {
                        w.push(1);
                        put_bytes(&mut w, p.as_bytes());
                        put_entry(&mut w, e);
                    }
                    PathChange::Delete(p) => {
                        w.push(0);
                        put_bytes(&mut w, p.as_bytes());
                    }
                }
            }
        }
        put_u64(&mut w, self.state.blobs.len() as u64);
        for (h, blob) in &self.state.blobs {
            w.extend_from_slice(&h.0);
            put_u64(&mut w, blob.raw_len);
            put_u64(&mut w, blob.parts.len() as u64);
            for p in &blob.parts {
                put_u64(&mut w, p.offset);
                put_u64(&mut w, p.lsn.get());
            }
            put_u64(&mut w, blob.runs.len() as u64);
            for run in &blob.runs {
                put_u64(&mut w, run.offset);
                put_u64(&mut w, run.lsn.get());
                put_u64(&mut w, run.chunks.len() as u64);
                for c in &run.chunks {
                    w.extend_from_slice(&c.hash.0);
                    w.extend_from_slice(&c.len.to_le_bytes());
                }
            }
        }
        put_u64(&mut w, self.state.pins.len() as u64);
        for (name, pin) in &self.state.pins {
            put_bytes(&mut w, name.as_bytes());
            put_u64(&mut w, pin.target_lsn.get());
            put_u64(&mut w, pin.time_ns as u64);
        }
        put_u64(&mut w, self.state.gaps.len() as u64);
        for g in &self.state.gaps {
            put_u64(&mut w, g.from_ns as u64);
            put_u64(&mut w, g.to_ns as u64);
            put_bytes(&mut w, g.reason.as_bytes());
        }
        put_u64(&mut w, self.state.chain_breaks.len() as u64);
        for b in &self.state.chain_breaks {
            put_u64(&mut w, b.lsn.get());
            put_u64(&mut w, b.seq);
        }
        put_u64(&mut w, self.state.thinnings.len() as u64);
        for t in &self.state.thinnings {
            put_u64(&mut w, t.lsn.get());
            put_bytes(&mut w, &Record::Thinned(t.thinned.clone()).encode());
        }
        put_u64(&mut w, self.state.holds.len() as u64);
        for h in &self.state.holds {
            put_bytes(&mut w, &Record::Hold(h.clone()).encode());
        }
        let ops = self.state.timelines.ops();
        put_u64(&mut w, ops.len() as u64);
        for op in ops {
            put_bytes(&mut w, &Record::Timeline(op.clone()).encode());
        }
        let sum = blake3::hash(&w);
        w.extend_from_slice(sum.as_bytes());
        w
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Catalog> {
        if bytes.len() < 32 + CATALOG_MAGIC.len() {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != sum {
            return None;
        }
        let mut r = Reader { b: body, at: 0 };
        if r.take(CATALOG_MAGIC.len())? != CATALOG_MAGIC {
            return None;
        }
        let repo_id = r.take(16)?.try_into().ok()?;
        let mut cat = Catalog::new(repo_id, Lsn::new(r.u64()?));
        let n = r.count()?;
        for _ in 0..n {
            let lsn = Lsn::new(r.u64()?);
            let end_lsn = Lsn::new(r.u64()?);
            let time_ns = r.u64()? as i64;
            let seq = r.u64()?;
            let kind = CommitKind::from_code(r.u8()?)?;
            let timeline = TimelineId(u32::try_from(r.u64()?).ok()?);
            let message = match r.u8()? {
                0 => None,
                1 => Some(String::from_utf8(r.bytes()?.to_vec()).ok()?),
                _ => return None,
            };
            let stats = CommitStats {
                added: r.u64()? as u32,
                modified: r.u64()? as u32,
                deleted: r.u64()? as u32,
                bytes_new: r.u64()?,
            };
            let chain: [u8; 32] = r.take(32)?.try_into().ok()?;
            let origin: Option<[u8; 32]> = match r.u8()? {
                0 => None,
                1 => Some(r.take(32)?.try_into().ok()?),
                _ => return None,
            };
            let m = r.count()?;
            let mut changes = Vec::with_capacity(m.min(1 << 16));
            for _ in 0..m {
                changes.push(match r.u8()? {
                    1 => {
                        let p = RepoPath::from_bytes(r.bytes()?);
                        PathChange::Put(p, r.entry()?)
                    }
                    0 => PathChange::Delete(RepoPath::from_bytes(r.bytes()?)),
                    _ => return None,
                });
            }
            apply(&mut cat.state.head, &changes);
            cat.checkpoints.push(Checkpoint {
                id: hex(&origin.unwrap_or(chain)[..6]),
                origin,
                lsn,
                end_lsn,
                time_ns,
                seq,
                kind,
                message,
                timeline,
                stats,
                chain,
                changes,
            });
        }
        let n = r.count()?;
        for _ in 0..n {
            let h = BlobHash(r.take(32)?.try_into().ok()?);
            let raw_len = r.u64()?;
            let m = r.count()?;
            let mut parts = Vec::with_capacity(m.min(1 << 16));
            for _ in 0..m {
                let offset = r.u64()?;
                let lsn = Lsn::new(r.u64()?);
                parts.push(PartAt { offset, lsn });
            }
            let m = r.count()?;
            let mut runs = Vec::with_capacity(m.min(1 << 16));
            for _ in 0..m {
                let offset = r.u64()?;
                let lsn = Lsn::new(r.u64()?);
                let k = r.count()?;
                let mut chunks = Vec::with_capacity(k.min(1 << 16));
                for _ in 0..k {
                    let hash = BlobHash(r.take(32)?.try_into().ok()?);
                    let len = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
                    chunks.push(Chunk { hash, len });
                }
                runs.push(ChunkRun {
                    offset,
                    lsn,
                    chunks,
                });
            }
            cat.state.blobs.insert(
                h,
                StoredBlob {
                    raw_len,
                    parts,
                    runs,
                },
            );
        }
        let n = r.count()?;
        for _ in 0..n {
            let name = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            let target_lsn = Lsn::new(r.u64()?);
            let time_ns = r.u64()? as i64;
            cat.state.pins.insert(
                name,
                Pin {
                    target_lsn,
                    time_ns,
                },
            );
        }
        let n = r.count()?;
        for _ in 0..n {
            let from_ns = r.u64()? as i64;
            let to_ns = r.u64()? as i64;
            let reason = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            cat.state.gaps.push(Gap {
                from_ns,
                to_ns,
                reason,
            });
        }
        let n = r.count()?;
        for _ in 0..n {
            cat.state.chain_breaks.push(ChainBreak {
                lsn: Lsn::new(r.u64()?),
                seq: r.u64()?,
            });
        }
        let n = r.count()?;
        for _ in 0..n {
            let lsn = Lsn::new(r.u64()?);
            match Record::decode(r.bytes()?).ok()? {
                Record::Thinned(thinned) => cat.state.thinnings.push(ThinnedAt { lsn, thinned }),
                _ => return None,
            }
        }
        let n = r.count()?;
        for _ in 0..n {
            match Record::decode(r.bytes()?).ok()? {
                Record::Hold(hold) => cat.state.holds.push(hold),
                _ => return None,
            }
        }
        let n = r.count()?;
        for _ in 0..n {
            match Record::decode(r.bytes()?).ok()? {
                Record::Timeline(op) => cat.state.timelines.apply(op),
                _ => return None,
            }
        }
        if let Some(last) = cat.checkpoints.last() {
            cat.state.current_timeline = last.timeline;
        }
        if r.at != r.b.len() {
            return None;
        }
        Some(cat)
    }
}

const CATALOG_MAGIC: &[u8] = b"TLCATv5\0";

/// The magics of the versions before [`CATALOG_MAGIC`].
const OLDER_MAGICS: [&[u8]; 4] = [b"TLCATv1\0", b"TLCATv2\0", b"TLCATv3\0", b"TLCATv4\0"];

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u64(w, b.len() as u64);
    w.extend_from_slice(b);
}

fn put_entry(w: &mut Vec<u8>, e: &Entry) {
    w.extend_from_slice(&e.hash.0);
    w.push(e.mode.code());
    put_u64(w, e.size);
    put_u64(w, e.mtime_ns as u64);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// A count, bounded by the bytes left (each item takes at least one byte).
    fn count(&mut self) -> Option<usize> {
        let n = self.u64()?;
        if n > (self.b.len() - self.at) as u64 {
            return None;
        }
        Some(n as usize)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }
    fn entry(&mut self) -> Option<Entry> {
        let hash = BlobHash(self.take(32)?.try_into().ok()?);
        let mode = Mode::from_code(self.u8()?)?;
        Some(Entry {
            hash,
            mode,
            size: self.u64()?,
            mtime_ns: self.u64()? as i64,
        })
    }
}
