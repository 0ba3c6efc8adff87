//! Debug-mode renderings the console prints: the resolved plan before execution, and for a
//! failing node its (masked, redacted) config, inputs and the tail of its stderr.
//! Pure functions returning text; they never print.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::event::redact::{Redactor, mask_config};
use crate::plan::template::{Namespace, Template};
use crate::plan::{Action, Plan, PlanNode};

/// Most bytes read from the end of a stderr file.
const TAIL_BYTES: u64 = 64 * 1024;

fn show_template(t: &Template, plan: &Plan) -> String {
    t.render::<std::convert::Infallible>(
        |r| {
            Ok(match (r.namespace, plan.vars.get(&r.key)) {
                (Namespace::Vars, Some(v)) => v.clone(),
                _ => format!("{{{{ {r} }}}}"),
            })
        },
        str::to_string,
    )
    .unwrap_or_default()
}

fn show_action(action: &Action, plan: &Plan) -> String {
    match action {
        Action::Shell(t) => format!("sh -c {}", show_template(t, plan)),
        Action::Argv(argv) => argv
            .iter()
            .map(|t| show_template(t, plan))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn config_json(node: &PlanNode, redactor: &Redactor) -> String {
    serde_json::to_string(&mask_config(&node.config, redactor)).unwrap_or_default()
}

/// The resolved plan: levels, each node's type, dependencies, command (vars filled in,
/// other templates shown as written), config (masked) and limits. Secrets redacted.
pub fn render_plan(plan: &Plan, redactor: &Redactor) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan: {} ({} nodes, {} levels)",
        plan.name,
        plan.nodes.len(),
        plan.levels.len()
    );
    for (depth, level) in plan.levels.iter().enumerate() {
        let _ = writeln!(out, "level {depth}:");
        for &i in level {
            let Some(n) = plan.nodes.get(i) else { continue };
            let deps: Vec<&str> = n
                .deps
                .iter()
                .filter_map(|&d| plan.nodes.get(d).map(|d| d.id.as_str()))
                .collect();
            let _ = writeln!(out, "  {} [{}]", n.id, n.kind);
            if !deps.is_empty() {
                let _ = writeln!(out, "    after:   {}", deps.join(", "));
            }
            let _ = writeln!(out, "    command: {}", show_action(&n.action, plan));
            if !n.config.is_empty() {
                let _ = writeln!(out, "    config:  {}", config_json(n, redactor));
            }
            if !n.inputs.is_empty() || !n.outputs.is_empty() {
                let _ = writeln!(
                    out,
                    "    data:    in [{}] out [{}]",
                    n.inputs.join(", "),
                    n.outputs.join(", ")
                );
            }
            let timeout = n
                .timeout
                .map_or_else(|| "none".to_string(), |t| format!("{}s", t.as_secs_f64()));
            let _ = writeln!(
                out,
                "    limits:  timeout {timeout}, attempts {}, executor {}",
                n.retry.max_attempts,
                n.executor.as_str()
            );
        }
    }
    redactor.redact(&out).into_owned()
}

/// The last `lines` lines of a file (at most the last 64 KiB of it), lossily decoded.
pub fn tail_lines(path: &Path, lines: usize) -> std::io::Result<String> {
    // No file: the attempt never wrote to the stream (SPEC §4), empty output.
    let mut file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        r => r?,
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    Ok(all[from..].join("\n"))
}

/// A failing node in debug mode: its command, config (masked) and inputs, then the last
/// `lines` lines of its stderr file with that file's path. Secrets redacted.
pub fn render_failure(
    plan: &Plan,
    node: &PlanNode,
    stderr_path: &Path,
    lines: usize,
    redactor: &Redactor,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node {} [{}] failed", node.id, node.kind);
    let _ = writeln!(out, "  command: {}", show_action(&node.action, plan));
    let _ = writeln!(out, "  config:  {}", config_json(node, redactor));
    if !node.inputs.is_empty() {
        let _ = writeln!(out, "  inputs:  {}", node.inputs.join(", "));
    }
    match tail_lines(stderr_path, lines) {
        Ok(tail) if tail.is_empty() => {
            let _ = writeln!(out, "  stderr ({}): empty", stderr_path.display());
        }
        Ok(tail) => {
            let _ = writeln!(
                out,
                "  stderr ({}, last {lines} lines):",
                stderr_path.display()
            );
            for line in tail.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  stderr ({}): unreadable: {e}", stderr_path.display());
        }
    }
    redactor.redact(&out).into_owned()
}
