//! Reusing earlier results instead of running a node: `--resume RUN` (the datasets of the
//! nodes that succeeded in that run) and the node cache (`state.cache_intermediate`).
//!
//! Both decide by the node's cache key ([`crate::store::cache::node_key`]), computed when the
//! node is about to start, over its definition and the contents of its inputs. A resumed
//! node whose key changed (its definition or inputs differ) runs again, with a warning. A
//! reused node is `cached`, its outputs linked (or copied) into this run's `datasets/`, so
//! the run directory is complete on its own.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::plan::{Plan, PlanNode};
use crate::store::cache::{Cache, link_or_copy, node_key};
use crate::store::{NodeStatus, OutputRecord, RunRecord};

use super::datasets::{count_records, is_findings};
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
    /// Output name → file, absolute.
    pub outputs: BTreeMap<String, PathBuf>,
}

/// The run `--resume` names.
#[derive(Debug, Clone)]
pub struct ResumeSource {
    pub run_id: String,
    pub nodes: HashMap<String, PrevNode>,
}

impl ResumeSource {
    /// Reads `<run_dir>/run.json`.
    pub fn load(run_dir: &Path) -> Result<ResumeSource, String> {
        let path = run_dir.join("run.json");
        let text =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let record: RunRecord = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a run record: {e}", path.display()))?;
        let nodes = record
            .nodes
            .into_iter()
            .map(|n| {
                let outputs = n
                    .outputs
                    .iter()
                    .map(|(name, o)| (name.clone(), run_dir.join(&o.path)))
                    .collect();
                let prev = PrevNode {
                    succeeded: n.status.is_success(),
                    cache_key: n.cache_key,
                    outputs,
                };
                (n.node_id, prev)
            })
            .collect();
        Ok(ResumeSource {
            run_id: record.run_id,
            nodes,
        })
    }
}

/// A node that needs no run: its outputs are in place.
#[derive(Debug)]
pub struct Reused {
    pub outputs: BTreeMap<String, OutputRecord>,
    pub findings: u64,
    pub reason: String,
}

/// The decision for one node about to start.
#[derive(Debug)]
pub struct Decision {
    /// The node's cache key, when it could be computed.
    pub key: Option<String>,
    /// Set when the node is reused.
    pub reused: Option<Reused>,
    /// Something the user should know (a changed node re-runs; a key that could not be
    /// computed).
    pub warning: Option<String>,
}

impl Reuse {
    /// Decides whether `node` runs, given the inputs already in this run's `datasets/`.
    pub fn decide(&self, plan: &Plan, node: &PlanNode, paths: &RunPaths) -> Decision {
        let inputs: BTreeMap<String, PathBuf> = node
            .inputs
            .iter()
            .map(|name| (name.clone(), paths.dataset(name)))
            .collect();
        let key = match node_key(plan, node, &inputs) {
            Ok(k) => k,
            Err(e) => {
                return Decision {
                    key: None,
                    reused: None,
                    warning: Some(format!(
                        "cannot compute the cache key of `{}`: {e}",
                        node.id
                    )),
                };
            }
        };
        let mut warning = None;
        if let Some(resume) = &self.resume
            && let Some(prev) = resume.nodes.get(&node.id)
            && prev.succeeded
        {
            if prev.cache_key.as_deref() == Some(key.as_str()) {
                match restore(node, paths, |name| prev.outputs.get(name).cloned()) {
                    Ok(mut reused) => {
                        reused.reason = format!("reused from run {}", resume.run_id);
                        return Decision {
                            key: Some(key),
                            reused: Some(reused),
                            warning: None,
                        };
                    }
                    Err(e) => {
                        warning = Some(format!(
                            "`{}`: cannot reuse the outputs of run {}: {e}; running it again",
                            node.id, resume.run_id
                        ));
                    }
                }
            } else {
                warning = Some(format!(
                    "`{}` changed since run {} (definition or inputs): running it again",
                    node.id, resume.run_id
                ));
            }
        }
        if let Some(cache) = &self.cache
            && let Some(entry) = cache.lookup(&key)
            && node.outputs.iter().all(|o| entry.outputs.contains_key(o))
        {
            let dest: BTreeMap<String, PathBuf> = node
                .outputs
                .iter()
                .map(|name| (name.clone(), paths.dataset(name)))
                .collect();
            if cache.restore(&entry, &dest).is_ok()
                && let Ok(mut reused) = restore(node, paths, |name| Some(paths.dataset(name)))
            {
                reused.reason = format!("cache hit (outputs of run {})", entry.run_id);
                return Decision {
                    key: Some(key),
                    reused: Some(reused),
                    warning,
                };
            }
        }
        Decision {
            key: Some(key),
            reused: None,
            warning,
        }
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
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let files = outputs
            .iter()
            .map(|(name, o)| (name.clone(), (paths.dataset(name), o.records)))
            .collect();
        cache.store(key, &node.id, run_id, &files)
    }
}

/// Links each output of `node` from `source(name)` into this run's `datasets/` (unless it is
/// already there) and counts its records.
fn restore(
    node: &PlanNode,
    paths: &RunPaths,
    source: impl Fn(&str) -> Option<PathBuf>,
) -> std::io::Result<Reused> {
    let mut outputs = BTreeMap::new();
    let mut findings = 0;
    for name in &node.outputs {
        let from = source(name).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no recorded output `{name}`"),
            )
        })?;
        let to = paths.dataset(name);
        if from != to {
            link_or_copy(&from, &to)?;
        }
        let records = count_records(&to)?;
        if is_findings(name) {
            findings += records;
        }
        outputs.insert(
            name.clone(),
            OutputRecord {
                path: RunPaths::dataset_rel(name),
                records,
            },
        );
    }
    Ok(Reused {
        outputs,
        findings,
        reason: String::new(),
    })
}

/// The status a reused node gets.
pub const REUSED: NodeStatus = NodeStatus::Cached;
