//! io_uring append path (Linux): the write and the `fdatasync` that covers it are
//! submitted together as linked entries, so one `io_uring_enter` does both.
//!
//! This is one of the two places `tl-wal` uses `unsafe`: the kernel reads the
//! buffer asynchronously, and io_uring's API leaves it to the caller to keep the
//! buffer alive until the completion arrives.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;

use io_uring::{opcode, squeue, types, IoUring};

use crate::storage::SegmentFile;

/// A segment file whose appends go through io_uring.
pub struct UringFile {
    file: File,
    ring: Mutex<IoUring>,
}

impl UringFile {
    /// Wraps `file`; gives it back if the kernel refuses to set up a ring.
    pub fn new(file: File) -> Result<UringFile, (File, io::Error)> {
        match IoUring::new(4) {
            Ok(ring) => Ok(UringFile {
                file,
                ring: Mutex::new(ring),
            }),
            Err(e) => Err((file, e)),
        }
    }
}

/// True when this kernel (and its seccomp policy) lets us create a ring.
pub fn available() -> bool {
    IoUring::new(2).is_ok()
}

impl SegmentFile for UringFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(&self.file, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.file, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn write_and_sync(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if buf.len() > u32::MAX as usize {
            self.write_all_at(buf, offset)?;
            return self.sync_data();
        }
        let fd = types::Fd(self.file.as_raw_fd());
        let write = opcode::Write::new(fd, buf.as_ptr(), buf.len() as u32)
            .offset(offset)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(1);
        let sync = opcode::Fsync::new(fd)
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(2);
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `buf` outlives the submission: we wait below for both completions
        // (submit_and_wait(2)) before returning, and nothing else uses this ring
        // meanwhile (we hold its mutex). The fd stays open as `self.file` is borrowed.
        unsafe {
            let mut sq = ring.submission();
            sq.push(&write)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            sq.push(&sync)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        ring.submit_and_wait(2)?;
        let mut written: Option<i32> = None;
        let mut synced: Option<i32> = None;
        for cqe in ring.completion() {
            match cqe.user_data() {
                1 => written = Some(cqe.result()),
                2 => synced = Some(cqe.result()),
                _ => {}
            }
        }
        let written = written.ok_or_else(|| io::Error::other("io_uring: write completion lost"))?;
        let synced = synced.ok_or_else(|| io::Error::other("io_uring: fsync completion lost"))?;
        if written < 0 {
            return Err(io::Error::from_raw_os_error(-written));
        }
        let written = written as usize;
        if written < buf.len() {
            // A short write: the linked fsync covered only part of it. Finish with the
            // std path; the final fsync covers everything.
            self.write_all_at(&buf[written..], offset + written as u64)?;
            return self.sync_data();
        }
        if synced < 0 {
            return Err(io::Error::from_raw_os_error(-synced));
        }
        Ok(())
    }
}
