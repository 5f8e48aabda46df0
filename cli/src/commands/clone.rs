//! `tl clone URL DIR`: a project with the history a remote holds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tl_index::remote::backend::Backend;
use tl_index::remote::clone::{clone, CloneOptions};
use tl_index::remote::url::RemoteUrl;

use crate::output::bytes as show_bytes;
use crate::remote_env;

/// How long a clone may take in all (each request has its own timeouts too).
pub const TRANSFER_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Make DIR a project holding the history a remote holds, with the tree of the
/// newest checkpoint (or the one at --at) written out.
///
/// Every segment is checked against the remote's manifest before it is used,
/// the wal checks every frame as the store opens, every cache is rebuilt from
/// the log, and the tree is written as `tl replay` writes it (the remote's
/// bytes are untrusted). DIR must be new or empty. The clone's `tl log` lists
/// the same checkpoint ids.
#[derive(clap::Args, Debug)]
#[command(after_help = concat!(
    "Example:\n  tl clone file:///media/usb/proj ~/proj\n  \
     AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... tl clone s3://bkt/proj proj --identity key.txt\n  \
     tl clone s3://bkt/proj proj --at yesterday --endpoint http://127.0.0.1:9000\n"
))]
pub struct CloneArgs {
    /// The remote: s3://BUCKET/PREFIX or file:///PATH.
    url: String,
    /// The new project's directory (new or empty).
    #[arg(value_name = "DIR")]
    directory: PathBuf,
    #[arg(long, value_name = "T", help = time_help!("The checkpoint whose tree is written (default: the newest)."))]
    at: Option<String>,
    /// The age identity file (age-keygen's) of an encrypted remote.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The S3 endpoint (else AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Print what was cloned as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// `tl clone URL DIR [--at T] [--identity FILE] [--endpoint URL]`.
pub fn cmd_clone(cwd: &Path, args: CloneArgs) -> Result<()> {
    let url = RemoteUrl::parse(&args.url)?;
    let ids = remote_env::identities(args.identity.as_deref())?;
    let s3 = remote_env::s3_settings(args.endpoint.as_deref());
    let backend = Backend::open(&url, &s3, TRANSFER_LIMIT)?;
    let dir = cwd.join(&args.directory);
    let opts = CloneOptions {
        at: args.at.clone(),
        identities: ids.as_ref(),
    };
    let r = clone(&backend, &dir, &opts)
        .with_context(|| format!("cannot clone {url} into {}", dir.display()))?;
    if args.json {
        println!(
            "{}",
            json!({
                "root": r.root.display().to_string(),
                "url": url.to_string(),
                "generation": r.generation,
                "segments": r.segments,
                "bytes": r.bytes,
                "checkpoints": r.checkpoints,
                "checkpoint": r.materialized,
                "written": r.written.written.len(),
            })
        );
        return Ok(());
    }
    println!(
        "cloned {url} into {}: {} checkpoint(s) in {} segment(s), {} downloaded",
        r.root.display(),
        r.checkpoints,
        r.segments,
        show_bytes(r.bytes)
    );
    match &r.materialized {
        Some(id) => println!(
            "wrote the tree of checkpoint {id} ({} file(s){})",
            r.written.written.len(),
            if r.written.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped for their names", r.written.skipped.len())
            }
        ),
        None => println!("the history holds no checkpoint yet: no tree written"),
    }
    Ok(())
}
