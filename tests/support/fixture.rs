//! The fixture of the tests that drive a sink directly: a real plan built from recipe text,
//! and a `RunContext` for it. Tests change the fields they care about (`run_id`, `trace`,
//! `secret_values`, …) on the returned value.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secflow::engine::{RunContext, TraceIds};
use secflow::plan::{BuildOptions, Plan, build};
use secflow::recipe::{Limits, Source, parse};

/// The plan of `recipe` (named `test.yaml`), which must parse and build.
pub fn plan_of(recipe: &str) -> Plan {
    let source = Source {
        path: "test.yaml".into(),
        text: recipe.into(),
        sha256: "0".repeat(64),
    };
    let raw = parse(&source, &Limits::default())
        .unwrap_or_else(|d| panic!("recipe parses: {d:?}\n{recipe}"));
    build(&source, &raw, &BuildOptions::default())
        .map(|(plan, _)| plan)
        .unwrap_or_else(|d| panic!("recipe builds: {d:?}\n{recipe}"))
}

/// A context for a run of `plan` in `run_dir`: fixed run id and trace, local executor,
/// concurrency 2, a fixed start time, no secrets.
pub fn context(run_dir: &Path, plan: Plan) -> RunContext {
    RunContext {
        records: Default::default(),
        record: Default::default(),
        run_id: "01JDTESTRN0000000000000000".into(),
        run_dir: run_dir.to_path_buf(),
        plan: Arc::new(plan),
        trace: TraceIds {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            root_span_id: "00f067aa0ba902b7".into(),
            parent_span_id: None,
        },
        executor: "local".into(),
        concurrency: 2,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        secret_values: Vec::new(),
        resumed_from: None,
    }
}
