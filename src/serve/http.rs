//! The HTTP glue, on hyper's HTTP/1.1 server over tokio: accept loop, one task per
//! connection, a header-read timeout, each request handed to a plain function on tokio's
//! blocking pool (handlers read files), and shutdown on TERM or INT.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

/// How long a client may take to send its request head (slow clients cannot pin tasks).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a handler sees of a request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: hyper::Method,
    /// The path, not percent-decoded.
    pub path: String,
    /// The query string (after `?`), not decoded.
    pub query: String,
    /// The `Authorization` header, if any (and valid UTF-8).
    pub authorization: Option<String>,
}

impl Request {
    /// A query parameter's value, percent-decoded (`+` is a space); the first one wins.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
    }
}

/// Percent-decoding of a query component; invalid escapes are kept as they are.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// A JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        body.push(b'\n');
        Response::new(status, "application/json", body)
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A request handler: a plain function, run on the blocking pool.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// Serves `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handler: Handler,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of descriptors, a connection reset before accept: back off, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(respond(handler, req).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(handler: Handler, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let request = Request {
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        authorization: req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let head = request.method == hyper::Method::HEAD;
    let answer = match tokio::task::spawn_blocking(move || handler(request)).await {
        Ok(answer) => answer,
        Err(_) => Response::error(500, "internal error"),
    };
    let mut builder = hyper::Response::builder()
        .status(answer.status)
        .header(hyper::header::CONTENT_TYPE, answer.content_type)
        .header(hyper::header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff");
    for (name, value) in &answer.headers {
        builder = builder.header(*name, value.as_str());
    }
    let body = if head { Vec::new() } else { answer.body };
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"internal error"))))
}

/// Completes on the first TERM or INT (or at once if they cannot be watched).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
