//! The chunker with a previous version's chunks cuts exactly where a pass
//! without them cuts (`chunker.rs` module docs say why; these tests try to break
//! it): random edits of every kind, edits on the byte right after an old cut,
//! runs of one byte (chunks cut at the maximum), a previous list that belongs to
//! other content, and a reader that hands out its bytes a few at a time. They
//! also check the work saved: a small edit of a big file takes nearly all old
//! chunks in place.

use std::io::{self, Read};

use proptest::prelude::*;

use super::chunker::tests::noise;
use super::chunker::{Chunker, PreviousChunks};
use super::leaves::Leaves;
use crate::record::{Chunk, CHUNK_PARAMS_V1};
use crate::types::BlobHash;

const MIB: usize = 1 << 20;
const MAX: usize = 4 * MIB;

/// A reader that yields at most `step` bytes per call.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(out.len()).min(self.1);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// What chunking `data` gave: the chunks, the whole hash, the bytes reused.
struct Chunked {
    chunks: Vec<Chunk>,
    whole: BlobHash,
    reused: u64,
    hashed: u64,
    leaves: Leaves,
}

fn chunk(data: &[u8], previous: PreviousChunks, step: usize) -> Chunked {
    let mut c = Chunker::new(
        Trickle(data, step),
        CHUNK_PARAMS_V1,
        data.len() as u64,
        previous,
    );
    let mut chunks = Vec::new();
    while let Some(cut) = c.next_chunk().unwrap() {
        assert_eq!(
            cut.hash,
            BlobHash::of(cut.bytes),
            "a chunk's hash is of its bytes"
        );
        chunks.push(Chunk {
            hash: cut.hash,
            len: cut.bytes.len() as u32,
        });
    }
    let (whole, reused, hashed) = (c.whole_hash(), c.reused_bytes(), c.hashed_bytes());
    Chunked {
        chunks,
        whole,
        reused,
        hashed,
        leaves: c.into_leaves(),
    }
}

fn fresh(data: &[u8]) -> Vec<Chunk> {
    chunk(data, PreviousChunks::none(), MAX).chunks
}

/// What chunking a new version against the old one saved.
struct Saved {
    /// Bytes taken as old chunks (the same with and without leaves).
    reused: u64,
    /// Bytes hashed chunk by chunk when the old leaves were known.
    hashed_with_leaves: u64,
}

/// Chunks `new` with `old`'s chunks as the previous version, without and with
/// the old leaves, checks both give a fresh pass's chunks and whole hash, and
/// says what was saved.
fn assert_same_as_fresh(old: &[u8], new: &[u8], step: usize) -> Saved {
    let old_pass = chunk(old, PreviousChunks::none(), MAX);
    assert_eq!(
        old_pass.leaves.root(),
        Some(BlobHash::of(old)),
        "old leaves"
    );
    let want = fresh(new);
    let plain = chunk(new, PreviousChunks::new(old_pass.chunks.clone()), step);
    let leafy = chunk(
        new,
        PreviousChunks::new(old_pass.chunks).with_leaves(old_pass.leaves),
        step,
    );
    for (got, how) in [(&plain, "by chunk hashes"), (&leafy, "by leaves")] {
        assert_eq!(got.chunks.len(), want.len(), "number of chunks, {how}");
        assert!(
            got.chunks == want,
            "the chunks differ from a fresh pass, {how}"
        );
        assert_eq!(got.whole, BlobHash::of(new), "the whole hash, {how}");
    }
    assert_eq!(
        plain.reused, leafy.reused,
        "leaves change the work, not the chunks"
    );
    Saved {
        reused: plain.reused,
        hashed_with_leaves: leafy.hashed,
    }
}

/// Where each chunk of `data` (cut afresh) ends.
fn boundaries(data: &[u8]) -> Vec<usize> {
    let mut at = 0;
    fresh(data)
        .iter()
        .map(|c| {
            at += c.len as usize;
            at
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Edit {
    Overwrite {
        at: usize,
        len: usize,
        seed: u64,
    },
    Insert {
        at: usize,
        len: usize,
        seed: u64,
    },
    Delete {
        at: usize,
        len: usize,
    },
    /// One byte changed right after the `nth` old cut (plus `shift`, -1..=1).
    AfterCut {
        nth: usize,
        shift: i8,
    },
    Append {
        len: usize,
        seed: u64,
    },
    Truncate {
        len: usize,
    },
}

fn apply(data: &mut Vec<u8>, edit: &Edit, cuts: &[usize]) {
    let n = data.len();
    match *edit {
        Edit::Overwrite { at, len, seed } => {
            let at = at % n.max(1);
            let end = (at + len).min(n);
            data[at..end].copy_from_slice(&noise(end - at, seed));
        }
        Edit::Insert { at, len, seed } => {
            let at = at % (n + 1);
            data.splice(at..at, noise(len, seed));
        }
        Edit::Delete { at, len } => {
            let at = at % n.max(1);
            let end = (at + len).min(n);
            data.drain(at..end);
        }
        Edit::AfterCut { nth, shift } => {
            if let Some(&cut) = cuts.get(nth % cuts.len().max(1)) {
                let at = (cut as i64 + i64::from(shift)).clamp(0, n as i64 - 1) as usize;
                data[at] ^= 0x5a;
            }
        }
        Edit::Append { len, seed } => data.extend(noise(len, seed)),
        Edit::Truncate { len } => data.truncate(n.saturating_sub(len)),
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let pos = 0usize..40 * MIB;
    prop_oneof![
        (pos.clone(), 1usize..3000, any::<u64>()).prop_map(|(at, len, seed)| Edit::Overwrite {
            at,
            len,
            seed
        }),
        (pos.clone(), 1usize..2 * MIB, any::<u64>()).prop_map(|(at, len, seed)| Edit::Insert {
            at,
            len,
            seed
        }),
        (pos, 1usize..2 * MIB).prop_map(|(at, len)| Edit::Delete { at, len }),
        (0usize..64, -1i8..=1).prop_map(|(nth, shift)| Edit::AfterCut { nth, shift }),
        (0usize..64, Just(0i8)).prop_map(|(nth, shift)| Edit::AfterCut { nth, shift }),
        (1usize..6 * MIB, any::<u64>()).prop_map(|(len, seed)| Edit::Append { len, seed }),
        (1usize..6 * MIB).prop_map(|len| Edit::Truncate { len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn chunking_against_the_previous_version_cuts_where_a_fresh_pass_cuts(
        len in 6 * MIB..28 * MIB,
        seed in any::<u64>(),
        edits in prop::collection::vec(edit(), 1..4),
        step in prop_oneof![Just(MAX), 1usize..3 * MIB],
    ) {
        let old = noise(len, seed);
        let cuts = boundaries(&old);
        let mut new = old.clone();
        for e in &edits {
            apply(&mut new, e, &cuts);
        }
        assert_same_as_fresh(&old, &new, step);
    }
}

#[test]
fn a_small_overwrite_in_a_big_file_takes_all_but_a_few_chunks_in_place() {
    let old = noise(64 * MIB, 3);
    let mut new = old.clone();
    new[30 * MIB..30 * MIB + 100].fill(7);
    let saved = assert_same_as_fresh(&old, &new, MAX);
    let reused = saved.reused;
    // Cut again: the last chunk, and around the edit the edited chunk, the one
    // before it and those until a cut lands on an old one.
    assert!(
        reused >= (64 * MIB - 3 * MAX) as u64,
        "only {reused} of {} bytes taken in place",
        new.len()
    );
    // With the old leaves, what is taken is not even hashed again.
    assert!(
        saved.hashed_with_leaves <= 4 * MAX as u64,
        "{} bytes hashed chunk by chunk",
        saved.hashed_with_leaves
    );
}

#[test]
fn an_insert_at_the_start_finds_the_old_chunks_shifted_by_its_length() {
    let old = noise(48 * MIB, 5);
    let mut new = noise(1000, 6);
    new.extend_from_slice(&old);
    let saved = assert_same_as_fresh(&old, &new, MAX);
    let reused = saved.reused;
    assert!(
        reused >= (48 * MIB - 3 * MAX) as u64,
        "only {reused} bytes taken in place"
    );
}

#[test]
fn an_append_takes_every_old_chunk_but_the_last_few() {
    let old = noise(40 * MIB, 8);
    let mut new = old.clone();
    new.extend(noise(1024, 9));
    let saved = assert_same_as_fresh(&old, &new, MAX);
    let reused = saved.reused;
    assert!(
        reused >= (40 * MIB - 2 * MAX) as u64,
        "only {reused} bytes taken in place"
    );
}

#[test]
fn a_changed_byte_right_after_each_old_cut_is_cut_again_as_a_fresh_pass_would() {
    let old = noise(24 * MIB, 11);
    let cuts = boundaries(&old);
    for &cut in cuts.iter().take(cuts.len() - 1) {
        for at in [cut - 1, cut, cut + 1] {
            let mut new = old.clone();
            new[at] ^= 1;
            assert_same_as_fresh(&old, &new, MAX);
        }
    }
}

#[test]
fn runs_of_one_byte_cut_at_the_maximum_are_taken_and_cut_again_alike() {
    let old = vec![0u8; 40 * MIB];
    let mut new = old.clone();
    new[17 * MIB] = 1;
    let saved = assert_same_as_fresh(&old, &new, MAX);
    let reused = saved.reused;
    assert!(
        reused > 0,
        "maximal chunks are taken without the byte after"
    );
    let mut longer = old.clone();
    longer.extend_from_slice(&[0u8; 12345]);
    assert_same_as_fresh(&old, &longer, MIB);
}

#[test]
fn a_previous_list_of_other_content_changes_nothing() {
    let new = noise(30 * MIB, 12);
    for previous in [
        PreviousChunks::new(fresh(&noise(30 * MIB, 20))),
        PreviousChunks::new(
            fresh(&new)
                .into_iter()
                .map(|c| Chunk {
                    hash: BlobHash([9; 32]),
                    len: c.len,
                })
                .collect(),
        ),
        PreviousChunks::new(vec![
            Chunk {
                hash: BlobHash([1; 32]),
                len: 1,
            };
            1000
        ]),
    ] {
        let got = chunk(&new, previous, MAX);
        assert!(got.chunks == fresh(&new));
        assert_eq!(got.reused, 0);
    }
}

#[test]
fn the_same_content_again_is_taken_whole_but_its_last_chunk() {
    let data = noise(32 * MIB, 14);
    let saved = assert_same_as_fresh(&data, &data, MAX);
    let reused = saved.reused;
    assert!(
        reused >= (32 * MIB - MAX) as u64,
        "only {reused} bytes taken in place"
    );
}
