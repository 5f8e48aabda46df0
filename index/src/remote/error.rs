//! What can go wrong with a remote: what failed and on which object; the CLI adds
//! the next step.

use std::path::PathBuf;

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The remote URL is not `s3://bucket/prefix` or `file:///path`.
    #[error(
        "{url:?} is not a remote URL ({why}); use s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH"
    )]
    BadUrl {
        /// As given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A remote name that is not `[A-Za-z0-9._-]+`.
    #[error("{name:?} is not a remote name (letters, digits, '.', '_' and '-', not starting with '.' or '-')")]
    BadName {
        /// As given.
        name: String,
    },
    /// `tl remote add` of a name already used.
    #[error("a remote named {name} exists already")]
    Exists {
        /// The name.
        name: String,
    },
    /// No remote of that name.
    #[error("no remote named {name}")]
    NoSuchRemote {
        /// The name.
        name: String,
    },
    /// Plain http to a host that is not this machine.
    #[error("plain http to {endpoint} would send the history unprotected over the network")]
    InsecureEndpoint {
        /// The endpoint.
        endpoint: String,
    },
    /// An `--encrypt-to` recipient that is not an age X25519 public key.
    #[error("{recipient:?} is not an age recipient (age1...): {why}")]
    BadRecipient {
        /// As given.
        recipient: String,
        /// The parser's words.
        why: String,
    },
    /// An identity file that cannot be read or holds no usable identity.
    #[error("cannot use the identity file {path}: {why}")]
    BadIdentity {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The remote is encrypted and no identity was given.
    #[error("the remote is encrypted and no identity was given")]
    IdentityNeeded,
    /// Decryption failed (wrong identity, or damaged ciphertext).
    #[error("cannot decrypt {object}: {why}")]
    Decrypt {
        /// The object.
        object: String,
        /// The age crate's words.
        why: String,
    },
    /// Encryption failed.
    #[error("cannot encrypt {object}: {why}")]
    Encrypt {
        /// The object.
        object: String,
        /// The age crate's words.
        why: String,
    },
    /// A request to the remote failed.
    #[error("{op} {object} on {remote} failed: {source}")]
    Store {
        /// What was asked (PUT, GET, HEAD, LIST, DELETE).
        op: &'static str,
        /// The object (or prefix).
        object: String,
        /// The remote, as its URL.
        remote: String,
        /// object_store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// The operation's deadline passed.
    #[error("{op} {object} on {remote} did not finish within the {limit_s} s limit (the server is unreachable, hung or too slow)")]
    Timeout {
        /// What was being asked.
        op: &'static str,
        /// The object.
        object: String,
        /// The remote.
        remote: String,
        /// The whole operation's limit, seconds.
        limit_s: u64,
    },
    /// An object is missing from the remote.
    #[error("{object} is missing from {remote}")]
    Missing {
        /// The object.
        object: String,
        /// The remote.
        remote: String,
    },
    /// The remote holds no manifest: nothing was pushed there.
    #[error("{remote} holds no tl history (no manifest under {prefix})")]
    NoManifest {
        /// The remote.
        remote: String,
        /// Where manifests were looked for.
        prefix: String,
    },
    /// An object's bytes are not what the manifest says.
    #[error("{object} is damaged: {why}")]
    Damaged {
        /// The object.
        object: String,
        /// What does not match.
        why: String,
    },
    /// A manifest that does not parse.
    #[error("manifest {object} is not valid: {why}")]
    BadManifest {
        /// The object.
        object: String,
        /// What is wrong.
        why: String,
    },
    /// A manifest or state file of a newer format.
    #[error("{object} has format version {found}; this tl reads version {supported}")]
    UnsupportedVersion {
        /// The object or file.
        object: String,
        /// Found.
        found: u32,
        /// Supported.
        supported: u32,
    },
    /// The remote holds another project's history.
    #[error("{remote} holds the history of another project (repository id {theirs}, this one is {ours})")]
    OtherProject {
        /// The remote.
        remote: String,
        /// The remote's repository id, hex.
        theirs: String,
        /// Ours, hex.
        ours: String,
    },
    /// The local log changed under the push (a GC swapped it).
    #[error("segment {segment} changed while it was being pushed (a GC rewrote the log)")]
    LogChanged {
        /// The segment file.
        segment: String,
    },
    /// The clone's directory is not empty.
    #[error("{dir} is not empty")]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file under `.tl/remotes/` or a local segment could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A local settings or state file that does not parse.
    #[error("{path} is not valid: {why}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// `tl fetch` of a path the checkpoint does not hold as a file.
    #[error("{path} is not a file in checkpoint {checkpoint}")]
    NotInTree {
        /// The path.
        path: String,
        /// The checkpoint's id.
        checkpoint: String,
    },
    /// Opening, reading or writing the local store failed.
    #[error(transparent)]
    Local(#[from] crate::store::StoreError),
    /// Writing the tree failed.
    #[error(transparent)]
    Restore(#[from] crate::restore::RestoreError),
}

/// `|e| RemoteError::Io { path, source: e }`.
pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}
