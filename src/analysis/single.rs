//! One run: the SecFlow summary, per-node figures, the critical path, parallelism, slowest
//! nodes and problems — pure functions of a [`RunInput`].
//!
//! Critical path method: start from the node that ended last and walk back, each step
//! taking the predecessor that ended last among the node's dependencies. Dependencies are
//! run.json's `depends_on` (method `recorded`, exact); a record written before that field
//! existed has them inferred from timing (method `timing`): a node's predecessor is the node
//! that ended last at or before the moment it was queued (ready) — queue waits for a free
//! slot are not dependencies.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::RunInput;
use super::input::{Nodes, parse_ms};
use super::model::{
    ANALYSIS_SCHEMA_VERSION, AnalysisReport, CriticalPath, NodeReport, Parallelism, RunInfo,
    Summary,
};
use crate::store::RunStatus;

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

/// The report of one run (no cross-run sections). Consumes the input: its node rows become
/// the report's, uncopied.
pub fn analyze_run(input: RunInput) -> AnalysisReport {
    let torn = input.torn_lines();
    let span_summary = input.span_summary();
    let observed_end = observed_end(&input, parse_ms(&input.record.started_at).unwrap_or(0));
    let RunInput {
        record: rec,
        mut nodes,
        system,
        logs,
        mut warnings,
        ..
    } = input;
    let start = parse_ms(&rec.started_at).unwrap_or(0);
    let finished = rec.status != RunStatus::Running;
    let end = match (finished, rec.ended_at.as_deref().and_then(parse_ms)) {
        (true, Some(e)) => e,
        _ => observed_end,
    };
    let wall = match (finished, rec.duration_ms) {
        (true, Some(d)) => d,
        _ => u64::try_from(end - start).unwrap_or(0),
    };
    if !finished {
        warnings.push(format!(
            "run {} never finished (status running): figures cover what was recorded, up to {} ms",
            rec.run_id, wall
        ));
    }

    // Attempts → slots (interval partitioning), busy time, peak.
    let (intervals, spans) = attempt_intervals(&nodes, end);
    let (slot_of, slots, busy) = assign_slots(intervals, nodes.times.len());

    let (path, method) = critical_path(&nodes, &spans);
    let share = |ms: u64| {
        if wall == 0 {
            0.0
        } else {
            ms as f64 / wall as f64
        }
    };
    let path_ms: u64 = path
        .iter()
        .filter_map(|&i| spans[i])
        .map(|s| u64::try_from(s.end - s.start).unwrap_or(0))
        .sum();
    let path_ids: Vec<String> = path
        .iter()
        .map(|&i| nodes.reports[i].node_id.clone())
        .collect();

    let mut reports = std::mem::take(&mut nodes.reports);
    fill_node_times(&mut reports, &nodes, &spans, &slot_of, start, wall);
    for &i in &path {
        reports[i].on_critical_path = true;
    }

    let summary = summary(&reports, rec.findings_count, nodes.ran, wall);
    let slowest_nodes = slowest(&reports);
    let fanouts = super::instances::groups(&nodes.instances, &reports);
    let concurrency = rec.concurrency.max(1);
    AnalysisReport {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        run: RunInfo {
            run_id: rec.run_id,
            workflow: rec.workflow.name,
            status: rec.status.as_str().to_string(),
            finished,
            started_at: rec.started_at,
            ended_at: rec.ended_at,
            concurrency: rec.concurrency,
            torn_lines: torn.0,
            invalid_lines: torn.1,
        },
        summary,
        critical_path: CriticalPath {
            nodes: path_ids,
            duration_ms: path_ms,
            share: share(path_ms),
            method: method.to_string(),
        },
        parallelism: Parallelism {
            busy_ms: busy,
            wall_ms: wall,
            concurrency,
            average: share(busy),
            efficiency: share(busy) / f64::from(concurrency),
            peak: slots,
        },
        nodes: reports,
        slowest_nodes,
        problems: std::mem::take(&mut nodes.problems),
        system,
        logs,
        spans: span_summary,
        across_runs: None,
        regressions: Vec::new(),
        warnings,
        fanouts,
        node: None,
    }
}

/// An attempt's `(start, end, attempt index)`, in ms.
type Interval = (i64, i64, u32);

/// Each attempt with a start as an [`Interval`] (an attempt without an end ends
/// at its start plus its duration, else at `end`), and per node the span from its first
/// queueing to its last attempt's end.
fn attempt_intervals(nodes: &Nodes, end: i64) -> (Vec<Interval>, Vec<Option<Span>>) {
    let mut intervals: Vec<Interval> = Vec::with_capacity(nodes.times.len());
    let mut spans: Vec<Option<Span>> = Vec::with_capacity(nodes.len());
    for ni in 0..nodes.len() {
        let first = nodes.first_attempt[ni];
        let mut span: Option<Span> = None;
        for (k, a) in nodes.times_of(ni).iter().enumerate() {
            let Some(s) = a.start() else {
                continue;
            };
            let e = a
                .end()
                .or_else(|| {
                    a.duration_ms()
                        .map(|d| s.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)))
                })
                .unwrap_or(end)
                .max(s);
            intervals.push((s, e, first + k as u32));
            let q = a.queued().unwrap_or(s);
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
    (intervals, spans)
}

/// Interval partitioning of the attempts onto slots: each attempt's slot, the number of
/// slots (the peak parallelism) and the busy time summed over attempts.
fn assign_slots(mut intervals: Vec<Interval>, attempts: usize) -> (Vec<u32>, u32, u64) {
    intervals.sort_unstable();
    let mut slot_of = vec![0u32; attempts];
    let mut free: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut slots = 0u32;
    let mut busy = 0u64;
    for &(s, e, at) in &intervals {
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
        slot_of[at as usize] = slot;
    }
    (slot_of, slots, busy)
}

/// The ids of the [`SLOWEST`] longest nodes that took any time, longest first.
fn slowest(reports: &[NodeReport]) -> Vec<String> {
    let mut order: Vec<&NodeReport> = reports.iter().filter(|n| n.duration_ms > 0).collect();
    order.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then(a.node_id.cmp(&b.node_id))
    });
    order
        .iter()
        .take(SLOWEST)
        .map(|n| n.node_id.clone())
        .collect()
}

/// Each node's duration (its span, else its attempts' durations summed), share of the wall
/// time, and per attempt the offset from the run's start and the slot it ran in.
fn fill_node_times(
    reports: &mut [NodeReport],
    nodes: &Nodes,
    spans: &[Option<Span>],
    slot_of: &[u32],
    start: i64,
    wall: u64,
) {
    for (ni, node) in reports.iter_mut().enumerate() {
        let times = nodes.times_of(ni);
        let first = nodes.first_attempt[ni] as usize;
        node.duration_ms = spans[ni].map_or_else(
            || {
                times
                    .iter()
                    .filter_map(|a| a.duration_ms())
                    .fold(0, u64::saturating_add)
            },
            |sp| u64::try_from(sp.end - sp.start).unwrap_or(0),
        );
        for (k, (a, t)) in node.attempt_details.iter_mut().zip(times).enumerate() {
            a.start_offset_ms = t.start().map(|s| u64::try_from(s - start).unwrap_or(0));
            a.slot = slot_of[first + k];
        }
        node.share_of_wall = if wall == 0 {
            0.0
        } else {
            node.duration_ms as f64 / wall as f64
        };
    }
}

/// The run's summary line: findings are the run record's count when it has one, else the
/// nodes' sum; `ran` is (attempts that ran, their total ms).
fn summary(reports: &[NodeReport], recorded_findings: u64, ran: (u64, u64), wall: u64) -> Summary {
    let findings = if recorded_findings > 0 {
        recorded_findings
    } else {
        reports
            .iter()
            .map(|n| n.findings_count)
            .fold(0, u64::saturating_add)
    };
    let (ran, ran_ms) = ran;
    Summary {
        total_duration_ms: wall,
        node_count: reports.len() as u64,
        findings_count: findings,
        avg_node_duration_ms: (ran_ms as f64 / ran.max(1) as f64).round() as u64,
        findings_per_second: if wall == 0 {
            0.0
        } else {
            findings as f64 * 1000.0 / wall as f64
        },
    }
}

/// The latest moment the run's records show (for runs that never finished).
fn observed_end(input: &RunInput, start: i64) -> i64 {
    let mut end = start;
    if let Some(ms) = input.nodes.last_time_ms {
        end = end.max(ms);
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
fn critical_path(nodes: &Nodes, spans: &[Option<Span>]) -> (Vec<usize>, &'static str) {
    let method = if nodes.deps.is_some() {
        "recorded"
    } else {
        "timing"
    };
    // Nodes with a timeline, by end time, for the timing inference.
    let mut by_end: Vec<(i64, usize)> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (s.end, i)))
        .collect();
    by_end.sort_unstable();
    let Some(&(_, last)) = by_end.last() else {
        return (Vec::new(), method);
    };
    let mut path = vec![last];
    let mut seen = vec![false; nodes.len()];
    seen[last] = true;
    let mut cur = last;
    while let Some(here) = spans[cur] {
        let pred = match nodes.deps_of(cur) {
            Some(d) => d
                .iter()
                .filter_map(|&i| {
                    spans
                        .get(i as usize)
                        .copied()
                        .flatten()
                        .map(|s| (s.end, i as usize))
                })
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

    fn input(json: &str) -> RunInput {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run.json"), json).unwrap();
        crate::analysis::load_run(dir.path(), crate::analysis::LoadOptions::record_only()).unwrap()
    }

    const FLAKY: &str = include_str!("../../fixtures/runs/01JD0000000000000000000002/run.json");

    /// FLAKY without its recorded edges: the shape of a run.json written before
    /// `depends_on` existed.
    fn without_edges() -> String {
        let mut v: serde_json::Value = serde_json::from_str(FLAKY).unwrap();
        for n in v["nodes"].as_array_mut().unwrap() {
            n.as_object_mut().unwrap().remove("depends_on");
        }
        v.to_string()
    }

    #[test]
    fn timing_inference_follows_queue_times_not_slot_waits() {
        let i = input(&without_edges());
        assert!(
            i.warnings[0].contains("records no depends_on"),
            "{:?}",
            i.warnings
        );
        let r = analyze_run(i);
        assert_eq!(r.critical_path.method, "timing");
        // parse was queued when fetch ended (1602) and started later (slot wait): its
        // predecessor is fetch, not `slow` which ended just before parse started.
        assert_eq!(r.critical_path.nodes, ["fetch", "parse"]);
        assert_eq!(r.critical_path.duration_ms, 1600 + 500);
        assert_eq!(r.parallelism.busy_ms, 300 + 300 + 2002 + 500);
        assert_eq!(r.parallelism.peak, 2);
    }

    #[test]
    fn recorded_edges_win_over_timing() {
        let mut v: serde_json::Value = serde_json::from_str(FLAKY).unwrap();
        for n in v["nodes"].as_array_mut().unwrap() {
            let deps = if n["node_id"] == "parse" {
                serde_json::json!(["slow"])
            } else {
                serde_json::json!([])
            };
            n["depends_on"] = deps;
        }
        let i = input(&v.to_string());
        assert!(i.warnings.is_empty(), "{:?}", i.warnings);
        let r = analyze_run(i);
        assert_eq!(r.critical_path.method, "recorded");
        assert_eq!(r.critical_path.nodes, ["slow", "parse"]);
    }

    #[test]
    fn an_edge_to_an_unknown_node_falls_back_to_timing_and_says_so() {
        let mut v: serde_json::Value = serde_json::from_str(FLAKY).unwrap();
        for n in v["nodes"].as_array_mut().unwrap() {
            n["depends_on"] = serde_json::json!(["ghost"]);
        }
        let i = input(&v.to_string());
        assert!(i.warnings[0].contains("`ghost`"), "{:?}", i.warnings);
        assert_eq!(analyze_run(i).critical_path.method, "timing");
    }
}
