//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, for exporters.
//!
//! Guarantees: every request finishes (with a response or an error) within its `timeout`,
//! name resolution, connect, write and read included — a server that accepts and never
//! answers, or answers a byte at a time, is cut off at the deadline. Plain `http://` only:
//! `https://` URLs are refused with a clear error (put a local TLS-terminating proxy or
//! collector in front). One request per connection (`Connection: close`); responses may use
//! `Content-Length`, chunked encoding or end-of-stream; only the first 4 MiB of a body are
//! read (the rest is dropped with the connection), so a collector's large answer never turns
//! a delivered request into a failure.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Most of a response body read; the rest is dropped.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `http://host[:port][/path][?query]`.
    pub url: &'a str,
    /// Extra headers (`Host`, `Content-Length` and `Connection` are set by [`send`]).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Deadline for the whole exchange.
    pub timeout: Duration,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
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

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("unsupported URL `{0}`: only http:// is supported (no TLS)")]
    Scheme(String),
    #[error("cannot resolve host `{host}`: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("no answer from {addr} within {}", human(*.timeout))]
    Timeout { addr: String, timeout: Duration },
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid HTTP response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
}

fn human(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The parts of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, HttpError> {
        let bad = |reason: &str| HttpError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("expected http://host[:port][/path]"));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(HttpError::Scheme(url.to_owned()));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
            None => 80,
        };
        Ok(Url {
            host: host.to_owned(),
            port,
            path,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Sends one request and reads the whole response, within `req.timeout`.
pub fn send(req: &Request<'_>) -> Result<Response, HttpError> {
    let start = Instant::now();
    let deadline = start + req.timeout;
    let url = Url::parse(req.url)?;
    let shown = format!("{}:{}", url.host, url.port);
    let timeout_err = || HttpError::Timeout {
        addr: shown.clone(),
        timeout: req.timeout,
    };
    let addrs = resolve(&url, req.timeout)?;
    let mut stream = None;
    let mut last_err = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout_err());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if is_timeout(&e) => return Err(timeout_err()),
            Err(e) => last_err = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        return Err(HttpError::Connect {
            addr: shown,
            source: last_err.unwrap_or_else(|| std::io::Error::other("no address")),
        });
    };
    let _ = stream.set_nodelay(true);

    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: secflow/{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        req.body.len()
    );
    for (k, v) in req.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let io_err = |e: std::io::Error| {
        if is_timeout(&e) {
            timeout_err()
        } else {
            HttpError::Io {
                addr: shown.clone(),
                source: e,
            }
        }
    };
    let mut payload = head.into_bytes();
    payload.extend_from_slice(req.body);
    let mut written = 0;
    while written < payload.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout_err());
        }
        stream.set_write_timeout(Some(left)).map_err(io_err)?;
        match stream.write(&payload[written..]) {
            Ok(0) => return Err(io_err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }

    let mut reader = DeadlineReader {
        stream,
        deadline,
        buf: Vec::new(),
        eof: false,
    };
    let protocol = |reason: String| HttpError::Protocol {
        addr: shown.clone(),
        reason,
    };
    let head_end = loop {
        if let Some(i) = find(&reader.buf, b"\r\n\r\n") {
            break i;
        }
        if reader.buf.len() > 64 * 1024 {
            return Err(protocol("response headers too large".into()));
        }
        if !reader.fill().map_err(io_err)? {
            return Err(protocol(if reader.buf.is_empty() {
                "connection closed without a response".into()
            } else {
                "connection closed inside the response headers".into()
            }));
        }
    };
    let head = String::from_utf8_lossy(&reader.buf[..head_end]).into_owned();
    reader.buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| protocol(format!("bad status line `{status_line}`")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if req.method.eq_ignore_ascii_case("HEAD")
        || status == 204
        || status == 304
        || (100..200).contains(&status)
    {
        Vec::new()
    } else if header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        read_chunked(&mut reader).map_err(|e| match e {
            ChunkError::Io(e) => io_err(e),
            ChunkError::Bad(r) => protocol(r),
        })?
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| protocol(format!("bad Content-Length `{len}`")))?;
        let len = len.min(MAX_RESPONSE);
        while reader.buf.len() < len {
            if !reader.fill().map_err(io_err)? {
                return Err(protocol("connection closed inside the body".into()));
            }
        }
        reader.buf.truncate(len);
        std::mem::take(&mut reader.buf)
    } else {
        while reader.buf.len() < MAX_RESPONSE && reader.fill().map_err(io_err)? {}
        reader.buf.truncate(MAX_RESPONSE);
        std::mem::take(&mut reader.buf)
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Resolves the host within `timeout` (a literal address needs no lookup; a name is looked up
/// on a helper thread so a stuck resolver cannot hold the caller past its deadline).
fn resolve(url: &Url, timeout: Duration) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, url.port)]);
    }
    let target = (url.host.clone(), url.port);
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("secflow-resolve".into())
        .spawn(move || {
            let _ = tx.send(target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        });
    let fail = |reason: String| HttpError::Resolve {
        host: url.host.clone(),
        reason,
    };
    if let Err(e) = spawned {
        return Err(fail(format!("cannot start resolver thread: {e}")));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(fail("no addresses".into())),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(HttpError::Timeout {
            addr: format!("{}:{}", url.host, url.port),
            timeout,
        }),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads into a buffer, never past the deadline.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
    eof: bool,
}

impl DeadlineReader {
    /// Reads more bytes; `false` at end of stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 8192];
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

enum ChunkError {
    Io(std::io::Error),
    Bad(String),
}

fn read_chunked(r: &mut DeadlineReader) -> Result<Vec<u8>, ChunkError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = loop {
            if let Some(i) = find(&r.buf[pos..], b"\r\n") {
                break pos + i;
            }
            if !r.fill().map_err(ChunkError::Io)? {
                return Err(ChunkError::Bad("connection closed inside a chunk".into()));
            }
        };
        let size_text = String::from_utf8_lossy(&r.buf[pos..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ChunkError::Bad(format!("bad chunk size `{size_text}`")))?;
        pos = line_end + 2;
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > MAX_RESPONSE {
            return Ok(body); // enough read: the rest goes with the connection
        }
        while r.buf.len() < pos + size + 2 {
            if !r.fill().map_err(ChunkError::Io)? {
                return Err(ChunkError::Bad("connection closed inside a chunk".into()));
            }
        }
        body.extend_from_slice(&r.buf[pos..pos + size]);
        pos += size + 2;
    }
}
