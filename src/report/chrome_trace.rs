//! `--format chrome-trace`: Trace Event JSON (the format Perfetto and chrome://tracing
//! open). One process for the run, one thread (track) per concurrency slot, each attempt a
//! complete (`"ph":"X"`) event with its figures in `args`; system CPU and memory as counter
//! (`"ph":"C"`) events. Timestamps are microseconds from the run's start. Events are
//! streamed to the writer one at a time, so memory does not grow with the trace.

use std::io::Write;

use serde_json::{Value, json};

use super::{Render, ReportError};
use crate::analysis::AnalysisReport;

pub struct ChromeTrace;

/// Writes `{"traceEvents":[e1,e2,…` one event at a time.
struct Events<'w> {
    out: &'w mut dyn Write,
    first: bool,
}

impl Events<'_> {
    fn push(&mut self, event: Value) -> Result<(), ReportError> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, &event)?;
        Ok(())
    }
}

impl Render for ChromeTrace {
    fn render(&self, report: &AnalysisReport) -> Result<Vec<u8>, ReportError> {
        let mut out = Vec::new();
        self.write(report, &mut out)?;
        Ok(out)
    }

    fn write(&self, report: &AnalysisReport, out: &mut dyn Write) -> Result<(), ReportError> {
        out.write_all(b"{\"traceEvents\":[\n")?;
        let mut events = Events { out, first: true };
        events.push(json!({
            "name": "process_name", "ph": "M", "pid": 1, "tid": 0,
            "args": {"name": format!("secflow {} ({})", report.run.workflow, report.run.run_id)}
        }))?;
        let slots = report
            .nodes
            .iter()
            .flat_map(|n| n.attempt_details.iter().map(|a| a.slot + 1))
            .max()
            .unwrap_or(0);
        for slot in 1..=slots {
            events.push(json!({
                "name": "thread_name", "ph": "M", "pid": 1, "tid": slot,
                "args": {"name": format!("slot {slot}")}
            }))?;
        }
        for n in &report.nodes {
            for a in &n.attempt_details {
                let Some(start) = a.start_offset_ms else {
                    continue;
                };
                events.push(json!({
                    "name": format!("{}#{}", n.node_id, a.attempt),
                    "cat": a.status,
                    "ph": "X",
                    "pid": 1,
                    "tid": a.slot + 1,
                    "ts": start * 1000,
                    "dur": a.duration_ms * 1000,
                    "args": {
                        "node_id": n.node_id,
                        "plugin_name": n.plugin_name,
                        "attempt": a.attempt,
                        "status": a.status,
                        "exit_code": a.exit_code,
                        "queue_wait_ms": a.queue_wait_ms,
                        "cpu_ms": a.cpu_ms,
                        "peak_rss_bytes": a.peak_rss_bytes,
                        "error": a.error,
                        "on_critical_path": n.on_critical_path,
                    }
                }))?;
            }
        }
        if let Some(sys) = &report.system {
            for p in &sys.points {
                let mut args = serde_json::Map::new();
                if let Some(c) = p.cpu_percent {
                    args.insert("cpu_percent".into(), json!(c));
                }
                if let Some(m) = p.memory_bytes {
                    args.insert("memory_mib".into(), json!(m / (1024.0 * 1024.0)));
                }
                events.push(json!({
                    "name": "system", "ph": "C", "pid": 1, "tid": 0,
                    "ts": p.offset_ms * 1000, "args": args
                }))?;
            }
        }
        let other = json!({
            "run_id": report.run.run_id,
            "workflow": report.run.workflow,
            "status": report.run.status,
            "critical_path": report.critical_path.nodes,
        });
        out.write_all(b"],\n\"displayTimeUnit\":\"ms\",\"otherData\":")?;
        serde_json::to_writer(&mut *out, &other)?;
        out.write_all(b"}\n")?;
        Ok(())
    }
}
