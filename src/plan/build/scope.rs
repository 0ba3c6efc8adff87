//! What a node's templates may reference, and why a reference names nothing.

use std::collections::BTreeMap;

use crate::diag::did_you_mean;
use crate::plan::env_name;
use crate::plan::template::Namespace;
use crate::recipe::S;

/// What a node's templates may reference.
pub(super) struct Scope<'a> {
    pub(super) node: &'a crate::recipe::RawNode,
    pub(super) vars: &'a BTreeMap<String, String>,
    pub(super) env: &'a BTreeMap<String, String>,
    pub(super) secrets: &'a [String],
    pub(super) env_clear: bool,
}

impl Scope<'_> {
    /// Why `r` names nothing, if it does. `suggest`: search for a "did you mean".
    pub(super) fn problem(
        &self,
        r: &crate::plan::Reference,
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
            Namespace::Item | Namespace::Index => {
                let fanned = self.node.foreach.is_some()
                    || (r.namespace == Namespace::Index && self.node.matrix.is_some());
                if fanned {
                    return None;
                }
                return Some((
                    format!("`{{{{ {r} }}}}` is used on a node without `foreach`"),
                    Some("add `foreach:` to the node (SPEC §9), or remove the reference".into()),
                ));
            }
            Namespace::Matrix => self
                .node
                .matrix
                .as_ref()
                .is_some_and(|m| m.value.0.iter().any(|(n, _)| n == key)),
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
            Namespace::Item | Namespace::Index => "fan-out item",
            Namespace::Matrix => "key of this node's `matrix`",
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
            Namespace::Env | Namespace::Item | Namespace::Index => {
                (0, Box::new(std::iter::empty()))
            }
            Namespace::Matrix => match &self.node.matrix {
                Some(m) => (
                    m.value.0.len(),
                    Box::new(m.value.0.iter().map(|(n, _)| n.as_str())),
                ),
                None => (0, Box::new(std::iter::empty())),
            },
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
pub(super) fn known_list<'a>(
    what: &str,
    names: impl Iterator<Item = &'a str>,
    total: usize,
) -> String {
    // Names may repeat (a duplicate id is its own error): each is listed once.
    // Stops at the tenth distinct name: hints for thousands of problems stay cheap.
    let mut shown: Vec<&str> = Vec::new();
    let mut consumed = 0;
    for name in names {
        consumed += 1;
        if !shown.contains(&name) {
            shown.push(name);
            if shown.len() == 10 {
                break;
            }
        }
    }
    let more = total.saturating_sub(consumed);
    if more > 0 {
        format!("{what}: {} (and {more} more)", shown.join(", "))
    } else {
        format!("{what}: {}", shown.join(", "))
    }
}
