//! Choosing delta bases and encoding pack entries, as Git's `pack-objects` does in
//! spirit: a new object is tried against the previous version of its path (when that
//! is in the pack being written) and against the objects just before it in an order
//! that puts likely relatives side by side (by a hash of the path's last characters,
//! then largest first: [`name_hash`]); the smallest result wins, and a delta only
//! when it deflates smaller than the whole object.

use super::delta::DeltaIndex;
use super::pack::{deflate, Oid, MAX_DEPTH};
use crate::store::StoreError;

/// Objects tried as bases before each one (Git's `pack.window` default).
pub(super) const WINDOW: usize = 10;

/// Smallest run of a round given to one task.
const MIN_RUN_BYTES: usize = 4 << 20;

/// Objects larger than this are stored whole (Git's `core.bigFileThreshold` spirit,
/// lower: base, target and index are all held in memory).
pub(super) const MAX_DELTA_OBJECT: usize = 64 << 20;

/// Git's `pack_name_hash`: a sortable number from the last sixteen non-blank
/// bytes of a path, the last counting most, so `*.c` files sort together and two
/// versions or copies of `a/b/x.rs` sit side by side.
pub(super) fn name_hash(path: &[u8]) -> u32 {
    path.iter()
        .filter(|c| !c.is_ascii_whitespace())
        .fold(0u32, |h, &c| (h >> 2).wrapping_add((c as u32) << 24))
}

/// How an object goes into the pack.
pub(super) enum Encoded {
    /// Whole, deflated.
    Whole(Vec<u8>),
    /// A delta against `base` (`len` bytes of delta data), deflated.
    Delta {
        base: Oid,
        len: u64,
        deflated: Vec<u8>,
    },
}

impl Encoded {
    fn size(&self) -> usize {
        match self {
            Encoded::Whole(d) => d.len(),
            // The base's offset takes a few bytes more in the entry header.
            Encoded::Delta { deflated, .. } => deflated.len() + 4,
        }
    }
}

/// A base candidate: its id, chain depth and content.
pub(super) struct Candidate<'a> {
    pub(super) id: Oid,
    pub(super) depth: u32,
    pub(super) index: &'a DeltaIndex<'a>,
}

/// Encodes `raw`: whole, or as a delta against the candidate giving the smallest
/// delta, whichever deflates smaller. Returns the encoding and its chain depth.
pub(super) fn encode(raw: &[u8], candidates: &[Candidate<'_>]) -> (Encoded, u32) {
    let whole = Encoded::Whole(deflate(raw));
    if raw.len() > MAX_DELTA_OBJECT {
        return (whole, 0);
    }
    // As Git: a delta is worth trying only if under half the object.
    let mut limit = (raw.len() / 2).saturating_sub(20);
    let mut best: Option<(Vec<u8>, &Candidate)> = None;
    for c in candidates {
        if c.depth >= MAX_DEPTH || limit == 0 {
            continue;
        }
        let base = c.index.base();
        // A delta inserts at least the growth, and is pointless from a tiny base.
        if raw.len().saturating_sub(base.len()) >= limit || base.len() < raw.len() / 32 {
            continue;
        }
        if let Some(d) = c.index.delta(raw, limit) {
            limit = d.len().saturating_sub(1);
            best = Some((d, c));
        }
    }
    match best {
        Some((d, c)) => {
            let delta = Encoded::Delta {
                base: c.id,
                len: d.len() as u64,
                deflated: deflate(&d),
            };
            if delta.size() < whole.size() {
                (delta, c.depth + 1)
            } else {
                (whole, 0)
            }
        }
        None => (whole, 0),
    }
}

/// A blob to write in one round.
pub(super) struct NewBlob {
    pub(super) id: Oid,
    pub(super) bytes: Vec<u8>,
    pub(super) name: u32,
    /// The previous version of its path, when that is in this pack: content hash
    /// (to read it), id and depth.
    pub(super) previous: Option<(crate::types::BlobHash, Oid, u32)>,
}

/// Encodes a round of new blobs on all cores, in the order they must be written
/// (every base before its deltas). The round is sorted by name hash and size
/// (largest first) and cut into runs of about equal bytes, one per task; each run
/// slides a window of [`WINDOW`] bases over its blobs.
pub(super) fn encode_round(
    mut blobs: Vec<NewBlob>,
    read_previous: &(dyn Fn(&crate::types::BlobHash) -> Result<Vec<u8>, StoreError> + Sync),
) -> Result<Vec<(Oid, u64, Encoded)>, StoreError> {
    use rayon::prelude::*;
    blobs.sort_by(|a, b| a.name.cmp(&b.name).then(b.bytes.len().cmp(&a.bytes.len())));
    let total: usize = blobs.iter().map(|b| b.bytes.len()).sum();
    let runs = (rayon::current_num_threads() * 4).max(1);
    // Runs of at least a few MiB, so a small round keeps its window whole.
    let per_run = (total / runs + 1).max(MIN_RUN_BYTES);
    let mut cuts = vec![0];
    let mut sum = 0;
    for (i, b) in blobs.iter().enumerate() {
        sum += b.bytes.len();
        if sum >= per_run && i + 1 < blobs.len() {
            cuts.push(i + 1);
            sum = 0;
        }
    }
    cuts.push(blobs.len());
    let pieces: Vec<&[NewBlob]> = cuts.windows(2).map(|w| &blobs[w[0]..w[1]]).collect();
    let done: Vec<Vec<(Oid, u64, Encoded)>> = pieces
        .par_iter()
        .map(|run| encode_run(run, read_previous))
        .collect::<Result<_, _>>()?;
    Ok(done.into_iter().flatten().collect())
}

fn encode_run(
    run: &[NewBlob],
    read_previous: &(dyn Fn(&crate::types::BlobHash) -> Result<Vec<u8>, StoreError> + Sync),
) -> Result<Vec<(Oid, u64, Encoded)>, StoreError> {
    let mut out = Vec::with_capacity(run.len());
    // Indexes of the window's blobs, built once each, with their depths.
    let mut window: std::collections::VecDeque<(usize, Option<DeltaIndex<'_>>, u32)> =
        Default::default();
    for (i, blob) in run.iter().enumerate() {
        let previous = match &blob.previous {
            Some((hash, _, _)) if blob.bytes.len() <= MAX_DELTA_OBJECT => {
                Some(read_previous(hash)?)
            }
            _ => None,
        };
        let previous_index = previous.as_deref().and_then(DeltaIndex::new);
        let mut candidates = Vec::with_capacity(WINDOW + 1);
        if let (Some(index), Some((_, id, depth))) = (&previous_index, &blob.previous) {
            candidates.push(Candidate {
                id: *id,
                depth: *depth,
                index,
            });
        }
        for (k, index, depth) in window.iter().rev() {
            if let Some(index) = index {
                candidates.push(Candidate {
                    id: run[*k].id,
                    depth: *depth,
                    index,
                });
            }
        }
        let (encoded, depth) = encode(&blob.bytes, &candidates);
        drop(candidates);
        out.push((blob.id, blob.bytes.len() as u64, encoded));
        if window.len() == WINDOW {
            window.pop_front();
        }
        let index = (blob.bytes.len() <= MAX_DELTA_OBJECT)
            .then(|| DeltaIndex::new(&blob.bytes))
            .flatten();
        window.push_back((i, index, depth));
    }
    Ok(out)
}

/// Encodes one object (a tree) against its candidate bases.
pub(super) fn encode_one(raw: &[u8], bases: &[(Oid, u32, &[u8])]) -> Encoded {
    let indexes: Vec<(Oid, u32, DeltaIndex<'_>)> = bases
        .iter()
        .filter_map(|(id, depth, b)| DeltaIndex::new(b).map(|i| (*id, *depth, i)))
        .collect();
    let candidates: Vec<Candidate<'_>> = indexes
        .iter()
        .map(|(id, depth, index)| Candidate {
            id: *id,
            depth: *depth,
            index,
        })
        .collect();
    encode(raw, &candidates).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_hash_sorts_by_the_end_of_the_path() {
        // Only the last sixteen bytes count: two copies of a file sit together.
        assert_eq!(
            name_hash(b"linux/crypto/aesni-gcm-avx512.S"),
            name_hash(b"mac/other/dir/crypto/aesni-gcm-avx512.S")
        );
        // The last bytes count most.
        let (c1, c2, h) = (
            name_hash(b"src/a.c"),
            name_hash(b"lib/a.c"),
            name_hash(b"src/a.h"),
        );
        assert_eq!(c1 >> 24, c2 >> 24);
        assert_ne!(c1 >> 24, h >> 24);
        assert_eq!(name_hash(b""), 0);
    }

    #[test]
    fn a_close_relative_in_the_window_becomes_the_base() {
        let a: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut b = a.clone();
        b[5000] ^= 1;
        let other: Vec<u8> = (0..20_000u32).map(|i| (i * 17 % 241) as u8).collect();
        let blob = |bytes: &Vec<u8>, n| NewBlob {
            id: [n; 20],
            bytes: bytes.clone(),
            name: 7,
            previous: None,
        };
        let out = encode_round(vec![blob(&a, 1), blob(&other, 2), blob(&b, 3)], &|_| {
            unreachable!("no previous versions")
        })
        .unwrap();
        let deltas: Vec<Oid> = out
            .iter()
            .filter_map(|(_, _, e)| match e {
                Encoded::Delta { base, .. } => Some(*base),
                Encoded::Whole(_) => None,
            })
            .collect();
        assert_eq!(deltas.len(), 1, "one of a and b is a delta of the other");
        assert!(deltas[0] == [1; 20] || deltas[0] == [3; 20]);
    }
}
