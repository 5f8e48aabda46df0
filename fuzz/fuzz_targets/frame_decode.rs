//! Arbitrary bytes through every decoder of segment bytes: the segment header, the
//! frame header, and a full read (iteration, seeks, verify) of a segment made of
//! the bytes. The checks are in `common.rs`, shared with the corpus replay test.
#![no_main]

#[allow(dead_code)]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::frame_decode(data));
