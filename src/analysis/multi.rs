//! Several runs: per-node percentiles, spread and trend, and regressions.
//!
//! Regression rule: with `--baseline`, the baseline figure is that run's and the current
//! figure the median over the selected runs; without, the baseline is the median of the
//! earlier runs and the current figure the newest run's. A node is flagged when the current
//! figure exceeds the baseline by more than `threshold_percent` AND by more than the noise
//! floor (duration: `noise_ms`; peak RSS: `noise_bytes`). Both figures are reported.

use std::collections::BTreeMap;

use super::RunInput;
use super::input::Figures;
use super::model::{AcrossRuns, Distribution, NodeDelta, NodeStats, Regression, RunPoint};
use super::single::analyze_run;
use super::{AnalysisReport, parse_ms};

/// How regressions are judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    pub threshold_percent: f64,
    pub noise_ms: u64,
    pub noise_bytes: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            threshold_percent: 10.0,
            noise_ms: 50,
            noise_bytes: 5 * 1024 * 1024,
        }
    }
}

/// The report over `runs` (any order; the newest is described in detail), compared with
/// `baseline` when given; `None` when `runs` is empty.
pub fn analyze(
    mut runs: Vec<RunInput>,
    baseline: Option<&RunInput>,
    options: &CompareOptions,
) -> Option<AnalysisReport> {
    runs.sort_by_key(|r| (parse_ms(&r.record.started_at), r.record.run_id.clone()));
    if runs.len() == 1 && baseline.is_none() {
        return runs.pop().map(analyze_run);
    }
    let order: Vec<&RunInput> = runs.iter().collect();
    let per_run: Vec<BTreeMap<String, Figures>> = order.iter().map(|r| figures(r)).collect();
    let mut ids: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &order {
        for n in &r.nodes.reports {
            if per_run.iter().any(|m| m.contains_key(&n.node_id)) && seen.insert(&n.node_id) {
                ids.push(n.node_id.clone());
            }
        }
    }
    let nodes = ids
        .iter()
        .map(|id| {
            let f: Vec<Figures> = per_run.iter().filter_map(|m| m.get(id).copied()).collect();
            let trend: Vec<u64> = f.iter().map(|x| x.duration_ms).collect();
            NodeStats {
                node_id: id.clone(),
                runs: f.len() as u64,
                duration_ms: distribution(trend.clone()),
                cpu_ms: distribution(f.iter().map(|x| x.cpu_ms).collect()),
                peak_rss_bytes: distribution(f.iter().map(|x| x.peak_rss_bytes).collect()),
                trend_slope_ms: slope(&trend),
                trend_ms: trend,
            }
        })
        .collect();
    let mut regressions = Vec::new();
    let base_figs = baseline.map(figures);
    for id in &ids {
        let (base, cur): (Vec<Figures>, Vec<Figures>) = match &base_figs {
            Some(b) => (
                b.get(id).copied().into_iter().collect(),
                per_run.iter().filter_map(|m| m.get(id).copied()).collect(),
            ),
            None => {
                let (earlier, last) = per_run.split_at(per_run.len() - 1);
                (
                    earlier.iter().filter_map(|m| m.get(id).copied()).collect(),
                    last.iter().filter_map(|m| m.get(id).copied()).collect(),
                )
            }
        };
        if base.is_empty() || cur.is_empty() {
            continue;
        }
        let pick = |f: fn(&Figures) -> u64, v: &[Figures]| median(v.iter().map(f).collect());
        for (metric, get, floor) in [
            (
                "duration_ms",
                (|f: &Figures| f.duration_ms) as fn(&Figures) -> u64,
                options.noise_ms,
            ),
            (
                "peak_rss_bytes",
                |f: &Figures| f.peak_rss_bytes,
                options.noise_bytes,
            ),
        ] {
            let (b, c) = (pick(get, &base), pick(get, &cur));
            if let Some(r) = judge(id, metric, b, c, floor, options.threshold_percent) {
                regressions.push(r);
            }
        }
    }
    let points: Vec<RunPoint> = order
        .iter()
        .map(|r| RunPoint {
            run_id: r.record.run_id.clone(),
            started_at: r.record.started_at.clone(),
            status: r.record.status.as_str().to_string(),
            total_duration_ms: r.record.duration_ms.unwrap_or(0),
        })
        .collect();
    drop(seen);
    drop(order);
    let mut report = analyze_run(runs.pop()?);
    report.across_runs = Some(AcrossRuns {
        runs: points,
        baseline: baseline.map(|b| b.record.run_id.clone()),
        nodes,
        compare: base_figs
            .as_ref()
            .map(|b| compare(b, &per_run, &regressions))
            .unwrap_or_default(),
    });
    report.regressions = regressions;
    Some(report)
}

/// Every node that ran in the baseline or the current runs, with its duration on each side
/// (current: the median over the runs it ran in), baseline nodes first in their order.
fn compare(
    base: &BTreeMap<String, Figures>,
    current: &[BTreeMap<String, Figures>],
    regressions: &[Regression],
) -> Vec<NodeDelta> {
    let mut ids: Vec<&String> = base.keys().collect();
    for m in current {
        for id in m.keys() {
            if !base.contains_key(id) && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let b = base.get(id).map(|f| f.duration_ms);
            let cur: Vec<u64> = current
                .iter()
                .filter_map(|m| m.get(id).map(|f| f.duration_ms))
                .collect();
            let c = (!cur.is_empty()).then(|| median(cur));
            let delta = b.zip(c).map(|(b, c)| c as i64 - b as i64);
            let change = match (b, delta) {
                (None, _) => "new",
                (_, None) => "removed",
                (_, Some(d)) if d > 0 => "slower",
                (_, Some(d)) if d < 0 => "faster",
                _ => "same",
            };
            NodeDelta {
                node_id: id.clone(),
                baseline_ms: b,
                current_ms: c,
                delta_ms: delta,
                delta_percent: b
                    .zip(delta)
                    .map(|(b, d)| (1000.0 * d as f64 / b.max(1) as f64).round() / 10.0),
                change: change.to_string(),
                regression: regressions
                    .iter()
                    .any(|r| &r.node_id == id && r.metric == "duration_ms"),
            }
        })
        .collect()
}

/// Flags `current` against `baseline` when both the relative and absolute growth pass.
fn judge(
    id: &str,
    metric: &str,
    baseline: u64,
    current: u64,
    floor: u64,
    threshold: f64,
) -> Option<Regression> {
    let delta = current.checked_sub(baseline)?;
    let pct = 100.0 * delta as f64 / baseline.max(1) as f64;
    (pct > threshold && delta > floor).then(|| Regression {
        node_id: id.to_string(),
        metric: metric.to_string(),
        baseline,
        current,
        delta,
        delta_percent: (pct * 10.0).round() / 10.0,
        threshold_percent: threshold,
        noise_floor: floor,
    })
}

/// Node figures of a run, for nodes that actually ran (cached and skipped ones did not).
fn figures(run: &RunInput) -> BTreeMap<String, Figures> {
    (0..run.nodes.len())
        .filter_map(|i| Some((run.nodes.reports[i].node_id.clone(), run.nodes.figures(i)?)))
        .collect()
}

/// Median (mean of the two middle values for an even count, rounded down).
pub fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        v[m - 1] / 2 + v[m] / 2 + (v[m - 1] % 2 + v[m] % 2) / 2
    }
}

/// Nearest-rank percentiles and population standard deviation.
fn distribution(mut v: Vec<u64>) -> Distribution {
    if v.is_empty() {
        return Distribution::default();
    }
    v.sort_unstable();
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
    Distribution {
        min: v[0],
        p50: rank(0.50),
        p95: rank(0.95),
        p99: rank(0.99),
        max: v[v.len() - 1],
        stddev: (var.sqrt() * 10.0).round() / 10.0,
    }
}

/// Least-squares slope of `v` against its index.
fn slope(v: &[u64]) -> f64 {
    let n = v.len() as f64;
    if v.len() < 2 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &y) in v.iter().enumerate() {
        num += (i as f64 - mx) * (y as f64 - my);
        den += (i as f64 - mx).powi(2);
    }
    ((num / den) * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_needs_both_relative_and_absolute_growth() {
        assert!(judge("a", "duration_ms", 1000, 1200, 50, 10.0).is_some());
        assert!(judge("a", "duration_ms", 1000, 1090, 50, 10.0).is_none());
        assert!(judge("a", "duration_ms", 100, 140, 50, 10.0).is_none());
        assert!(judge("a", "duration_ms", 1000, 900, 50, 10.0).is_none());
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(median(vec![4, 1, 2, 3]), 2);
        let d = distribution((1..=100).collect());
        assert_eq!((d.p50, d.p95, d.p99, d.max), (50, 95, 99, 100));
        assert_eq!(slope(&[10, 20, 30]), 10.0);
    }
}
