//! Deterministic stand-ins for SecFlow's tools (feroxbuster, nuclei, CVE enrichment), run as
//! real processes through the hidden `secflow stub TOOL` command.
//!
//! A stub reads its node's config from `SECFLOW_NODE_CONFIG`, every input dataset named by a
//! `SECFLOW_INPUT_*` variable and writes JSON lines to every `SECFLOW_OUTPUT_*` path. The
//! same seed and inputs always give the same output; `latency_ms` and `failure_rate` make it
//! slow or flaky on purpose (a failure depends on `SECFLOW_ATTEMPT`, so retries can succeed).

use std::io::{BufRead, BufWriter, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Which tool to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// discovery.ferox: discovered URLs under a target.
    Discovery,
    /// scan.nuclei: findings for each URL.
    Scan,
    /// enrich.cve: CVE and CVSS for each finding.
    Enrich,
}

const PATHS: &[&str] = &[
    "admin",
    "login",
    "api",
    "backup",
    "config",
    "uploads",
    "static",
    "debug",
    "graphql",
    "metrics",
    ".git",
    "wp-admin",
    "server-status",
    "console",
    "v1",
    "health",
    "include",
    "old",
];
const TEMPLATES: &[(&str, &str, &str)] = &[
    ("exposed-git-config", "medium", "Exposed .git/config"),
    ("default-login", "high", "Default credentials accepted"),
    ("sqli-error-based", "critical", "Error-based SQL injection"),
    (
        "missing-csp",
        "info",
        "Content-Security-Policy header missing",
    ),
    ("open-redirect", "medium", "Open redirect"),
    ("directory-listing", "low", "Directory listing enabled"),
    ("xss-reflected", "high", "Reflected cross-site scripting"),
];

/// Runs one stub; returns the process exit code.
pub fn run(tool: Tool) -> anyhow::Result<i32> {
    let config: Value = match std::env::var("SECFLOW_NODE_CONFIG") {
        Ok(text) => serde_json::from_str(&text).context("SECFLOW_NODE_CONFIG is not JSON")?,
        Err(_) => json!({}),
    };
    let seed = config["seed"].as_u64().unwrap_or(42);
    let latency =
        Duration::from_secs_f64(config["latency_ms"].as_f64().unwrap_or(2.0).max(0.0) / 1000.0);
    let failure_rate = config["failure_rate"].as_f64().unwrap_or(0.0);
    let node = std::env::var("SECFLOW_NODE_ID").unwrap_or_default();
    let attempt: u64 = std::env::var("SECFLOW_ATTEMPT")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    if failure_rate > 0.0 && unit(mix(seed ^ hash_str(&node), attempt)) < failure_rate {
        eprintln!("{node}: simulated failure on attempt {attempt} (failure_rate {failure_rate})");
        return Ok(1);
    }
    let outputs = env_paths("SECFLOW_OUTPUT_");
    if outputs.is_empty() {
        bail!("no output declared: set `outputs:` on the node");
    }
    let mut items = Vec::new();
    match tool {
        Tool::Discovery => {
            let target = config["target"]
                .as_str()
                .unwrap_or("http://127.0.0.1:8080")
                .trim_end_matches('/');
            let count = config["count"].as_u64().unwrap_or(25);
            for i in 0..count {
                let r = mix(seed, i);
                let path = PATHS[(r % PATHS.len() as u64) as usize];
                let status = [200, 200, 200, 301, 403][((r >> 8) % 5) as usize];
                items.push(json!({
                    "url": format!("{target}/{path}/{i}"),
                    "status": status,
                    "length": 200 + (r >> 16) % 5000,
                    "words": 10 + (r >> 32) % 400,
                }));
                std::thread::sleep(latency);
            }
        }
        Tool::Scan => {
            let max = config["max_findings_per_url"].as_u64().unwrap_or(2);
            for record in read_inputs()? {
                let Some(url) = record["url"].as_str() else {
                    continue;
                };
                let r = mix(seed, hash_str(url));
                for k in 0..(r % (max + 1)) {
                    let (id, severity, name) =
                        TEMPLATES[(mix(r, k) % TEMPLATES.len() as u64) as usize];
                    items.push(json!({
                        "template_id": id,
                        "severity": severity,
                        "name": name,
                        "url": url,
                        "matched_at": format!("{url}?probe={k}"),
                    }));
                }
                std::thread::sleep(latency);
            }
        }
        Tool::Enrich => {
            let sources = config["sources"].clone();
            for mut record in read_inputs()? {
                let r = mix(seed, hash_str(&record.to_string()));
                let cvss = ((r % 91) as f64 + 10.0) / 10.0;
                if let Value::Object(map) = &mut record {
                    map.insert(
                        "cve".into(),
                        json!(format!(
                            "CVE-20{:02}-{:05}",
                            15 + r % 11,
                            (r >> 12) % 100_000
                        )),
                    );
                    map.insert("cvss".into(), json!(cvss));
                    map.insert("sources".into(), sources.clone());
                }
                items.push(record);
                std::thread::sleep(latency);
            }
        }
    }
    for path in outputs {
        let file = std::fs::File::create(&path).with_context(|| format!("cannot write {path}"))?;
        let mut out = BufWriter::new(file);
        for item in &items {
            writeln!(out, "{item}")?;
        }
        out.flush()?;
    }
    eprintln!("{node}: {} records", items.len());
    Ok(0)
}

/// Paths named by environment variables with `prefix`, sorted by variable name.
fn env_paths(prefix: &str) -> Vec<String> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect();
    vars.sort();
    vars.into_iter().map(|(_, v)| v).collect()
}

/// Every JSON record of every input dataset; blank and non-JSON lines are passed over.
fn read_inputs() -> anyhow::Result<Vec<Value>> {
    let mut records = Vec::new();
    for path in env_paths("SECFLOW_INPUT_") {
        let file =
            std::fs::File::open(&path).with_context(|| format!("cannot read input {path}"))?;
        for line in std::io::BufReader::new(file).lines() {
            if let Ok(v) = serde_json::from_str::<Value>(&line?) {
                records.push(v);
            }
        }
    }
    Ok(records)
}

/// splitmix64 of `a` combined with `b`.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_add(b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a stable hash across runs and machines.
fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A number in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}
