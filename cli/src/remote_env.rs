//! What the remote commands take from the environment and the command line: S3
//! credentials, region and endpoint (the standard `AWS_*` variables), whether
//! plain http may leave this machine (`TL_REMOTE_ALLOW_HTTP=1`), identity files,
//! and a scratch directory for fetch and deep verify.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tl_index::remote::backend::{HttpPolicy, S3Settings};
use tl_index::remote::crypt::Identities;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The S3 settings: `--endpoint` (or the remote's own) before
/// `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL`.
pub fn s3_settings(endpoint: Option<&str>) -> S3Settings {
    S3Settings {
        access_key_id: var("AWS_ACCESS_KEY_ID"),
        secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
        session_token: var("AWS_SESSION_TOKEN"),
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        endpoint: endpoint
            .map(String::from)
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL")),
        http: if var("TL_REMOTE_ALLOW_HTTP").as_deref() == Some("1") {
            HttpPolicy::Anywhere
        } else {
            HttpPolicy::LoopbackOnly
        },
    }
}

/// The identities of `--identity FILE`, if given.
pub fn identities(path: Option<&Path>) -> Result<Option<Identities>> {
    path.map(Identities::from_file)
        .transpose()
        .map_err(Into::into)
}

/// An empty private directory for a scratch store, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes one under the system's temporary directory.
    pub fn new() -> Result<Scratch> {
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let p = base.join(format!(
                "tl-remote-{}-{:016x}",
                std::process::id(),
                rand_u64()
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))
                        .with_context(|| format!("cannot make {} private", p.display()))?;
                    return Ok(Scratch(p));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", p.display())),
            }
        }
        anyhow::bail!("cannot create a scratch directory in {}", base.display())
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
