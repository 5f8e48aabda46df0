//! Integration tests of `tl-index`: the store on real temporary directories.

mod export_git;
mod restore;
mod store;
