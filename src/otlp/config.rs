//! Configuration from the standard OpenTelemetry environment variables, with
//! `--otlp-endpoint` winning over all of them.
//!
//! Read: `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_ENDPOINT` (signal paths `/v1/traces`,
//! `/v1/logs`, `/v1/metrics` appended), `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT`
//! (used as is), `OTEL_EXPORTER_OTLP_HEADERS` (a secret: never written to any file),
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` default, `http/json`),
//! `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`. Nothing configured means nothing leaves the machine.

use std::time::Duration;

use super::model::KeyValue;

/// Wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

/// Where and how to export.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    pub traces: String,
    pub logs: String,
    pub metrics: String,
    /// Extra HTTP headers (e.g. an API key).
    pub headers: Vec<(String, String)>,
    pub protocol: Protocol,
    /// Bound on one request and on the flush at exit.
    pub timeout: Duration,
    /// `service.name` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<KeyValue>,
}

impl std::fmt::Debug for OtlpConfig {
    // Headers may carry credentials: never print their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("traces", &self.traces)
            .field("logs", &self.logs)
            .field("metrics", &self.metrics)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The default bound on a request and on the flush at exit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the configuration; `Ok(None)` when no endpoint is configured or the SDK is disabled.
pub fn from_env(
    cli_endpoint: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<OtlpConfig>, String> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if cli_endpoint.is_none()
        && get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let base = cli_endpoint
        .map(str::to_string)
        .or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let signal = |name: &str, path: &str| -> Option<String> {
        if cli_endpoint.is_none()
            && let Some(url) = get(&format!("OTEL_EXPORTER_OTLP_{name}_ENDPOINT"))
        {
            return Some(url);
        }
        base.as_ref()
            .map(|b| format!("{}/{path}", b.trim_end_matches('/')))
    };
    let (Some(traces), Some(logs), Some(metrics)) = (
        signal("TRACES", "v1/traces"),
        signal("LOGS", "v1/logs"),
        signal("METRICS", "v1/metrics"),
    ) else {
        return Ok(None);
    };
    for url in [&traces, &logs, &metrics] {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!(
                "OTLP endpoint `{url}` must start with http:// or https://"
            ));
        }
    }
    let protocol = match get("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some("http/json") => Protocol::HttpJson,
        Some("grpc") => {
            return Err("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; use http/protobuf (default) or http/json".into());
        }
        Some(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL `{other}` is not one of: http/protobuf, http/json"
            ));
        }
    };
    let timeout = match get("OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => DEFAULT_TIMEOUT,
        Some(ms) => ms
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| {
                format!("OTEL_EXPORTER_OTLP_TIMEOUT `{ms}` is not a number of milliseconds")
            })?,
    };
    let headers = get("OTEL_EXPORTER_OTLP_HEADERS")
        .map(|h| pairs(&h))
        .unwrap_or_default();
    let mut resource: Vec<KeyValue> = get("OTEL_RESOURCE_ATTRIBUTES")
        .map(|a| pairs(&a))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| KeyValue::str(k, v))
        .collect();
    let service = get("OTEL_SERVICE_NAME")
        .or_else(|| {
            resource
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match &kv.value {
                    super::model::AnyValue::Str(s) => Some(s.clone()),
                    _ => None,
                })
        })
        .unwrap_or_else(|| "secflow".into());
    resource.retain(|kv| kv.key != "service.name");
    resource.insert(0, KeyValue::str("service.name", service));
    Ok(Some(OtlpConfig {
        traces,
        logs,
        metrics,
        headers,
        protocol,
        timeout,
        resource,
    }))
}

/// `k1=v1,k2=v2` with percent-encoded values, as the OpenTelemetry variables write them.
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (percent_decode(k.trim()), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_exports_nothing() {
        assert_eq!(from_env(None, env(&[])), Ok(None));
        let disabled = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert_eq!(from_env(None, disabled), Ok(None));
    }

    #[test]
    fn signal_paths_and_overrides() {
        let c = from_env(
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318/"),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:9/custom"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s%3Dcret,b=2"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=ci,service.name=ignored",
                ),
                ("OTEL_SERVICE_NAME", "scanner"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.traces, "http://h:4318/v1/traces");
        assert_eq!(c.logs, "http://l:9/custom");
        assert_eq!(c.headers[0], ("x-api-key".into(), "s=cret".into()));
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(c.resource[0], KeyValue::str("service.name", "scanner"));
        assert_eq!(c.resource.len(), 2);
        assert!(!format!("{c:?}").contains("s=cret"));
        let cli = from_env(
            Some("http://cli:1"),
            env(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:9/x")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cli.logs, "http://cli:1/v1/logs");
    }

    #[test]
    fn bad_values_are_errors() {
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "h:4318")]);
        assert!(from_env(None, e).is_err());
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert!(from_env(None, e).unwrap_err().contains("grpc"));
    }
}
