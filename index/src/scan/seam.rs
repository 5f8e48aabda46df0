//! The reader's seam: where a test stands between the scan and a file it reads, to
//! make what a FUSE or device-mapper fault would (issue 19): a read failing with
//! `EIO`, a file vanishing between its stat and its open, a file replaced by a
//! directory or a symlink after its stat, a file growing while it is read.
//!
//! The seam runs at two moments of each read of a regular file (the scan's
//! rules are in [`super`]): [`ReadSeam::before_open`] after the `fstatat` that
//! found a regular file and before the `openat`, and [`ReadSeam::read`] for every
//! `read` of the open file (small files read whole and big ones through the
//! chunker alike). What a test does there is done to the real file system (it
//! removes, renames, appends), except a failure of `read`, which it returns.
//! A scan without a seam ([`Seam::default`]) reads the file itself.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

/// What a test puts between the scan and the files it reads (see the module
/// docs). Every method has the plain behaviour as its default.
pub trait ReadSeam: Send + Sync {
    /// Called once the file at `path` (relative to the root) was stat'ed as a
    /// regular file, before it is opened.
    fn before_open(&self, path: &[u8]) {
        let _ = path;
    }

    /// One `read` of the open file at `path` into `buf`.
    fn read(&self, path: &[u8], file: &File, buf: &mut [u8]) -> io::Result<usize> {
        let _ = path;
        (&*file).read(buf)
    }
}

/// The seam of a scan ([`super::ScanOptions::seam`]): none by default. Two seams
/// are equal when they are the same object (or both none).
#[derive(Clone, Default)]
pub struct Seam(Option<Arc<dyn ReadSeam>>);

impl Seam {
    /// A scan through `seam`.
    pub fn new(seam: Arc<dyn ReadSeam>) -> Seam {
        Seam(Some(seam))
    }

    pub(super) fn before_open(&self, path: &[u8]) {
        if let Some(seam) = &self.0 {
            seam.before_open(path);
        }
    }

    /// `file` (at `path`), read through this seam.
    pub(super) fn reader<'a>(&'a self, path: &'a [u8], file: &'a File) -> SeamReader<'a> {
        SeamReader {
            seam: self.0.as_deref(),
            path,
            file,
        }
    }
}

impl std::fmt::Debug for Seam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Seam(set)"
        } else {
            "Seam(none)"
        })
    }
}

impl PartialEq for Seam {
    fn eq(&self, other: &Seam) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Seam {}

/// An open file read through a [`Seam`].
pub(super) struct SeamReader<'a> {
    seam: Option<&'a dyn ReadSeam>,
    path: &'a [u8],
    file: &'a File,
}

impl Read for SeamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.seam {
            None => (&*self.file).read(buf),
            Some(seam) => seam.read(self.path, self.file, buf),
        }
    }
}
