//! Integration tests of `tl-wal`: behaviour through the public API, on the real
//! file system and on the crash-simulating `MemStorage`.

mod basic;
