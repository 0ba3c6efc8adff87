//! `performance-analysis --node ID` (SPEC §9): the report's node sections restricted to one
//! node — a node id, an instance id (`scan@3`), or a fan-out template id (`scan`, every
//! instance and the template's group). Run-wide figures (summary, parallelism, critical
//! path, system) stay those of the whole run.

use super::model::AnalysisReport;

/// The template part of a node or instance id (`scan` for `scan@3` and for `scan`), the id
/// form of SPEC §9 (a node id never holds `@`).
fn template_of(id: &str) -> &str {
    id.split_once('@').map_or(id, |(t, _)| t)
}

/// Whether node id `id` is selected by `arg`: the same id, or an instance of the template
/// `arg` names.
pub fn selects(arg: &str, id: &str) -> bool {
    id == arg || (!arg.contains('@') && template_of(id) == arg)
}

/// How many ids the "unknown node" message lists before `…`.
const LISTED: usize = 20;

/// Restricts `report`'s node sections to the nodes `arg` selects and records `arg` in
/// [`AnalysisReport::node`]. When no node of the described run matches, the report is left
/// as it was and the error lists the run's node ids (instances folded into `template@…`,
/// at most 20, unescaped: the caller escapes).
pub fn restrict(report: &mut AnalysisReport, arg: &str) -> Result<(), String> {
    if !report.nodes.iter().any(|n| selects(arg, &n.node_id)) {
        let mut known: Vec<String> = report
            .nodes
            .iter()
            .map(|n| match n.node_id.split_once('@') {
                Some((t, _)) => format!("{t}@…"),
                None => n.node_id.clone(),
            })
            .collect();
        known.sort();
        known.dedup();
        let more = known.len().saturating_sub(LISTED);
        known.truncate(LISTED);
        return Err(if known.is_empty() {
            "it records no nodes".to_string()
        } else if more > 0 {
            format!("its nodes are: {}, … ({more} more)", known.join(", "))
        } else {
            format!("its nodes are: {}", known.join(", "))
        });
    }
    let keep = |id: &str| selects(arg, id);
    report.nodes.retain(|n| keep(&n.node_id));
    report.slowest_nodes.retain(|id| keep(id));
    report.problems.retain(|p| keep(&p.node_id));
    report.regressions.retain(|g| keep(&g.node_id));
    if let Some(logs) = &mut report.logs {
        logs.nodes.retain(|n| keep(&n.node_id));
    }
    if let Some(across) = &mut report.across_runs {
        across.nodes.retain(|n| keep(&n.node_id));
        across.compare.retain(|d| keep(&d.node_id));
    }
    let template = template_of(arg);
    report.fanouts.retain(|g| g.template == template);
    report.node = Some(arg.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::selects;

    #[test]
    fn template_selects_its_instances_and_an_instance_only_itself() {
        assert!(selects("scan", "scan"));
        assert!(selects("scan", "scan@0"));
        assert!(selects("scan", "scan@12"));
        assert!(!selects("scan", "scanner"));
        assert!(!selects("scan", "scanner@1"));
        assert!(selects("scan@1", "scan@1"));
        assert!(!selects("scan@1", "scan@12"));
        assert!(!selects("scan@1", "scan"));
    }
}
