//! `run-workflow --metrics-listen ADDR`: the running run's `/metrics` (its SPEC §4 series)
//! and `/healthz`, for the run's lifetime.
//!
//! Off the engine's critical path: the server has a thread and a single-threaded tokio
//! runtime of its own, and a scrape reads the sink's registry the way the sampler thread
//! does for each `metrics.jsonl` line (atomic loads of the per-node rows the engine updates;
//! only the small per-plugin label maps are locked, briefly, while read). The
//! listener is bound before the run starts, so a busy port is an error before any node runs.

use std::net::SocketAddr;
use std::sync::Arc;

use super::http::{self, Response};
use crate::metrics::{MetricsSnapshot, Registry};

/// A bound `--metrics-listen` socket, not yet serving.
pub struct LiveListener {
    listener: std::net::TcpListener,
}

impl LiveListener {
    /// Binds `addr` (`HOST:PORT`).
    pub fn bind(addr: &str) -> Result<Self, String> {
        let addr: SocketAddr = super::parse_listen(addr)?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("--metrics-listen: cannot listen on {addr}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("--metrics-listen: {e}"))?;
        Ok(LiveListener { listener })
    }

    /// The address bound (with the port the system chose for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `registry` on a thread of its own until the process exits.
    pub fn serve(self, registry: Arc<Registry>, run_id: String, workflow: String) {
        let spawned = std::thread::Builder::new()
            .name("metrics-listen".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(self.listener) else {
                        return;
                    };
                    let handler =
                        move |req: http::Request| handle(&registry, &run_id, &workflow, &req);
                    let _ = http::serve(listener, Arc::new(handler), std::future::pending()).await;
                });
            });
        if let Err(e) = spawned {
            eprintln!("warning: --metrics-listen: cannot start its thread: {e}");
        }
    }
}

fn handle(registry: &Registry, run_id: &str, workflow: &str, req: &http::Request) -> Response {
    match req.path.as_str() {
        "/healthz" => Response::json(
            200,
            &serde_json::json!({ "status": "ok", "run_id": run_id }),
        ),
        "/metrics" => {
            let snapshot = MetricsSnapshot {
                schema_version: crate::metrics::METRICS_SCHEMA_VERSION,
                run_id: run_id.to_string(),
                workflow: workflow.to_string(),
                timestamp: String::new(),
                elapsed_ms: 0,
                is_final: false,
                partial: false,
                summary: None,
                series: registry.snapshot(),
            };
            Response::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                crate::metrics::render(&snapshot),
            )
        }
        _ => Response::error(404, "not found"),
    }
}
