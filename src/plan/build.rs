//! Semantic validation: raw recipe → [`Plan`], reporting every problem at once.
//!
//! Serde already checked syntax, fields and types; this pass checks what serde cannot:
//! version, names, duplicates, data flow, edges, cycles, node types, templates, durations,
//! retry values and executors. It collects all diagnostics rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::template::Template;
use super::{
    Action, ExecutorKind, Plan, PlanNode, RetryPolicy, SlurmOptions, dag, env_name, is_valid_name,
    plugins,
};
use crate::diag::{Diagnostic, Pos, did_you_mean};
use crate::recipe::{RawRecipe, S, Source};

mod conditions;
mod dir_outputs;
mod fanout;
mod order;
mod scope;
mod settings;

use order::order;
pub use order::select_target;
use scope::{Scope, known_list};

/// What the command line adds to a recipe.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--var k=v`, applied over the recipe's `vars`; a var the recipe does not declare is an
    /// error (`unknown-var`, with a did-you-mean).
    pub vars: Vec<(String, String)>,
    /// The plugins node types resolve against (default: the built-ins).
    pub plugins: plugins::Registry,
    /// `--max-instances`: the fan-out limit of nodes without their own `max_instances`.
    pub max_instances: Option<usize>,
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
        included: raw
            .included
            .iter()
            .map(|s| (s.path.as_str(), s.text.lines().collect()))
            .collect(),
        suggestions_left: SUGGESTIONS,
        diags: Vec::new(),
        workflow_env: BTreeMap::new(),
        list_vars: BTreeMap::new(),
        max_instances: options
            .max_instances
            .unwrap_or(super::foreach::DEFAULT_MAX_INSTANCES),
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
    /// Included files: display path and lines (file index k is `included[k - 1]`).
    included: Vec<(&'a str, Vec<&'a str>)>,
    /// How many more problems get a "did you mean" search (see [`SUGGESTIONS`]).
    suggestions_left: usize,
    diags: Vec<Diagnostic>,
    /// The workflow's `env`, templates filled in.
    workflow_env: BTreeMap<String, String>,
    /// List vars (SPEC §9), `--var` applied.
    list_vars: BTreeMap<String, Vec<String>>,
    /// The default `max_instances`.
    max_instances: usize,
}

/// The first this many problems of a recipe get a "did you mean" search over every name;
/// beyond that, searching all names for each of thousands of problems would make a broken
/// 100 000-node recipe take hours.
const SUGGESTIONS: usize = 100;

const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// What pass 1 of [`Checker::plan`] learns about the nodes, for pass 2 to resolve references.
struct NodeIndex<'r> {
    /// Valid, first-defined ids to where they are defined.
    ids: HashMap<&'r str, Pos>,
    /// Every id, valid or not, to its first node: `depends_on` resolves through this.
    index_of: HashMap<&'r str, usize>,
    /// Each dataset to the node that outputs it and where.
    producers: HashMap<&'r str, (usize, Pos)>,
}

impl Checker<'_> {
    fn error(&mut self, at: Pos, code: &'static str, message: String, hint: Option<String>) {
        let (file, at) = crate::recipe::split_pos(at);
        let d = Diagnostic::error(self.file_path(file), at, code, message);
        self.diags.push(match hint {
            Some(h) => d.with_hint(h),
            None => d,
        });
    }

    fn plan(&mut self, raw: &RawRecipe, options: &BuildOptions) -> Option<Plan> {
        self.check_header(raw);
        let vars = self.workflow_vars(raw, options);
        for (key, value) in raw.env.iter() {
            self.check_env_key(key, pos(value));
            if let Some(v) = self.env_value(value, &vars) {
                self.workflow_env.insert(key.clone(), v);
            }
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
                    crate::recipe::CONCURRENCY_RANGE.into(),
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
        let index = self.index_nodes(raw);

        // Pass 2: everything per node.
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        let mut deps_of = Vec::with_capacity(raw.nodes.len());
        let mut consumed: BTreeSet<&str> = BTreeSet::new();
        // For hints, sorted once on the first unresolved input.
        let mut sorted_datasets: Option<Vec<&str>> = None;
        for node in &raw.nodes {
            let deps = self.node_deps(raw, node, &index, &mut consumed, &mut sorted_datasets);
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

        self.dir_outputs(raw, &mut nodes);
        self.warn_unused_outputs(raw, &deps_of, &consumed);
        self.report_cycles(raw, &deps_of);

        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        let nodes: Vec<PlanNode> = nodes.into_iter().collect::<Option<_>>()?;
        Some(order(
            Plan {
                name: raw.name.value.clone(),
                description: raw.description.clone(),
                recipe_path: self.source.path.clone(),
                recipe_sha256: recipe_sha256(self.source, raw),
                vars,
                secrets,
                concurrency,
                state,
                nodes,
                levels: Vec::new(),
                included: raw
                    .included
                    .iter()
                    .map(|s| super::IncludedFile {
                        path: s.path.clone(),
                        sha256: s.sha256.clone(),
                        outside: crate::recipe::include::outside(&self.source.path, &s.path),
                    })
                    .collect(),
                list_vars: std::mem::take(&mut self.list_vars),
            },
            deps_of,
        ))
    }

    /// The recipe's format version and that it declares nodes.
    fn check_header(&mut self, raw: &RawRecipe) {
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
    }

    /// The workflow's vars: declared values, then `--var` overrides (each checked against the
    /// declaration); fills `self.list_vars` for list-typed vars.
    fn workflow_vars(
        &mut self,
        raw: &RawRecipe,
        options: &BuildOptions,
    ) -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> = raw
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), self.var_text(v)))
            .collect();
        for value in raw.vars.values() {
            self.check_nul(
                &S::new(value.value.text(), value.referenced),
                "`vars` value",
            );
        }
        self.list_vars = raw
            .vars
            .iter()
            .filter_map(|(k, v)| match &v.value {
                crate::recipe::VarValue::List(items) => Some((
                    k.clone(),
                    items
                        .iter()
                        .map(|i| match i.value.typed {
                            true => self.written(pos(i), &i.value.text),
                            false => i.value.text.clone(),
                        })
                        .collect(),
                )),
                crate::recipe::VarValue::Text(_) | crate::recipe::VarValue::Typed(_) => None,
            })
            .collect();
        for (k, v) in &options.vars {
            if !raw.vars.contains_key(k) {
                let hint = match did_you_mean(k, raw.vars.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if raw.vars.is_empty() => {
                        "the recipe declares no `vars`; declare it under `vars:` first".into()
                    }
                    None => known_list(
                        "vars are",
                        raw.vars.keys().map(String::as_str),
                        raw.vars.len(),
                    ),
                };
                self.error(
                    key_pos(&self.source.text, "vars").unwrap_or(pos(&raw.name)),
                    "unknown-var",
                    format!("`--var {k}=…` sets a var the recipe does not declare"),
                    Some(hint),
                );
            }
            self.check_var_type(raw, k, v);
            if let Some(list) = self.list_vars.get_mut(k) {
                *list = super::foreach::split_list(v);
            }
            vars.insert(k.clone(), v.clone());
        }
        vars
    }

    /// Pass 1 of [`Checker::plan`]: node ids (checked for validity and duplicates) and the
    /// datasets each node outputs (checked for names, duplicates and env-name collisions).
    fn index_nodes<'r>(&mut self, raw: &'r RawRecipe) -> NodeIndex<'r> {
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
                    Some(format!(
                        "first defined at {}",
                        self.place(pos(&node.id), *first)
                    )),
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
                        "already an output of node `{}` ({})",
                        raw.nodes[*first].id.value,
                        self.place(pos(out), *at)
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
        NodeIndex {
            ids,
            index_of,
            producers,
        }
    }

    /// The nodes `node` waits for (producers of its `inputs`, its `depends_on`), sorted and
    /// deduplicated; an unresolved name is an error with a hint. Records what it consumes.
    fn node_deps<'r>(
        &mut self,
        raw: &'r RawRecipe,
        node: &'r crate::recipe::RawNode,
        index: &NodeIndex<'r>,
        consumed: &mut BTreeSet<&'r str>,
        sorted_datasets: &mut Option<Vec<&'r str>>,
    ) -> Vec<usize> {
        let mut deps: Vec<usize> = Vec::new();
        for input in &node.inputs {
            let name = input.value.as_str();
            consumed.insert(name);
            match index.producers.get(name) {
                Some((producer, _)) => deps.push(*producer),
                None => {
                    let hint = match self.suggest(name, index.producers.keys().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if index.producers.is_empty() => {
                            "no node declares `outputs`; list it under the producing \
                             node's `outputs`"
                                .into()
                        }
                        None => {
                            let names = sorted_datasets.get_or_insert_with(|| {
                                let mut names: Vec<&str> =
                                    index.producers.keys().copied().collect();
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
            match index.index_of.get(dep.value.as_str()) {
                Some(&d) => deps.push(d),
                None => {
                    let hint = match self.suggest(&dep.value, index.ids.keys().copied()) {
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
        deps
    }

    /// Warns about outputs of a node others depend on that no node reads (a node without
    /// dependants is a sink: its outputs are the workflow's results).
    fn warn_unused_outputs(
        &mut self,
        raw: &RawRecipe,
        deps_of: &[Vec<usize>],
        consumed: &BTreeSet<&str>,
    ) {
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
                    let (file, at) = crate::recipe::split_pos(pos(out));
                    self.diags.push(
                        Diagnostic::warning(
                            self.file_path(file),
                            at,
                            "unused-output",
                            format!("output `{}` is not an input of any node", out.value),
                        )
                        .with_hint("remove it, or list it under a downstream node's `inputs`"),
                    );
                }
            }
        }
    }

    /// One error per dependency cycle, naming its nodes in order.
    fn report_cycles(&mut self, raw: &RawRecipe, deps_of: &[Vec<usize>]) {
        for cycle in dag::cycles(deps_of) {
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
        self.check_kind(kind, kind_at, plugin);

        for (key, value) in &node.env {
            self.check_env_key(key, pos(value));
        }
        let mut env = self.workflow_env.clone();
        for (k, v) in &node.env {
            if let Some(value) = self.env_value(v, vars) {
                env.insert(k.clone(), value);
            }
        }
        let env_clear = node.env_clear.or(raw.env_clear).unwrap_or(false);
        let scope = Scope {
            node,
            vars,
            env: &env,
            secrets,
            env_clear,
        };

        let action = self.action(&scope, kind, plugin);

        let config = self.node_config(&scope, plugin);

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

        let sources = self.sources(node);
        let when = self.condition(raw, node, vars, &env, secrets);
        let trigger = self.trigger(node);
        let fanout = self.fanout(node);
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
            cache: node.cache.unwrap_or(true),
            sources,
            when,
            trigger,
            fanout: fanout?,
            instance: None,
            dir_datasets: Vec::new(),
        })
    }

    /// `sources:` globs: valid globset syntax, relative to the workdir and never leaving it.
    fn sources(&mut self, node: &crate::recipe::RawNode) -> Vec<String> {
        let mut sources = Vec::with_capacity(node.sources.len());
        for glob in &node.sources {
            match globset::GlobBuilder::new(&glob.value)
                .literal_separator(true)
                .build()
                .map_err(|e| e.kind().to_string())
            {
                Ok(_)
                    if glob.value.starts_with('/') || glob.value.split('/').any(|p| p == "..") =>
                {
                    self.error(
                        pos(glob),
                        "bad-sources",
                        format!("`sources` glob `{}` leaves the node's workdir", glob.value),
                        Some("write globs relative to the workdir, without `..`".into()),
                    )
                }
                Ok(_) => sources.push(glob.value.clone()),
                Err(e) => self.error(
                    pos(glob),
                    "bad-sources",
                    format!("bad `sources` glob `{}`: {e}", glob.value),
                    Some("globset syntax: `*`, `**`, `?`, `[abc]`, `{a,b}`".into()),
                ),
            }
        }
        sources
    }

    /// An error for a node type that is neither `exec` nor a plugin's, with the known types.
    fn check_kind(&mut self, kind: &str, kind_at: Pos, plugin: Option<&plugins::Plugin>) {
        if kind != "exec" && plugin.is_none() {
            let known = self.plugins.known_types();
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
    }

    /// What the node runs: `run` (a shell template) or `command` (an argv of templates) for
    /// `exec`, the plugin's command otherwise; errors for a missing, doubled or misplaced one.
    fn action(
        &mut self,
        scope: &Scope,
        kind: &str,
        plugin: Option<&plugins::Plugin>,
    ) -> Option<Action> {
        let node = scope.node;
        let at = pos(&node.id);
        match (kind, &node.run, &node.command) {
            ("exec", Some(run), None) => self.template(scope, run, Place::Run).map(Action::Shell),
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
                    self.argv_action(scope, argv)
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
        }
    }

    /// A `command:` list as templates; refused when a template feeds an interpreter's code
    /// argument (the one after `-c`/`-e`).
    fn argv_action(&mut self, scope: &Scope, argv: &S<crate::recipe::Argv>) -> Option<Action> {
        let parts: Vec<Option<Template>> = argv
            .value
            .iter()
            .map(|a| self.template(scope, a, Place::Command))
            .collect();
        let words: Vec<&str> = argv.value.iter().map(|a| a.value.as_str()).collect();
        let mut runs_value = false;
        if let Some(code) = super::shell::argv_code_index(&words)
            && let Some(Some(t)) = parts.get(code)
            && let Some(r) = t.references().next()
        {
            let arg = &argv.value[code];
            let at = self.locate(pos(arg), &arg.value, r.offset);
            self.error(
                at,
                "template-in-interpreter",
                "the template's value is handed to a program that runs it as code \
                 (the argument after `-c`/`-e`)"
                    .into(),
                Some(
                    "pass the value as data: a later argument the code reads \
                     (`[sh, -c, 'echo \"$1\"', _, '{{ … }}']`) or an environment \
                     variable"
                        .into(),
                ),
            );
            runs_value = true;
        }
        (!runs_value).then_some(parts).and_then(|parts| {
            parts
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(Action::Argv)
        })
    }

    /// The node's `config` (string values checked as templates), filled in by its plugin.
    fn node_config(
        &mut self,
        scope: &Scope,
        plugin: Option<&plugins::Plugin>,
    ) -> BTreeMap<String, serde_json::Value> {
        let node = scope.node;
        let mut config = BTreeMap::new();
        for (key, value) in &node.config {
            if let serde_json::Value::String(text) = &value.value {
                let spanned = S::new(text.clone(), value.referenced);
                self.template(scope, &spanned, Place::Config);
            }
            config.insert(key.clone(), value.value.clone());
        }
        if let Some(plugin) = plugin {
            config = self.plugin_config(node, plugin, config);
        }
        config
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

    /// Parses a template and checks that each reference names something, that no secret
    /// is pasted into an argument, and (in `run`) that each stands where the shell keeps it
    /// one literal word.
    fn template(&mut self, scope: &Scope, text: &S<String>, place: Place) -> Option<Template> {
        if !self.check_nul(text, place.what()) {
            return None;
        }
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
            let problem = scope.problem(r, place == Place::Config, self.suggestions_left > 0);
            if let Some((message, hint)) = problem {
                self.suggestions_left = self.suggestions_left.saturating_sub(1);
                ok = false;
                self.error(at, "unknown-template-ref", message, hint);
            } else if place != Place::Run
                && r.namespace == super::template::Namespace::Env
                && scope.secrets.contains(&r.key)
            {
                ok = false;
                self.error(
                    at,
                    "secret-in-argv",
                    format!(
                        "secret `{}` is pasted into the node's {}, where every user can read it",
                        r.key,
                        place.what()
                    ),
                    Some(format!(
                        "the tool has the secret in its environment as `{}`; read it there, or \
                         use `run:` where `{{{{ env.{} }}}}` becomes a reference to the variable",
                        r.key, r.key
                    )),
                );
            }
        }
        if ok
            && place == Place::Run
            && let Err(e) = super::shell::contexts(&template)
                .and_then(|_| super::shell::interpreter(&text.value, &template))
        {
            let at = self.locate(pos(text), &text.value, e.offset);
            self.error(at, e.code, e.message, Some(e.hint));
            ok = false;
        }
        ok.then_some(template)
    }

    /// The position of byte `offset` of `value`, a scalar that starts at `at`, when the
    /// scalar sits on one line of the source as written (plain or quoted without escapes);
    /// else `at`.
    fn locate(&self, at: Pos, value: &str, offset: usize) -> Pos {
        let (file, plain) = crate::recipe::split_pos(at);
        let lines = match file {
            0 => &self.lines,
            k => match self.included.get(k - 1) {
                Some((_, lines)) => lines,
                None => return at,
            },
        };
        let Some(line) = usize::try_from(plain.line.saturating_sub(1))
            .ok()
            .and_then(|i| lines.get(i))
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

    /// Reports a NUL byte in `value` (`what` names it), which no process can be handed.
    fn check_nul(&mut self, value: &S<String>, what: &str) -> bool {
        let Some(nul) = value.value.find('\0') else {
            return true;
        };
        let at = self.locate(pos(value), &value.value, nul);
        self.error(
            at,
            "nul-in-value",
            format!("the {what} holds a NUL byte"),
            Some("a NUL cannot be passed to a process; remove it".into()),
        );
        false
    }

    /// An `env` value with its `{{ vars.X }}` templates filled in; other templates are
    /// refused (their values exist only per attempt), never passed on as text.
    fn env_value(&mut self, value: &S<String>, vars: &BTreeMap<String, String>) -> Option<String> {
        if !self.check_nul(value, "`env` value") {
            return None;
        }
        let template = match Template::parse(&value.value) {
            Ok(t) => t,
            Err(e) => {
                let at = self.locate(pos(value), &value.value, e.offset);
                self.error(at, "bad-template", e.message, e.hint);
                return None;
            }
        };
        let rendered = template.render(
            |r| match (r.namespace, vars.get(&r.key)) {
                (super::template::Namespace::Vars, Some(v)) => Ok(v.clone()),
                _ => Err(r.clone()),
            },
            str::to_string,
        );
        match rendered {
            Ok(text) => Some(text),
            Err(r) => {
                let at = self.locate(pos(value), &value.value, r.offset);
                let (message, hint) = if r.namespace == super::template::Namespace::Vars {
                    (
                        format!("`{{{{ {r} }}}}` names no variable in `vars`"),
                        "declare it under `vars:`".to_string(),
                    )
                } else {
                    (
                        format!("`{{{{ {r} }}}}` cannot be used in an `env` value"),
                        "`env` values may use `{{ vars.X }}` only; reference the others in `run` \
                         or `command`"
                            .to_string(),
                    )
                };
                self.error(at, "template-in-env", message, Some(hint));
                None
            }
        }
    }

    /// A var's default as text: a plain scalar the parser typed (`y`, `1.10`, `0x1f`) as it
    /// is written in the source, so that vars read exactly as before list vars existed.
    fn var_text(&self, v: &S<crate::recipe::VarValue>) -> String {
        let crate::recipe::VarValue::Typed(rendered) = &v.value else {
            return v.value.text();
        };
        self.written(pos(v), rendered)
    }

    /// The plain scalar written at `at` (up to `,`, `}`, `]` or a comment), else `rendered`.
    fn written(&self, at: Pos, rendered: &str) -> String {
        let written = usize::try_from(at.line.saturating_sub(1))
            .ok()
            .and_then(|i| self.lines.get(i))
            .map(|line| {
                let rest: String = line
                    .chars()
                    .skip(at.column.saturating_sub(1) as usize)
                    .collect();
                let end = rest
                    .find([',', '}', ']'])
                    .into_iter()
                    .chain(rest.find(" #"))
                    .min()
                    .unwrap_or(rest.len());
                rest[..end].trim().to_string()
            });
        match written {
            Some(text) if !text.is_empty() => text,
            _ => rendered.to_string(),
        }
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
}

/// Where a template is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Run,
    Command,
    Config,
}

impl Place {
    fn what(self) -> &'static str {
        match self {
            Place::Run => "`run` line",
            Place::Command => "`command`",
            Place::Config => "`config` value",
        }
    }
}

const NAME_RULE: &str = "names match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}` and are never `.` or `..`";

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

/// The recipe's SHA-256: its file's alone, or with includes, the hash of every file's path
/// (as written) and hash in the order they were read.
fn recipe_sha256(source: &Source, raw: &RawRecipe) -> String {
    if raw.included.is_empty() {
        return source.sha256.clone();
    }
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in std::iter::once(source).chain(&raw.included) {
        h.update(s.path.as_bytes());
        h.update([0]);
        h.update(s.sha256.as_bytes());
        h.update([b'\n']);
    }
    crate::recipe::hex(&h.finalize())
}

impl Checker<'_> {
    /// The display path of file index `file` (0: the recipe).
    fn file_path(&self, file: usize) -> &str {
        match file {
            0 => &self.source.path,
            k => self
                .included
                .get(k - 1)
                .map_or(&self.source.path, |(p, _)| p),
        }
    }

    /// Where `first` is, said from `here`: `line N` in the same file, else `file:line:col`.
    fn place(&self, here: Pos, first: Pos) -> String {
        let (hf, _) = crate::recipe::split_pos(here);
        let (ff, f) = crate::recipe::split_pos(first);
        if hf == 0 && ff == 0 {
            format!("line {}", f.line)
        } else {
            format!("{}:{}:{}", self.file_path(ff), f.line, f.column)
        }
    }
}
