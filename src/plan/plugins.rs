//! The node types secflow knows besides `exec`: built-in plugins.
//!
//! Each built-in simulates one of SecFlow's tools deterministically through a hidden
//! `secflow` subcommand, so the sample recipes run on a machine with nothing else installed.
//! A plugin's command is an argv template; its first element `secflow` means this binary.

/// A plugin that provides a node type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plugin {
    /// The node `type` it provides.
    pub node_type: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub category: &'static str,
    /// argv template; `secflow` as the first element is this binary.
    pub command: &'static [&'static str],
}

/// The built-in plugins, embedded in the binary.
pub const BUILTIN: &[Plugin] = &[
    Plugin {
        node_type: "discovery.ferox",
        name: "ferox-stub",
        version: "0.1.0",
        category: "discovery",
        command: &["secflow", "stub", "discovery"],
    },
    Plugin {
        node_type: "scan.nuclei",
        name: "nuclei-stub",
        version: "0.1.0",
        category: "scan",
        command: &["secflow", "stub", "scan"],
    },
    Plugin {
        node_type: "enrich.cve",
        name: "cve-stub",
        version: "0.1.0",
        category: "enrichment",
        command: &["secflow", "stub", "enrich"],
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
