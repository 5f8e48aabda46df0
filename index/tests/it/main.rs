//! Integration tests of `tl-index`: the store on real temporary directories.

mod restore;
mod store;
