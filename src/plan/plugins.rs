//! Plugins: the node types secflow knows besides `exec`, read from manifests.
//!
//! A manifest (YAML) names the plugin, its version and category, the node `type` it
//! provides, an argv command template, its accepted `config` keys with types and defaults,
//! and the outputs it writes. Built-in manifests (`plugins/*.yaml` in the source tree) are
//! embedded in the binary; then come `plugins/` beside the recipe, `$SECFLOW_HOME/plugins`
//! and each `--plugin-dir`, a later one overriding an earlier one with a warning. A bad
//! manifest is a located diagnostic, like a bad recipe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Pos, did_you_mean};
use crate::recipe::{Limits, Source};

/// The JSON type a config key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Integer,
    Number,
    #[serde(alias = "bool")]
    Boolean,
    List,
    Map,
}

impl ConfigType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Integer => "integer",
            ConfigType::Number => "number",
            ConfigType::Boolean => "boolean",
            ConfigType::List => "list",
            ConfigType::Map => "map",
        }
    }

    /// Whether `v` is of this type (a template string is accepted anywhere: its value is
    /// known only at run time).
    pub fn accepts(self, v: &Value) -> bool {
        match (self, v) {
            (_, Value::String(s)) if s.contains("{{") => true,
            (ConfigType::String, Value::String(_)) => true,
            (ConfigType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (ConfigType::Number, Value::Number(_)) => true,
            (ConfigType::Boolean, Value::Bool(_)) => true,
            (ConfigType::List, Value::Array(_)) => true,
            (ConfigType::Map, Value::Object(_)) => true,
            _ => false,
        }
    }
}

/// One accepted config key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    pub name: String,
    pub kind: ConfigType,
    /// `None` with `required` false means "absent unless given".
    pub default: Option<Value>,
    pub required: bool,
    pub help: String,
}

/// Where a plugin's manifest came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    BuiltIn,
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::BuiltIn => f.write_str("built-in"),
            PluginSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin that provides a node type.
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// The node `type` it provides.
    pub node_type: String,
    pub name: String,
    pub version: String,
    pub category: String,
    pub description: Option<String>,
    /// argv template; `secflow` as the first element is this binary.
    pub command: Vec<String>,
    pub config: Vec<ConfigKey>,
    /// The outputs it usually writes (a node may name its outputs as it likes).
    pub outputs: Vec<String>,
    pub source: PluginSource,
}

/// The plugins available to a recipe, by node type.
#[derive(Debug, Clone)]
pub struct Registry {
    plugins: Vec<Plugin>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// Only the built-in plugins (values equal to what their manifests parse to, see
    /// [`super::builtin_plugins`]: no YAML parse at start-up).
    pub fn builtin() -> Registry {
        Registry {
            plugins: super::builtin_plugins::plugins(),
        }
    }

    /// Built-ins, then the manifests (`*.yaml`, `*.yml`) in each directory in order; a
    /// missing directory is passed over. Returns the registry and warnings (overrides), or
    /// every problem found in the manifests.
    pub fn load(dirs: &[PathBuf]) -> Result<(Registry, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut registry = Registry::builtin();
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            for file in files {
                match read_manifest(&file) {
                    Ok(plugin) => {
                        if let Some(w) = registry.insert(plugin) {
                            warnings.push(w);
                        }
                    }
                    Err(mut d) => errors.append(&mut d),
                }
            }
        }
        if errors.is_empty() {
            Ok((registry, warnings))
        } else {
            Err(errors)
        }
    }

    /// Adds `plugin`, replacing one for the same node type (with a warning).
    fn insert(&mut self, plugin: Plugin) -> Option<Diagnostic> {
        let PluginSource::File(path) = &plugin.source else {
            self.plugins.push(plugin);
            return None;
        };
        let file = path.display().to_string();
        let warning = self.find(&plugin.node_type).map(|old| {
            Diagnostic::warning(
                &file,
                Pos::default(),
                "plugin-override",
                format!(
                    "plugin `{}` {} overrides `{}` {} ({}) for node type `{}`",
                    plugin.name,
                    plugin.version,
                    old.name,
                    old.version,
                    old.source,
                    plugin.node_type
                ),
            )
        });
        self.plugins.retain(|p| p.node_type != plugin.node_type);
        self.plugins.push(plugin);
        warning
    }

    /// The plugin providing `node_type`, if any.
    pub fn find(&self, node_type: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.node_type == node_type)
    }

    /// Every plugin, in load order.
    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// Every node type a recipe may use, `exec` first.
    pub fn known_types(&self) -> Vec<&str> {
        std::iter::once("exec")
            .chain(self.plugins.iter().map(|p| p.node_type.as_str()))
            .collect()
    }
}

/// The plugin directories for a recipe, in search order (built-ins come first, implicitly).
pub fn search_dirs(recipe: &Path, state_dir: Option<&Path>, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = recipe.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        dirs.push(parent.join("plugins"));
    }
    if let Some(state) = state_dir {
        dirs.push(state.join("plugins"));
    }
    dirs.extend(extra.iter().cloned());
    dirs
}

fn read_manifest(path: &Path) -> Result<Plugin, Vec<Diagnostic>> {
    // `/proc/self/environ` is a "regular file" whose parse error would name the
    // environment's first variable: kernel pseudo-files are refused unread.
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if crate::recipe::is_kernel_pseudo_file(&canonical) {
        return Err(vec![
            Diagnostic::error(
                &path.display().to_string(),
                Pos::default(),
                "bad-manifest",
                "a plugin manifest cannot be a kernel pseudo-file",
            )
            .with_hint("plugin directories hold manifest files (not links into /proc or /sys)"),
        ]);
    }
    let source = crate::recipe::read_source(path, &Limits::default()).map_err(|d| vec![d])?;
    parse_manifest(&source, PluginSource::File(path.to_path_buf()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    category: Option<String>,
    provides: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    command: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<RawConfigKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfigKey {
    #[serde(rename = "type")]
    kind: ConfigType,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    help: String,
}

/// Parses and checks one manifest.
pub fn parse_manifest(source: &Source, origin: PluginSource) -> Result<Plugin, Vec<Diagnostic>> {
    // A file in a plugin directory that is not a manifest (a symlink to a credentials or env
    // file) is located, never quoted: only a parsed manifest's lines are shown.
    let raw: RawManifest =
        crate::recipe::parse_yaml(source, &Limits::default()).map_err(|d| vec![d.unquoted()])?;
    let file = source.path.as_str();
    let mut errors = Vec::new();
    let at = |s: Pos| s;
    for (what, value) in [("name", &raw.name), ("provides", &raw.provides)] {
        if !crate::plan::is_valid_name(&value.value) {
            errors.push(Diagnostic::error(
                file,
                at(Pos::from(value.referenced)),
                "bad-manifest",
                format!("`{what}` `{}` is not a valid name", value.value),
            ));
        }
    }
    if raw.provides.value == "exec" {
        errors.push(Diagnostic::error(
            file,
            Pos::from(raw.provides.referenced),
            "bad-manifest",
            "a plugin cannot provide the built-in type `exec`",
        ));
    }
    if raw.command.value.is_empty() {
        errors.push(Diagnostic::error(
            file,
            Pos::from(raw.command.referenced),
            "bad-manifest",
            "`command` is an empty list",
        ));
    }
    for part in &raw.command.value {
        if let Err(e) = super::Template::parse(&part.value) {
            errors.push(
                Diagnostic::error(file, Pos::from(part.referenced), "bad-template", e.message)
                    .with_hint(e.hint.unwrap_or_default()),
            );
        }
    }
    let mut config = Vec::new();
    for (name, key) in &raw.config {
        let k = &key.value;
        if let Some(default) = &k.default
            && !k.kind.accepts(default)
        {
            errors.push(Diagnostic::error(
                file,
                Pos::from(key.referenced),
                "bad-manifest",
                format!(
                    "default of config key `{name}` is not of type {}",
                    k.kind.as_str()
                ),
            ));
        }
        config.push(ConfigKey {
            name: name.clone(),
            kind: k.kind,
            default: k.default.clone(),
            required: k.required,
            help: k.help.clone(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Plugin {
        node_type: raw.provides.value,
        name: raw.name.value,
        version: raw.version.value,
        category: raw.category.unwrap_or_else(|| "other".into()),
        description: raw.description,
        command: raw.command.value.into_iter().map(|s| s.value).collect(),
        config,
        outputs: raw.outputs,
        source: origin,
    })
}

/// A problem with one config key of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    Unknown {
        key: String,
        suggestion: Option<String>,
    },
    WrongType {
        key: String,
        expected: ConfigType,
    },
    Missing {
        key: String,
    },
}

/// Checks `config` against the plugin's keys and returns it with defaults filled in.
pub fn check_config(
    plugin: &Plugin,
    config: &BTreeMap<String, Value>,
) -> (BTreeMap<String, Value>, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    for (name, value) in config {
        match plugin.config.iter().find(|k| k.name == *name) {
            None => problems.push(ConfigProblem::Unknown {
                key: name.clone(),
                suggestion: did_you_mean(name, plugin.config.iter().map(|k| k.name.as_str()))
                    .map(str::to_string),
            }),
            Some(k) if !k.kind.accepts(value) => problems.push(ConfigProblem::WrongType {
                key: name.clone(),
                expected: k.kind,
            }),
            Some(_) => {}
        }
    }
    let mut full = config.clone();
    for k in &plugin.config {
        if full.contains_key(&k.name) {
            continue;
        }
        match &k.default {
            Some(v) => {
                full.insert(k.name.clone(), v.clone());
            }
            None if k.required => problems.push(ConfigProblem::Missing {
                key: k.name.clone(),
            }),
            None => {}
        }
    }
    (full, problems)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn builtins_load() {
        let r = Registry::builtin();
        assert_eq!(
            r.known_types(),
            ["exec", "discovery.ferox", "scan.nuclei", "enrich.cve"]
        );
        assert_eq!(r.find("scan.nuclei").unwrap().name, "nuclei-stub");
    }

    #[test]
    fn reports_unknown_wrong_and_fills_defaults() {
        let r = Registry::builtin();
        let p = r.find("discovery.ferox").unwrap();
        let mut config = BTreeMap::new();
        config.insert("thread".to_string(), json!(5));
        config.insert("count".to_string(), json!("many"));
        let (full, problems) = check_config(p, &config);
        assert_eq!(
            problems,
            vec![
                ConfigProblem::WrongType {
                    key: "count".into(),
                    expected: ConfigType::Integer
                },
                ConfigProblem::Unknown {
                    key: "thread".into(),
                    suggestion: Some("threads".into())
                },
            ]
        );
        assert_eq!(full["seed"], json!(42));
    }

    #[test]
    fn a_bad_manifest_is_located() {
        let source = Source {
            path: "m.yaml".into(),
            text: "name: x\nversion: 1\nprovides: t.x\ncommand: [a]\nconfig:\n  k: { type: integer, default: \"no\" }\n".into(),
            sha256: String::new(),
        };
        let errors = parse_manifest(&source, PluginSource::BuiltIn).unwrap_err();
        assert_eq!(errors[0].line, 6);
        let source = Source {
            text: "name: x\nversion: 1\nprovides: t.x\ncomand: [a]\n".into(),
            ..source
        };
        let errors = parse_manifest(&source, PluginSource::BuiltIn).unwrap_err();
        assert_eq!(errors[0].code, "unknown-field");
    }
}
