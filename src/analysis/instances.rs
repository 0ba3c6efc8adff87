//! Fan-out in the analysis (SPEC §9): the instances of a `foreach`/`matrix` node grouped
//! under their template — how many, duration percentiles, the slowest, the failures.

use super::model::{InstanceGroup, NodeReport};

/// How many of the slowest instances a group names.
const SLOWEST: usize = 5;

/// One group per template that fanned out (`instances`: template id → its instances' rows
/// in `reports`), in the order of its first instance.
pub fn groups(instances: &[(String, Vec<u32>)], reports: &[NodeReport]) -> Vec<InstanceGroup> {
    instances
        .iter()
        .map(|(template, rows)| {
            let members: Vec<&NodeReport> = rows
                .iter()
                .filter_map(|&i| reports.get(i as usize))
                .collect();
            let mut timed: Vec<(u64, &str)> = members
                .iter()
                .map(|n| (n.duration_ms, n.node_id.as_str()))
                .collect();
            timed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut durations: Vec<u64> = timed.iter().map(|(d, _)| *d).collect();
            durations.sort_unstable();
            InstanceGroup {
                template: template.clone(),
                count: members.len() as u64,
                p50_ms: percentile(&durations, 0.50),
                p95_ms: percentile(&durations, 0.95),
                max_ms: durations.last().copied().unwrap_or(0),
                slowest: timed
                    .iter()
                    .take(SLOWEST)
                    .map(|(_, id)| id.to_string())
                    .collect(),
                failed: members
                    .iter()
                    .filter(|n| !matches!(&*n.status, "succeeded" | "cached" | "skipped"))
                    .map(|n| n.node_id.clone())
                    .collect(),
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.95), 95);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
