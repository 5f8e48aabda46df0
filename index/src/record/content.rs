//! Blob parts: how many raw bytes a part may hold, and zstd in both directions with
//! the decoder bounded against hostile frames.

use std::io::Read;

use super::{Codec, DecodeError, BLOB_PART_MAX_RAW};

/// The most raw bytes the part of a blob starting at `offset` can hold: the rest of
/// the content, but no more than [`BLOB_PART_MAX_RAW`]. Pass it to
/// [`decompress_part`].
pub fn part_raw_len_max(raw_len: u64, offset: u64) -> u64 {
    raw_len.saturating_sub(offset).min(BLOB_PART_MAX_RAW as u64)
}

/// Compresses one raw part with zstd at `level` (1..=22; zstd clamps out-of-range
/// levels). Capture stores the result only when it is smaller than `raw`.
pub fn compress_zstd(raw: &[u8], level: i32) -> Vec<u8> {
    // In-memory compression with a valid level fails only if zstd cannot allocate
    // its context, which is as fatal as any other allocation failure.
    zstd::bulk::compress(raw, level).expect("zstd compression of an in-memory buffer failed")
}

/// zstd window limit for decoding: 2^23 = 8 MiB, twice [`BLOB_PART_MAX_RAW`]. zstd
/// shrinks the window to the input size when compressing a known-size buffer, so
/// nothing we write needs more, and a forged frame header cannot make the decoder
/// reserve zstd's default 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
const _: () = assert!(1usize << ZSTD_WINDOW_LOG_MAX >= BLOB_PART_MAX_RAW);

/// Decodes one blob part's `data` to its raw bytes, refusing to produce more than
/// `raw_len_max` bytes (use [`part_raw_len_max`]) or more than [`BLOB_PART_MAX_RAW`].
///
/// A zstd frame is untrusted: a few KiB can expand to gigabytes. This decodes as a
/// stream and stops one byte past the limit, so memory stays within the limit plus
/// zstd's bounded window, and the time spent is proportional to the limit, not to
/// what the frame claims. The result may be shorter than `raw_len_max`; the caller
/// checks the assembled content against the blob's hash.
pub fn decompress_part(
    codec: Codec,
    data: &[u8],
    raw_len_max: u64,
) -> Result<Vec<u8>, DecodeError> {
    let limit = raw_len_max.min(BLOB_PART_MAX_RAW as u64);
    match codec {
        Codec::None => {
            if data.len() as u64 > limit {
                return Err(DecodeError::PartTooLarge { limit });
            }
            Ok(data.to_vec())
        }
        Codec::Zstd => {
            let decompress_error = |e: std::io::Error| DecodeError::Decompress {
                reason: e.to_string(),
            };
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(data).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            let mut out = Vec::new();
            decoder
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(decompress_error)?;
            if out.len() as u64 > limit {
                return Err(DecodeError::PartTooLarge { limit });
            }
            Ok(out)
        }
    }
}
