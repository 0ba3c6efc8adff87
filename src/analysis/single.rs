//! One run: the SecFlow summary, per-node figures, the critical path, parallelism, slowest
//! nodes and problems — pure functions of a [`RunInput`].
//!
//! Critical path method: start from the node that ended last and walk back, each step
//! taking the predecessor that ended last among the node's dependencies. Dependencies come
//! from the recipe file when it is still at `workflow.recipe_path` with the recorded
//! sha256 (exact), else from `secflow.node.depends_on` on node spans, else they are
//! inferred from timing: a node's predecessor is the node that ended last at or before the
//! moment it was queued (ready) — queue waits for a free slot are not dependencies.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::RunInput;
use super::input::parse_ms;
use super::model::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, AttemptReport, CriticalPath, NodeReport, Parallelism,
    Problem, RunInfo, Summary,
};
use crate::store::{NodeStatus, RunStatus};

/// A tolerance for timestamps taken a moment apart (queued vs. a dependency's end).
const QUEUE_SLACK_MS: i64 = 5;
const SLOWEST: usize = 10;

/// Timeline of one node, ms since the epoch.
#[derive(Debug, Clone, Copy)]
struct Span {
    queued: i64,
    start: i64,
    end: i64,
}

/// The report of one run (no cross-run sections).
pub fn analyze_run(input: &RunInput) -> AnalysisReport {
    let rec = &input.record;
    let start = parse_ms(&rec.started_at).unwrap_or(0);
    let finished = rec.status != RunStatus::Running;
    let observed_end = observed_end(input, start);
    let end = match (finished, rec.ended_at.as_deref().and_then(parse_ms)) {
        (true, Some(e)) => e,
        _ => observed_end,
    };
    let wall = match (finished, rec.duration_ms) {
        (true, Some(d)) => d,
        _ => u64::try_from(end - start).unwrap_or(0),
    };
    let mut warnings = input.warnings.clone();
    if !finished {
        warnings.push(format!(
            "run {} never finished (status running): figures cover what was recorded, up to {} ms",
            rec.run_id, wall
        ));
    }

    // Attempts → slots (interval partitioning), busy time, peak.
    let mut intervals: Vec<(i64, i64, usize, usize)> = Vec::new();
    let mut spans: Vec<Option<Span>> = Vec::with_capacity(rec.nodes.len());
    for (ni, node) in rec.nodes.iter().enumerate() {
        let mut span: Option<Span> = None;
        for (ai, a) in node.attempts.iter().enumerate() {
            let Some(s) = a.started_at.as_deref().and_then(parse_ms) else {
                continue;
            };
            let e = a
                .ended_at
                .as_deref()
                .and_then(parse_ms)
                .or_else(|| {
                    a.duration_ms
                        .map(|d| s.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)))
                })
                .unwrap_or(end)
                .max(s);
            intervals.push((s, e, ni, ai));
            let q = parse_ms(&a.queued_at).unwrap_or(s);
            span = Some(match span {
                None => Span {
                    queued: q,
                    start: s,
                    end: e,
                },
                Some(sp) => Span {
                    end: sp.end.max(e),
                    ..sp
                },
            });
        }
        spans.push(span);
    }
    intervals.sort();
    let mut slot_of: HashMap<(usize, usize), u32> = HashMap::with_capacity(intervals.len());
    let mut free: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut slots = 0u32;
    let mut busy = 0u64;
    for &(s, e, ni, ai) in &intervals {
        busy = busy.saturating_add(u64::try_from(e - s).unwrap_or(0));
        let slot = match free.peek() {
            Some(Reverse((fe, slot))) if *fe <= s => {
                let slot = *slot;
                free.pop();
                slot
            }
            _ => {
                slots += 1;
                slots - 1
            }
        };
        free.push(Reverse((e, slot)));
        slot_of.insert((ni, ai), slot);
    }

    let path = critical_path(input, &spans);
    let on_path: std::collections::HashSet<usize> = path.0.iter().copied().collect();
    let share = |ms: u64| {
        if wall == 0 {
            0.0
        } else {
            ms as f64 / wall as f64
        }
    };

    let mut nodes = Vec::with_capacity(rec.nodes.len());
    let mut problems = Vec::new();
    for (ni, node) in rec.nodes.iter().enumerate() {
        let duration = spans[ni].map_or_else(
            || {
                node.attempts
                    .iter()
                    .filter_map(|a| a.duration_ms)
                    .fold(0, u64::saturating_add)
            },
            |sp| u64::try_from(sp.end - sp.start).unwrap_or(0),
        );
        let mut details = Vec::with_capacity(node.attempts.len());
        for (ai, a) in node.attempts.iter().enumerate() {
            let s = a.started_at.as_deref().and_then(parse_ms);
            let d = a.duration_ms.or_else(|| {
                let e = a.ended_at.as_deref().and_then(parse_ms)?;
                u64::try_from(e - s?).ok()
            });
            details.push(AttemptReport {
                attempt: a.attempt,
                status: a.status.as_str().to_string(),
                start_offset_ms: s.map(|s| u64::try_from(s - start).unwrap_or(0)),
                duration_ms: d.unwrap_or(0),
                queue_wait_ms: a.queue_wait_ms.unwrap_or(0),
                cpu_ms: a
                    .cpu_user_ms
                    .unwrap_or(0)
                    .saturating_add(a.cpu_system_ms.unwrap_or(0)),
                peak_rss_bytes: a.peak_rss_bytes.unwrap_or(0),
                exit_code: a.exit_code,
                error: a.error.clone(),
                slot: slot_of.get(&(ni, ai)).copied().unwrap_or(0),
            });
            let last = ai + 1 == node.attempts.len();
            let failed = matches!(a.status, NodeStatus::Failed | NodeStatus::TimedOut);
            if failed {
                let kind = match (last, a.status) {
                    (false, _) => "retried",
                    (true, NodeStatus::TimedOut) => "timed_out",
                    (true, _) => "failed",
                };
                problems.push(Problem {
                    node_id: node.node_id.clone(),
                    attempt: a.attempt,
                    kind: kind.to_string(),
                    message: attempt_message(a, node.reason.as_deref()),
                });
            }
        }
        if matches!(node.status, NodeStatus::Skipped | NodeStatus::Cancelled) {
            problems.push(Problem {
                node_id: node.node_id.clone(),
                attempt: node.attempts.last().map_or(0, |a| a.attempt),
                kind: node.status.as_str().to_string(),
                message: node.reason.clone().unwrap_or_default(),
            });
        }
        nodes.push(NodeReport {
            node_id: node.node_id.clone(),
            plugin_name: node.plugin_name.clone(),
            status: node.status.as_str().to_string(),
            attempts: u32::try_from(node.attempts.len()).unwrap_or(u32::MAX),
            queue_wait_ms: details
                .iter()
                .map(|a| a.queue_wait_ms)
                .fold(0, u64::saturating_add),
            duration_ms: duration,
            cpu_ms: details
                .iter()
                .map(|a| a.cpu_ms)
                .fold(0, u64::saturating_add),
            peak_rss_bytes: details.iter().map(|a| a.peak_rss_bytes).max().unwrap_or(0),
            findings_count: node.findings_count,
            share_of_wall: share(duration),
            on_critical_path: on_path.contains(&ni),
            attempt_details: details,
        });
    }

    let ran: Vec<u64> = rec
        .nodes
        .iter()
        .filter(|n| n.attempts.iter().any(|a| a.duration_ms.is_some()))
        .map(|n| {
            n.attempts
                .iter()
                .filter_map(|a| a.duration_ms)
                .fold(0, u64::saturating_add)
        })
        .collect();
    let findings = if rec.findings_count > 0 {
        rec.findings_count
    } else {
        nodes
            .iter()
            .map(|n| n.findings_count)
            .fold(0, u64::saturating_add)
    };
    let summary = Summary {
        total_duration_ms: wall,
        node_count: nodes.len() as u64,
        findings_count: findings,
        avg_node_duration_ms: (ran.iter().map(|&x| x as f64).sum::<f64>() / ran.len().max(1) as f64)
            .round() as u64,
        findings_per_second: if wall == 0 {
            0.0
        } else {
            findings as f64 * 1000.0 / wall as f64
        },
    };
    let mut order: Vec<&NodeReport> = nodes.iter().filter(|n| n.duration_ms > 0).collect();
    order.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then(a.node_id.cmp(&b.node_id))
    });
    let slowest_nodes = order
        .iter()
        .take(SLOWEST)
        .map(|n| n.node_id.clone())
        .collect();
    let concurrency = rec.concurrency.max(1);
    let path_ms: u64 = path
        .0
        .iter()
        .filter_map(|&i| spans[i])
        .map(|s| u64::try_from(s.end - s.start).unwrap_or(0))
        .sum();
    let torn = input.torn_lines();
    AnalysisReport {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        run: RunInfo {
            run_id: rec.run_id.clone(),
            workflow: rec.workflow.name.clone(),
            status: rec.status.as_str().to_string(),
            finished,
            started_at: rec.started_at.clone(),
            ended_at: rec.ended_at.clone(),
            concurrency: rec.concurrency,
            torn_lines: torn.0,
            invalid_lines: torn.1,
        },
        summary,
        critical_path: CriticalPath {
            nodes: path
                .0
                .iter()
                .map(|&i| rec.nodes[i].node_id.clone())
                .collect(),
            duration_ms: path_ms,
            share: share(path_ms),
            method: path.1.to_string(),
        },
        parallelism: Parallelism {
            busy_ms: busy,
            wall_ms: wall,
            concurrency,
            average: share(busy),
            efficiency: share(busy) / f64::from(concurrency),
            peak: slots,
        },
        nodes,
        slowest_nodes,
        problems,
        system: input.system.clone(),
        logs: input.logs.clone(),
        spans: input.span_summary(),
        across_runs: None,
        regressions: Vec::new(),
        warnings,
        fanouts: super::instances::groups(rec),
    }
}

fn attempt_message(a: &crate::store::AttemptRecord, reason: Option<&str>) -> String {
    if let Some(e) = &a.error {
        return e.clone();
    }
    match (a.exit_code, a.signal) {
        (_, Some(sig)) => format!("killed by signal {sig}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => reason.unwrap_or("").to_string(),
    }
}

/// The latest moment the run's records show (for runs that never finished).
fn observed_end(input: &RunInput, start: i64) -> i64 {
    let mut end = start;
    for n in &input.record.nodes {
        for a in &n.attempts {
            for t in [&a.ended_at, &a.started_at].into_iter().flatten() {
                if let Some(ms) = parse_ms(t) {
                    end = end.max(ms);
                }
            }
        }
    }
    if let Some(ms) = input.spans.as_ref().and_then(|s| s.last_end_ms) {
        end = end.max(ms);
    }
    if let Some(ms) = input.last_sample_ms {
        end = end.max(ms);
    }
    end
}

/// Node indices of the critical path (first to last) and the method used.
fn critical_path(input: &RunInput, spans: &[Option<Span>]) -> (Vec<usize>, &'static str) {
    let nodes = &input.record.nodes;
    let mut index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node_id.as_str(), i))
        .collect();
    // Fan-out (SPEC §9): a template stands for its slowest instance (the last to end), and an
    // instance depends on what its template depends on.
    for (i, n) in nodes.iter().enumerate() {
        if let Some(inst) = &n.instance {
            let end = |k: usize| spans[k].map_or(i64::MIN, |s| s.end);
            let slot = index.entry(inst.template.as_str()).or_insert(i);
            if end(i) > end(*slot) {
                *slot = i;
            }
        }
    }
    let dep_id = |i: usize| {
        nodes[i]
            .instance
            .as_ref()
            .map_or(nodes[i].node_id.as_str(), |inst| inst.template.as_str())
    };
    let (deps, method): (Option<&BTreeMap<String, Vec<String>>>, _) =
        match (&input.recipe_deps, &input.spans) {
            (Some(d), _) => (Some(d), "recipe"),
            (None, Some(s)) if !s.deps.is_empty() => (Some(&s.deps), "spans"),
            _ => (None, "timing"),
        };
    // Nodes with a timeline, by end time, for the timing inference.
    let mut by_end: Vec<(i64, usize)> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (s.end, i)))
        .collect();
    by_end.sort();
    let Some(&(_, last)) = by_end.last() else {
        return (Vec::new(), method);
    };
    let mut path = vec![last];
    let mut seen = vec![false; nodes.len()];
    seen[last] = true;
    let mut cur = last;
    while let Some(here) = spans[cur] {
        let pred = match deps {
            Some(d) => d
                .get(dep_id(cur))
                .into_iter()
                .flatten()
                .filter_map(|id| index.get(id.as_str()).copied())
                .filter_map(|i| spans[i].map(|s| (s.end, i)))
                .filter(|&(e, _)| e <= here.start)
                .max()
                .map(|(_, i)| i),
            None => {
                let bound = here.queued.min(here.start) + QUEUE_SLACK_MS;
                let bound = bound.min(here.start);
                let k = by_end.partition_point(|&(e, _)| e <= bound);
                by_end[..k]
                    .iter()
                    .rev()
                    .find(|&&(e, i)| i != cur && e < here.end)
                    .map(|&(_, i)| i)
            }
        };
        match pred {
            Some(p) if !seen[p] => {
                seen[p] = true;
                path.push(p);
                cur = p;
            }
            _ => break,
        }
    }
    path.reverse();
    (path, method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{LineStats, SpanData};

    fn input(json: &str) -> RunInput {
        RunInput {
            dir: "x".into(),
            record: serde_json::from_str(json).unwrap(),
            spans: None,
            system: None,
            system_lines: LineStats::default(),
            last_sample_ms: None,
            logs: None,
            recipe_deps: None,
            warnings: Vec::new(),
        }
    }

    const FLAKY: &str = include_str!("../../fixtures/runs/01JD0000000000000000000002/run.json");

    #[test]
    fn timing_inference_follows_queue_times_not_slot_waits() {
        let r = analyze_run(&input(FLAKY));
        assert_eq!(r.critical_path.method, "timing");
        // parse was queued when fetch ended (1602) and started later (slot wait): its
        // predecessor is fetch, not `slow` which ended just before parse started.
        assert_eq!(r.critical_path.nodes, ["fetch", "parse"]);
        assert_eq!(r.critical_path.duration_ms, 1600 + 500);
        assert_eq!(r.parallelism.busy_ms, 300 + 300 + 2002 + 500);
        assert_eq!(r.parallelism.peak, 2);
    }

    #[test]
    fn span_edges_win_over_timing() {
        let mut i = input(FLAKY);
        let mut spans = SpanData::default();
        spans.deps.insert("parse".into(), vec!["slow".into()]);
        i.spans = Some(spans);
        let r = analyze_run(&i);
        assert_eq!(r.critical_path.method, "spans");
        assert_eq!(r.critical_path.nodes, ["slow", "parse"]);
    }
}
