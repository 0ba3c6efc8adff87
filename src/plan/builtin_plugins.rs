//! The built-in plugins as values: what `plugins/*.yaml` (the manifests users read and copy)
//! parse to, built without a YAML parse at start-up (parsing the three manifests was 44 % of
//! `validate-recipe`'s instructions). The test below keeps the two equal.

use serde_json::{Value, json};

use super::plugins::{ConfigKey, ConfigType, Plugin, PluginSource};

/// The built-in manifests (what [`plugins`] must equal).
#[cfg(test)]
const MANIFESTS: &[(&str, &str)] = &[
    (
        "plugins/ferox-stub.yaml",
        include_str!("../../plugins/ferox-stub.yaml"),
    ),
    (
        "plugins/nuclei-stub.yaml",
        include_str!("../../plugins/nuclei-stub.yaml"),
    ),
    (
        "plugins/cve-stub.yaml",
        include_str!("../../plugins/cve-stub.yaml"),
    ),
];

fn key(name: &str, kind: ConfigType, default: Value, help: &str) -> ConfigKey {
    ConfigKey {
        name: name.into(),
        kind,
        default: Some(default),
        required: false,
        help: help.into(),
    }
}

/// The keys every stub takes, after its own.
fn stub_keys(mut keys: Vec<ConfigKey>) -> Vec<ConfigKey> {
    use ConfigType::{Integer, Number};
    keys.extend([
        key(
            "timeout",
            Number,
            json!(30),
            "the tool's own timeout in seconds",
        ),
        key(
            "seed",
            Integer,
            json!(42),
            "seed of the deterministic simulation",
        ),
        key(
            "latency_ms",
            Number,
            json!(2),
            "simulated milliseconds per item",
        ),
        key(
            "failure_rate",
            Number,
            json!(0),
            "probability (0-1) that an attempt fails",
        ),
    ]);
    // A manifest's `config` is a map: its keys come out sorted.
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    keys
}

fn stub(
    (name, node_type, category): (&str, &str, &str),
    description: &str,
    verb: &str,
    output: &str,
    keys: Vec<ConfigKey>,
) -> Plugin {
    Plugin {
        node_type: node_type.into(),
        name: name.into(),
        version: "0.1.0".into(),
        category: category.into(),
        description: Some(description.into()),
        command: vec!["secflow".into(), "stub".into(), verb.into()],
        config: stub_keys(keys),
        outputs: vec![output.into()],
        source: PluginSource::BuiltIn,
    }
}

/// The built-in plugins, in the order of `plugins/` listed in the test's `MANIFESTS`.
pub fn plugins() -> Vec<Plugin> {
    use ConfigType::{Integer, List, String};
    vec![
        stub(
            ("ferox-stub", "discovery.ferox", "discovery"),
            "Discovered URLs under a target, as JSON lines {url, status, length, words}.",
            "discovery",
            "urls",
            vec![
                key(
                    "target",
                    String,
                    json!("http://127.0.0.1:8080"),
                    "base URL to discover paths under",
                ),
                key(
                    "wordlist",
                    String,
                    json!("res://wordlists/common:latest"),
                    "wordlist (an opaque resource name)",
                ),
                key("threads", Integer, json!(10), "concurrent requests"),
                key("count", Integer, json!(25), "how many URLs to discover"),
            ],
        ),
        stub(
            ("nuclei-stub", "scan.nuclei", "scan"),
            "Findings as JSON lines {template_id, severity, name, url, matched_at}.",
            "scan",
            "findings",
            vec![
                key(
                    "templates",
                    String,
                    json!("res://nuclei-templates:latest"),
                    "template set (an opaque resource name)",
                ),
                key("rate_limit", Integer, json!(150), "requests per second"),
                key(
                    "max_findings_per_url",
                    Integer,
                    json!(2),
                    "upper bound of findings per URL",
                ),
            ],
        ),
        stub(
            ("cve-stub", "enrich.cve", "enrichment"),
            "Each finding with `cve`, `cvss` and `sources` added.",
            "enrich",
            "enriched",
            vec![key(
                "sources",
                List,
                json!(["nvd"]),
                "advisory sources to consult",
            )],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plugins::parse_manifest;
    use crate::recipe::Source;

    #[test]
    fn the_built_in_values_are_what_their_manifests_parse_to() {
        let values = plugins();
        assert_eq!(values.len(), MANIFESTS.len());
        for ((path, text), value) in MANIFESTS.iter().zip(values) {
            let source = Source {
                path: (*path).to_string(),
                text: (*text).to_string(),
                sha256: String::new(),
            };
            let parsed = parse_manifest(&source, PluginSource::BuiltIn)
                .unwrap_or_else(|d| panic!("{path}: {}", d[0].message));
            assert_eq!(
                value, parsed,
                "{path}: edit plugins() to match the manifest"
            );
        }
    }
}
