//! Which paths are watched and reported.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Names never watched nor reported, at any depth (as `tl-index` never captures them).
pub const NEVER_WATCHED: [&str; 2] = [".tl", ".git"];

/// `dir/name` as relative path bytes (`name` alone when `dir` is the root).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

/// The ignore rules of the root: `.gitignore`, `.tlignore` and `.git/info/exclude`
/// at the root, plus [`NEVER_WATCHED`].
#[derive(Clone, Debug)]
pub struct Filter {
    root: PathBuf,
    rules: Gitignore,
}

impl Filter {
    /// Reads the root's ignore files (missing or unparsable ones are skipped: the
    /// capture scan reports them; here they only save events).
    pub fn load(root: &Path) -> Filter {
        let mut b = GitignoreBuilder::new(root);
        for f in [".gitignore", ".tlignore", ".git/info/exclude"] {
            let p = root.join(f);
            if p.is_file() {
                let _ = b.add(p);
            }
        }
        let rules = b.build().unwrap_or_else(|_| Gitignore::empty());
        Filter {
            root: root.to_path_buf(),
            rules,
        }
    }

    /// A filter that only leaves out [`NEVER_WATCHED`].
    pub fn none(root: &Path) -> Filter {
        Filter {
            root: root.to_path_buf(),
            rules: Gitignore::empty(),
        }
    }

    /// True when `rel` must not be watched nor reported.
    pub fn ignored(&self, rel: &[u8], is_dir: bool) -> bool {
        if rel
            .split(|&b| b == b'/')
            .any(|c| NEVER_WATCHED.iter().any(|n| c == n.as_bytes()))
        {
            return true;
        }
        if self.rules.is_empty() || rel.is_empty() {
            return false;
        }
        use std::os::unix::ffi::OsStrExt;
        let p = self.root.join(std::ffi::OsStr::from_bytes(rel));
        self.rules
            .matched_path_or_any_parents(&p, is_dir)
            .is_ignore()
    }

    /// True when `rel` is one of the ignore files this filter reads.
    pub fn is_rule_file(rel: &[u8]) -> bool {
        rel == b".gitignore" || rel == b".tlignore"
    }
}
