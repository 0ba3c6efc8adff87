//! The HTTP client's deadlines: an unreachable gateway and one that accepts but never answers
//! both fail within the timeout, with a clear message.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use secflow::exporters::http::{Request, send};
use secflow::exporters::pushgateway::{PushGrouping, push};
use secflow::sinks::metrics::MetricsOptions;

use crate::common::synthetic_run;
use crate::tools::free_port;

#[test]
fn unreachable_gateway_fails_fast_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = synthetic_run(dir.path(), MetricsOptions::default());
    let port = free_port(); // bound then released: nothing listens there
    let t = Instant::now();
    let err = push(
        &format!("http://127.0.0.1:{port}"),
        &s,
        "w",
        "r",
        PushGrouping::Workflow,
        Duration::from_secs(2),
    )
    .expect_err("nothing listens");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let msg = err.to_string();
    assert!(msg.contains("metrics push to http://127.0.0.1:"), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
}

#[test]
fn a_server_that_never_answers_is_cut_off_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = synthetic_run(dir.path(), MetricsOptions::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and reads, never writes a byte back.
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let t = Instant::now();
    let err = push(
        &format!("http://{addr}"),
        &s,
        "w",
        "r",
        PushGrouping::Workflow,
        Duration::from_millis(700),
    )
    .expect_err("no answer");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(650), "{took:?}");
    // Bounded by the timeout plus scheduling slack on a busy machine.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    drop(err);
    server.join().unwrap();
}

#[test]
fn a_server_that_drips_bytes_is_cut_off_at_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: ".iter().cycle().take(400) {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let t = Instant::now();
    let url = format!("http://{addr}/");
    let err = send(&Request {
        method: "GET",
        url: &url,
        headers: &[],
        body: b"",
        timeout: Duration::from_millis(500),
    })
    .expect_err("too slow");
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("no answer"), "{err}");
    server.join().unwrap();
}

#[test]
fn chunked_responses_are_decoded() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        conn.write_all(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
    });
    let url = format!("http://{addr}/x");
    let r = send(&Request {
        method: "POST",
        url: &url,
        headers: &[("Content-Type", "text/plain")],
        body: b"ping",
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"hello world");
    server.join().unwrap();
}

#[test]
fn bad_urls_are_refused_and_https_to_a_plain_server_fails_clearly() {
    for url in ["gw:9091", "ftp://gw/x", "http://"] {
        let err = send(&Request {
            method: "GET",
            url,
            headers: &[],
            body: b"",
            timeout: Duration::from_secs(1),
        })
        .expect_err(url);
        assert!(err.to_string().contains("invalid URL"), "{url}: {err}");
    }
    // A plain-HTTP server behind an https:// URL: a TLS error, within the timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let url = format!("https://{addr}/");
    let t = Instant::now();
    let err = send(&Request {
        method: "GET",
        url: &url,
        headers: &[],
        body: b"",
        timeout: Duration::from_secs(2),
    })
    .expect_err("not TLS");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("TLS"), "{err}");
    server.join().unwrap();
}

/// A redirect is never followed: a header holding an API key must not travel to the host the
/// answer names.
#[test]
fn redirects_are_not_followed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let mut served = 0;
        for conn in listener.incoming().take(1) {
            let mut conn = conn.unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            served += 1;
            let _ = conn.write_all(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://evil.invalid/steal\r\nContent-Length: 0\r\n\r\n",
            );
        }
        served
    });
    let url = format!("http://{addr}/v1/traces");
    let r = send(&Request {
        method: "POST",
        url: &url,
        headers: &[("x-api-key", "k")],
        body: b"x",
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    assert_eq!(r.status, 307);
    assert!(!r.is_success());
    assert_eq!(server.join().unwrap(), 1);
}
