//! `secflow plugins list`: the node types available and where each comes from.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::{Format, PluginsArgs, PluginsCommand};
use crate::exit;
use crate::plan::plugins::Registry;

#[derive(Serialize)]
struct Row {
    #[serde(rename = "type")]
    node_type: String,
    plugin: String,
    version: String,
    category: String,
    source: String,
    config_keys: Vec<String>,
}

pub fn run(args: &PluginsArgs) -> anyhow::Result<i32> {
    let PluginsCommand::List {
        format,
        ref recipe,
        ref plugin_dir,
        ref state,
    } = args.command;
    let state_dir = &state.state_dir;
    let dirs = match recipe {
        Some(r) => crate::plan::plugins::search_dirs(r, Some(state_dir), plugin_dir),
        None => {
            let mut dirs = vec![state_dir.join("plugins")];
            dirs.extend(plugin_dir.iter().cloned());
            dirs
        }
    };
    let registry = match Registry::load(&dirs) {
        Ok((registry, warnings)) => {
            for w in warnings {
                eprint!("{}", w.render(None));
            }
            registry
        }
        Err(errors) => {
            for e in errors {
                eprint!("{}", e.render(None));
            }
            return Ok(exit::INVALID);
        }
    };
    let mut rows = vec![Row {
        node_type: "exec".into(),
        plugin: "exec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        category: "command".into(),
        source: "built-in".into(),
        config_keys: Vec::new(),
    }];
    rows.extend(registry.plugins().iter().map(|p| Row {
        node_type: p.node_type.clone(),
        plugin: p.name.clone(),
        version: p.version.clone(),
        category: p.category.clone(),
        source: p.source.to_string(),
        config_keys: p.config.iter().map(|k| k.name.clone()).collect(),
    }));
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Human => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["type", "plugin", "version", "category", "source"]);
            for r in &rows {
                table.add_row([&r.node_type, &r.plugin, &r.version, &r.category, &r.source]);
            }
            println!("{table}");
        }
    }
    Ok(exit::SUCCESS)
}
