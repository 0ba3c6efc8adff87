//! What a run was asked to do, read from its arguments and environment into one plain value
//! ([`RunConfig`]): no I/O, so every choice is unit-tested here, and the rest of `run` only
//! acts on it.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Format, Progress, RunArgs};
use crate::engine::FailurePolicy;
use crate::exporters::otlp::config::OtlpConfig;
use crate::exporters::pushgateway::PushGrouping;
use crate::exporters::pushgateway::PushTarget;
use crate::sinks::SinkSet;
use crate::sinks::console::{ProgressMode, ShowOutput};

/// A run's settings.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// `SECFLOW_SINKS`.
    pub sinks: SinkSet,
    /// `--otlp-endpoint` and `OTEL_EXPORTER_OTLP_*` (`None`: no export).
    pub otlp: Option<OtlpConfig>,
    /// `--state-dir`, else `$SECFLOW_HOME`, else `./.secflow`.
    pub state_dir: PathBuf,
    /// `TRACEPARENT`: the trace this run joins.
    pub traceparent: Option<String>,
    pub policy: FailurePolicy,
    /// `--timeout`.
    pub run_timeout: Option<Duration>,
    /// Retry jitter (off with `SECFLOW_RETRY_JITTER=0`).
    pub jitter: bool,
    pub progress: ProgressMode,
    pub quiet: bool,
    pub format: Format,
    /// `--log-format json`: the log records on stdout are the console.
    pub log_format: Format,
    /// `--show-output`.
    pub show_output: ShowOutput,
    pub metrics: MetricsConfig,
    pub audit_key_file: Option<PathBuf>,
}

/// The metrics flags of a run.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub sample_interval: Duration,
    /// `--metrics-textfile`.
    pub textfile: Option<PathBuf>,
    /// `--push-metrics` with its grouping and bound.
    pub push: Option<PushTarget>,
    /// `--metrics-listen`.
    pub listen: Option<String>,
}

impl RunConfig {
    /// The settings `args` and the environment (`env`, a lookup by name) ask for; an error
    /// is the message of a refused run (exit 2).
    pub fn new(args: &RunArgs, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        if args.log_format == Format::Json && args.format == Format::Json {
            return Err(
                "--log-format json and --format json both print on stdout; choose one".into(),
            );
        }
        let sinks = crate::sinks::enabled::parse(env(crate::sinks::enabled::ENV_VAR).as_deref())
            .map_err(|e| e.to_string())?;
        let otlp = crate::exporters::otlp::config::from_env(args.otlp_endpoint.as_deref(), &env)?;
        let m = &args.metrics;
        if let Some(url) = &m.push_metrics {
            crate::cli::metrics::check_push_url(url)?;
        }
        Ok(RunConfig {
            sinks,
            otlp,
            state_dir: args.state.state_dir.clone(),
            traceparent: env("TRACEPARENT"),
            policy: if args.fail_fast {
                FailurePolicy::FailFast
            } else if args.keep_going {
                FailurePolicy::KeepGoing
            } else {
                FailurePolicy::Stop
            },
            run_timeout: args.timeout,
            jitter: env("SECFLOW_RETRY_JITTER").is_none_or(|v| v.trim() != "0"),
            progress: match args.progress {
                Progress::Never => ProgressMode::Never,
                Progress::Auto => ProgressMode::Auto,
                Progress::Always => ProgressMode::Always,
            },
            quiet: args.quiet,
            format: args.format,
            log_format: args.log_format,
            show_output: match args.show_output {
                crate::cli::ShowOutput::Never => ShowOutput::Never,
                crate::cli::ShowOutput::Failure => ShowOutput::Failure,
                crate::cli::ShowOutput::Always => ShowOutput::Always,
            },
            metrics: MetricsConfig {
                sample_interval: m.sample_interval,
                textfile: m.metrics_textfile.clone(),
                push: m.push_metrics.as_ref().map(|url| PushTarget {
                    url: url.clone(),
                    grouping: match m.push_grouping {
                        crate::cli::metrics::GroupingArg::Workflow => PushGrouping::Workflow,
                        crate::cli::metrics::GroupingArg::Run => PushGrouping::Run,
                    },
                    timeout: m.push_timeout,
                }),
                listen: m.metrics_listen.clone(),
            },
            audit_key_file: args.audit_key_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["secflow", "run", "r.yaml"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::RunWorkflow(a) => *a,
            other => panic!("not a run: {other:?}"),
        }
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_and_environment_become_settings() {
        let c = RunConfig::new(
            &args(&[
                "--fail-fast",
                "--push-metrics",
                "http://gw:9091",
                "--push-grouping",
                "run",
                "--quiet",
                "--progress",
                "never",
            ]),
            env(&[
                ("SECFLOW_SINKS", "logs,audit"),
                ("SECFLOW_RETRY_JITTER", "0"),
                ("TRACEPARENT", "00-abc"),
            ]),
        )
        .unwrap();
        assert!(c.sinks.logs && c.sinks.audit && !c.sinks.spans && !c.sinks.console);
        assert_eq!(c.policy, FailurePolicy::FailFast);
        assert!(!c.jitter && c.quiet);
        assert_eq!(c.progress, ProgressMode::Never);
        assert_eq!(c.traceparent.as_deref(), Some("00-abc"));
        let push = c.metrics.push.unwrap();
        assert_eq!(push.url, "http://gw:9091");
        assert_eq!(push.grouping, PushGrouping::Run);
        assert!(c.otlp.is_none());
    }

    #[test]
    fn defaults_and_refusals() {
        let c = RunConfig::new(&args(&["--keep-going"]), env(&[])).unwrap();
        assert_eq!(c.sinks, SinkSet::ALL);
        assert_eq!(c.policy, FailurePolicy::KeepGoing);
        assert!(c.jitter && c.metrics.push.is_none() && c.metrics.textfile.is_none());
        let e = RunConfig::new(&args(&[]), env(&[("SECFLOW_SINKS", "traces")])).unwrap_err();
        assert!(e.contains("unknown sink `traces`"), "{e}");
        let e = RunConfig::new(&args(&["--otlp-endpoint", "ftp://collector"]), env(&[]));
        assert!(e.is_err(), "{e:?}");
    }

    #[test]
    fn a_pushgateway_url_with_credentials_is_refused_without_repeating_them() {
        for url in [
            "http://admin:Passw0rd@gw:9091/",
            "admin:Passw0rd@gw:9091",
            " ",
        ] {
            let e = RunConfig::new(&args(&["--push-metrics", url]), env(&[])).unwrap_err();
            assert!(
                e.contains("SECFLOW_PUSHGATEWAY_URL") && !e.contains("Passw0rd"),
                "{e}"
            );
        }
        let ok = RunConfig::new(&args(&["--push-metrics", "http://gw:9091/x@y"]), env(&[]));
        assert!(
            ok.is_ok(),
            "an @ in the path is not credentials: {:?}",
            ok.err()
        );
    }
}
