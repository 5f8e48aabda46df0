//! End-to-end tests of the `tl` binary: every command a user types, on real
//! temporary directories, including the error cases.

mod commands;
mod daemon;
mod daemon_socket;
mod export_git;
mod fsck;
mod kill9;
mod newuser;
mod util;
