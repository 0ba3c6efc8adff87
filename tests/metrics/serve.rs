//! `secflow serve` and `run-workflow --metrics-listen` as real processes: endpoints, auth,
//! hostile run directories, readiness, signals, load, and a real Prometheus server scraping
//! both (SPEC §11).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::prometheus::Prometheus;
use crate::support::secflow;
use crate::tools::{free_port, promtool_check};

/// Records a run of one of the repository's workflows under `state`.
pub fn record_run(state: &Path, workflow: &str) {
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workflows")
        .join(workflow);
    let out = secflow()
        .arg("run-workflow")
        .arg(recipe)
        .arg("--state-dir")
        .arg(state)
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A recipe whose one node sleeps `secs` (a run that stays `running`).
pub fn slow_recipe(dir: &Path, secs: u32) -> PathBuf {
    let path = dir.join("slow.yaml");
    std::fs::write(
        &path,
        format!("version: \"1.0\"\nname: slow\nnodes:\n  - id: wait\n    run: \"sleep {secs}\"\n"),
    )
    .unwrap();
    path
}

/// A child process killed (by its pid) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A run with `--metrics-listen` on a free port; returns the process and the port.
pub fn live_run(state: &Path, recipe: &Path) -> (Proc, u16) {
    let port = free_port();
    let child = secflow()
        .arg("run-workflow")
        .arg(recipe)
        .arg("--state-dir")
        .arg(state)
        .args(["-q", "--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    wait_for(&format!("http://127.0.0.1:{port}/healthz"), &[], 200);
    (proc, port)
}

/// `secflow serve` on a free loopback port.
pub struct Serve {
    pub proc: Proc,
    pub url: String,
}

impl Serve {
    pub fn start(state: &Path, extra: &[&str]) -> Serve {
        let port = free_port();
        let child = secflow()
            .arg("serve")
            .arg("--state-dir")
            .arg(state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let serve = Serve {
            proc: Proc(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for(&format!("{}/healthz", serve.url), &[], 200);
        serve
    }
}

/// GET with headers: (status, body).
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let r = secflow::exporters::http::send(&secflow::exporters::http::Request {
        method: "GET",
        url,
        headers,
        body: b"",
        timeout: Duration::from_secs(10),
    })
    .ok()?;
    Some((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

fn wait_for(url: &str, headers: &[(&str, &str)], status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_with(url, headers).map(|(s, _)| s) != Some(status) {
        assert!(Instant::now() < deadline, "{url} never answered {status}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn serve_endpoints_auth_hostile_ids_corrupt_runs_readyz_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    record_run(&state, "diamond.yaml");
    // A run whose workflow name is markup and breaks the exposition format if unescaped.
    // (The only run directory so far is the recorded one.)
    let good_dir = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut hostile: serde_json::Value =
        json(&std::fs::read_to_string(good_dir.join("run.json")).unwrap());
    hostile["run_id"] = "01HOSTILE".into();
    hostile["workflow"]["name"] = "<img src=x onerror=alert(1)>\"\n} 1".into();
    std::fs::create_dir_all(state.join("runs/01HOSTILE")).unwrap();
    std::fs::write(state.join("runs/01HOSTILE/run.json"), hostile.to_string()).unwrap();
    // A run with one node record this version cannot read (a field missing): listed with
    // its status, like `runs list` does, never `corrupt`.
    let mut odd = json(&std::fs::read_to_string(good_dir.join("run.json")).unwrap());
    odd["run_id"] = "01ODDNODE".into();
    odd["nodes"][0]
        .as_object_mut()
        .unwrap()
        .remove("plugin_name");
    std::fs::create_dir_all(state.join("runs/01ODDNODE")).unwrap();
    std::fs::write(state.join("runs/01ODDNODE/run.json"), odd.to_string()).unwrap();
    // A half-written run directory and one whose run.json is garbage.
    std::fs::create_dir_all(state.join("runs/01HALFWRITTEN")).unwrap();
    std::fs::create_dir_all(state.join("runs/01CORRUPT")).unwrap();
    std::fs::write(state.join("runs/01CORRUPT/run.json"), "{\"run_id\": [").unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "  s3cret-token \nsecond line ignored\n").unwrap();
    let serve = Serve::start(&state, &["--token-file", token.to_str().unwrap()]);
    let auth = [("Authorization", "Bearer s3cret-token")];
    let url = |p: &str| format!("{}{p}", serve.url);
    // /healthz is open; everything else needs the token.
    assert_eq!(get_with(&url("/healthz"), &[]).unwrap().0, 200);
    for path in ["/", "/metrics", "/api/runs", "/readyz"] {
        assert_eq!(get_with(&url(path), &[]).unwrap().0, 401, "{path}");
        let wrong = [("Authorization", "Bearer s3cret-tokeN")];
        assert_eq!(get_with(&url(path), &wrong).unwrap().0, 401, "{path}");
        assert_eq!(get_with(&url(path), &auth).unwrap().0, 200, "{path}");
    }
    // The list: exact shape, newest first, corrupt runs listed as such.
    let (_, body) = get_with(&url("/api/runs"), &auth).unwrap();
    let v = json(&body);
    assert_eq!(v["schema_version"], 1);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "{body}");
    let odd = runs.iter().find(|r| r["run_id"] == "01ODDNODE").unwrap();
    assert_eq!(odd["status"], "succeeded", "{body}");
    let good = runs
        .iter()
        .find(|r| r["workflow"] == "diamond" && r["run_id"] != "01ODDNODE")
        .unwrap();
    let keys: Vec<&str> = good
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "run_id",
        "workflow",
        "status",
        "started_at",
        "ended_at",
        "duration_ms",
        "findings_count",
        "exit_code",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(good["status"], "succeeded");
    for id in ["01HALFWRITTEN", "01CORRUPT"] {
        let r = runs.iter().find(|r| r["run_id"] == id).unwrap();
        assert_eq!(r["status"], "corrupt", "{id}");
    }
    let (_, page) = get_with(&url("/"), &auth).unwrap();
    assert!(page.contains("corrupt (run.json"), "{page}");
    assert!(
        !page.contains("<img") && page.contains("&lt;img src=x"),
        "{page}"
    );
    let (_, page) = get_with(&url("/runs/01HOSTILE"), &auth).unwrap();
    assert!(
        !page.contains("<img") && page.contains("&lt;img src=x"),
        "{page}"
    );
    let (_, text) = get_with(&url("/metrics"), &auth).unwrap();
    let (code, msg) = promtool_check(&text);
    assert_eq!((code, msg.as_str()), (0, ""), "promtool on:\n{text}");
    assert!(
        text.contains("workflow=\"<img src=x onerror=alert(1)>\\\"\\n} 1\""),
        "{text}"
    );
    let id = good["run_id"].as_str().unwrap();
    // Per-run endpoints.
    let (s, body) = get_with(&url(&format!("/api/runs/{id}")), &auth).unwrap();
    assert_eq!((s, json(&body)["run_id"].as_str()), (200, Some(id)));
    let (s, body) = get_with(&url(&format!("/api/runs/{id}/analysis")), &auth).unwrap();
    assert_eq!((s, json(&body)["schema_version"].as_u64()), (200, Some(1)));
    let (s, body) = get_with(&url(&format!("/api/runs/{id}/logs?level=INFO")), &auth).unwrap();
    assert_eq!(s, 200);
    assert!(body.lines().count() > 0);
    for line in body.lines() {
        json(line);
    }
    // Hostile and unknown ids are 404s, never paths.
    for bad in [
        "/api/runs/..",
        "/api/runs/../run.json",
        "/api/runs/..%2F..%2Fetc",
        "/api/runs/.%2E/logs",
        "/runs/..",
        "/api/runs/NOPE",
        "/api/runs/01CORRUPT/../../token",
    ] {
        let (s, _) = get_with(&url(bad), &auth).unwrap();
        assert!(s == 404, "{bad}: {s}");
    }
    assert_eq!(get_with(&url("/api/runs/01CORRUPT"), &auth).unwrap().0, 422);
    assert_eq!(get_with(&url("/runs/01CORRUPT"), &auth).unwrap().0, 200);
    // The server survived all of that; the state dir renamed → 503 with the reason.
    std::fs::rename(&state, dir.path().join("moved")).unwrap();
    let (s, body) = get_with(&url("/readyz"), &auth).unwrap();
    assert_eq!(s, 503);
    assert!(
        json(&body)["reason"]
            .as_str()
            .unwrap()
            .contains("state directory"),
        "{body}"
    );
    std::fs::rename(dir.path().join("moved"), &state).unwrap();
    assert_eq!(get_with(&url("/readyz"), &auth).unwrap().0, 200);
    // TERM stops it within 1 s, exit 0.
    let mut serve = serve;
    let pid = serve.proc.0.id().to_string();
    let t0 = Instant::now();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = loop {
        if let Some(s) = serve.proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "still serving 1 s after TERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    eprintln!("serve stopped {:?} after TERM", t0.elapsed());
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = secflow()
        .args(["serve", "--listen", &format!("0.0.0.0:{}", free_port())])
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a token") && err.contains("--token-file"),
        "{err}"
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = secflow()
        .args(["serve", "--token-file", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn serve_metrics_are_promtool_clean_with_live_runs_and_bounded_labels() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    record_run(&state, "diamond.yaml");
    record_run(&state, "diamond.yaml");
    record_run(&state, "sample-linear.yaml");
    let recipe = slow_recipe(dir.path(), 20);
    let (_run, port) = live_run(&state, &recipe);
    let serve = Serve::start(&state, &[]);
    // The live run's §4 series appear once its first snapshot is written.
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let (s, text) = get_with(&format!("{}/metrics", serve.url), &[]).unwrap();
        assert_eq!(s, 200);
        if text.contains("secflow_active_workflows{") {
            break text;
        }
        assert!(Instant::now() < deadline, "no live series:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, msg) = promtool_check(&text);
    assert_eq!((code, msg.as_str()), (0, ""), "promtool on:\n{text}");
    assert!(
        text.contains("secflow_runs_total{status=\"succeeded\",workflow=\"diamond\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("secflow_runs_total{status=\"running\",workflow=\"slow\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("secflow_history_node_duration_seconds_count{node_id=\"merge\",workflow=\"diamond\"} 2\n") || text.contains("secflow_history_node_duration_seconds_count{node_id="), "{text}");
    // No run id in any history series.
    let history = [
        "secflow_runs_total",
        "secflow_run_duration_seconds",
        "secflow_history_node_duration_seconds",
        "secflow_findings_total",
        "secflow_last_run_timestamp_seconds",
        "secflow_audit_chain_events_total",
    ];
    for line in text
        .lines()
        .filter(|l| history.iter().any(|h| l.starts_with(h)))
    {
        assert!(!line.contains("run_id"), "{line}");
    }
    let (code, msg) = promtool_check(
        &get_with(&format!("http://127.0.0.1:{port}/metrics"), &[])
            .unwrap()
            .1,
    );
    assert_eq!((code, msg.as_str()), (0, ""));
}

/// 100 clients at once on /metrics and /api/runs while a run writes: every answer 200 and
/// whole (JSON parses, exposition ends with a newline); p99 printed.
#[test]
fn serve_under_100_concurrent_clients_while_a_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    record_run(&state, "diamond.yaml");
    let recipe = slow_recipe(dir.path(), 8);
    let (_run, _) = live_run(&state, &recipe);
    let serve = Serve::start(&state, &[]);
    let mut handles = Vec::new();
    for i in 0..100 {
        let base = serve.url.clone();
        handles.push(std::thread::spawn(move || {
            let mut times = Vec::new();
            for k in 0..5 {
                let path = if (i + k) % 2 == 0 {
                    "/metrics"
                } else {
                    "/api/runs"
                };
                let t = Instant::now();
                let (s, body) = get_with(&format!("{base}{path}"), &[]).expect("answered");
                times.push(t.elapsed());
                assert_eq!(s, 200, "{path}");
                if path == "/api/runs" {
                    json(&body);
                } else {
                    assert!(body.ends_with('\n') && body.contains("secflow_runs_total"));
                }
            }
            times
        }));
    }
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let p99 = all[all.len() * 99 / 100];
    eprintln!(
        "serve: {} requests from 100 clients, p50 {:?}, p99 {p99:?}",
        all.len(),
        all[all.len() / 2]
    );
}

/// Waits until `q` returns data from `prom`; the result vector.
fn wait_data(prom: &Prometheus, q: &str, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let answer = prom.query(q);
        assert_eq!(answer["status"], "success", "{q}: {answer}");
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !result.is_empty() {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "no data for `{q}` within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A real Prometheus server (Debian's `prometheus`) scrapes `secflow serve` over recorded runs
/// (succeeded and failed) and a `--metrics-listen` run, with `deploy/`'s rules loaded: the
/// series are asserted through its HTTP API, then every Grafana panel query of
/// `deploy/grafana/secflow.json` must return data from this real scrape.
#[test]
fn prometheus_scrapes_serve_and_a_metrics_listen_run_and_every_panel_has_data() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    record_run(&state, "diamond.yaml");
    record_run(&state, "sample-linear.yaml");
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "version: \"1.0\"\nname: diamond\nnodes:\n  - id: merge\n    run: \"exit 3\"\n",
    )
    .unwrap();
    let out = secflow()
        .arg("run-workflow")
        .arg(&failing)
        .arg("--state-dir")
        .arg(&state)
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let recipe = slow_recipe(dir.path(), 60);
    let (_run, port) = live_run(&state, &recipe);
    let serve = Serve::start(&state, &[]);
    let serve_target = serve.url.trim_start_matches("http://").to_string();
    let live_target = format!("127.0.0.1:{port}");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules.yml");
    let prom = Prometheus::start(
        dir.path(),
        &[serve_target.clone(), live_target.clone()],
        &[rules],
    );
    let within = Duration::from_secs(30);
    let runs = wait_data(
        &prom,
        &format!(
            "secflow_runs_total{{instance=\"{serve_target}\",workflow=\"diamond\",status=\"succeeded\"}}"
        ),
        within,
    );
    assert_eq!(runs[0]["value"][1], "1");
    wait_data(
        &prom,
        "secflow_runs_total{workflow=\"diamond\",status=\"failed\"} == 1",
        within,
    );
    wait_data(
        &prom,
        "secflow_history_node_duration_seconds_bucket{workflow=\"Linear Security Scan\",node_id=\"scan\"}",
        within,
    );
    wait_data(
        &prom,
        "secflow_run_duration_seconds_count{workflow=\"diamond\"} == 2",
        within,
    );
    wait_data(
        &prom,
        "secflow_findings_total{workflow=\"Linear Security Scan\"} == 30",
        within,
    );
    wait_data(
        &prom,
        "secflow_last_run_timestamp_seconds{status=\"failed\"}",
        within,
    );
    wait_data(
        &prom,
        "secflow_audit_chain_events_total{workflow=\"diamond\"} > 0",
        within,
    );
    // The running run: through serve (labelled with its run id) and on its own endpoint.
    wait_data(
        &prom,
        "secflow_active_workflows{workflow=\"slow\",run_id!=\"\"}",
        within,
    );
    let live = wait_data(
        &prom,
        &format!("secflow_workflows_started_total{{instance=\"{live_target}\"}}"),
        within,
    );
    assert_eq!(live[0]["value"][1], "1");
    wait_data(
        &prom,
        &format!("up{{instance=\"{live_target}\"}} == 1"),
        within,
    );
    // Every panel of the dashboard, on the rules evaluated over this real scrape.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut empty = crate::deploy::dashboard_queries();
    let panels = empty.len();
    assert!(panels > 0);
    while !empty.is_empty() {
        empty.retain(|q| {
            let answer = prom.query(q);
            assert_eq!(answer["status"], "success", "{q}: {answer}");
            answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
        });
        assert!(
            Instant::now() < deadline,
            "panel queries without data from the real scrape after 60 s: {empty:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "prometheus at {} scraped serve and the live run; all {panels} panel queries have data",
        prom.url
    );
}

#[test]
fn metrics_listen_on_a_busy_address_refuses_the_run_before_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let recipe = slow_recipe(dir.path(), 1);
    let out = secflow()
        .arg("run-workflow")
        .arg(&recipe)
        .arg("--state-dir")
        .arg(&state)
        .args(["-q", "--metrics-listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--metrics-listen") && err.contains(&addr),
        "{err}"
    );
    let runs = std::fs::read_dir(state.join("runs")).map_or(0, |r| r.count());
    assert_eq!(runs, 0, "no run directory for a refused run");
}

#[test]
fn serve_stops_on_sigint_within_a_second_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]);
    let (s, body) = get_with(&format!("{}/api/runs", serve.url), &[]).unwrap();
    assert_eq!(
        (s, body.as_str()),
        (200, "{\"schema_version\":1,\"runs\":[]}\n")
    );
    let pid = serve.proc.0.id().to_string();
    let t0 = Instant::now();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = loop {
        if let Some(s) = serve.proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "still serving 1 s after INT"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
}
