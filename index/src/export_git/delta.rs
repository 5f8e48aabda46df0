//! Git's delta encoding (`gitformat-pack(5)`, "Deltified representation"): a
//! target object as copies from a base object and inserted literal bytes.
//!
//! The encoder works as Git's `diff-delta.c` does, in its own code: the base is
//! indexed by a hash of each aligned 16-byte block; the target is scanned with a
//! rolling hash of its 16-byte window, and every block found in the base is checked
//! byte by byte, extended forward (up to one copy's 64 KiB) and backward over the
//! pending literal bytes. Matches shorter than a block are not looked for.
//!
//! Delta data: the base size and the result size (little-endian base-128 varints),
//! then operations: `0x80 | bits` copies (offset bytes flagged by bits 0-3, size
//! bytes by bits 4-6, a missing byte is zero), `1..=127` inserts that many literal
//! bytes; `0` is reserved.

/// Bytes per indexed block of the base (and per hashed window of the target).
const BLOCK: usize = 16;
/// Largest copy one operation makes (Git's encoder limit; its decoder takes more).
const MAX_COPY: usize = 0x10000;
/// Candidates tried per hash bucket, so repetitive data stays linear.
const CHAIN_LIMIT: usize = 64;
/// Largest literal run of one insert operation.
const MAX_INSERT: usize = 127;
/// Multiplier of the rolling polynomial hash.
const PRIME: u32 = 0x0100_0193;

/// `PRIME^(BLOCK-1)`, to take the outgoing byte off the rolling hash.
const fn top_power() -> u32 {
    let mut p = 1u32;
    let mut i = 1;
    while i < BLOCK {
        p = p.wrapping_mul(PRIME);
        i += 1;
    }
    p
}
const TOP: u32 = top_power();

fn window_hash(w: &[u8]) -> u32 {
    w[..BLOCK]
        .iter()
        .fold(0u32, |h, &b| h.wrapping_mul(PRIME).wrapping_add(b as u32))
}

fn roll(h: u32, out: u8, inp: u8) -> u32 {
    h.wrapping_sub((out as u32).wrapping_mul(TOP))
        .wrapping_mul(PRIME)
        .wrapping_add(inp as u32)
}

/// An index of a base object's blocks; build once, use for many targets.
pub struct DeltaIndex<'a> {
    base: &'a [u8],
    /// First block offset + 1 per bucket (0: empty).
    heads: Vec<u32>,
    /// Next block offset + 1 in the same bucket, per block.
    next: Vec<u32>,
    shift: u32,
}

impl<'a> DeltaIndex<'a> {
    /// Indexes `base`. `None` when it cannot be a base (offsets past 32 bits).
    pub fn new(base: &'a [u8]) -> Option<DeltaIndex<'a>> {
        if base.len() > u32::MAX as usize - 1 {
            return None;
        }
        let blocks = base.len() / BLOCK;
        let bits = (blocks.max(1).next_power_of_two().trailing_zeros()).max(4);
        let mut heads = vec![0u32; 1 << bits];
        let mut next = vec![0u32; blocks];
        let shift = 32 - bits;
        // Indexed from the end, so each bucket lists its lowest offsets first (as
        // Git's does): a copy of the start of the base is found at the start.
        for k in (0..blocks).rev() {
            let block = &base[k * BLOCK..(k + 1) * BLOCK];
            let bucket = bucket(window_hash(block), shift);
            next[k] = heads[bucket];
            heads[bucket] = (k * BLOCK) as u32 + 1;
        }
        Some(DeltaIndex {
            base,
            heads,
            next,
            shift,
        })
    }

    /// The base indexed.
    pub fn base(&self) -> &'a [u8] {
        self.base
    }

    /// The delta that makes `target` from the base, or `None` when it would be
    /// longer than `max_len` bytes (or the target is too large for the format).
    pub fn delta(&self, target: &[u8], max_len: usize) -> Option<Vec<u8>> {
        let base = self.base;
        let mut out = Vec::with_capacity(
            (target.len() / 8)
                .clamp(64, 8192)
                .min(max_len.saturating_add(1)),
        );
        varint(&mut out, base.len() as u64);
        varint(&mut out, target.len() as u64);
        let mut lit = 0; // start of the pending literal run
        let mut i = 0;
        // Where the last copy ended in the base: tried first, so a long common run
        // is followed whatever the index's buckets hold.
        let mut expect = usize::MAX;
        if target.len() >= BLOCK && base.len() >= BLOCK {
            let mut h = window_hash(&target[..BLOCK]);
            while i + BLOCK <= target.len() {
                let (at, len) = self.longest(h, &target[i..], expect);
                if len >= BLOCK {
                    // Take back pending literal bytes that the base also has.
                    let mut back = 0;
                    while back < i - lit && back < at && base[at - back - 1] == target[i - back - 1]
                    {
                        back += 1;
                    }
                    insert(&mut out, &target[lit..i - back]);
                    copy(&mut out, at - back, len + back);
                    expect = at + len;
                    i += len;
                    lit = i;
                    if i + BLOCK <= target.len() {
                        h = window_hash(&target[i..]);
                    }
                } else {
                    if i + BLOCK < target.len() {
                        h = roll(h, target[i], target[i + BLOCK]);
                    }
                    i += 1;
                }
                if out.len() > max_len {
                    return None;
                }
            }
        }
        insert(&mut out, &target[lit..]);
        (out.len() <= max_len).then_some(out)
    }

    /// The longest match (base offset, length ≤ one copy) of the window hashing to
    /// `h` at the start of `rest`, trying base offset `expect` first; length 0 when
    /// there is none.
    fn longest(&self, h: u32, rest: &[u8], expect: usize) -> (usize, usize) {
        let base = self.base;
        let mut best = (0, 0);
        let mut link = self.heads[bucket(h, self.shift)];
        let mut tried = 0;
        let mut first = (expect.saturating_add(BLOCK) <= base.len()).then_some(expect);
        while (link != 0 || first.is_some()) && tried < CHAIN_LIMIT {
            let at = match first.take() {
                Some(at) => at,
                None => {
                    let at = (link - 1) as usize;
                    link = self.next[at / BLOCK];
                    at
                }
            };
            tried += 1;
            if base[at..at + BLOCK] != rest[..BLOCK] {
                continue;
            }
            let limit = MAX_COPY.min(rest.len()).min(base.len() - at);
            let len = BLOCK
                + base[at + BLOCK..at + limit]
                    .iter()
                    .zip(&rest[BLOCK..limit])
                    .take_while(|(a, b)| a == b)
                    .count();
            if len > best.1 {
                best = (at, len);
                if len == limit {
                    break;
                }
            }
        }
        best
    }
}

fn bucket(h: u32, shift: u32) -> usize {
    (h.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn insert(out: &mut Vec<u8>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = bytes.len().min(MAX_INSERT);
        out.push(n as u8);
        out.extend_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
    }
}

fn copy(out: &mut Vec<u8>, mut offset: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(MAX_COPY);
        let at = out.len();
        out.push(0);
        let mut cmd = 0x80u8;
        for k in 0..4 {
            let b = (offset >> (8 * k)) as u8;
            if b != 0 {
                cmd |= 1 << k;
                out.push(b);
            }
        }
        for k in 0..3 {
            let b = (n >> (8 * k)) as u8;
            if b != 0 {
                cmd |= 0x10 << k;
                out.push(b);
            }
        }
        out[at] = cmd;
        offset += n;
        len -= n;
    }
}

/// Why delta data does not apply.
#[derive(Debug, PartialEq, Eq)]
pub struct BadDelta(pub &'static str);

fn read_varint(delta: &[u8], p: &mut usize) -> Result<u64, BadDelta> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = *delta.get(*p).ok_or(BadDelta("truncated size"))?;
        *p += 1;
        if shift > 63 {
            return Err(BadDelta("size too large"));
        }
        n |= ((b & 0x7f) as u64) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
}

/// Applies delta data to `base` (as Git's `patch-delta.c` does, checking every
/// size and range), for the pack's read-back check.
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, BadDelta> {
    let mut p = 0;
    if read_varint(delta, &mut p)? != base.len() as u64 {
        return Err(BadDelta("base size differs"));
    }
    let size = read_varint(delta, &mut p)?;
    if size > (isize::MAX as u64) {
        return Err(BadDelta("result too large"));
    }
    let size = size as usize;
    let mut out = Vec::with_capacity(size.min(1 << 30));
    while p < delta.len() {
        let cmd = delta[p];
        p += 1;
        if cmd & 0x80 != 0 {
            let mut field = |bits: u8, count: usize| -> Result<usize, BadDelta> {
                let mut v = 0usize;
                for k in 0..count {
                    if bits & (1 << k) != 0 {
                        let b = *delta.get(p).ok_or(BadDelta("truncated copy"))?;
                        p += 1;
                        v |= (b as usize) << (8 * k);
                    }
                }
                Ok(v)
            };
            let offset = field(cmd & 0x0f, 4)?;
            let mut len = field((cmd >> 4) & 0x07, 3)?;
            if len == 0 {
                len = 0x10000;
            }
            let end = offset
                .checked_add(len)
                .filter(|&e| e <= base.len())
                .ok_or(BadDelta("copy past the base"))?;
            if out.len() + len > size {
                return Err(BadDelta("result longer than announced"));
            }
            out.extend_from_slice(&base[offset..end]);
        } else if cmd != 0 {
            let n = cmd as usize;
            let bytes = delta.get(p..p + n).ok_or(BadDelta("truncated insert"))?;
            if out.len() + n > size {
                return Err(BadDelta("result longer than announced"));
            }
            out.extend_from_slice(bytes);
            p += n;
        } else {
            return Err(BadDelta("reserved operation 0"));
        }
    }
    if out.len() != size {
        return Err(BadDelta("result shorter than announced"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn delta(base: &[u8], target: &[u8]) -> Vec<u8> {
        DeltaIndex::new(base)
            .unwrap()
            .delta(target, usize::MAX)
            .unwrap()
    }

    /// Every operation's ranges, checked independently of `apply`.
    fn ops_in_bounds(base: &[u8], d: &[u8]) -> bool {
        let mut p = 0;
        for _ in 0..2 {
            while d[p] & 0x80 != 0 {
                p += 1;
            }
            p += 1;
        }
        while p < d.len() {
            let cmd = d[p];
            p += 1;
            if cmd & 0x80 != 0 {
                let (mut off, mut len) = (0usize, 0usize);
                for k in 0..4 {
                    if cmd & (1 << k) != 0 {
                        off |= (d[p] as usize) << (8 * k);
                        p += 1;
                    }
                }
                for k in 0..3 {
                    if cmd & (0x10 << k) != 0 {
                        len |= (d[p] as usize) << (8 * k);
                        p += 1;
                    }
                }
                if len == 0 || len > MAX_COPY || off + len > base.len() {
                    return false;
                }
            } else if cmd == 0 || cmd as usize > MAX_INSERT {
                return false;
            } else {
                p += cmd as usize;
            }
        }
        p == d.len()
    }

    #[test]
    fn an_edit_in_the_middle_is_two_copies_and_an_insert() {
        let base: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut target = base.clone();
        target[20_000..20_004].copy_from_slice(b"EDIT");
        let d = delta(&base, &target);
        assert!(d.len() < 40, "{} bytes", d.len());
        assert_eq!(apply(&base, &d).unwrap(), target);
        assert!(ops_in_bounds(&base, &d));
    }

    #[test]
    fn edge_cases_round_trip() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (vec![], vec![]),
            (vec![], big.clone()),
            (big.clone(), vec![]),
            (big.clone(), big.clone()),
            (vec![0; 100_000], vec![0; 200_003]),
            (b"short".to_vec(), b"shorter".to_vec()),
            (big[..150_000].to_vec(), big[100_000..].to_vec()),
        ];
        for (base, target) in cases {
            let d = delta(&base, &target);
            assert_eq!(apply(&base, &d).unwrap(), target);
            assert!(ops_in_bounds(&base, &d));
        }
        // Identical large inputs: a few copies of 64 KiB, not a literal.
        assert!(delta(&big, &big).len() < 60);
    }

    #[test]
    fn a_delta_over_the_limit_is_refused() {
        let base = vec![1u8; 1000];
        let target: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
        assert!(DeltaIndex::new(&base)
            .unwrap()
            .delta(&target, 100)
            .is_none());
    }

    #[test]
    fn bad_deltas_are_refused() {
        let base = b"0123456789abcdef0123".to_vec();
        let d = delta(&base, b"0123456789abcdef0123 and more");
        assert!(apply(b"other base", &d).is_err());
        assert!(apply(&base, &d[..d.len() - 1]).is_err());
        // A copy past the base's end.
        assert_eq!(
            apply(&base, &[20, 4, 0x91, 18, 4]),
            Err(BadDelta("copy past the base"))
        );
        assert_eq!(
            apply(&base, &[20, 1, 0]),
            Err(BadDelta("reserved operation 0"))
        );
    }

    proptest! {
        #[test]
        fn random_inputs_round_trip(
            base in proptest::collection::vec(any::<u8>(), 0..3000),
            target in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let d = delta(&base, &target);
            prop_assert_eq!(apply(&base, &d).unwrap(), target);
            prop_assert!(ops_in_bounds(&base, &d));
        }

        #[test]
        fn edited_inputs_round_trip_and_stay_small(
            base in proptest::collection::vec(0u8..4, 0..20_000),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..40,
                proptest::collection::vec(any::<u8>(), 0..40)), 0..8),
        ) {
            let mut target = base.clone();
            for (at, cut, ins) in &edits {
                let i = at.index(target.len() + 1);
                let end = (i + cut).min(target.len());
                target.splice(i..end, ins.iter().copied());
            }
            let d = delta(&base, &target);
            prop_assert_eq!(apply(&base, &d).unwrap(), target.clone());
            prop_assert!(ops_in_bounds(&base, &d));
            // Never much worse than all-literal.
            prop_assert!(d.len() <= target.len() + target.len() / MAX_INSERT + 22);
        }
    }
}
