//! The node types secflow knows besides `exec`: built-in plugins and their config keys.
//!
//! Each built-in simulates one of SecFlow's tools deterministically through the hidden
//! `secflow stub` subcommand, so the sample recipes run on a machine with nothing else
//! installed. A plugin's command is an argv template; its first element `secflow` means this
//! binary. Config is checked against the plugin's keys ([`check_config`]) and defaults are
//! filled in, so SecFlow's original recipes run unchanged.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The JSON type a config key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    String,
    Integer,
    Number,
    Bool,
    List,
}

impl ConfigType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Integer => "integer",
            ConfigType::Number => "number",
            ConfigType::Bool => "boolean",
            ConfigType::List => "list",
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
            (ConfigType::Bool, Value::Bool(_)) => true,
            (ConfigType::List, Value::Array(_)) => true,
            _ => false,
        }
    }
}

/// One accepted config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub kind: ConfigType,
    /// JSON text of the default; `None` means the key is required.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

/// A plugin that provides a node type.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// The node `type` it provides.
    pub node_type: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub category: &'static str,
    /// argv template; `secflow` as the first element is this binary.
    pub command: &'static [&'static str],
    pub config: &'static [ConfigKey],
    /// The outputs it writes (a node may name them as it likes; these are the usual names).
    pub outputs: &'static [&'static str],
}

const fn key(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    help: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        kind,
        default: Some(default),
        help,
    }
}

/// Simulation keys every built-in accepts.
macro_rules! sim_keys {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            key("seed", ConfigType::Integer, "42", "seed of the deterministic simulation"),
            key("latency_ms", ConfigType::Number, "2", "simulated milliseconds per item"),
            key("failure_rate", ConfigType::Number, "0", "probability (0-1) that an attempt fails, to exercise retries"),
            key("timeout", ConfigType::Number, "30", "the tool's own timeout in seconds (accepted for SecFlow recipes)"),
        ]
    };
}

/// The built-in plugins, embedded in the binary.
pub const BUILTIN: &[Plugin] = &[
    Plugin {
        node_type: "discovery.ferox",
        name: "ferox-stub",
        version: "0.1.0",
        category: "discovery",
        command: &["secflow", "stub", "discovery"],
        config: sim_keys![
            key(
                "target",
                ConfigType::String,
                "\"http://127.0.0.1:8080\"",
                "base URL to discover paths under"
            ),
            key(
                "wordlist",
                ConfigType::String,
                "\"res://wordlists/common:latest\"",
                "wordlist (an opaque resource name)"
            ),
            key("threads", ConfigType::Integer, "10", "concurrent requests"),
            key(
                "count",
                ConfigType::Integer,
                "25",
                "how many URLs to discover"
            ),
        ],
        outputs: &["urls"],
    },
    Plugin {
        node_type: "scan.nuclei",
        name: "nuclei-stub",
        version: "0.1.0",
        category: "scan",
        command: &["secflow", "stub", "scan"],
        config: sim_keys![
            key(
                "templates",
                ConfigType::String,
                "\"res://nuclei-templates:latest\"",
                "template set (an opaque resource name)"
            ),
            key(
                "rate_limit",
                ConfigType::Integer,
                "150",
                "requests per second"
            ),
            key(
                "max_findings_per_url",
                ConfigType::Integer,
                "2",
                "upper bound of findings per URL"
            ),
        ],
        outputs: &["findings"],
    },
    Plugin {
        node_type: "enrich.cve",
        name: "cve-stub",
        version: "0.1.0",
        category: "enrichment",
        command: &["secflow", "stub", "enrich"],
        config: sim_keys![key(
            "sources",
            ConfigType::List,
            "[\"nvd\"]",
            "advisory sources to consult"
        )],
        outputs: &["enriched_findings"],
    },
];

/// The plugin providing `node_type`, if any.
pub fn find(node_type: &str) -> Option<&'static Plugin> {
    BUILTIN.iter().find(|p| p.node_type == node_type)
}

/// Every node type a recipe may use, `exec` first.
pub fn known_types() -> impl Iterator<Item = &'static str> {
    std::iter::once("exec").chain(BUILTIN.iter().map(|p| p.node_type))
}

/// A problem with one config key.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    Unknown {
        key: String,
        suggestion: Option<&'static str>,
    },
    WrongType {
        key: String,
        expected: ConfigType,
    },
    Missing {
        key: &'static str,
    },
}

/// Checks `config` against the plugin's keys and returns it with defaults filled in.
pub fn check_config(
    plugin: &Plugin,
    config: &BTreeMap<String, Value>,
) -> (BTreeMap<String, Value>, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let names = plugin.config.iter().map(|k| k.name);
    for (name, value) in config {
        match plugin.config.iter().find(|k| k.name == name) {
            None => problems.push(ConfigProblem::Unknown {
                key: name.clone(),
                suggestion: crate::diag::did_you_mean(name, names.clone()),
            }),
            Some(k) if !k.kind.accepts(value) => problems.push(ConfigProblem::WrongType {
                key: name.clone(),
                expected: k.kind,
            }),
            Some(_) => {}
        }
    }
    let mut full = config.clone();
    for k in plugin.config {
        if full.contains_key(k.name) {
            continue;
        }
        match k.default {
            Some(text) => {
                full.insert(
                    k.name.to_string(),
                    serde_json::from_str(text).unwrap_or(json!(null)),
                );
            }
            None => problems.push(ConfigProblem::Missing { key: k.name }),
        }
    }
    (full, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_match_their_types() {
        for p in BUILTIN {
            for k in p.config {
                let v: Value = serde_json::from_str(k.default.unwrap()).unwrap();
                assert!(k.kind.accepts(&v), "{}: {}", p.name, k.name);
            }
        }
    }

    #[test]
    fn reports_unknown_wrong_and_fills_defaults() {
        let p = find("discovery.ferox").unwrap();
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
                    suggestion: Some("threads")
                },
            ]
        );
        assert_eq!(full["seed"], json!(42));
    }
}
