//! Metrics tests, one binary: registry and quantiles, the sink's snapshots and files, the
//! Prometheus exposition checked by the real `promtool`, `secflow metrics` on a recorded run,
//! push to a real Pushgateway, and the HTTP client's deadlines.

#[path = "../support/mod.rs"]
pub mod support;

mod cli;
mod common;
mod deploy;
mod exposition;
mod http;
mod memory;
mod metrics_run;
mod prometheus;
mod push;
mod registry;
mod serve;
mod tools;
