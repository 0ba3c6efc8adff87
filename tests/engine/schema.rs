//! Real run.json files (succeeded, failed, cancelled) validate against the published
//! `secflow schema --record run`, checked by an independent validator (check-jsonschema).
#![allow(unsafe_code)] // libc::kill and a counting allocator in tests

use crate::support::{BIN, command, finish, run, wait_for_file};

#[test]
fn run_json_files_validate_against_the_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run(
        dir.path(),
        "version: \"1.0\"\nname: ok\nnodes:\n  - id: a\n    run: \"echo '{}' > {{ outputs.findings }}\"\n    outputs: [findings]\n",
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let failed = run(
        dir.path(),
        "version: \"1.0\"\nname: bad\nnodes:\n  - id: a\n    run: \"exit 2\"\n    retry: { max_attempts: 2, base_delay: 0 }\n  - id: b\n    run: \"true\"\n    depends_on: [a]\n",
        &[],
    );
    assert_eq!(failed.code, 1);
    let child = command(
        dir.path(),
        "version: \"1.0\"\nname: c\nnodes:\n  - id: a\n    run: \"echo up > up; sleep 30\"\n",
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(wait_for_file(&dir.path().join("up"), 20));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let cancelled = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(cancelled.code, 130);

    let schema = std::process::Command::new(BIN)
        .args(["schema", "--record", "run"])
        .output()
        .unwrap();
    assert!(schema.status.success());
    let schema_path = dir.path().join("run.schema.json");
    std::fs::write(&schema_path, &schema.stdout).unwrap();
    // Fan-out: instance records (`template`, `index`, `item`, a cut item's `item_sha256`,
    // `matrix`).
    let long = "x".repeat(1500);
    let fanned = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: fan\nnodes:\n  - id: a\n    foreach: [one, {long}]\n    run: \"true {{{{ item }}}}\"\n  - id: m\n    matrix: {{ os: [l, m] }}\n    run: \"true {{{{ matrix.os }}}}\"\n"
        ),
        &[],
    );
    assert_eq!(fanned.code, 0, "{}", fanned.stderr);
    let cut = fanned.node("a@1");
    assert_eq!(cut["item"].as_str().unwrap().len(), 1024);
    assert_eq!(cut["item_sha256"].as_str().unwrap().len(), 64);
    let files = [&ok, &failed, &cancelled, &fanned].map(|r| r.run_dir.join("run.json"));
    // `.ci/install.sh` exports where it installed the tool; else it must be on PATH.
    let tool = std::env::var_os("CHECK_JSONSCHEMA").unwrap_or_else(|| "check-jsonschema".into());
    let check = std::process::Command::new(tool)
        .arg("--schemafile")
        .arg(&schema_path)
        .args(&files)
        .output()
        .expect("check-jsonschema is needed for this test: pip install check-jsonschema");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Every run-dir record of a real run survives the store's types both ways: each file read
/// through its one type (run.json streamed node by node, the JSON-lines files through the
/// one `JsonlReader`) re-serialises to exactly the JSON written (no field lost or added);
/// logs and spans written again with the one `JsonlWriter` read back equal; an audit event
/// re-serialises to its line byte for byte (the chain's hashes depend on it).
#[test]
fn every_record_kind_round_trips_through_its_store_type() {
    use secflow::audit::AuditEvent;
    use secflow::metrics::MetricsSnapshot;
    use secflow::store::RunRecord;
    use secflow::store::jsonl::JsonlReader;
    use secflow::store::writer::JsonlWriter;
    use secflow::telemetry::{LogRecord, SpanRecord};
    use serde_json::Value;

    /// Reads `path` line by line as `T`; each record re-serialised equals its line's JSON.
    fn lines_as<T>(path: &std::path::Path) -> Vec<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let text = std::fs::read_to_string(path).unwrap();
        let mut reader = JsonlReader::<T, _>::open(path).unwrap();
        let records: Vec<T> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(reader.torn_lines(), 0, "{}", path.display());
        let written: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(written.len(), records.len(), "{}", path.display());
        for (w, r) in written.iter().zip(&records) {
            assert_eq!(*w, serde_json::to_value(r).unwrap(), "{}", path.display());
        }
        assert!(!records.is_empty(), "{} is empty", path.display());
        records
    }

    /// Writes `records` with the one JSON-lines writer and reads them back.
    fn rewrite<T>(records: &[T], dir: &std::path::Path, name: &str)
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + Clone
            + PartialEq
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let path = dir.join(name);
        let mut writer = JsonlWriter::<T>::open(&path).unwrap();
        for r in records {
            writer.send(r.clone());
        }
        writer.finish().unwrap();
        let back: Vec<T> = JsonlReader::<T, _>::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, records, "{name}");
    }

    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: rt\nnodes:\n  - id: a\n    run: \"echo '{\\\"x\\\": 1}' > {{ outputs.found }}\"\n    outputs: [found]\n  - id: b\n    run: \"exit 3\"\n    retry: { max_attempts: 2, base_delay: 0 }\n    depends_on: [a]\n  - id: c\n    run: \"cat {{ inputs.found }}\"\n    inputs: [found]\n",
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = tempfile::tempdir().unwrap();

    // run.json: streamed node by node, equal to the whole parse and to the JSON written.
    let path = r.run_dir.join("run.json");
    let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut nodes = Vec::new();
    let mut record = secflow::store::run_read::read_run_nodes(&path, |n| nodes.push(n)).unwrap();
    record.nodes = nodes;
    assert_eq!(serde_json::to_value(&record).unwrap(), written);
    let whole: RunRecord = serde_json::from_value(written).unwrap();
    assert_eq!(record, whole);
    let c = record.nodes.iter().find(|n| n.node_id == "c").unwrap();
    assert_eq!(c.depends_on.as_deref(), Some(&["a".to_string()][..]));
    let b = record.nodes.iter().find(|n| n.node_id == "b").unwrap();
    assert_eq!(b.depends_on.as_deref(), Some(&["a".to_string()][..]));

    let logs: Vec<LogRecord> = lines_as(&r.run_dir.join("logs.jsonl"));
    rewrite(&logs, out.path(), "logs.jsonl");
    let spans: Vec<SpanRecord> = lines_as(&r.run_dir.join("spans.jsonl"));
    rewrite(&spans, out.path(), "spans.jsonl");
    let metrics: Vec<MetricsSnapshot> = lines_as(&r.run_dir.join("metrics.jsonl"));
    rewrite(&metrics, out.path(), "metrics.jsonl");
    let last: Vec<MetricsSnapshot> = lines_as(&r.run_dir.join("metrics.json"));
    assert!(last[0].is_final);
    let audit_path = r.run_dir.join("audit.jsonl");
    let events: Vec<AuditEvent> = lines_as(&audit_path);
    let text = std::fs::read_to_string(&audit_path).unwrap();
    for (line, event) in text.lines().zip(&events) {
        assert_eq!(serde_json::to_string(event).unwrap(), line);
    }
}
