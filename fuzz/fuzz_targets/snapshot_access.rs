//! Fuzz target `snapshot_access`; the checks are in `index_common.rs`, shared with the corpus
//! replay test.
#![no_main]

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod index_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| index_common::snapshot_access(data));
