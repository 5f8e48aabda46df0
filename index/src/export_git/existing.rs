//! The object ids a repository already has, so `tl publish` writes only what is
//! new into the project's repository instead of a second copy of every blob.
//!
//! Read from the pack indexes (`objects/pack/*.idx`, versions 1 and 2 of
//! gitformat-pack(5)) and the loose object directories. What this misses (an
//! alternate object store, a pack without its index) is only written again:
//! a duplicate object costs space, never correctness.

use std::collections::HashSet;
use std::path::Path;

use super::pack::{parse_hex, Oid};

/// Why a pack index could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum IdxError {
    /// Shorter than its header, fan-out table or id table says.
    Truncated,
    /// A version-2 magic with another version number.
    Version(u32),
    /// The fan-out table is not non-decreasing.
    Fanout,
}

/// The object ids listed in one pack index's bytes.
pub(super) fn idx_ids(bytes: &[u8]) -> Result<Vec<Oid>, IdxError> {
    let word = |at: usize| -> Result<u32, IdxError> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or(IdxError::Truncated)
    };
    // Version 2 starts with "\377tOc" and a version; version 1 with the fan-out.
    let (fanout_at, stride, id_offset) = if bytes.starts_with(b"\xfftOc") {
        match word(4)? {
            2 => (8, 20, 0),
            v => return Err(IdxError::Version(v)),
        }
    } else {
        (0, 24, 4)
    };
    let mut previous = 0;
    for i in 0..256 {
        let n = word(fanout_at + 4 * i)?;
        if n < previous {
            return Err(IdxError::Fanout);
        }
        previous = n;
    }
    let count = previous as usize;
    let table = fanout_at + 256 * 4;
    let end = count
        .checked_mul(stride)
        .and_then(|n| n.checked_add(table))
        .ok_or(IdxError::Truncated)?;
    if bytes.len() < end {
        return Err(IdxError::Truncated);
    }
    Ok((0..count)
        .map(|i| {
            let at = table + i * stride + id_offset;
            bytes[at..at + 20].try_into().expect("20 bytes")
        })
        .collect())
}

/// Every object id found in `common`'s object store. Unreadable or damaged
/// indexes are passed over (their objects are written again).
pub(super) fn object_ids(common: &Path) -> HashSet<Oid> {
    let objects = common.join("objects");
    let mut ids = HashSet::new();
    if let Ok(dir) = std::fs::read_dir(objects.join("pack")) {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "idx") {
                if let Ok(bytes) = std::fs::read(&path) {
                    ids.extend(idx_ids(&bytes).unwrap_or_default());
                }
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(&objects) {
        for fan in dir.flatten() {
            let name = fan.file_name();
            let Some(prefix) = name.to_str().filter(|n| n.len() == 2) else {
                continue;
            };
            let Ok(inner) = std::fs::read_dir(fan.path()) else {
                continue;
            };
            for obj in inner.flatten() {
                let rest = obj.file_name();
                if let Some(id) = rest
                    .to_str()
                    .and_then(|r| parse_hex(&format!("{prefix}{r}")))
                {
                    ids.insert(id);
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(ids: &[Oid]) -> Vec<u8> {
        let mut sorted = ids.to_vec();
        sorted.sort();
        let mut b = b"\xfftOc\0\0\0\x02".to_vec();
        for i in 0..256u32 {
            let n = sorted.iter().filter(|id| u32::from(id[0]) <= i).count() as u32;
            b.extend_from_slice(&n.to_be_bytes());
        }
        for id in &sorted {
            b.extend_from_slice(id);
        }
        b.extend_from_slice(&vec![0; sorted.len() * 8 + 40]);
        b
    }

    #[test]
    fn version_2_index_lists_its_ids() {
        let ids = [[7u8; 20], [0u8; 20], [255u8; 20]];
        let mut got = idx_ids(&v2(&ids)).unwrap();
        got.sort();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn version_1_index_lists_its_ids() {
        let id = [9u8; 20];
        let mut b = Vec::new();
        for i in 0..256u32 {
            b.extend_from_slice(&u32::from(i >= 9).to_be_bytes());
        }
        b.extend_from_slice(&12u32.to_be_bytes());
        b.extend_from_slice(&id);
        assert_eq!(idx_ids(&b).unwrap(), vec![id]);
    }

    /// Every truncation of a valid index and a few hostile fan-outs are errors,
    /// never a panic or a read past the end.
    #[test]
    fn hostile_indexes_are_errors() {
        let good = v2(&[[1u8; 20], [2u8; 20]]);
        for cut in 0..8 + 256 * 4 + 40 {
            assert!(idx_ids(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut down = good.clone();
        down[8..12].copy_from_slice(&5u32.to_be_bytes());
        assert_eq!(idx_ids(&down), Err(IdxError::Fanout));
        let mut huge = good.clone();
        let last = 8 + 255 * 4;
        huge[last..last + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(idx_ids(&huge), Err(IdxError::Truncated));
        let mut v3 = good;
        v3[7] = 3;
        assert_eq!(idx_ids(&v3), Err(IdxError::Version(3)));
    }
}
