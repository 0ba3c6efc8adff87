//! Configuration from the standard OpenTelemetry environment variables, with
//! `--otlp-endpoint` winning over all of them.
//!
//! Read, each general variable overridden for one signal by its
//! `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_*` form (the OpenTelemetry specification's
//! precedence): `OTEL_SDK_DISABLED`; `OTEL_EXPORTER_OTLP_ENDPOINT` (over HTTP the signal paths
//! `/v1/traces`, `/v1/logs`, `/v1/metrics` are appended, over gRPC it is used as is) and the
//! per-signal `…_ENDPOINT` (used as is); `…_PROTOCOL` (`http/protobuf` default, `http/json`,
//! `grpc`); `…_HEADERS` (a secret: never written to any file nor shown; a signal's headers
//! are added to the general ones, replacing those of the same name); `…_CERTIFICATE` (PEM
//! file of the CA to trust instead of the system's roots); `…_COMPRESSION` (`gzip`, `none`);
//! `…_TIMEOUT` (milliseconds); `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`. Nothing
//! configured means nothing leaves the machine.

use std::time::Duration;

use super::model::KeyValue;

/// Wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    HttpJson,
    /// OTLP/gRPC (`grpc`).
    Grpc,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
            Protocol::Grpc => "application/grpc",
        }
    }

    fn parse(var: &str, value: &str) -> Result<Protocol, String> {
        match value.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(format!(
                "{var} `{other}` is not one of: http/protobuf, http/json, grpc"
            )),
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// One of the three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// `TRACES`, `LOGS`, `METRICS`: the infix of the per-signal variables.
    pub fn env_name(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Logs => "LOGS",
            Signal::Metrics => "METRICS",
        }
    }

    /// The OTLP/HTTP path appended to a base endpoint.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Logs => "v1/logs",
            Signal::Metrics => "v1/metrics",
        }
    }
}

/// A CA certificate file (`OTEL_EXPORTER_OTLP_CERTIFICATE`), read when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificate {
    pub path: String,
    pub pem: Vec<u8>,
}

/// How one signal is exported.
#[derive(Clone, PartialEq)]
pub struct SignalConfig {
    /// The full URL over HTTP (`…/v1/traces`); `http(s)://host:port` over gRPC.
    pub endpoint: String,
    pub protocol: Protocol,
    /// Extra headers or gRPC metadata (e.g. an API key): never shown.
    pub headers: Vec<(String, String)>,
    /// The CA to trust instead of the system's roots.
    pub certificate: Option<CaCertificate>,
    pub compression: Compression,
    /// Bound on one request.
    pub timeout: Duration,
}

impl std::fmt::Debug for SignalConfig {
    // Headers may carry credentials: never print their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("certificate", &self.certificate.as_ref().map(|c| &c.path))
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Where and how to export.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// The traces endpoint (as in `signals`).
    pub traces: String,
    /// The logs endpoint (as in `signals`).
    pub logs: String,
    /// The metrics endpoint (as in `signals`).
    pub metrics: String,
    /// Extra HTTP headers of `OTEL_EXPORTER_OTLP_HEADERS` (e.g. an API key).
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (each signal may differ: see `signals`).
    pub protocol: Protocol,
    /// The longest signal timeout: the bound of the flush at exit.
    pub timeout: Duration,
    /// `service.name` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<KeyValue>,
    /// Traces, logs and metrics, in [`Signal::ALL`] order.
    pub signals: [SignalConfig; 3],
}

impl OtlpConfig {
    /// How `signal` is exported.
    pub fn signal(&self, signal: Signal) -> &SignalConfig {
        &self.signals[signal as usize]
    }

    /// Every header value, for masking whatever a collector echoes back.
    pub fn secrets(&self) -> Vec<&str> {
        self.headers
            .iter()
            .chain(self.signals.iter().flat_map(|s| s.headers.iter()))
            .map(|(_, v)| v.as_str())
            .collect()
    }
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
            .field("signals", &self.signals)
            .finish()
    }
}

/// The default bound on a request and on the flush at exit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// `text` with every secret of at least 4 characters replaced by `***` (a collector may echo
/// a rejected API key in its answer).
pub fn mask(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s, "***");
        }
    }
    out
}

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
    // The per-signal variable when set, else the general one; with the name that was read.
    let pick = |signal: Signal, what: &str| -> Option<(String, String)> {
        let specific = format!("OTEL_EXPORTER_OTLP_{}_{what}", signal.env_name());
        let general = format!("OTEL_EXPORTER_OTLP_{what}");
        get(&specific)
            .map(|v| (specific, v))
            .or_else(|| get(&general).map(|v| (general, v)))
    };
    let general_headers = match get("OTEL_EXPORTER_OTLP_HEADERS") {
        Some(h) => headers("OTEL_EXPORTER_OTLP_HEADERS", &h)?,
        None => Vec::new(),
    };
    let general_protocol = match get("OTEL_EXPORTER_OTLP_PROTOCOL") {
        Some(p) => Protocol::parse("OTEL_EXPORTER_OTLP_PROTOCOL", &p)?,
        None => Protocol::HttpProtobuf,
    };
    let mut signals = Vec::with_capacity(3);
    for signal in Signal::ALL {
        let protocol = match pick(signal, "PROTOCOL") {
            Some((var, p)) => Protocol::parse(&var, &p)?,
            None => Protocol::HttpProtobuf,
        };
        let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env_name());
        let endpoint = match (cli_endpoint, get(&specific)) {
            (None, Some(url)) => url.trim().to_string(),
            _ => match &base {
                Some(b) if protocol == Protocol::Grpc => b.trim().to_string(),
                Some(b) => format!("{}/{}", b.trim().trim_end_matches('/'), signal.http_path()),
                None => return Ok(None),
            },
        };
        check_url(&endpoint)?;
        let mut headers = general_headers.clone();
        let var = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.env_name());
        if let Some(h) = get(&var) {
            for (k, v) in self::headers(&var, &h)? {
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
                headers.push((k, v));
            }
        }
        let certificate = match pick(signal, "CERTIFICATE") {
            Some((var, path)) => Some(certificate(&var, path.trim())?),
            None => None,
        };
        let compression = match pick(signal, "COMPRESSION") {
            None => Compression::None,
            Some((var, c)) => match c.trim() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                other => return Err(format!("{var} `{other}` is not one of: gzip, none")),
            },
        };
        let timeout = match pick(signal, "TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some((var, ms)) => ms
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{var} `{ms}` is not a number of milliseconds"))?,
        };
        signals.push(SignalConfig {
            endpoint,
            protocol,
            headers,
            certificate,
            compression,
            timeout,
        });
    }
    let Ok(signals) = <[SignalConfig; 3]>::try_from(signals) else {
        return Ok(None);
    };
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
        traces: signals[0].endpoint.clone(),
        logs: signals[1].endpoint.clone(),
        metrics: signals[2].endpoint.clone(),
        headers: general_headers,
        protocol: general_protocol,
        timeout: signals
            .iter()
            .map(|s| s.timeout)
            .max()
            .unwrap_or(DEFAULT_TIMEOUT),
        resource,
        signals,
    }))
}

/// An endpoint must be `http://` or `https://` and carry no credentials (the endpoint is
/// recorded in run.json: credentials go in the headers variable).
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(format!(
            "OTLP endpoint `{url}` must start with http:// or https://"
        ));
    }
    let authority = crate::exporters::http::authority(url);
    if authority.contains('@') {
        return Err(
            "OTLP endpoint carries credentials (user@host): put them in OTEL_EXPORTER_OTLP_HEADERS"
                .into(),
        );
    }
    if authority.is_empty() {
        return Err(format!("OTLP endpoint `{url}` has no host"));
    }
    Ok(())
}

/// The headers of `var`; a name or value that cannot be sent is an error that shows the name
/// only (the value may be a key).
fn headers(var: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    let parsed = pairs(text);
    for (k, v) in &parsed {
        let name_ok = k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            return Err(format!(
                "{var}: `{k}` is not a valid header name (letters, digits, `-`)"
            ));
        }
        if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) || !v.is_ascii() {
            return Err(format!(
                "{var}: the value of header `{k}` holds characters a header cannot carry (value not shown)"
            ));
        }
    }
    Ok(parsed)
}

/// Reads the CA file of `var`.
fn certificate(var: &str, path: &str) -> Result<CaCertificate, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{var}: cannot read `{path}`: {e}"))?;
    crate::exporters::http::pem_certificates(&pem).map_err(|e| format!("{var}: `{path}` {e}"))?;
    Ok(CaCertificate {
        path: path.to_string(),
        pem,
    })
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
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
        ]);
        assert!(from_env(None, e).unwrap_err().contains("http/xml"));
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pw@h")]);
        let err = from_env(None, e).unwrap_err();
        assert!(err.contains("credentials") && !err.contains("pw"), "{err}");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=line%0Abreak-s3cret"),
        ]);
        let err = from_env(None, e).unwrap_err();
        assert!(err.contains("x-key") && !err.contains("s3cret"), "{err}");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "zstd"),
        ]);
        assert!(
            from_env(None, e)
                .unwrap_err()
                .contains("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION")
        );
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        ]);
        assert!(
            from_env(None, e)
                .unwrap_err()
                .contains("/nonexistent/ca.pem")
        );
    }

    /// The OpenTelemetry specification's precedence: a per-signal variable wins over the
    /// general one for that signal only; over gRPC the general endpoint gets no path.
    #[test]
    fn per_signal_variables_win_for_their_signal() {
        let c = from_env(
            None,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "https://m:4318/v1/metrics",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
                ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "B=3"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
                ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "7000"),
            ]),
        )
        .unwrap()
        .unwrap();
        let t = c.signal(Signal::Traces);
        let l = c.signal(Signal::Logs);
        let m = c.signal(Signal::Metrics);
        assert_eq!(
            (t.protocol, t.endpoint.as_str()),
            (Protocol::Grpc, "http://h:4317")
        );
        assert_eq!(l.endpoint, "http://h:4317");
        assert_eq!(
            (m.protocol, m.endpoint.as_str()),
            (Protocol::HttpProtobuf, "https://m:4318/v1/metrics")
        );
        assert_eq!(c.traces, t.endpoint);
        assert_eq!(t.compression, Compression::None);
        assert_eq!(l.compression, Compression::Gzip);
        assert_eq!(t.headers.len(), 2);
        assert_eq!(
            l.headers,
            [("a".into(), "1".into()), ("B".into(), "3".into())]
        );
        assert_eq!(t.timeout, Duration::from_millis(2000));
        assert_eq!(c.timeout, Duration::from_millis(7000));
        // General http/protobuf with a gRPC signal: the path is appended for HTTP only.
        let c = from_env(
            Some("http://cli:1"),
            env(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.signal(Signal::Traces).endpoint, "http://cli:1");
        assert_eq!(c.signal(Signal::Logs).endpoint, "http://cli:1/v1/logs");
    }

    #[test]
    fn masking_hides_header_values() {
        assert_eq!(
            mask("HTTP 401 bad key s3cr3t-key", &["s3cr3t-key", "ab"]),
            "HTTP 401 bad key ***"
        );
    }
}
