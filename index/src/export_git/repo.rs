//! The Git repository side of the export: finding or creating the repository,
//! reading a ref (loose or packed) and moving it with a lock file, as Git does.
//! Only `objects/pack/` and the one ref under `refs/tl/` are ever written.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::pack::{hex, parse_hex, Oid};
use super::ExportError;

/// The project's own repository and the git dir of its work tree.
#[derive(Clone, Debug)]
pub struct Project {
    /// The repository (its common dir).
    pub repo: Repo,
    /// The git dir holding this work tree's `HEAD`.
    pub git_dir: PathBuf,
}

impl Project {
    /// The commit `HEAD` names (through a branch, or detached); `None` on an
    /// unborn branch.
    pub fn head_commit(&self) -> Result<Option<Oid>, ExportError> {
        let path = self.git_dir.join("HEAD");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let text = text.trim();
        match text.strip_prefix("ref:") {
            Some(r) => self.repo.read_ref(r.trim()),
            None => parse_hex(text).map(Some).ok_or_else(|| {
                ExportError::Repo(format!(
                    "{} holds {text:?}, not a ref or commit id",
                    path.display()
                ))
            }),
        }
    }

    /// The branch `HEAD` is on (`refs/heads/...`), if any.
    pub fn head_branch(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        text.trim()
            .strip_prefix("ref:")
            .map(|r| r.trim().to_string())
    }
}

/// One line of a reflog.
#[derive(Clone, Debug)]
pub struct ReflogEntry<'a> {
    /// The full ref name.
    pub name: &'a str,
    /// Its value before (`None`: created).
    pub old: Option<Oid>,
    /// Its value now.
    pub new: Oid,
    /// `Name <mail>`.
    pub who: &'a str,
    /// Seconds since the epoch.
    pub time_s: i64,
    /// What happened.
    pub message: &'a str,
}

/// A Git repository to export into.
#[derive(Clone, Debug)]
pub struct Repo {
    /// The directory holding `objects/` and `refs/` (the common dir of a worktree).
    pub common: PathBuf,
    /// True when tl created it in this run.
    pub created: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn is_git_dir(dir: &Path) -> bool {
    dir.join("objects").is_dir() && dir.join("HEAD").is_file() && dir.join("refs").is_dir()
}

/// The git dir named by `dir/.git` (a directory, or a `gitdir:` file of a worktree or
/// submodule), resolved to its common dir.
fn dot_git(dir: &Path) -> Result<Option<PathBuf>, ExportError> {
    Ok(own_git_dir(dir)?.map(|g| common_dir(&g)))
}

/// The git dir named by `dir/.git`: the one holding this work tree's `HEAD` (a
/// linked worktree's own, not the common dir).
fn own_git_dir(dir: &Path) -> Result<Option<PathBuf>, ExportError> {
    let dot = dir.join(".git");
    let meta = match std::fs::symlink_metadata(&dot) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&dot)(e)),
    };
    let gitdir = if meta.is_file() {
        let text = std::fs::read_to_string(&dot).map_err(io(&dot))?;
        let target = text
            .strip_prefix("gitdir:")
            .map(str::trim)
            .ok_or_else(|| ExportError::Repo(format!("{} is not a gitdir file", dot.display())))?;
        dir.join(target)
    } else {
        dot
    };
    Ok(Some(gitdir))
}

fn common_dir(gitdir: &Path) -> PathBuf {
    match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(c) => gitdir.join(c.trim()),
        Err(_) => gitdir.to_path_buf(),
    }
}

impl Repo {
    /// The default target: `root/.git` if there is one, else a bare repository at
    /// `own` (`.tl/git`, created on first use).
    pub fn default_for(root: &Path, own: &Path) -> Result<Repo, ExportError> {
        match dot_git(root)? {
            Some(common) => Repo::checked(common, false),
            None => Repo::open_or_create(own),
        }
    }

    /// `dir` as a work tree with `.git`, a bare repository, or a missing or empty
    /// directory made into a bare repository.
    pub fn open_or_create(dir: &Path) -> Result<Repo, ExportError> {
        if let Some(common) = dot_git(dir)? {
            return Repo::checked(common, false);
        }
        if is_git_dir(dir) {
            return Repo::checked(common_dir(dir), false);
        }
        let empty = match std::fs::read_dir(dir) {
            Ok(mut d) => d.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(dir)(e)),
        };
        if !empty {
            return Err(ExportError::Repo(format!(
                "{} is neither a Git repository nor empty; give --repo a repository or a new \
                 directory",
                dir.display()
            )));
        }
        for sub in ["objects/pack", "objects/info", "refs/heads", "refs/tags"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(dir))?;
        }
        let files = [
            ("HEAD", "ref: refs/heads/main\n"),
            (
                "config",
                "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n",
            ),
            (
                "description",
                "History exported by `tl export-git` (refs/tl/*).\n",
            ),
        ];
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(io(&p))?;
        }
        Ok(Repo {
            common: dir.to_path_buf(),
            created: true,
        })
    }

    /// Refuses repositories whose formats tl does not write.
    fn checked(common: PathBuf, created: bool) -> Result<Repo, ExportError> {
        if !is_git_dir(&common) {
            return Err(ExportError::Repo(format!(
                "{} is not a Git repository (no objects/, refs/ or HEAD)",
                common.display()
            )));
        }
        let config = std::fs::read_to_string(common.join("config")).unwrap_or_default();
        for line in config.lines() {
            let l = line.trim().to_ascii_lowercase().replace(' ', "");
            if l.starts_with("objectformat=") && !l.ends_with("=sha1") {
                return Err(ExportError::Repo(format!(
                    "{} uses {}; tl exports SHA-1 repositories only",
                    common.display(),
                    line.trim()
                )));
            }
            if l.starts_with("refstorage=") && !l.ends_with("=files") {
                return Err(ExportError::Repo(format!(
                    "{} keeps refs in {}; tl writes the files backend only",
                    common.display(),
                    line.trim()
                )));
            }
        }
        let common = std::fs::canonicalize(&common).map_err(io(&common))?;
        Ok(Repo { common, created })
    }

    /// The project's own repository (`root/.git`, a linked worktree's included),
    /// or `None` when the project has none. `tl publish` writes only there.
    pub fn of_project(root: &Path) -> Result<Option<Project>, ExportError> {
        let Some(git_dir) = own_git_dir(root)? else {
            return Ok(None);
        };
        let repo = Repo::checked(common_dir(&git_dir), false)?;
        let git_dir = std::fs::canonicalize(&git_dir).map_err(io(&git_dir))?;
        Ok(Some(Project { repo, git_dir }))
    }

    /// Appends a line to the reflog of `name` (`logs/<name>`), as Git does when a
    /// ref moves, so `git reflog` shows what tl did and the old tip stays named.
    pub fn append_reflog(&self, entry: &ReflogEntry<'_>) -> Result<(), ExportError> {
        let path = self.common.join("logs").join(entry.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let zero = "0".repeat(40);
        let line = format!(
            "{} {} {} {} +0000\t{}\n",
            entry.old.map(|o| hex(&o)).unwrap_or(zero),
            hex(&entry.new),
            entry.who,
            entry.time_s,
            entry.message.replace(['\n', '\t'], " ")
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(line.as_bytes()).map_err(io(&path))
    }

    /// `objects/pack`.
    pub fn pack_dir(&self) -> PathBuf {
        self.common.join("objects").join("pack")
    }

    /// The value of `name` (loose first, then `packed-refs`); `None` if absent.
    pub fn read_ref(&self, name: &str) -> Result<Option<Oid>, ExportError> {
        let loose = self.common.join(name);
        match std::fs::read_to_string(&loose) {
            Ok(text) => {
                let t = text.trim();
                return parse_hex(t).map(Some).ok_or_else(|| {
                    ExportError::Repo(format!(
                        "{name} in {} holds {t:?}, not a commit id; tl will not overwrite it",
                        self.common.display()
                    ))
                });
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::NotADirectory => {}
            Err(e) => return Err(io(&loose)(e)),
        }
        let packed = self.common.join("packed-refs");
        let text = match std::fs::read_to_string(&packed) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&packed)(e)),
        };
        for line in text.lines() {
            if let Some((id, n)) = line.split_once(' ') {
                if n == name {
                    return Ok(parse_hex(id));
                }
            }
        }
        Ok(None)
    }

    /// Moves `name` from `old` to `new`, failing if someone else moved it meanwhile.
    pub fn update_ref(&self, name: &str, old: Option<Oid>, new: Oid) -> Result<(), ExportError> {
        let path = self.common.join(name);
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ExportError::Repo(format!(
                    "{} exists: another process is updating {name} (remove the file if none is)",
                    lock.display()
                )))
            }
            Err(e) => return Err(io(&lock)(e)),
        };
        let result = (|| {
            let now = self.read_ref(name)?;
            if now != old {
                return Err(ExportError::Repo(format!(
                    "{name} moved during the export (from {} to {}); run it again",
                    old.map(|o| hex(&o)).unwrap_or_else(|| "nothing".into()),
                    now.map(|o| hex(&o)).unwrap_or_else(|| "nothing".into())
                )));
            }
            f.write_all(format!("{}\n", hex(&new)).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io(&lock))?;
            std::fs::rename(&lock, &path).map_err(io(&path))?;
            if let Some(parent) = path.parent() {
                let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&lock);
        }
        result
    }
}

/// Checks a full ref name: under `refs/tl/`, and valid for `git check-ref-format`.
pub fn check_ref_name(name: &str) -> Result<(), ExportError> {
    if !name.starts_with("refs/tl/") || name.len() == "refs/tl/".len() {
        return Err(ExportError::Ref(format!(
            "{name:?} is not under refs/tl/ (export-git never writes branches or tags; \
             `tl publish --branch` does, on request)"
        )));
    }
    check_format(name)
}

/// `refs/heads/NAME` for a branch name `tl publish --branch` may write, checked as
/// `git check-ref-format --branch` would.
pub fn branch_ref(name: &str) -> Result<String, ExportError> {
    let short = name.strip_prefix("refs/heads/").unwrap_or(name);
    if short.is_empty() || short.starts_with('-') || short == "HEAD" {
        return Err(ExportError::Ref(format!(
            "{name:?} is not a valid branch name"
        )));
    }
    let full = format!("refs/heads/{short}");
    check_format(&full).map_err(|_| {
        ExportError::Ref(format!(
            "{name:?} is not a valid branch name (no spaces, `..`, `~^:?*[\\`, or a \
             component starting with `.` or ending in `.lock`)"
        ))
    })?;
    Ok(full)
}

/// The rules of `git check-ref-format` for a full name.
fn check_format(name: &str) -> Result<(), ExportError> {
    let bad = |why: &str| Err(ExportError::Ref(format!("{name:?} {why}")));
    if name.contains("..") || name.contains("@{") || name.ends_with('/') || name.ends_with('.') {
        return bad("is not a valid ref name");
    }
    for c in name.split('/') {
        if c.is_empty() || c.starts_with('.') || c.ends_with(".lock") {
            return bad("is not a valid ref name");
        }
    }
    if name
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b" ~^:?*[\\".contains(&b))
    {
        return bad("is not a valid ref name");
    }
    Ok(())
}
