//! `tl serve`: a local HTTP server over the history, for looking rather than
//! reading: a JSON API under `/api/` (described by `/api/openapi.json`) and a
//! page at `/` to scrub through time. It reads the store the way `tl log` does
//! (read-only, no lock, beside a running daemon) and never writes, unless
//! `--allow-restore`, and then only by running `tl restore` as a child.
//!
//! Files: `auth` (token, cookie, Host check), `state` (the store, re-opened
//! when the log grows), `api` and `api_diff` (the JSON routes), `events` (SSE),
//! `restore`, `page` (the embedded assets), `error` (4xx as JSON).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tl_index::store::find_root;

use crate::command_error::CommandError;

mod api;
mod api_diff;
mod auth;
mod error;
mod events;
mod page;
mod query;
mod restore;
mod state;

/// Serve the history on a local port: a JSON API and a page to scrub through time.
///
/// Prints one line, `Serving http://ADDR:PORT/?token=TOKEN`; open it in a browser
/// (the page keeps the token in a cookie) or send `Authorization: Bearer TOKEN`.
/// Read-only unless --allow-restore. SIGTERM or Ctrl-C stops it.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  tl serve\n  tl serve --port 8080\n  \
                        tl serve --allow-restore\n  \
                        curl -H \"Authorization: Bearer TOKEN\" http://127.0.0.1:PORT/api/checkpoints\n")]
pub struct ServeArgs {
    /// The TCP port to listen on (0, the default, picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,
    /// The address to listen on (default 127.0.0.1; the token is still needed).
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Let the page and POST /api/restore restore files (with a confirmation each time).
    #[arg(long)]
    allow_restore: bool,
}

/// Whether the server may write to the working directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Never (the default).
    Refused,
    /// `POST /api/restore` with a confirmation runs `tl restore`.
    RestoreAllowed,
}

/// Binds, prints the URL line and serves until SIGTERM or SIGINT.
pub fn cmd_serve(cwd: &Path, args: ServeArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let writes = if args.allow_restore {
        Writes::RestoreAllowed
    } else {
        Writes::Refused
    };
    let state = Arc::new(state::State::open(&root, writes)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the server's runtime")?;
    rt.block_on(async move {
        let want = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(want).await.map_err(|e| {
            CommandError::usage(format!("cannot listen on {want}: {e}"))
                .with_hint("pick another --port (0 picks a free one) or --bind address")
        })?;
        let bound = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let token = auth::Token::random()?;
        let app = auth::app(state.clone(), auth::Guard::new(bound, token.clone()));
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "Serving http://{bound}/?token={}", token.as_str())?;
            out.flush()?;
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                stop_signal().await;
                state.stop();
            })
            .await
            .context("the server stopped on an error")?;
        Ok(())
    })
}

/// Resolves on the first SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without handlers the default action stops the process anyway.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
