//! `tl verify --remote NAME [--deep]`: is what a remote holds whole?

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;
use tl_index::layout::Layout;
use tl_index::remote::backend::Backend;
use tl_index::remote::config;
use tl_index::remote::manifest::Manifest;
use tl_index::remote::pull;
use tl_index::remote::shipped;
use tl_index::remote::verify::{verify, Depth, VerifyReport};
use tl_index::remote::RemoteError;
use tl_index::store::find_root;

use crate::command_error::CommandError;
use crate::commands::clone::TRANSFER_LIMIT;
use crate::output::bytes as show_bytes;
use crate::remote_env;

/// Check a remote: every object its newest manifest names is there with the
/// right size (one HEAD each); with --deep, every object is downloaded,
/// decrypted and checked, and the log they make is checked as `tl fsck --deep`
/// checks a store (frames, commit chain, content). Exit 3 when something is
/// damaged or missing, as `tl fsck`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl verify --remote usb\n  tl verify --remote s3 --deep --identity key.txt\n"
)]
pub struct VerifyArgs {
    /// The remote (see `tl remote list`).
    #[arg(long, value_name = "NAME")]
    remote: String,
    /// Download and check every byte (an encrypted remote needs --identity).
    #[arg(long)]
    deep: bool,
    /// The age identity file (age-keygen's) of an encrypted remote.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// Print the report as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// `tl verify --remote NAME [--deep] [--identity FILE] [--json]`.
pub fn cmd_verify(cwd: &Path, args: VerifyArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let layout = Layout::new(&root);
    let remote = config::load(&layout, &args.remote)?;
    let ids = remote_env::identities(args.identity.as_deref())?;
    let s3 = remote_env::s3_settings(remote.endpoint.as_deref());
    let backend = Backend::open(&remote.url, &s3, TRANSFER_LIMIT)?;
    let depth = if args.deep { Depth::Deep } else { Depth::Quick };
    let mut note = None;
    let manifest = match pull::newest_manifest(&backend, ids.as_ref()) {
        Ok(m) => m,
        // Quick needs no content: without the identity, check what this store
        // shipped (its record of the last manifest) instead.
        Err(RemoteError::IdentityNeeded) if depth == Depth::Quick => {
            note = Some("the manifest is encrypted and no --identity was given: checked the objects this store's last push named");
            from_shipped(&layout, &args.remote)?
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot verify {} ({})", remote.name, remote.url))
        }
    };
    let scratch = remote_env::Scratch::new()?;
    let r = verify(&backend, &manifest, depth, ids.as_ref(), scratch.path())
        .with_context(|| format!("cannot verify {} ({})", remote.name, remote.url))?;
    if args.json {
        println!("{}", report_json(&remote.name, &r, args.deep));
    } else {
        if let Some(n) = note {
            println!("note: {n}");
        }
        print_report(&remote.name, &remote.url.to_string(), &r, args.deep);
    }
    if !r.problems.is_empty() {
        return Err(CommandError::damage(format!(
            "{} damaged or missing object(s) on {}",
            r.problems.len(),
            remote.name
        ))
        .with_hint(format!(
            "`tl push {}` from a store that still holds the history uploads missing segments again; \
             damaged objects must be deleted on the remote first",
            remote.name
        ))
        .into());
    }
    Ok(())
}

/// The manifest this store's last push wrote, from its shipped state.
fn from_shipped(layout: &Layout, name: &str) -> Result<Manifest> {
    let st = shipped::load(&layout.remote_shipped(name))?
        .filter(|s| s.generation > 0)
        .ok_or_else(|| {
            CommandError::usage("the remote is encrypted and this store never pushed to it")
                .with_hint("pass --identity FILE to read its manifest")
        })?;
    let segments = st
        .listed
        .iter()
        .filter_map(|o| st.segments.iter().find(|e| &e.object() == o).cloned())
        .collect();
    Ok(Manifest {
        generation: st.generation,
        repo_id: st.repo_id,
        created_ns: 0,
        encrypted: true,
        segments,
    })
}

fn print_report(name: &str, url: &str, r: &VerifyReport, deep: bool) {
    println!(
        "{name} ({url}): manifest generation {}, {} segment(s), {}{}",
        r.generation,
        r.segments,
        show_bytes(r.bytes),
        match r.checkpoints {
            Some(n) if deep => format!(", {n} checkpoint(s) in the log"),
            _ => String::new(),
        }
    );
    for p in &r.problems {
        println!("  {}: {}", p.object, p.why);
    }
    if r.problems.is_empty() {
        println!(
            "OK: {}",
            if deep {
                "every object downloaded, checked and the log they make is whole"
            } else {
                "every object is there with its size (--deep checks every byte)"
            }
        );
    }
}

fn report_json(name: &str, r: &VerifyReport, deep: bool) -> serde_json::Value {
    json!({
        "remote": name,
        "deep": deep,
        "generation": r.generation,
        "segments": r.segments,
        "bytes": r.bytes,
        "checkpoints": r.checkpoints,
        "ok": r.problems.is_empty(),
        "problems": r.problems.iter().map(|p| json!({"object": p.object, "what": p.why})).collect::<Vec<_>>(),
    })
}
