//! The real Prometheus tools (promtool, Pushgateway) found on PATH or via env (`PROMTOOL`,
//! `PUSHGATEWAY`), failing loudly with the install command when missing; a free port; GET.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str = "install with `.ci/install-metrics.sh` (apt-get install --no-install-recommends prometheus prometheus-pushgateway)";

/// A tool from PATH or `$env`, or a failure naming the install command.
pub fn tool(env: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("{} not found on PATH (or ${env}); {INSTALL_HINT}", names[0]);
}

/// Runs the real `promtool check metrics` on `text`; returns (exit code, stdout+stderr).
pub fn promtool_check(text: &str) -> (i32, String) {
    use std::io::Write;
    let promtool = tool("PROMTOOL", &["promtool"]);
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), msg)
}

/// A real Pushgateway on a free loopback port, killed (by pid) when dropped.
pub struct Pushgateway {
    child: Child,
    pub url: String,
}

impl Pushgateway {
    pub fn start(log_dir: &Path) -> Pushgateway {
        let bin = tool("PUSHGATEWAY", &["prometheus-pushgateway", "pushgateway"]);
        let port = free_port();
        let log = std::fs::File::create(log_dir.join("pushgateway.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--persistence.file=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pushgateway starts");
        let gw = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if get(&format!("{}/-/ready", gw.url)).is_some_and(|(s, _)| s == 200) {
                return gw;
            }
            assert!(
                Instant::now() < deadline,
                "pushgateway not ready within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET through secflow's own client; (status, body).
pub fn get(url: &str) -> Option<(u16, String)> {
    let r = secflow::export::http::send(&secflow::export::http::Request {
        method: "GET",
        url,
        headers: &[],
        body: b"",
        timeout: Duration::from_secs(2),
    })
    .ok()?;
    Some((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

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
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
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
