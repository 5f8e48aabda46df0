//! Remotes: the log's sealed segments shipped to S3-compatible object storage or a
//! mounted directory, optionally age-encrypted, and a store cloned back from them.
//!
//! What ships: every sealed segment of `.tl/wal/` as one immutable object (named by
//! its base LSN and its random salt, so a GC's rewritten log never collides with the
//! old one), written with `PutMode::Create` (`If-None-Match: *`), big ones by
//! multipart upload, then a small manifest naming them all, as a new immutable
//! object per generation (`manifest/00000000000000000042`). A push never LISTs: what
//! the remote holds is kept in `.tl/remotes/NAME/shipped`. A clone LISTs the
//! manifests once and takes the newest. The layout is versioned in the object
//! prefix (`tl-remote-v1/`) and inside the manifest (magic and version).
//!
//! The API is blocking: each operation runs on a small tokio runtime built here,
//! bounded by a deadline. Nothing here prints or reads the environment: the
//! caller passes credentials and endpoints ([`backend::S3Settings`]).

pub mod backend;
pub mod clone;
pub mod config;
pub mod crypt;
pub mod error;
pub mod fetch;
pub mod layout;
pub mod local;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod shipped;
pub mod url;
pub mod verify;

pub use error::RemoteError;

/// A result with a [`RemoteError`].
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
