//! `secflow performance-analysis` on the recorded runs in `fixtures/runs/`: snapshots of
//! the table, markdown and json formats (fixture times are fixed, so output is stable),
//! torn lines, unfinished runs, retries/failures, regressions and exit codes, the RUN
//! resolver, `--output`, and the chrome-trace format.
//!
//! Snapshots live in `fixtures/runs/_snapshots/`; `UPDATE_SNAPSHOTS=1 cargo test --test
//! analysis_cli` rewrites them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const LINEAR: &str = "01JD0000000000000000000001";
const FLAKY: &str = "01JD0000000000000000000002";
const UNFINISHED: &str = "01JD0000000000000000000003";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A temp dir whose `./.secflow/runs/` holds every fixture run.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let e = e.unwrap();
        if e.path().join("run.json").is_file() {
            copy_dir(
                &e.path(),
                &dir.path().join(".secflow/runs").join(e.file_name()),
            );
        }
    }
    dir
}

fn analyze(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("performance-analysis")
        .args(args)
        .current_dir(dir)
        .env_remove("SECFLOW_HOME")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&ok(&analyze(dir, &all))).unwrap()
}

fn snapshot(name: &str, actual: &str) {
    let path = fixtures().join("_snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {}", path.display()));
    assert!(
        expected == actual,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn snapshot_table_of_one_run() {
    let dir = setup();
    snapshot("linear.table.txt", &ok(&analyze(dir.path(), &[LINEAR])));
}

#[test]
fn snapshot_markdown_of_a_failed_run() {
    let dir = setup();
    let out = ok(&analyze(dir.path(), &[FLAKY, "--format", "markdown"]));
    snapshot("flaky.md", &out);
}

#[test]
fn snapshot_json_across_three_runs() {
    let dir = setup();
    let out = ok(&analyze(
        dir.path(),
        &["--workflow", "nightly", "--format", "json"],
    ));
    snapshot("nightly.json", &out);
}

#[test]
fn json_has_the_documented_top_level_keys() {
    let dir = setup();
    let v = json(dir.path(), &[LINEAR]);
    assert_eq!(v["schema_version"], 1);
    for key in [
        "total_duration_ms",
        "node_count",
        "findings_count",
        "avg_node_duration_ms",
        "findings_per_second",
    ] {
        assert!(v["summary"][key].is_number(), "summary.{key}");
    }
    assert_eq!(v["summary"]["total_duration_ms"], 3720);
    assert_eq!(v["summary"]["findings_count"], 12);
    assert_eq!(v["nodes"][1]["node_id"], "scan");
    assert_eq!(v["nodes"][1]["peak_rss_bytes"], 120 * 1024 * 1024);
    assert_eq!(
        v["critical_path"]["nodes"],
        serde_json::json!(["discovery", "scan", "enrichment"])
    );
    // A record written before `depends_on` existed: edges inferred from timing, said once.
    assert_eq!(v["critical_path"]["method"], "timing");
    assert_eq!(
        v["warnings"],
        serde_json::json!([
            "run.json records no depends_on (written before the field existed): critical path inferred from timing"
        ])
    );
    assert!(v["critical_path"]["share"].as_f64().unwrap() > 0.99);
    assert!(v["parallelism"]["efficiency"].is_number());
    assert!(v["regressions"].as_array().unwrap().is_empty());
    let sys = &v["system"];
    assert_eq!(sys["cpu_percent"]["min"], 20.0);
    assert_eq!(sys["cpu_percent"]["max"], 71.0);
}

#[test]
fn torn_last_line_is_counted_and_reported() {
    let dir = setup();
    let v = json(dir.path(), &[LINEAR]);
    assert_eq!(v["logs"]["torn_lines"], 1);
    assert_eq!(v["run"]["torn_lines"], 1);
    assert_eq!(v["logs"]["records"], 3);
    let table = ok(&analyze(dir.path(), &[LINEAR]));
    assert!(table.contains("Skipped lines: 1 torn"), "{table}");
}

#[test]
fn unfinished_run_is_reported_as_such() {
    let dir = setup();
    let v = json(dir.path(), &[UNFINISHED]);
    assert_eq!(v["run"]["finished"], false);
    assert_eq!(v["run"]["status"], "running");
    assert_eq!(v["spans"]["torn_lines"], 1);
    // Up to the last recorded event (a metrics sample at 1.5 s).
    assert_eq!(v["summary"]["total_duration_ms"], 1500);
    let warned = v["warnings"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w.as_str().unwrap().contains("never finished"))
    );
    let table = ok(&analyze(dir.path(), &[UNFINISHED]));
    assert!(table.contains("UNFINISHED"), "{table}");
}

#[test]
fn retries_timeouts_and_failures_with_errors() {
    let dir = setup();
    let v = json(dir.path(), &[FLAKY]);
    let problems: Vec<(String, String)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["node_id"].as_str().unwrap().to_string(),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("fetch".into(), "retried".into()),
            ("slow".into(), "timed_out".into()),
            ("publish".into(), "skipped".into())
        ]
    );
    assert_eq!(
        v["problems"][0]["message"],
        "exit code 1: connection refused"
    );
    // Exact edges: the depends_on run.json records.
    assert_eq!(v["critical_path"]["method"], "recorded");
    assert_eq!(
        v["critical_path"]["nodes"],
        serde_json::json!(["fetch", "parse"])
    );
    assert_eq!(v["nodes"][0]["attempts"], 2);
    assert_eq!(v["parallelism"]["peak"], 2);
}

#[test]
fn regression_flagged_with_both_figures_and_exit_3() {
    let dir = setup();
    let out = analyze(
        dir.path(),
        &[
            "--workflow",
            "nightly",
            "--fail-on-regression",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = v["regressions"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["node_id"], "scan");
    assert_eq!(r[0]["metric"], "duration_ms");
    assert_eq!(r[0]["baseline"], 1005);
    assert_eq!(r[0]["current"], 1500);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 regression flagged"));
}

#[test]
fn stable_runs_are_not_flagged() {
    let dir = setup();
    let args = [
        "01JD00000000000000000000A1",
        "01JD00000000000000000000A2",
        "--fail-on-regression",
        "--format",
        "json",
    ];
    let v: Value = serde_json::from_str(&ok(&analyze(dir.path(), &args))).unwrap();
    assert!(v["regressions"].as_array().unwrap().is_empty());
    assert_eq!(v["across_runs"]["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn threshold_and_noise_floor_both_gate() {
    let dir = setup();
    let base = ["--workflow", "nightly", "--fail-on-regression"];
    let above_threshold = [&base[..], &["--threshold", "60%"]].concat();
    assert_eq!(analyze(dir.path(), &above_threshold).status.code(), Some(0));
    let above_floor = [&base[..], &["--noise-ms", "600"]].concat();
    assert_eq!(analyze(dir.path(), &above_floor).status.code(), Some(0));
    assert_eq!(analyze(dir.path(), &base).status.code(), Some(3));
}

#[test]
fn baseline_run_against_the_median_of_the_selected() {
    let dir = setup();
    let v = json(
        dir.path(),
        &[
            "--baseline",
            "01JD00000000000000000000A1",
            "01JD00000000000000000000A2",
            "01JD00000000000000000000A3",
        ],
    );
    assert_eq!(v["across_runs"]["baseline"], "01JD00000000000000000000A1");
    let r = &v["regressions"][0];
    assert_eq!(
        (r["baseline"].as_u64(), r["current"].as_u64()),
        (Some(1000), Some(1255))
    );
}

#[test]
fn run_resolution_prefix_last_path_and_errors() {
    let dir = setup();
    let last = json(dir.path(), &["last"]);
    assert_eq!(last["run"]["run_id"], "01JD00000000000000000000A3");
    let none = json(dir.path(), &[]);
    assert_eq!(none["run"]["run_id"], "01JD00000000000000000000A3");
    let prefix = json(dir.path(), &["01JD0000000000000000000002"]);
    assert_eq!(prefix["run"]["run_id"], FLAKY);
    let path = dir.path().join(".secflow/runs").join(LINEAR);
    let by_path = json(dir.path(), &[path.to_str().unwrap()]);
    assert_eq!(by_path["run"]["run_id"], LINEAR);
    let ambiguous = analyze(dir.path(), &["01JD00000000000000000000A"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    let err = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(
        err.contains("ambiguous") && err.contains("01JD00000000000000000000A2"),
        "{err}"
    );
    assert_eq!(analyze(dir.path(), &["nope"]).status.code(), Some(2));
}

#[test]
fn state_dir_from_secflow_home_and_output_file() {
    let dir = setup();
    let elsewhere = tempfile::tempdir().unwrap();
    let report = dir.path().join("out.md");
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["analyze", LINEAR, "--format", "markdown", "--output"])
        .arg(&report)
        .current_dir(elsewhere.path())
        .env("SECFLOW_HOME", dir.path().join(".secflow"))
        .output()
        .unwrap();
    assert!(ok(&out).is_empty());
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("## Performance analysis"), "{text}");
}

#[test]
fn chrome_trace_has_one_complete_event_per_attempt() {
    let dir = setup();
    let out = ok(&analyze(dir.path(), &[FLAKY, "--format", "chrome-trace"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), 4);
    for e in &complete {
        assert!(e["ts"].is_u64() && e["dur"].is_u64() && e["tid"].as_u64().unwrap() >= 1);
        assert!(e["args"]["node_id"].is_string());
    }
    let retried = complete.iter().find(|e| e["name"] == "fetch#1").unwrap();
    assert_eq!(retried["args"]["status"], "failed");
    assert_eq!(retried["dur"], 300_000);
    assert!(events.iter().any(|e| e["ph"] == "C"));
    assert!(events.iter().any(|e| e["name"] == "thread_name"));
}

#[test]
fn last_n_selects_the_newest_runs() {
    let dir = setup();
    let v = json(dir.path(), &["--last", "2"]);
    let ids: Vec<&str> = v["across_runs"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["01JD00000000000000000000A2", "01JD00000000000000000000A3"]
    );
    assert_eq!(v["regressions"][0]["node_id"], "scan");
}

/// A run directory of the LINEAR fixture, alone, under `dir/.secflow/runs/`.
fn linear_only() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join(".secflow/runs").join(LINEAR);
    copy_dir(&fixtures().join(LINEAR), &run);
    (dir, run)
}

/// A torn last line of 70 MiB (past the old 64 MiB give-up) costs O(tail) and never hides
/// the records before it (issue 24 point 3: it took 27 s at 63 MiB and dropped everything
/// above 64 MiB).
#[test]
fn a_huge_torn_last_line_keeps_earlier_records_and_costs_linear_time() {
    let (dir, run) = linear_only();
    let before = json(dir.path(), &[LINEAR]);
    let mut torn = b"{\"message\":\"node completed\",\"x\":\"".to_vec();
    torn.resize(70 << 20, b'a');
    let mut logs = std::fs::OpenOptions::new()
        .append(true)
        .open(run.join("logs.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut logs, &torn).unwrap();
    drop(logs);
    let t = std::time::Instant::now();
    let after = json(dir.path(), &[LINEAR]);
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    assert_eq!(after["logs"]["records"], before["logs"]["records"]);
    assert_eq!(after["logs"]["torn_lines"], 1);
}

/// Names and node ids from an edited run.json (terminal escapes, newlines, HTML, pipes) are
/// escaped in the table and markdown formats: no raw control character, no split row, no
/// HTML (issue 24 point 2).
#[test]
fn hostile_names_are_escaped_in_table_and_markdown() {
    let (dir, run) = linear_only();
    let path = run.join("run.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    rec["workflow"]["name"] = "x\u{1b}[2J\u{1b}]0;PWNED\u{7}\r\nFAKE run succeeded".into();
    rec["nodes"][0]["node_id"] = "sc\nan<img src=x onerror=alert(1)>|x".into();
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
    for format in ["table", "markdown"] {
        let text = ok(&analyze(dir.path(), &[LINEAR, "--format", format]));
        assert!(
            !text.contains(['\u{1b}', '\r', '\u{7}']),
            "{format}: raw control character:\n{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("FAKE")), "{text}");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start_matches(['│', '|', ' ']).starts_with("an")),
            "{format}: a node id's newline split a row:\n{text}"
        );
        if format == "markdown" {
            assert!(!text.contains("<img"), "{text}");
            assert!(text.contains("&lt;img"), "{text}");
        }
    }
}

/// run.json's `recipe_path` naming a FIFO (or logs.jsonl being one) never blocks analyze: the
/// FIFO is refused with a message naming the file (issue 24 point 7).
#[test]
fn fifo_recipe_and_logs_are_refused_not_waited_on() {
    let (dir, run) = linear_only();
    let fifo = dir.path().join("recipe.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let path = run.join("run.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    rec["workflow"]["recipe_path"] = fifo.to_string_lossy().into_owned().into();
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["analyze", LINEAR, "--format", "json"])
        .current_dir(dir.path())
        .env_remove("SECFLOW_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed().as_secs() > 10 {
            let _ = child.kill();
            panic!("analyze blocked on a FIFO recipe_path");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    std::fs::remove_file(run.join("logs.jsonl")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(run.join("logs.jsonl"))
            .status()
            .unwrap()
            .success()
    );
    let out = analyze(dir.path(), &[LINEAR, "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("logs.jsonl") && err.contains("FIFO"), "{err}");
}

/// `--last N` says which runs it skipped as unreadable instead of leaving them out silently
/// (issue 24 point 10).
#[test]
fn last_n_names_the_corrupt_runs_it_skips() {
    let dir = setup();
    let bad = dir.path().join(".secflow/runs/01JD0000000000000000000009");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("run.json"), "{\"run_id\": \"01JD").unwrap();
    let out = analyze(dir.path(), &["--last", "10", "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipped run 01JD0000000000000000000009: run.json: EOF"),
        "{err}"
    );
}
