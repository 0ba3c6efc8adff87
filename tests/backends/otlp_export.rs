//! OTLP export against a real receiver: rotel (an OpenTelemetry collector shipped as a PyPI
//! wheel, installed by `.ci/install-otlp.sh`), started by each test on free loopback ports.
//!
//! The receiver prints what it decoded; the tests assert on that text: the run's trace id,
//! the span names and parent ids, a log record with the trace id, and (over http/protobuf)
//! metric values. A missing receiver fails the tests: it is never a silent skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The built binary in the tests' hermetic environment (no caller `OTEL_*`/`SECFLOW_*`).
fn secflow() -> Command {
    crate::support::secflow()
}

fn rotel_binary() -> PathBuf {
    let path = std::env::var_os("ROTEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rotel/rotel/rotel-agent"));
    assert!(
        path.is_file(),
        "rotel is not installed at {}: run `bash .ci/install-otlp.sh` (or set ROTEL)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running rotel that prints everything it receives to a log file.
struct Rotel {
    child: Child,
    log: PathBuf,
    endpoint: String,
    /// The OTLP/gRPC port.
    grpc: u16,
}

impl Rotel {
    fn start(dir: &Path) -> Rotel {
        let http = free_port();
        let grpc = free_port();
        let log = dir.join("rotel.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(rotel_binary())
            .args([
                "start",
                "--exporter",
                "blackhole",
                "--debug-log-verbosity",
                "detailed",
            ])
            .args([
                "--debug-log",
                "traces",
                "--debug-log",
                "metrics",
                "--debug-log",
                "logs",
            ])
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http}"))
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc}"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("rotel starts");
        let endpoint = format!("http://127.0.0.1:{http}");
        let ready = Instant::now();
        loop {
            let url = format!("{endpoint}/v1/traces");
            let probe = secflow::exporters::http::send(&secflow::exporters::http::Request {
                method: "POST",
                url: &url,
                headers: &[("Content-Type", "application/json")],
                body: br#"{"resourceSpans":[]}"#,
                timeout: Duration::from_millis(500),
            });
            if probe.is_ok_and(|r| r.is_success()) {
                break;
            }
            assert!(
                ready.elapsed() < Duration::from_secs(10),
                "rotel did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Rotel {
            child,
            log,
            endpoint,
            grpc,
        }
    }

    /// Waits until the receiver's output contains every needle.
    fn wait_for(&self, needles: &[String]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if needles.iter().all(|n| text.contains(n.as_str())) {
                return text;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = needles
                    .iter()
                    .filter(|n| !text.contains(n.as_str()))
                    .collect();
                panic!("rotel never printed {missing:?}; it printed:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RECIPE: &str = r#"
version: "1.0"
name: otlp-demo
nodes:
  - id: produce
    run: "printf '{\"a\":1}\n{\"a\":2}\n' > {{ outputs.findings }}"
    outputs: [findings]
  - id: consume
    run: "cat {{ inputs.findings }} > {{ outputs.copy }}"
    inputs: [findings]
    outputs: [copy]
"#;

/// Runs the recipe in `dir` with `envs`; returns (exit code, stderr, run directory).
fn run(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> (i32, String, PathBuf) {
    let recipe = dir.join("recipe.yaml");
    std::fs::write(&recipe, RECIPE).unwrap();
    let out = secflow()
        .current_dir(dir)
        .args(["run-workflow", "--progress", "never", "--format", "json"])
        .args(args)
        .arg(&recipe)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let record: Value = serde_json::from_slice(&out.stdout).expect("run.json on stdout");
    let run_dir = dir
        .join(".secflow/runs")
        .join(record["run_id"].as_str().unwrap());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        run_dir,
    )
}

fn read_spans(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("spans.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn span_named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn live_export_over_protobuf_reaches_the_receiver_with_ids_logs_and_metric_values() {
    let dir = tempfile::tempdir().unwrap();
    let rotel = Rotel::start(dir.path());
    let (code, stderr, run_dir) = run(dir.path(), &[], &["--otlp-endpoint", &rotel.endpoint]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("OTLP export"),
        "no warning expected: {stderr}"
    );
    let spans = read_spans(&run_dir);
    let trace_id = spans[0]["trace_id"].as_str().unwrap().to_string();
    let workflow = span_named(&spans, "workflow otlp-demo");
    let node = span_named(&spans, "node consume");
    assert_eq!(node["parent_span_id"], workflow["span_id"]);
    let text = rotel.wait_for(&[
        format!("Trace ID       : {trace_id}"),
        "Name           : node consume".into(),
        "Name           : attempt produce#1".into(),
        "Name           : workflow otlp-demo".into(),
        format!("Parent ID      : {}", workflow["span_id"].as_str().unwrap()),
        "Body: Str(node completed)".into(),
        "-> Name: secflow.nodes.executed".into(),
        "-> Name: secflow.node.duration".into(),
        "-> DataType: Histogram".into(),
    ]);
    // A log record carries the trace id.
    let log_part = &text[text.find("ResourceLog").expect("logs arrived")..];
    assert!(log_part.contains(&format!("Trace ID       : {trace_id}")));
    // Metric values arrive (rotel drops int64s sent as JSON strings; protobuf carries them).
    let executed = &text[text.find("-> Name: secflow.nodes.executed").unwrap()..];
    assert!(executed.contains("Value: 1"), "{executed}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["telemetry"]["export"]["undelivered"], 0);
    // SPEC §10: the chain's head reaches the collector as a witness.
    let head = record["audit"]["last_hash"].as_str().unwrap().to_string();
    let text = rotel.wait_for(&["Body: Str(audit chain head)".into(), head.clone()]);
    let at = &text[text.find("Body: Str(audit chain head)").unwrap()..];
    assert!(at.contains(&head), "{at}");
}

#[test]
fn live_export_over_json_and_export_of_a_recorded_run_twice_sends_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let rotel = Rotel::start(dir.path());
    let json = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rotel.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ];
    let (code, stderr, run_dir) = run(dir.path(), &json, &[]);
    assert_eq!(code, 0, "{stderr}");
    let spans = read_spans(&run_dir);
    let trace_id = spans[0]["trace_id"].as_str().unwrap().to_string();
    rotel.wait_for(&[
        format!("Trace ID       : {trace_id}"),
        "Name           : node produce".into(),
        "Body: Str(node completed)".into(),
    ]);

    // Offline run, exported afterwards, twice: the same trace id both times.
    let offline_dir = tempfile::tempdir().unwrap();
    let (code, _, offline_run) = run(offline_dir.path(), &[], &[]);
    assert_eq!(code, 0);
    let offline_trace = read_spans(&offline_run)[0]["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let out = secflow()
            .args(["export", "--otlp-endpoint", &rotel.endpoint])
            .arg(&offline_run)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("spans"));
    }
    let needle = format!("Trace ID       : {offline_trace}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&rotel.log).unwrap();
        // 6 spans a run (workflow, validate, 2 nodes, 2 attempts) plus log records, twice.
        if text.matches(&needle).count() >= 12 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the re-export did not repeat the same trace id"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unreachable_or_hung_collector_never_fails_the_run_nor_delays_it_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let bound = ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000");
    let started = Instant::now();
    let (code, stderr, run_dir) = run(dir.path(), &[bound], &["--otlp-endpoint", &closed]);
    let refused_wall = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("warning: OTLP export").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("not delivered"), "{stderr}");
    assert!(refused_wall < Duration::from_secs(5), "{refused_wall:?}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert!(
        record["telemetry"]["export"]["undelivered"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(record["status"], "succeeded");

    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 1024];
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = s.read(&mut buf);
            held.push(s);
        }
    });
    let hung_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (code, stderr, _) = run(hung_dir.path(), &[bound], &["--otlp-endpoint", &hung]);
    let hung_wall = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("warning: OTLP export").count(),
        1,
        "{stderr}"
    );
    // The run itself takes well under a second; the flush bound is one second.
    assert!(hung_wall < Duration::from_secs(5), "{hung_wall:?}");
}

/// One request a [`TinyCollector`] received: when, its path, head and body.
struct Received {
    at: Instant,
    path: String,
    head: String,
    body: Vec<u8>,
}

/// A status, extra headers and a body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A tiny in-test OTLP/HTTP receiver (a std TcpListener thread): `answer(n)` gives the raw
/// status line and extra headers/body for the n-th request (from 0).
struct TinyCollector {
    endpoint: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl TinyCollector {
    fn start(answer: fn(usize) -> Answer) -> TinyCollector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().flatten().enumerate() {
                let mut s = stream;
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break 0,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                if head_end == 0 {
                    continue;
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(Received {
                    at: Instant::now(),
                    path,
                    head: head.clone(),
                    body: buf[head_end..].to_vec(),
                });
                let (status, headers, body) = answer(n);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = std::io::Write::write_all(&mut s, out.as_bytes());
                let _ = std::io::Write::write_all(&mut s, &body);
            }
        });
        TinyCollector { endpoint, got }
    }

    /// Span ids delivered in acknowledged trace requests (http/json bodies).
    fn spans_delivered(&self, rejected: usize) -> usize {
        let got = self.got.lock().unwrap();
        got.iter()
            .enumerate()
            .filter(|(i, r)| *i >= rejected && r.path == "/v1/traces")
            .map(|(_, r)| {
                String::from_utf8_lossy(&r.body)
                    .matches("\"spanId\"")
                    .count()
            })
            .sum()
    }
}

const SLOW_RECIPE: &str = r#"
version: "1.0"
name: otlp-slow
nodes:
  - { id: a, run: "sleep 1" }
  - { id: b, run: "sleep 1", depends_on: [a] }
  - { id: c, run: "sleep 1", depends_on: [b] }
"#;

/// A collector that answers 503 (Retry-After: 1) once at the start of a ~3 s run loses
/// nothing: the batch is retried after the Retry-After and every span arrives (issue 24
/// point 5: one failed request lost the run's whole telemetry).
#[test]
fn a_503_at_the_start_is_retried_and_nothing_is_lost() {
    let collector = TinyCollector::start(|n| {
        if n == 0 {
            (
                503,
                vec![("Retry-After".into(), "1".into())],
                b"busy".to_vec(),
            )
        } else {
            (200, Vec::new(), b"{}".to_vec())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.yaml"), SLOW_RECIPE).unwrap();
    let out = secflow()
        .current_dir(dir.path())
        .args([
            "run-workflow",
            "--progress",
            "never",
            "--format",
            "json",
            "--otlp-endpoint",
        ])
        .arg(&collector.endpoint)
        .arg("slow.yaml")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["telemetry"]["export"]["undelivered"], 0, "{stderr}");
    let run_dir = dir
        .path()
        .join(".secflow/runs")
        .join(record["run_id"].as_str().unwrap());
    let spans = read_spans(&run_dir).len();
    let delivered = collector.spans_delivered(1);
    assert_eq!(delivered, spans, "spans delivered after the 503");
    let got = collector.got.lock().unwrap();
    assert!(got.len() >= 2);
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert_eq!(
        got[1].path, got[0].path,
        "the rejected batch is sent again first"
    );
}

/// A 200 whose body is over 4 MiB is a delivery, not a failure (issue 24 point 5).
#[test]
fn a_success_with_a_huge_body_counts_as_delivered() {
    let collector = TinyCollector::start(|_| (200, Vec::new(), vec![b' '; 5 << 20]));
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, _) = run(
        dir.path(),
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
        &["--otlp-endpoint", &collector.endpoint],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("OTLP export"), "{stderr}");
}

/// `export` skips and counts a bad line in the middle (naming file and line) instead of
/// aborting after part of the run was sent; a collector that cannot be reached exits 1, not
/// 2 (= usage or unreadable file) (issue 24 points 8 and 10).
#[test]
fn export_skips_bad_lines_and_a_dead_collector_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, run_dir) = run(dir.path(), &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let logs = std::fs::read_to_string(run_dir.join("logs.jsonl")).unwrap();
    let mut lines: Vec<&str> = logs.lines().collect();
    let total = lines.len();
    lines.insert(1, "{\"not\": a record");
    std::fs::write(run_dir.join("logs.jsonl"), lines.join("\n") + "\n").unwrap();
    let collector = TinyCollector::start(|_| (200, Vec::new(), b"{}".to_vec()));
    let export = |endpoint: &str| {
        secflow()
            .current_dir(dir.path())
            .args(["export", "last", "--otlp-endpoint", endpoint])
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
            .output()
            .unwrap()
    };
    let out = export(&collector.endpoint);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("logs.jsonl: line 2: not a valid record"),
        "{err}"
    );
    assert!(err.contains(&format!("{total} log records")), "{err}");
    assert!(err.contains("1 invalid line skipped"), "{err}");
    let logs_sent: usize = collector
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/v1/logs")
        .map(|r| {
            String::from_utf8_lossy(&r.body)
                .matches("\"timeUnixNano\"")
                .count()
        })
        .sum();
    assert_eq!(logs_sent, total);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = export(&dead);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("export stopped after 0 spans"), "{err}");
}

/// A failed Pushgateway push is recorded in run.json like undelivered OTLP data (issue 24
/// point 10: it left no trace).
#[test]
fn a_failed_pushgateway_push_is_recorded_in_run_json() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (code, stderr, run_dir) = run(
        dir.path(),
        &[],
        &["--push-metrics", &dead, "--push-timeout", "1s"],
    );
    assert_eq!(code, 0, "{stderr}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let export = &record["telemetry"]["export"];
    assert_eq!(export["pushgateway"], dead.as_str(), "{record:#}");
    assert!(export["undelivered"].as_u64().unwrap() > 0, "{export}");
    assert!(export["error"].as_str().is_some(), "{export}");
}

/// What every export to rotel must show: the run's trace id, its spans with their parent,
/// a log record carrying the trace id, and metric values (a counter and a histogram).
fn assert_rotel_saw_the_run(rotel: &Rotel, run_dir: &Path) {
    let spans = read_spans(run_dir);
    let trace_id = spans[0]["trace_id"].as_str().unwrap().to_string();
    let workflow = span_named(&spans, "workflow otlp-demo");
    let text = rotel.wait_for(&[
        format!("Trace ID       : {trace_id}"),
        "Name           : node consume".into(),
        format!("Parent ID      : {}", workflow["span_id"].as_str().unwrap()),
        "Body: Str(node completed)".into(),
        "-> Name: secflow.nodes.executed".into(),
        "-> DataType: Histogram".into(),
    ]);
    let log_part = &text[text.find("ResourceLog").expect("logs arrived")..];
    assert!(log_part.contains(&format!("Trace ID       : {trace_id}")));
    let executed = &text[text.find("-> Name: secflow.nodes.executed").unwrap()..];
    assert!(executed.contains("Value: 1"), "{executed}");
}

/// OTLP/gRPC (tonic) to rotel's gRPC port, gzip-compressed, with a header as metadata:
/// traces, logs and metrics arrive.
#[test]
fn live_export_over_grpc_reaches_the_receiver_with_traces_logs_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let rotel = Rotel::start(dir.path());
    let endpoint = format!("http://127.0.0.1:{}", rotel.grpc);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=grpc-secret-1"),
    ];
    let (code, stderr, run_dir) = run(dir.path(), &env, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("OTLP export"),
        "no warning expected: {stderr}"
    );
    assert_rotel_saw_the_run(&rotel, &run_dir);
    let record: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["telemetry"]["export"]["undelivered"], 0);
    assert_eq!(record["telemetry"]["export"]["otlp"], endpoint.as_str());
    // `export` of the recorded run over gRPC too.
    let out = secflow()
        .args(["export"])
        .arg(&run_dir)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as PEM: (ca, cert, key).
fn test_pki(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("secflow test CA {name}"));
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A TLS front for one of rotel's plain-text ports (rotel's receiver cannot terminate TLS):
/// rustls in the test, offering `h2` and `http/1.1` by ALPN, copying bytes both ways.
struct TlsFront {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    fn start(target: u16, cert_pem: &str, key_pem: &str) -> TlsFront {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        // ring, the provider secflow itself uses (rustls deprecates it for lacking
        // post-quantum key exchange, irrelevant to a loopback test).
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        TlsFront {
            port,
            _runtime: runtime,
        }
    }
}

/// HTTPS and gRPC over TLS with a private CA given by `OTEL_EXPORTER_OTLP_CERTIFICATE`
/// reach rotel; with the wrong CA the export fails with one clear warning, never the run
/// (exit 0, records complete, the loss counted in run.json).
#[test]
fn tls_with_a_private_ca_is_delivered_and_a_wrong_ca_warns_once_never_failing_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let rotel = Rotel::start(dir.path());
    let (ca, cert, key) = test_pki("right");
    let (wrong_ca, _, _) = test_pki("wrong");
    let ca_file = dir.path().join("ca.pem");
    let wrong_file = dir.path().join("wrong-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&wrong_file, wrong_ca).unwrap();
    let http_port: u16 = rotel.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let https = TlsFront::start(http_port, &cert, &key);
    let grpcs = TlsFront::start(rotel.grpc, &cert, &key);
    let https_url = format!("https://127.0.0.1:{}", https.port);
    let grpcs_url = format!("https://127.0.0.1:{}", grpcs.port);
    let cases = [
        (https_url.as_str(), "http/protobuf"),
        (grpcs_url.as_str(), "grpc"),
    ];
    for (url, protocol) in cases {
        let run_in = tempfile::tempdir().unwrap();
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.to_str().unwrap()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ];
        let (code, stderr, run_dir) = run(run_in.path(), &env, &[]);
        assert_eq!(code, 0, "{protocol}: {stderr}");
        assert!(!stderr.contains("OTLP export"), "{protocol}: {stderr}");
        assert_rotel_saw_the_run(&rotel, &run_dir);

        let wrong = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                wrong_file.to_str().unwrap(),
            ),
        ];
        let run_in = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (code, stderr, run_dir) = run(run_in.path(), &wrong, &[]);
        assert_eq!(code, 0, "{protocol}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(8), "{protocol}");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("warning: OTLP export"))
            .collect();
        assert_eq!(warnings.len(), 1, "{protocol}: {stderr}");
        assert!(
            warnings[0].contains("certificate")
                && warnings[0].contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "{protocol}: {}",
            warnings[0]
        );
        let record: Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(record["status"], "succeeded");
        assert!(
            record["telemetry"]["export"]["undelivered"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert!(read_spans(&run_dir).len() >= 6, "records complete");
    }
}

/// Headers hold API keys: a collector that echoes the key in its refusal never gets it onto
/// the screen or into run.json; the header and gzip body did reach the collector.
#[test]
fn an_api_key_echoed_by_the_collector_is_masked_in_the_warning_and_run_json() {
    const KEY: &str = "sk-live-0123456789";
    let collector = TinyCollector::start(|_| {
        (
            401,
            Vec::new(),
            format!("invalid api key {KEY}").into_bytes(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let headers = format!("x-api-key={KEY}");
    let (code, stderr, run_dir) = run(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
        &["--otlp-endpoint", &collector.endpoint],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("warning: OTLP export").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 401 invalid api key ***"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(!text.contains(KEY), "{} holds the key", path.display());
        }
    }
    let got = collector.got.lock().unwrap();
    let first = &got[0];
    let head = first.head.to_ascii_lowercase();
    assert!(
        head.contains(&format!("x-api-key: {}", KEY.to_ascii_lowercase())),
        "{head}"
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(first.body.as_slice()),
        &mut plain,
    )
    .expect("a gzip body");
    assert!(!plain.is_empty());
}
