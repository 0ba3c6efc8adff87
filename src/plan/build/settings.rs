//! The recipe's settings: durations, the executor, `state`, `slurm` and `retry`, checked
//! and filled in from their defaults.

use std::time::Duration;

use super::{Checker, pos};
use crate::diag::did_you_mean;
use crate::plan::{ExecutorKind, RetryOn, RetryPolicy, SlurmOptions, StateSettings};
use crate::recipe::{RawRecipe, RawRetry, RawSlurm, S, parse_duration};

impl Checker<'_> {
    pub(super) fn duration_opt(
        &mut self,
        value: Option<&S<String>>,
        field: &str,
    ) -> Option<Duration> {
        let value = value?;
        match parse_duration(&value.value) {
            Ok(d) => Some(d),
            Err(message) => {
                self.error(
                    pos(value),
                    "bad-duration",
                    format!("`{field}`: {message}"),
                    Some("write seconds (`300`, `0.5`) or a duration such as `500ms`, `30s`, `5m`, `1h30m`".into()),
                );
                None
            }
        }
    }

    pub(super) fn executor(&mut self, value: Option<&S<String>>) -> ExecutorKind {
        let Some(value) = value else {
            return ExecutorKind::Local;
        };
        ExecutorKind::parse(&value.value).unwrap_or_else(|| {
            let hint = match did_you_mean(&value.value, ExecutorKind::NAMES) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("executors: {}", ExecutorKind::NAMES.join(", ")),
            };
            self.error(
                pos(value),
                "unknown-executor",
                format!("unknown executor `{}`", value.value),
                Some(hint),
            );
            ExecutorKind::Local
        })
    }

    pub(super) fn state(&mut self, raw: &RawRecipe) -> StateSettings {
        let state = raw.state.as_ref();
        let interval = self
            .duration_opt(
                state.and_then(|s| s.checkpoint_interval.as_ref()),
                "checkpoint_interval",
            )
            .unwrap_or(Duration::from_secs(1));
        StateSettings {
            checkpoint_interval: interval.max(Duration::from_millis(100)),
            resume_on_failure: state.and_then(|s| s.resume_on_failure).unwrap_or(false),
            cache_intermediate: state.and_then(|s| s.cache_intermediate).unwrap_or(false),
        }
    }

    pub(super) fn slurm(&mut self, raw: Option<&RawSlurm>, base: &SlurmOptions) -> SlurmOptions {
        let Some(raw) = raw else {
            return base.clone();
        };
        let mut out = base.clone();
        if let Some(p) = &raw.partition {
            out.partition = Some(p.clone());
        }
        if let Some(t) = &raw.time {
            out.time = Some(t.clone());
        }
        if let Some(c) = &raw.cpus {
            if c.value == 0 {
                self.error(
                    pos(c),
                    "bad-value",
                    "`slurm.cpus` must be at least 1".into(),
                    None,
                );
            }
            out.cpus = Some(c.value);
        }
        if let Some(m) = &raw.mem {
            out.mem = Some(m.clone());
        }
        if !raw.extra_args.is_empty() {
            out.extra_args = raw.extra_args.clone();
        }
        if let Some(p) = self.duration_opt(raw.poll_interval.as_ref(), "slurm.poll_interval") {
            out.poll_interval = Some(p);
        }
        out
    }

    pub(super) fn retry(&mut self, raw: Option<&RawRetry>, base: &RetryPolicy) -> RetryPolicy {
        let Some(raw) = raw else {
            return base.clone();
        };
        let mut out = base.clone();
        if let Some(m) = &raw.max_attempts {
            if !(1..=100).contains(&m.value) {
                self.error(
                    pos(m),
                    "retry-range",
                    format!("`max_attempts` is {}, expected 1 to 100", m.value),
                    Some("`max_attempts` counts the first attempt: 1 means no retry".into()),
                );
            }
            out.max_attempts = m.value.clamp(1, 100);
        }
        if let Some(f) = &raw.backoff_factor {
            if !(f.value.is_finite() && (1.0..=100.0).contains(&f.value)) {
                self.error(
                    pos(f),
                    "retry-range",
                    format!("`backoff_factor` is {}, expected 1.0 to 100", f.value),
                    None,
                );
            }
            out.backoff_factor = f.value;
        }
        if let Some(d) = self.duration_opt(raw.base_delay.as_ref(), "base_delay") {
            out.base_delay = d;
        }
        if let Some(d) = self.duration_opt(raw.max_delay.as_ref(), "max_delay") {
            out.max_delay = Some(d);
        }
        if let (Some(max), Some(span)) = (out.max_delay, raw.max_delay.as_ref())
            && max < out.base_delay
        {
            self.error(
                pos(span),
                "retry-range",
                "`max_delay` is shorter than `base_delay`".into(),
                None,
            );
        }
        if let Some(list) = &raw.retry_on {
            let mut on = RetryOn {
                any: false,
                timeout: false,
                signal: false,
                exit_codes: Vec::new(),
            };
            for item in list {
                match item.value.trim() {
                    "any" => on.any = true,
                    "timeout" => on.timeout = true,
                    "signal" => on.signal = true,
                    other => match other.parse::<i32>() {
                        Ok(code) if (1..=255).contains(&code) => on.exit_codes.push(code),
                        _ => self.error(
                            pos(item),
                            "retry-range",
                            format!("`retry_on` entry `{other}` is not a failure kind"),
                            Some("use exit codes 1-255 and/or `timeout`, `signal`, `any`".into()),
                        ),
                    },
                }
            }
            out.retry_on = on;
        }
        out
    }
}
