//! The registry's arithmetic, labels, concurrency, hot-path cost and quantile estimates.

use std::time::Instant;

use secflow::metrics::{Bucket, DURATION_BUCKETS, Desc, MetricKind, Registry, estimate_quantile};

const C: Desc = Desc {
    name: "t_events_total",
    help: "Events.",
    unit: "",
    kind: MetricKind::Counter,
    labels: &["kind"],
};

const H: Desc = Desc {
    name: "t_duration_seconds",
    help: "Durations.",
    unit: "seconds",
    kind: MetricKind::Histogram,
    labels: &[],
};

#[test]
fn counters_and_gauges_per_label_set() {
    let r = Registry::new();
    let c = r.counter(C);
    c.with(&["a"]).inc();
    c.with(&["a"]).add(2.5);
    c.with(&["b"]).inc();
    c.with(&["b"]).add(-4.0); // ignored: counters never go down
    c.with(&["b"]).add(f64::NAN); // ignored
    let g = r.gauge(Desc {
        name: "t_level",
        kind: MetricKind::Gauge,
        labels: &[],
        ..C
    });
    g.with(&[]).set(7.0);
    g.with(&[]).add(-2.0);
    g.with(&[]).set_max(3.0);
    let snap = r.snapshot();
    let value = |name: &str, label: Option<&str>| {
        snap.iter()
            .find(|s| s.name == name && s.labels.get("kind").map(String::as_str) == label)
            .and_then(|s| s.value)
    };
    assert_eq!(value("t_events_total", Some("a")), Some(3.5));
    assert_eq!(value("t_events_total", Some("b")), Some(1.0));
    assert_eq!(value("t_level", None), Some(5.0));
    assert_eq!(snap[0].help, "Events.");
    assert_eq!(snap[0].kind, MetricKind::Counter);
}

#[test]
fn registering_a_name_twice_shares_the_family() {
    let r = Registry::new();
    r.counter(C).with(&["x"]).inc();
    r.counter(C).with(&["x"]).inc();
    let snap = r.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].value, Some(2.0));
}

#[test]
fn concurrent_increments_are_not_lost() {
    let r = Registry::new();
    let c = r.counter(C).with(&["x"]);
    let h = r.histogram(H, DURATION_BUCKETS).with(&[]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (c, h) = (c.clone(), h.clone());
            s.spawn(move || {
                for _ in 0..10_000 {
                    c.inc();
                    h.observe(0.002);
                }
            });
        }
    });
    assert_eq!(c.get(), 40_000.0);
    assert_eq!(h.count(), 40_000);
    assert!((h.sum() - 80.0).abs() < 1e-6);
}

#[test]
fn counter_increment_costs_well_under_a_microsecond() {
    let r = Registry::new();
    let c = r.counter(C).with(&["x"]);
    let n = 1_000_000u32;
    let t = Instant::now();
    for _ in 0..n {
        c.inc();
    }
    let per = t.elapsed().as_nanos() as f64 / f64::from(n);
    assert_eq!(c.get(), f64::from(n));
    // Even an unoptimised debug build stays far below 1 µs (about 10 ns in release).
    assert!(per < 1000.0, "counter increment took {per:.1} ns");
}

#[test]
fn histogram_buckets_are_cumulative_and_cover_ms_to_hours() {
    assert_eq!(DURATION_BUCKETS.first(), Some(&0.001));
    assert!(*DURATION_BUCKETS.last().unwrap() >= 3600.0 * 4.0);
    assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    let r = Registry::new();
    let h = r.histogram(H, DURATION_BUCKETS).with(&[]);
    for v in [0.0005, 0.001, 0.002, 0.7, 45.0, 5000.0, 1e9] {
        h.observe(v);
    }
    h.observe(f64::INFINITY); // ignored
    let s = &r.snapshot()[0];
    assert_eq!(s.count, Some(7));
    let buckets = s.buckets.as_ref().unwrap();
    let at = |le: f64| buckets.iter().find(|b| b.le == le).unwrap().count;
    assert_eq!(at(0.001), 2, "le is inclusive");
    assert_eq!(at(0.0025), 3);
    assert_eq!(at(1.0), 4);
    assert_eq!(at(60.0), 5);
    assert_eq!(at(7200.0), 6);
    assert_eq!(buckets.last().unwrap().count, 6, "1e9 only in +Inf");
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
}

#[test]
fn quantiles_interpolate_inside_buckets_and_stay_within_observed_range() {
    let r = Registry::new();
    let h = r.histogram(H, DURATION_BUCKETS).with(&[]);
    // 100 observations spread uniformly over (0, 1] s.
    for i in 1..=100 {
        h.observe(f64::from(i) / 100.0);
    }
    let s = &r.snapshot()[0];
    let (p50, p90, p99) = (s.p50.unwrap(), s.p90.unwrap(), s.p99.unwrap());
    assert!((0.4..=0.6).contains(&p50), "p50 {p50}");
    assert!((0.8..=1.0).contains(&p90), "p90 {p90}");
    assert!(p99 <= 1.0 && p99 >= p90, "p99 {p99}");
    assert!(s.p95.unwrap() >= p90 && s.p95.unwrap() <= p99);

    // One value only: every quantile is that value (clamped to min = max).
    let r = Registry::new();
    let h = r.histogram(H, DURATION_BUCKETS).with(&[]);
    h.observe(2.0);
    let s = &r.snapshot()[0];
    assert_eq!((s.p50, s.p99), (Some(2.0), Some(2.0)));

    // Empty: no quantiles at all.
    let r = Registry::new();
    r.histogram(H, DURATION_BUCKETS).with(&[]);
    let s = &r.snapshot()[0];
    assert_eq!((s.count, s.p50), (Some(0), None));
}

#[test]
fn quantile_estimate_matches_prometheus_interpolation() {
    // Prometheus: histogram_quantile(0.5) over buckets {1: 2, 2: 6, +Inf: 8} -> rank 4, in
    // bucket (1, 2] holding 4, 2 of them below -> 1 + (2 - 1) * (2 / 4) = 1.5.
    let b = [Bucket { le: 1.0, count: 2 }, Bucket { le: 2.0, count: 6 }];
    assert_eq!(estimate_quantile(&b, 8, 0.1, 10.0, 0.5), Some(1.5));
    // The +Inf bucket interpolates towards the observed maximum.
    let q = estimate_quantile(&b, 8, 0.1, 10.0, 1.0).unwrap();
    assert_eq!(q, 10.0);
    assert_eq!(estimate_quantile(&b, 8, 0.1, 10.0, 0.0), None);
    assert_eq!(estimate_quantile(&b, 0, 0.1, 10.0, 0.5), None);
}

#[test]
fn snapshot_changed_lists_unlabelled_series_and_labelled_ones_that_moved() {
    let r = Registry::new();
    let c = r.counter(C);
    let total = r.gauge(Desc {
        name: "t_level",
        kind: MetricKind::Gauge,
        labels: &[],
        ..C
    });
    let h = r.histogram(
        Desc {
            labels: &["kind"],
            ..H
        },
        DURATION_BUCKETS,
    );
    c.with(&["a"]).inc();
    c.with(&["b"]).inc();
    h.with(&["a"]).observe(1.0);
    total.with(&[]).set(1.0);
    let names = |v: Vec<secflow::metrics::Series>| {
        v.into_iter()
            .map(|s| format!("{}{:?}", s.name, s.labels.values().collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    assert_eq!(r.snapshot_changed().len(), 4, "everything the first time");
    assert_eq!(
        names(r.snapshot_changed()),
        ["t_level[]"],
        "only unlabelled when idle"
    );
    c.with(&["b"]).inc();
    h.with(&["a"]).observe(2.0);
    assert_eq!(
        names(r.snapshot_changed()),
        [
            "t_events_total[\"b\"]",
            "t_level[]",
            "t_duration_seconds[\"a\"]"
        ]
    );
    // The full snapshot is unaffected by the tracking.
    assert_eq!(r.snapshot().len(), 4);
}
