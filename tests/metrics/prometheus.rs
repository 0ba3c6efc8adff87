//! A real Prometheus server and promtool for the deploy kit tests (and for a scrape test of
//! `secflow serve`): a generated config on a free loopback port, queries through the HTTP
//! API. Uses [`crate::tools`] to find the binaries (failing with the install command).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::{free_port, get, tool};

/// Runs `promtool ARGS…` from `dir`; (exit code, stdout+stderr).
pub fn promtool(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(tool("PROMTOOL", &["promtool"]))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool starts");
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), msg)
}

/// A real Prometheus server (`/usr/bin/prometheus`, apt `prometheus`) on a free loopback
/// port, with a generated config: `targets` scraped every second (job `secflow`), `rule_files`
/// evaluated every second. Killed (by pid) when dropped; its log is `<dir>/prometheus.log`.
pub struct Prometheus {
    child: Child,
    pub url: String,
}

impl Prometheus {
    pub fn start(dir: &Path, targets: &[String], rule_files: &[PathBuf]) -> Prometheus {
        let bin = tool("PROMETHEUS", &["prometheus"]);
        let port = free_port();
        let quoted = |items: Vec<String>| {
            items
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rules = quoted(rule_files.iter().map(|p| p.display().to_string()).collect());
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: secflow\n    static_configs:\n      - targets: [{}]\n",
            quoted(targets.to_vec())
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prom = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if get(&format!("{}/-/ready", prom.url)).is_some_and(|(s, _)| s == 200) {
                return prom;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s; see {}",
                dir.join("prometheus.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET /api/v1/query?query=EXPR`: the parsed JSON answer, whatever its status.
    pub fn query(&self, expr: &str) -> serde_json::Value {
        let url = format!("{}/api/v1/query?query={}", self.url, url_encode(expr));
        let (_, body) = get(&url).unwrap_or_else(|| panic!("no answer from {url}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"))
    }

    /// `GET PATH` (e.g. `/api/v1/rules`) as JSON.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let (_, body) = get(&format!("{}{path}", self.url)).expect("prometheus answers");
        serde_json::from_str(&body).expect("prometheus answers JSON")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a URL query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
