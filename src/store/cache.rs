//! The node cache: keys over everything that determines a node's outputs, and an index in
//! `<state-dir>/cache/` that hands recorded outputs to later runs.
//!
//! The key is SHA-256 over the node type and plugin version, the command and config with
//! run-specific paths and ids replaced by placeholders, the names and values of the node's
//! non-secret environment, the contents of its input datasets and of its `sources` files. A
//! hit copies the recorded outputs into the new run (never a hard link: a node that writes to
//! its input must not reach the cache or another run), so every run directory stays complete
//! on its own and history stays immutable. Entries are written to a temporary directory and renamed into place,
//! so a crash never leaves a half entry that looks whole.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::template::{Namespace, Reference};
use crate::plan::{Action, Plan, PlanNode};

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
    node_key_with(plan, node, inputs, &[]).map(|k| k.key)
}

/// SHA-256 of the file at `path`, read through `buf`.
pub fn sha256_file(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<[u8; 32]> {
    if buf.is_empty() {
        buf.resize(64 * 1024, 0);
    }
    let mut file = std::fs::File::open(path)?;
    let mut content = Sha256::new();
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        content.update(&buf[..n]);
    }
    Ok(content.finalize().into())
}

/// The key over the node's definition, its `inputs` and its `sources` (name → file, in order).
pub fn node_key_with(
    plan: &Plan,
    node: &PlanNode,
    inputs: &BTreeMap<String, PathBuf>,
    sources: &[(String, PathBuf)],
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
        let sha256 = sha256_file(path, &mut buf)?;
        field(&format!("input.{name}"), &sha256);
        digests.push(FileDigest {
            name: name.clone(),
            path: path.clone(),
            sha256,
        });
    }
    for (name, path) in sources {
        field(&format!("source.{name}"), &sha256_file(path, &mut buf)?);
    }
    Ok(NodeKey {
        key: crate::recipe::hex(&h.finalize()),
        inputs: digests,
    })
}

/// `{{ item }}`, `{{ item.K }}` or `{{ matrix.NAME }}` of an instance (empty elsewhere).
fn instance_value(node: &PlanNode, r: &Reference) -> String {
    let Some(inst) = node.instance.as_ref() else {
        return String::new();
    };
    match r.namespace {
        Namespace::Matrix => inst
            .matrix
            .iter()
            .find(|(k, _)| *k == r.key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        _ => match (&inst.item, r.key.is_empty()) {
            (Some(item), true) => item.text().to_string(),
            (Some(item), false) => item.field(&r.key).unwrap_or_default().to_string(),
            (None, _) => String::new(),
        },
    }
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
            Namespace::Item => instance_value(node, r),
            Namespace::Index => node
                .instance
                .as_ref()
                .map_or_else(String::new, |i| i.index.to_string()),
            Namespace::Matrix => instance_value(node, r),
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

/// What the index records about one entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheEntry {
    pub schema_version: u32,
    pub key: String,
    pub node_id: String,
    /// The run that produced the outputs.
    pub run_id: String,
    /// Output name → record count; the files sit beside `entry.json` as `<name>.jsonl`.
    pub outputs: BTreeMap<String, u64>,
}

/// The cache index under `<state-dir>/cache/`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(state_dir: &Path) -> Cache {
        Cache {
            dir: state_dir.join("cache"),
        }
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2.min(key.len())]).join(key)
    }

    /// The entry for `key`, when it is complete (every output file present).
    pub fn lookup(&self, key: &str) -> Option<CacheEntry> {
        let dir = self.entry_dir(key);
        let text = std::fs::read_to_string(dir.join("entry.json")).ok()?;
        let entry: CacheEntry = serde_json::from_str(&text).ok()?;
        let complete = entry.key == key
            && entry
                .outputs
                .keys()
                .all(|name| dir.join(format!("{name}.jsonl")).is_file());
        complete.then_some(entry)
    }

    /// Copies the entry's outputs to `dest[name]`.
    pub fn restore(
        &self,
        entry: &CacheEntry,
        dest: &BTreeMap<String, PathBuf>,
    ) -> std::io::Result<()> {
        let dir = self.entry_dir(&entry.key);
        for (name, path) in dest {
            copy_file(&dir.join(format!("{name}.jsonl")), path)?;
        }
        Ok(())
    }

    /// Records `outputs` (name → file) under `key`. An existing entry is kept.
    pub fn store(
        &self,
        key: &str,
        node_id: &str,
        run_id: &str,
        outputs: &BTreeMap<String, (PathBuf, u64)>,
    ) -> std::io::Result<()> {
        let dir = self.entry_dir(key);
        if dir.join("entry.json").is_file() {
            return Ok(());
        }
        let parent = dir.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        for (name, (path, _)) in outputs {
            copy_file(path, &tmp.join(format!("{name}.jsonl")))?;
        }
        let entry = CacheEntry {
            schema_version: 1,
            key: key.to_string(),
            node_id: node_id.to_string(),
            run_id: run_id.to_string(),
            outputs: outputs.iter().map(|(k, (_, n))| (k.clone(), *n)).collect(),
        };
        std::fs::write(tmp.join("entry.json"), serde_json::to_vec(&entry)?)?;
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(()),
            // Another run stored the same key first: theirs is as good as ours.
            Err(_) if dir.join("entry.json").is_file() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}

/// Copies `from` to a new file `to` (replacing it). Never a hard link: the copy is the
/// reader's own, so nothing done to it reaches `from`.
pub fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::copy(from, to).map(|_| ())
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

    #[test]
    fn store_then_lookup_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let out = dir.path().join("y.jsonl");
        std::fs::write(&out, "1\n2\n").unwrap();
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        cache
            .store(
                &key,
                "a",
                "run1",
                &BTreeMap::from([("y".to_string(), (out, 2))]),
            )
            .unwrap();
        let entry = cache.lookup(&key).unwrap();
        assert_eq!(entry.outputs["y"], 2);
        let dest = dir.path().join("run2/datasets/y.jsonl");
        cache
            .restore(&entry, &BTreeMap::from([("y".to_string(), dest.clone())]))
            .unwrap();
        assert_eq!(std::fs::read_to_string(dest).unwrap(), "1\n2\n");
    }
}
