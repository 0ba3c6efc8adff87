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

use crate::support::secflow;
use serde_json::Value;

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
            let probe = secflow::export::http::send(&secflow::export::http::Request {
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

/// One request a [`TinyCollector`] received: when, its path and body.
struct Received {
    at: Instant,
    path: String,
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
