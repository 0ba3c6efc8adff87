//! `secflow serve` (SPEC §11): a long-running, read-only HTTP server over a state directory —
//! health, Prometheus `/metrics` (history series plus the live series of running runs), a JSON
//! API and a web UI — and the small live `/metrics` server of `run-workflow --metrics-listen`.
//!
//! One file per concern: [`http`] (the hyper glue: listener, connections, shutdown),
//! [`router`] (routes and bearer-token auth), [`history`] (the cached run history and its
//! series), [`api`] (`/api/runs…`), [`ui`] (the HTML pages), [`live`] (`--metrics-listen`).
//!
//! Guarantees: records are hostile input — a corrupt or half-written run directory is listed
//! as `corrupt`, never an error of the server; a run id outside `[A-Za-z0-9._-]` (or `.`/`..`)
//! is a 404 before any path is built; everything put into HTML is escaped; every file read
//! goes through [`crate::store::open`] (no FIFO or device blocks a request). Request handling
//! runs on tokio's blocking pool, so a slow disk never stalls the accept loop. TERM or INT stop
//! the server within 1 s with exit 0. TLS is left to a reverse proxy.

mod api;
mod history;
mod http;
pub mod live;
mod router;
mod ui;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::exit;

/// The default `--listen` of `serve` (Prometheus' exporter port range).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (HOST:PORT). A non-loopback address needs --token-file (or
    /// --insecure).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Where runs are recorded.
    #[arg(
        long,
        value_name = "DIR",
        env = "SECFLOW_HOME",
        default_value = ".secflow"
    )]
    pub state_dir: PathBuf,
    /// Require `Authorization: Bearer <token>` on every endpoint but /healthz; the token is
    /// the file's first line, trimmed.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow a non-loopback --listen without a token.
    #[arg(long)]
    pub insecure: bool,
}

/// Resolves `HOST:PORT` to one socket address.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("--listen `{text}`: {e} (expected HOST:PORT)"))?;
    addrs
        .next()
        .ok_or_else(|| format!("--listen `{text}`: resolves to no address"))
}

/// The token of `--token-file`: its first line, trimmed; an empty one is refused.
pub fn read_token(path: &Path) -> Result<String, String> {
    // Not a run file: a symlink is followed (secret volumes mount tokens as symlinks).
    let bytes = std::fs::canonicalize(path)
        .and_then(|real| crate::store::open::read_regular(&real))
        .map_err(|e| format!("cannot read --token-file {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(format!(
            "--token-file {}: the first line is empty (it holds the token)",
            path.display()
        ));
    }
    Ok(token)
}

/// `secflow serve`.
pub fn run(args: &ServeArgs) -> anyhow::Result<i32> {
    let addr = match parse_listen(&args.listen) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let token = match args.token_file.as_deref().map(read_token).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}", crate::escape::escape(&e));
            return Ok(exit::INVALID);
        }
    };
    if !addr.ip().is_loopback() && token.is_none() && !args.insecure {
        eprintln!(
            "error: refusing to listen on {addr} without a token: anyone who can reach it would \
             read every run's records; give --token-file FILE (or --insecure to accept that, \
             e.g. behind an authenticating proxy)"
        );
        return Ok(exit::INVALID);
    }
    crate::store::trust::warn(&args.state_dir);
    let state = Arc::new(router::State::new(args.state_dir.clone(), token));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    let listener = match runtime.block_on(tokio::net::TcpListener::bind(addr)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Ok(exit::INVALID);
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    eprintln!(
        "secflow serve: http://{local}/ over {}",
        crate::escape::escape(&args.state_dir.display().to_string())
    );
    let handler = move |req: http::Request| router::handle(&state, req);
    let result = runtime.block_on(http::serve(
        listener,
        Arc::new(handler),
        http::shutdown_signal(),
    ));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => Ok(exit::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::FAILURE)
        }
    }
}
