//! Topological order of a checked plan, and `--target`'s upstream selection.

use crate::diag::did_you_mean;
use crate::plan::{Plan, dag};

/// Puts nodes in topological order (level, then recipe order) and fills deps and levels.
///
/// Permutes `plan.nodes` in place: a second array of nodes would be the biggest thing
/// alive while a large recipe is planned.
pub(super) fn order(mut plan: Plan, deps_of: Vec<Vec<usize>>) -> Plan {
    let level = dag::levels(&deps_of);
    let mut order: Vec<usize> = (0..plan.nodes.len()).collect();
    order.sort_by_key(|&i| (level[i], i));
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    drop(order);
    for ((old, node), mut deps) in plan.nodes.iter_mut().enumerate().zip(deps_of) {
        for d in &mut deps {
            *d = new_index[*d];
        }
        node.level = level[old];
        node.deps = deps;
    }
    // Follow each cycle of the permutation: every swap puts one node where it belongs.
    for i in 0..new_index.len() {
        while new_index[i] != i {
            let j = new_index[i];
            plan.nodes.swap(i, j);
            new_index.swap(i, j);
        }
    }
    let depth = level.iter().max().map_or(0, |m| m + 1);
    let mut levels = vec![Vec::new(); depth];
    for (new, node) in plan.nodes.iter().enumerate() {
        levels[node.level].push(new);
    }
    plan.levels = levels;
    plan
}

/// Keeps `target` and every node upstream of it.
pub fn select_target(plan: Plan, target: &str) -> Result<Plan, String> {
    let Some(t) = plan.node_index(target) else {
        if let Some((template, _)) = target.split_once('@')
            && plan.node_index(template).is_some()
        {
            return Err(format!(
                "--target takes a template id, not an instance id: write `--target {template}` (it runs every instance)"
            ));
        }
        let hint = did_you_mean(target, plan.nodes.iter().map(|n| n.id.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(format!("--target names unknown node `{target}`{hint}"));
    };
    let mut keep = vec![false; plan.nodes.len()];
    let mut stack = vec![t];
    while let Some(v) = stack.pop() {
        if !std::mem::replace(&mut keep[v], true) {
            stack.extend(plan.nodes[v].deps.iter().copied());
        }
    }
    let kept: Vec<usize> = (0..plan.nodes.len()).filter(|&i| keep[i]).collect();
    let deps: Vec<Vec<usize>> = kept
        .iter()
        .map(|&i| {
            plan.nodes[i]
                .deps
                .iter()
                .map(|d| kept.binary_search(d).expect("upstream nodes are kept"))
                .collect()
        })
        .collect();
    let mut plan = plan;
    let nodes = std::mem::take(&mut plan.nodes);
    plan.nodes = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        .map(|(_, n)| n)
        .collect();
    Ok(order(plan, deps))
}
