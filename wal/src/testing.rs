//! Test storage: an in-memory directory that keeps written and synced bytes apart,
//! simulates power loss, and injects I/O errors.
//!
//! Used by this crate's tests, the fuzz targets and `tl-index`'s crash tests. The
//! crash model follows SQLite's crash-test VFS and LazyFS: at a crash, a file keeps
//! the bytes its last sync made durable, plus any subset of the writes made since,
//! each applied whole, torn at a random byte, or not at all, in any combination (so
//! a later write may land while an earlier one does not). A file created or removed
//! since the last directory sync may or may not exist afterwards.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::storage::{copy_range, SegmentFile, Storage};

#[derive(Clone, Debug)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct MemFile {
    data: Vec<u8>,
    durable: Vec<u8>,
    since_sync: Vec<Op>,
    /// The directory entry is durable.
    entry_durable: bool,
}

#[derive(Debug, Default)]
struct MemFs {
    files: BTreeMap<String, MemFile>,
    /// Removed since the last directory sync: may come back at a crash.
    removed: BTreeMap<String, MemFile>,
    quarantine: Vec<(String, Vec<u8>)>,
    ops: u64,
    fail_at: Option<u64>,
    fail_syncs_only: bool,
    locked: bool,
}

impl MemFs {
    /// Counts a mutating operation and fails it if it is the chosen one.
    fn op(&mut self, is_sync: bool) -> io::Result<()> {
        if self.fail_syncs_only && !is_sync {
            return Ok(());
        }
        self.ops += 1;
        if Some(self.ops) == self.fail_at {
            return Err(io::Error::other(format!(
                "injected I/O failure at operation {}",
                self.ops
            )));
        }
        Ok(())
    }
}

/// An in-memory log directory for tests. Clones share the same directory.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    fs: Arc<Mutex<MemFs>>,
}

impl MemStorage {
    /// An empty directory.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    fn fs(&self) -> MutexGuard<'_, MemFs> {
        self.fs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the `k`-th mutating operation from now on (1-based) fail.
    pub fn fail_at(&self, k: u64) {
        let mut fs = self.fs();
        fs.fail_at = Some(fs.ops + k);
    }

    /// Like [`MemStorage::fail_at`] but counting only syncs.
    pub fn fail_sync_at(&self, k: u64) {
        let mut fs = self.fs();
        fs.fail_syncs_only = true;
        fs.fail_at = Some(fs.ops + k);
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.fs().ops
    }

    /// The directory as a power loss at this instant could leave it, chosen by
    /// `seed`. The result is a new, independent directory (unlocked, no faults).
    pub fn crash(&self, seed: u64) -> MemStorage {
        let fs = self.fs();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = MemFs::default();
        let keep = |name: &String, f: &MemFile, rng: &mut StdRng| -> Option<MemFile> {
            if !f.entry_durable && rng.gen_bool(0.5) {
                return None;
            }
            let mut data = f.durable.clone();
            for op in &f.since_sync {
                match op {
                    Op::Write(off, bytes) => {
                        let n = match rng.gen_range(0..4) {
                            0 => 0,
                            1 => rng.gen_range(0..=bytes.len()),
                            _ => bytes.len(),
                        };
                        if n > 0 {
                            let off = *off as usize;
                            if data.len() < off + n {
                                data.resize(off + n, 0);
                            }
                            data[off..off + n].copy_from_slice(&bytes[..n]);
                        }
                    }
                    Op::SetLen(len) => {
                        if rng.gen_bool(0.5) {
                            data.resize(*len as usize, 0);
                        }
                    }
                }
            }
            let _ = name;
            Some(MemFile {
                durable: data.clone(),
                data,
                since_sync: Vec::new(),
                entry_durable: true,
            })
        };
        for (name, f) in &fs.files {
            if let Some(f) = keep(name, f, &mut rng) {
                out.files.insert(name.clone(), f);
            }
        }
        for (name, f) in &fs.removed {
            if rng.gen_bool(0.5) {
                let mut f = f.clone();
                f.entry_durable = true;
                if let Some(f) = keep(name, &f, &mut rng) {
                    out.files.insert(name.clone(), f);
                }
            }
        }
        out.quarantine = fs.quarantine.clone();
        MemStorage {
            fs: Arc::new(Mutex::new(out)),
        }
    }

    /// The current (not necessarily durable) content of every file.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.fs()
            .files
            .iter()
            .map(|(k, v)| (k.clone(), v.data.clone()))
            .collect()
    }

    /// Replaces (or creates) a file, durably: for tests that craft damage.
    pub fn put_file(&self, name: &str, bytes: Vec<u8>) {
        let f = MemFile {
            data: bytes.clone(),
            durable: bytes,
            since_sync: Vec::new(),
            entry_durable: true,
        };
        self.fs().files.insert(name.to_string(), f);
    }

    /// Removes a file durably: for tests.
    pub fn delete_file(&self, name: &str) {
        self.fs().files.remove(name);
    }

    /// Everything recovery put in quarantine: (segment name and offset, bytes).
    pub fn quarantined(&self) -> Vec<(String, Vec<u8>)> {
        self.fs().quarantine.clone()
    }
}

struct MemHandle {
    fs: Arc<Mutex<MemFs>>,
    name: String,
}

impl MemHandle {
    fn with<T>(&self, f: impl FnOnce(&mut MemFs, &str) -> io::Result<T>) -> io::Result<T> {
        let mut fs = self.fs.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut fs, &self.name)
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl SegmentFile for MemHandle {
    fn len(&self) -> io::Result<u64> {
        self.with(|fs, n| Ok(fs.files.get(n).ok_or_else(|| not_found(n))?.data.len() as u64))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(|fs, n| {
            let f = fs.files.get(n).ok_or_else(|| not_found(n))?;
            let off = offset as usize;
            if off >= f.data.len() {
                return Ok(0);
            }
            let k = buf.len().min(f.data.len() - off);
            buf[..k].copy_from_slice(&f.data[off..off + k]);
            Ok(k)
        })
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with(|fs, n| {
            fs.op(false)?;
            let f = fs.files.get_mut(n).ok_or_else(|| not_found(n))?;
            let off = offset as usize;
            if f.data.len() < off + buf.len() {
                f.data.resize(off + buf.len(), 0);
            }
            f.data[off..off + buf.len()].copy_from_slice(buf);
            f.since_sync.push(Op::Write(offset, buf.to_vec()));
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with(|fs, n| {
            fs.op(true)?;
            let f = fs.files.get_mut(n).ok_or_else(|| not_found(n))?;
            f.durable = f.data.clone();
            f.since_sync.clear();
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|fs, n| {
            fs.op(false)?;
            let f = fs.files.get_mut(n).ok_or_else(|| not_found(n))?;
            f.data.resize(len as usize, 0);
            f.since_sync.push(Op::SetLen(len));
            Ok(())
        })
    }
}

struct MemLock(Arc<Mutex<MemFs>>);

impl Drop for MemLock {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).locked = false;
    }
}

impl Storage for MemStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.fs().files.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        if !self.fs().files.contains_key(name) {
            return Err(not_found(name));
        }
        Ok(Box::new(MemHandle {
            fs: self.fs.clone(),
            name: name.to_string(),
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let mut fs = self.fs();
        fs.op(false)?;
        if fs.files.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        fs.files.insert(name.to_string(), MemFile::default());
        drop(fs);
        Ok(Box::new(MemHandle {
            fs: self.fs.clone(),
            name: name.to_string(),
        }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut fs = self.fs();
        fs.op(false)?;
        let f = fs.files.remove(name).ok_or_else(|| not_found(name))?;
        if f.entry_durable {
            fs.removed.insert(name.to_string(), f);
        }
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut fs = self.fs();
        fs.op(true)?;
        for f in fs.files.values_mut() {
            f.entry_durable = true;
        }
        fs.removed.clear();
        Ok(())
    }

    fn quarantine(
        &self,
        name: &str,
        offset: u64,
        src: &dyn SegmentFile,
        len: u64,
    ) -> io::Result<String> {
        let mut bytes = Vec::new();
        copy_range(src, offset, len, &mut bytes)?;
        let mut fs = self.fs();
        fs.op(false)?;
        let label = format!("{name}@{offset}");
        fs.quarantine.push((label.clone(), bytes));
        Ok(label)
    }

    fn describe(&self, name: &str) -> PathBuf {
        PathBuf::from("mem").join(name)
    }

    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        let mut fs = self.fs();
        if fs.locked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        fs.locked = true;
        Ok(Box::new(MemLock(self.fs.clone())))
    }
}
