//! The BLAKE3 hash of a big file computed from the chaining values of its
//! aligned 64 KiB subtrees ("leaves"), and those leaves kept for the next read
//! (`index/CHUNKS.md`, "One hash pass"). BLAKE3 is a tree: the hash of the
//! whole content is a merge of its subtrees' chaining values, and a leaf's value
//! depends only on its bytes and its offset. So a new version whose leaf at
//! offset k·64 KiB has the old version's value holds the old bytes there, and an
//! old chunk lying in such leaves is known unchanged without hashing it again:
//! the file is hashed once, not once whole and once chunk by chunk.
//!
//! Old leaves come from a cache file, untrusted: they are used only when their
//! merge gives the old content's hash, which the log holds. Leaves that merge to
//! the right hash are the content's own (BLAKE3 is collision resistant).

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

use crate::types::BlobHash;

/// Bytes of a leaf (a power of two number of BLAKE3 chunks, so every subtree
/// boundary above it falls on a leaf boundary).
pub const LEAF_LEN: usize = 64 * 1024;

/// The chaining value of the leaf `bytes` that starts at `offset` of the content
/// (a multiple of [`LEAF_LEN`]).
pub fn leaf_value(bytes: &[u8], offset: u64) -> ChainingValue {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(offset);
    h.update(bytes);
    h.finalize_non_root()
}

/// The leaves of one content: the value of each aligned 64 KiB piece, the last
/// one possibly shorter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaves {
    len: u64,
    values: Vec<ChainingValue>,
}

/// Magic and version of a leaves cache file.
const FILE_MAGIC: &[u8; 8] = b"TLLEAF1\0";

impl Leaves {
    /// Leaves of a content of `len` bytes, given in order.
    pub fn new(len: u64, values: Vec<ChainingValue>) -> Leaves {
        Leaves { len, values }
    }

    /// Length of the content.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty content.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of leaf `i`.
    pub fn value(&self, i: usize) -> Option<&ChainingValue> {
        self.values.get(i)
    }

    /// Leaves computed so far.
    pub fn count(&self) -> usize {
        self.values.len()
    }

    /// The BLAKE3 hash of the whole content, merged from the leaves; `None`
    /// when the content is one leaf or less (then it has no parent node: hash
    /// it directly) or when leaves are missing or in excess.
    pub fn root(&self) -> Option<BlobHash> {
        let leaf = LEAF_LEN as u64;
        if self.len <= leaf || self.values.len() as u64 != self.len.div_ceil(leaf) {
            return None;
        }
        let left = left_subtree_len(self.len);
        let l = self.subtree(0, left);
        let r = self.subtree((left / leaf) as usize, self.len - left);
        Some(BlobHash(
            *merge_subtrees_root(&l, &r, Mode::Hash).as_bytes(),
        ))
    }

    /// The chaining value of the `len` bytes starting at leaf `first`.
    fn subtree(&self, first: usize, len: u64) -> ChainingValue {
        let leaf = LEAF_LEN as u64;
        if len <= leaf {
            return self.values[first];
        }
        let left = left_subtree_len(len);
        let l = self.subtree(first, left);
        let r = self.subtree(first + (left / leaf) as usize, len - left);
        merge_subtrees_non_root(&l, &r, Mode::Hash)
    }

    /// The cache file's bytes: magic, the content's hash, its length, the leaves.
    pub fn to_file_bytes(&self, content: &BlobHash) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + 32 * self.values.len());
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&content.0);
        out.extend_from_slice(&self.len.to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(v);
        }
        out
    }

    /// The leaves of `content` from a cache file's bytes, if they are that
    /// content's: the file names it, and its leaves merge to its hash. Anything
    /// else (another content, a torn or altered file) gives `None`.
    pub fn from_file_bytes(bytes: &[u8], content: &BlobHash) -> Option<Leaves> {
        let rest = bytes.strip_prefix(FILE_MAGIC)?;
        let (hash, rest) = rest.split_at_checked(32)?;
        if hash != content.0 {
            return None;
        }
        let (len, rest) = rest.split_at_checked(8)?;
        let len = u64::from_le_bytes(len.try_into().ok()?);
        if !rest.len().is_multiple_of(32) {
            return None;
        }
        let values = rest
            .chunks_exact(32)
            .map(|v| v.try_into().expect("32 bytes"))
            .collect();
        let leaves = Leaves { len, values };
        (leaves.root() == Some(*content)).then_some(leaves)
    }
}

/// Computes the leaves of a stream handed over in order, in pieces of any size.
#[derive(Debug, Default)]
pub struct LeafHasher {
    leaves: Leaves,
}

impl LeafHasher {
    /// Nothing hashed yet.
    pub fn new() -> LeafHasher {
        LeafHasher::default()
    }

    /// Bytes of the stream covered by leaves so far (a multiple of
    /// [`LEAF_LEN`] until [`LeafHasher::finish`]).
    pub fn done(&self) -> u64 {
        self.leaves.len
    }

    /// Hashes the complete leaves at the start of `bytes`, which starts at
    /// [`LeafHasher::done`]: every leaf unless `last` is false, when a shorter
    /// tail is left for the next call. Returns how many bytes were taken. The
    /// leaves are hashed on the rayon pool's threads.
    pub fn take(&mut self, bytes: &[u8], last: bool) -> usize {
        use rayon::prelude::*;
        let whole = bytes.len() / LEAF_LEN * LEAF_LEN;
        let n = if last { bytes.len() } else { whole };
        let base = self.leaves.len;
        let values: Vec<ChainingValue> = bytes[..n]
            .par_chunks(LEAF_LEN)
            .enumerate()
            .map(|(i, leaf)| leaf_value(leaf, base + (i * LEAF_LEN) as u64))
            .collect();
        self.leaves.values.extend(values);
        self.leaves.len += n as u64;
        n
    }

    /// The leaves so far.
    pub fn leaves(&self) -> &Leaves {
        &self.leaves
    }

    /// The leaves, once the stream ended.
    pub fn into_leaves(self) -> Leaves {
        self.leaves
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
            .collect()
    }

    /// The leaves of `data` handed over `step` bytes at a time; what a call
    /// leaves untaken is handed over again with the next piece.
    fn leaves_of(data: &[u8], step: usize) -> Leaves {
        let mut h = LeafHasher::new();
        let mut end = 0;
        while h.done() < data.len() as u64 {
            end = (end + step).min(data.len());
            h.take(&data[h.done() as usize..end], end == data.len());
        }
        h.into_leaves()
    }

    #[test]
    fn merged_leaves_give_blake3_of_the_whole_at_the_edges_of_leaves_and_chunks() {
        for len in [
            LEAF_LEN + 1,
            2 * LEAF_LEN,
            2 * LEAF_LEN + 1024,
            2 * LEAF_LEN + 1025,
            3 * LEAF_LEN - 1,
            17 * LEAF_LEN + 5,
            64 * LEAF_LEN,
            64 * LEAF_LEN + 1,
        ] {
            let data = bytes(len, 3);
            let leaves = leaves_of(&data, 5 * LEAF_LEN + 77);
            assert_eq!(leaves.root(), Some(BlobHash::of(&data)), "length {len}");
        }
    }

    #[test]
    fn one_leaf_or_less_has_no_root_from_leaves() {
        assert_eq!(leaves_of(&bytes(LEAF_LEN, 1), LEAF_LEN).root(), None);
        assert_eq!(Leaves::default().root(), None);
    }

    #[test]
    fn a_cache_file_is_used_only_for_its_own_content() {
        let data = bytes(5 * LEAF_LEN + 9, 4);
        let hash = BlobHash::of(&data);
        let leaves = leaves_of(&data, 1 << 20);
        let file = leaves.to_file_bytes(&hash);
        assert_eq!(Leaves::from_file_bytes(&file, &hash), Some(leaves.clone()));
        assert_eq!(Leaves::from_file_bytes(&file, &BlobHash([7; 32])), None);
        for cut in [0, 7, 40, 48, file.len() - 1] {
            assert_eq!(
                Leaves::from_file_bytes(&file[..cut], &hash),
                None,
                "cut at {cut}"
            );
        }
        for at in (0..file.len()).step_by(13) {
            let mut bad = file.clone();
            bad[at] ^= 1;
            assert_eq!(Leaves::from_file_bytes(&bad, &hash), None, "flip at {at}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn leaves_merge_to_blake3_for_any_length_and_delivery(
            len in LEAF_LEN + 1..40 * LEAF_LEN,
            seed in any::<u8>(),
            step in 1usize..9 * LEAF_LEN,
        ) {
            let data = bytes(len, seed);
            prop_assert_eq!(leaves_of(&data, step).root(), Some(BlobHash::of(&data)));
        }
    }
}
