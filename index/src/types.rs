//! The small vocabulary every part of `tl-index` shares: content hashes, file modes,
//! tree entries and trees.

use std::collections::BTreeMap;
use std::fmt;

/// BLAKE3 hash of a file's whole raw content (or of a symlink's target bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// Hashes `bytes` with BLAKE3.
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        crate::catalog::hex(&self.0)
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", &self.to_hex()[..16])
    }
}

/// What kind of tree entry a path is, and for a regular file who may read it.
/// Directories are implied by their files; see `ARCHITECTURE.md` for how empty
/// directories are handled.
///
/// A file's permission bits are kept as much as they matter for privacy: whether
/// the owner may execute it, and who may read it (everyone, owner and group, the
/// owner only). A restore sets exactly [`Mode::permissions`], whatever the umask.
/// Setuid, setgid and sticky bits are never recorded nor restored
/// (`RELIABILITY.md`, path rule 6), nor are write bits beyond the owner's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Mode {
    /// A regular file without the owner's executable bit, readable by others
    /// (restored `0644`).
    File,
    /// A regular file with the owner's executable bit set, readable by others
    /// (restored `0755`).
    Exec,
    /// A symbolic link; its "content" is the target path bytes, never followed.
    Symlink,
    /// A [`Mode::File`] that neither group nor others may read (restored `0600`).
    PrivateFile,
    /// A [`Mode::Exec`] that neither group nor others may read (restored `0700`).
    PrivateExec,
    /// A [`Mode::File`] its group may read but others not (restored `0640`).
    GroupFile,
    /// A [`Mode::Exec`] its group may read but others not (restored `0750`).
    GroupExec,
}

/// The highest mode code of record format 1 and snapshot format 1 (which knew
/// only [`Mode::File`], [`Mode::Exec`] and [`Mode::Symlink`]).
pub const MODE_CODE_MAX_V1: u8 = 2;

impl Mode {
    /// The on-disk code of this mode (stable: part of the record and snapshot
    /// formats). Codes 0 to 2 mean what they meant in format version 1.
    pub fn code(self) -> u8 {
        match self {
            Mode::File => 0,
            Mode::Exec => 1,
            Mode::Symlink => 2,
            Mode::PrivateFile => 3,
            Mode::PrivateExec => 4,
            Mode::GroupFile => 5,
            Mode::GroupExec => 6,
        }
    }

    /// Parses an on-disk mode code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Mode> {
        match code {
            0 => Some(Mode::File),
            1 => Some(Mode::Exec),
            2 => Some(Mode::Symlink),
            3 => Some(Mode::PrivateFile),
            4 => Some(Mode::PrivateExec),
            5 => Some(Mode::GroupFile),
            6 => Some(Mode::GroupExec),
            _ => None,
        }
    }

    /// The mode of a regular file whose `st_mode` is `st_mode`: executable when
    /// the owner's execute bit is set; readable by everyone when the others' read
    /// bit is set, else by the group when the group's read bit is set, else by
    /// the owner only.
    pub fn of_file(st_mode: u32) -> Mode {
        let exec = st_mode & 0o100 != 0;
        match (st_mode & 0o004 != 0, st_mode & 0o040 != 0, exec) {
            (true, _, false) => Mode::File,
            (true, _, true) => Mode::Exec,
            (false, true, false) => Mode::GroupFile,
            (false, true, true) => Mode::GroupExec,
            (false, false, false) => Mode::PrivateFile,
            (false, false, true) => Mode::PrivateExec,
        }
    }

    /// True for a regular file with the owner's executable bit.
    pub fn is_exec(self) -> bool {
        matches!(self, Mode::Exec | Mode::PrivateExec | Mode::GroupExec)
    }

    /// The permission bits a restore gives a file of this mode (`0o777` for a
    /// symlink, whose bits mean nothing).
    pub fn permissions(self) -> u32 {
        match self {
            Mode::File => 0o644,
            Mode::Exec => 0o755,
            Mode::Symlink => 0o777,
            Mode::PrivateFile => 0o600,
            Mode::PrivateExec => 0o700,
            Mode::GroupFile => 0o640,
            Mode::GroupExec => 0o750,
        }
    }
}

/// One path's state in a tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Hash of the content (for a symlink, of the target bytes).
    pub hash: BlobHash,
    /// File, executable or symlink, and who may read a file.
    pub mode: Mode,
    /// Raw content length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch, as captured.
    pub mtime_ns: i64,
}

/// A whole tree: relative, `/`-separated path bytes (not necessarily UTF-8) to entry.
pub type Tree = BTreeMap<Vec<u8>, Entry>;
