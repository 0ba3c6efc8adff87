//! Delivery of a snapshot outside the run directory: a PUT to a Prometheus Pushgateway (the
//! standard route for batch jobs).
//!
//! A push is bounded by its timeout (default 5 s) whatever the gateway does, and failure is
//! one error value for the caller to print once; it never panics or retries. Grouping key:
//! `job=secflow`, `workflow=<name>` and, with [`PushGrouping::Run`], `run_id=<id>`. Label values
//! that are not URL-safe (spaces, `/`, anything outside `[A-Za-z0-9._~-]`) and empty values use
//! the Pushgateway's `<label>@base64/<URL-safe base64>` form.

use std::time::Duration;

use crate::exporters::http::{self, HttpError, Request};
use crate::metrics::{MetricsSnapshot, render};

/// The Pushgateway `job` label of every push.
pub const JOB: &str = "secflow";

/// Default bound on a push.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Which labels group a run's metrics on the gateway (`--push-grouping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushGrouping {
    /// `job=secflow, workflow=<name>`: each run replaces the previous run's metrics.
    #[default]
    Workflow,
    /// `job=secflow, workflow=<name>, run_id=<id>`: one group per run.
    Run,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("metrics push to {url} failed: {source}")]
    Http { url: String, source: HttpError },
    #[error("metrics push to {url} failed: the gateway answered {status}: {body}")]
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
}

/// The grouping-key path: `/metrics/job/secflow/workflow/<v>[/run_id/<id>]`.
pub fn push_path(workflow: &str, run_id: Option<&str>) -> String {
    let mut path = format!("/metrics/job/{JOB}");
    path.push_str(&segment("workflow", workflow));
    if let Some(id) = run_id {
        path.push_str(&segment("run_id", id));
    }
    path
}

fn segment(label: &str, value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    if safe {
        format!("/{label}/{value}")
    } else {
        format!("/{label}@base64/{}", base64_url(value.as_bytes()))
    }
}

/// URL-safe base64 (RFC 4648 §5) with padding; the empty string is `=` as the Pushgateway
/// documents.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if bytes.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// PUTs `snapshot` to the Pushgateway at `url` (e.g. `http://127.0.0.1:9091`), replacing the
/// group's metrics, within `timeout`. `run_id` is used with [`PushGrouping::Run`] only.
pub fn push(
    url: &str,
    snapshot: &MetricsSnapshot,
    workflow: &str,
    run_id: &str,
    grouping: PushGrouping,
    timeout: Duration,
) -> Result<(), PushError> {
    let run = (grouping == PushGrouping::Run).then_some(run_id);
    let full = format!("{}{}", url.trim_end_matches('/'), push_path(workflow, run));
    let body = render(snapshot);
    let response = http::send(&Request {
        method: "PUT",
        url: &full,
        headers: &[("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
        body: body.as_bytes(),
        timeout,
    })
    .map_err(|source| PushError::Http {
        url: full.clone(),
        source,
    })?;
    if response.is_success() {
        Ok(())
    } else {
        Err(PushError::Rejected {
            url: full,
            status: response.status,
            body: response.body_excerpt(300),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", "="),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64_url(input.as_bytes()), want, "{input}");
        }
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn unsafe_values_use_base64_segments() {
        assert_eq!(
            push_path("scan", Some("01JD")),
            "/metrics/job/secflow/workflow/scan/run_id/01JD"
        );
        assert_eq!(
            push_path("a b/c", None),
            "/metrics/job/secflow/workflow@base64/YSBiL2M="
        );
    }
}
