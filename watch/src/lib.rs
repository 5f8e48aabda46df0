//! `tl-watch`: raw platform watchers behind one `Backend` trait.
//!
//! This crate will own the inotify (Linux) and kqueue (macOS/BSD) backends, a
//! deterministic simulated backend for tests, recursive registration, coalescing
//! and debounce. It emits paths and reads no file content; it never writes the store.
//!
//! Not yet written: this crate is a placeholder until the live-capture issue lands.
