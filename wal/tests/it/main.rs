//! Integration tests of `tl-wal`: behaviour through the public API, on the real
//! file system and on the crash-simulating `MemStorage`. The reliability tests are
//! numbered as in RELIABILITY.md (T1 truncate, T2 sectors, T3 flips, T4 hostile,
//! T5 errors, T6 crash, T7 faults, T8 kill9).

mod alloc_meter;
mod append_batches;
mod basic;
mod common;
mod crash;
mod create;
mod errors;
mod faults;
mod flips;
mod hostile;
mod kill9;
mod open_sealed;
mod roundtrip;
mod seal_now;
mod sectors;
mod truncate;
