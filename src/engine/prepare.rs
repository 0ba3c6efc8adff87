//! Turning a plan node into a runnable attempt: paths, environment and command line.
//!
//! One function renders both a real attempt and the `--dry-run` view, so what the plan
//! prints is exactly what would run. Environment order (later wins): secflow's own
//! environment (or only `PATH`, `HOME`, `LANG` with `env_clear`), workflow `env`, node `env`,
//! declared secrets, then `SECFLOW_*` and `TRACEPARENT`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::executor::AttemptSpec;
use crate::plan::shell::{self, ShellValue};
use crate::plan::template::{Namespace, Reference, Template, shell_quote};
use crate::plan::{Action, Plan, PlanNode, env_name};

/// Where a run keeps its files; every path handed to a process is absolute.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub run_dir: PathBuf,
    /// The run's records (its directory held open): datasets are moved and created beneath
    /// its descriptor, never through a symlink. `None` outside a run (`--dry-run`).
    pub records: Option<Arc<crate::store::RecordHealth>>,
}

impl RunPaths {
    /// Renames `from` to `to` within the run directory (beneath its descriptor when held).
    pub fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        match &self.records {
            Some(r) => r.rename(from, to),
            None => std::fs::rename(from, to),
        }
    }

    /// Creates (or truncates) the file `path` within the run directory.
    pub fn create_file(&self, path: &std::path::Path) -> std::io::Result<std::fs::File> {
        match &self.records {
            Some(r) => r.open_file(path, crate::sys::dirfd::Mode::Truncate),
            None => std::fs::File::create(path),
        }
    }

    /// A new file at `path` within the run directory, replacing whatever is there, its
    /// directories made: beneath the run directory's descriptor when held, never through a
    /// symlink (a `datasets/` swapped for one mid-run is refused, not followed).
    pub fn replace_file(&self, path: &std::path::Path) -> std::io::Result<std::fs::File> {
        use crate::sys::dirfd::Mode;
        let parent = path.parent().unwrap_or(&self.run_dir);
        match &self.records {
            Some(r) => {
                r.create_dir_all(parent)?;
                r.remove_file(path)?;
                r.open_file(path, Mode::CreateNew)
            }
            None => {
                std::fs::create_dir_all(parent)?;
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                std::fs::File::create_new(path)
            }
        }
    }

    /// Opens the regular file `path` within the run directory for reading (beneath its
    /// descriptor when held, never through a symlink).
    pub fn open_read(&self, path: &std::path::Path) -> std::io::Result<std::fs::File> {
        match &self.records {
            Some(r) => r.open_read(path),
            None => crate::store::open::open_regular(path),
        }
    }

    /// Removes the file `path` within the run directory (beneath its descriptor when held);
    /// a missing one is no error.
    pub fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        match &self.records {
            Some(r) => r.remove_file(path),
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    pub fn dataset(&self, name: &str) -> PathBuf {
        self.run_dir.join("datasets").join(format!("{name}.jsonl"))
    }

    /// `datasets/<name>.jsonl`, relative to the run directory (as run.json records it).
    pub fn dataset_rel(name: &str) -> String {
        format!("datasets/{name}.jsonl")
    }

    pub fn attempt_dir(&self, node_id: &str, attempt: u32) -> PathBuf {
        self.run_dir
            .join("nodes")
            .join(node_id)
            .join(attempt.to_string())
    }

    /// Where an attempt writes output `name` before it is promoted.
    pub fn scratch_output(&self, node_id: &str, attempt: u32, name: &str) -> PathBuf {
        self.attempt_dir(node_id, attempt)
            .join("out")
            .join(format!("{name}.jsonl"))
    }
}

/// What stays fixed for a whole run.
#[derive(Debug, Clone)]
pub struct Environment {
    /// secflow's environment when the run started, sorted by name.
    pub base: Vec<(OsString, OsString)>,
    /// Declared secrets: name and value.
    pub secrets: Vec<(String, String)>,
    /// secflow's working directory (the default `workdir`).
    pub cwd: PathBuf,
    /// This binary, for plugin commands starting with `secflow`.
    pub exe: PathBuf,
}

impl Environment {
    /// Captures the process environment; fails listing every declared secret that is unset.
    pub fn capture(plan: &Plan) -> Result<Environment, Vec<String>> {
        let mut secrets = Vec::new();
        let mut missing = Vec::new();
        for name in &plan.secrets {
            match std::env::var(name) {
                Ok(v) => secrets.push((name.clone(), v)),
                Err(_) => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        // Sorted once here: each attempt's map of it then needs no sort (`BTreeMap`'s
        // `from_iter` finds one run).
        let mut base: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(name, _)| !is_exporter_credential(name))
            .collect();
        base.sort();
        Ok(Environment {
            base,
            secrets,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("secflow")),
        })
    }

    pub fn secret_values(&self) -> Vec<String> {
        self.secrets.iter().map(|(_, v)| v.clone()).collect()
    }
}

/// Whether `name` is a variable holding secflow's own exporter credentials
/// (`OTEL_EXPORTER_OTLP_HEADERS` and its per-signal forms: collector API keys), which no
/// node inherits, `env_clear: false` included (SPEC §10: no secret reaches a tool).
pub fn is_exporter_credential(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with("OTEL_EXPORTER_OTLP_") && n.ends_with("HEADERS"))
}

/// Identity of the attempt being prepared.
#[derive(Debug, Clone)]
pub struct AttemptIds<'a> {
    pub run_id: &'a str,
    pub attempt: u32,
    pub traceparent: &'a str,
}

/// A rendered attempt: what to run, plus where its outputs will be.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub spec: AttemptSpec,
    /// (dataset name, scratch path) per declared output.
    pub outputs: Vec<(String, PathBuf)>,
    /// Names of the variables secflow set beyond its own environment, sorted.
    pub env_names: Vec<String>,
    /// The command for people: `sh -c '…'` or the argv, shell-quoted.
    pub display: String,
}

/// The interpreter of `run` lines.
const SHELL: &str = "/bin/sh";

/// Renders `node`'s attempt. `secrets` are the values to mask in its output.
pub fn prepare(
    plan: &Plan,
    node: &PlanNode,
    env: &Environment,
    paths: &RunPaths,
    ids: &AttemptIds<'_>,
    secrets: &Arc<[Vec<u8>]>,
) -> Result<Prepared, String> {
    let outputs: Vec<(String, PathBuf)> = node
        .outputs
        .iter()
        .map(|o| {
            let path = super::dir_output::scratch_path(paths, node, ids.attempt, o);
            (o.clone(), path)
        })
        .collect();
    let inputs: Vec<(String, PathBuf)> = node
        .inputs
        .iter()
        .map(|i| (i.clone(), super::dir_output::dataset_path(paths, node, i)))
        .collect();

    let mut vars: BTreeMap<OsString, OsString> = if node.env_clear {
        env.base
            .iter()
            .filter(|(k, _)| k == "PATH" || k == "HOME" || k == "LANG")
            .cloned()
            .collect()
    } else {
        env.base.iter().cloned().collect()
    };
    let mut names: Vec<String> = Vec::new();
    let mut set = |vars: &mut BTreeMap<OsString, OsString>, k: String, v: OsString| {
        names.push(k.clone());
        vars.insert(k.into(), v);
    };
    for (k, v) in &node.env {
        set(&mut vars, k.clone(), v.into());
    }
    for (k, v) in &env.secrets {
        set(&mut vars, k.clone(), v.into());
    }
    set(&mut vars, "SECFLOW_RUN_ID".into(), ids.run_id.into());
    set(&mut vars, "SECFLOW_NODE_ID".into(), node.id.clone().into());
    set(
        &mut vars,
        "SECFLOW_ATTEMPT".into(),
        ids.attempt.to_string().into(),
    );
    for (name, path) in &inputs {
        set(
            &mut vars,
            format!("SECFLOW_INPUT_{}", env_name(name)),
            path.into(),
        );
    }
    for (name, path) in &outputs {
        set(
            &mut vars,
            format!("SECFLOW_OUTPUT_{}", env_name(name)),
            path.into(),
        );
    }
    let lookup_base = Lookup {
        plan,
        node,
        inputs: &inputs,
        outputs: &outputs,
        env: &vars,
        config: None,
        run_id: ids.run_id,
    };
    let config = render_config(node, &lookup_base)?;
    let config_json = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    set(&mut vars, "SECFLOW_NODE_CONFIG".into(), config_json.into());
    set(&mut vars, "TRACEPARENT".into(), ids.traceparent.into());

    let lookup = Lookup {
        plan,
        node,
        inputs: &inputs,
        outputs: &outputs,
        env: &vars,
        config: Some(&config),
        run_id: ids.run_id,
    };
    let (argv, display, values) = command(node, env, &lookup)?;
    for (k, v) in values {
        names.push(k.clone());
        vars.insert(k.into(), v.into());
    }
    names.sort();
    names.dedup();
    let cwd = match &node.workdir {
        Some(w) if w.is_absolute() => w.clone(),
        Some(w) => env.cwd.join(w),
        None => env.cwd.clone(),
    };
    let dir = paths.attempt_dir(&node.id, ids.attempt);
    Ok(Prepared {
        spec: AttemptSpec {
            node_id: node.id.clone(),
            attempt: ids.attempt,
            argv,
            env: vars.into_iter().collect(),
            cwd,
            stdout_path: dir.join("stdout.log"),
            stderr_path: dir.join("stderr.log"),
            secrets: Arc::clone(secrets),
            records: None,
            grace: node.kill_grace,
        },
        outputs,
        env_names: names,
        display,
    })
}

/// The argv, its display for people and the variables that carry `run` template values.
type Command = (Vec<OsString>, String, Vec<(String, String)>);

/// Renders the node's command: a `run` line holds references to variables carrying its
/// values ([`crate::plan::shell`]); `command` arguments hold the values themselves.
fn command(node: &PlanNode, env: &Environment, lookup: &Lookup<'_>) -> Result<Command, String> {
    match &node.action {
        Action::Shell(t) => {
            let rendered = shell::render(t, |r| {
                if r.namespace == Namespace::Env && lookup.plan.secrets.contains(&r.key) {
                    Ok(ShellValue::Var(r.key.clone()))
                } else {
                    lookup.value(r).map(ShellValue::Value)
                }
            })?;
            let mut display: String = rendered
                .vars
                .iter()
                .map(|(k, v)| format!("{k}={} ", shell_quote(v)))
                .collect();
            // `/bin/sh` by its path: a `PATH` from the recipe or the caller's environment must
            // not choose the interpreter (a bash behind `sh` evaluates values in arithmetic
            // and name contexts that the template checks assume POSIX `sh` treats as data).
            display.push_str(&format!("{SHELL} -c {}", shell_quote(&rendered.line)));
            let argv = vec![SHELL.into(), "-c".into(), rendered.line.into()];
            Ok((argv, display, rendered.vars))
        }
        Action::Argv(parts) => {
            let mut argv: Vec<String> = Vec::with_capacity(parts.len());
            for t in parts {
                let arg = t.render(
                    |r| {
                        let v = lookup.value(r)?;
                        shell::check_len(r, v.len())?;
                        Ok::<_, String>(v)
                    },
                    |v| v.to_string(),
                )?;
                if arg.len() >= shell::MAX_ARG_STRLEN {
                    return Err(format!(
                        "an argument is {} bytes, over the kernel's limit of {} bytes",
                        arg.len(),
                        shell::MAX_ARG_STRLEN
                    ));
                }
                argv.push(arg);
            }
            let display = argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ");
            if node.kind != "exec" && argv.first().is_some_and(|a| a == "secflow") {
                argv[0] = env.exe.to_string_lossy().into_owned();
            }
            Ok((
                argv.into_iter().map(OsString::from).collect(),
                display,
                Vec::new(),
            ))
        }
    }
}

/// Resolves template references for one attempt.
struct Lookup<'a> {
    plan: &'a Plan,
    /// The node (an instance's item, index and matrix values).
    node: &'a PlanNode,
    inputs: &'a [(String, PathBuf)],
    outputs: &'a [(String, PathBuf)],
    env: &'a BTreeMap<OsString, OsString>,
    config: Option<&'a BTreeMap<String, serde_json::Value>>,
    run_id: &'a str,
}

impl Lookup<'_> {
    fn value(&self, r: &Reference) -> Result<String, String> {
        let path = |list: &[(String, PathBuf)]| {
            list.iter()
                .find(|(n, _)| *n == r.key)
                .map(|(_, p)| p.to_string_lossy().into_owned())
        };
        if r.namespace == Namespace::Env && self.plan.secrets.contains(&r.key) {
            return Err(format!(
                "template `{{{{ {r} }}}}` would paste a secret into an argument; the tool has it \
                 in its environment"
            ));
        }
        let found = match r.namespace {
            Namespace::Inputs => path(self.inputs),
            Namespace::Outputs => path(self.outputs),
            Namespace::Vars => self.plan.vars.get(&r.key).cloned(),
            Namespace::Env => self
                .env
                .get(std::ffi::OsStr::new(&r.key))
                .map(|v| v.to_string_lossy().into_owned()),
            Namespace::Config => self.config.and_then(|c| c.get(&r.key)).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            Namespace::Run => (r.key == "id").then(|| self.run_id.to_string()),
            Namespace::Item | Namespace::Index | Namespace::Matrix => {
                crate::engine::fanout::instance_value(self.node, r)
            }
        };
        found.ok_or_else(|| format!("template `{{{{ {r} }}}}` has no value at run time"))
    }
}

fn render_config(
    node: &PlanNode,
    lookup: &Lookup<'_>,
) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in &node.config {
        let rendered = match value {
            serde_json::Value::String(text) => {
                let t = Template::parse(text).map_err(|e| e.message)?;
                serde_json::Value::String(t.render(|r| lookup.value(r), |v| v.to_string())?)
            }
            other => other.clone(),
        };
        out.insert(key.clone(), rendered);
    }
    Ok(out)
}

/// Makes `p` absolute against the current directory.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
