//! `--dry-run`: the plan as it would run (levels, resolved commands with placeholder paths,
//! env names, data paths), secrets masked; nothing is executed.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::cli::Format;
use crate::engine::dir_output::dataset_path;
use crate::engine::prepare::{AttemptIds, prepare};
use crate::engine::{Environment, RunPaths};
use crate::plan::Plan;

/// `--dry-run`: levels, resolved commands with placeholder paths, env names, data paths.
pub(super) fn print_plan(plan: &Plan, env: &Environment, format: Format) -> anyhow::Result<()> {
    let paths = RunPaths {
        records: None,
        run_dir: Path::new("<run-dir>").to_path_buf(),
    };
    let (nodes, fanned) = node_docs(plan, env, &paths)?;
    let mut out: Vec<u8> = Vec::new();
    if format == Format::Json {
        let levels: Vec<Vec<&str>> = plan
            .levels
            .iter()
            .map(|l| l.iter().map(|&i| plan.nodes[i].id.as_str()).collect())
            .collect();
        let doc = json!({
            "workflow": plan.name,
            "recipe_path": plan.recipe_path,
            "recipe_sha256": plan.recipe_sha256,
            "vars": plan.vars,
            "levels": levels,
            "nodes": nodes,
            "included": plan.included,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return emit_masked(env, &out);
    }
    write_text(&mut out, plan, &nodes, &fanned, &paths)?;
    emit_masked(env, &out)
}

/// A static fan-out's instances as (id, command); `None` for a node that does not fan out.
type Instances = Option<Vec<(String, String)>>;

/// Each node as its JSON document (command, argv, env names, data paths, ...), with its
/// fan-out instances rendered.
fn node_docs(
    plan: &Plan,
    env: &Environment,
    paths: &RunPaths,
) -> anyhow::Result<(Vec<serde_json::Value>, Vec<Instances>)> {
    let ids = AttemptIds {
        run_id: "<run-id>",
        attempt: 1,
        traceparent: "<traceparent>",
    };
    let secrets: Arc<[Vec<u8>]> = Arc::from(Vec::new());
    let mut nodes = Vec::new();
    // Fan-out (SPEC §9): a static one's instances, each rendered; a dynamic one's command
    // with `<item>` stand-ins.
    let mut fanned: Vec<Instances> = Vec::with_capacity(plan.nodes.len());
    for (idx, node) in plan.nodes.iter().enumerate() {
        let view = crate::engine::fanout::dry_run_view(plan, idx);
        let p = prepare(
            plan,
            view.as_ref().map_or(node, |v| &v.0),
            env,
            paths,
            &ids,
            &secrets,
        )
        .map_err(|e| anyhow::anyhow!("node `{}`: {e}", node.id))?;
        let mut instances = Vec::new();
        for inst in view.iter().flat_map(|v| &v.1) {
            let q = prepare(plan, inst, env, paths, &ids, &secrets)
                .map_err(|e| anyhow::anyhow!("node `{}`: {e}", inst.id))?;
            instances.push((inst.id.clone(), q.display));
        }
        fanned.push(view.is_some().then_some(instances));
        let deps: Vec<&str> = node
            .deps
            .iter()
            .map(|&d| plan.nodes[d].id.as_str())
            .collect();
        let inputs: serde_json::Map<String, serde_json::Value> = node
            .inputs
            .iter()
            .map(|i| (i.clone(), json!(dataset_path(paths, node, i))))
            .collect();
        let outputs: serde_json::Map<String, serde_json::Value> = p
            .outputs
            .iter()
            .map(|(name, scratch)| {
                (
                    name.clone(),
                    json!({"write_to": scratch, "dataset": dataset_path(paths, node, name)}),
                )
            })
            .collect();
        nodes.push(json!({
            "id": node.id,
            "type": node.kind,
            "plugin_name": node.plugin_name,
            "level": node.level,
            "depends_on": deps,
            "command": p.display,
            "argv": p.spec.argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "cwd": p.spec.cwd,
            "env": p.env_names,
            "inputs": inputs,
            "outputs": outputs,
            "timeout_ms": node.timeout.map(|t| t.as_millis() as u64),
            "max_attempts": node.retry.max_attempts,
            "continue_on_error": node.continue_on_error,
            "when": node.when.as_ref().map(|c| c.text.as_str()),
            "trigger": node.trigger,
            "fanout": node.fanout.as_ref().map(|f| f.label()),
            "instances": fanned[idx].as_ref().map(|list| list
                .iter()
                .map(|(id, command)| json!({"id": id, "command": command}))
                .collect::<Vec<_>>()),
        }));
    }
    Ok((nodes, fanned))
}

/// The plan as text: includes, then per level each node's command, fan-out, env and data.
fn write_text(
    out: &mut Vec<u8>,
    plan: &Plan,
    nodes: &[serde_json::Value],
    fanned: &[Instances],
    paths: &RunPaths,
) -> std::io::Result<()> {
    writeln!(
        out,
        "plan `{}`: {} node(s) in {} level(s); nothing will be executed",
        plan.name,
        plan.nodes.len(),
        plan.levels.len()
    )?;
    for inc in &plan.included {
        let note = if inc.outside {
            " (outside the recipe's directory)"
        } else {
            ""
        };
        writeln!(out, "include: {}{note}", inc.path)?;
    }
    for (k, level) in plan.levels.iter().enumerate() {
        writeln!(out, "level {k}:")?;
        for &i in level {
            let n = &nodes[i];
            let node = &plan.nodes[i];
            writeln!(out, "  {} ({})", node.id, node.kind)?;
            if let Some(c) = &node.when {
                writeln!(out, "    when: {}", c.text)?;
            }
            if node.trigger != crate::plan::when::Trigger::default() {
                writeln!(out, "    trigger: {}", node.trigger.as_str())?;
            }
            writeln!(out, "    command: {}", n["command"].as_str().unwrap_or(""))?;
            match (node.fanout.as_deref(), &fanned[i]) {
                (Some(f), Some(list)) if f.static_len().is_some() => {
                    writeln!(out, "    {} {}:", node.id, f.label())?;
                    for (id, command) in list {
                        writeln!(out, "      {id}: {command}")?;
                    }
                }
                (Some(f), _) => writeln!(out, "    {} {} (known at run time)", node.id, f.label())?,
                _ => {}
            }
            writeln!(
                out,
                "    env: {}",
                n["env"].as_array().map_or(String::new(), |a| a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" "))
            )?;
            for input in &node.inputs {
                writeln!(
                    out,
                    "    input  {input}: {}",
                    dataset_path(paths, node, input).display()
                )?;
            }
            for output in &node.outputs {
                writeln!(
                    out,
                    "    output {output}: {}",
                    dataset_path(paths, node, output).display()
                )?;
            }
        }
    }
    Ok(())
}

/// Writes `text` to stdout with every secret value masked: a value given by `--var` may
/// still be one.
fn emit_masked(env: &Environment, text: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(text);
    // Names, commands and values are the recipe's and the caller's: no control character
    // reaches the terminal raw (JSON output escapes them itself).
    let text = crate::escape::escape_lines(&text);
    let redactor = crate::event::Redactor::new(env.secret_values());
    std::io::stdout()
        .lock()
        .write_all(redactor.redact(&text).as_bytes())?;
    Ok(())
}
