//! `tl fetch URL PATH --at T`: one file from a remote, without cloning.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tl_index::remote::backend::Backend;
use tl_index::remote::fetch::fetch;
use tl_index::remote::url::RemoteUrl;
use tl_index::RepoPath;

use crate::commands::clone::TRANSFER_LIMIT;
use crate::remote_env;

/// Print one file's content at T from a remote, downloading only the segments
/// that time needs (those up to the last checkpoint at or before it).
///
/// PATH is the file's path in the project, from its root ("src/main.rs").
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl fetch s3://bkt/proj src/main.rs --at yesterday > main.rs\n  \
tl fetch file:///media/usb/proj notes.txt --at \"2026-11-22 14:05\" --identity key.txt\n"
)]
pub struct FetchArgs {
    /// The remote: s3://BUCKET/PREFIX or file:///PATH.
    url: String,
    /// The file's path from the project root.
    path: String,
    #[arg(long, value_name = "T", default_value = "now", help = time_help!("The time whose content is printed (default: now)."))]
    at: String,
    /// The age identity file (age-keygen's) of an encrypted remote.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The S3 endpoint (else AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

/// `tl fetch URL PATH --at T [--identity FILE] [--endpoint URL]`.
pub fn cmd_fetch(_cwd: &Path, args: FetchArgs) -> Result<()> {
    let url = RemoteUrl::parse(&args.url)?;
    let ids = remote_env::identities(args.identity.as_deref())?;
    let s3 = remote_env::s3_settings(args.endpoint.as_deref());
    let backend = Backend::open(&url, &s3, TRANSFER_LIMIT)?;
    let path = RepoPath::from_bytes(args.path.trim_start_matches("./").trim_end_matches('/'));
    let scratch = remote_env::Scratch::new()?;
    let mut out = std::io::stdout().lock();
    let r = fetch(
        &backend,
        &path,
        &args.at,
        ids.as_ref(),
        scratch.path(),
        &mut out,
    )
    .with_context(|| format!("cannot fetch {} at {} from {url}", args.path, args.at))?;
    out.flush()?;
    eprintln!(
        "tl: {} from checkpoint {} ({} of {} segment(s) downloaded)",
        args.path, r.checkpoint, r.segments, r.segments_total
    );
    Ok(())
}
