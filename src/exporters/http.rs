//! The blocking HTTP client the exporters share (Pushgateway push, OTLP/HTTP), over `ureq`
//! with rustls (ring provider).
//!
//! Guarantees: every request finishes (with a response or an error) within its `timeout`,
//! name resolution, connect, TLS handshake, write and read included. `http://` and
//! `https://`; server certificates are checked against the system's roots (see [`Roots`]) or
//! a private CA. Redirects are not followed (a header holding an API key never travels to
//! another host) and no proxy is used. Only the first 64 KiB of a response body are read (the
//! rest is dropped with the connection), so a collector's large answer never turns a
//! delivered request into a failure. Error messages name the URL, never a header value.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// Most of a response body read; the rest is dropped.
const MAX_RESPONSE: u64 = 64 * 1024;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `http(s)://host[:port][/path][?query]`.
    pub url: &'a str,
    /// Extra headers (`Host`, `Content-Length` and `User-Agent` are set by the client).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The first 64 KiB of the body.
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text, lossily, cut to `max` characters for messages.
    pub fn body_excerpt(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(max) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_owned(),
        }
    }
}

/// Why a request failed (the caller names the URL).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("cannot resolve the host")]
    Resolve,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within {}", human(*.0))]
    Timeout(Duration),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("invalid HTTP response: {0}")]
    Protocol(String),
}

fn human(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Roots {
    /// The system's store (`/etc/ssl/certs` and friends, via `rustls-native-certs`), so a CA
    /// the administrator installed is trusted; Mozilla's roots (`webpki-roots`) when the
    /// system has none.
    #[default]
    System,
    /// Only the certificates of this PEM text (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    Pem(Vec<u8>),
    /// None: for `http://` URLs (redirects are never followed, so no TLS connection is
    /// made), without reading the system's store (4–9 ms of CPU a run).
    Plain,
}

impl Roots {
    /// [`Roots::Plain`] in place of the system's store for an `http://` URL, else `self` (a
    /// configured PEM is still read, so a bad one is still reported).
    pub fn for_url(self, url: &str) -> Roots {
        match self {
            Roots::System if is_plain(url) => Roots::Plain,
            other => other,
        }
    }
}

/// The authority of `url` (`user@host:port`): what follows `scheme://` (the whole text
/// without one) up to the path, query or fragment. Exporter URLs are recorded in run.json,
/// so one whose authority holds a `@` (credentials) is refused.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// Whether `url` is plain `http://`.
fn is_plain(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// Whether the system's store holds any root certificate.
pub fn system_roots_available() -> bool {
    !system_roots().is_empty()
}

/// The system's root certificates, loaded once.
fn system_roots() -> &'static Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        Arc::new(
            loaded
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect(),
        )
    })
}

/// The certificates of a PEM text; an error when it holds none or is malformed.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("not valid PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// A client: connections are kept and reused between requests.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client trusting `roots`. A PEM that holds no certificate is an error.
    pub fn new(roots: &Roots) -> Result<Client, String> {
        let certs = match roots {
            Roots::System if system_roots().is_empty() => RootCerts::WebPki,
            Roots::System => RootCerts::Specific(Arc::clone(system_roots())),
            Roots::Pem(pem) => RootCerts::Specific(Arc::new(pem_certificates(pem)?)),
            Roots::Plain => RootCerts::Specific(Arc::new(Vec::new())),
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(certs)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("secflow/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// Sends one request and reads the response, within `req.timeout`.
    pub fn send(&self, req: &Request<'_>) -> Result<Response, HttpError> {
        let lower = req.url.to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err(HttpError::Url(
                "expected http://host[:port][/path] or https://…".into(),
            ));
        }
        let mut builder = ureq::http::Request::builder()
            .method(req.method)
            .uri(req.url);
        for (k, v) in req.headers {
            builder = builder.header(*k, *v);
        }
        // The http crate's message would not show a header value, but say only which part.
        let request = builder
            .body(req.body)
            .map_err(|_| HttpError::Url("invalid method, URL or header".into()))?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(req.timeout))
            .build();
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| classify(e, req.timeout))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        // A body cut short after the status arrived does not undo the answer.
        let _ = response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE)
            .read_to_end(&mut body);
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// The client trusting the system's roots (or, for `http://`, none), built once.
fn default_client(url: &str) -> &'static Client {
    static TLS: OnceLock<Client> = OnceLock::new();
    static PLAIN: OnceLock<Client> = OnceLock::new();
    let roots = Roots::System.for_url(url);
    let cell = if roots == Roots::Plain { &PLAIN } else { &TLS };
    cell.get_or_init(|| {
        Client::new(&roots).unwrap_or_else(|_| unreachable!("system and no roots never fail"))
    })
}

/// Sends one request with the system's roots, within `req.timeout`.
pub fn send(req: &Request<'_>) -> Result<Response, HttpError> {
    default_client(req.url).send(req)
}

/// A ureq error as one of ours (never showing a header).
fn classify(e: ureq::Error, timeout: Duration) -> HttpError {
    match e {
        ureq::Error::Timeout(_) => HttpError::Timeout(timeout),
        ureq::Error::HostNotFound => HttpError::Resolve,
        ureq::Error::BadUri(reason) => HttpError::Url(reason),
        ureq::Error::Http(_) => HttpError::Url("invalid method, URL or header".into()),
        ureq::Error::ConnectionFailed => HttpError::Connect("connection failed".into()),
        ureq::Error::Tls(reason) => HttpError::Tls(reason.into()),
        ureq::Error::Rustls(e) => HttpError::Tls(e.to_string()),
        ureq::Error::Io(e) => io_error(&e, timeout),
        ureq::Error::Protocol(e) => HttpError::Protocol(e.to_string()),
        other => HttpError::Protocol(other.to_string()),
    }
}

fn io_error(e: &std::io::Error, timeout: Duration) -> HttpError {
    use std::io::ErrorKind as K;
    // rustls reports a refused certificate as an I/O error wrapping its own.
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return HttpError::Tls(tls.to_string());
    }
    match e.kind() {
        K::TimedOut | K::WouldBlock => HttpError::Timeout(timeout),
        K::ConnectionRefused => HttpError::Connect(e.to_string()),
        _ => HttpError::Io(e.to_string()),
    }
}

impl HttpError {
    /// A refused, reset or cut connection: worth retrying (a collector restarting). A
    /// timeout is not (a hung collector would cost the budget once per attempt), nor a
    /// refused certificate.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect(_) => true,
            HttpError::Io(reason) => {
                let r = reason.to_ascii_lowercase();
                ["reset", "aborted", "broken pipe", "unexpected end", "eof"]
                    .iter()
                    .any(|s| r.contains(s))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_skip_the_roots() {
        assert_eq!(Roots::System.for_url("http://collector:4318"), Roots::Plain);
        assert_eq!(Roots::System.for_url("HTTP://collector"), Roots::Plain);
        assert_eq!(Roots::System.for_url("https://collector"), Roots::System);
        let pem = Roots::Pem(b"x".to_vec());
        assert_eq!(pem.clone().for_url("https://c"), pem);
        assert_eq!(pem.clone().for_url("http://c"), pem);
        // Not a URL secflow sends to: the store is kept, the client refuses it later.
        assert_eq!(Roots::System.for_url("ftp://c"), Roots::System);
        assert_eq!(Roots::System.for_url("http:/"), Roots::System);
    }
}
