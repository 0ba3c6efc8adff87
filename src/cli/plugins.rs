//! `secflow plugins list`: the node types available and where each comes from.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::{Format, PluginsArgs, PluginsCommand};
use crate::exit;
use crate::plan::plugins::BUILTIN;

#[derive(Serialize)]
struct Row {
    #[serde(rename = "type")]
    node_type: &'static str,
    plugin: &'static str,
    version: &'static str,
    category: &'static str,
    source: &'static str,
    config_keys: Vec<&'static str>,
}

pub fn run(args: &PluginsArgs) -> anyhow::Result<i32> {
    let PluginsCommand::List { format } = args.command;
    let mut rows = vec![Row {
        node_type: "exec",
        plugin: "exec",
        version: env!("CARGO_PKG_VERSION"),
        category: "command",
        source: "built-in",
        config_keys: Vec::new(),
    }];
    rows.extend(BUILTIN.iter().map(|p| Row {
        node_type: p.node_type,
        plugin: p.name,
        version: p.version,
        category: p.category,
        source: "built-in",
        config_keys: p.config.iter().map(|k| k.name).collect(),
    }));
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Human => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["type", "plugin", "version", "category", "source"]);
            for r in &rows {
                table.add_row([r.node_type, r.plugin, r.version, r.category, r.source]);
            }
            println!("{table}");
        }
    }
    Ok(exit::SUCCESS)
}
