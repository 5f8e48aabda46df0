//! `.tl/index/git-map/<key>`: which commit each exported checkpoint became, per
//! (repository, ref). Derived and rebuildable: deleting it makes the next export
//! recompute the history (without writing it again) up to the ref's commit.
//!
//! A text file, rewritten whole (temp file + rename) after each export:
//!
//! ```text
//! tl-git-map 1
//! repo <common dir>
//! ref refs/tl/main
//! options <every ns> <author>
//! c <checkpoint chain hex> <commit id> <tree id>
//! b <blake3 hex> <blob id>          blobs written for the commit line above
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::pack::{hex, parse_hex, Oid};
use crate::types::BlobHash;

/// One exported commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedCommit {
    /// Chain hash of the checkpoint it is the state of.
    pub chain: [u8; 32],
    /// The commit.
    pub commit: Oid,
    /// Its tree.
    pub tree: Oid,
    /// Blobs first written with it: (BLAKE3, Git id).
    pub blobs: Vec<(BlobHash, Oid)>,
}

/// The mapping for one (repository, ref).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitMap {
    /// `options` line: what makes commit ids differ for the same checkpoints.
    pub options: String,
    /// Exported commits, oldest first.
    pub commits: Vec<MappedCommit>,
}

/// Where the mapping for `repo`/`ref_name` lives in `dir` (`.tl/index/git-map/`).
pub fn path_for(dir: &Path, repo: &Path, ref_name: &str) -> PathBuf {
    let mut key = repo.as_os_str().as_encoded_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(ref_name.as_bytes());
    let h = blake3::hash(&key);
    dir.join(&h.to_hex().as_str()[..16])
}

fn parse32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let d = |c: u8| (c as char).to_digit(16);
        out[i] = (d(pair[0])? * 16 + d(pair[1])?) as u8;
    }
    Some(out)
}

impl GitMap {
    /// Reads the mapping; `None` when missing or unreadable (it is only a cache).
    pub fn load(path: &Path, repo: &Path, ref_name: &str) -> Option<GitMap> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        if lines.next()? != "tl-git-map 1" {
            return None;
        }
        if lines.next()? != format!("repo {}", repo.display()) {
            return None;
        }
        if lines.next()? != format!("ref {ref_name}") {
            return None;
        }
        let options = lines.next()?.strip_prefix("options ")?.to_string();
        let mut map = GitMap {
            options,
            commits: Vec::new(),
        };
        for line in lines {
            let mut f = line.split(' ');
            match (f.next()?, f.next()?, f.next()?) {
                ("c", chain, commit) => map.commits.push(MappedCommit {
                    chain: parse32(chain)?,
                    commit: parse_hex(commit)?,
                    tree: parse_hex(f.next()?)?,
                    blobs: Vec::new(),
                }),
                ("b", b3, id) => map
                    .commits
                    .last_mut()?
                    .blobs
                    .push((BlobHash(parse32(b3)?), parse_hex(id)?)),
                _ => return None,
            }
        }
        Some(map)
    }

    /// Writes the mapping atomically.
    pub fn save(&self, path: &Path, repo: &Path, ref_name: &str) -> std::io::Result<()> {
        let mut s = format!(
            "tl-git-map 1\nrepo {}\nref {ref_name}\noptions {}\n",
            repo.display(),
            self.options
        );
        for c in &self.commits {
            s.push_str(&format!(
                "c {} {} {}\n",
                crate::catalog::hex(&c.chain),
                hex(&c.commit),
                hex(&c.tree)
            ));
            for (b3, id) in &c.blobs {
                s.push_str(&format!("b {} {}\n", b3.to_hex(), hex(id)));
            }
        }
        if let Some(dir) = path.parent() {
            tl_wal::private_fs::ensure_dir(dir)?;
        }
        tl_wal::private_fs::write_atomic(path, s.as_bytes(), tl_wal::private_fs::Durability::Cache)
    }

    /// All blob ids known from the commits kept.
    pub fn blob_ids(&self) -> HashMap<BlobHash, Oid> {
        self.commits
            .iter()
            .flat_map(|c| c.blobs.iter().copied())
            .collect()
    }
}
