//! Reusing earlier results instead of running a node: `--resume RUN` (the datasets of the
//! nodes that succeeded in that run) and the node cache (`state.cache_intermediate`).
//!
//! Both decide by the node's cache key ([`crate::engine::cache_key::node_key`]), computed when the
//! node is about to start, over its definition and the contents of its inputs. A resumed
//! node whose key changed (its definition or inputs differ) runs again, with a warning. A
//! reused node is `cached`, its outputs copied (never hard-linked) into this run's
//! `datasets/`, so the run directory is complete on its own and no later write reaches the
//! source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache_key::{FileDigest, node_key_with};
use crate::plan::{Plan, PlanNode};
use crate::store::cache::{Cache, CacheEntry, CachedFile};
use crate::store::{NodeStatus, OutputRecord};

use super::datasets::Promoted;
use super::fanout::output_path;
use super::prepare::RunPaths;

/// What the run may reuse.
#[derive(Debug, Clone, Default)]
pub struct Reuse {
    /// The node cache, when `state.cache_intermediate` is on and `--no-cache` is not given.
    pub cache: Option<Cache>,
    /// The run being resumed.
    pub resume: Option<Arc<super::resume::ResumeSource>>,
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
    /// its working directory `workdir` (for `sources`). Once `interrupt` shows a signal,
    /// nothing more is copied (a copy under way stops and is removed): the node is not
    /// reused, and the caller starts nothing.
    pub fn decide(
        &self,
        plan: &Plan,
        node: &PlanNode,
        paths: &RunPaths,
        workdir: &Path,
        upstream: Upstream<'_>,
        interrupt: super::Interrupt,
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
        let stop = || interrupt.signal().is_some();
        let key = match node_key_with(plan, node, &inputs, &sources, &stop) {
            Ok(k) => k,
            // A signal asked the run to stop: the node does not start (the scheduler reads
            // the signal before every start), so nothing is said about its key.
            Err(_) if stop() => return d,
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
        if interrupt.signal().is_some() {
            return d;
        }
        if let Some(resume) = &self.resume
            && let Some(reused) =
                super::resume::resumed(resume, node, paths, &key, interrupt, &mut d.warnings)
        {
            d.reused = Some(reused);
            return d;
        }
        if let Some(cache) = self.cache.as_ref().filter(|_| node.cache) {
            match cache.lookup(&key) {
                Ok(Some(entry)) => match from_cache(cache, &entry, node, paths, interrupt) {
                    Ok(reused) => d.reused = Some(reused),
                    Err(why) => d.warnings.push(format!(
                        "`{}`: cannot reuse its cache entry: {why}; running it",
                        node.id
                    )),
                },
                Ok(None) => {}
                Err(why) => d.warnings.push(format!(
                    "`{}`: its cache entry is ignored: {why}; running it",
                    node.id
                )),
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
        let mut files = BTreeMap::new();
        for (name, o) in outputs {
            let (Some(bytes), Some(sha256)) = (o.bytes, o.sha256.clone()) else {
                return Ok(());
            };
            let file = CachedFile {
                bytes,
                records: o.records,
                sha256,
            };
            let open = paths.open_read(&output_path(paths, node, name))?;
            files.insert(name.clone(), (open, file));
        }
        cache.store(key, &node.id, run_id, files)
    }
}

/// `node`'s outputs restored from the cache entry `entry` (each copy checked against the
/// signed entry), recorded with the entry's signed figures, never measured again from
/// `datasets/` (which another node of the run could be writing meanwhile).
fn from_cache(
    cache: &Cache,
    entry: &CacheEntry,
    node: &PlanNode,
    paths: &RunPaths,
    interrupt: super::Interrupt,
) -> Result<Reused, String> {
    let files: Vec<(&String, &CachedFile)> = node
        .outputs
        .iter()
        .map(|name| {
            let file = entry.outputs.get(name);
            file.map(|f| (name, f))
                .ok_or_else(|| format!("it has no `{name}`"))
        })
        .collect::<Result<_, _>>()?;
    // Each copy made beneath the run directory's descriptor (never through a symlink);
    // removed again if the restore fails.
    let mut made: Vec<PathBuf> = Vec::new();
    let restored = cache.restore(
        entry,
        &node.outputs,
        &mut |name| {
            let to = output_path(paths, node, name);
            made.push(to.clone());
            paths.replace_file(&to)
        },
        &|| interrupt.signal().is_some(),
    );
    if let Err(e) = restored {
        for path in made {
            let _ = paths.remove_file(&path);
        }
        return Err(e.to_string());
    }
    let mut promoted = Promoted::default();
    for (name, file) in files {
        let record = OutputRecord {
            path: super::fanout::output_rel(node, name),
            records: file.records,
            sha256: Some(file.sha256.clone()),
            bytes: Some(file.bytes),
        };
        promoted.insert(name, record);
    }
    Ok(Reused {
        outputs: promoted.outputs,
        findings: promoted.findings,
        reason: format!("cache hit (outputs of run {})", entry.run_id),
    })
}

/// The status a reused node gets.
pub const REUSED: NodeStatus = NodeStatus::Cached;
