//! Integration tests of `tl-index`: the store on real temporary directories.

mod crash;
mod export_git;
mod fsck;
mod private;
mod restore;
mod store;
mod v1_store;
