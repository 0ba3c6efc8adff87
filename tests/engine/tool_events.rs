//! The node telemetry channel (`SECFLOW_EVENTS`, SPEC §11) with real tools: `secflow emit`
//! and raw lines into logs.jsonl, metrics and findings; hostile lines counted, never fatal;
//! a flood rate-limited in bounded memory; nothing left behind, no descriptor leaked.

use crate::support::{BIN, command, finish};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(grep_dir(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(p.display().to_string());
        }
    }
    hits
}

#[test]
fn emitted_logs_metrics_progress_and_findings_reach_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: events
secrets: [EV_TOKEN]
nodes:
  - id: tool
    run: |
      set -e
      echo "$SECFLOW_EVENTS" > events-path.txt
      "$SECFLOW_BIN" emit log --level warn --message "login with $EV_TOKEN" --field target=t1
      "$SECFLOW_BIN" emit metric --name scan_requests --type counter --value 3 --label method=GET
      "$SECFLOW_BIN" emit metric --name scan_requests --type counter --value 2 --label method=GET
      "$SECFLOW_BIN" emit metric --name queue_depth --type gauge --value 7
      "$SECFLOW_BIN" emit metric --name latency_seconds --type histogram --value 0.2
      "$SECFLOW_BIN" emit progress 0.5
      "$SECFLOW_BIN" emit finding '{"id":"CVE-1","secret":"'"$EV_TOKEN"'"}'
      printf '{"finding":{"id":"CVE-2"}}\n' > "$SECFLOW_EVENTS"
"#;
    let out = command(dir.path(), recipe, &[])
        .env("SECFLOW_BIN", BIN)
        .env("EV_TOKEN", "tok-77-secret")
        .output()
        .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("telemetry channel"), "{}", r.stderr);
    // Two findings reported, no findings dataset: the node's count.
    assert_eq!(r.node("tool")["findings_count"], 2, "{}", r.record);

    let logs = lines(&r.run_dir.join("logs.jsonl"));
    let spans = lines(&r.run_dir.join("spans.jsonl"));
    let attempt_span = spans
        .iter()
        .find(|s| s["name"] == "attempt tool#1")
        .expect("attempt span");
    let tool: Vec<&serde_json::Value> = logs
        .iter()
        .filter(|l| l["logger"] == "secflow::tool")
        .collect();
    let log = tool
        .iter()
        .find(|l| l["level"] == "WARN")
        .expect("the tool's log line");
    assert_eq!(log["message"], "login with [REDACTED]");
    assert_eq!(log["metadata"]["target"], "t1");
    assert_eq!(log["node_id"], "tool");
    assert_eq!(log["attempt"], 1);
    assert_eq!(log["trace_id"], r.record["trace_id"]);
    assert_eq!(log["span_id"], attempt_span["span_id"]);
    let findings: Vec<_> = tool.iter().filter(|l| l["message"] == "finding").collect();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["metadata"]["finding"]["secret"], "[REDACTED]");

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.run_dir.join("metrics.json")).unwrap())
            .unwrap();
    let text = metrics.to_string();
    let series = |name: &str| -> serde_json::Value {
        metrics["series"]
            .as_array()
            .or_else(|| metrics["metrics"].as_array())
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let counter = series("scan_requests_total");
    assert_eq!(counter["value"], 5.0);
    assert_eq!(counter["labels"]["node_id"], "tool");
    assert_eq!(counter["labels"]["plugin_name"], "exec");
    assert_eq!(counter["labels"]["method"], "GET");
    assert_eq!(series("queue_depth")["value"], 7.0);
    assert_eq!(series("latency_seconds")["count"], 1);

    // The secret is nowhere in the run directory; the pipe was never in it and is gone.
    assert_eq!(grep_dir(&r.run_dir, b"tok-77-secret"), Vec::<String>::new());
    let fifo = std::fs::read_to_string(dir.path().join("events-path.txt")).unwrap();
    let fifo = std::path::Path::new(fifo.trim());
    assert!(!fifo.starts_with(&r.run_dir), "{}", fifo.display());
    assert!(
        !fifo.exists() && !fifo.parent().unwrap().exists(),
        "{}",
        fifo.display()
    );
}

#[test]
fn hostile_lines_are_counted_and_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 MiB line, invalid UTF-8, label injection, a reserved label, secflow's own
    // namespace, an unknown key; then a good line, which still arrives.
    let recipe = r#"
version: "1.0"
name: hostile
nodes:
  - id: evil
    run: |
      {
        head -c 1048576 /dev/zero | tr '\0' a; echo
        printf '{"log":{"message":"\377\376"}}\n'
        printf '{"metric":{"name":"x","type":"gauge","value":1,"labels":{"a\\"} 1\\nevil{":"v"}}}\n'
        printf '{"metric":{"name":"x","type":"gauge","value":1,"labels":{"node_id":"other"}}}\n'
        printf '{"metric":{"name":"secflow_nodes_executed_total","type":"counter","value":9}}\n'
        printf '{"exec":"rm -rf /"}\n'
        printf '{"metric":{"name":"scan_gauge","type":"gauge","value":1}}\n'
        printf '{"metric":{"name":"open_ports","type":"gauge","value":4,"labels":{"v":"a\\"} 1\\nevil{"}}}\n'
      } > "$SECFLOW_EVENTS"
"#;
    let r = crate::support::run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("evil"), "succeeded");
    assert!(
        r.stderr.contains("7 bad lines")
            && r.stderr.contains("too_long 1")
            && r.stderr.contains("not_json 2")
            && r.stderr.contains("bad_label 2")
            && r.stderr.contains("bad_metric_name 2"),
        "{}",
        r.stderr
    );
    // The injected label value is escaped in the exposition, which stays valid.
    let prom = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "metrics",
            "last",
            "--state-dir",
            "state",
            "--format",
            "prometheus",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(prom.stdout).unwrap();
    assert!(
        text.contains(r#"open_ports{node_id="evil",plugin_name="exec",v="a\"} 1\nevil{"} 4"#),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("evil")), "{text}");
    assert!(
        text.contains("secflow_nodes_executed_total{node_id=\"evil\""),
        "{text}"
    );
    assert!(!text.contains("secflow_nodes_executed_total 9"), "{text}");
    // And promtool, an independent parser, accepts it (tool series included).
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "promtool: {out:?}\n{text}");
        }
        Err(e) => assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required under CI: {e}"
        ),
    }
}

#[test]
fn a_flood_is_rate_limited_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MB of valid lines as fast as the pipe takes them (the reader never stalls the
    // tool), then one more after the flood.
    let recipe = r#"
version: "1.0"
name: flood
nodes:
  - id: flood
    run: |
      yes '{"log":{"level":"info","message":"spam"}}' | head -c 268435456 > "$SECFLOW_EVENTS"
"#;
    let started = std::time::Instant::now();
    let r = crate::support::run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("dropped by the rate limit"),
        "{}",
        r.stderr
    );
    let rss = r.record["self_usage"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss < 64 * 1024 * 1024, "secflow peak RSS {rss} bytes");
    let logs = std::fs::read_to_string(r.run_dir.join("logs.jsonl")).unwrap();
    let spam = logs.matches("\"spam\"").count();
    let secs = started.elapsed().as_secs_f64();
    // At most the burst plus the rate over the run's length.
    assert!(
        spam >= 2000 && (spam as f64) <= 2000.0 + 1000.0 * (secs + 1.0),
        "{spam} lines in {secs:.1}s"
    );
}

#[test]
fn the_channel_is_not_inherited_by_other_attempts() {
    let dir = tempfile::tempdir().unwrap();
    // Two attempts at once: neither holds a descriptor to any telemetry pipe (secflow's
    // read ends are close-on-exec and the spawner passes 0-2 only), and each has its own.
    let recipe = r#"
version: "1.0"
name: fds
concurrency: 2
nodes:
  - id: a
    run: "sleep 0.3; ls -l /proc/$$/fd > a.fds; echo \"$SECFLOW_EVENTS\" > a.path"
  - id: b
    run: "sleep 0.3; ls -l /proc/$$/fd > b.fds; echo \"$SECFLOW_EVENTS\" > b.path"
"#;
    let r = crate::support::run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for n in ["a", "b"] {
        let fds = std::fs::read_to_string(dir.path().join(format!("{n}.fds"))).unwrap();
        assert!(!fds.contains("secflow-run-events"), "{n}: {fds}");
    }
    let a = std::fs::read_to_string(dir.path().join("a.path")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("b.path")).unwrap();
    assert!(a.contains("secflow-run-events") && a != b, "{a} {b}");
}

#[test]
fn a_runs_fifos_share_one_directory_removed_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    // Three attempts in turn (one a retry): each gets a new FIFO (never one an earlier
    // attempt could still hold), all in one directory made for the run (a directory per
    // attempt cost ~85 µs of ext4 mkdir/rmdir a node), and nothing is left afterwards.
    let recipe = r#"
version: "1.0"
name: fifos
nodes:
  - id: a
    run: "echo \"$SECFLOW_EVENTS\" >> paths; test -p \"$SECFLOW_EVENTS\""
  - id: b
    run: "echo \"$SECFLOW_EVENTS\" >> paths; test -e second || { touch second; exit 1; }"
    retry: { max_attempts: 2, base_delay: 0 }
    depends_on: [a]
"#;
    let out = command(dir.path(), recipe, &[])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let paths = std::fs::read_to_string(dir.path().join("paths")).unwrap();
    let paths: Vec<&std::path::Path> = paths.lines().map(std::path::Path::new).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    let parent = paths[0].parent().unwrap();
    assert!(parent.starts_with(runtime.path()), "{paths:?}");
    assert!(
        parent
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("secflow-run-events-"),
        "{paths:?}"
    );
    for p in &paths[1..] {
        assert_eq!(p.parent().unwrap(), parent, "{paths:?}");
    }
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "a FIFO was reused: {paths:?}");
    let left: Vec<_> = std::fs::read_dir(runtime.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_ended_attempts_fifo_feeds_no_later_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    // The FIFO of an ended attempt is unlinked only once a later attempt is starting (off the
    // path between two nodes): a later tool writing to it while it is still there reaches no
    // record, and the next attempt's FIFO (made ahead) is another one.
    let recipe = r#"
version: "1.0"
name: stale-fifo
nodes:
  - id: a
    run: "echo \"$SECFLOW_EVENTS\" > a.path"
  - id: b
    run: |
      old=$(cat a.path)
      if [ -p "$old" ]; then
        timeout 1 sh -c "printf '{\"log\": {\"message\": \"injected-by-b\"}}\n' > '$old'" || true
      fi
      # Every other FIFO there, and the names the next ones would have with a counter.
      dir=$(dirname "$SECFLOW_EVENTS")
      for f in "$dir"/* "$dir"/events-2 "$dir"/events-3; do
        [ "$f" = "$SECFLOW_EVENTS" ] && continue
        timeout 1 sh -c "printf '{\"log\": {\"message\": \"injected-by-b\"}}\n' >> '$f'" || true
      done
      echo "$SECFLOW_EVENTS" > b.path
    depends_on: [a]
  - id: c
    run: "echo \"$SECFLOW_EVENTS\" > c.path"
    depends_on: [b]
"#;
    let out = command(dir.path(), recipe, &[])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let logs = std::fs::read_to_string(r.run_dir.join("logs.jsonl")).unwrap();
    assert!(!logs.contains("injected-by-b"), "{logs}");
    let path = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    let (a, b, c) = (path("a.path"), path("b.path"), path("c.path"));
    assert!(a != b && b != c && a != c, "{a} {b} {c}");
}

#[test]
fn emit_outside_a_run_warns_and_refuses_what_is_not_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let emit = |env: Option<&std::path::Path>, args: &[&str]| {
        let mut c = std::process::Command::new(BIN);
        c.arg("emit").args(args).env_remove("SECFLOW_EVENTS");
        if let Some(p) = env {
            c.env("SECFLOW_EVENTS", p);
        }
        c.output().unwrap()
    };
    let out = emit(None, &["progress", "0.5"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECFLOW_EVENTS is not set"));
    // A regular file is never written to, whatever the variable says.
    let file = dir.path().join("victim");
    std::fs::write(&file, "keep\n").unwrap();
    let out = emit(Some(&file), &["log", "--message", "x"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pipe"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    // A line secflow would refuse is refused here, exit 2.
    for bad in [
        &["metric", "--name", "a b", "--type", "gauge", "--value", "1"][..],
        &[
            "metric",
            "--name",
            "x",
            "--type",
            "gauge",
            "--value",
            "1",
            "--label",
            "node_id=y",
        ],
        &["progress", "2"],
        &["finding", "[1]"],
    ] {
        let out = emit(None, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

/// Attack: a tool puts terminal escape sequences (OSC title, screen clear) in a metric label
/// value; the Prometheus exposition escapes only `\`, `"` and newline, so `secflow metrics
/// --format prometheus` (and `/metrics`) sent them raw to the reader's terminal. Such a
/// label is refused (`bad_label`), like any other bad label.
#[test]
fn control_characters_in_a_label_value_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: esc
nodes:
  - id: evil
    run: |
      {
        printf '{"metric":{"name":"hits","type":"gauge","value":1,"labels":{"v":"x\\u001b]0;HACKED\\u0007\\u001b[2J"}}}\n'
        printf '{"metric":{"name":"hits","type":"gauge","value":2,"labels":{"v":"csi\\u009b2J"}}}\n'
        printf '{"metric":{"name":"hits","type":"gauge","value":3,"labels":{"v":"plain"}}}\n'
      } > "$SECFLOW_EVENTS"
"#;
    let r = crate::support::run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("bad_label 2"), "{}", r.stderr);
    let prom = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "metrics",
            "last",
            "--state-dir",
            "state",
            "--format",
            "prometheus",
        ])
        .output()
        .unwrap();
    assert!(
        !prom.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
        "{}",
        String::from_utf8_lossy(&prom.stdout)
    );
    let text = String::from_utf8(prom.stdout).unwrap();
    assert!(!text.contains('\u{9b}'), "{text}");
    assert!(text.contains("v=\"plain\"} 3"), "{text}");
}

/// Attack: the channel caps series per attempt (100), but a fan-out multiplies attempts: 25
/// instances each labelling 100 series with their own index made 2 500 series in one run
/// (10 000 instances: a million, in memory, metrics.json, /metrics and the Pushgateway). A
/// run keeps at most 2 000 tool series; the first ones stay.
#[test]
fn tool_series_are_bounded_per_run_whatever_the_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<String> = (0..25).map(|i| i.to_string()).collect();
    let recipe = format!(
        r#"
version: "1.0"
name: cardinality
concurrency: 4
nodes:
  - id: fan
    foreach: [{}]
    run: |
      j=0
      while [ "$j" -lt 100 ]; do
        printf '{{"metric":{{"name":"per_item","type":"gauge","value":1,"labels":{{"i":"%s","j":"%s"}}}}}}\n' {{{{ index }}}} "$j"
        j=$((j + 1))
      done > "$SECFLOW_EVENTS"
"#,
        items.join(", ")
    );
    let r = crate::support::run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let prom = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "metrics",
            "last",
            "--state-dir",
            "state",
            "--format",
            "prometheus",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(prom.stdout).unwrap();
    let series = text.lines().filter(|l| l.starts_with("per_item{")).count();
    assert_eq!(series, 2_000, "{}", r.stderr);
}

/// The FIFO directories in `dir`: this build's (`secflow-run-events-*`) and older ones'.
fn fifo_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("secflow-"))
        })
        .collect();
    found.sort();
    found
}

/// Sets the last change of `path` (a directory) to `ago` before now.
fn age(path: &std::path::Path, ago: std::time::Duration) {
    let then = std::time::SystemTime::now() - ago;
    std::fs::File::open(path)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(then))
        .unwrap();
}

/// A run killed before its end (SIGKILL) leaves its FIFO directory behind (a `/dev/shm`
/// filled with them over time); the next run removes it when it makes its own. Never one a
/// live run holds (its `flock`), one made a moment ago (not locked yet), nor anything
/// through a symlink.
#[test]
fn fifo_directories_left_by_killed_runs_are_swept_and_live_ones_kept() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let slow = "version: \"1.0\"\nname: slow\nnodes:\n  - id: a\n    run: \"sleep 30\"\n";
    let mut child = command(dir.path(), slow, &[])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = loop {
        let made = fifo_dirs(runtime.path());
        if let Some(d) = made.first()
            && std::fs::read_dir(d).unwrap().count() > 0
        {
            break d.clone();
        }
        assert!(Instant::now() < deadline, "no FIFO was made");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(left.exists(), "a killed run removed its FIFO directory");
    age(&left, Duration::from_secs(7200));

    let young = runtime.path().join("secflow-run-events-young");
    std::fs::create_dir(&young).unwrap();
    let held = runtime.path().join("secflow-run-events-held");
    std::fs::create_dir(&held).unwrap();
    age(&held, Duration::from_secs(7200));
    // A live run's lock: another open description of the directory, flocked.
    let lock = std::fs::File::open(&held).unwrap();
    flock(&lock);
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "keep").unwrap();
    let link = runtime.path().join("secflow-run-events-link");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    // An older build's directory (it never locked it): never taken for an orphan.
    let unlocked = runtime.path().join("secflow-events-older-build");
    std::fs::create_dir(&unlocked).unwrap();
    age(&unlocked, Duration::from_secs(7200));

    let quick = "version: \"1.0\"\nname: quick\nnodes:\n  - id: a\n    run: \"true\"\n";
    let out = command(dir.path(), quick, &[])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!left.exists(), "the killed run's directory is still there");
    assert_eq!(
        fifo_dirs(runtime.path()),
        vec![unlocked.clone(), held.clone(), link.clone(), young.clone()],
        "a live, young, older or symlinked directory was removed (or the run left its own)"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("keep.txt")).unwrap(),
        "keep"
    );
    drop(lock);
}

/// Takes an exclusive `flock` on `file` (what a live run holds on its FIFO directory).
#[allow(unsafe_code)] // libc::flock on a descriptor this test owns
fn flock(file: &std::fs::File) {
    // SAFETY: flock on an open descriptor owned by `file`; no memory is passed.
    let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(file), libc::LOCK_EX) };
    assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
}
