//! W3C trace context: random trace and span ids, and the `traceparent` header
//! (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`).

use std::hash::{BuildHasher, Hasher};

use super::TraceIds;

/// 16 random bytes as 32 lowercase hex (never all zeros).
pub fn new_trace_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// 8 random bytes as 16 lowercase hex (never all zeros).
pub fn new_span_id() -> String {
    format!("{:016x}", random_u64())
}

fn random_u64() -> u64 {
    loop {
        // RandomState is seeded from the OS once per process and then varied per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let v = h.finish();
        if v != 0 {
            return v;
        }
    }
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    pub span_id: String,
    pub sampled: bool,
}

/// Parses a W3C `traceparent` value; the error says what is wrong with it.
pub fn parse_traceparent(value: &str) -> Result<TraceParent, String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match parts.as_slice() {
        [version, trace, span, flags, ..]
            if hex(version, 2)
                && *version != "ff"
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2) =>
        {
            if trace.bytes().all(|b| b == b'0') || span.bytes().all(|b| b == b'0') {
                return Err("all-zero trace or span id".into());
            }
            if *version == "00" && parts.len() != 4 {
                return Err("version 00 has exactly four fields".into());
            }
            let flags = u8::from_str_radix(flags, 16).map_err(|e| e.to_string())?;
            Ok(TraceParent {
                trace_id: trace.to_string(),
                span_id: span.to_string(),
                sampled: flags & 1 == 1,
            })
        }
        _ => Err("expected `00-<32 hex>-<16 hex>-<2 hex>` in lowercase".into()),
    }
}

/// The `traceparent` value naming `span_id` in `trace_id` (sampled).
pub fn format_traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// Ids for a new run: joins the trace of `inbound` (a `TRACEPARENT` value) when it is valid.
/// Returns the ids and, for a malformed inbound value, the reason it was ignored.
pub fn run_trace_ids(inbound: Option<&str>) -> (TraceIds, Option<String>) {
    let root_span_id = new_span_id();
    match inbound.map(parse_traceparent) {
        Some(Ok(parent)) => (
            TraceIds {
                trace_id: parent.trace_id,
                root_span_id,
                parent_span_id: Some(parent.span_id),
            },
            None,
        ),
        Some(Err(why)) => (
            TraceIds {
                trace_id: new_trace_id(),
                root_span_id,
                parent_span_id: None,
            },
            Some(format!("ignoring malformed TRACEPARENT: {why}")),
        ),
        None => (
            TraceIds {
                trace_id: new_trace_id(),
                root_span_id,
                parent_span_id: None,
            },
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = new_span_id();
        let b = new_span_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert_eq!(new_trace_id().len(), 32);
    }

    #[test]
    fn traceparent_round_trip_and_rejections() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = parse_traceparent(tp).unwrap();
        assert_eq!(format_traceparent(&p.trace_id, &p.span_id), tp);
        assert!(parse_traceparent("00-XYZ-00f067aa0ba902b7-01").is_err());
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err()
        );
        let (ids, warn) = run_trace_ids(Some("garbage"));
        assert!(warn.is_some());
        assert_eq!(ids.trace_id.len(), 32);
        let (ids, warn) = run_trace_ids(Some(tp));
        assert!(warn.is_none());
        assert_eq!(ids.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    }
}
