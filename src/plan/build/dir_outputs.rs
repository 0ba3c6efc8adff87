//! Validating directory outputs (`outputs: [{ name: site, dir: true }]`, SPEC §9) and
//! marking each plan node's datasets that are directories.
//!
//! A directory is no JSON-lines file: it cannot be a `foreach` source (records are lines),
//! cannot count as `findings` (findings are records), and gathering the directories of a
//! fanned-out node's instances is not supported, so a `foreach`/`matrix` node cannot
//! declare one. Each mistake is a located error.

use std::collections::HashMap;

use super::{Checker, pos};
use crate::plan::PlanNode;
use crate::plan::foreach::Source;
use crate::recipe::RawRecipe;

impl Checker<'_> {
    /// Checks every directory output and fills `PlanNode::dir_datasets` (for inputs too).
    pub(super) fn dir_outputs(&mut self, raw: &RawRecipe, nodes: &mut [Option<PlanNode>]) {
        let mut dirs: HashMap<&str, &str> = HashMap::new();
        for node in &raw.nodes {
            for out in node.outputs.dirs() {
                dirs.entry(out.value.as_str())
                    .or_insert(node.id.value.as_str());
            }
        }
        if dirs.is_empty() {
            return;
        }
        for (node, plan) in raw.nodes.iter().zip(nodes.iter_mut()) {
            for out in node.outputs.dirs() {
                let name = out.value.as_str();
                // The rule of `engine::datasets::is_findings` (plan never imports engine).
                if name == "findings" || name.ends_with("_findings") {
                    self.error(
                        pos(out),
                        "dir-output-findings",
                        format!(
                            "directory output `{name}` cannot be a findings dataset (findings \
                             are counted as JSON lines)"
                        ),
                        Some(format!(
                            "rename it (e.g. `{name}_dir`), or write the findings as a file \
                             output `{{ name: {name} }}`"
                        )),
                    );
                }
                let fanned = node
                    .foreach
                    .as_ref()
                    .map(pos)
                    .or(node.matrix.as_ref().map(pos));
                if fanned.is_some() {
                    self.error(
                        pos(out),
                        "dir-output-fanout",
                        format!(
                            "node `{}` fans out (`foreach`/`matrix`) and declares directory \
                             output `{name}`: instances' directories are not gathered",
                            node.id.value
                        ),
                        Some(
                            "declare a file output, or move the directory output to a node \
                             that does not fan out"
                                .into(),
                        ),
                    );
                }
            }
            let Some(plan) = plan.as_mut() else {
                continue;
            };
            if let (Some(fanout), Some(at)) = (&plan.fanout, &node.foreach)
                && let Source::Records(d) = &fanout.source
                && let Some(producer) = dirs.get(d.as_str())
            {
                self.error(
                    pos(at),
                    "dir-output-foreach",
                    format!(
                        "`foreach` over `{{{{ inputs.{d} }}}}`: `{d}` is a directory output of \
                         node `{producer}`, not a dataset of records"
                    ),
                    Some(format!(
                        "fan out over a file output that lists the items, e.g. one file name \
                         per line written by `{producer}`"
                    )),
                );
            }
            plan.dir_datasets = plan
                .inputs
                .iter()
                .chain(&plan.outputs)
                .filter(|n| dirs.contains_key(n.as_str()))
                .cloned()
                .collect();
        }
    }
}
