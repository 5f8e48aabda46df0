//! `tl-wal`: the checksummed, segmented write-ahead log.
