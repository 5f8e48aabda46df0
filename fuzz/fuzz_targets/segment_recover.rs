//! Arbitrary bytes as the last segment of a log, recovered by `Wal::open_storage`:
//! never panics, recovery is idempotent and keeps every complete batch written
//! before the damage. The checks are in `common.rs`, shared with the corpus replay
//! test.
#![no_main]

#[allow(dead_code)]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::segment_recover(data));
