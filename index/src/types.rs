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
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", &self.to_hex()[..16])
    }
}

/// What kind of tree entry a path is. Directories are implied by their files; see
/// `ARCHITECTURE.md` for how empty directories are handled.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Mode {
    /// A regular file without the executable bit.
    File,
    /// A regular file with the owner's executable bit set.
    Exec,
    /// A symbolic link; its "content" is the target path bytes, never followed.
    Symlink,
}

impl Mode {
    /// The on-disk code of this mode (stable: part of the record and snapshot formats).
    pub fn code(self) -> u8 {
        match self {
            Mode::File => 0,
            Mode::Exec => 1,
            Mode::Symlink => 2,
        }
    }

    /// Parses an on-disk mode code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Mode> {
        match code {
            0 => Some(Mode::File),
            1 => Some(Mode::Exec),
            2 => Some(Mode::Symlink),
            _ => None,
        }
    }
}

/// One path's state in a tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Hash of the content (for a symlink, of the target bytes).
    pub hash: BlobHash,
    /// File, executable or symlink.
    pub mode: Mode,
    /// Raw content length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch, as captured.
    pub mtime_ns: i64,
}

/// A whole tree: relative, `/`-separated path bytes (not necessarily UTF-8) to entry.
pub type Tree = BTreeMap<Vec<u8>, Entry>;
