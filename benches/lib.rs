//! Shared helpers for the tl benchmarks (see `BENCHMARKS.md`).
