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

fn secflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_secflow"));
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SDK_DISABLED",
        "TRACEPARENT",
        "SECFLOW_HOME",
    ] {
        c.env_remove(var);
    }
    c
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
