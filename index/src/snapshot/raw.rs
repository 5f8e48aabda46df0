//! The only `unsafe` of the snapshot module: memory-mapping a file (memmap2) and
//! reading the archive root without re-validating it on every lookup.
//!
//! Both rest on one type: [`Body`] can only be built by [`Body::validated`], which
//! runs the full check (BLAKE3, rkyv validation, our invariants) over exactly the
//! bytes it then keeps. Owned bytes never change afterwards; mapped bytes do not
//! change by the contract of [`Snapshot::open_mmap`].
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::Mmap;
use rkyv::util::AlignedVec;

use super::{
    check_body, check_file_len, io_err, parse_header, ArchivedSnapshotBody, Header, Snapshot,
    SnapshotError, BODY_OFFSET,
};

/// Where a snapshot's bytes live.
pub(super) enum Storage {
    /// The body alone, copied into a 16-byte aligned buffer.
    Owned(AlignedVec<16>),
    /// The whole file, mapped read-only; the body starts at `BODY_OFFSET`.
    Mapped(Mmap),
}

impl Storage {
    fn body_bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(body) => body.as_slice(),
            Storage::Mapped(map) => &map[BODY_OFFSET.min(map.len())..],
        }
    }
}

/// Body bytes that passed [`check_body`]: rkyv validation included.
pub(super) struct Body(Storage);

impl Body {
    /// Checks `storage`'s body against `header` and wraps it on success.
    pub(super) fn validated(
        file: &Path,
        header: &Header,
        storage: Storage,
    ) -> Result<Body, SnapshotError> {
        check_body(file, header, storage.body_bytes())?;
        Ok(Body(storage))
    }

    /// The archived root, in place.
    pub(super) fn archived(&self) -> &ArchivedSnapshotBody {
        let bytes = self.0.body_bytes();
        // SAFETY: `Body` is only constructed by `validated`, which ran
        // `rkyv::access::<ArchivedSnapshotBody, _>` (bytecheck) successfully over this
        // exact slice: same start, same length, hence the same root position at its
        // end. The bytes are immutable since: an `AlignedVec` we own and never hand
        // out mutably, or a read-only mapping whose file the caller of `open_mmap`
        // promised not to modify or truncate. Alignment: the AlignedVec is 16-aligned,
        // a mapping is page-aligned and BODY_OFFSET is a multiple of 16.
        unsafe { rkyv::access_unchecked::<ArchivedSnapshotBody>(bytes) }
    }
}

impl Snapshot {
    /// Opens and validates the snapshot at `path`, keeping it memory-mapped instead
    /// of copied: no copy, and the kernel shares and evicts the pages. Validation
    /// still reads every byte once (BLAKE3 and bytecheck), so open costs about the
    /// same; the gain is memory for large snapshots held open for long.
    ///
    /// # Safety
    ///
    /// No process may modify or truncate the file while the returned `Snapshot`
    /// lives. tl itself never does: snapshot files are written under a temporary
    /// name, renamed into place, and later only unlinked, which leaves a mapping
    /// intact. The operating system cannot enforce this against other programs: a
    /// truncation turns the next access into SIGBUS, and a rewrite could break what
    /// validation established (undefined behavior). Prefer [`Snapshot::open`].
    pub unsafe fn open_mmap(path: &Path) -> Result<Snapshot, SnapshotError> {
        let file = File::open(path).map_err(io_err(path))?;
        // SAFETY: the mapping is read-only and private to this `Snapshot`; that the
        // file does not change under it is our caller's obligation (see `# Safety`).
        let map: io::Result<Mmap> = unsafe { Mmap::map(&file) };
        let map = map.map_err(io_err(path))?;
        let header = parse_header(path, &map)?;
        check_file_len(path, &header, map.len() as u64)?;
        Snapshot::finish(path, header, Storage::Mapped(map))
    }
}
