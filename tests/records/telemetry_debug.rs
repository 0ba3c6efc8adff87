//! Debug-mode renderings: the resolved plan and a failing node's redacted config and stderr.

use secflow::event::Redactor;
use secflow::telemetry::debug::{render_failure, render_plan};

const RECIPE: &str = r#"
version: "1.0"
name: dbg
vars:
  target: "http://example.test/?key=topsecret"
nodes:
  - id: fetch
    run: "curl {{ vars.target }} > {{ outputs.pages }}"
    config:
      api_key: abc123
      Authorization: "Bearer xyz"
      depth: 2
      note: "uses topsecret"
    outputs: [pages]
  - id: parse
    command: [wc, -l, "{{ inputs.pages }}"]
    inputs: [pages]
    timeout: 30s
"#;

fn plan() -> secflow::plan::Plan {
    let source = secflow::recipe::Source {
        path: "d.yaml".into(),
        text: RECIPE.into(),
        sha256: "0".repeat(64),
    };
    let raw = secflow::recipe::parse(&source, &Default::default()).unwrap();
    secflow::plan::build(&source, &raw, &Default::default())
        .unwrap()
        .0
}

#[test]
fn the_resolved_plan_shows_order_commands_and_masked_config() {
    let plan = plan();
    let text = render_plan(&plan, &Redactor::new(["topsecret"]));
    assert!(text.starts_with("plan: dbg (2 nodes, 2 levels)"), "{text}");
    let fetch = text.find("  fetch [exec]").unwrap();
    let parse = text.find("  parse [exec]").unwrap();
    assert!(fetch < parse, "topological order");
    assert!(text.contains("after:   fetch"));
    assert!(
        text.contains("sh -c curl http://example.test/?key=[REDACTED] > {{ outputs.pages }}"),
        "{text}"
    );
    assert!(
        text.contains(r#""api_key":"[REDACTED]""#)
            && text.contains(r#""Authorization":"[REDACTED]""#)
    );
    assert!(text.contains(r#""depth":2"#));
    assert!(text.contains("timeout 30s"));
    assert!(!text.contains("abc123") && !text.contains("xyz") && !text.contains("topsecret"));
}

#[test]
fn a_failing_node_shows_config_and_the_tail_of_stderr() {
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let lines: Vec<String> = (1..=50).map(|i| format!("line {i} topsecret")).collect();
    std::fs::write(&stderr, lines.join("\n")).unwrap();
    let text = render_failure(
        &plan,
        &plan.nodes[0],
        &stderr,
        5,
        &Redactor::new(["topsecret"]),
    );
    assert!(text.starts_with("node fetch [exec] failed"));
    assert!(text.contains(r#""api_key":"[REDACTED]""#));
    assert!(text.contains(&stderr.display().to_string()));
    assert!(text.contains("line 46 [REDACTED]") && text.contains("line 50 [REDACTED]"));
    assert!(
        !text.contains("line 45") && !text.contains("topsecret"),
        "{text}"
    );
    let missing = render_failure(
        &plan,
        &plan.nodes[1],
        &dir.path().join("none.log"),
        5,
        &Redactor::default(),
    );
    // An absent log is a silent stream (SPEC §4: created on the first byte written).
    assert!(missing.contains("): empty"), "{missing}");
    let unreadable = render_failure(&plan, &plan.nodes[1], dir.path(), 5, &Redactor::default());
    assert!(unreadable.contains("unreadable"), "{unreadable}");
}
