//! What the remote tests stand on: a real S3-compatible server (moto's) on
//! 127.0.0.1 with raw access to its objects, a fault-injecting proxy to put in
//! front of it, and the small HTTP client both use.
//!
//! Each test file uses the part it needs, so some items are unused in any one
//! build of a subset: dead-code warnings are off for these helpers only.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod http;
pub mod project;
pub mod s3;
pub mod serve;
pub mod webdriver;
