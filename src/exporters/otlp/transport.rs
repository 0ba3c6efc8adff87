//! One request per signal to the collector: OTLP/HTTP (protobuf or JSON, optionally gzip)
//! through the shared HTTP client, or OTLP/gRPC through tonic on a small runtime of its own.
//!
//! Each signal has its own route (endpoint, protocol, headers, CA, compression, timeout: see
//! [`super::config`]). A failure says what was tried and why, with every header value masked
//! (a collector may echo a rejected key), and whether the OTLP specification allows a retry.

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::config::{Compression, OtlpConfig, Protocol, Signal, SignalConfig, mask};
use super::model::Batch;
use super::{json, pb};
use crate::exporters::http::{self, Client, Roots};

/// A failed request: why, whether the specification allows a retry, and the server's
/// `Retry-After`.
pub struct Failure {
    pub reason: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

enum Route {
    Http(Client),
    Grpc(Channel),
}

/// The routes of the three signals.
pub struct Transport {
    /// Only when a signal goes over gRPC.
    runtime: Option<tokio::runtime::Runtime>,
    routes: Vec<(SignalConfig, Route)>,
    secrets: Vec<String>,
}

impl Transport {
    /// Builds the clients; an error names the signal and endpoint (never a header value).
    pub fn new(config: &OtlpConfig) -> Result<Transport, String> {
        let secrets: Vec<String> = config.secrets().into_iter().map(String::from).collect();
        let needs_runtime = config.signals.iter().any(|s| s.protocol == Protocol::Grpc);
        let runtime = if needs_runtime {
            Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the gRPC runtime: {e}"))?,
            )
        } else {
            None
        };
        let mut routes = Vec::with_capacity(3);
        for signal in &config.signals {
            let route = match (&runtime, signal.protocol) {
                (Some(rt), Protocol::Grpc) => Route::Grpc(channel(rt, signal)?),
                _ => {
                    let roots = signal
                        .certificate
                        .as_ref()
                        .map_or(Roots::System, |c| Roots::Pem(c.pem.clone()))
                        .for_url(&signal.endpoint);
                    Route::Http(Client::new(&roots)?)
                }
            };
            routes.push((signal.clone(), route));
        }
        Ok(Transport {
            runtime,
            routes,
            secrets,
        })
    }

    /// Sends `signal`'s part of `batch`, within `timeout`.
    pub fn send(&self, signal: Signal, batch: &Batch, timeout: Duration) -> Result<(), Failure> {
        let Some((config, route)) = self.routes.get(signal as usize) else {
            return Ok(());
        };
        let result = match (route, &self.runtime) {
            (Route::Http(client), _) => post(client, config, signal, batch, timeout),
            (Route::Grpc(channel), Some(rt)) => {
                grpc(rt, channel.clone(), config, signal, batch, timeout)
            }
            (Route::Grpc(_), None) => Ok(()),
        };
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        result.map_err(|mut f| {
            f.reason = mask(&f.reason, &secrets);
            f
        })
    }
}

/// A hint appended to a TLS failure.
const TLS_HINT: &str = "check that the collector's certificate is issued by the system's roots or by the CA in OTEL_EXPORTER_OTLP_CERTIFICATE";

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn post(
    client: &Client,
    config: &SignalConfig,
    signal: Signal,
    batch: &Batch,
    timeout: Duration,
) -> Result<(), Failure> {
    let url = &config.endpoint;
    let body = match config.protocol {
        Protocol::HttpJson => match signal {
            Signal::Traces => json::traces(batch),
            Signal::Logs => json::logs(batch),
            Signal::Metrics => json::metrics(batch),
        },
        _ => pb::encode(signal, batch),
    };
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", config.protocol.content_type())];
    let body = match config.compression {
        Compression::Gzip => {
            headers.push(("Content-Encoding", "gzip"));
            gzip(&body)
        }
        Compression::None => body,
    };
    headers.extend(config.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let request = http::Request {
        method: "POST",
        url,
        headers: &headers,
        body: &body,
        timeout,
    };
    match client.send(&request) {
        Ok(r) if r.is_success() => Ok(()),
        Ok(r) => Err(Failure {
            reason: format!("POST {url}: HTTP {} {}", r.status, r.body_excerpt(200)),
            retryable: matches!(r.status, 429 | 502 | 503 | 504),
            retry_after: r
                .headers
                .iter()
                .find(|(k, _)| k == "retry-after")
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        }),
        Err(e) => Err(Failure {
            retryable: e.is_transient(),
            reason: match e {
                http::HttpError::Tls(_) => format!("POST {url}: {e}; {TLS_HINT}"),
                _ => format!("POST {url}: {e}"),
            },
            retry_after: None,
        }),
    }
}

/// A lazily connected channel to `signal`'s endpoint (TLS for `https://`).
fn channel(rt: &tokio::runtime::Runtime, signal: &SignalConfig) -> Result<Channel, String> {
    let url = &signal.endpoint;
    let bad = |e: tonic::transport::Error| format!("OTLP gRPC endpoint `{url}`: {e}");
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(bad)?
        .connect_timeout(signal.timeout)
        .tcp_nodelay(true)
        .user_agent(concat!("secflow/", env!("CARGO_PKG_VERSION")))
        .map_err(bad)?;
    if url.to_ascii_lowercase().starts_with("https://") {
        let tls = match &signal.certificate {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem)),
            None if http::system_roots_available() => ClientTlsConfig::new().with_native_roots(),
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        endpoint = endpoint.tls_config(tls).map_err(bad)?;
    }
    let _guard = rt.enter();
    Ok(endpoint.connect_lazy())
}

/// The headers as gRPC metadata (names lowercased).
fn metadata(headers: &[(String, String)]) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (k, v) in headers {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
            MetadataValue::try_from(v.as_str()),
        ) {
            map.insert(key, value);
        }
    }
    map
}

/// Runs `f` to completion on `rt`; from inside another runtime, on a thread of its own
/// (a runtime cannot block inside another).
fn block_on<F>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(|| rt.block_on(f)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        rt.block_on(f)
    }
}

fn grpc(
    rt: &tokio::runtime::Runtime,
    channel: Channel,
    config: &SignalConfig,
    signal: Signal,
    batch: &Batch,
    timeout: Duration,
) -> Result<(), Failure> {
    let gzip = config.compression == Compression::Gzip;
    let metadata = metadata(&config.headers);
    fn request<T>(metadata: &MetadataMap, body: T, timeout: Duration) -> tonic::Request<T> {
        let mut r = tonic::Request::from_parts(metadata.clone(), Default::default(), body);
        r.set_timeout(timeout);
        r
    }
    macro_rules! call {
        ($client:ident, $body:expr) => {{
            let mut client = $client::new(channel);
            if gzip {
                client = client
                    .send_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Gzip);
            }
            let req = request(&metadata, $body, timeout);
            block_on(rt, async move {
                tokio::time::timeout(timeout, client.export(req))
                    .await
                    .map(|r| r.map(|_| ()))
            })
        }};
    }
    let outcome = match signal {
        Signal::Traces => call!(TraceServiceClient, pb::traces(batch)),
        Signal::Logs => call!(LogsServiceClient, pb::logs(batch)),
        Signal::Metrics => call!(MetricsServiceClient, pb::metrics(batch)),
    };
    let url = &config.endpoint;
    let service = match signal {
        Signal::Traces => "TraceService",
        Signal::Logs => "LogsService",
        Signal::Metrics => "MetricsService",
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Err(_) => Err(Failure {
            reason: format!(
                "gRPC {url} {service}/Export: no answer within {} ms",
                timeout.as_millis()
            ),
            retryable: false,
            retry_after: None,
        }),
        Ok(Err(status)) => Err(status_failure(url, service, &status)),
    }
}

/// A gRPC status as a failure; retryable codes per the OTLP specification, unless the cause
/// is a refused certificate.
fn status_failure(url: &str, service: &str, status: &tonic::Status) -> Failure {
    use tonic::Code;
    let mut causes = Vec::new();
    let mut tls = false;
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        // rustls's error arrives itself or inside an io::Error (whose `source` skips it).
        tls |= e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        let text = e.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = e.source();
    }
    let mut reason = format!(
        "gRPC {url} {service}/Export: {:?}: {}",
        status.code(),
        status.message()
    );
    for cause in &causes {
        if !reason.contains(cause.as_str()) {
            reason.push_str(": ");
            reason.push_str(cause);
        }
    }
    if tls {
        reason.push_str("; ");
        reason.push_str(TLS_HINT);
    }
    Failure {
        reason,
        retryable: !tls
            && matches!(
                status.code(),
                Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::ResourceExhausted
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss
            ),
        retry_after: None,
    }
}
