//! The deploy kit (`deploy/`, SPEC §11) against the real tools: `promtool check rules` and
//! `promtool test rules` on the Prometheus rules, and every Grafana panel query parsed and
//! evaluated by a real Prometheus with those rules loaded. The Promtail and Collector
//! examples are checked for shape (no Promtail or Collector binary in CI).
//!
//! [`dashboard_queries`] is the list a scrape test (`secflow serve` + Prometheus) evaluates
//! to prove every panel returns data.

use std::path::PathBuf;

use crate::prometheus::{Prometheus, promtool};

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn dashboard() -> serde_json::Value {
    let path = deploy().join("grafana/secflow.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(rel: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(deploy().join(rel)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every panel's `targets[].expr`, Grafana variables replaced as Grafana would with "All"
/// selected (`$workflow` → `.*`), ready for Prometheus's query API.
pub fn dashboard_queries() -> Vec<String> {
    let dash = dashboard();
    let mut queries = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push(expr.replace("${workflow}", ".*").replace("$workflow", ".*"));
            }
        }
    }
    queries
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = deploy().join("prometheus");
    let (code, out) = promtool(&dir, &["check", "rules", "rules.yml"]);
    assert_eq!(code, 0, "promtool check rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (code, out) = promtool(&dir, &["test", "rules", "rules_test.yml"]);
    assert_eq!(code, 0, "promtool test rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every alert of rules.yml has a firing and a not-firing case in rules_test.yml, and every
/// recording rule a `promql_expr_test`.
#[test]
fn every_rule_has_a_unit_test() {
    let rules = yaml("prometheus/rules.yml");
    let tests = yaml("prometheus/rules_test.yml");
    let cases: Vec<&serde_json::Value> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    let exprs: Vec<&str> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["promql_expr_test"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if let Some(alert) = rule["alert"].as_str() {
                let of = |firing: bool| {
                    cases.iter().any(|c| {
                        c["alertname"] == alert
                            && c["exp_alerts"]
                                .as_array()
                                .is_some_and(|a| a.is_empty() != firing)
                    })
                };
                assert!(of(true), "alert {alert} has no firing case");
                assert!(of(false), "alert {alert} has no not-firing case");
            } else {
                let record = rule["record"].as_str().expect("record or alert");
                assert!(
                    exprs.iter().any(|e| e.starts_with(record)),
                    "recording rule {record} has no promql_expr_test"
                );
            }
        }
    }
}

#[test]
fn dashboard_panels_have_a_datasource_variable_and_targets() {
    let dash = dashboard();
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36);
    let vars = dash["templating"]["list"].as_array().unwrap();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name);
    let ds = var("datasource").expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let wf = var("workflow").expect("a workflow variable");
    assert!(
        wf["query"]["query"]
            .as_str()
            .unwrap()
            .contains("secflow_runs_total")
    );
    let panels = dash["panels"].as_array().unwrap();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect(title);
        assert!(!targets.is_empty(), "{title}: no target");
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}");
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    // The panels SPEC §11 lists.
    let titles: Vec<String> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_lowercase())
        .collect();
    for want in [
        "success rate",
        "run duration p50 / p95",
        "node duration p95 by template",
        "findings rate",
        "failed runs",
        "host cpu",
        "host memory",
    ] {
        assert!(titles.iter().any(|t| t.contains(want)), "no panel {want:?}");
    }
    // Panels read the recording rules where one exists.
    let queries = dashboard_queries().join("\n");
    for record in [
        "workflow:secflow_runs_success:ratio_rate1h",
        "workflow:secflow_run_duration_seconds:p95",
        "workflow_node_id:secflow_history_node_duration_seconds:p95",
        "workflow:secflow_findings:rate1h",
    ] {
        assert!(queries.contains(record), "no panel uses {record}");
    }
}

/// A real Prometheus loads rules.yml (every rule healthy after evaluation) and accepts every
/// panel query (`status: success`; the data may be empty: nothing is scraped here).
#[test]
fn a_real_prometheus_loads_the_rules_and_accepts_every_panel_query() {
    let dir = tempfile::tempdir().unwrap();
    let rules = deploy().join("prometheus/rules.yml");
    let prom = Prometheus::start(dir.path(), &[], &[rules]);
    let declared: usize = yaml("prometheus/rules.yml")["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let answer = prom.api("/api/v1/rules");
        let rules: Vec<&serde_json::Value> = answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        assert_eq!(rules.len(), declared, "rules loaded: {answer}");
        let bad: Vec<_> = rules.iter().filter(|r| r["health"] == "err").collect();
        assert!(bad.is_empty(), "rules failing to evaluate: {bad:?}");
        if rules.iter().all(|r| r["health"] == "ok") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rules not all evaluated within 20 s: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let queries = dashboard_queries();
    assert!(queries.len() >= 8);
    for q in &queries {
        let answer = prom.query(q);
        assert_eq!(answer["status"], "success", "{q}: {answer}");
    }
    // The check has teeth: a misspelt function is refused.
    assert_eq!(prom.query("rate(secflow_runs_total[5m]")["status"], "error");
}

/// The series the rules and the dashboard are written against, named and labelled as SPEC
/// §11 (history, from `secflow serve`) and §4 (live) name them; the values are made up. A
/// scrape test of the real `secflow serve` replaces this with real data.
pub const SPEC_SERIES: &str = r#"# HELP secflow_runs_total Recorded runs by final status.
# TYPE secflow_runs_total counter
secflow_runs_total{workflow="nightly",status="succeeded"} 3
secflow_runs_total{workflow="nightly",status="failed"} 1
secflow_runs_total{workflow="nightly",status="cancelled"} 0
# HELP secflow_run_duration_seconds Wall time of recorded runs in seconds.
# TYPE secflow_run_duration_seconds histogram
secflow_run_duration_seconds_bucket{workflow="nightly",le="1"} 0
secflow_run_duration_seconds_bucket{workflow="nightly",le="10"} 3
secflow_run_duration_seconds_bucket{workflow="nightly",le="+Inf"} 4
secflow_run_duration_seconds_sum{workflow="nightly"} 31.5
secflow_run_duration_seconds_count{workflow="nightly"} 4
# HELP secflow_history_node_duration_seconds Duration of recorded node attempts in seconds.
# TYPE secflow_history_node_duration_seconds histogram
secflow_history_node_duration_seconds_bucket{workflow="nightly",node_id="scan",le="1"} 2
secflow_history_node_duration_seconds_bucket{workflow="nightly",node_id="scan",le="10"} 4
secflow_history_node_duration_seconds_bucket{workflow="nightly",node_id="scan",le="+Inf"} 4
secflow_history_node_duration_seconds_sum{workflow="nightly",node_id="scan"} 9
secflow_history_node_duration_seconds_count{workflow="nightly",node_id="scan"} 4
# HELP secflow_findings_total Findings of recorded runs.
# TYPE secflow_findings_total counter
secflow_findings_total{workflow="nightly"} 12
# HELP secflow_last_run_timestamp_seconds End time of the newest recorded run, by status.
# TYPE secflow_last_run_timestamp_seconds gauge
secflow_last_run_timestamp_seconds{workflow="nightly",status="succeeded"} 1.7e+09
secflow_last_run_timestamp_seconds{workflow="nightly",status="failed"} 1.6e+09
# HELP secflow_audit_chain_events_total Audit events of recorded runs.
# TYPE secflow_audit_chain_events_total counter
secflow_audit_chain_events_total{workflow="nightly"} 40
# HELP secflow_nodes_executed_total Nodes that reached a final status.
# TYPE secflow_nodes_executed_total counter
secflow_nodes_executed_total{node_id="scan",plugin_name="nuclei",status="failed"} 1
secflow_nodes_executed_total{node_id="scan",plugin_name="nuclei",status="succeeded"} 2
# HELP secflow_system_cpu_percent Host CPU utilisation over the last sample interval, percent of all cores.
# TYPE secflow_system_cpu_percent gauge
secflow_system_cpu_percent 12.5
# HELP secflow_system_memory_bytes Host memory in use (total minus available) in bytes.
# TYPE secflow_system_memory_bytes gauge
secflow_system_memory_bytes 1.2e+09
"#;

/// Serves `body` as every path's answer (Prometheus text) on a free loopback port, from a
/// thread that lives as long as the test binary; returns `host:port`.
fn serve_static(body: &'static str) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// With the series of SPEC §11 scraped (values made up, twice or more so rates exist) and the
/// rules evaluated, every panel query returns data: no panel is left empty by a wrong metric
/// name, label or recording-rule name.
#[test]
fn every_panel_query_returns_data_from_spec_named_series() {
    let (code, out) = crate::tools::promtool_check(SPEC_SERIES);
    assert_eq!(code, 0, "the sample exposition is promtool-clean: {out}");
    let dir = tempfile::tempdir().unwrap();
    let target = serve_static(SPEC_SERIES);
    let rules = deploy().join("prometheus/rules.yml");
    let prom = Prometheus::start(dir.path(), &[target], &[rules]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut empty: Vec<String> = dashboard_queries();
    while !empty.is_empty() {
        empty.retain(|q| {
            let answer = prom.query(q);
            assert_eq!(answer["status"], "success", "{q}: {answer}");
            answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
        });
        assert!(
            std::time::Instant::now() < deadline,
            "panel queries without data after 40 s: {empty:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn promtail_labels_workflow_level_and_node_from_logs_jsonl() {
    let cfg = yaml("promtail/promtail.yml");
    let job = &cfg["scrape_configs"][0];
    let path = job["static_configs"][0]["labels"]["__path__"]
        .as_str()
        .unwrap();
    assert!(path.ends_with("/runs/*/logs.jsonl"), "{path}");
    let stages = job["pipeline_stages"].as_array().unwrap();
    let json = stages
        .iter()
        .find_map(|s| s.get("json"))
        .expect("json stage");
    assert_eq!(json["expressions"]["workflow"], "workflow_id");
    let labels = stages
        .iter()
        .find_map(|s| s.get("labels"))
        .expect("labels stage");
    for l in ["workflow", "level", "node_id"] {
        assert!(labels.get(l).is_some(), "label {l}");
    }
    assert!(labels.get("run_id").is_none(), "run_id must not be a label");
}

#[test]
fn otel_collector_receives_otlp_on_4317_and_4318() {
    let cfg = yaml("otel-collector/config.yml");
    let otlp = &cfg["receivers"]["otlp"]["protocols"];
    assert!(
        otlp["grpc"]["endpoint"]
            .as_str()
            .unwrap()
            .ends_with(":4317")
    );
    assert!(
        otlp["http"]["endpoint"]
            .as_str()
            .unwrap()
            .ends_with(":4318")
    );
    for signal in ["traces", "logs", "metrics"] {
        let p = &cfg["service"]["pipelines"][signal];
        assert_eq!(p["receivers"][0], "otlp", "{signal}");
        for e in p["exporters"].as_array().unwrap() {
            assert!(
                cfg["exporters"].get(e.as_str().unwrap()).is_some(),
                "{signal}: {e}"
            );
        }
    }
}
