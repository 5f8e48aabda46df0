//! `tl init`, and keeping `.tl/` out of the ways it gets lost: a git work tree
//! that tracks it (a checkout rewinds the log), a `.tl/` nested in another.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tl_index::layout::{Layout, TL_DIR};
use tl_index::store::Store;
use tl_wal::private_fs::{self, Durability};

/// Start keeping history of a directory (creates .tl/).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl init            # the current directory\n  tl init ~/project\n"
)]
pub struct InitArgs {
    /// The directory to keep history of (default: the current one; created if
    /// missing).
    #[arg(value_name = "DIR")]
    directory: Option<PathBuf>,
}

/// `tl init [DIR]`.
pub fn cmd_init(cwd: &Path, args: InitArgs) -> Result<()> {
    let dir = args
        .directory
        .map(|d| cwd.join(d))
        .unwrap_or(cwd.to_path_buf());
    init(&dir)
}

fn init(dir: &Path) -> Result<()> {
    refuse_inside_tl(dir)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Store::init(dir)?;
    let dir =
        std::fs::canonicalize(dir).with_context(|| format!("cannot use {}", dir.display()))?;
    let layout = Layout::new(&dir);
    let tl = layout.tl_dir();
    // Private whatever the umask: the daemon's socket lives there.
    std::fs::set_permissions(tl, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", tl.display()))?;
    println!("Initialised tl in {}", tl.display());
    if let Some(git) = GitDir::above(&dir) {
        match exclude_tl(&git) {
            Ok(Some(file)) => println!(
                "Added .tl/ to {} so that git neither commits nor checks out tl's history.",
                file.display()
            ),
            Ok(None) => {}
            Err(e) => eprintln!(
                "tl: warning: cannot add .tl/ to {}: {e:#}; add it yourself, or a git \
                 checkout may rewind tl's history",
                git.exclude_file().display()
            ),
        }
    }
    println!(
        "Next: `tl daemon start` to capture every change from now on, or `tl checkpoint` \
         to record the current state once."
    );
    Ok(())
}

/// Refuses a directory inside a `.tl/` (as `tl init .tl/wal`): the history of a
/// project must never hold another, or every later command of the outer one
/// trips over the foreign files in its log.
pub fn refuse_inside_tl(dir: &Path) -> Result<()> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    // Follow symlinks where the path exists already.
    let real = existing_prefix_canonical(&abs);
    for p in [&abs, &real] {
        if p.components()
            .any(|c| c.as_os_str().eq_ignore_ascii_case(TL_DIR))
        {
            bail!(
                "{} is inside a .tl directory (tl's own files); choose a directory outside it",
                dir.display()
            );
        }
    }
    Ok(())
}

/// `p` with its longest existing prefix canonicalized.
fn existing_prefix_canonical(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = std::fs::canonicalize(&cur) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                cur = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// The git directory of the work tree containing a path.
struct GitDir {
    /// The work tree's root (where `.git` is).
    work_tree: PathBuf,
    /// `.git`, or where a `.git` file points (a linked worktree, a submodule).
    dir: PathBuf,
    /// Where `info/` lives (the main repository's for a linked worktree).
    common: PathBuf,
}

impl GitDir {
    /// The nearest `.git` at `start` or above.
    fn above(start: &Path) -> Option<GitDir> {
        let mut cur = Some(start);
        while let Some(d) = cur {
            let dot_git = d.join(".git");
            if let Ok(meta) = std::fs::symlink_metadata(&dot_git) {
                let dir = if meta.is_dir() {
                    dot_git
                } else {
                    let text = std::fs::read_to_string(&dot_git).ok()?;
                    let target = text.strip_prefix("gitdir:")?.trim();
                    d.join(target)
                };
                let common = match std::fs::read_to_string(dir.join("commondir")) {
                    Ok(c) => dir.join(c.trim()),
                    Err(_) => dir.clone(),
                };
                return Some(GitDir {
                    work_tree: d.to_path_buf(),
                    dir,
                    common,
                });
            }
            cur = d.parent();
        }
        None
    }

    fn exclude_file(&self) -> PathBuf {
        self.common.join("info").join("exclude")
    }
}

/// Adds `.tl/` to the repository's `info/exclude` unless a line there already
/// excludes it; returns the file when it was changed.
fn exclude_tl(git: &GitDir) -> Result<Option<PathBuf>> {
    let file = git.exclude_file();
    let old = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    if old
        .lines()
        .any(|l| matches!(l.trim(), ".tl" | ".tl/" | "/.tl" | "/.tl/"))
    {
        return Ok(None);
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let sep = if old.is_empty() || old.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    write!(f, "{sep}# tl's history (added by `tl init`)\n.tl/\n")
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Some(file))
}

/// Warns (once per command) when git tracks files under the project's `.tl/`: a
/// checkout or a stash would then rewind the log under tl. Cheap when nothing
/// changed: one stat of the git index against a mark under `.tl/`; the index is
/// read only when it changed, and git is run only when it mentions `.tl/`.
pub fn warn_if_git_tracks_tl(root: &Path) {
    let Some(git) = GitDir::above(root) else {
        return;
    };
    let index = git.dir.join("index");
    let Ok(meta) = std::fs::metadata(&index) else {
        return;
    };
    let stamp = format!(
        "{} {} {}\n",
        meta.len(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        meta.ino()
    );
    let layout = Layout::new(root);
    // Remembers the git index last found not to track `.tl/`: its size,
    // modification time and inode. While they match, the index is not read again.
    let mark = layout.git_untracked_mark();
    if std::fs::read_to_string(&mark).is_ok_and(|s| s == stamp) {
        return;
    }
    match tracked_under_tl(root, &index, meta.len()) {
        Some(files) if !files.is_empty() => {
            let rel = root.strip_prefix(&git.work_tree).unwrap_or(Path::new(""));
            let tl_rel = rel.join(TL_DIR);
            eprintln!(
                "tl: warning: git tracks {} file(s) under {} (e.g. {}): a checkout, stash or \
                 reset would rewind tl's history. Run `git rm -r --cached {}` and add .tl/ to \
                 {}",
                files.len(),
                layout.tl_dir().display(),
                files[0],
                tl_rel.display(),
                git.exclude_file().display()
            );
        }
        Some(_) => {
            // A cache: failing to write it costs a read of the index next time.
            // Owner-only and never through a symlink, as everything under `.tl/`.
            let _ = private_fs::write_atomic(&mark, stamp.as_bytes(), Durability::Cache);
        }
        None => {}
    }
}

/// The files git tracks under `root/.tl`, or None when that cannot be told.
fn tracked_under_tl(root: &Path, index: &Path, len: u64) -> Option<Vec<String>> {
    // A huge index is not read on every command: git answers instead.
    if len <= 64 << 20 {
        let bytes = std::fs::read(index).ok()?;
        // Version 4 compresses path prefixes: ".tl/" may not appear literally.
        let v4 = bytes.get(4..8) == Some(&[0, 0, 0, 4]);
        if !v4 && !bytes.windows(4).any(|w| w == b".tl/") {
            return Some(Vec::new());
        }
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--", TL_DIR])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        out.stdout
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}
