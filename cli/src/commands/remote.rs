//! `tl remote add|list|rm`: the places `tl push` ships the history to.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use tl_index::layout::Layout;
use tl_index::remote::config::{self, RemoteSettings};
use tl_index::remote::crypt::Recipients;
use tl_index::remote::shipped;
use tl_index::remote::url::RemoteUrl;
use tl_index::store::find_root;
use tl_index::timespec::format_local;

/// Remotes: where `tl push` sends the history (S3-compatible storage or a
/// mounted disk), optionally encrypted.
///
/// URL is s3://BUCKET/PREFIX (credentials and region from AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_REGION; the endpoint from --endpoint or
/// AWS_ENDPOINT_URL; plain http only to this machine unless TL_REMOTE_ALLOW_HTTP=1)
/// or file:///PATH (a USB disk, a NAS mount).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl remote add usb file:///media/usb/proj\n  \
tl remote add s3 s3://my-bucket/proj --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n  \
tl remote list\n  tl push\n  tl clone s3://my-bucket/proj ~/proj --identity key.txt\n"
)]
pub struct RemoteArgs {
    #[command(subcommand)]
    action: RemoteAction,
}

/// `tl remote` actions.
#[derive(Subcommand, Debug)]
enum RemoteAction {
    /// Add a remote: `tl push` sends to it, and so does a running daemon
    /// (within push_interval_s of each capture) unless --no-auto.
    Add {
        /// Its name (letters, digits, '.', '_', '-').
        name: String,
        /// The remote: s3://BUCKET/PREFIX or file:///PATH.
        url: String,
        /// The S3 endpoint (for S3-compatible services: http://127.0.0.1:9000).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Encrypt everything sent to this age public key (age1..., from
        /// age-keygen); repeat for several. This machine needs no secret key:
        /// clone, fetch and deep verify take --identity.
        #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
        encrypt_to: Vec<String>,
        /// The daemon does not push to it by itself (only `tl push` does).
        #[arg(long)]
        no_auto: bool,
    },
    /// List the remotes, whether they are encrypted and what was pushed.
    List {
        /// Print the remotes as one JSON array (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Forget a remote (nothing on the remote is deleted).
    Rm {
        /// The remote's name (see `tl remote list`).
        name: String,
    },
}

/// `tl remote add|list|rm`.
pub fn cmd_remote(cwd: &Path, args: RemoteArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let layout = Layout::new(&root);
    match args.action {
        RemoteAction::Add {
            name,
            url,
            endpoint,
            encrypt_to,
            no_auto,
        } => {
            let mut s = RemoteSettings::new(&name, RemoteUrl::parse(&url)?);
            if !encrypt_to.is_empty() {
                Recipients::parse(&encrypt_to)?;
            }
            s.endpoint = endpoint;
            s.recipients = encrypt_to;
            s.auto = !no_auto;
            config::add(&layout, &s)?;
            println!(
                "added remote {name} ({}, {}); `tl push {name}` sends the history",
                s.url,
                encryption_text(&s)
            );
            Ok(())
        }
        RemoteAction::List { json } => list(&layout, json),
        RemoteAction::Rm { name } => {
            config::remove(&layout, &name)?;
            println!("removed remote {name} (what it holds is left as it is)");
            Ok(())
        }
    }
}

fn encryption_text(s: &RemoteSettings) -> String {
    match s.recipients.len() {
        0 => "plaintext: whoever can read it can read the history".to_string(),
        n => format!("encrypted to {n} age recipient(s)"),
    }
}

fn list(layout: &Layout, json: bool) -> Result<()> {
    let remotes = config::list(layout)?;
    let mut rows = Vec::new();
    for s in &remotes {
        let state = shipped::load(&layout.remote_shipped(&s.name))?;
        if json {
            rows.push(json!({
                "name": s.name,
                "url": s.url.to_string(),
                "endpoint": s.endpoint,
                "encrypted": s.encrypted(),
                "recipients": s.recipients,
                "auto": s.auto,
                "generation": state.as_ref().map(|st| st.generation),
                "segments": state.as_ref().map(|st| st.listed.len()),
                "pending_deletes": state.as_ref().map(|st| st.pending.len()),
            }));
            continue;
        }
        let pushed = match &state {
            Some(st) if st.generation > 0 => format!(
                "pushed: manifest generation {}, {} segment(s){}",
                st.generation,
                st.listed.len(),
                match st.pending.iter().map(|p| p.after_ns).min() {
                    Some(t) => format!(
                        ", {} superseded object(s) deleted after {}",
                        st.pending.len(),
                        format_local(t)
                    ),
                    None => String::new(),
                }
            ),
            _ => "never pushed".to_string(),
        };
        println!(
            "{}\t{}{}\n\t{}; {}; {}",
            s.name,
            s.url,
            s.endpoint
                .as_deref()
                .map(|e| format!(" (endpoint {e})"))
                .unwrap_or_default(),
            encryption_text(s),
            if s.auto {
                "the daemon pushes to it"
            } else {
                "pushed only by tl push (--no-auto)"
            },
            pushed
        );
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    } else if remotes.is_empty() {
        println!("no remotes; add one with `tl remote add NAME URL`");
    }
    Ok(())
}
