//! Files that change under the reader (issue 19): a read failing with EIO, a file
//! vanishing between its stat and its open or while it is read, replaced by a
//! symlink or a directory after its stat, growing while it is read. The faults
//! are made through the reader's seam (`Store::set_read_seam`: loop mounts and
//! FUSE are not available everywhere the tests run); what the seam does to the
//! file (remove, rename, append) is done to the real file system. In every case
//! the file is reported or recorded as what it now is, never captured torn (its
//! previous version is kept, and every entry's content is whole and hashes to
//! its hash), and the other files of the same batch are captured.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tl_index::catalog::CheckpointIndex;
use tl_index::record::CommitKind;
use tl_index::scan::{ReadSeam, WarningKind};
use tl_index::store::Store;
use tl_index::types::{BlobHash, Entry, Mode, Tree};

use crate::support::project;

/// What the seam does to the one file it is aimed at.
#[derive(Clone, Copy)]
enum Fault {
    /// Reads fail with EIO once `after` bytes were read.
    Eio { after: u64 },
    /// Removed between its stat and its open.
    VanishBeforeOpen,
    /// Removed after its first read call (the read goes on from the open file).
    VanishWhileRead,
    /// Replaced by a symlink between its stat and its open.
    SymlinkBeforeOpen,
    /// Replaced by a directory holding a file between its stat and its open.
    DirBeforeOpen,
    /// Replaced by a directory holding a file after its first read call.
    DirWhileRead,
    /// Appended to at the first read call after each of its first `times` opens.
    Grow { times: usize },
}

struct Faulty {
    root: PathBuf,
    path: Vec<u8>,
    fault: Fault,
    read_so_far: AtomicU64,
    calls: AtomicUsize,
    opens: AtomicUsize,
    /// The last open whose read grew the file.
    grown: AtomicUsize,
}

impl Faulty {
    fn abs(&self) -> PathBuf {
        self.root.join(std::str::from_utf8(&self.path).unwrap())
    }

    fn to_directory(&self) {
        let abs = self.abs();
        fs::remove_file(&abs).unwrap();
        fs::create_dir(&abs).unwrap();
        fs::write(abs.join("inner"), b"inside the new directory").unwrap();
    }
}

impl ReadSeam for Faulty {
    fn before_open(&self, path: &[u8]) {
        if path != self.path || self.opens.fetch_add(1, Ordering::SeqCst) > 0 {
            return;
        }
        match self.fault {
            Fault::VanishBeforeOpen => fs::remove_file(self.abs()).unwrap(),
            Fault::SymlinkBeforeOpen => {
                fs::remove_file(self.abs()).unwrap();
                std::os::unix::fs::symlink("the-target", self.abs()).unwrap();
            }
            Fault::DirBeforeOpen => self.to_directory(),
            _ => {}
        }
    }

    fn read(&self, path: &[u8], file: &File, buf: &mut [u8]) -> io::Result<usize> {
        if path != self.path {
            return (&*file).read(buf);
        }
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::Eio { after } => {
                let so_far = self.read_so_far.load(Ordering::SeqCst);
                if so_far >= after {
                    return Err(io::Error::from_raw_os_error(libc_eio()));
                }
                let room = usize::try_from(after - so_far).unwrap_or(usize::MAX);
                let len = buf.len().min(room);
                let n = (&*file).read(&mut buf[..len])?;
                self.read_so_far.fetch_add(n as u64, Ordering::SeqCst);
                return Ok(n);
            }
            Fault::VanishWhileRead if call == 0 => fs::remove_file(self.abs()).unwrap(),
            Fault::DirWhileRead if call == 0 => self.to_directory(),
            Fault::Grow { times }
                if self.opens.load(Ordering::SeqCst) <= times
                    && self
                        .grown
                        .swap(self.opens.load(Ordering::SeqCst), Ordering::SeqCst)
                        != self.opens.load(Ordering::SeqCst) =>
            {
                let mut f = OpenOptions::new().append(true).open(self.abs()).unwrap();
                f.write_all(b"grown while read\n").unwrap();
            }
            _ => {}
        }
        (&*file).read(buf)
    }
}

/// EIO, as the kernel numbers it on Linux and the BSDs.
fn libc_eio() -> i32 {
    5
}

/// Content of `len` bytes that the chunker cuts into several chunks.
fn varied(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const BIG: usize = 3 << 20;

/// A project with small files `a`, `b`, `c` and a big file `big`, checkpointed;
/// then every file changed on disk. Returns the first checkpoint's tree.
fn changed_project() -> (tempfile::TempDir, PathBuf, Store, Tree) {
    let (tmp, root, mut store) = project();
    for name in ["a", "b", "c"] {
        fs::write(root.join(name), format!("{name} first\n")).unwrap();
    }
    fs::write(root.join("big"), varied(BIG, 1)).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let first = store.head().clone();
    for name in ["a", "b", "c"] {
        fs::write(root.join(name), format!("{name} second, longer\n")).unwrap();
    }
    fs::write(root.join("big"), varied(BIG, 2)).unwrap();
    (tmp, root, store, first)
}

fn aim(store: &mut Store, root: &Path, path: &str, fault: Fault) -> Arc<Faulty> {
    let seam = Arc::new(Faulty {
        root: root.to_path_buf(),
        path: path.as_bytes().to_vec(),
        fault,
        read_so_far: AtomicU64::new(0),
        calls: AtomicUsize::new(0),
        opens: AtomicUsize::new(0),
        grown: AtomicUsize::new(0),
    });
    store.set_read_seam(seam.clone());
    seam
}

fn content(store: &Store, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    store.read_blob(&entry.hash, &mut out).unwrap();
    out
}

/// Every entry of the head names content that is whole in the log: read back,
/// it hashes to the entry's hash and has its size.
fn assert_whole(store: &Store) {
    for (path, entry) in store.head() {
        let bytes = content(store, entry);
        assert_eq!(
            BlobHash::of(&bytes),
            entry.hash,
            "{}",
            String::from_utf8_lossy(path)
        );
        assert_eq!(bytes.len() as u64, entry.size);
    }
}

/// The files other than `except` were captured with what is on disk now.
fn assert_others_captured(store: &Store, root: &Path, except: &str) {
    for name in ["a", "b", "c", "big"].into_iter().filter(|n| *n != except) {
        let entry = store.head().get(name.as_bytes()).expect(name);
        assert_eq!(
            content(store, entry),
            fs::read(root.join(name)).unwrap(),
            "{name}"
        );
    }
}

fn entry<'t>(tree: &'t Tree, path: &str) -> Option<&'t Entry> {
    tree.get(path.as_bytes())
}

#[test]
fn eio_reading_a_small_file_reports_it_and_keeps_its_previous_version() {
    let (_tmp, root, mut store, first) = changed_project();
    aim(&mut store, &root, "b", Fault::Eio { after: 3 });
    let done = store.checkpoint(CommitKind::Manual, None).unwrap();
    let warning = done
        .warnings
        .iter()
        .find(|w| w.path.as_bytes() == b"b")
        .expect("b is reported");
    assert_eq!(warning.kind, WarningKind::Unreadable);
    assert!(
        warning.message.contains("Input/output error")
            && warning
                .message
                .ends_with("the version of the last checkpoint is kept"),
        "{warning}"
    );
    assert_eq!(entry(store.head(), "b"), entry(&first, "b"));
    assert_others_captured(&store, &root, "b");
    assert_whole(&store);
}

#[test]
fn eio_in_the_middle_of_a_big_file_reports_it_and_no_entry_names_the_chunks_read() {
    let (_tmp, root, mut store, first) = changed_project();
    aim(&mut store, &root, "big", Fault::Eio { after: 2 << 20 });
    let done = store.checkpoint(CommitKind::Manual, None).unwrap();
    let warning = done
        .warnings
        .iter()
        .find(|w| w.path.as_bytes() == b"big")
        .expect("big is reported");
    assert_eq!(warning.kind, WarningKind::Unreadable);
    assert_eq!(entry(store.head(), "big"), entry(&first, "big"));
    assert_others_captured(&store, &root, "big");
    assert_whole(&store);
    // The changes recorded are the three small files: nothing about big.
    let changed: Vec<String> = store
        .changes(CheckpointIndex::new(store.checkpoints().len() - 1))
        .iter()
        .map(|c| c.path().to_string())
        .collect();
    assert_eq!(changed, ["a", "b", "c"]);
}

#[test]
fn eio_in_a_targeted_capture_keeps_the_previous_version_and_captures_the_others() {
    let (_tmp, root, mut store, first) = changed_project();
    aim(&mut store, &root, "c", Fault::Eio { after: 0 });
    let paths = ["a", "b", "c", "big"]
        .map(|p| p.as_bytes().to_vec())
        .to_vec();
    let done = store
        .capture_paths(CommitKind::Auto, paths)
        .unwrap()
        .expect("a, b and big changed");
    assert!(done
        .warnings
        .iter()
        .any(|w| w.path.as_bytes() == b"c" && w.kind == WarningKind::Unreadable));
    assert_eq!(entry(store.head(), "c"), entry(&first, "c"));
    assert_others_captured(&store, &root, "c");
    assert_whole(&store);
}

#[test]
fn a_file_vanishing_between_stat_and_open_is_recorded_deleted_and_the_rest_captured() {
    let (_tmp, root, mut store, _first) = changed_project();
    aim(&mut store, &root, "b", Fault::VanishBeforeOpen);
    let done = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(!root.join("b").exists());
    assert_eq!(entry(store.head(), "b"), None);
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert_others_captured(&store, &root, "b");
    assert_whole(&store);
}

#[test]
fn a_file_vanishing_while_read_is_recorded_deleted_never_with_what_was_read() {
    for name in ["b", "big"] {
        let (_tmp, root, mut store, _first) = changed_project();
        let seam = aim(&mut store, &root, name, Fault::VanishWhileRead);
        store.checkpoint(CommitKind::Manual, None).unwrap();
        assert!(seam.calls.load(Ordering::SeqCst) > 0, "{name} was read");
        assert_eq!(entry(store.head(), name), None, "{name}");
        assert_others_captured(&store, &root, name);
        assert_whole(&store);
    }
}

#[test]
fn a_file_replaced_by_a_symlink_after_its_stat_is_captured_as_the_symlink() {
    let (_tmp, root, mut store, _first) = changed_project();
    aim(&mut store, &root, "b", Fault::SymlinkBeforeOpen);
    let done = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    let b = entry(store.head(), "b").expect("the symlink at b");
    assert_eq!(b.mode, Mode::Symlink);
    assert_eq!(content(&store, b), b"the-target");
    assert_others_captured(&store, &root, "b");
    assert_whole(&store);
}

#[test]
fn a_file_replaced_by_a_directory_after_its_stat_is_gone_from_this_capture_and_in_the_next() {
    for fault in [Fault::DirBeforeOpen, Fault::DirWhileRead] {
        for name in ["b", "big"] {
            let (_tmp, root, mut store, _first) = changed_project();
            aim(&mut store, &root, name, fault);
            let done = store.checkpoint(CommitKind::Manual, None).unwrap();
            // Not a FIFO, socket or device: nothing to warn about, the file is
            // gone and the directory was not there when the walk listed it.
            assert!(done.warnings.is_empty(), "{name}: {:?}", done.warnings);
            assert_eq!(entry(store.head(), name), None, "{name}");
            assert_others_captured(&store, &root, name);
            assert_whole(&store);
            store.checkpoint(CommitKind::Manual, None).unwrap();
            let inner = format!("{name}/inner");
            let e = entry(store.head(), &inner).expect("the directory's file");
            assert_eq!(content(&store, e), b"inside the new directory");
        }
    }
}

#[test]
fn a_file_growing_through_every_read_is_reported_and_keeps_its_previous_version() {
    for name in ["b", "big"] {
        let (_tmp, root, mut store, first) = changed_project();
        aim(&mut store, &root, name, Fault::Grow { times: usize::MAX });
        let done = store.checkpoint(CommitKind::Manual, None).unwrap();
        let warning = done
            .warnings
            .iter()
            .find(|w| w.path.as_bytes() == name.as_bytes())
            .expect("reported");
        assert_eq!(warning.kind, WarningKind::ChangedWhileRead, "{name}");
        assert!(warning
            .message
            .ends_with("the version of the last checkpoint is kept"));
        assert_eq!(entry(store.head(), name), entry(&first, name), "{name}");
        assert_others_captured(&store, &root, name);
        assert_whole(&store);
    }
}

#[test]
fn a_file_that_grew_during_one_read_is_captured_whole_by_the_next() {
    for name in ["b", "big"] {
        let (_tmp, root, mut store, _first) = changed_project();
        let seam = aim(&mut store, &root, name, Fault::Grow { times: 1 });
        let done = store.checkpoint(CommitKind::Manual, None).unwrap();
        assert!(done.warnings.is_empty(), "{name}: {:?}", done.warnings);
        assert!(
            seam.calls.load(Ordering::SeqCst) > 1,
            "{name} was read again"
        );
        let on_disk = fs::read(root.join(name)).unwrap();
        assert!(on_disk.ends_with(b"grown while read\n"));
        let e = entry(store.head(), name).unwrap();
        assert_eq!(content(&store, e), on_disk, "{name}");
        assert_others_captured(&store, &root, name);
        assert_whole(&store);
    }
}
