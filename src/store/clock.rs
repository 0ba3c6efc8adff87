//! Time as the records write it: RFC 3339 UTC with milliseconds and a `Z` (logs, run.json)
//! and integer Unix nanoseconds (spans). Never fails: times before 1970 clamp to the epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `2026-11-23T12:00:00.123Z`.
pub fn rfc3339_ms(at: SystemTime) -> String {
    let dt = OffsetDateTime::from(at.max(UNIX_EPOCH));
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Exactly 24 bytes for years 0-9999: format into a buffer of that size, not a grown
    // one (run records keep three of these per attempt, for every node of the run).
    let mut out = Vec::with_capacity(24);
    match dt.format_into(&mut out, &format) {
        Ok(_) => String::from_utf8(out).unwrap_or_else(|_| EPOCH.to_string()),
        Err(_) => EPOCH.to_string(),
    }
}

const EPOCH: &str = "1970-01-01T00:00:00.000Z";

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Parses any RFC 3339 timestamp (offsets allowed).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let dt = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let nanos = dt.unix_timestamp_nanos();
    if nanos < 0 {
        return Some(UNIX_EPOCH);
    }
    let nanos = u64::try_from(nanos).ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Whole milliseconds from `from` to `to` (0 when `to` is earlier).
pub fn millis_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let text = rfc3339_ms(at);
        assert!(text.ends_with(".123Z"), "{text}");
        assert_eq!(text.len(), 24);
        assert_eq!(parse_rfc3339(&text), Some(at));
        assert_eq!(unix_nanos(at), 1_795_000_000_123_000_000);
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
