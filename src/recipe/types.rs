//! Raw recipe types: exactly what the YAML says, with source spans, before any validation.
//!
//! These types are the single definition of the recipe format (version "1.0"): serde reads
//! them from YAML with `deny_unknown_fields`, and schemars derives the JSON Schema that
//! `secflow schema` prints from the same definitions. Semantic checks live in [`crate::plan`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

use crate::diag::Pos;

/// A value with the place in the recipe it came from.
///
/// Read through the parser's [`Spanned`], keeping only what diagnostics use (the line and
/// column where the value is referenced): 8 bytes beside the value instead of Spanned's 56,
/// which a recipe pays for every id, argument and dependency of every node.
#[derive(Debug, Clone, PartialEq)]
pub struct S<T> {
    pub value: T,
    /// Where the value is written (for an alias, where the alias is).
    pub referenced: At,
}

impl<T> S<T> {
    pub const fn new(value: T, referenced: At) -> Self {
        S { value, referenced }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for S<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(deserializer)?;
        Ok(S {
            value: spanned.value,
            referenced: At::from(spanned.referenced),
        })
    }
}

/// The value alone, as [`Spanned`] writes itself (schemars shows field defaults through it).
impl<T: Serialize> Serialize for S<T> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.value.serialize(serializer)
    }
}

/// A place in a recipe: 1-based line and column (0 when unknown), as the parser counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At {
    line: u32,
    column: u32,
}

impl From<serde_saphyr::Location> for At {
    fn from(loc: serde_saphyr::Location) -> Self {
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let line = narrow(loc.line()).min(super::include::LINE_MASK);
        At {
            line: line | (super::include::current_file() << super::include::FILE_SHIFT),
            column: narrow(loc.column()),
        }
    }
}

/// A place in an included file keeps the file's index (0: the recipe itself) in the bits of
/// `Pos::line` above 32; [`crate::recipe::split_pos`] takes it apart.
impl From<At> for Pos {
    fn from(at: At) -> Self {
        let file = u64::from(at.line >> super::include::FILE_SHIFT);
        Pos {
            line: u64::from(at.line & super::include::LINE_MASK) | (file << 32),
            column: u64::from(at.column),
        }
    }
}

/// A whole recipe file.
///
/// Unknown top-level keys are refused after parsing (see `include::check_extra`): the
/// catch-all `extra` lets `x-` keys through, a home for YAML anchors.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "secflow recipe",
    description = "A secflow workflow recipe (format 1.0).",
    extend("additionalProperties" = false, "patternProperties" = {"^x-": {}})
)]
pub struct RawRecipe {
    /// Recipe format version; must be "1.0".
    #[schemars(with = "String")]
    pub version: S<String>,
    /// Workflow name, shown in history and reports.
    #[schemars(with = "String")]
    pub name: S<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Variables for `{{ vars.X }}` templates, overridable with `--var k=v`.
    /// A var whose default is a list is a list var: `foreach: "{{ vars.X }}"` fans out over
    /// it and `--var X=a,b,c` splits on commas (`\,` is a literal comma).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VarDefaultSchema>")]
    pub vars: BTreeMap<String, S<VarValue>>,
    /// Environment for every node, applied after secflow's own.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Scalar>")]
    pub env: BTreeMap<String, S<String>>,
    /// Start every node from an empty environment (but `PATH`, `HOME`, `LANG`).
    #[serde(default)]
    pub env_clear: Option<bool>,
    /// Names of environment variables passed through to nodes and masked everywhere.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<S<String>>,
    /// How many nodes run at once (default: the executor's own).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub concurrency: Option<S<u32>>,
    /// Workflow-wide retry policy; nodes may override it.
    #[serde(default)]
    pub retry: Option<RawRetry>,
    /// Checkpointing, resume and cache settings.
    #[serde(default)]
    pub state: Option<RawState>,
    /// Default seconds between SIGTERM and SIGKILL when a node is stopped.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub kill_grace: Option<S<String>>,
    /// Default executor: `local` or `slurm`.
    #[serde(default)]
    #[schemars(with = "Option<ExecutorName>")]
    pub executor: Option<S<String>>,
    /// Options for the Slurm executor.
    #[serde(default)]
    pub slurm: Option<RawSlurm>,
    /// The nodes of the DAG.
    pub nodes: Vec<RawNode>,
    /// Recipe files merged into this one (paths relative to this file): their `vars`, `env`,
    /// `secrets` and `nodes`; this file's vars and env win.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub include: Vec<S<String>>,
    /// Every other top-level key: only `x-…` keys are accepted, and ignored.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, serde::de::IgnoredAny>,
    /// The included files, in the order they were read (index + 1 is a place's file index).
    #[serde(skip)]
    #[schemars(skip)]
    pub included: Vec<super::Source>,
}

/// An included recipe file (SPEC §9): `version` optional, `name` and `description` ignored,
/// workflow-wide settings refused.
#[derive(Debug, Deserialize)]
pub struct RawInclude {
    #[serde(default)]
    pub version: Option<S<String>>,
    #[serde(default)]
    pub name: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub description: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub vars: BTreeMap<String, S<VarValue>>,
    #[serde(default)]
    pub env: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub secrets: Vec<S<String>>,
    #[serde(default)]
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub include: Vec<S<String>>,
    /// Every other key: `x-…` ignored, the workflow-wide settings and the rest refused.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde::de::IgnoredAny>,
}

/// One node: a tool invocation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Unique id: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`.
    #[schemars(with = "String")]
    pub id: S<String>,
    /// `exec`, or a plugin node type such as `discovery.ferox` (default `exec`).
    #[serde(default, rename = "type")]
    #[schemars(with = "Option<String>")]
    pub kind: Option<S<String>>,
    /// Plugin configuration; string values may use templates.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub config: BTreeMap<String, S<serde_json::Value>>,
    /// Datasets this node reads (each produced by another node's `outputs`).
    #[serde(default, deserialize_with = "exact")]
    #[schemars(with = "Vec<String>")]
    pub inputs: Vec<S<String>>,
    /// Datasets this node writes: names, or `{ name, dir: true }` for a directory output.
    #[serde(default)]
    #[schemars(with = "Vec<super::outputs::OutputEntry>")]
    pub outputs: super::outputs::Outputs,
    /// Shell command, run through `sh -c` (exec nodes).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub run: Option<S<String>>,
    /// Command as an argv list, run without a shell (exec nodes).
    #[serde(default, deserialize_with = "exact_argv")]
    #[schemars(with = "Option<Vec<String>>")]
    pub command: Option<S<Argv>>,
    /// Extra edges beside data flow.
    #[serde(default, deserialize_with = "exact")]
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<S<String>>,
    /// Environment for this node, after the workflow's.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Scalar>")]
    pub env: BTreeMap<String, S<String>>,
    /// Start from an empty environment (overrides the workflow's setting).
    #[serde(default)]
    pub env_clear: Option<bool>,
    /// Working directory (default: where secflow was started).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub workdir: Option<S<String>>,
    /// Per-attempt time limit: seconds, or a duration such as "5m".
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub timeout: Option<S<String>>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub kill_grace: Option<S<String>>,
    /// A failure lets dependants run and does not fail the run.
    #[serde(default)]
    pub continue_on_error: Option<bool>,
    /// Per-node retry policy, overriding the workflow's field by field.
    #[serde(default)]
    pub retry: Option<Box<RawRetry>>,
    /// Executor for this node: `local` or `slurm`.
    #[serde(default)]
    #[schemars(with = "Option<ExecutorName>")]
    pub executor: Option<S<String>>,
    /// Slurm options for this node, over the workflow's.
    #[serde(default)]
    pub slurm: Option<Box<RawSlurm>>,
    /// `false` turns the node cache off for this node (default: on when
    /// `state.cache_intermediate` is).
    #[serde(default)]
    pub cache: Option<bool>,
    /// Files the node reads on its own (globset globs, relative to its workdir): their paths
    /// and contents enter its cache key and the resume change check.
    #[serde(default, deserialize_with = "exact")]
    #[schemars(with = "Vec<String>")]
    pub sources: Vec<S<String>>,
    /// A condition (SPEC §9), e.g. `{{ vars.mode }} == 'full' && records(inputs.hosts) > 0`:
    /// false skips the node with reason `condition false: <expr>`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when: Option<S<String>>,
    /// Which upstream outcomes let the node run: `all_succeeded` (default), `none_failed`
    /// (the join after an if/else pair), `all_done` (clean-up, notification).
    #[serde(default)]
    #[schemars(with = "Option<TriggerName>")]
    pub trigger: Option<S<String>>,
    /// One instance of the node per item: a YAML list (scalars or maps), `"{{ vars.X }}"`
    /// (X a list var) or `"{{ inputs.D }}"` (one item per record of input D, known when its
    /// producer has finished).
    #[serde(default)]
    #[schemars(with = "Option<ForeachSchema>")]
    pub foreach: Option<S<serde_json::Value>>,
    /// One instance per combination of the lists (keys in recipe order, the last varying
    /// fastest); `{{ matrix.NAME }}`. Not with `foreach`.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Vec<Scalar>>>")]
    pub matrix: Option<S<OrderedLists>>,
    /// At most this many instances of the node run at once.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub foreach_concurrency: Option<S<u32>>,
    /// Most instances the node may fan out to (default 10 000, or `--max-instances`).
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub max_instances: Option<S<u64>>,
}

/// A list read without spare room (a first `push` reserves four): recipes hold a few short
/// lists per node, mostly of one item, for thousands of nodes.
fn exact<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let mut list = Vec::<T>::deserialize(deserializer)?;
    list.shrink_to_fit();
    Ok(list)
}

/// A `command` list: each argument with its place.
pub type Argv = Vec<S<String>>;

/// `command`, as [`exact`] reads lists.
fn exact_argv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<S<Argv>>, D::Error> {
    let mut argv = Option::<S<Argv>>::deserialize(deserializer)?;
    if let Some(argv) = &mut argv {
        argv.value.shrink_to_fit();
    }
    Ok(argv)
}

/// Retry policy. `max_attempts` counts the first attempt.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, first included (1 = no retry).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub max_attempts: Option<S<u32>>,
    /// Multiplier of the delay between successive retries.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 1.0))]
    pub backoff_factor: Option<S<f64>>,
    /// Seconds before the first retry.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub base_delay: Option<S<String>>,
    /// Upper bound of any delay, in seconds.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub max_delay: Option<S<String>>,
    /// Which failures are retried: exit codes and/or `timeout`, `signal`, `any`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Scalar>>")]
    pub retry_on: Option<Vec<S<String>>>,
}

/// Checkpoint, resume and cache settings.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// Seconds between checkpoints of run.json and the metrics snapshot (default 1).
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub checkpoint_interval: Option<S<String>>,
    /// A plain run of a recipe whose latest run failed resumes it.
    #[serde(default)]
    pub resume_on_failure: Option<bool>,
    /// Cache node outputs keyed by their inputs and definition.
    #[serde(default)]
    pub cache_intermediate: Option<bool>,
}

/// Options for the Slurm executor.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSlurm {
    /// Partition (`sbatch --partition`).
    #[serde(default)]
    pub partition: Option<String>,
    /// Time limit as Slurm reads it (`sbatch --time`), e.g. "10:00".
    #[serde(default)]
    pub time: Option<String>,
    /// CPUs per task.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub cpus: Option<S<u32>>,
    /// Memory as Slurm reads it (`sbatch --mem`), e.g. "512M".
    #[serde(default)]
    pub mem: Option<String>,
    /// Extra `sbatch` arguments.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Seconds between polls of the queue.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub poll_interval: Option<S<String>>,
}

/// Schema of a duration: a number of seconds, or text such as `500ms`, `30s`, `5m`, `1h30m`.
pub enum DurationValue {}

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Seconds as a number, or text such as `500ms`, `30s`, `5m`, `1h30m`.",
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)?\\s*)+$"}
            ]
        })
    }
}

/// Schema of a YAML scalar: string, number or boolean (read as text).
pub enum Scalar {}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// Schema of an executor name.
pub enum ExecutorName {}

impl JsonSchema for ExecutorName {
    fn schema_name() -> Cow<'static, str> {
        "Executor".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": ["local", "slurm"]})
    }
}

/// Schema of a `trigger` value.
pub enum TriggerName {}

impl JsonSchema for TriggerName {
    fn schema_name() -> Cow<'static, str> {
        "Trigger".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": ["all_succeeded", "none_failed", "all_done"]})
    }
}

/// A `vars` default: a scalar (read as text) or a list of scalars (a list var).
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Text(String),
    /// A plain scalar YAML typed (a number or boolean): its text as the parser rendered it;
    /// the plan reads the text as written from the source (`y` stays `y`, `1.10` stays
    /// `1.10`), as it did when vars were read as strings.
    Typed(String),
    List(Vec<S<ListItem>>),
}

/// One item of a list var's default.
#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    pub text: String,
    /// A plain scalar YAML typed (see [`VarValue::Typed`]).
    pub typed: bool,
}

impl<'de> Deserialize<'de> for ListItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ListItem;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ListItem, E> {
                Ok(ListItem {
                    text: v.to_string(),
                    typed: false,
                })
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ListItem, E> {
                Ok(ListItem {
                    text: v.to_string(),
                    typed: true,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ListItem, E> {
                Ok(ListItem {
                    text: v.to_string(),
                    typed: true,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ListItem, E> {
                Ok(ListItem {
                    text: v.to_string(),
                    typed: true,
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ListItem, E> {
                Ok(ListItem {
                    text: v.to_string(),
                    typed: true,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl VarValue {
    /// The text of a scalar; a list's items joined with commas.
    pub fn text(&self) -> String {
        match self {
            VarValue::Text(t) | VarValue::Typed(t) => t.clone(),
            VarValue::List(items) => items
                .iter()
                .map(|i| i.value.text.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl<'de> Deserialize<'de> for VarValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = VarValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number, boolean or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<VarValue, E> {
                Ok(VarValue::Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<VarValue, E> {
                Ok(VarValue::Text(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<VarValue, E> {
                Ok(VarValue::Typed(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VarValue, E> {
                Ok(VarValue::Typed(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VarValue, E> {
                Ok(VarValue::Typed(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<VarValue, E> {
                Ok(VarValue::Typed(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<VarValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<S<ListItem>>()? {
                    items.push(item);
                }
                Ok(VarValue::List(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for VarValue {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        match self {
            VarValue::Text(t) | VarValue::Typed(t) => t.serialize(serializer),
            VarValue::List(l) => l
                .iter()
                .map(|i| i.value.text.as_str())
                .collect::<Vec<_>>()
                .serialize(serializer),
        }
    }
}

/// A map of NAME → list that keeps the recipe's key order (`matrix`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderedLists(pub Vec<(String, Vec<serde_json::Value>)>);

impl<'de> Deserialize<'de> for OrderedLists {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedLists;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of NAME to a list of values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedLists, A::Error> {
                let mut out: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Vec<serde_json::Value>>()? {
                    if out.iter().any(|(n, _)| *n == k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate matrix key `{k}`"
                        )));
                    }
                    out.push((k, v));
                }
                Ok(OrderedLists(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl Serialize for OrderedLists {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Schema of a `vars` default: a scalar or a list of scalars.
pub enum VarDefaultSchema {}

impl JsonSchema for VarDefaultSchema {
    fn schema_name() -> Cow<'static, str> {
        "VarDefault".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A scalar, or a list of scalars (a list var).",
            "anyOf": [
                {"type": ["string", "number", "boolean"]},
                {"type": "array", "items": {"type": ["string", "number", "boolean"]}}
            ]
        })
    }
}

/// Schema of a `foreach` source.
pub enum ForeachSchema {}

impl JsonSchema for ForeachSchema {
    fn schema_name() -> Cow<'static, str> {
        "Foreach".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A list of scalars or maps, or `{{ vars.X }}` (a list var), or `{{ inputs.D }}` (the records of input D).",
            "anyOf": [
                {"type": "array", "items": {"type": ["string", "number", "boolean", "object"]}},
                {"type": "string", "pattern": "^\\s*\\{\\{\\s*(vars|inputs)\\.[A-Za-z0-9_.-]+\\s*\\}\\}\\s*$"}
            ]
        })
    }
}
