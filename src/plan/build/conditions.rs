//! `when:` and `trigger:` checked (SPEC §9), and `--var` values checked against the type of
//! the var's declared default.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Checker, pos};
use crate::diag::did_you_mean;
use crate::plan::when::{self, Check, Condition, Operand, Trigger, Ty, Value};
use crate::recipe::{RawNode, RawRecipe};

/// Whether `node` has instances (`foreach` / `matrix`), where `item` and `index` mean
/// something (each instance then evaluates the condition with its own item).
fn has_instances(node: &RawNode) -> bool {
    node.foreach.is_some() || node.matrix.is_some()
}

/// What a node's condition may read.
struct Operands<'a> {
    raw: &'a RawRecipe,
    node: &'a RawNode,
    vars: &'a BTreeMap<String, String>,
    secrets: &'a [String],
}

impl Check for Operands<'_> {
    fn ty(&self, operand: &Operand) -> Result<Ty, (String, Option<String>)> {
        let suggest = |word: &str, names: Vec<&str>, what: &str| {
            Some(match did_you_mean(word, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => format!("this recipe declares no {what}"),
                None => format!("{what}: {}", names.join(", ")),
            })
        };
        match operand {
            Operand::Lit(v) => Ok(v.ty()),
            Operand::Var(k) => match self.raw.vars.get(k) {
                Some(default) => Ok(when::infer(&default.value.text())),
                None => Err((
                    format!("`{{{{ vars.{k} }}}}` names no variable in `vars`"),
                    suggest(k, self.vars.keys().map(String::as_str).collect(), "vars"),
                )),
            },
            Operand::Env(k) if self.secrets.contains(k) => Err((
                format!("`{{{{ env.{k} }}}}` is a secret; a condition cannot read it"),
                Some(
                    "a condition's value shows in run.json and --dry-run; compare a non-secret var"
                        .into(),
                ),
            )),
            Operand::Env(k) => {
                if self.raw.env.contains_key(k) || self.node.env.contains_key(k) {
                    Ok(Ty::Str)
                } else {
                    let names = self
                        .raw
                        .env
                        .keys()
                        .chain(self.node.env.keys())
                        .map(String::as_str)
                        .collect();
                    Err((
                        format!("`{{{{ env.{k} }}}}` is not declared in the recipe's `env`"),
                        suggest(k, names, "env entries"),
                    ))
                }
            }
            Operand::Item(_) | Operand::Index if !has_instances(self.node) => Err((
                format!("`{operand}` is only defined in a node with `foreach` or `matrix`"),
                Some("add `foreach:` to the node, or compare a var instead".into()),
            )),
            Operand::Item(_) => Ok(Ty::Any),
            Operand::Index => Ok(Ty::Num),
            Operand::Records(d) => {
                if self.node.inputs.iter().any(|i| &i.value == d) {
                    Ok(Ty::Num)
                } else {
                    Err((
                        format!("`records(inputs.{d})`: `{d}` is not an input of this node"),
                        suggest(
                            d,
                            self.node.inputs.iter().map(|i| i.value.as_str()).collect(),
                            "inputs",
                        ),
                    ))
                }
            }
        }
    }
}

impl Checker<'_> {
    /// The node's `when`, parsed, type-checked and bound to the run's var and env values.
    pub(super) fn condition(
        &mut self,
        raw: &RawRecipe,
        node: &RawNode,
        vars: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        secrets: &[String],
    ) -> Option<Arc<Condition>> {
        let text = node.when.as_ref()?;
        if !self.check_nul(text, "`when` expression") {
            return None;
        }
        let checked = when::parse(&text.value).and_then(|expr| {
            let scope = Operands {
                raw,
                node,
                vars,
                secrets,
            };
            when::check(&expr, &scope).map(|()| expr)
        });
        let expr = match checked {
            Ok(e) => e,
            Err(e) => {
                let at = self.locate(pos(text), &text.value, e.offset);
                self.error(at, e.code, e.message, e.hint);
                return None;
            }
        };
        let mut bound = BTreeMap::new();
        for (operand, _) in expr.operands() {
            match operand {
                Operand::Var(k) => {
                    let ty = raw
                        .vars
                        .get(k)
                        .map_or(Ty::Str, |d| when::infer(&d.value.text()));
                    let value = vars.get(k).and_then(|v| when::typed(v, ty));
                    if let Some(v) = value {
                        bound.insert(format!("vars.{k}"), v);
                    }
                }
                Operand::Env(k) => {
                    if let Some(v) = env.get(k) {
                        bound.insert(format!("env.{k}"), Value::Str(v.clone()));
                    }
                }
                _ => {}
            }
        }
        Some(Arc::new(Condition {
            text: text.value.clone(),
            expr,
            bound,
        }))
    }

    /// The node's `trigger` (default `all_succeeded`).
    pub(super) fn trigger(&mut self, node: &RawNode) -> Trigger {
        let Some(value) = &node.trigger else {
            return Trigger::default();
        };
        Trigger::parse(&value.value).unwrap_or_else(|| {
            let hint = match did_you_mean(&value.value, Trigger::NAMES) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("triggers: {}", Trigger::NAMES.join(", ")),
            };
            self.error(
                pos(value),
                "bad-trigger",
                format!("unknown trigger `{}`", value.value),
                Some(hint),
            );
            Trigger::default()
        })
    }

    /// A `--var` value must read as its var's declared type (number, boolean, else string).
    pub(super) fn check_var_type(&mut self, raw: &RawRecipe, key: &str, value: &str) {
        let Some(default) = raw.vars.get(key) else {
            return;
        };
        if matches!(default.value, crate::recipe::VarValue::List(_)) {
            // A list var's `--var` is a comma-separated list of items, each text.
            return;
        }
        let ty = when::infer(&default.value.text());
        if when::typed(value, ty).is_none() {
            self.error(
                pos(default),
                "bad-var-type",
                format!(
                    "`--var {key}=…` is not {ty}, the type of its declared default `{}`",
                    default.value.text()
                ),
                Some(match ty {
                    Ty::Bool => "pass `true` or `false`".into(),
                    _ => "pass a decimal number such as `3` or `0.5`".into(),
                }),
            );
        }
    }
}
