//! Files and directories under a project's `.tl/`: owner-only, never written
//! through a symlink.
//!
//! Everything `tl` keeps is as private as the most private file it captured, so
//! every directory it makes is `0700` and every file `0600` (the umask can only
//! take bits away). Every file is opened with `O_NOFOLLOW`; new content goes to a
//! temporary file with an unpredictable name opened `O_CREAT|O_EXCL` and is then
//! renamed over its target, so a symlink planted at a name `tl` uses is never
//! followed. An entry that is not what it should be (a symlink, a directory where
//! a file belongs) is refused with [`UnexpectedEntry`].
//!
//! This module lives in `tl-wal`, the lowest crate, so that the log, the index and
//! the CLI share one implementation.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory `tl` creates under `.tl/`.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file `tl` creates under `.tl/`.
pub const FILE_MODE: u32 = 0o600;

/// What an entry under `.tl/` was expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// An entry under `.tl/` is not what `tl` made there (a symlink, a directory where
/// a file belongs, a device...). Carried inside an [`io::Error`] of kind
/// [`io::ErrorKind::InvalidInput`]; see [`unexpected_entry`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{}: expected a {} made by tl, found {found}; tl does not write through it \
     (remove it or move it aside, then retry)",
    path.display(),
    match expected { Expected::File => "regular file", Expected::Dir => "directory" }
)]
pub struct UnexpectedEntry {
    /// The entry.
    pub path: PathBuf,
    /// What it should have been.
    pub expected: Expected,
    /// What it is ("a symlink", "a directory", ...).
    pub found: &'static str,
}

/// The [`UnexpectedEntry`] inside `e`, if `e` is one.
pub fn unexpected_entry(e: &io::Error) -> Option<&UnexpectedEntry> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

fn refuse(path: &Path, expected: Expected, found: &'static str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        UnexpectedEntry {
            path: path.to_path_buf(),
            expected,
            found,
        },
    )
}

fn kind_name(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "a symlink"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}

/// Checks that `path`, if it exists, is `expected` itself (not a symlink to one).
/// A missing entry is fine.
pub fn check_entry(path: &Path, expected: Expected) -> io::Result<()> {
    let ft = match fs::symlink_metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let ok = match expected {
        Expected::File => ft.is_file(),
        Expected::Dir => ft.is_dir(),
    };
    if ok {
        Ok(())
    } else {
        Err(refuse(path, expected, kind_name(ft)))
    }
}

/// Creates the directory `path` (its parent must exist), mode [`DIR_MODE`]. Fails
/// if anything is already there.
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)
}

/// Creates `path` and its missing parents, mode [`DIR_MODE`], and checks that
/// `path` is a real directory (not a symlink to one).
pub fn ensure_dir(path: &Path) -> io::Result<()> {
    check_entry(path, Expected::Dir)?;
    DirBuilder::new()
        .mode(DIR_MODE)
        .recursive(true)
        .create(path)?;
    check_entry(path, Expected::Dir)
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    o
}

/// The error for an open that `O_NOFOLLOW` refused (`ELOOP`), or that found a
/// directory, turned into an [`UnexpectedEntry`]; other errors unchanged.
fn explain(path: &Path, expected: Expected, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EISDIR) {
        if let Err(refused) = check_entry(path, expected) {
            return refused;
        }
    }
    e
}

fn regular(path: &Path, file: File) -> io::Result<File> {
    let ft = file.metadata()?.file_type();
    if ft.is_file() {
        Ok(file)
    } else {
        Err(refuse(path, Expected::File, kind_name(ft)))
    }
}

/// Creates a new file at `path` for reading and writing, `O_CREAT|O_EXCL|O_NOFOLLOW`,
/// mode [`FILE_MODE`]. Fails with [`io::ErrorKind::AlreadyExists`] if anything
/// (a symlink included) is there.
pub fn create_new(path: &Path) -> io::Result<File> {
    options().read(true).write(true).create_new(true).open(path)
}

/// Opens the existing regular file `path` for reading and writing, never through a
/// symlink.
pub fn open_rw(path: &Path) -> io::Result<File> {
    let f = options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| explain(path, Expected::File, e))?;
    regular(path, f)
}

/// Opens `path` for reading and writing, creating it (mode [`FILE_MODE`]) if
/// missing and never truncating it; never through a symlink. For lock files.
pub fn open_or_create(path: &Path) -> io::Result<File> {
    let f = options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| explain(path, Expected::File, e))?;
    regular(path, f)
}

/// Opens `path` for appending, creating it (mode [`FILE_MODE`]) if missing; never
/// through a symlink. For logs.
pub fn open_append(path: &Path) -> io::Result<File> {
    let f = options()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| explain(path, Expected::File, e))?;
    regular(path, f)
}

/// Creates a temporary file next to `target` with an unpredictable name
/// (`.NAME.RANDOM.tmp`), `O_CREAT|O_EXCL|O_NOFOLLOW`, mode [`FILE_MODE`]. Returns
/// its path and the file, open for writing.
pub fn create_temp(target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tries = 0;
    loop {
        let temp = target.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        match options().write(true).create_new(true).open(&temp) {
            Ok(f) => return Ok((temp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// True for a name [`create_temp`] makes.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Renames the temporary file `temp` over `target`, after checking that `target`
/// is a regular file or missing (a symlink or directory there is refused, and
/// `temp` removed).
pub fn replace(temp: &Path, target: &Path) -> io::Result<()> {
    let result = check_entry(target, Expected::File).and_then(|()| fs::rename(temp, target));
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// How much [`write_atomic`] waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// No fsync: for caches, which are checksummed and rebuilt when damaged.
    Cache,
    /// The file's content is fsynced before the rename.
    Synced,
}

/// Replaces `target` with `bytes`: a temporary file from [`create_temp`], written,
/// (fsynced per `durability`), then renamed over `target` by [`replace`].
pub fn write_atomic(target: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    check_entry(target, Expected::File)?;
    let (temp, mut file) = create_temp(target)?;
    let written = file.write_all(bytes).and_then(|()| match durability {
        Durability::Cache => Ok(()),
        Durability::Synced => file.sync_all(),
    });
    drop(file);
    match written {
        Ok(()) => replace(&temp, target),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Takes group and other permission bits off `dir` and everything under it
/// (directories become `0700`, files keep only their owner bits), never following
/// a symlink. Returns the entries changed, `dir` first when it was. Entries this
/// process may not change (owned by someone else) are left as they are.
pub fn tighten(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    tighten_entry(dir, &mut changed)?;
    Ok(changed)
}

fn tighten_entry(path: &Path, changed: &mut Vec<PathBuf>) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = if ft.is_dir() { DIR_MODE } else { mode & 0o700 };
    if mode != wanted {
        match fs::set_permissions(path, fs::Permissions::from_mode(wanted)) {
            Ok(()) => changed.push(path.to_path_buf()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e),
        }
    }
    if ft.is_dir() {
        let read = match fs::read_dir(path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in read {
            tighten_entry(&entry?.path(), changed)?;
        }
    }
    Ok(())
}

/// True when `dir` (followed if a symlink, as the kernel does when resolving paths
/// through it) grants nothing to group or others: what is under it is then out of
/// their reach whatever its own bits.
pub fn is_private_dir(dir: &Path) -> io::Result<bool> {
    Ok(fs::metadata(dir)?.permissions().mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests;
