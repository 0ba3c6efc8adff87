//! Semantic validation: raw recipe → [`Plan`], reporting every problem at once.
//!
//! Serde already checked syntax, fields and types; this pass checks what serde cannot:
//! version, names, duplicates, data flow, edges, cycles, node types, templates, durations,
//! retry values and executors. It collects all diagnostics rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::template::{Namespace, Template};
use super::{
    Action, ExecutorKind, Plan, PlanNode, RetryOn, RetryPolicy, SlurmOptions, StateSettings, dag,
    env_name, is_valid_name, plugins,
};
use crate::diag::{Diagnostic, Pos, did_you_mean};
use crate::recipe::{RawRecipe, RawRetry, RawSlurm, S, Source, parse_duration};

/// What the command line adds to a recipe.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--var k=v`, applied over the recipe's `vars` (and allowed to add new ones).
    pub vars: Vec<(String, String)>,
    /// The plugins node types resolve against (default: the built-ins).
    pub plugins: plugins::Registry,
}

/// Validates `raw` and builds the plan. On success, also returns the warnings; on failure,
/// every diagnostic found (errors and warnings), in source order.
pub fn build(
    source: &Source,
    raw: &RawRecipe,
    options: &BuildOptions,
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut cx = Checker {
        source,
        plugins: &options.plugins,
        lines: source.text.lines().collect(),
        suggestions_left: SUGGESTIONS,
        diags: Vec::new(),
    };
    let plan = cx.plan(raw, options);
    let mut diags = cx.diags;
    diags.sort_by_key(|d| (d.line, d.column));
    match plan {
        Some(plan) if !diags.iter().any(Diagnostic::is_error) => Ok((plan, diags)),
        _ => Err(diags),
    }
}

struct Checker<'a> {
    source: &'a Source,
    plugins: &'a plugins::Registry,
    /// The source's lines, split once: templates are located on them, and a per-lookup scan
    /// would make validation quadratic in the recipe's size.
    lines: Vec<&'a str>,
    /// How many more problems get a "did you mean" search (see [`SUGGESTIONS`]).
    suggestions_left: usize,
    diags: Vec<Diagnostic>,
}

/// The first this many problems of a recipe get a "did you mean" search over every name;
/// beyond that, searching all names for each of thousands of problems would make a broken
/// 100 000-node recipe take hours.
const SUGGESTIONS: usize = 100;

const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

impl Checker<'_> {
    fn error(&mut self, at: Pos, code: &'static str, message: String, hint: Option<String>) {
        let d = Diagnostic::error(&self.source.path, at, code, message);
        self.diags.push(match hint {
            Some(h) => d.with_hint(h),
            None => d,
        });
    }

    fn plan(&mut self, raw: &RawRecipe, options: &BuildOptions) -> Option<Plan> {
        if raw.version.value.trim() != "1.0" {
            self.error(
                pos(&raw.version),
                "bad-version",
                format!("unsupported recipe version `{}`", raw.version.value),
                Some("this secflow reads recipe format \"1.0\"".into()),
            );
        }
        if raw.nodes.is_empty() {
            self.error(
                key_pos(&self.source.text, "nodes").unwrap_or(pos(&raw.name)),
                "no-nodes",
                "recipe declares no nodes".into(),
                Some("add at least one entry under `nodes:`".into()),
            );
        }
        let mut vars: BTreeMap<String, String> = raw
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        for (k, v) in &options.vars {
            vars.insert(k.clone(), v.clone());
        }
        for (key, value) in raw.env.iter() {
            self.check_env_key(key, pos(value));
        }
        let mut secrets = Vec::new();
        for secret in &raw.secrets {
            self.check_env_key(&secret.value, pos(secret));
            secrets.push(secret.value.clone());
        }
        let concurrency = raw.concurrency.as_ref().and_then(|c| {
            if c.value == 0 {
                self.error(
                    pos(c),
                    "bad-value",
                    "`concurrency` must be at least 1".into(),
                    None,
                );
            }
            (c.value > 0).then_some(c.value as usize)
        });
        let state = self.state(raw);
        let workflow_grace = self.duration_opt(raw.kill_grace.as_ref(), "kill_grace");
        let workflow_executor = self.executor(raw.executor.as_ref());
        let workflow_slurm = Arc::new(self.slurm(raw.slurm.as_ref(), &SlurmOptions::default()));
        let workflow_retry = Arc::new(self.retry(raw.retry.as_ref(), &RetryPolicy::default()));

        // Pass 1: ids and outputs, so that pass 2 can resolve references in any order.
        let mut ids: HashMap<&str, Pos> = HashMap::new();
        // Every id, valid or not, to its first node: `depends_on` resolves through this.
        let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(raw.nodes.len());
        let mut producers: HashMap<&str, (usize, Pos)> = HashMap::new();
        let mut env_names: HashMap<String, &str> = HashMap::new();
        for (i, node) in raw.nodes.iter().enumerate() {
            let id = &node.id.value;
            index_of.entry(id.as_str()).or_insert(i);
            if !is_valid_name(id) {
                self.error(
                    pos(&node.id),
                    "bad-id",
                    format!("invalid node id `{id}`"),
                    Some(NAME_RULE.into()),
                );
            } else if let Some(first) = ids.get(id.as_str()) {
                self.error(
                    pos(&node.id),
                    "duplicate-id",
                    format!("duplicate node id `{id}`"),
                    Some(format!("first defined at line {}", first.line)),
                );
            } else {
                ids.insert(id, pos(&node.id));
            }
            for out in &node.outputs {
                let name = out.value.as_str();
                if !is_valid_name(name) {
                    self.error(
                        pos(out),
                        "bad-dataset-name",
                        format!("invalid dataset name `{name}`"),
                        Some(NAME_RULE.into()),
                    );
                    continue;
                }
                if let Some((first, at)) = producers.get(name) {
                    let hint = format!(
                        "already an output of node `{}` (line {})",
                        raw.nodes[*first].id.value, at.line
                    );
                    self.error(
                        pos(out),
                        "duplicate-output",
                        format!("dataset `{name}` is produced by more than one node"),
                        Some(hint),
                    );
                    continue;
                }
                let env = env_name(name);
                if let Some(other) = env_names.get(&env) {
                    self.error(
                        pos(out),
                        "dataset-env-collision",
                        format!(
                            "datasets `{other}` and `{name}` both become `SECFLOW_OUTPUT_{env}`"
                        ),
                        Some("rename one: `.` and `-` turn into `_` in environment names".into()),
                    );
                }
                env_names.insert(env, name);
                producers.insert(name, (i, pos(out)));
            }
        }

        // Pass 2: everything per node.
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        let mut deps_of = Vec::with_capacity(raw.nodes.len());
        let mut consumed: BTreeSet<&str> = BTreeSet::new();
        // For hints, sorted once on the first unresolved input.
        let mut sorted_datasets: Option<Vec<&str>> = None;
        for node in &raw.nodes {
            let mut deps: Vec<usize> = Vec::new();
            let mut inputs = Vec::new();
            for input in &node.inputs {
                let name = input.value.as_str();
                consumed.insert(name);
                inputs.push(name.to_string());
                match producers.get(name) {
                    Some((producer, _)) => deps.push(*producer),
                    None => {
                        let hint = match self.suggest(name, producers.keys().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None if producers.is_empty() => {
                                "no node declares `outputs`; list it under the producing \
                                 node's `outputs`"
                                    .into()
                            }
                            None => {
                                let names = sorted_datasets.get_or_insert_with(|| {
                                    let mut names: Vec<&str> = producers.keys().copied().collect();
                                    names.sort_unstable();
                                    names
                                });
                                known_list("datasets are", names.iter().copied(), names.len())
                            }
                        };
                        self.error(
                            pos(input),
                            "unresolved-input",
                            format!("input `{name}` is not produced by any node"),
                            Some(hint),
                        );
                    }
                }
            }
            for dep in &node.depends_on {
                match index_of.get(dep.value.as_str()) {
                    Some(&d) => deps.push(d),
                    None => {
                        let hint = match self.suggest(&dep.value, ids.keys().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => known_list(
                                "nodes are",
                                raw.nodes.iter().map(|n| n.id.value.as_str()),
                                raw.nodes.len(),
                            ),
                        };
                        self.error(
                            pos(dep),
                            "unknown-dependency",
                            format!("`depends_on` names unknown node `{}`", dep.value),
                            Some(hint),
                        );
                    }
                }
            }
            deps.sort_unstable();
            deps.dedup();
            deps_of.push(deps);
            nodes.push(self.node(
                raw,
                node,
                &vars,
                &secrets,
                workflow_grace,
                workflow_executor,
                &workflow_slurm,
                &workflow_retry,
            ));
        }

        let mut has_dependants = vec![false; raw.nodes.len()];
        for &d in deps_of.iter().flatten() {
            has_dependants[d] = true;
        }
        for (node, _) in raw
            .nodes
            .iter()
            .zip(&has_dependants)
            .filter(|(_, has)| **has)
        {
            // Sinks are skipped: their outputs are the workflow's results.
            for out in &node.outputs {
                if !consumed.contains(out.value.as_str()) {
                    self.diags.push(
                        Diagnostic::warning(
                            &self.source.path,
                            pos(out),
                            "unused-output",
                            format!("output `{}` is not an input of any node", out.value),
                        )
                        .with_hint("remove it, or list it under a downstream node's `inputs`"),
                    );
                }
            }
        }

        for cycle in dag::cycles(&deps_of) {
            let mut names: Vec<&str> = cycle
                .iter()
                .map(|&i| raw.nodes[i].id.value.as_str())
                .collect();
            names.push(names[0]);
            let at = pos(&raw.nodes[cycle[0]].id);
            self.error(
                at,
                "cycle",
                format!("dependency cycle: {}", names.join(" -> ")),
                Some(
                    "each arrow points to a node the previous one waits for (through `inputs` \
                     or `depends_on`); remove one of these edges"
                        .into(),
                ),
            );
        }

        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        let nodes: Vec<PlanNode> = nodes.into_iter().collect::<Option<_>>()?;
        Some(order(
            Plan {
                name: raw.name.value.clone(),
                description: raw.description.clone(),
                recipe_path: self.source.path.clone(),
                recipe_sha256: self.source.sha256.clone(),
                vars,
                secrets,
                concurrency,
                state,
                nodes,
                levels: Vec::new(),
            },
            deps_of,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        raw: &RawRecipe,
        node: &crate::recipe::RawNode,
        vars: &BTreeMap<String, String>,
        secrets: &[String],
        workflow_grace: Option<Duration>,
        workflow_executor: ExecutorKind,
        workflow_slurm: &Arc<SlurmOptions>,
        workflow_retry: &Arc<RetryPolicy>,
    ) -> Option<PlanNode> {
        let at = pos(&node.id);
        let kind = node.kind.as_ref().map_or("exec", |k| k.value.as_str());
        let kind_at = node.kind.as_ref().map_or(at, pos);
        let plugins = self.plugins;
        let plugin = plugins.find(kind);
        if kind != "exec" && plugin.is_none() {
            let known = plugins.known_types();
            let hint = match did_you_mean(kind, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? known types: {}", known.join(", ")),
                None => format!("known types: {}", known.join(", ")),
            };
            self.error(
                kind_at,
                "unknown-type",
                format!("unknown node type `{kind}`"),
                Some(hint),
            );
        }

        for (key, value) in &node.env {
            self.check_env_key(key, pos(value));
        }
        let mut env: BTreeMap<String, String> = raw
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        env.extend(node.env.iter().map(|(k, v)| (k.clone(), v.value.clone())));
        let env_clear = node.env_clear.or(raw.env_clear).unwrap_or(false);
        let scope = Scope {
            node,
            vars,
            env: &env,
            secrets,
            env_clear,
        };

        let action = match (kind, &node.run, &node.command) {
            ("exec", Some(run), None) => self.template(&scope, run, false).map(Action::Shell),
            ("exec", None, Some(argv)) => {
                if argv.value.is_empty() {
                    self.error(
                        pos(argv),
                        "exec-command",
                        "`command` is an empty list".into(),
                        Some(
                            "give the program and its arguments, e.g. `command: [echo, hi]`".into(),
                        ),
                    );
                    None
                } else {
                    let parts: Vec<Option<Template>> = argv
                        .value
                        .iter()
                        .map(|a| self.template(&scope, a, false))
                        .collect();
                    parts
                        .into_iter()
                        .collect::<Option<Vec<_>>>()
                        .map(Action::Argv)
                }
            }
            ("exec", None, None) => {
                self.error(
                    at,
                    "exec-command",
                    format!(
                        "exec node `{}` has neither `run` nor `command`",
                        node.id.value
                    ),
                    Some("add `run: \"shell command\"` or `command: [program, args...]`".into()),
                );
                None
            }
            ("exec", Some(_), Some(command)) => {
                self.error(
                    pos(command),
                    "exec-command",
                    format!("exec node `{}` has both `run` and `command`", node.id.value),
                    Some("keep one: `run` goes through `sh -c`, `command` is an argv list".into()),
                );
                None
            }
            (_, run, command) => {
                let extra = run.as_ref().map(pos).or(command.as_ref().map(pos));
                // An unknown type is already reported; `run` there is no second mistake.
                if let (Some(extra), Some(_)) = (extra, plugin) {
                    self.error(
                        extra,
                        "plugin-command",
                        format!("node `{}` of plugin type `{kind}` cannot take `run` or `command`", node.id.value),
                        Some("plugin nodes are driven by `config`; use `type: exec` for a command of your own".into()),
                    );
                }
                plugin.map(|p| {
                    Action::Argv(
                        p.command
                            .iter()
                            .map(|s| Template::parse(s).unwrap_or_default())
                            .collect(),
                    )
                })
            }
        };

        let mut config = BTreeMap::new();
        for (key, value) in &node.config {
            if let serde_json::Value::String(text) = &value.value {
                let spanned = S::new(text.clone(), value.referenced);
                self.template(&scope, &spanned, true);
            }
            config.insert(key.clone(), value.value.clone());
        }
        if let Some(plugin) = plugin {
            config = self.plugin_config(node, plugin, config);
        }

        let timeout = self.duration_opt(node.timeout.as_ref(), "timeout");
        if let (Some(t), Some(span)) = (timeout, node.timeout.as_ref())
            && t.is_zero()
        {
            self.error(
                pos(span),
                "bad-duration",
                "`timeout` must be greater than zero".into(),
                Some("leave `timeout` out for no time limit".into()),
            );
        }
        let kill_grace = self
            .duration_opt(node.kill_grace.as_ref(), "kill_grace")
            .or(workflow_grace)
            .unwrap_or(DEFAULT_KILL_GRACE);
        let executor = match &node.executor {
            Some(_) => self.executor(node.executor.as_ref()),
            None => workflow_executor,
        };
        let slurm = match node.slurm.as_deref() {
            Some(own) => Arc::new(self.slurm(Some(own), workflow_slurm)),
            None => Arc::clone(workflow_slurm),
        };
        let retry = match node.retry.as_deref() {
            Some(own) => Arc::new(self.retry(Some(own), workflow_retry)),
            None => Arc::clone(workflow_retry),
        };
        let workdir = node.workdir.as_ref().and_then(|w| {
            if w.value.trim().is_empty() {
                self.error(pos(w), "bad-value", "`workdir` is empty".into(), None);
                None
            } else {
                Some(std::path::PathBuf::from(&w.value))
            }
        });

        Some(PlanNode {
            id: node.id.value.clone(),
            kind: kind.to_string(),
            plugin_name: plugin.map_or("exec", |p| p.name.as_str()).to_string(),
            plugin_version: plugin
                .map_or(env!("CARGO_PKG_VERSION"), |p| p.version.as_str())
                .to_string(),
            action: action?,
            config,
            inputs: node.inputs.iter().map(|s| s.value.clone()).collect(),
            outputs: node.outputs.iter().map(|s| s.value.clone()).collect(),
            deps: Vec::new(),
            env,
            env_clear,
            workdir,
            timeout,
            kill_grace,
            continue_on_error: node.continue_on_error.unwrap_or(false),
            retry,
            executor,
            slurm,
            level: 0,
        })
    }

    /// Checks a plugin node's config against the plugin's keys; returns it with defaults.
    fn plugin_config(
        &mut self,
        node: &crate::recipe::RawNode,
        plugin: &plugins::Plugin,
        config: BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        let (full, problems) = plugins::check_config(plugin, &config);
        let key_pos = |key: &str| node.config.get(key).map_or(pos(&node.id), pos);
        for problem in problems {
            match problem {
                plugins::ConfigProblem::Unknown { key, suggestion } => {
                    let known: Vec<&str> = plugin.config.iter().map(|k| k.name.as_str()).collect();
                    let hint = match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("`{}` accepts: {}", plugin.node_type, known.join(", ")),
                    };
                    self.error(
                        key_pos(&key),
                        "unknown-config-key",
                        format!(
                            "unknown config key `{key}` for node type `{}`",
                            plugin.node_type
                        ),
                        Some(hint),
                    );
                }
                plugins::ConfigProblem::WrongType { key, expected } => self.error(
                    key_pos(&key),
                    "config-type",
                    format!("config key `{key}` must be of type {}", expected.as_str()),
                    None,
                ),
                plugins::ConfigProblem::Missing { key } => self.error(
                    pos(&node.id),
                    "missing-config-key",
                    format!(
                        "node `{}` of type `{}` needs config key `{key}`",
                        node.id.value, plugin.node_type
                    ),
                    None,
                ),
            }
        }
        full
    }

    /// Parses a template and checks that each reference names something.
    fn template(&mut self, scope: &Scope, text: &S<String>, in_config: bool) -> Option<Template> {
        let template = match Template::parse(&text.value) {
            Ok(t) => t,
            Err(e) => {
                let at = self.locate(pos(text), &text.value, e.offset);
                self.error(at, "bad-template", e.message, e.hint);
                return None;
            }
        };
        let mut ok = true;
        for r in template.references() {
            let at = self.locate(pos(text), &text.value, r.offset);
            let problem = scope.problem(r, in_config, self.suggestions_left > 0);
            if let Some((message, hint)) = problem {
                self.suggestions_left = self.suggestions_left.saturating_sub(1);
                ok = false;
                self.error(at, "unknown-template-ref", message, hint);
            }
        }
        ok.then_some(template)
    }

    /// The position of byte `offset` of `value`, a scalar that starts at `at`, when the
    /// scalar sits on one line of the source as written (plain or quoted without escapes);
    /// else `at`.
    fn locate(&self, at: Pos, value: &str, offset: usize) -> Pos {
        let Some(line) = usize::try_from(at.line.saturating_sub(1))
            .ok()
            .and_then(|i| self.lines.get(i))
        else {
            return at;
        };
        let start: String = line
            .chars()
            .skip(at.column.saturating_sub(1) as usize)
            .collect();
        let (quoted, body) = match start.chars().next() {
            Some(q @ ('"' | '\'')) => (1, &start[q.len_utf8()..]),
            _ => (0, start.as_str()),
        };
        let prefix = value.get(..offset.min(value.len())).unwrap_or(value);
        if body.starts_with(prefix) {
            Pos {
                line: at.line,
                column: at.column + quoted + prefix.chars().count() as u64,
            }
        } else {
            at
        }
    }

    /// The closest of `names` to `word`, while the recipe's suggestion budget lasts.
    fn suggest<'n>(
        &mut self,
        word: &str,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Option<&'n str> {
        if self.suggestions_left == 0 {
            return None;
        }
        self.suggestions_left -= 1;
        did_you_mean(word, names)
    }

    fn check_env_key(&mut self, key: &str, at: Pos) {
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.error(
                at,
                "bad-env-name",
                format!("`{key}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            );
        }
    }

    fn duration_opt(&mut self, value: Option<&S<String>>, field: &str) -> Option<Duration> {
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

    fn executor(&mut self, value: Option<&S<String>>) -> ExecutorKind {
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

    fn state(&mut self, raw: &RawRecipe) -> StateSettings {
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

    fn slurm(&mut self, raw: Option<&RawSlurm>, base: &SlurmOptions) -> SlurmOptions {
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

    fn retry(&mut self, raw: Option<&RawRetry>, base: &RetryPolicy) -> RetryPolicy {
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

const NAME_RULE: &str = "names match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}` and are never `.` or `..`";

/// What a node's templates may reference.
struct Scope<'a> {
    node: &'a crate::recipe::RawNode,
    vars: &'a BTreeMap<String, String>,
    env: &'a BTreeMap<String, String>,
    secrets: &'a [String],
    env_clear: bool,
}

impl Scope<'_> {
    /// Why `r` names nothing, if it does. `suggest`: search for a "did you mean".
    fn problem(
        &self,
        r: &super::Reference,
        in_config: bool,
        suggest: bool,
    ) -> Option<(String, Option<String>)> {
        let key = r.key.as_str();
        let in_list = |list: &[S<String>]| list.iter().any(|s| s.value == key);
        let exists = match r.namespace {
            Namespace::Inputs => in_list(&self.node.inputs),
            Namespace::Outputs => in_list(&self.node.outputs),
            Namespace::Vars => self.vars.contains_key(key),
            Namespace::Config if in_config => {
                return Some((
                    format!("`{{{{ {r} }}}}`: config values cannot reference config"),
                    Some(
                        "write the value itself; `{{ config.X }}` is for `run` and `command`"
                            .into(),
                    ),
                ));
            }
            Namespace::Config => self.node.config.contains_key(key),
            Namespace::Run => key == "id",
            Namespace::Env => {
                if self.env_known(key) {
                    return None;
                }
                return Some((
                    format!(
                        "`{{{{ {r} }}}}` names an environment variable that is neither declared nor set"
                    ),
                    Some("declare it under `env:` or `secrets:`".into()),
                ));
            }
        };
        if exists {
            return None;
        }
        let what = match r.namespace {
            Namespace::Inputs => "input of this node",
            Namespace::Outputs => "output of this node",
            Namespace::Vars => "variable in `vars`",
            Namespace::Config => "key of this node's `config`",
            Namespace::Run => "run field",
            Namespace::Env => "environment variable",
        };
        let (count, known) = self.names(r.namespace);
        let hint = match suggest.then(|| did_you_mean(key, known)).flatten() {
            Some(s) => format!("did you mean `{s}`?"),
            None if count == 0 => match r.namespace {
                Namespace::Vars => "the recipe has no `vars`; declare `vars: { NAME: value }` \
                                    at the top level or pass `--var NAME=value`"
                    .into(),
                Namespace::Config => "this node has no `config`".into(),
                ns => format!("this node has no `{}`", ns.as_str()),
            },
            None => known_list("expected one of", self.names(r.namespace).1, count),
        };
        Some((format!("`{{{{ {r} }}}}` names no {what}"), Some(hint)))
    }

    /// How many names `ns` holds for this node, and the names.
    fn names(&self, ns: Namespace) -> (usize, Box<dyn Iterator<Item = &str> + '_>) {
        fn list(l: &[S<String>]) -> impl Iterator<Item = &str> {
            l.iter().map(|s| s.value.as_str())
        }
        match ns {
            Namespace::Inputs => (self.node.inputs.len(), Box::new(list(&self.node.inputs))),
            Namespace::Outputs => (self.node.outputs.len(), Box::new(list(&self.node.outputs))),
            Namespace::Vars => (
                self.vars.len(),
                Box::new(self.vars.keys().map(String::as_str)),
            ),
            Namespace::Config => (
                self.node.config.len(),
                Box::new(self.node.config.keys().map(String::as_str)),
            ),
            Namespace::Run => (1, Box::new(std::iter::once("id"))),
            Namespace::Env => (0, Box::new(std::iter::empty())),
        }
    }

    fn env_known(&self, key: &str) -> bool {
        const ALWAYS: [&str; 7] = [
            "SECFLOW_RUN_ID",
            "SECFLOW_NODE_ID",
            "SECFLOW_ATTEMPT",
            "SECFLOW_NODE_CONFIG",
            "TRACEPARENT",
            "PATH",
            "HOME",
        ];
        let dataset_var = |prefix: &str, list: &[S<String>]| {
            key.strip_prefix(prefix)
                .is_some_and(|rest| list.iter().any(|d| env_name(&d.value) == rest))
        };
        self.env.contains_key(key)
            || self.secrets.iter().any(|s| s == key)
            || ALWAYS.contains(&key)
            || key == "LANG"
            || dataset_var("SECFLOW_INPUT_", &self.node.inputs)
            || dataset_var("SECFLOW_OUTPUT_", &self.node.outputs)
            || (!self.env_clear && std::env::var_os(key).is_some())
    }
}

/// "nodes are: a, b, c" (the first ten of `total` names), for hints.
fn known_list<'a>(what: &str, names: impl Iterator<Item = &'a str>, total: usize) -> String {
    let shown: Vec<&str> = names.take(10).collect();
    let more = total.saturating_sub(shown.len());
    if more > 0 {
        format!("{what}: {} (and {more} more)", shown.join(", "))
    } else {
        format!("{what}: {}", shown.join(", "))
    }
}

/// Where a top-level `key:` is written, column 1.
fn key_pos(source: &str, key: &str) -> Option<Pos> {
    let line = source.lines().position(|l| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })?;
    Some(Pos {
        line: line as u64 + 1,
        column: 1,
    })
}

fn pos<T>(s: &S<T>) -> Pos {
    Pos::from(s.referenced)
}

/// Puts nodes in topological order (level, then recipe order) and fills deps and levels.
///
/// Permutes `plan.nodes` in place: a second array of nodes would be the biggest thing
/// alive while a large recipe is planned.
fn order(mut plan: Plan, deps_of: Vec<Vec<usize>>) -> Plan {
    let level = dag::levels(&deps_of);
    let mut order: Vec<usize> = (0..plan.nodes.len()).collect();
    order.sort_by_key(|&i| (level[i], i));
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    drop(order);
    for ((old, node), mut deps) in plan.nodes.iter_mut().enumerate().zip(deps_of) {
        for d in &mut deps {
            *d = new_index[*d];
        }
        node.level = level[old];
        node.deps = deps;
    }
    // Follow each cycle of the permutation: every swap puts one node where it belongs.
    for i in 0..new_index.len() {
        while new_index[i] != i {
            let j = new_index[i];
            plan.nodes.swap(i, j);
            new_index.swap(i, j);
        }
    }
    let depth = level.iter().max().map_or(0, |m| m + 1);
    let mut levels = vec![Vec::new(); depth];
    for (new, node) in plan.nodes.iter().enumerate() {
        levels[node.level].push(new);
    }
    plan.levels = levels;
    plan
}

/// Keeps `target` and every node upstream of it.
pub fn select_target(plan: Plan, target: &str) -> Result<Plan, String> {
    let Some(t) = plan.node_index(target) else {
        let hint = did_you_mean(target, plan.nodes.iter().map(|n| n.id.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(format!("--target names unknown node `{target}`{hint}"));
    };
    let mut keep = vec![false; plan.nodes.len()];
    let mut stack = vec![t];
    while let Some(v) = stack.pop() {
        if !std::mem::replace(&mut keep[v], true) {
            stack.extend(plan.nodes[v].deps.iter().copied());
        }
    }
    let kept: Vec<usize> = (0..plan.nodes.len()).filter(|&i| keep[i]).collect();
    let deps: Vec<Vec<usize>> = kept
        .iter()
        .map(|&i| {
            plan.nodes[i]
                .deps
                .iter()
                .map(|d| kept.binary_search(d).expect("upstream nodes are kept"))
                .collect()
        })
        .collect();
    let mut plan = plan;
    let nodes = std::mem::take(&mut plan.nodes);
    plan.nodes = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        .map(|(_, n)| n)
        .collect();
    Ok(order(plan, deps))
}
