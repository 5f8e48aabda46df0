//! Content-defined cut points over a stream (`index/CHUNKS.md`): FastCDC 2020
//! with the parameters of [`ChunkParams`], cutting exactly where the `fastcdc`
//! crate's own chunkers cut, over a reader, with one buffer of at most four
//! maximal chunks (less for a smaller source). Chunks are handed out as slices
//! of that buffer, never copied, each with its BLAKE3 hash; the hash of the whole
//! stream is kept as it is read.
//!
//! Given the chunks of the content's previous version ([`PreviousChunks`]), the
//! chunker first checks whether the bytes where an old chunk was (at the same
//! offset, or shifted by the change in size) still hash to it, and takes it
//! without running the gear hash; where they do not, it cuts by the gear, and
//! after each cut looks for an old chunk starting there again. The chunks are
//! exactly those of a pass without a previous version (tested by proptest in
//! `reuse_tests.rs`), because a FastCDC cut depends only on the bytes of its
//! chunk and the byte after it (the gear hash at that byte decides the cut; a
//! chunk cut at the maximum does not depend on it), and on the end of the stream
//! only when the end is that close. So an old chunk is taken only once the old
//! chunk after it is found right after it (its hash covers the byte after, and
//! its being there says the end is not that close in either version), unless it
//! is maximal.

use std::io::{self, Read};

use fastcdc::v2020::{cut, logarithm2, Normalization, MASKS};

use super::leaves::{LeafHasher, Leaves, LEAF_LEN};
use crate::record::{Chunk, ChunkParams};
use crate::types::BlobHash;

/// The chunk list of the content a path held before, as cut points to try first.
#[derive(Clone, Debug, Default)]
pub struct PreviousChunks {
    chunks: Vec<Chunk>,
    /// Where each chunk starts in the old content.
    offsets: Vec<u64>,
    /// Length of the old content.
    len: u64,
    /// The old content's leaves, when known (see [`super::leaves`]): an old
    /// chunk at its old offset whose leaves all have their old values is taken
    /// without hashing it.
    leaves: Option<Leaves>,
}

impl PreviousChunks {
    /// No previous version: every chunk is cut by the gear.
    pub fn none() -> PreviousChunks {
        PreviousChunks::default()
    }

    /// The chunks of the previous version, in order.
    pub fn new(chunks: Vec<Chunk>) -> PreviousChunks {
        let mut offsets = Vec::with_capacity(chunks.len());
        let mut len = 0u64;
        for c in &chunks {
            offsets.push(len);
            len += u64::from(c.len);
        }
        PreviousChunks {
            chunks,
            offsets,
            len,
            leaves: None,
        }
    }

    /// The same, with the old content's leaves (checked by the caller: see
    /// [`Leaves::from_file_bytes`]); leaves of another length are ignored.
    pub fn with_leaves(mut self, leaves: Leaves) -> PreviousChunks {
        self.leaves = (leaves.len() == self.len).then_some(leaves);
        self
    }

    /// The old chunk that starts at `offset` of the old content.
    fn starting_at(&self, offset: u64) -> Option<usize> {
        self.offsets.binary_search(&offset).ok()
    }
}

/// One chunk: its bytes (a slice of the chunker's buffer) and their hash.
pub struct Cut<'a> {
    /// The chunk's bytes.
    pub bytes: &'a [u8],
    /// BLAKE3 of `bytes`.
    pub hash: BlobHash,
}

/// Cuts what a reader yields into chunks.
pub struct Chunker<R> {
    source: R,
    buf: Vec<u8>,
    /// The unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Offset in the stream of `buf[start]`.
    pos: u64,
    /// The size the caller expects the stream to have: with it, the chunker knows
    /// which old chunks are far enough from the end to be taken.
    size_hint: u64,
    min: usize,
    avg: usize,
    max: usize,
    masks: Masks,
    /// The leaves of what was read (the whole content's hash merges them).
    leaves: LeafHasher,
    /// Where in `buf` the bytes not covered by a leaf yet start.
    leaf_at: usize,
    /// The hash of a content of one leaf or less (no leaves to merge).
    small: Option<BlobHash>,
    previous: PreviousChunks,
    expect: Expect,
    /// Bytes handed out as old chunks found in place.
    reused: u64,
    /// Bytes hashed chunk by chunk (the tests check that leaves spare it).
    #[cfg(test)]
    hashed: u64,
}

/// What the chunker expects at `pos`.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// No old chunk starts here: cut by the gear.
    Nothing,
    /// These old chunks (by index) may start here: the one at the same offset,
    /// the one shifted by the change in size.
    Candidates([Option<usize>; 2]),
    /// Old chunk `index` was found here, hashing to `hash`. A maximal one is
    /// handed out at once: FastCDC cuts at the maximum when no byte before it
    /// makes a cut, and the bytes are the old ones. Any other is handed out once
    /// the next old chunk is found right after it: the old cut was then made by
    /// the content (not by the end of the old file), the byte after it (whose
    /// gear hash made the cut) is the old one, and at least a minimal chunk
    /// follows in the new file, so the scan that found the cut sees the same
    /// bytes with the same masks. If the next one is not there, the chunk is
    /// cut again by the gear from its start.
    Found { index: usize, hash: BlobHash },
}

/// The masks FastCDC derives from the average size (normalization level 1, as
/// the crate's `FastCDC::new` and `StreamCDC::new` use).
#[derive(Clone, Copy)]
struct Masks {
    small: u64,
    large: u64,
}

/// Chunks this big or bigger are hashed on both cores (BLAKE3's own split).
const PARALLEL_HASH_MIN: usize = 256 * 1024;

/// BLAKE3 of `bytes`, on the rayon pool's threads when it is big.
fn hash_of(bytes: &[u8]) -> BlobHash {
    if bytes.len() < PARALLEL_HASH_MIN {
        return BlobHash::of(bytes);
    }
    let mut h = blake3::Hasher::new();
    h.update_rayon(bytes);
    BlobHash(*h.finalize().as_bytes())
}

impl<R: Read> Chunker<R> {
    /// A chunker over `source`, of about `size_hint` bytes, cutting by
    /// `params`, trying `previous`'s chunks first. The buffer is four maximal
    /// chunks, or the hint and a byte when that is less (a 2 MiB file is not
    /// given 16 MiB): the cut points are the same whenever the source holds no
    /// more than the hint.
    pub fn new(
        source: R,
        params: ChunkParams,
        size_hint: u64,
        previous: PreviousChunks,
    ) -> Chunker<R> {
        let bits = logarithm2(params.avg_size());
        let level = Normalization::Level1.bits();
        let max = params.max_size() as usize;
        let len = usize::try_from(size_hint.saturating_add(1))
            .unwrap_or(usize::MAX)
            .clamp(64 * 1024, 4 * max);
        let mut chunker = Chunker {
            source,
            buf: vec![0; len],
            start: 0,
            end: 0,
            eof: false,
            pos: 0,
            size_hint,
            min: params.min_size() as usize,
            avg: params.avg_size() as usize,
            max,
            masks: Masks {
                small: MASKS[(bits + level) as usize],
                large: MASKS[(bits - level) as usize],
            },
            leaves: LeafHasher::new(),
            leaf_at: 0,
            small: None,
            previous,
            expect: Expect::Nothing,
            reused: 0,
            #[cfg(test)]
            hashed: 0,
        };
        chunker.expect = chunker.candidates_at(0);
        chunker
    }

    /// BLAKE3 of every byte read from the source so far (the whole content, once
    /// [`Chunker::next_chunk`] returned `None`).
    pub fn whole_hash(&self) -> BlobHash {
        self.small
            .or_else(|| self.leaves.leaves().root())
            .unwrap_or_else(|| BlobHash::of(&[]))
    }

    /// Bytes hashed chunk by chunk so far.
    #[cfg(test)]
    pub fn hashed_bytes(&self) -> u64 {
        self.hashed
    }

    /// The leaves of the content, once [`Chunker::next_chunk`] returned `None`.
    pub fn into_leaves(self) -> Leaves {
        self.leaves.into_leaves()
    }

    /// Bytes handed out as old chunks found in place, without the gear.
    pub fn reused_bytes(&self) -> u64 {
        self.reused
    }

    /// The next chunk, `None` at the end of the source. Reads as far ahead as
    /// the next decision needs (a maximal chunk for a cut, an old chunk and the
    /// one after it to take one), so the cut point is the one FastCDC finds over
    /// the whole content.
    pub fn next_chunk(&mut self) -> io::Result<Option<Cut<'_>>> {
        self.ensure(1)?;
        if self.start == self.end {
            return Ok(None);
        }
        loop {
            match self.expect {
                Expect::Found { index, hash } => {
                    let len = self.previous.chunks[index].len as usize;
                    // A chunk cut at the maximum does not depend on the byte
                    // after it; any other is sure once the next old chunk, whose
                    // hash covers that byte, is found right after it.
                    self.expect = if len == self.max {
                        self.candidates_at(self.pos + len as u64)
                    } else {
                        match self.find(index + 1, len)? {
                            Some(next) => Expect::Found {
                                index: index + 1,
                                hash: next,
                            },
                            None => return self.cut_by_gear().map(Some),
                        }
                    };
                    self.reused += len as u64;
                    return Ok(Some(self.hand_out(len, hash)));
                }
                Expect::Candidates(candidates) => {
                    self.expect = Expect::Nothing;
                    for index in candidates.into_iter().flatten() {
                        if let Some(hash) = self.find(index, 0)? {
                            self.expect = Expect::Found { index, hash };
                            break;
                        }
                    }
                }
                Expect::Nothing => return self.cut_by_gear().map(Some),
            }
        }
    }

    /// Makes sure `need` bytes from `start` are buffered, or the rest of the
    /// source: when fewer are, moves what is left to the front and reads until
    /// the buffer is full. Moving only when a decision needs more keeps the
    /// bytes moved to a fraction of those read.
    fn ensure(&mut self, need: usize) -> io::Result<()> {
        if self.end - self.start >= need || self.eof {
            return Ok(());
        }
        // Bytes not in a leaf yet are kept too (less than a leaf).
        let keep = self.start.min(self.leaf_at);
        self.buf.copy_within(keep..self.end, 0);
        self.end -= keep;
        self.start -= keep;
        self.leaf_at -= keep;
        while self.end < self.buf.len() {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.eof && self.leaves.done() == 0 && self.end - self.leaf_at <= LEAF_LEN {
            // All of it is here, from the first byte.
            self.small = Some(BlobHash::of(&self.buf[self.leaf_at..self.end]));
        }
        self.leaf_at += self
            .leaves
            .take(&self.buf[self.leaf_at..self.end], self.eof);
        Ok(())
    }

    /// The old chunks that may start at `pos` of the new content: the one at the
    /// same offset, and the one shifted by the change in size.
    fn candidates_at(&self, pos: u64) -> Expect {
        if self.previous.chunks.is_empty() {
            return Expect::Nothing;
        }
        let same = self.previous.starting_at(pos);
        let shifted = (pos + self.previous.len)
            .checked_sub(self.size_hint)
            .filter(|&old| old != pos)
            .and_then(|old| self.previous.starting_at(old));
        match (same, shifted) {
            (None, None) => Expect::Nothing,
            _ => Expect::Candidates([same, shifted]),
        }
    }

    /// The hash of old chunk `index` if its bytes are at `at` bytes past `pos`
    /// (whether it may be taken there is [`Expect::Found`]'s to say).
    fn find(&mut self, index: usize, at: usize) -> io::Result<Option<BlobHash>> {
        let Some(old) = self.previous.chunks.get(index).copied() else {
            return Ok(None);
        };
        let len = old.len as usize;
        if self.same_leaves(index, at)? {
            return Ok(Some(old.hash));
        }
        self.ensure(at + len)?;
        let from = self.start + at;
        let to = from + len;
        if to > self.end {
            return Ok(None);
        }
        #[cfg(test)]
        {
            self.hashed += len as u64;
        }
        let hash = hash_of(&self.buf[from..to]);
        Ok((hash == old.hash).then_some(hash))
    }

    /// True when old chunk `index` would start `at` bytes past `pos` at its old
    /// offset and every leaf it lies in has its old value: its bytes are the
    /// old ones, no hash needed. False when that is not known (no old leaves,
    /// shifted content, a leaf that changed: then the chunk is hashed).
    fn same_leaves(&mut self, index: usize, at: usize) -> io::Result<bool> {
        let at_stream = self.pos + at as u64;
        let Some(old_leaves) = &self.previous.leaves else {
            return Ok(false);
        };
        if self.previous.offsets[index] != at_stream {
            return Ok(false);
        }
        let leaf = LEAF_LEN as u64;
        let first = (at_stream / leaf) as usize;
        let last = ((at_stream + u64::from(self.previous.chunks[index].len) - 1) / leaf) as usize;
        if old_leaves.value(last).is_none() {
            return Ok(false);
        }
        // The leaves up to the end of the last one must be hashed.
        let need = ((last as u64 + 1) * leaf).saturating_sub(self.pos);
        self.ensure(usize::try_from(need).unwrap_or(usize::MAX))?;
        let Some(old_leaves) = &self.previous.leaves else {
            return Ok(false);
        };
        let new = self.leaves.leaves();
        Ok(new.count() > last && (first..=last).all(|i| new.value(i) == old_leaves.value(i)))
    }

    /// Cuts the next chunk by the gear hash, and looks for an old chunk after it.
    fn cut_by_gear(&mut self) -> io::Result<Cut<'_>> {
        self.ensure(self.max)?;
        let Masks { small, large } = self.masks;
        let (_, n) = cut(
            &self.buf[self.start..self.end],
            self.min,
            self.avg,
            self.max,
            small,
            large,
            small << 1,
            large << 1,
        );
        #[cfg(test)]
        {
            self.hashed += n as u64;
        }
        let hash = hash_of(&self.buf[self.start..self.start + n]);
        self.expect = self.candidates_at(self.pos + n as u64);
        Ok(self.hand_out(n, hash))
    }

    /// Hands out the next `len` bytes as a chunk hashing to `hash`.
    fn hand_out(&mut self, len: usize, hash: BlobHash) -> Cut<'_> {
        let from = self.start;
        self.start += len;
        self.pos += len as u64;
        Cut {
            bytes: &self.buf[from..from + len],
            hash,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::record::CHUNK_PARAMS_V1;
    use proptest::prelude::*;

    /// Pseudo-random bytes (xorshift), so cut points fall where content decides.
    pub(in crate::scan) fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn lengths(data: &[u8], read_size: usize) -> Vec<usize> {
        // A reader that yields at most `read_size` bytes per call, to show cut
        // points do not depend on how the source delivers its bytes.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Chunker::new(
            Trickle(data, read_size),
            CHUNK_PARAMS_V1,
            hint(data),
            PreviousChunks::none(),
        );
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk().unwrap() {
            out.push(chunk.bytes.len());
        }
        out
    }

    /// The size hint the tests give: the source's length, or none (u64::MAX)
    /// for every other length, so both buffer sizes are tried.
    fn hint(data: &[u8]) -> u64 {
        if data.len().is_multiple_of(2) {
            data.len() as u64
        } else {
            u64::MAX
        }
    }

    fn crate_lengths(data: &[u8]) -> Vec<usize> {
        let p = CHUNK_PARAMS_V1;
        fastcdc::v2020::FastCDC::new(data, p.min_size(), p.avg_size(), p.max_size())
            .map(|c| c.length)
            .collect()
    }

    #[test]
    fn cut_points_are_the_fastcdc_crates_own() {
        let data = noise(11 * 1024 * 1024 + 333, 7);
        let got = lengths(&data, 1 << 20);
        assert_eq!(got, crate_lengths(&data));
        assert!(got.len() > 4, "{got:?}");
        assert_eq!(got.iter().sum::<usize>(), data.len());
    }

    #[test]
    fn runs_of_one_byte_cut_at_the_maximum() {
        let data = vec![0u8; 9 * 1024 * 1024];
        let got = lengths(&data, 1 << 16);
        assert_eq!(got, [4 << 20, 4 << 20, 1 << 20]);
    }

    #[test]
    fn an_empty_source_has_no_chunk_and_a_short_one_is_one_chunk() {
        assert!(lengths(&[], 1).is_empty());
        assert_eq!(lengths(&[1, 2, 3], 1), [3]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn chunks_do_not_depend_on_the_readers_delivery(
            len in 0usize..6 * 1024 * 1024,
            seed in any::<u64>(),
            read_size in 1usize..3 * 1024 * 1024,
        ) {
            let data = noise(len, seed);
            prop_assert_eq!(lengths(&data, read_size), crate_lengths(&data));
        }
    }
}
