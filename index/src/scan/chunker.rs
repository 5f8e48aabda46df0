//! Content-defined cut points over a stream (`index/CHUNKS.md`): FastCDC 2020
//! with the parameters of [`ChunkParams`], cutting exactly where the `fastcdc`
//! crate's own chunkers cut, over a reader, with one buffer of at most two
//! maximal chunks (less for a smaller source). Chunks are handed out as slices
//! of that buffer, never copied.

use std::io::{self, Read};

use fastcdc::v2020::{cut, logarithm2, Normalization, MASKS};

use crate::record::ChunkParams;

/// Cuts what a reader yields into chunks.
pub struct Chunker<R> {
    source: R,
    buf: Vec<u8>,
    /// The unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    min: usize,
    avg: usize,
    max: usize,
    masks: Masks,
}

/// The masks FastCDC derives from the average size (normalization level 1, as
/// the crate's `FastCDC::new` and `StreamCDC::new` use).
#[derive(Clone, Copy)]
struct Masks {
    small: u64,
    large: u64,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `source`, of about `size_hint` bytes, cutting by
    /// `params`. The buffer is two maximal chunks, or the hint and a byte when
    /// that is less (a 2 MiB file is not given 8 MiB): the cut points are the
    /// same whenever the source holds no more than the hint.
    pub fn new(source: R, params: ChunkParams, size_hint: u64) -> Chunker<R> {
        let bits = logarithm2(params.avg_size());
        let level = Normalization::Level1.bits();
        let max = params.max_size() as usize;
        let len = usize::try_from(size_hint.saturating_add(1))
            .unwrap_or(usize::MAX)
            .clamp(64 * 1024, 2 * max);
        Chunker {
            source,
            buf: vec![0; len],
            start: 0,
            end: 0,
            eof: false,
            min: params.min_size() as usize,
            avg: params.avg_size() as usize,
            max,
            masks: Masks {
                small: MASKS[(bits + level) as usize],
                large: MASKS[(bits - level) as usize],
            },
        }
    }

    /// The next chunk, `None` at the end of the source. Reads until a maximal
    /// chunk's worth of bytes (or the rest of the source) is buffered, so the cut
    /// point is the one FastCDC finds over the whole content.
    pub fn next_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        if self.end - self.start < self.max && !self.eof {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
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
        }
        if self.start == self.end {
            return Ok(None);
        }
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
        let chunk = &self.buf[self.start..self.start + n];
        self.start += n;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CHUNK_PARAMS_V1;
    use proptest::prelude::*;

    /// Pseudo-random bytes (xorshift), so cut points fall where content decides.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
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
        let mut c = Chunker::new(Trickle(data, read_size), CHUNK_PARAMS_V1, hint(data));
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk().unwrap() {
            out.push(chunk.len());
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
