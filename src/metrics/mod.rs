//! Metrics: the in-memory registry, the SPEC §4 series, the sink that feeds them from the
//! engine's events, system sampling, snapshots (`metrics.json`, `metrics.jsonl`), the
//! Prometheus text exposition, and delivery (Pushgateway push, node_exporter textfile).
//!
//! Guarantees: hot-path updates are atomics (no lock across an await, no I/O on the engine's
//! thread); per-node series are flat rows indexed by node, not labelled map entries; every
//! snapshot is one JSON line, streamed to disk rather than built in memory; the exposition passes `promtool check metrics`
//! and ends with a newline; a push never waits longer than its timeout.

mod exposition;
mod registry;
mod series;
mod snapshot;
pub mod system;
pub mod tool;

use std::path::Path;

pub use exposition::render;
pub use registry::{
    Counter, CounterRows, CounterVec, DURATION_BUCKETS, Desc, Gauge, GaugeVec, Histogram,
    HistogramRows, HistogramVec, MAX_LABELS, Registry, RowLabels,
};
pub use series::{NODE_FINAL_STATUSES, SecflowMetrics};
pub use snapshot::{
    Bucket, LabelPairs, METRICS_SCHEMA_VERSION, MetricKind, MetricsSnapshot, SecflowSummary,
    Series, SeriesView, SnapshotHead, estimate_quantile,
};

/// The final snapshot, in the run directory.
pub const METRICS_FILE: &str = "metrics.json";
/// Periodic snapshots, one JSON line each, in the run directory.
pub const METRICS_JSONL_FILE: &str = "metrics.jsonl";

/// Errors reading a run's metrics back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a metrics snapshot: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has no complete snapshot line")]
    Empty { path: String },
}

/// The run's metrics: `metrics.json`, else (a run that never finished) the complete lines of
/// `metrics.jsonl` folded in order.
pub fn load_snapshot(run_dir: &Path) -> Result<MetricsSnapshot, LoadError> {
    use crate::store::jsonl::{JsonlError, JsonlReader};
    let final_path = run_dir.join(METRICS_FILE);
    let shown = |p: &Path| p.display().to_string();
    match crate::store::open::read_regular(&final_path) {
        Ok(text) => {
            return serde_json::from_slice(text.trim_ascii()).map_err(|source| LoadError::Parse {
                path: shown(&final_path),
                source,
            });
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(LoadError::Read {
                path: shown(&final_path),
                source: e,
            });
        }
        Err(_) => {}
    }
    let jsonl = run_dir.join(METRICS_JSONL_FILE);
    // Fold the lines in order (periodic lines after the first are partial), streamed with
    // the one JSON-lines reader: a torn last line (crash mid-write) and unreadable lines are
    // skipped.
    let read_error = |source| LoadError::Read {
        path: shown(&jsonl),
        source,
    };
    let reader = JsonlReader::<MetricsSnapshot, _>::open(&jsonl).map_err(read_error)?;
    let mut folded: Option<MetricsSnapshot> = None;
    for snap in reader {
        let snap = match snap {
            Ok(snap) => snap,
            Err(JsonlError::BadLine { .. }) => continue,
            Err(JsonlError::Io(e)) => return Err(read_error(e)),
        };
        match folded.as_mut() {
            Some(f) => f.merge(snap),
            None => folded = Some(snap),
        }
    }
    folded.ok_or(LoadError::Empty {
        path: shown(&jsonl),
    })
}

pub use crate::store::layout::write_atomic;
