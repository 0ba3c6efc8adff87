//! `when:` conditions (SPEC §9): a small expression language, parsed by hand, type-checked
//! at validation and evaluated when the node is otherwise ready.
//!
//! Grammar (lowest binding first):
//!
//! ```text
//! expr    := and ( "||" and )*
//! and     := cmp ( "&&" cmp )*
//! cmp     := unary ( ("==" | "!=" | "<" | "<=" | ">" | ">=") unary )?
//! unary   := "!" unary | primary
//! primary := "(" expr ")" | 'text' | "text" | number | true | false
//!          | "{{" vars.X "}}" | "{{" env.X "}}" | item | item.K | index
//!          | records "(" inputs.D ")"
//! ```
//!
//! Operands are typed values, never text pasted into the expression: a var holding
//! `x' || true` is a string that compares unequal, nothing more. A var's type is its declared
//! default's ([`infer`]): a number, `true`/`false`, else a string; `env.X` is a string.
//! `item`, `item.K` and `index` come from the node's instance and `records(inputs.D)` from an
//! upstream dataset, through a [`Resolve`] the engine supplies.
//!
//! Guarantees: parsing and evaluation never panic and are bounded (an expression is at most
//! [`MAX_LEN`] bytes and [`MAX_DEPTH`] levels deep); every error carries the byte offset in the
//! expression where it was found, for a located diagnostic.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// Longest expression accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses and `!` accepted.
pub const MAX_DEPTH: usize = 64;

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Value {
    pub fn ty(&self) -> Ty {
        match self {
            Value::Str(_) => Ty::Str,
            Value::Num(_) => Ty::Num,
            Value::Bool(_) => Ty::Bool,
        }
    }
}

/// The type of an operand. `Any`: known only at run time (`item`, `item.K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Num,
    Bool,
    Any,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Str => "a string",
            Ty::Num => "a number",
            Ty::Bool => "a boolean",
            Ty::Any => "an item value",
        })
    }
}

/// The type of a var, from its declared default: a number, `true`/`false`, else a string.
pub fn infer(default: &str) -> Ty {
    match default.trim() {
        "true" | "false" => Ty::Bool,
        s if parse_number(s).is_some_and(|(_, n)| n == s.len()) => Ty::Num,
        _ => Ty::Str,
    }
}

/// `text` read as a value of type `ty` (a `--var` value for a var of that type).
pub fn typed(text: &str, ty: Ty) -> Option<Value> {
    let t = text.trim();
    match ty {
        Ty::Bool => match t {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Ty::Num => match parse_number(t) {
            Some((n, len)) if len == t.len() => Some(Value::Num(n)),
            _ => None,
        },
        Ty::Str | Ty::Any => Some(Value::Str(text.to_string())),
    }
}

/// What an operand names.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Lit(Value),
    Var(String),
    Env(String),
    /// `item` (`None`) or `item.K`.
    Item(Option<String>),
    Index,
    /// `records(inputs.D)`.
    Records(String),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Lit(Value::Str(s)) => write!(f, "{s:?}"),
            Operand::Lit(Value::Num(n)) => write!(f, "{n}"),
            Operand::Lit(Value::Bool(b)) => write!(f, "{b}"),
            Operand::Var(k) => write!(f, "{{{{ vars.{k} }}}}"),
            Operand::Env(k) => write!(f, "{{{{ env.{k} }}}}"),
            Operand::Item(None) => f.write_str("item"),
            Operand::Item(Some(k)) => write!(f, "item.{k}"),
            Operand::Index => f.write_str("index"),
            Operand::Records(d) => write!(f, "records(inputs.{d})"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// A parsed expression; each node keeps the byte offset where it is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Operand(Operand, usize),
    Not(Box<Expr>, usize),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>, usize),
}

impl Expr {
    /// Where the expression starts in its text.
    pub fn offset(&self) -> usize {
        match self {
            Expr::Operand(_, at) | Expr::Not(_, at) => *at,
            Expr::And(l, _) | Expr::Or(l, _) | Expr::Cmp(_, l, _, _) => l.offset(),
        }
    }

    /// Every operand with its offset, left to right.
    pub fn operands(&self) -> Vec<(&Operand, usize)> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Operand(o, at) => out.push((o, *at)),
                Expr::Not(x, _) => stack.push(x),
                Expr::And(l, r) | Expr::Or(l, r) | Expr::Cmp(_, l, r, _) => {
                    stack.push(r);
                    stack.push(l);
                }
            }
        }
        out
    }
}

/// A problem in an expression, at a byte offset of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhenError {
    pub offset: usize,
    /// The diagnostic code: `bad-when` (syntax), `when-type`, `unknown-when-ref`.
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl WhenError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        WhenError {
            offset,
            code: "bad-when",
            message: message.into(),
            hint: None,
        }
    }

    fn typing(mut self) -> Self {
        self.code = "when-type";
        self
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Parses `text` into an expression.
pub fn parse(text: &str) -> Result<Expr, WhenError> {
    if text.len() > MAX_LEN {
        return Err(WhenError::new(
            0,
            format!("`when` expression is longer than {MAX_LEN} bytes"),
        ));
    }
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        at: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at == p.s.len() {
        return Err(WhenError::new(0, "`when` expression is empty")
            .hint("write a condition such as `{{ vars.mode }} == 'full'`, or remove `when`"));
    }
    let expr = p.or()?;
    p.skip_ws();
    if p.at < p.s.len() {
        return Err(WhenError::new(
            p.at,
            format!("unexpected `{}` after a complete expression", p.rest_word()),
        )
        .hint("join conditions with `&&` or `||`"));
    }
    Ok(expr)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.s[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// The word at the cursor, for messages (at most 20 characters).
    fn rest_word(&self) -> String {
        let rest = self.text.get(self.at..).unwrap_or("");
        let word: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(20)
            .collect();
        if word.is_empty() {
            "end of expression".into()
        } else {
            word
        }
    }

    fn deeper(&mut self) -> Result<(), WhenError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(WhenError::new(
                self.at,
                format!("`when` expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, WhenError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, WhenError> {
        let mut left = self.cmp()?;
        while self.eat("&&") {
            let right = self.cmp()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, WhenError> {
        let left = self.unary()?;
        self.skip_ws();
        let at = self.at;
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.s[self.at..].starts_with(t.as_bytes()));
        let Some((token, op)) = op else {
            if self.s.get(self.at) == Some(&b'=') {
                return Err(
                    WhenError::new(at, "`=` is not an operator here").hint("compare with `==`")
                );
            }
            return Ok(left);
        };
        self.at += token.len();
        let right = self.unary()?;
        self.skip_ws();
        if [b"==", b"!=", b"<=", b">="]
            .iter()
            .any(|t| self.s[self.at..].starts_with(*t))
            || matches!(self.s.get(self.at), Some(b'<' | b'>'))
        {
            return Err(WhenError::new(self.at, "comparisons do not chain")
                .hint("join them with `&&`, e.g. `a < b && b < c`"));
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right), at))
    }

    fn unary(&mut self) -> Result<Expr, WhenError> {
        self.skip_ws();
        let at = self.at;
        if self.s.get(self.at) == Some(&b'!') && self.s.get(self.at + 1) != Some(&b'=') {
            self.at += 1;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner), at));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, WhenError> {
        self.skip_ws();
        let at = self.at;
        let Some(&c) = self.s.get(self.at) else {
            return Err(WhenError::new(
                at,
                "the expression ends where a value is expected",
            ));
        };
        let operand = match c {
            b'(' => {
                self.at += 1;
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                if !self.eat(")") {
                    return Err(WhenError::new(self.at, "expected `)`")
                        .hint(format!("the `(` at offset {at} is not closed")));
                }
                return Ok(inner);
            }
            b'\'' | b'"' => Operand::Lit(Value::Str(self.string(c)?)),
            b'{' => self.template()?,
            b'-' | b'0'..=b'9' | b'.' => match parse_number(&self.text[self.at..]) {
                Some((n, len)) => {
                    self.at += len;
                    Operand::Lit(Value::Num(n))
                }
                None => return Err(WhenError::new(at, "bad number")),
            },
            c if c.is_ascii_alphabetic() || c == b'_' => self.word()?,
            _ => {
                return Err(WhenError::new(
                    at,
                    format!("unexpected `{}` where a value is expected", self.rest_word()),
                )
                .hint("values are 'text', numbers, true, false, {{ vars.X }}, {{ env.X }}, item, index, records(inputs.D)"));
            }
        };
        Ok(Expr::Operand(operand, at))
    }

    /// A string literal in `quote`s; no escapes (the other quote kind holds the one).
    fn string(&mut self, quote: u8) -> Result<String, WhenError> {
        let start = self.at;
        let body = start + 1;
        match self.s[body..].iter().position(|&b| b == quote) {
            Some(len) => {
                self.at = body + len + 1;
                Ok(self.text[body..body + len].to_string())
            }
            None => Err(WhenError::new(start, "unclosed string")
                .hint(format!("close it with `{}`", quote as char))),
        }
    }

    /// `{{ vars.X }}` or `{{ env.X }}`.
    fn template(&mut self) -> Result<Operand, WhenError> {
        let start = self.at;
        if !self.text[start..].starts_with("{{") {
            return Err(
                WhenError::new(start, "a single `{` starts nothing").hint("write `{{ vars.X }}`")
            );
        }
        let Some(end) = self.text[start + 2..].find("}}") else {
            return Err(WhenError::new(start, "unclosed `{{`").hint("close it with `}}`"));
        };
        let inner = self.text[start + 2..start + 2 + end].trim();
        self.at = start + 2 + end + 2;
        let name_ok = |k: &str| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        match inner.split_once('.') {
            Some(("vars", k)) if name_ok(k.trim()) => Ok(Operand::Var(k.trim().to_string())),
            Some(("env", k)) if name_ok(k.trim()) => Ok(Operand::Env(k.trim().to_string())),
            _ => Err(WhenError::new(start, format!("`{{{{ {inner} }}}}` cannot be used in `when`"))
                .hint("`when` reads `{{ vars.X }}` and `{{ env.X }}`; write item, index or records(inputs.D) without braces")),
        }
    }

    /// `true`, `false`, `item`, `item.K`, `index`, `records(inputs.D)`.
    fn word(&mut self) -> Result<Operand, WhenError> {
        let start = self.at;
        let word = self.name();
        match word {
            "true" => Ok(Operand::Lit(Value::Bool(true))),
            "false" => Ok(Operand::Lit(Value::Bool(false))),
            "index" => Ok(Operand::Index),
            "item" => {
                if self.s.get(self.at) == Some(&b'.') {
                    self.at += 1;
                    let key = self.name();
                    if key.is_empty() {
                        return Err(WhenError::new(self.at, "expected a key after `item.`"));
                    }
                    Ok(Operand::Item(Some(key.to_string())))
                } else {
                    Ok(Operand::Item(None))
                }
            }
            "records" => {
                if !self.eat("(") {
                    return Err(WhenError::new(self.at, "expected `(` after `records`")
                        .hint("write `records(inputs.D)`"));
                }
                self.skip_ws();
                let arg_at = self.at;
                let arg = self.dotted();
                let Some(name) = arg.strip_prefix("inputs.").filter(|n| !n.is_empty()) else {
                    return Err(WhenError::new(arg_at, "`records` takes `inputs.D`")
                        .hint("count an input dataset's records: `records(inputs.hosts) > 0`"));
                };
                let name = name.to_string();
                if !self.eat(")") {
                    return Err(WhenError::new(self.at, "expected `)` after `records(inputs.D`"));
                }
                Ok(Operand::Records(name))
            }
            "vars" | "env" => Err(WhenError::new(start, format!("`{word}` needs braces here"))
                .hint(format!("write `{{{{ {word}.NAME }}}}`"))),
            _ => Err(WhenError::new(start, format!("unknown name `{word}`")).hint(
                "values are 'text', numbers, true, false, {{ vars.X }}, {{ env.X }}, item, index, records(inputs.D)",
            )),
        }
    }

    /// `[A-Za-z0-9_-]*` at the cursor.
    fn name(&mut self) -> &str {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
        {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    /// `[A-Za-z0-9_.-]*` at the cursor (a dataset name may hold dots).
    fn dotted(&mut self) -> &str {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        {
            self.at += 1;
        }
        &self.text[start..self.at]
    }
}

/// A decimal number at the start of `s` (`-`, digits, one optional fraction): its value and
/// length. Exponents, `inf` and `nan` are not numbers here.
fn parse_number(s: &str) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let whole = digits(&mut i);
    let mut frac = 0;
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        frac = digits(&mut i);
    }
    if whole + frac == 0 {
        return None;
    }
    let n: f64 = s[..i].parse().ok()?;
    n.is_finite().then_some((n, i))
}

/// What validation knows about a node's operands: each operand's type, or why it names
/// nothing (message and hint).
pub trait Check {
    fn ty(&self, operand: &Operand) -> Result<Ty, (String, Option<String>)>;
}

/// Type-checks `expr`: it must be a boolean. Returns the first problem.
pub fn check(expr: &Expr, scope: &dyn Check) -> Result<(), WhenError> {
    match ty_of(expr, scope)? {
        Ty::Bool | Ty::Any => Ok(()),
        t => Err(WhenError::new(
            expr.offset(),
            format!("`when` must be a condition, but this is {t}"),
        )
        .typing()
        .hint("compare it: e.g. `{{ vars.mode }} == 'full'`")),
    }
}

fn ty_of(expr: &Expr, scope: &dyn Check) -> Result<Ty, WhenError> {
    let want_bool = |e: &Expr, what: &str| -> Result<(), WhenError> {
        match ty_of(e, scope)? {
            Ty::Bool | Ty::Any => Ok(()),
            t => Err(
                WhenError::new(e.offset(), format!("{what} needs a boolean, not {t}"))
                    .typing()
                    .hint("compare it first, e.g. `{{ vars.n }} > 0`"),
            ),
        }
    };
    match expr {
        Expr::Operand(Operand::Lit(v), _) => Ok(v.ty()),
        Expr::Operand(o, at) => scope.ty(o).map_err(|(message, hint)| WhenError {
            offset: *at,
            code: "unknown-when-ref",
            message,
            hint,
        }),
        Expr::Not(x, _) => want_bool(x, "`!`").map(|()| Ty::Bool),
        Expr::And(l, r) => {
            want_bool(l, "`&&`")?;
            want_bool(r, "`&&`")?;
            Ok(Ty::Bool)
        }
        Expr::Or(l, r) => {
            want_bool(l, "`||`")?;
            want_bool(r, "`||`")?;
            Ok(Ty::Bool)
        }
        Expr::Cmp(op, l, r, at) => {
            let (lt, rt) = (ty_of(l, scope)?, ty_of(r, scope)?);
            if lt != rt && lt != Ty::Any && rt != Ty::Any {
                return Err(WhenError::new(
                    *at,
                    format!("`{}` compares {lt} with {rt}", op.as_str()),
                )
                .typing()
                .hint("compare values of one type: a var's type is its declared default's (number, true/false, else string)"));
            }
            if op.ordering() && (lt == Ty::Bool || rt == Ty::Bool) {
                return Err(WhenError::new(
                    *at,
                    format!("`{}` cannot order booleans", op.as_str()),
                )
                .typing()
                .hint("compare booleans with `==` or `!=`"));
            }
            Ok(Ty::Bool)
        }
    }
}

/// Run-time values of a node's instance and its inputs.
pub trait Resolve {
    /// `item` (`key` `None`) or `item.K`.
    fn item(&self, key: Option<&str>) -> Result<Value, String>;
    fn index(&self) -> Result<u64, String>;
    /// The number of records of input dataset `dataset`.
    fn records(&self, dataset: &str) -> Result<u64, String>;
}

/// A node without instances: `item` and `index` name nothing (validation refuses them).
pub struct NoInstance<F: Fn(&str) -> Result<u64, String>>(pub F);

impl<F: Fn(&str) -> Result<u64, String>> Resolve for NoInstance<F> {
    fn item(&self, _: Option<&str>) -> Result<Value, String> {
        Err("`item` is only defined in a node with `foreach` or `matrix`".into())
    }
    fn index(&self) -> Result<u64, String> {
        Err("`index` is only defined in a node with `foreach` or `matrix`".into())
    }
    fn records(&self, dataset: &str) -> Result<u64, String> {
        (self.0)(dataset)
    }
}

/// A validated condition: the expression as written, its tree, and the typed values of the
/// vars and env entries it reads (fixed for the run).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub text: String,
    pub expr: Expr,
    /// `vars.X` / `env.X` → value.
    pub bound: BTreeMap<String, Value>,
}

impl Condition {
    /// Whether the condition reads `item` or `index`: then it is evaluated per instance of a
    /// fanned-out node, else once, before the node fans out (SPEC §9).
    pub fn uses_instance(&self) -> bool {
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::Operand(o, _) => matches!(o, Operand::Item(_) | Operand::Index),
                Expr::Not(x, _) => walk(x),
                Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b, _) => walk(a) || walk(b),
            }
        }
        walk(&self.expr)
    }

    /// Evaluates the condition; an error says which value was missing or of the wrong type.
    pub fn eval(&self, resolve: &dyn Resolve) -> Result<bool, String> {
        match eval(&self.expr, &self.bound, resolve)? {
            Value::Bool(b) => Ok(b),
            v => Err(format!("`when` gave {} instead of true or false", v.ty())),
        }
    }
}

fn eval(expr: &Expr, bound: &BTreeMap<String, Value>, r: &dyn Resolve) -> Result<Value, String> {
    let boolean = |e: &Expr| -> Result<bool, String> {
        match eval(e, bound, r)? {
            Value::Bool(b) => Ok(b),
            v => Err(format!(
                "`{}`-side operand is {}, not a boolean",
                display_at(e),
                v.ty()
            )),
        }
    };
    Ok(match expr {
        Expr::Operand(o, _) => match o {
            Operand::Lit(v) => v.clone(),
            Operand::Var(k) => lookup(bound, "vars", k)?,
            Operand::Env(k) => lookup(bound, "env", k)?,
            Operand::Item(k) => r.item(k.as_deref())?,
            Operand::Index => Value::Num(r.index()? as f64),
            Operand::Records(d) => Value::Num(r.records(d)? as f64),
        },
        Expr::Not(x, _) => Value::Bool(!boolean(x)?),
        // Short-circuit, as written: the right side is not evaluated when it cannot matter.
        Expr::And(a, b) => Value::Bool(boolean(a)? && boolean(b)?),
        Expr::Or(a, b) => Value::Bool(boolean(a)? || boolean(b)?),
        Expr::Cmp(op, a, b, _) => {
            let (x, y) = (eval(a, bound, r)?, eval(b, bound, r)?);
            let ord = match (&x, &y) {
                (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
                (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
                (Value::Bool(x), Value::Bool(y)) if !op.ordering() => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ord) = ord else {
                return Err(format!(
                    "`{}` cannot compare {} with {}",
                    op.as_str(),
                    x.ty(),
                    y.ty()
                ));
            };
            Value::Bool(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
    })
}

fn display_at(e: &Expr) -> String {
    match e {
        Expr::Operand(o, _) => o.to_string(),
        _ => "expression".into(),
    }
}

fn lookup(bound: &BTreeMap<String, Value>, ns: &str, key: &str) -> Result<Value, String> {
    bound
        .get(&format!("{ns}.{key}"))
        .cloned()
        .ok_or_else(|| format!("`{{{{ {ns}.{key} }}}}` has no value"))
}

/// `trigger:` — when a node runs given its upstreams' outcomes (Airflow's rule names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Run when every upstream succeeded or was cached; a skipped upstream skips this node.
    #[default]
    AllSucceeded,
    /// Run unless an upstream failed or timed out (the join after an if/else pair).
    NoneFailed,
    /// Run whatever the upstreams' outcome (clean-up, notification).
    AllDone,
}

impl Trigger {
    pub const NAMES: [&'static str; 3] = ["all_succeeded", "none_failed", "all_done"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all_succeeded" => Some(Trigger::AllSucceeded),
            "none_failed" => Some(Trigger::NoneFailed),
            "all_done" => Some(Trigger::AllDone),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Trigger::NAMES[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Types;
    impl Check for Types {
        fn ty(&self, o: &Operand) -> Result<Ty, (String, Option<String>)> {
            match o {
                Operand::Var(k) if k == "n" => Ok(Ty::Num),
                Operand::Var(k) if k == "mode" => Ok(Ty::Str),
                Operand::Var(k) if k == "deep" => Ok(Ty::Bool),
                Operand::Records(_) | Operand::Index => Ok(Ty::Num),
                Operand::Item(_) => Ok(Ty::Any),
                o => Err((format!("`{o}` names nothing"), None)),
            }
        }
    }

    struct Inst;
    impl Resolve for Inst {
        fn item(&self, key: Option<&str>) -> Result<Value, String> {
            Ok(Value::Str(key.unwrap_or("whole").to_string()))
        }
        fn index(&self) -> Result<u64, String> {
            Ok(3)
        }
        fn records(&self, d: &str) -> Result<u64, String> {
            Ok(d.len() as u64)
        }
    }

    fn cond(text: &str) -> Condition {
        let expr = parse(text).unwrap();
        check(&expr, &Types).unwrap();
        let mut bound = BTreeMap::new();
        bound.insert("vars.n".into(), Value::Num(5.0));
        bound.insert("vars.mode".into(), Value::Str("full".into()));
        bound.insert("vars.deep".into(), Value::Bool(false));
        Condition {
            text: text.into(),
            expr,
            bound,
        }
    }

    #[test]
    fn evaluates_typed_operands() {
        let t = |s: &str| cond(s).eval(&Inst).unwrap();
        assert!(t("{{ vars.n }} > 4.5 && {{ vars.mode }} == 'full'"));
        assert!(!t(
            "{{ vars.n }} < 10 && !({{vars.mode}} != \"full\") && {{ vars.deep }}"
        ));
        assert!(t("{{ vars.deep }} || records(inputs.abc) == 3"));
        assert!(t("index >= 3 && item.host == 'host' && item == 'whole'"));
        assert!(t("!{{ vars.deep }}"));
        assert!(t("'a' < 'b' && -1 < 0"));
        // `!` binds tighter than `==`: `(!deep) == true`.
        assert!(t("!{{ vars.deep }} == true"));
    }

    #[test]
    fn a_value_is_never_code() {
        let mut c = cond("{{ vars.mode }} == 'x'");
        c.bound
            .insert("vars.mode".into(), Value::Str("x' || true || 'y".into()));
        assert!(!c.eval(&Inst).unwrap());
    }

    #[test]
    fn type_errors_are_located() {
        let err = |s: &str| check(&parse(s).unwrap(), &Types).unwrap_err();
        let e = err("{{ vars.n }} == 'five'");
        assert_eq!(e.offset, 13);
        assert!(
            e.message.contains("compares a number with a string"),
            "{e:?}"
        );
        assert_eq!(err("true && {{ vars.n }}").offset, 8);
        assert_eq!(err("{{ vars.nope }} == 1").offset, 0);
        assert!(
            err("{{ vars.deep }} < true")
                .message
                .contains("cannot order")
        );
        assert!(
            err("{{ vars.mode }}")
                .message
                .contains("must be a condition")
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let off = |s: &str| parse(s).unwrap_err().offset;
        assert_eq!(off("'a' == "), 7);
        assert_eq!(off("(true"), 5);
        assert_eq!(off("true false"), 5);
        assert_eq!(off("1 < 2 < 3"), 6);
        assert_eq!(off("x == 1"), 0);
        assert_eq!(off("{{ inputs.a }} == 1"), 0);
        assert_eq!(off("'open"), 0);
        assert_eq!(off("a = 1"), 0);
        assert_eq!(off("records(vars.x)"), 8);
        assert!(parse(&"(".repeat(100)).is_err());
        assert!(parse(&"!".repeat(10_000)).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn var_types_come_from_defaults() {
        assert_eq!(infer("3"), Ty::Num);
        assert_eq!(infer("-2.5"), Ty::Num);
        assert_eq!(infer("true"), Ty::Bool);
        assert_eq!(infer("1e3"), Ty::Str);
        assert_eq!(infer("nan"), Ty::Str);
        assert_eq!(infer("example.com"), Ty::Str);
        assert_eq!(typed("7", Ty::Num), Some(Value::Num(7.0)));
        assert_eq!(typed("seven", Ty::Num), None);
        assert_eq!(typed("yes", Ty::Bool), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(e) = parse(&s) {
                let _ = check(&e, &Types);
                let c = Condition { text: s.clone(), expr: e, bound: BTreeMap::new() };
                let _ = c.eval(&Inst);
            }
        }

        #[test]
        fn never_panics_on_grammar_soup(parts in proptest::collection::vec(
            proptest::sample::select(vec!["(", ")", "!", "&&", "||", "==", "<", ">=", "'a'", "\"b\"", "1", "-2.5", "true",
                "{{ vars.n }}", "{{ vars.mode }}", "item", "item.k", "index", "records(inputs.d)", "{{", " "]), 0..30)) {
            let s = parts.concat();
            if let Ok(e) = parse(&s) {
                let _ = check(&e, &Types);
                let c = Condition { text: s.clone(), expr: e, bound: BTreeMap::new() };
                let _ = c.eval(&Inst);
            }
        }
    }
}
