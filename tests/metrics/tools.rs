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
    let r = secflow::exporters::http::send(&secflow::exporters::http::Request {
        method: "GET",
        url,
        headers: &[],
        body: b"",
        timeout: Duration::from_secs(2),
    })
    .ok()?;
    Some((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}
