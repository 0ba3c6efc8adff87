//! Fan-out at run time (SPEC §9): turning a template node into its instances when it is
//! otherwise ready, and gathering the instances' outputs for its consumers.
//!
//! The records of a dynamic source are read streaming, line by line, and counted against
//! `max_instances` as they are read: a source far over the limit is refused after reading
//! `max_instances + 1` records, whatever its size, and no line is held beyond the items kept.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use super::datasets::Promoted;
use super::prepare::RunPaths;
use crate::plan::foreach::{Item, Source, instance_node};
use crate::plan::template::{Namespace, Reference};
use crate::plan::{Plan, PlanNode};

/// The longest record a dynamic source may hold (a longer line fails the node).
const MAX_RECORD_BYTES: usize = 1 << 20;

/// `{{ item }}`, `{{ item.K }}`, `{{ index }}` or `{{ matrix.NAME }}` of an instance.
pub fn instance_value(node: &PlanNode, r: &Reference) -> Option<String> {
    let inst = node.instance.as_ref()?;
    match r.namespace {
        Namespace::Index => Some(inst.index.to_string()),
        Namespace::Matrix => inst
            .matrix
            .iter()
            .find(|(k, _)| *k == r.key)
            .map(|(_, v)| v.clone()),
        Namespace::Item => {
            let item = inst.item.as_ref()?;
            if r.key.is_empty() {
                Some(item.text().to_string())
            } else {
                item.field(&r.key).map(str::to_string)
            }
        }
        _ => None,
    }
}

/// Where instance output `name` of `node` is promoted: `datasets/D/<i>.jsonl` for an
/// instance, else `datasets/D.jsonl`.
pub fn output_path(paths: &RunPaths, node: &PlanNode, name: &str) -> PathBuf {
    match &node.instance {
        Some(inst) => paths
            .run_dir
            .join("datasets")
            .join(name)
            .join(format!("{}.jsonl", inst.index)),
        None => paths.dataset(name),
    }
}

/// [`output_path`], relative to the run directory (as run.json records it).
pub fn output_rel(node: &PlanNode, name: &str) -> String {
    match &node.instance {
        Some(inst) => format!("datasets/{name}/{}.jsonl", inst.index),
        None => RunPaths::dataset_rel(name),
    }
}

/// The items of template `t`: known from the plan, or read from its input's records.
/// Fails naming the limit when there are more than `max_instances`.
pub fn items(plan: &Plan, t: usize, paths: &RunPaths) -> Result<Vec<PlanNode>, String> {
    let template = &plan.nodes[t];
    let Some(fanout) = template.fanout.as_deref() else {
        return Ok(Vec::new());
    };
    let limit = fanout.max_instances;
    let over = |n: String| {
        format!(
            "`{}` would fan out to {n} instances, over its limit of {limit} (max_instances); \
             raise it with `max_instances:` on the node or `--max-instances N`",
            template.id
        )
    };
    let pairs: Vec<crate::plan::foreach::StaticInstance> = match &fanout.source {
        Source::Records(dataset) => {
            let path = paths.dataset(dataset);
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("cannot read `{dataset}` ({}): {e}", path.display()))?;
            let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
            let mut items = Vec::new();
            let mut line = Vec::new();
            let mut number = 0u64;
            loop {
                line.clear();
                number += 1;
                // Room for the record and its line ending (`\r\n` included).
                let n = std::io::Read::by_ref(&mut reader)
                    .take(MAX_RECORD_BYTES as u64 + 2)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| format!("cannot read `{dataset}`: {e}"))?;
                if n == 0 {
                    break;
                }
                let cut = line.len() > MAX_RECORD_BYTES && line.last() != Some(&b'\n');
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                if cut || line.len() > MAX_RECORD_BYTES {
                    return Err(format!(
                        "a record of `{dataset}` is longer than {MAX_RECORD_BYTES} bytes"
                    ));
                }
                if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                    continue;
                }
                if items.len() == limit {
                    return Err(over(format!("more than {limit}")));
                }
                // A record is the tool's bytes: never altered (U+FFFD in place of bad bytes
                // would hand the next tool an item its producer never wrote).
                let text = std::str::from_utf8(&line).map_err(|e| {
                    format!(
                        "line {number} of `{dataset}` is not valid UTF-8 (at byte {}): \
                         refused rather than changed",
                        e.valid_up_to() + 1
                    )
                })?;
                items.push((Some(Item::from_record(text)), Vec::new()));
            }
            items
        }
        _ => {
            let n = fanout.static_len().unwrap_or(usize::MAX);
            if n > limit {
                return Err(over(n.to_string()));
            }
            fanout.static_instances().unwrap_or_default()
        }
    };
    Ok(pairs
        .into_iter()
        .enumerate()
        .map(|(i, (item, matrix))| instance_node(template, t, i, item, matrix))
        .collect())
}

/// Concatenates the instances' datasets `datasets/D/<i>.jsonl` (i < `count`) into
/// `datasets/D.jsonl` in instance order, for each output of `template`; an instance that
/// wrote nothing (it failed under `continue_on_error`, or was skipped) adds nothing.
pub fn gather(paths: &RunPaths, template: &PlanNode, count: usize) -> std::io::Result<Promoted> {
    let mut promoted = Promoted::default();
    for name in &template.outputs {
        let dest = paths.dataset(name);
        let mut out = std::io::BufWriter::new(paths.create_file(&dest)?);
        let dir = paths.run_dir.join("datasets").join(name);
        for i in 0..count {
            let part = dir.join(format!("{i}.jsonl"));
            let mut file = match std::fs::File::open(&part) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let copied = std::io::copy(&mut file, &mut out)?;
            // Records are lines: a part without a final newline must not join the next.
            if copied > 0 {
                use std::io::{Seek, SeekFrom};
                file.seek(SeekFrom::End(-1))?;
                let mut last = [0u8];
                file.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    out.write_all(b"\n")?;
                }
            }
        }
        out.into_inner().map_err(|e| e.into_error())?;
        promoted.add(paths, name, &dest)?;
    }
    Ok(promoted)
}

/// Creates `datasets/<D>/` for each output of an instance-bearing template.
pub fn make_output_dirs(paths: &RunPaths, template: &PlanNode) -> std::io::Result<()> {
    for name in &template.outputs {
        let dir = paths.run_dir.join("datasets").join(name);
        match &paths.records {
            Some(r) => r.create_dir_all(&dir)?,
            None => std::fs::create_dir_all(&dir)?,
        }
    }
    Ok(())
}

/// The scheduler's bookkeeping of a template that fanned out.
#[derive(Debug, Default)]
pub struct FanState {
    /// Its instances are plan nodes `first..first + count`.
    pub first: usize,
    pub count: usize,
    /// Instances that reached a final status.
    pub done: usize,
    /// Attempts of its instances running now.
    pub running: usize,
    /// `foreach_concurrency`.
    pub cap: Option<usize>,
    /// Instances ready but held back by `foreach_concurrency`, in order.
    pub parked: std::collections::VecDeque<usize>,
    /// The first status of an instance that did not succeed (`continue_on_error` aside).
    pub worst: Option<crate::store::NodeStatus>,
    /// The template reached its own final state.
    pub finalized: bool,
}

/// What `--dry-run` shows of node `i`: for a fanned-out node, the node to render its
/// command from (its first instance, or a stand-in whose item reads `<item>` when the items
/// are known only at run time) and its static instances; `None` for any other node.
pub fn dry_run_view(plan: &Plan, i: usize) -> Option<(PlanNode, Vec<PlanNode>)> {
    let node = &plan.nodes[i];
    let fanout = node.fanout.as_deref()?;
    let instances: Vec<PlanNode> = fanout
        .static_instances()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(k, (item, matrix))| instance_node(node, i, k, item, matrix))
        .collect();
    let shown = match instances.first() {
        Some(first) => first.clone(),
        None => {
            let mut fields = std::collections::BTreeMap::new();
            let mut templates: Vec<&crate::plan::Template> = match &node.action {
                crate::plan::Action::Shell(t) => vec![t],
                crate::plan::Action::Argv(parts) => parts.iter().collect(),
            };
            let parsed: Vec<crate::plan::Template> = node
                .config
                .values()
                .filter_map(|v| v.as_str())
                .filter_map(|s| crate::plan::Template::parse(s).ok())
                .collect();
            templates.extend(parsed.iter());
            for r in templates.iter().flat_map(|t| t.references()) {
                if r.namespace == Namespace::Item && !r.key.is_empty() {
                    fields.insert(r.key.clone(), format!("<item.{}>", r.key));
                }
            }
            let item = Item::Map {
                text: "<item>".into(),
                fields,
            };
            let mut shown = instance_node(node, i, 0, Some(item), Vec::new());
            shown.id = format!("{}@<i>", node.id);
            shown
        }
    };
    Some((shown, instances))
}
