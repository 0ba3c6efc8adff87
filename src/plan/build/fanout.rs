//! Validating a node's `foreach`, `matrix`, `foreach_concurrency` and `max_instances`
//! (SPEC §9), each problem located in the recipe.

use std::sync::Arc;

use super::{Checker, pos};
use crate::plan::foreach::{FanOut, Item, Source, scalar_text};
use crate::plan::template::{Namespace, Template};
use crate::recipe::RawNode;

const FOREACH_HINT: &str = "write a YAML list (`foreach: [a, b]`), `foreach: \"{{ vars.X }}\"` \
                            with X a var whose default is a list, or `foreach: \"{{ inputs.D }}\"` \
                            with D one of the node's inputs";

impl Checker<'_> {
    /// The node's fan-out: `Some(None)` for a plain node, `None` after an error.
    pub(super) fn fanout(&mut self, node: &RawNode) -> Option<Option<Arc<FanOut>>> {
        let source = match (&node.foreach, &node.matrix) {
            (Some(_), Some(m)) => {
                self.error(
                    pos(m),
                    "foreach-and-matrix",
                    format!("node `{}` has both `foreach` and `matrix`", node.id.value),
                    Some("keep one: a node fans out over one source".into()),
                );
                return None;
            }
            (Some(f), None) => self.foreach_source(node, f)?,
            (None, Some(m)) => self.matrix_source(m)?,
            (None, None) => {
                for (key, at) in [
                    (
                        "foreach_concurrency",
                        node.foreach_concurrency.as_ref().map(pos),
                    ),
                    ("max_instances", node.max_instances.as_ref().map(pos)),
                ] {
                    if let Some(at) = at {
                        self.error(
                            at,
                            "fanout-key-without-foreach",
                            format!("`{key}` is set on a node without `foreach` or `matrix`"),
                            Some("remove it, or add `foreach:` to the node".into()),
                        );
                    }
                }
                return Some(None);
            }
        };
        let mut ok = true;
        let concurrency = node.foreach_concurrency.as_ref().and_then(|c| {
            if c.value == 0 {
                self.error(
                    pos(c),
                    "bad-value",
                    "`foreach_concurrency` must be at least 1".into(),
                    None,
                );
                ok = false;
            }
            (c.value > 0).then_some(c.value as usize)
        });
        let max_instances = match &node.max_instances {
            Some(m) if m.value == 0 => {
                self.error(
                    pos(m),
                    "bad-value",
                    "`max_instances` must be at least 1".into(),
                    None,
                );
                ok = false;
                0
            }
            Some(m) => usize::try_from(m.value).unwrap_or(usize::MAX),
            None => self.max_instances,
        };
        ok.then(|| {
            Some(Arc::new(FanOut {
                source,
                concurrency,
                max_instances,
            }))
        })
    }

    fn foreach_source(
        &mut self,
        node: &RawNode,
        f: &crate::recipe::S<serde_json::Value>,
    ) -> Option<Source> {
        let at = pos(f);
        match &f.value {
            serde_json::Value::Array(values) => {
                let mut items = Vec::with_capacity(values.len());
                for value in values {
                    match Item::from_yaml(value) {
                        Some(item) => items.push(item),
                        None => {
                            self.error(
                                at,
                                "bad-foreach",
                                "a `foreach` item is a list or null; items are scalars or maps"
                                    .into(),
                                Some(FOREACH_HINT.into()),
                            );
                            return None;
                        }
                    }
                }
                Some(Source::Items { items, var: None })
            }
            serde_json::Value::String(text) => {
                let refs: Option<Vec<_>> = Template::parse(text).ok().map(|t| {
                    t.segments
                        .iter()
                        .map(|s| match s {
                            crate::plan::template::Segment::Ref(r) => Some(r.clone()),
                            crate::plan::template::Segment::Literal(l) => {
                                l.trim().is_empty().then_some(None).flatten()
                            }
                        })
                        .collect::<Vec<_>>()
                });
                let single = match refs.as_deref() {
                    Some([Some(r)]) => Some(r.clone()),
                    _ => None,
                };
                match single {
                    Some(r) if r.namespace == Namespace::Vars => match self.list_vars.get(&r.key) {
                        Some(list) => Some(Source::Items {
                            items: list.iter().map(|s| Item::Text(s.clone())).collect(),
                            var: Some(r.key.clone()),
                        }),
                        None => {
                            let what = if self.list_vars.is_empty() {
                                "the recipe declares no list var".to_string()
                            } else {
                                format!(
                                    "list vars are: {}",
                                    self.list_vars
                                        .keys()
                                        .map(String::as_str)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            self.error(
                                at,
                                "bad-foreach",
                                format!("`foreach` names var `{}`, which is not a list var", r.key),
                                Some(format!(
                                    "declare its default as a list (`{}: [a, b]`); {what}",
                                    r.key
                                )),
                            );
                            None
                        }
                    },
                    Some(r)
                        if r.namespace == Namespace::Inputs
                            && node.inputs.iter().any(|i| i.value == r.key) =>
                    {
                        Some(Source::Records(r.key.clone()))
                    }
                    Some(r) if r.namespace == Namespace::Inputs => {
                        self.error(
                            at,
                            "bad-foreach",
                            format!(
                                "`foreach` names `inputs.{}`, which is not an input of this node",
                                r.key
                            ),
                            Some(format!("list `{}` under the node's `inputs`", r.key)),
                        );
                        None
                    }
                    _ => {
                        self.error(
                            at,
                            "bad-foreach",
                            format!(
                                "`foreach` source `{text}` is not a list, a list var or an input"
                            ),
                            Some(FOREACH_HINT.into()),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    at,
                    "bad-foreach",
                    "`foreach` is neither a list nor a `{{ vars.X }}`/`{{ inputs.D }}` reference"
                        .into(),
                    Some(FOREACH_HINT.into()),
                );
                None
            }
        }
    }

    fn matrix_source(
        &mut self,
        m: &crate::recipe::S<crate::recipe::OrderedLists>,
    ) -> Option<Source> {
        let mut lists = Vec::with_capacity(m.value.0.len());
        let mut ok = true;
        if m.value.0.is_empty() {
            self.error(
                pos(m),
                "bad-matrix",
                "`matrix` is empty".into(),
                Some("give NAME: [values…] pairs".into()),
            );
            return None;
        }
        for (name, values) in &m.value.0 {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            if !valid {
                self.error(
                    pos(m),
                    "bad-matrix",
                    format!("bad matrix name `{name}`"),
                    Some("use letters, digits, `_` and `-`".into()),
                );
                ok = false;
            }
            let mut texts = Vec::with_capacity(values.len());
            for v in values {
                if matches!(
                    v,
                    serde_json::Value::Array(_)
                        | serde_json::Value::Object(_)
                        | serde_json::Value::Null
                ) {
                    self.error(
                        pos(m),
                        "bad-matrix",
                        format!("matrix `{name}` holds a value that is not a scalar"),
                        Some("matrix values are strings, numbers or booleans".into()),
                    );
                    ok = false;
                    break;
                }
                texts.push(scalar_text(v));
            }
            lists.push((name.clone(), texts));
        }
        ok.then_some(Source::Matrix(lists))
    }
}
