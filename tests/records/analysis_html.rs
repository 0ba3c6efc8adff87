//! The HTML report opened in headless Chromium by `tests/html_check.sh`: it must render (an
//! SVG timeline, a screenshot) with no console error and no network request. Without
//! Chromium the test is skipped with a notice — except under CI (`CI` set), where it fails.

use std::path::Path;
use std::process::Command;

fn chromium_available() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        || std::env::var_os("CHROMIUM").is_some()
}

#[test]
fn html_report_renders_without_console_errors() {
    if !chromium_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required under CI: run .ci/install-analysis.sh"
        );
        eprintln!("skipped: chromium not installed (run .ci/install-analysis.sh)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let runs = root.join("fixtures/runs");
    let cases: [(&str, Vec<&str>); 4] = [
        ("linear", vec!["01JD0000000000000000000001"]),
        ("flaky", vec!["01JD0000000000000000000002"]),
        ("unfinished", vec!["01JD0000000000000000000003"]),
        (
            "nightly",
            vec![
                "01JD00000000000000000000A1",
                "01JD00000000000000000000A2",
                "01JD00000000000000000000A3",
            ],
        ),
    ];
    for (name, ids) in cases {
        let html = dir.path().join(format!("{name}.html"));
        let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
            .arg("performance-analysis")
            .args(ids.iter().map(|id| runs.join(id)))
            .args(["--format", "html", "--output"])
            .arg(&html)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&html).unwrap();
        // One inline script, nothing loaded: no `src=` anywhere, no URL to the network.
        assert_eq!(text.matches("<script").count(), 1, "{name}");
        assert!(
            !text.contains("<script src") && !text.contains(" src="),
            "{name}"
        );
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{name}"
        );
        let shot = dir.path().join(format!("{name}.png"));
        let check = Command::new(root.join("tests/html_check.sh"))
            .arg(&html)
            .arg(&shot)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "html_check failed for {name}:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    }
}

/// Headless Chromium on `url`: (dumped DOM, console log); a screenshot to `shot` if given.
fn chromium(url: &str, shot: Option<&Path>) -> (String, String) {
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1600",
        "--virtual-time-budget=3000",
    ];
    let user = format!("--user-data-dir={}", profile.path().display());
    let out = Command::new(&browser)
        .args(flags)
        .arg(&user)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    let mut console = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(shot) = shot {
        let out = Command::new(&browser)
            .args(flags)
            .arg(&user)
            .arg(format!("--screenshot={}", shot.display()))
            .arg(url)
            .output()
            .expect("chromium runs");
        console.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// Console errors and failed requests in a Chromium log (the noise of a headless browser
/// without D-Bus left out).
fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            [
                "CONSOLE",
                "Uncaught",
                "net::ERR",
                "Content Security Policy",
                "Refused to",
            ]
            .iter()
            .any(|p| l.contains(p))
        })
        .filter(|l| {
            !["dbus", "Fontconfig", "gcm", "sandbox"]
                .iter()
                .any(|n| l.contains(n))
        })
        .collect()
}

#[test]
fn serve_web_ui_renders_runs_report_and_logs_in_chromium() {
    if !chromium_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required under CI: run .ci/install-analysis.sh"
        );
        eprintln!("skipped: chromium not installed (run .ci/install-analysis.sh)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("run-workflow")
        .arg(root.join("workflows/sample-linear.yaml"))
        .arg("--state-dir")
        .arg(&state)
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id: String = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| !n.starts_with('.'))
        .unwrap();
    // A run still running: the runs page's script must fetch /api/runs and redraw the table.
    let slow = dir.path().join("slow.yaml");
    std::fs::write(
        &slow,
        "version: \"1.0\"\nname: slow\nnodes:\n  - id: wait\n    run: \"sleep 30\"\n",
    )
    .unwrap();
    let mut live = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("run-workflow")
        .arg(&slow)
        .arg("--state-dir")
        .arg(&state)
        .arg("-q")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .any(|e| {
            std::fs::read_to_string(e.path().join("run.json"))
                .is_ok_and(|t| t.contains("\"running\""))
        })
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "slow run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(&state)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve never listened");
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let (dom, log) = chromium(&format!("{base}/"), Some(&dir.path().join("runs.png")));
    let index_errors: Vec<String> = console_errors(&log).into_iter().map(String::from).collect();
    let shot = std::env::temp_dir().join(format!("secflow-serve-run-{}.png", std::process::id()));
    let (run_dom, run_log) = chromium(&format!("{base}/runs/{id}?level=INFO"), Some(&shot));
    let (report_dom, report_log) = chromium(&format!("{base}/runs/{id}/report"), None);
    let _ = serve.kill();
    let _ = serve.wait();
    let _ = live.kill();
    let _ = live.wait();
    // Written by the script after it fetched /api/runs and redrew the rows.
    // (The script's own text holds the words too: match the span it fills.)
    assert!(
        dom.contains("<span id=\"live\">live: refreshing every 2 s</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td>slow</td>") && dom.contains(">running</td>"),
        "{dom}"
    );
    assert!(
        dom.contains(&id) && dom.contains("Linear Security Scan"),
        "{dom}"
    );
    assert!(dom.contains("succeeded"), "{dom}");
    assert!(
        index_errors.is_empty(),
        "console errors on /: {index_errors:?}"
    );
    assert!(
        run_dom.contains("id=\"logs\"") && run_dom.contains("INFO"),
        "{run_dom}"
    );
    assert!(run_dom.contains("id=\"report\""), "{run_dom}");
    assert!(run_dom.contains("intact:"), "audit verdict: {run_dom}");
    assert!(
        console_errors(&run_log).is_empty(),
        "{:?}",
        console_errors(&run_log)
    );
    assert!(
        report_dom.contains("<svg") && report_dom.contains("Timeline"),
        "{report_dom}"
    );
    assert!(
        console_errors(&report_log).is_empty(),
        "{:?}",
        console_errors(&report_log)
    );
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 1000);
    println!("screenshot of the run page: {}", shot.display());
    eprintln!("screenshot of the run page: {}", shot.display());
}

/// `performance-analysis RUN_DIR… [extra] --format html` into `dir/name.html`.
fn html_report(dir: &Path, name: &str, runs: &[&Path], extra: &[&str]) -> std::path::PathBuf {
    let html = dir.join(format!("{name}.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("performance-analysis")
        .args(runs)
        .args(extra)
        .args(["--format", "html", "--output"])
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{out:?}"
    );
    html
}

fn skip_without_chromium() -> bool {
    if chromium_available() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is required under CI: run .ci/install-analysis.sh"
    );
    eprintln!("skipped: chromium not installed (run .ci/install-analysis.sh)");
    true
}

/// The value of attribute `attr` on the element whose `id` is `id` in a DOM dump.
fn attr_of(dom: &str, id: &str, attr: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    let tag = &dom[open..close];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// `2026-11-23T12:00:01.205Z` → ms since midnight (the runs here never cross one).
fn day_ms(t: &str) -> i64 {
    let time = &t[11..23];
    let (h, m, s) = (&time[0..2], &time[3..5], &time[6..]);
    let secs: f64 = s.parse().unwrap();
    (h.parse::<i64>().unwrap() * 3600 + m.parse::<i64>().unwrap() * 60) * 1000
        + (secs * 1000.0).round() as i64
}

/// The most attempts running at once, from run.json's own start and end times.
fn measured_parallelism(run_json: &serde_json::Value) -> u32 {
    let mut events = Vec::new();
    for n in run_json["nodes"].as_array().unwrap() {
        for a in n["attempts"].as_array().unwrap() {
            if let (Some(s), Some(e)) = (a["started_at"].as_str(), a["ended_at"].as_str()) {
                events.push((day_ms(s), 1));
                events.push((day_ms(e), -1));
            }
        }
    }
    events.sort();
    let (mut level, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        level += d;
        peak = peak.max(level);
    }
    peak as u32
}

#[test]
fn concurrency_chart_peak_is_the_runs_measured_parallelism() {
    if skip_without_chromium() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Five sleepers under a limit of 3, then one after them: the peak is 3, the limit 3.
    let recipe = "version: \"1.0\"\nname: par\nconcurrency: 3\nnodes:\n\
        - {id: a, run: \"sleep 0.6\"}\n- {id: b, run: \"sleep 0.6\"}\n- {id: c, run: \"sleep 0.6\"}\n\
        - {id: d, run: \"sleep 0.3\"}\n- {id: e, run: \"sleep 0.3\"}\n\
        - {id: f, run: \"true\", depends_on: [a, b, c, d, e]}\n";
    let recipe = recipe.replace("\n- ", "\n  - ");
    std::fs::write(dir.path().join("par.yaml"), recipe).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .current_dir(dir.path())
        .args([
            "run-workflow",
            "par.yaml",
            "--state-dir",
            "state",
            "-q",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_dir = dir
        .path()
        .join("state/runs")
        .join(record["run_id"].as_str().unwrap());
    let measured = measured_parallelism(&record);
    assert_eq!(measured, 3, "{record}");
    let json = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("performance-analysis")
        .arg(&run_dir)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let analysis: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(analysis["parallelism"]["peak"], measured);
    let html = html_report(dir.path(), "par", &[&run_dir], &[]);
    let shot = dir.path().join("par.png");
    let (dom, console) = chromium(&format!("file://{}", html.display()), Some(&shot));
    assert!(console_errors(&console).is_empty(), "{console}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    let peak = attr_of(&dom, "concurrency", "data-peak").expect("the concurrency chart");
    assert_eq!(peak, measured.to_string());
    assert_eq!(
        attr_of(&dom, "concurrency", "data-limit").as_deref(),
        Some("3")
    );
    // The same through tests/html_check.sh's own reading of the DOM.
    let check = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/html_check.sh"))
        .arg(&html)
        .arg(dir.path().join("par2.png"))
        .arg(measured.to_string())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

/// A copy of fixture run `id` under `dir`, with run.json passed through `edit`.
fn edited_fixture(
    dir: &Path,
    id: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/runs")
        .join(id);
    let dst = dir.join(id);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dst.join("run.json")).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(dst.join("run.json"), v.to_string()).unwrap();
    dst
}

#[test]
fn hostile_node_ids_and_messages_never_execute_in_the_report() {
    if skip_without_chromium() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let evil_id = "x</script><script>document.title='PWNED'</script>";
    let evil_msg = "<img src=x onerror=\"document.title='PWNED2'\"></title><b>bold</b>";
    let run = edited_fixture(dir.path(), "01JD0000000000000000000002", |v| {
        let nodes = v["nodes"].as_array_mut().unwrap();
        nodes[0]["node_id"] = evil_id.into();
        for n in nodes.iter_mut() {
            for a in n["attempts"].as_array_mut().unwrap() {
                a["error"] = evil_msg.into();
            }
            n["reason"] = evil_msg.into();
        }
        v["workflow"]["name"] = format!("wf{evil_id}").into();
    });
    let html = html_report(dir.path(), "evil", &[&run], &[]);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        text.contains("&lt;/script&gt;&lt;script&gt;"),
        "escaped in the file"
    );
    assert_eq!(text.matches("<script").count(), 1);
    let (dom, console) = chromium(&format!("file://{}", html.display()), None);
    assert!(console_errors(&console).is_empty(), "{console}");
    assert!(
        !dom.contains("PWNED</title>") && !dom.contains("<title>PWNED"),
        "{dom}"
    );
    assert!(
        !dom.contains("<img") && !dom.contains("<b>bold"),
        "an element was injected"
    );
    assert!(dom.contains("Timeline"));
}

#[test]
fn baseline_compare_view_marks_new_removed_and_regressed_nodes() {
    if skip_without_chromium() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The baseline lost `report` (so it is new now) and had `legacy` (removed since).
    let base = edited_fixture(dir.path(), "01JD00000000000000000000A1", |v| {
        let nodes = v["nodes"].as_array_mut().unwrap();
        let mut legacy = nodes.pop().unwrap();
        legacy["node_id"] = "legacy".into();
        nodes.push(legacy);
    });
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs");
    let current = [
        runs.join("01JD00000000000000000000A2"),
        runs.join("01JD00000000000000000000A3"),
    ];
    let json = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("performance-analysis")
        .args(&current)
        .arg("--baseline")
        .arg(&base)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let compare = v["across_runs"]["compare"].as_array().unwrap();
    let change = |id: &str| {
        compare
            .iter()
            .find(|d| d["node_id"] == id)
            .map(|d| d["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change("report").as_deref(), Some("new"));
    assert_eq!(change("legacy").as_deref(), Some("removed"));
    let regressed: Vec<&str> = v["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["metric"] == "duration_ms")
        .map(|r| r["node_id"].as_str().unwrap())
        .collect();
    assert!(!regressed.is_empty(), "the fixture has a slowed node: {v}");
    let refs: Vec<&Path> = current.iter().map(|p| p.as_path()).collect();
    let base_arg = base.display().to_string();
    let html = html_report(dir.path(), "compare", &refs, &["--baseline", &base_arg]);
    let (dom, console) = chromium(&format!("file://{}", html.display()), None);
    assert!(console_errors(&console).is_empty(), "{console}");
    assert_eq!(
        attr_of(&dom, "compare-summary", "data-new").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr_of(&dom, "compare-summary", "data-removed").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr_of(&dom, "compare-summary", "data-regressions"),
        Some(regressed.len().to_string())
    );
    for id in regressed {
        assert!(
            dom.contains(&format!("<tr class=\"reg\"><td>{id}</td>")),
            "{id} highlighted"
        );
    }
    assert!(dom.contains("<tr class=\"new\"><td>report</td>"));
    assert!(dom.contains("<tr class=\"removed\"><td>legacy</td>"));
}

#[test]
fn fanned_out_instances_share_a_lane_and_the_filter_finds_one() {
    if skip_without_chromium() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The linear fixture's nodes renamed as instances of one template, plus a plain node.
    let run = edited_fixture(dir.path(), "01JD0000000000000000000001", |v| {
        let nodes = v["nodes"].as_array_mut().unwrap();
        for (i, n) in nodes.iter_mut().enumerate().take(2) {
            n["node_id"] = format!("scan@{i}").into();
        }
    });
    let html = html_report(dir.path(), "fan", &[&run], &[]);
    let url = format!("file://{}", html.display());
    let (dom, console) = chromium(&url, None);
    assert!(console_errors(&console).is_empty(), "{console}");
    assert_eq!(
        attr_of(&dom, "timeline", "data-lanes").as_deref(),
        Some("2")
    );
    assert!(
        dom.contains("<div class=\"grp\" data-id=\"scan\">"),
        "one lane for the template"
    );
    assert!(dom.contains("×2</button>"));
    // Filtered by a link: only scan@1 is shown, its template expanded, the rest hidden.
    let (dom, _) = chromium(&format!("{url}#filter=scan%401"), None);
    assert!(
        dom.contains("<div class=\"lane\" data-id=\"scan@1\">"),
        "{dom}"
    );
    assert!(
        dom.contains("<div class=\"lane\" data-id=\"scan@0\" hidden=\"\">"),
        "{dom}"
    );
    assert!(
        dom.contains("<div class=\"lane\" data-id=\"enrichment\" hidden=\"\">"),
        "{dom}"
    );
    assert!(dom.contains("aria-expanded=\"true\""), "{dom}");
}
