//! `.tl/index/git-blob-ids`: the Git blob id of each content tl already hashed
//! for `tl publish`, so a publish does not read and SHA-1 every file of the
//! tree again. Derived and rebuildable: deleting it only costs time.
//!
//! Text, rewritten whole (temp file + rename), ended by a BLAKE3 checksum of
//! everything before it; a file that fails the check is ignored:
//!
//! ```text
//! tl-git-blob-ids 1
//! <blake3 hex> <git blob id hex>
//! sum <blake3 hex of the lines above>
//! ```
//!
//! An id is only used when the repository has that object, so a stale file
//! can never make a commit point at a missing blob.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::pack::{hex, parse_hex, Oid};
use crate::types::BlobHash;

const MAGIC: &str = "tl-git-blob-ids 1\n";

/// The ids in `path` whose objects are in `present`; empty when the file is
/// missing or damaged.
pub(super) fn load(path: &Path, present: &HashSet<Oid>) -> HashMap<BlobHash, Oid> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse(&text)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, id)| present.contains(id))
        .collect()
}

fn parse(text: &str) -> Option<HashMap<BlobHash, Oid>> {
    let body_end = text.rfind("sum ")?;
    let (body, sum) = text.split_at(body_end);
    let sum = sum.strip_prefix("sum ")?.strip_suffix('\n')?;
    if blake3::hash(body.as_bytes()).to_hex().as_str() != sum {
        return None;
    }
    let mut ids = HashMap::new();
    for line in body.strip_prefix(MAGIC)?.lines() {
        let (b3, id) = line.split_once(' ')?;
        let b3 = blake3::Hash::from_hex(b3).ok()?;
        ids.insert(BlobHash(*b3.as_bytes()), parse_hex(id)?);
    }
    Some(ids)
}

fn render(ids: &HashMap<BlobHash, Oid>) -> String {
    let mut lines: Vec<String> = ids
        .iter()
        .map(|(b3, id)| format!("{} {}\n", b3.to_hex(), hex(id)))
        .collect();
    lines.sort();
    let mut body = MAGIC.to_string();
    body.extend(lines);
    let sum = blake3::hash(body.as_bytes()).to_hex();
    format!("{body}sum {sum}\n")
}

/// Writes `ids` to `path` (a cache: not fsynced).
pub(super) fn save(path: &Path, ids: &HashMap<BlobHash, Oid>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tl_wal::private_fs::ensure_dir(dir)?;
    }
    tl_wal::private_fs::write_atomic(
        path,
        render(ids).as_bytes(),
        tl_wal::private_fs::Durability::Cache,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_reads_back_and_a_damaged_one_is_ignored() {
        let mut ids = HashMap::new();
        ids.insert(BlobHash([1; 32]), [2u8; 20]);
        ids.insert(BlobHash([3; 32]), [4u8; 20]);
        let text = render(&ids);
        assert_eq!(parse(&text), Some(ids.clone()));
        // Every truncation and every flipped byte is refused.
        for cut in 0..text.len() {
            assert_eq!(parse(&text[..cut]), None, "cut at {cut}");
        }
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            if let Ok(t) = std::str::from_utf8(&b) {
                assert_eq!(parse(t), None, "flip at {i}");
            }
        }
    }

    #[test]
    fn only_ids_the_repository_has_are_used() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ids");
        let mut ids = HashMap::new();
        ids.insert(BlobHash([1; 32]), [2u8; 20]);
        ids.insert(BlobHash([3; 32]), [4u8; 20]);
        save(&path, &ids).unwrap();
        let present: HashSet<Oid> = [[4u8; 20]].into_iter().collect();
        let got = load(&path, &present);
        assert_eq!(got.len(), 1);
        assert_eq!(got[&BlobHash([3; 32])], [4u8; 20]);
    }
}
