//! Debug mode: which log records are kept, in the file and on the console.
//!
//! `SECFLOW_LOG_LEVEL` takes a level (`TRACE|DEBUG|INFO|WARN|ERROR`, any case) or a `tracing`
//! filter directive (`secflow::engine=debug`, `info,secflow::engine=trace`); `--debug` means
//! `DEBUG`. The file keeps INFO and up by default; the console shows WARN and up unless debug
//! mode is on (the filter enables DEBUG somewhere), when it shows what the file keeps.
//! [`resolve`] is what the CLI calls first; an invalid value is an error that names the
//! valid ones (exit 2).

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::event::Level;

/// The environment variable holding the level or directive.
pub const ENV_VAR: &str = "SECFLOW_LOG_LEVEL";

/// The logger (`tracing` target) of records derived from engine events.
pub const ENGINE_LOGGER: &str = "secflow::engine";

/// An unusable `SECFLOW_LOG_LEVEL`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid {ENV_VAR} `{value}`: {why}; expected one of TRACE, DEBUG, INFO, WARN, ERROR \
     (any case) or a filter directive such as `secflow::engine=debug`"
)]
pub struct FilterError {
    pub value: String,
    pub why: String,
}

/// The resolved filters.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// What `logs.jsonl` keeps.
    pub file: Targets,
    /// What is printed on stderr.
    pub console: Targets,
    /// Debug mode: the resolved plan is printed, failing nodes show config and stderr.
    pub debug: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            file: Targets::new().with_default(LevelFilter::INFO),
            console: Targets::new().with_default(LevelFilter::WARN),
            debug: false,
        }
    }
}

impl LogSettings {
    /// Whether a record at `level` from `logger` goes to the file.
    pub fn file_enabled(&self, logger: &str, level: Level) -> bool {
        self.file.would_enable(logger, &to_tracing(level))
    }

    /// Whether a record at `level` from `logger` goes to the console.
    pub fn console_enabled(&self, logger: &str, level: Level) -> bool {
        self.console.would_enable(logger, &to_tracing(level))
    }

    /// The most verbose level either filter enables (for `tracing`'s max-level hint).
    pub fn max_level(&self) -> LevelFilter {
        let max = |t: &Targets| {
            t.iter()
                .map(|(_, l)| l)
                .chain(t.default_level())
                .max()
                .unwrap_or(LevelFilter::OFF)
        };
        max(&self.file).max(max(&self.console))
    }
}

/// Resolves `SECFLOW_LOG_LEVEL`'s value (if set and not blank) and `--debug`.
pub fn resolve(env_value: Option<&str>, debug_flag: bool) -> Result<LogSettings, FilterError> {
    let mut file = match env_value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => parse_directives(value)?,
        None => Targets::new().with_default(LevelFilter::INFO),
    };
    if debug_flag && file.default_level().is_none_or(|l| l < LevelFilter::DEBUG) {
        file = file.with_default(LevelFilter::DEBUG);
    }
    let file_max = file
        .iter()
        .map(|(_, l)| l)
        .chain(file.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF);
    let debug = file_max >= LevelFilter::DEBUG;
    let console = if debug {
        file.clone()
    } else {
        // Never more verbose than WARN, never more verbose than the file.
        let default = file
            .default_level()
            .unwrap_or(LevelFilter::INFO)
            .min(LevelFilter::WARN);
        let mut console = Targets::new().with_default(default);
        for (target, level) in file.iter() {
            console = console.with_target(target, level.min(LevelFilter::WARN));
        }
        console
    };
    Ok(LogSettings {
        file,
        console,
        debug,
    })
}

/// Reads [`ENV_VAR`] from the environment and resolves it with `--debug`.
pub fn from_env(debug_flag: bool) -> Result<LogSettings, FilterError> {
    let value = std::env::var(ENV_VAR).ok();
    resolve(value.as_deref(), debug_flag)
}

/// Parses a comma list of `LEVEL` or `target=LEVEL` (targets like `secflow::engine`).
/// A directive without a bare level keeps INFO as the default for other targets.
pub fn parse_directives(value: &str) -> Result<Targets, FilterError> {
    let err = |why: String| FilterError {
        value: value.to_string(),
        why,
    };
    let mut targets = Targets::new();
    let mut default = None;
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            None => {
                let level =
                    parse_level(part).ok_or_else(|| err(format!("`{part}` is not a level")))?;
                default = Some(level);
            }
            Some((target, level)) => {
                let target = target.trim();
                let valid_target = !target.is_empty()
                    && target.split("::").all(|seg| {
                        !seg.is_empty()
                            && seg
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    });
                if !valid_target {
                    return Err(err(format!(
                        "`{target}` is not a target (like `secflow::engine`)"
                    )));
                }
                let level = parse_level(level.trim())
                    .ok_or_else(|| err(format!("`{}` is not a level", level.trim())))?;
                targets = targets.with_target(target, level);
            }
        }
    }
    Ok(targets.with_default(default.unwrap_or(LevelFilter::INFO)))
}

fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.to_ascii_lowercase().as_str() {
        "trace" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        "off" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// The `tracing` level of an engine [`Level`].
pub fn to_tracing(level: Level) -> tracing::Level {
    match level {
        Level::Trace => tracing::Level::TRACE,
        Level::Debug => tracing::Level::DEBUG,
        Level::Info => tracing::Level::INFO,
        Level::Warn => tracing::Level::WARN,
        Level::Error => tracing::Level::ERROR,
    }
}

/// The engine [`Level`] of a `tracing` level.
pub fn from_tracing(level: tracing::Level) -> Level {
    match level {
        tracing::Level::TRACE => Level::Trace,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::INFO => Level::Info,
        tracing::Level::WARN => Level::Warn,
        _ => Level::Error,
    }
}

impl FromStr for LogSettings {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        resolve(Some(s), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives() {
        let s = resolve(None, false).unwrap();
        assert!(!s.debug);
        assert!(s.file_enabled(ENGINE_LOGGER, Level::Info));
        assert!(!s.file_enabled(ENGINE_LOGGER, Level::Debug));
        assert!(!s.console_enabled(ENGINE_LOGGER, Level::Info));
        assert!(s.console_enabled(ENGINE_LOGGER, Level::Warn));

        let s = resolve(Some("debug"), false).unwrap();
        assert!(s.debug && s.console_enabled(ENGINE_LOGGER, Level::Debug));
        assert!(resolve(None, true).unwrap().debug);
        assert!(
            resolve(Some("WaRn"), false)
                .unwrap()
                .file_enabled("x", Level::Warn)
        );
        assert!(
            !resolve(Some("ERROR"), false)
                .unwrap()
                .console_enabled("x", Level::Warn)
        );

        let s = resolve(Some("secflow::engine=debug"), false).unwrap();
        assert!(s.debug);
        assert!(s.file_enabled("secflow::engine::sched", Level::Debug));
        assert!(!s.file_enabled("secflow::store", Level::Debug));
        assert!(s.file_enabled("secflow::store", Level::Info));
    }

    #[test]
    fn invalid_values_name_the_valid_ones() {
        for bad in ["verbose", "secflow::engine=loud", "=debug", "a b=info"] {
            let e = resolve(Some(bad), false).unwrap_err().to_string();
            assert!(e.contains("TRACE, DEBUG, INFO, WARN, ERROR"), "{e}");
        }
    }
}
