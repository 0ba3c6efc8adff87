//! Reusing earlier results instead of running a node: `--resume RUN` (the datasets of the
//! nodes that succeeded in that run) and the node cache (`state.cache_intermediate`).
//!
//! Both decide by the node's cache key ([`crate::engine::cache_key::node_key`]), computed when the
//! node is about to start, over its definition and the contents of its inputs. A resumed
//! node whose key changed (its definition or inputs differ) runs again, with a warning. A
//! reused node is `cached`, its outputs copied (never hard-linked) into this run's
//! `datasets/`, so the run directory is complete on its own and no later write reaches the
//! source.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache_key::{FileDigest, node_key_with};
use crate::plan::{Plan, PlanNode};
use crate::store::cache::{Cache, copy_regular};
use crate::store::{NodeStatus, OutputRecord, RunRecord};

use super::datasets::{Promoted, output_record};
use super::fanout::output_path;
use super::prepare::RunPaths;

/// What the run may reuse.
#[derive(Debug, Clone, Default)]
pub struct Reuse {
    /// The node cache, when `state.cache_intermediate` is on and `--no-cache` is not given.
    pub cache: Option<Cache>,
    /// The run being resumed.
    pub resume: Option<Arc<ResumeSource>>,
}

/// A node of the run being resumed.
#[derive(Debug, Clone)]
pub struct PrevNode {
    pub succeeded: bool,
    pub cache_key: Option<String>,
    /// Output name → file, absolute (always under the run's `datasets/`).
    pub outputs: BTreeMap<String, PathBuf>,
    /// Output name → SHA-256, from the run's verified audit chain (never from `run.json`):
    /// a dataset is reused only when its copy has this digest.
    pub digests: BTreeMap<String, String>,
}

/// The run `--resume` names, read from its `run.json` and checked against its audit chain.
#[derive(Debug, Clone)]
pub struct ResumeSource {
    /// The run id its audit chain carries (`resumed_from` of the new run).
    pub run_id: String,
    /// The workflow's `name`: what identifies a workflow across edits.
    pub workflow: String,
    pub nodes: HashMap<String, PrevNode>,
    /// Instances of fanned-out nodes by (template, cache key): an instance is found by what
    /// it did, not by its place in the list (SPEC §9).
    pub instances: HashMap<(String, String), PrevNode>,
}

/// What the audit chain of the run being resumed vouches for, verified by the caller (the
/// engine reads no chain): `run.json` and the datasets are the run's tools' to rewrite, the
/// chain is not.
#[derive(Debug, Clone, Default)]
pub struct Vouched {
    /// The run id the chain carries.
    pub run_id: String,
    /// Node id → output name → SHA-256, from its `node.completed`/`node.cached` event.
    pub digests: HashMap<String, BTreeMap<String, String>>,
}

impl ResumeSource {
    /// Reads `<run_dir>/run.json`, which must be the run `vouched` is about. A node's
    /// datasets are reusable only with the digests `vouched` holds for it; an output path
    /// outside `datasets/` is none.
    pub fn load(run_dir: &Path, vouched: Vouched) -> Result<ResumeSource, String> {
        let path = run_dir.join("run.json");
        let text = crate::store::open::read_regular(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let record: RunRecord = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a run record: {e}", path.display()))?;
        if record.run_id != vouched.run_id {
            return Err(format!(
                "{} says run {}, but its audit trail is run {}'s: it cannot be resumed",
                path.display(),
                record.run_id,
                vouched.run_id
            ));
        }
        let digests = vouched.digests;
        let mut instances = HashMap::new();
        let nodes = record
            .nodes
            .into_iter()
            .map(|n| {
                let outputs = n
                    .outputs
                    .iter()
                    .filter(|(_, o)| is_dataset_path(&o.path))
                    .map(|(name, o)| (name.clone(), run_dir.join(&o.path)))
                    .collect();
                let prev = PrevNode {
                    succeeded: n.status.is_success(),
                    cache_key: n.cache_key,
                    outputs,
                    digests: digests.get(&n.node_id).cloned().unwrap_or_default(),
                };
                if let (Some(inst), Some(key)) = (&n.instance, &prev.cache_key) {
                    instances.insert((inst.template.clone(), key.clone()), prev.clone());
                }
                (n.node_id, prev)
            })
            .collect();
        Ok(ResumeSource {
            run_id: record.run_id,
            workflow: record.workflow.name,
            nodes,
            instances,
        })
    }
}

/// Whether `rel`, a dataset path read from a `run.json`, names a file under `datasets/` (no
/// absolute path, no `..`): the only place a resumed dataset may come from.
fn is_dataset_path(rel: &str) -> bool {
    let mut parts = Path::new(rel).components();
    parts.next() == Some(std::path::Component::Normal("datasets".as_ref()))
        && parts.clone().next().is_some()
        && parts.all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// A node that needs no run: its outputs are in place.
#[derive(Debug)]
pub struct Reused {
    pub outputs: BTreeMap<String, OutputRecord>,
    pub findings: u64,
    pub reason: String,
}

/// The decision for one node about to start.
#[derive(Debug, Default)]
pub struct Decision {
    /// The node's cache key, when it could be computed.
    pub key: Option<String>,
    /// The digests of the node's inputs, to check after each attempt (`input modified`).
    pub inputs: Vec<FileDigest>,
    /// Set when the node is reused.
    pub reused: Option<Reused>,
    /// What the user should know (a changed node re-runs; a key that could not be computed;
    /// a `sources` glob that matches nothing).
    pub warnings: Vec<String>,
}

/// What this run already did upstream of a node, for [`Reuse::decide`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Upstream<'a> {
    /// An upstream linked only by `depends_on` that ran (was not reused) in this run.
    pub reran_dependency: Option<&'a str>,
}

impl Reuse {
    /// Decides whether `node` runs, given the inputs already in this run's `datasets/` and
    /// its working directory `workdir` (for `sources`).
    pub fn decide(
        &self,
        plan: &Plan,
        node: &PlanNode,
        paths: &RunPaths,
        workdir: &Path,
        upstream: Upstream<'_>,
    ) -> Decision {
        let mut d = Decision::default();
        // An instance's item is its part of the dataset it fans out over: the rest of that
        // dataset is no input of its work (adding one target re-runs one instance).
        let over = node.instance.as_ref().and_then(|i| i.over.as_deref());
        let inputs: BTreeMap<String, PathBuf> = node
            .inputs
            .iter()
            .filter(|name| Some(name.as_str()) != over)
            .map(|name| {
                let path = super::dir_output::dataset_path(paths, node, name);
                (name.clone(), path)
            })
            .collect();
        let sources = match super::sources::resolve(&node.sources, workdir) {
            Ok((files, unmatched)) => {
                for glob in unmatched {
                    d.warnings.push(format!(
                        "`{}`: `sources` glob `{glob}` matches no file under {}",
                        node.id,
                        workdir.display()
                    ));
                }
                files
            }
            Err(e) => {
                d.warnings
                    .push(format!("`{}`: {e}; it runs without reuse", node.id));
                return d;
            }
        };
        let key = match node_key_with(plan, node, &inputs, &sources) {
            Ok(k) => k,
            Err(e) => {
                d.warnings.push(format!(
                    "cannot compute the cache key of `{}`: {e}",
                    node.id
                ));
                return d;
            }
        };
        d.key = Some(key.key.clone());
        d.inputs = key.inputs;
        let key = key.key;
        if super::dir_output::has_dir_output(node) {
            // A directory output is never reused: copying a tree a node left (symlinks, hard
            // links, fifos) into or out of the cache is not safe. The node always runs.
            return d;
        }
        if let Some(dep) = upstream.reran_dependency {
            // `depends_on` carries no data the key could see: what ran before this node may
            // have changed what it does, so it runs again.
            if self.resume.is_some() || (self.cache.is_some() && node.cache) {
                d.warnings.push(format!(
                    "`{}` runs again: `{dep}`, which it depends on, ran in this run",
                    node.id
                ));
            }
            return d;
        }
        if let Some(resume) = &self.resume
            && let Some(reused) = resumed(resume, node, paths, &key, &mut d.warnings)
        {
            d.reused = Some(reused);
            return d;
        }
        if let Some(cache) = &self.cache
            && node.cache
            && let Some(entry) = cache.lookup(&key)
            && node.outputs.iter().all(|o| entry.outputs.contains_key(o))
        {
            let dest: BTreeMap<String, PathBuf> = node
                .outputs
                .iter()
                .map(|name| (name.clone(), output_path(paths, node, name)))
                .collect();
            if cache.restore(&entry, &dest).is_ok()
                && let Ok(mut reused) = restore(node, paths, |name| {
                    Some((output_path(paths, node, name), None))
                })
            {
                reused.reason = format!("cache hit (outputs of run {})", entry.run_id);
                d.reused = Some(reused);
            }
        }
        d
    }

    /// Records a succeeded node's outputs in the cache (errors are the caller's warning).
    pub fn store(
        &self,
        key: &str,
        node: &PlanNode,
        run_id: &str,
        paths: &RunPaths,
        outputs: &BTreeMap<String, OutputRecord>,
    ) -> std::io::Result<()> {
        let Some(cache) = self
            .cache
            .as_ref()
            .filter(|_| node.cache && !super::dir_output::has_dir_output(node))
        else {
            return Ok(());
        };
        let files = outputs
            .iter()
            .map(|(name, o)| (name.clone(), (output_path(paths, node, name), o.records)))
            .collect();
        cache.store(key, &node.id, run_id, &files)
    }
}

/// The outputs of `node` (whose cache key is `key`) reused from the run `resume`, when it
/// succeeded there with the same key and each dataset's copy has the digest the run's audit
/// chain vouches for; otherwise why it runs again goes to `warnings`.
fn resumed(
    resume: &ResumeSource,
    node: &PlanNode,
    paths: &RunPaths,
    key: &str,
    warnings: &mut Vec<String>,
) -> Option<Reused> {
    let prev = match &node.instance {
        Some(inst) => resume
            .instances
            .get(&(inst.template.clone(), key.to_string())),
        None => resume.nodes.get(&node.id),
    }
    .filter(|prev| prev.succeeded)?;
    if prev.cache_key.as_deref() != Some(key) {
        warnings.push(format!(
            "`{}` changed since run {} (definition, inputs or sources): running it again",
            node.id, resume.run_id
        ));
        return None;
    }
    let source = |name: &str| {
        let from = prev.outputs.get(name)?.clone();
        Some((from, Some(prev.digests.get(name)?.clone())))
    };
    match restore(node, paths, source) {
        Ok(mut reused) => {
            reused.reason = format!("reused from run {}", resume.run_id);
            Some(reused)
        }
        Err(e) => {
            warnings.push(format!(
                "`{}`: cannot reuse the outputs of run {}: {e}; running it again",
                node.id, resume.run_id
            ));
            None
        }
    }
}

/// Copies each output of `node` from `source(name)` (a regular file; unless it is already
/// in place) into this run's `datasets/`, counts its records and takes its digest. When
/// `source` gives a digest, the copy must have it: otherwise the copy is removed and the
/// node is not reused.
fn restore(
    node: &PlanNode,
    paths: &RunPaths,
    source: impl Fn(&str) -> Option<(PathBuf, Option<String>)>,
) -> std::io::Result<Reused> {
    let mut promoted = Promoted::default();
    for name in &node.outputs {
        let (from, expected) = source(name).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no recorded output `{name}` with its digest"),
            )
        })?;
        let to = output_path(paths, node, name);
        if from != to {
            copy_regular(&from, &to)?;
        }
        let record = output_record(super::fanout::output_rel(node, name), &to)?;
        if let Some(expected) = expected
            && record.sha256.as_deref() != Some(expected.as_str())
        {
            let _ = std::fs::remove_file(&to);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("dataset `{name}` is not what its audit trail recorded (SHA-256 differs)"),
            ));
        }
        promoted.insert(name, record);
    }
    Ok(Reused {
        outputs: promoted.outputs,
        findings: promoted.findings,
        reason: String::new(),
    })
}

/// The status a reused node gets.
pub const REUSED: NodeStatus = NodeStatus::Cached;
