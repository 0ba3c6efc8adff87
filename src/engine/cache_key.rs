//! Cache keys: SHA-256 over everything that determines a node's outputs, so that `--resume`
//! and the node cache (`store::cache`) can tell whether a node changed.
//!
//! The key covers the node type and plugin version, the command and config with
//! run-specific paths and ids replaced by placeholders, the names and values of the node's
//! non-secret environment, the contents of its input datasets and of its `sources` files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::plan::template::{Namespace, Reference};
use crate::plan::{Action, Plan, PlanNode};
use crate::store::cache::{Stop, sha256_file};

/// A file a cache key covers, with the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// The dataset name, or the source path relative to the node's workdir.
    pub name: String,
    pub path: PathBuf,
    pub sha256: [u8; 32],
}

/// A node's cache key and the digests of the files it covers.
#[derive(Debug, Clone)]
pub struct NodeKey {
    pub key: String,
    /// One per input dataset, checked again after each attempt (`input modified`).
    pub inputs: Vec<FileDigest>,
}

/// Computes a node's cache key. `inputs` maps each input dataset name to its file.
pub fn node_key(
    plan: &Plan,
    node: &PlanNode,
    inputs: &BTreeMap<String, PathBuf>,
) -> std::io::Result<String> {
    node_key_with(plan, node, inputs, &[], &crate::store::cache::never).map(|k| k.key)
}

/// The key over the node's definition, its `inputs` and its `sources` (name → file, in order).
/// `stop` is asked before each read of an input or source (their digests are the slow part).
pub fn node_key_with(
    plan: &Plan,
    node: &PlanNode,
    inputs: &BTreeMap<String, PathBuf>,
    sources: &[(String, PathBuf)],
    stop: Stop<'_>,
) -> std::io::Result<NodeKey> {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field("type", node.kind.as_bytes());
    field("plugin", node.plugin_name.as_bytes());
    field("plugin_version", node.plugin_version.as_bytes());
    for part in placeholder_command(plan, node) {
        field("argv", part.as_bytes());
    }
    let config = serde_json::to_string(&node.config).unwrap_or_default();
    field("config", config.as_bytes());
    for (k, v) in &node.env {
        if !plan.secrets.contains(k) {
            field(&format!("env.{k}"), v.as_bytes());
        }
    }
    for out in &node.outputs {
        field("output", out.as_bytes());
    }
    // Most nodes have no inputs: no read buffer for them (a zeroed 64 KiB allocation per node
    // was a tenth of the scheduler's CPU on a 1000-node run).
    let mut buf = Vec::new();
    let mut digests = Vec::with_capacity(inputs.len());
    for (name, path) in inputs {
        // A directory input (`dir: true`) by a digest of its tree, never through a symlink.
        let sha256 = super::dir_output::sha256_path(path, &mut buf, stop)?;
        field(&format!("input.{name}"), &sha256);
        digests.push(FileDigest {
            name: name.clone(),
            path: path.clone(),
            sha256,
        });
    }
    for (name, path) in sources {
        field(
            &format!("source.{name}"),
            &sha256_file(path, &mut buf, stop)?,
        );
    }
    Ok(NodeKey {
        key: crate::recipe::hex(&h.finalize()),
        inputs: digests,
    })
}

/// The node's command with dataset paths and the run id as placeholders and everything else
/// (vars, config, env references) as its value.
fn placeholder_command(plan: &Plan, node: &PlanNode) -> Vec<String> {
    let lookup = |r: &Reference| -> Result<String, ()> {
        Ok(match r.namespace {
            Namespace::Inputs => format!("<input:{}>", r.key),
            Namespace::Outputs => format!("<output:{}>", r.key),
            Namespace::Run => "<run.id>".to_string(),
            // An instance's own values: its item (not its place in the list, unless the
            // command uses `{{ index }}`), so that reordering a list re-runs nothing.
            Namespace::Item | Namespace::Index | Namespace::Matrix => {
                super::fanout::instance_value(node, r).unwrap_or_default()
            }
            Namespace::Vars => plan.vars.get(&r.key).cloned().unwrap_or_default(),
            Namespace::Config => node.config.get(&r.key).map(json_text).unwrap_or_default(),
            Namespace::Env if plan.secrets.contains(&r.key) => format!("<secret:{}>", r.key),
            Namespace::Env => node
                .env
                .get(&r.key)
                .cloned()
                .or_else(|| std::env::var(&r.key).ok())
                .unwrap_or_default(),
        })
    };
    match &node.action {
        Action::Shell(t) => vec![t.render(lookup, |v| v.to_string()).unwrap_or_default()],
        Action::Argv(parts) => parts
            .iter()
            .map(|t| t.render(lookup, |v| v.to_string()).unwrap_or_default())
            .collect(),
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BuildOptions, build};
    use crate::recipe::{Limits, Source, parse};

    fn plan(text: &str) -> Plan {
        let source = Source {
            path: "r.yaml".into(),
            text: text.into(),
            sha256: String::new(),
        };
        let raw = parse(&source, &Limits::default()).unwrap();
        build(&source, &raw, &BuildOptions::default()).unwrap().0
    }

    const RECIPE: &str = "version: \"1.0\"\nname: t\nvars: {n: \"3\"}\nnodes:\n  - id: a\n    run: \"head -n {{ vars.n }} {{ inputs.x }} > {{ outputs.y }}\"\n    inputs: [x]\n    outputs: [y]\n  - id: p\n    run: \"true > {{ outputs.x }}\"\n    outputs: [x]\n";

    #[test]
    fn key_follows_inputs_and_definition_but_not_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(RECIPE);
        let a = &p.nodes[p.node_index("a").unwrap()];
        let input = dir.path().join("x.jsonl");
        std::fs::write(&input, "{\"a\":1}\n").unwrap();
        let inputs = BTreeMap::from([("x".to_string(), input.clone())]);
        let k1 = node_key(&p, a, &inputs).unwrap();
        let moved = dir.path().join("elsewhere.jsonl");
        std::fs::copy(&input, &moved).unwrap();
        let k2 = node_key(&p, a, &BTreeMap::from([("x".to_string(), moved)])).unwrap();
        assert_eq!(k1, k2, "paths must not change the key");
        std::fs::write(&input, "{\"a\":2}\n").unwrap();
        assert_ne!(
            k1,
            node_key(&p, a, &inputs).unwrap(),
            "input content changes the key"
        );
        let p2 = plan(&RECIPE.replace("{n: \"3\"}", "{n: \"4\"}"));
        let a2 = &p2.nodes[p2.node_index("a").unwrap()];
        std::fs::write(&input, "{\"a\":1}\n").unwrap();
        assert_ne!(
            k1,
            node_key(&p2, a2, &inputs).unwrap(),
            "vars change the key"
        );
    }
}
