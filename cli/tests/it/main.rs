//! End-to-end tests of the `tl` binary: every command a user types, on real
//! temporary directories, including the error cases.

mod batch_guard;
mod bigfile;
mod capture;
mod commands;
mod config;
mod daemon;
mod daemon_gc;
mod daemon_socket;
mod diff_show;
mod exit_codes;
mod export_git;
mod fault_proxy_modes;
mod fsck;
mod gc;
mod help;
mod kill9;
mod log;
mod moto_server;
mod newuser;
mod private;
mod remote;
mod remote_crypt;
mod remote_daemon;
mod remote_faults;
mod remote_s3;
mod restore;
mod runaway;
mod secrets;
mod security_export;
mod skipped;
mod support;
mod time_ids;
mod util;
mod wording;
