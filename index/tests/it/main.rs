//! Integration tests of `tl-index`: the store on real temporary directories.

mod chunks;
mod clock;
mod crash;
mod export_git;
mod export_refused;
mod fixture_store;
mod fsck;
mod gc;
mod gc_crash;
mod held_capture;
mod private;
mod reader_faults;
mod replay;
mod restore;
mod restore_guard;
mod restore_leftovers;
mod restore_names;
mod retention;
mod store;
mod support;
mod timelines;
mod v1_store;
mod v2_store;
mod v3_store;
mod v4_store;
mod v5_store;
