//! The `tracing` side of logging: a [`Layer`] that turns `tracing` events (the engine's
//! `tracing::debug!`, …) into [`LogRecord`]s carrying the W3C ids of the span they happened
//! in, written to the current run's `logs.jsonl` and, when the console filter allows, to
//! stderr.
//!
//! How the engine makes its `tracing` events land in the right span: create spans at INFO
//! (spans are always enabled here, whatever the level) with these fields, and enter them (or
//! `.instrument(span)` a future):
//!
//! ```ignore
//! let node = tracing::info_span!("node", node_id = %id, plugin_name = %plugin, span_id = %node_span_id);
//! let attempt = tracing::info_span!(parent: &node, "attempt", attempt = n, span_id = %attempt_span_id);
//! let _entered = attempt.enter();
//! tracing::debug!(pid, "spawned");   // → span_id = attempt_span_id, node_id, attempt, metadata.pid
//! ```
//!
//! Fields found on the innermost span that has them: `trace_id`, `span_id`, `node_id`,
//! `plugin_name`, `attempt`. Without a span, records get the run's trace id and workflow
//! span. Event fields named like record fields fill them; the rest go to `metadata`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use super::filter::LogSettings;
use super::log::{LogError, LogRecord};
use super::pretty;
use crate::event::Redactor;
use crate::event::RunContext;
use crate::store::writer::WriterHandle;

struct Route {
    writer: WriterHandle<LogRecord>,
    run_id: String,
    workflow_id: String,
    trace_id: String,
    root_span_id: String,
    redactor: Redactor,
}

static ROUTE: RwLock<Option<Arc<Route>>> = RwLock::new(None);

/// Sends `tracing` events to `writer` (the run's `logs.jsonl`) from now on.
pub(crate) fn route_to(ctx: &RunContext, writer: WriterHandle<LogRecord>) {
    let route = Route {
        writer,
        run_id: ctx.run_id.clone(),
        workflow_id: ctx.plan.name.clone(),
        trace_id: ctx.trace.trace_id.clone(),
        root_span_id: ctx.trace.root_span_id.clone(),
        redactor: Redactor::new(&ctx.secret_values),
    };
    if let Ok(mut slot) = ROUTE.write() {
        *slot = Some(Arc::new(route));
    }
}

/// Stops sending `tracing` events to a file.
pub(crate) fn unroute() {
    if let Ok(mut slot) = ROUTE.write() {
        *slot = None;
    }
}

/// Installs the process-wide `tracing` subscriber with `settings`' filters. Call once,
/// early (after [`super::filter::from_env`]); returns false if one was already installed.
pub fn install(settings: &LogSettings) -> bool {
    let subscriber = tracing_subscriber::registry().with(SecflowLayer {
        settings: settings.clone(),
    });
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// The layer [`install`] sets up.
pub struct SecflowLayer {
    settings: LogSettings,
}

#[derive(Debug, Default, Clone)]
struct SpanFields {
    trace_id: Option<String>,
    span_id: Option<String>,
    node_id: Option<String>,
    plugin_name: Option<String>,
    attempt: Option<u32>,
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "trace_id" => &mut self.trace_id,
            "span_id" => &mut self.span_id,
            "node_id" => &mut self.node_id,
            "plugin_name" => &mut self.plugin_name,
            _ => return,
        };
        *slot = Some(value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "attempt" {
            self.attempt = u32::try_from(value).ok();
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "attempt" {
            self.attempt = u32::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

struct EventFields {
    message: String,
    record: LogRecord,
    metadata: BTreeMap<String, Value>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        let r = &mut self.record;
        match (field.name(), &value) {
            ("message", Value::String(s)) => self.message = s.clone(),
            ("node_id", Value::String(s)) => r.node_id = Some(s.clone()),
            ("plugin_name", Value::String(s)) => r.plugin_name = Some(s.clone()),
            ("attempt", Value::Number(n)) => {
                r.attempt = n.as_u64().and_then(|v| u32::try_from(v).ok())
            }
            ("duration_ms", Value::Number(n)) => r.duration_ms = n.as_u64(),
            ("findings_count", Value::Number(n)) => r.findings_count = n.as_u64(),
            ("success", Value::Bool(b)) => r.success = Some(*b),
            ("error", Value::String(s)) => {
                r.error = Some(LogError {
                    kind: "error".into(),
                    message: s.clone(),
                });
            }
            (name, _) => {
                self.metadata.insert(name.to_string(), value);
            }
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl<S> Layer<S> for SecflowLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        metadata.is_span()
            || self
                .settings
                .file
                .would_enable(metadata.target(), metadata.level())
            || self
                .settings
                .console
                .would_enable(metadata.target(), metadata.level())
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let to_file = self.settings.file.would_enable(meta.target(), meta.level());
        let to_console = self
            .settings
            .console
            .would_enable(meta.target(), meta.level());
        let route = if to_file {
            ROUTE.read().ok().and_then(|r| r.clone())
        } else {
            None
        };
        if route.is_none() && !to_console {
            return;
        }
        let level = super::filter::from_tracing(*meta.level()).into();
        let mut fields = EventFields {
            message: String::new(),
            record: LogRecord::new(SystemTime::now(), level, meta.target(), ""),
            metadata: BTreeMap::new(),
        };
        event.record(&mut fields);
        let mut record = fields.record;
        record.message = fields.message;
        record.metadata = fields.metadata;
        // Innermost span first: the first value found for each field wins.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let ext = span.extensions();
                let Some(f) = ext.get::<SpanFields>() else {
                    continue;
                };
                fill(&mut record.trace_id, &f.trace_id);
                fill(&mut record.span_id, &f.span_id);
                fill(&mut record.node_id, &f.node_id);
                fill(&mut record.plugin_name, &f.plugin_name);
                if record.attempt.is_none() {
                    record.attempt = f.attempt;
                }
            }
        }
        if let Some(route) = &route {
            record.run_id = Some(route.run_id.clone());
            record.workflow_id = Some(route.workflow_id.clone());
            fill(&mut record.trace_id, &Some(route.trace_id.clone()));
            fill(&mut record.span_id, &Some(route.root_span_id.clone()));
            record.redact(&route.redactor);
        }
        if to_console {
            eprintln!(
                "{}",
                pretty::render(&record, super::format::stderr_colour())
            );
        }
        if let Some(route) = route {
            route.writer.send(record);
        }
    }
}

fn fill(slot: &mut Option<String>, value: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_take_the_ids_of_their_innermost_span() {
        let settings = super::super::filter::resolve(Some("debug"), false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.jsonl");
        let mut writer = crate::store::writer::JsonlWriter::<LogRecord>::open(&path).unwrap();
        let route = Arc::new(Route {
            writer: writer.handle(),
            run_id: "r1".into(),
            workflow_id: "wf".into(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            root_span_id: "00f067aa0ba902b7".into(),
            redactor: Redactor::new(["hunter2"]),
        });
        *ROUTE.write().unwrap() = Some(route);
        let subscriber = tracing_subscriber::registry().with(SecflowLayer { settings });
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            let node = tracing::info_span!("node", node_id = "scan", span_id = "1111111111111111");
            let _n = node.enter();
            let attempt =
                tracing::info_span!("attempt", attempt = 2u32, span_id = "2222222222222222");
            let _a = attempt.enter();
            tracing::debug!(pid = 42u64, "spawned with hunter2");
        });
        *ROUTE.write().unwrap() = None;
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<LogRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 2, "{text}");
        assert_eq!(records[0].span_id.as_deref(), Some("00f067aa0ba902b7"));
        let r = &records[1];
        assert_eq!(r.span_id.as_deref(), Some("2222222222222222"));
        assert_eq!(r.node_id.as_deref(), Some("scan"));
        assert_eq!(r.attempt, Some(2));
        assert_eq!(r.message, "spawned with [REDACTED]");
        assert_eq!(r.metadata.get("pid"), Some(&Value::from(42)));
        assert_eq!(
            r.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
}
