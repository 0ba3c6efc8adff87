//! `SECFLOW_SINKS`: which sinks a run enables, for benchmarking and diagnosis.
//!
//! `all` (the default, also when unset or blank), `none`, or a comma list of `logs`, `spans`,
//! `audit`, `metrics`, `console` (any case, spaces allowed). `run.json` is always written:
//! it is the run's identity, not telemetry. Measure telemetry's cost with
//! `SECFLOW_SINKS=none` against the default.

/// The environment variable.
pub const ENV_VAR: &str = "SECFLOW_SINKS";

/// Sink names accepted in the list.
pub const NAMES: [&str; 5] = ["logs", "spans", "audit", "metrics", "console"];

/// Which sinks are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkSet {
    pub logs: bool,
    pub spans: bool,
    pub audit: bool,
    pub metrics: bool,
    pub console: bool,
}

impl SinkSet {
    pub const ALL: SinkSet = SinkSet {
        logs: true,
        spans: true,
        audit: true,
        metrics: true,
        console: true,
    };
    pub const NONE: SinkSet = SinkSet {
        logs: false,
        spans: false,
        audit: false,
        metrics: false,
        console: false,
    };
}

impl Default for SinkSet {
    fn default() -> Self {
        SinkSet::ALL
    }
}

/// An unusable `SECFLOW_SINKS`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid {ENV_VAR} `{value}`: unknown sink `{unknown}`; expected `all`, `none` or a comma \
     list of logs, spans, audit, metrics, console"
)]
pub struct SinksError {
    pub value: String,
    pub unknown: String,
}

/// Parses a `SECFLOW_SINKS` value (`None` or blank: all).
pub fn parse(value: Option<&str>) -> Result<SinkSet, SinksError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(SinkSet::ALL);
    };
    let mut set = SinkSet::NONE;
    for name in value
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
    {
        match name.as_str() {
            "all" => set = SinkSet::ALL,
            "none" => {}
            "logs" | "log" => set.logs = true,
            "spans" | "span" => set.spans = true,
            "audit" => set.audit = true,
            "metrics" => set.metrics = true,
            "console" => set.console = true,
            _ => {
                return Err(SinksError {
                    value: value.to_string(),
                    unknown: name,
                });
            }
        }
    }
    Ok(set)
}

/// Reads [`ENV_VAR`] from the environment.
pub fn from_env() -> Result<SinkSet, SinksError> {
    parse(std::env::var(ENV_VAR).ok().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_none_and_lists() {
        assert_eq!(parse(None).unwrap(), SinkSet::ALL);
        assert_eq!(parse(Some(" ")).unwrap(), SinkSet::ALL);
        assert_eq!(parse(Some("none")).unwrap(), SinkSet::NONE);
        let s = parse(Some("Logs, spans")).unwrap();
        assert!(s.logs && s.spans && !s.audit && !s.metrics && !s.console);
        let e = parse(Some("logs,traces")).unwrap_err().to_string();
        assert!(
            e.contains("`traces`") && e.contains("logs, spans, audit, metrics, console"),
            "{e}"
        );
    }
}
