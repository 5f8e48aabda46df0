//! Integration tests of `tl-index`: the store on real temporary directories.

mod crash;
mod fsck;
mod restore;
mod store;
