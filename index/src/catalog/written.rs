//! Folding what this writer just appended from the records it still holds, instead
//! of reading them back from the log: a first capture wrote tens of megabytes of
//! content and would otherwise read and check every byte again.
//!
//! The fold is the same one ([`Fold`]): each record goes through
//! [`Fold::fold_record`] at the LSN the log gave it, and each batch ends with
//! [`Fold::fold_batch_end`] at its end, exactly as [`fold_records`] would do from
//! the log. What is given up is only the re-check of bytes this process encoded a
//! moment ago; the log stays the truth for every other reader (the next open folds
//! from it, and `fsck` checks it), and tests compare both folds.
//!
//! [`fold_records`]: super::fold_records

use tl_wal::{encoded_len, Appended, Lsn};

use super::Fold;
use crate::record::{Codec, DecodeError, Record};
use crate::types::BlobHash;

/// A content record as appended, its stored bytes let go: what its fold needs
/// (hash, lengths, chunk list) and the length of its encoding, which places the
/// next record. A Blob is kept in 64 bytes, whatever its size was.
#[derive(Clone, Debug)]
pub struct ContentRecord {
    kept: Kept,
    encoded_len: usize,
}

/// What a [`ContentRecord`] keeps of its record.
#[derive(Clone, Debug)]
enum Kept {
    /// A Blob's fields but its data.
    Blob {
        hash: BlobHash,
        raw_len: u64,
        offset: u64,
        codec: Codec,
    },
    /// A Chunked list, whole (it holds no content, only the chunks' hashes).
    Chunked(Box<Record>),
}

impl ContentRecord {
    /// `record` as appended, `encoded_len` bytes long; None unless it is a Blob or
    /// a Chunked list: only those may be folded without their bytes, since no
    /// Commit is in their batch to hash them into its chain.
    pub fn of(record: Record, encoded_len: usize) -> Option<ContentRecord> {
        let kept = match record {
            Record::Blob {
                hash,
                raw_len,
                offset,
                codec,
                data: _,
            } => Kept::Blob {
                hash,
                raw_len,
                offset,
                codec,
            },
            chunked @ Record::Chunked { .. } => Kept::Chunked(Box::new(chunked)),
            _ => return None,
        };
        Some(ContentRecord { kept, encoded_len })
    }

    /// The record to fold (a Blob without its data).
    fn record(&self) -> Record {
        match &self.kept {
            Kept::Blob {
                hash,
                raw_len,
                offset,
                codec,
            } => Record::Blob {
                hash: *hash,
                raw_len: *raw_len,
                offset: *offset,
                codec: *codec,
                data: Vec::new(),
            },
            Kept::Chunked(record) => (**record).clone(),
        }
    }
}

/// The records of one appended batch.
#[derive(Clone, Copy, Debug)]
pub enum WrittenRecords<'a> {
    /// Content records only (the batches a capture sends while it scans).
    Content(&'a [ContentRecord]),
    /// Every record's bytes as appended (decoded again here: a Commit's chain is
    /// checked over them as the log's fold does).
    Encoded(&'a [Vec<u8>]),
}

/// One batch this writer appended: where the log put it, and its records.
#[derive(Clone, Copy, Debug)]
pub struct WrittenBatch<'a> {
    /// The LSNs the append returned.
    pub at: Appended,
    /// The batch's records, in order.
    pub records: WrittenRecords<'a>,
}

/// Why [`fold_written`] folded nothing: the caller folds from the log instead.
#[derive(Debug, thiserror::Error)]
pub enum NotFoldable {
    /// The batches do not start where the catalog ends, or leave a hole.
    #[error("the appended batches start at {found}, not at {expected} where the fold is")]
    NotContiguous {
        /// Where the fold was (or the previous batch ended).
        expected: Lsn,
        /// Where the batch starts.
        found: Lsn,
    },
    /// A batch's records do not add up to the LSNs the log gave it.
    #[error("the batch at {lsn} holds {records} bytes of frames, the log gave it {logged}")]
    LengthMismatch {
        /// The batch's first LSN.
        lsn: Lsn,
        /// Bytes its records occupy in frames.
        records: u64,
        /// Bytes between its LSNs.
        logged: u64,
    },
    /// A batch holds no record.
    #[error("the batch at {lsn} holds no record")]
    Empty {
        /// The batch's first LSN.
        lsn: Lsn,
    },
    /// A record this writer encoded does not decode.
    #[error("the record at {lsn} does not decode: {source}")]
    Undecodable {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        source: DecodeError,
    },
}

/// Folds `batches`, which this writer appended one after the other from where
/// `catalog` is folded to, as [`fold_records`](super::fold_records) would fold them
/// from the log. Everything is checked before anything is folded (contiguity,
/// lengths, decoding), so on an error the catalog is unchanged and the caller
/// folds from the log. The caller marks the log's end with [`Fold::fold_log_end`].
pub fn fold_written<C: Fold + ?Sized>(
    catalog: &mut C,
    batches: &[WrittenBatch<'_>],
) -> Result<(), NotFoldable> {
    let mut expected = catalog.through();
    for batch in batches {
        let at = batch.at;
        if at.lsn != expected {
            return Err(NotFoldable::NotContiguous {
                expected,
                found: at.lsn,
            });
        }
        let (count, records): (usize, u64) = match batch.records {
            WrittenRecords::Content(rs) => (
                rs.len(),
                rs.iter().map(|r| encoded_len(r.encoded_len)).sum(),
            ),
            WrittenRecords::Encoded(rs) => {
                (rs.len(), rs.iter().map(|r| encoded_len(r.len())).sum())
            }
        };
        if count == 0 {
            return Err(NotFoldable::Empty { lsn: at.lsn });
        }
        let logged = at.end_lsn.checked_bytes_since(at.lsn).unwrap_or(u64::MAX);
        if records != logged {
            return Err(NotFoldable::LengthMismatch {
                lsn: at.lsn,
                records,
                logged,
            });
        }
        if let WrittenRecords::Encoded(rs) = batch.records {
            // Checked here, decoded again one by one below: holding the decoded
            // batch (its content copied once more) would raise the peak.
            let mut lsn = at.lsn;
            for bytes in rs {
                Record::decode(bytes).map_err(|source| NotFoldable::Undecodable { lsn, source })?;
                lsn += encoded_len(bytes.len());
            }
        }
        expected = at.end_lsn;
    }
    for batch in batches {
        let mut lsn = batch.at.lsn;
        match batch.records {
            WrittenRecords::Content(rs) => {
                for (i, r) in rs.iter().enumerate() {
                    catalog.fold_record(lsn, i == 0, &[], r.record());
                    lsn += encoded_len(r.encoded_len);
                }
            }
            WrittenRecords::Encoded(rs) => {
                for (i, bytes) in rs.iter().enumerate() {
                    // Decoded above already: it decodes again.
                    if let Ok(record) = Record::decode(bytes) {
                        catalog.fold_record(lsn, i == 0, bytes, record);
                    }
                    lsn += encoded_len(bytes.len());
                }
            }
        }
        catalog.fold_batch_end(batch.at.end_lsn);
    }
    Ok(())
}
