//! The run's sinks, built in one place ([`build`]) from its context and settings: the
//! console on the scheduler's thread, then one [`SinkThread`] holding every record writer
//! (logs, spans, audit, metrics), the exporters (textfile, Pushgateway, OTLP) and, last,
//! run.json, which writes the record as the sinks before it completed it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;

use super::config::RunConfig;
use crate::cli::Format;
use crate::event::{RunContext, Sink};
use crate::exit;
use crate::exporters::{OtlpSink, PushgatewaySink, TextfileSink};
use crate::serve::live::LiveListener;
use crate::sinks::console::{ConsoleOptions, ConsoleSink, ShowOutput};
use crate::sinks::metrics::MetricsOptions;
use crate::sinks::{AuditSink, LogSink, MetricsSink, RunJsonSink, SinkThread, SpanSink};

/// A run refused before any node ran: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub code: i32,
}

impl Refused {
    pub fn invalid(message: impl Into<String>) -> Self {
        Refused {
            message: message.into(),
            code: exit::INVALID,
        }
    }

    fn records(message: String) -> Self {
        Refused {
            message,
            code: exit::RECORDS_INCOMPLETE,
        }
    }
}

/// What happened before the run's context existed, for the sinks to record.
pub struct Before {
    /// When the recipe's validation started and ended (the `validate` phase span).
    pub validate: (SystemTime, SystemTime),
    /// `--metrics-listen`, bound before the run directory existed.
    pub live_metrics: Option<LiveListener>,
}

/// The sinks of the run, in the order the engine calls them.
pub fn build(
    ctx: &Arc<RunContext>,
    config: &RunConfig,
    before: Before,
) -> Result<Vec<Box<dyn Sink>>, Refused> {
    // The audit trail first: it is the sink that can refuse the run (a bad key), and it must
    // do so before any other record file exists.
    let audit = if config.sinks.audit {
        Some(audit(ctx, config)?)
    } else {
        None
    };
    let settings = crate::telemetry::settings();
    if settings.debug {
        let redactor = crate::event::Redactor::new(&ctx.secret_values);
        let plan = crate::telemetry::debug::render_plan(&ctx.plan, &redactor);
        eprint!("{}", crate::escape::escape_lines(&plan));
    }
    let otlp = match config.otlp.clone().map(OtlpSink::start) {
        Some(Ok(sink)) => Some(sink),
        Some(Err(e)) => {
            eprintln!("warning: cannot start the OTLP exporter: {e}");
            None
        }
        None => None,
    };
    // The console stays on the scheduler's thread (it shows what happens as it happens);
    // every record-writing sink runs on a thread of its own (see `SinkThread`).
    // `--log-format json`: the log records on stdout are the console.
    let print_logs = config.log_format == Format::Json;
    let console = (config.sinks.console && !print_logs).then(|| {
        if config.show_output == ShowOutput::Always {
            crate::engine::capture::set_live_output(crate::sinks::console::live_printer(
                ctx.secret_values.clone(),
            ));
        }
        Box::new(ConsoleSink::stderr(ConsoleOptions {
            progress: config.progress,
            quiet: config.quiet,
            colour: true,
            debug: settings.debug,
            show_output: config.show_output,
        })) as Box<dyn Sink>
    });
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if config.sinks.logs {
        let logs = LogSink::open(ctx, &settings).map_err(|e| {
            Refused::records(format!("cannot open logs.jsonl: {e}; no node was run"))
        })?;
        let logs = logs.capture_tracing(ctx).echo_console(settings.debug);
        let export = otlp.as_ref().map(OtlpSink::log_observer);
        sinks.push(Box::new(match (export, print_logs) {
            (None, false) => logs,
            (Some(export), false) => logs.observe(export),
            (mut export, true) => logs.observe(Box::new(move |r| {
                print_log_line(r);
                if let Some(export) = export.as_mut() {
                    export(r);
                }
            })),
        }));
    }
    if config.sinks.spans {
        sinks.push(Box::new(spans(ctx, otlp.as_ref(), before.validate)?));
    }
    if let Some(audit) = audit {
        sinks.push(Box::new(audit));
    }
    let delivery = metrics(ctx, config, before.live_metrics, &mut sinks);
    if let Some(otlp) = otlp {
        sinks.push(Box::new(match delivery {
            Some(snapshot) => otlp.with_metrics(snapshot),
            None => otlp,
        }));
    }
    // Last: it writes the record as the sinks before it completed it.
    sinks.push(Box::new(RunJsonSink::new(ctx)));
    let thread = SinkThread::spawn(Arc::clone(ctx), sinks)
        .map_err(|e| Refused::records(format!("cannot start the record thread: {e}")))?;
    Ok(console
        .into_iter()
        .chain([Box::new(thread) as Box<dyn Sink>])
        .collect())
}

/// The audit sink, with the key of `--audit-key-file`, `SECFLOW_AUDIT_KEY` or the state
/// directory's `audit.key`.
fn audit(ctx: &RunContext, config: &RunConfig) -> Result<AuditSink, Refused> {
    let env_key = crate::audit::key::env_key();
    let key = crate::audit::AuditKey::for_run(
        env_key.as_deref(),
        config.audit_key_file.as_deref(),
        &config.state_dir,
    )
    .map_err(|e| Refused::invalid(format!("audit key: {e}")))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    AuditSink::create(ctx, &key, &crate::audit::Origin::discover(&cwd)).map_err(|e| {
        Refused::records(format!(
            "cannot start the audit trail: {e}; no node was run"
        ))
    })
}

/// The span sink, with the `validate` phase and one `plugin.load` span per plugin already
/// recorded.
fn spans(
    ctx: &RunContext,
    otlp: Option<&OtlpSink>,
    (start, end): (SystemTime, SystemTime),
) -> Result<SpanSink, Refused> {
    let spans = SpanSink::open(ctx)
        .map_err(|e| Refused::records(format!("cannot open spans.jsonl: {e}; no node was run")))?;
    let spans = match otlp {
        Some(otlp) => spans.observe(otlp.span_observer()),
        None => spans,
    };
    let attrs = BTreeMap::from([
        (
            "secflow.recipe.path".to_string(),
            json!(ctx.plan.recipe_path),
        ),
        (
            "secflow.node.count".to_string(),
            json!(ctx.plan.nodes.len()),
        ),
    ]);
    spans.phase(ctx, "validate", start, end, attrs, None);
    let mut loaded = BTreeSet::new();
    for node in &ctx.plan.nodes {
        if node.plugin_name != "exec" && loaded.insert(node.plugin_name.clone()) {
            spans.plugin_load(
                ctx,
                &node.plugin_name,
                &node.plugin_version,
                start,
                end,
                None,
            );
        }
    }
    Ok(spans)
}

/// The metrics sink (serving `--metrics-listen`) and the textfile and Pushgateway sinks
/// after it; returns its final snapshot when an exporter may want it.
fn metrics(
    ctx: &RunContext,
    config: &RunConfig,
    live: Option<LiveListener>,
    sinks: &mut Vec<Box<dyn Sink>>,
) -> Option<crate::sinks::metrics::FinalSnapshot> {
    if !config.sinks.metrics {
        if live.is_some() {
            eprintln!("warning: --metrics-listen: metrics are off for this run; nothing is served");
        }
        return None;
    }
    let metrics = MetricsSink::new(MetricsOptions {
        disk_path: Some(config.state_dir.clone()),
        sample_interval: config.metrics.sample_interval,
        ..MetricsOptions::default()
    });
    if let Some(listener) = live {
        if !config.quiet
            && let Some(addr) = listener.local_addr()
        {
            eprintln!("metrics: http://{addr}/metrics");
        }
        listener.serve(
            metrics.registry(),
            ctx.run_id.clone(),
            ctx.plan.name.clone(),
        );
    }
    let snapshot = metrics.final_snapshot();
    sinks.push(Box::new(metrics));
    if let Some(path) = &config.metrics.textfile {
        sinks.push(Box::new(TextfileSink::new(path.clone(), snapshot.clone())));
    }
    if let Some(target) = &config.metrics.push {
        sinks.push(Box::new(PushgatewaySink::new(
            target.clone(),
            snapshot.clone(),
        )));
    }
    Some(snapshot)
}

/// `--log-format json`: one log record as its logs.jsonl line on stdout (write errors, a
/// closed pipe, are ignored like the console's).
fn print_log_line(record: &crate::telemetry::log::LogRecord) {
    use std::io::Write as _;
    if let Ok(mut line) = serde_json::to_vec(record) {
        line.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&line);
    }
}
