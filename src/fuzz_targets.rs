//! Fuzz target bodies: what `fuzz/` (cargo-fuzz, libFuzzer) runs and what `cargo test` runs
//! over every file of `fuzz/corpus/*/`, so a crash found once stays fixed on stable Rust.
//!
//! Each target takes arbitrary bytes and must never panic: the recipe parser and plan builder,
//! the template renderer (with the property that a value never enters a `run` line), and the
//! readers of each record secflow writes (logs.jsonl, spans.jsonl, audit.jsonl, run.json).
//! The record readers read files, so their targets write the bytes into a scratch run
//! directory first.

use std::path::{Path, PathBuf};

use crate::plan::shell::{self, ShellValue};
use crate::plan::template::Template;
use crate::plan::{Action, BuildOptions};
use crate::recipe::{Limits, Source};

/// A target: arbitrary bytes in, no panic.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: [(&str, Target); 7] = [
    ("recipe", recipe),
    ("template", template),
    ("when", when),
    ("logs", logs),
    ("spans", spans),
    ("audit", audit),
    ("run_json", run_json),
];

/// A recipe: parsed, validated, built into a plan, its `run` lines rendered.
pub fn recipe(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source {
        path: "fuzz.yaml".into(),
        text: text.into(),
        sha256: String::new(),
    };
    let limits = Limits {
        max_nodes: 1000,
        ..Limits::default()
    };
    let raw = match crate::recipe::parse(&source, &limits) {
        Ok(raw) => raw,
        Err(d) => {
            let _ = d.render(Some(text));
            return;
        }
    };
    match crate::plan::build(&source, &raw, &BuildOptions::default()) {
        Ok((plan, _)) => {
            for node in &plan.nodes {
                if let Action::Shell(t) = &node.action {
                    // A built plan's `run` lines always have a safe context.
                    let line = shell::render(t, |_| Ok(ShellValue::Value("v".into())));
                    assert!(line.is_ok(), "{:?}: {line:?}", node.id);
                }
            }
        }
        Err(diags) => {
            for d in diags {
                let _ = d.render(Some(text));
            }
        }
    }
}

/// A `run` template: parsed and rendered; the value never appears in the line.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = Template::parse(text) else {
        return;
    };
    const VALUE: &str = "\u{1}fuzz'\"$(value)`";
    if let Ok(line) = shell::render(&t, |_| Ok(ShellValue::Value(VALUE.into()))) {
        assert!(
            text.contains(VALUE) || !line.line.contains(VALUE),
            "a value entered the line: {:?}",
            line.line
        );
        assert_eq!(line.vars.len(), t.references().count());
    }
}

/// A `when:` expression: parsed, type-checked (every operand known, `item` of any type) and
/// evaluated with hostile var and instance values (expression syntax, NUL): none of it may
/// panic.
pub fn when(data: &[u8]) {
    use crate::plan::when::{self, Check, Operand, Resolve, Ty, Value};
    struct Any;
    impl Check for Any {
        fn ty(&self, o: &Operand) -> Result<Ty, (String, Option<String>)> {
            Ok(match o {
                Operand::Lit(v) => v.ty(),
                Operand::Var(k) if k.starts_with('n') => Ty::Num,
                Operand::Var(_) | Operand::Env(_) => Ty::Str,
                Operand::Item(_) => Ty::Any,
                Operand::Index | Operand::Records(_) => Ty::Num,
            })
        }
    }
    impl Resolve for Any {
        fn item(&self, key: Option<&str>) -> Result<Value, String> {
            Ok(match key {
                Some(k) if k.len() % 2 == 0 => Value::Num(k.len() as f64),
                _ => Value::Str("x' || true || '$(id)".into()),
            })
        }
        fn index(&self) -> Result<u64, String> {
            Ok(u64::MAX)
        }
        fn records(&self, d: &str) -> Result<u64, String> {
            Err(format!("no dataset {d}"))
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = when::parse(text) else {
        return;
    };
    let checked = when::check(&expr, &Any);
    let mut bound = std::collections::BTreeMap::new();
    for (o, _) in expr.operands() {
        if let Operand::Var(k) | Operand::Env(k) = o {
            bound.insert(format!("vars.{k}"), Value::Str("' || true || '".into()));
            bound.insert(format!("env.{k}"), Value::Str("\u{0}".into()));
        }
    }
    let condition = when::Condition {
        text: text.into(),
        expr,
        bound,
    };
    // A well-typed condition over these values evaluates or reports an error, never panics.
    let result = condition.eval(&Any);
    if checked.is_ok() && condition.bound.is_empty() && !text.contains("records") {
        // Without vars, env or records every operand resolves: only a type clash can fail.
        if let Err(e) = &result {
            assert!(
                e.contains("compare") || e.contains("boolean") || e.contains("instead of"),
                "{e}"
            );
        }
    }
}

/// A scratch run directory for this process: `run.json` minimal unless the target writes
/// its own.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("secflow-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A real run record (the readers of logs, spans and audit need one beside them).
const RUN_JSON: &str = include_str!("../fixtures/runs/01JD0000000000000000000001/run.json");

/// Loads and analyses `dir` the way `performance-analysis` does and renders every format.
fn analyse(dir: &Path) {
    let options = crate::analysis::LoadOptions {
        logs: true,
        spans_and_metrics: true,
        threads: 1,
    };
    let Ok(run) = crate::analysis::load_run(dir, options) else {
        return;
    };
    let report = crate::analysis::analyze_run(run);
    for format in [
        crate::report::ReportFormat::Table,
        crate::report::ReportFormat::Json,
        crate::report::ReportFormat::Markdown,
        crate::report::ReportFormat::Html,
        crate::report::ReportFormat::ChromeTrace,
    ] {
        let _ = crate::report::renderer(format).write(&report, &mut std::io::sink());
    }
}

fn with_file(name: &str, data: &[u8], base_run_json: bool) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::create_dir_all(&dir);
    for f in [
        "run.json",
        "logs.jsonl",
        "spans.jsonl",
        "audit.jsonl",
        "metrics.jsonl",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    if base_run_json {
        let _ = std::fs::write(dir.join("run.json"), RUN_JSON);
    }
    let _ = std::fs::write(dir.join(name), data);
    dir
}

/// logs.jsonl of a run, read back by `performance-analysis`.
pub fn logs(data: &[u8]) {
    analyse(&with_file("logs.jsonl", data, true));
}

/// spans.jsonl of a run, read back by `performance-analysis`.
pub fn spans(data: &[u8]) {
    analyse(&with_file("spans.jsonl", data, true));
}

/// run.json, read back by `performance-analysis` and `audit verify`.
pub fn run_json(data: &[u8]) {
    let dir = with_file("run.json", data, false);
    analyse(&dir);
    let _ = crate::audit::verify::read_run_json(&dir.join("run.json"));
}

/// audit.jsonl, checked by `audit verify`.
pub fn audit(data: &[u8]) {
    let dir = with_file("audit.jsonl", data, true);
    let key =
        crate::audit::AuditKey::from_bytes(b"fuzz-key-0123456789", crate::audit::KeySource::Env);
    let run_json = crate::audit::verify::read_run_json(&dir.join("run.json")).ok();
    let _ = crate::audit::verify::verify(
        &dir.join("audit.jsonl"),
        run_json.as_ref(),
        Some(&dir.join("run.json")),
        &key,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the checked-in corpus (seeds and every crash ever found) through its
    /// target: a crash found once by the fuzzer stays fixed.
    #[test]
    fn the_corpus_runs_clean_through_every_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut total = 0;
        for (name, target) in TARGETS {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(name))
                .unwrap_or_else(|e| panic!("fuzz/corpus/{name}: {e}"))
                .flatten()
                .map(|e| e.path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "fuzz/corpus/{name} is empty");
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name}: {} panics", file.display());
                total += 1;
            }
        }
        assert!(total > 50, "{total}");
    }

    #[test]
    fn the_base_run_json_and_the_audit_seeds_are_valid() {
        let record: Result<crate::store::RunRecord, _> = serde_json::from_str(RUN_JSON);
        assert!(record.is_ok(), "{record:?}");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/audit");
        let key = crate::audit::AuditKey::from_bytes(
            b"fuzz-key-0123456789",
            crate::audit::KeySource::Env,
        );
        for e in std::fs::read_dir(root).unwrap().flatten() {
            if !e.file_name().to_string_lossy().starts_with("run-") {
                continue;
            }
            let report = crate::audit::verify::verify(&e.path(), None, None, &key).unwrap();
            assert!(
                matches!(report.outcome, crate::audit::Outcome::Intact),
                "{}: {:?}",
                e.path().display(),
                report.outcome
            );
        }
    }
}
