//! The validated plan: the only thing the engine accepts.
//!
//! [`build`] turns a [`RawRecipe`](crate::recipe::RawRecipe) into a [`Plan`] or reports every
//! semantic problem it finds (ids, datasets, edges, cycles, types, templates, durations,
//! retry values, executors), each located in the recipe. A `Plan` is a DAG whose nodes are
//! in topological order, so the engine never re-checks anything here.

mod build;
mod builtin_plugins;
mod dag;
pub mod foreach;
pub mod plugins;
pub mod shell;
pub mod template;
pub mod when;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use build::{BuildOptions, build, select_target};
pub use template::{Reference, Template};

/// Which executor runs a node's attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    Local,
    Slurm,
}

impl ExecutorKind {
    pub const NAMES: [&'static str; 2] = ["local", "slurm"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(ExecutorKind::Local),
            "slurm" => Some(ExecutorKind::Slurm),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
        }
    }
}

/// A validated workflow.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    /// The recipe path as given on the command line.
    pub recipe_path: String,
    pub recipe_sha256: String,
    /// Recipe `vars` with `--var` overrides applied.
    pub vars: BTreeMap<String, String>,
    /// Names of environment variables whose values are secrets.
    pub secrets: Vec<String>,
    /// Recipe `concurrency`; `None` means the executor's default.
    pub concurrency: Option<usize>,
    pub state: StateSettings,
    /// Nodes in topological order (by level, then recipe order).
    pub nodes: Vec<PlanNode>,
    /// `levels[k]` holds the indices (into `nodes`) of the nodes at depth `k`.
    pub levels: Vec<Vec<usize>>,
    /// Files merged in by `include`, in the order they were read.
    pub included: Vec<IncludedFile>,
    /// List vars (a list default) with `--var` applied: their items.
    pub list_vars: BTreeMap<String, Vec<String>>,
}

/// A file merged in by `include` (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncludedFile {
    /// As the diagnostics name it (relative to where secflow runs).
    pub path: String,
    pub sha256: String,
    /// Outside the recipe's directory tree: allowed, and shown by `--dry-run`.
    pub outside: bool,
}

impl Plan {
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The node whose id labels node `i` in metrics: an instance's template, else `i`.
    pub fn template_of(&self, i: usize) -> usize {
        self.nodes
            .get(i)
            .and_then(|n| n.instance.as_ref())
            .map_or(i, |inst| inst.template_index)
    }
}

/// `state:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSettings {
    pub checkpoint_interval: Duration,
    pub resume_on_failure: bool,
    pub cache_intermediate: bool,
}

/// One node, fully resolved but for templates (whose values are known only at run time).
#[derive(Debug, Clone)]
pub struct PlanNode {
    pub id: String,
    /// The node `type` (`exec` or a plugin type).
    pub kind: String,
    /// `exec` for exec nodes, else the plugin's name.
    pub plugin_name: String,
    pub plugin_version: String,
    pub action: Action,
    /// Plugin configuration (string values may hold templates), defaults applied.
    pub config: BTreeMap<String, serde_json::Value>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Indices (into `Plan::nodes`) of the nodes this one waits for.
    pub deps: Vec<usize>,
    /// Workflow `env` then node `env`.
    pub env: BTreeMap<String, String>,
    pub env_clear: bool,
    pub workdir: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub continue_on_error: bool,
    /// Shared with every node that does not override the workflow's policy (most do not:
    /// a copy in each node of a large plan would cost more than the rest of the node).
    pub retry: Arc<RetryPolicy>,
    pub executor: ExecutorKind,
    /// Shared like `retry`.
    pub slurm: Arc<SlurmOptions>,
    /// Depth in the DAG: 0 for nodes without dependencies.
    pub level: usize,
    /// `cache: false` turns the node cache off for this node.
    pub cache: bool,
    /// `sources:` globs, relative to the workdir.
    pub sources: Vec<String>,
    /// `when:`: evaluated when the node is otherwise ready; false skips it.
    pub when: Option<Arc<when::Condition>>,
    /// `trigger:`: which upstream outcomes let it run.
    pub trigger: when::Trigger,
    /// `foreach` / `matrix`: the node is a template, run as one instance per item.
    pub fanout: Option<Arc<foreach::FanOut>>,
    /// Set on an instance of a fanned-out node (added to the plan at run time).
    pub instance: Option<Arc<foreach::Instance>>,
    /// Names among `inputs` and `outputs` that are directory outputs (`dir: true`, SPEC §9):
    /// a directory `datasets/<name>/` instead of `datasets/<name>.jsonl`.
    pub dir_datasets: Vec<String>,
}

/// What a node runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `run:` — one shell command line for `sh -c`; each template value travels in an
    /// environment variable the line references ([`shell`]), never as shell code.
    Shell(Template),
    /// `command:` (or a plugin's command template) — argv, each element one template whose
    /// values are inserted as is.
    Argv(Vec<Template>),
}

/// When and how often a failed attempt is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub backoff_factor: f64,
    pub base_delay: Duration,
    pub max_delay: Option<Duration>,
    pub retry_on: RetryOn,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff_factor: 2.0,
            base_delay: Duration::from_secs(1),
            max_delay: None,
            retry_on: RetryOn::default(),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry `n` (1-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .backoff_factor
            .powi(n.saturating_sub(1).min(1000) as i32);
        let secs = self.base_delay.as_secs_f64() * exp;
        let capped = match self.max_delay {
            Some(max) => secs.min(max.as_secs_f64()),
            None => secs,
        };
        Duration::from_secs_f64(capped.clamp(0.0, 1e9))
    }
}

/// Which failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    pub any: bool,
    pub timeout: bool,
    pub signal: bool,
    pub exit_codes: Vec<i32>,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            any: true,
            timeout: false,
            signal: false,
            exit_codes: Vec::new(),
        }
    }
}

/// How an attempt failed, for [`RetryOn::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Exit(i32),
    Signal(i32),
    Timeout,
    /// The process exited 0 but something else went wrong (e.g. a missing output).
    Other,
}

impl RetryOn {
    pub fn allows(&self, failure: FailureKind) -> bool {
        self.any
            || match failure {
                FailureKind::Exit(code) => self.exit_codes.contains(&code),
                FailureKind::Signal(_) => self.signal,
                FailureKind::Timeout => self.timeout,
                FailureKind::Other => false,
            }
    }
}

/// Slurm submission options (workflow's, overridden per node).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub extra_args: Vec<String>,
    pub poll_interval: Option<Duration>,
}

/// The environment-variable form of a dataset name: upper case, `.` and `-` as `_`.
pub fn env_name(dataset: &str) -> String {
    dataset
        .chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Whether `s` is a valid node id or dataset name: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`,
/// never `.` or `..`.
pub fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphanumeric() || first == '_')
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && s != "."
        && s != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert!(is_valid_name("scan_1.v2-x"));
        assert!(is_valid_name("_a"));
        assert!(!is_valid_name(".hidden"));
        assert!(!is_valid_name("-a"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert_eq!(env_name("all_findings"), "ALL_FINDINGS");
        assert_eq!(env_name("a.b-c"), "A_B_C");
    }

    #[test]
    fn retry_delay_backs_off_and_caps() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(5),
            backoff_factor: 2.0,
            max_delay: Some(Duration::from_secs(12)),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(1), Duration::from_secs(5));
        assert_eq!(p.delay(2), Duration::from_secs(10));
        assert_eq!(p.delay(3), Duration::from_secs(12));
    }
}
