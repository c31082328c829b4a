//! jinja2's `Markup` as transformers renders chat templates (auto-escaping off), on minijinja.
//!
//! In jinja2, `|safe`, `|e` / `|escape` and `|forceescape` make a `Markup`, a `str` that
//! HTML-escapes what it meets: `Markup + str` and `str + Markup` escape the plain `str`
//! (markupsafe: `&` `<` `>` `"` `'` become `&amp;` `&lt;` `&gt;` `&#34;` `&#39;`) and give a
//! `Markup`; `Markup * n` and filters such as `trim`, `upper`, `indent`, `format` keep it.
//! Everything else is plain text with
//! auto-escaping off: printing writes any value unchanged, `~` joins `str()`s into a plain
//! `str`, and `{% set %}` blocks, `{% filter %}` blocks, macros, `caller()` and recursive
//! `loop()` give plain strings. transformers' `tojson` gives a plain `str`, so
//! `"..."|safe + x|tojson` prints `&#34;` for every quote of the JSON (Functionary v3.1 does).
//!
//! **Which templates.** [`rewrite`] reads the template's syntax tree (minijinja's own parser):
//! a template that applies none of those four filters cannot make a `Markup`, and renders as it
//! is. One that does renders in markup mode ([`install`] on the environment, the source
//! rewritten):
//!
//! * auto-escaping on (`AutoEscape::Custom("markupsafe")`) with a formatter that writes safe
//!   strings as they are and escapes anything else markupsafe's way, so minijinja's `+` of two
//!   strings where exactly one is safe (its `markup_concat`) is `Markup`'s `+`;
//! * the source rewritten on the tree's byte spans (no line changes, so errors keep their
//!   lines) where minijinja with auto-escaping on differs from jinja2 with it off: every
//!   `{{ x }}` prints through `__jinja2_print` (its text, marked safe, so the formatter writes
//!   it unchanged); both operands of `~`, every call of a name (`f(...)`: macros, `caller()`,
//!   `loop(...)`) and every `{% set x %}` capture go through `__jinja2_plain` (a safe string
//!   becomes a plain one with the same text); a `{% filter f %}` block is
//!   `{% filter __jinja2_plain|f|__jinja2_print %}`;
//! * `join` and `replace` behave as with auto-escaping off (plain text, nothing escaped), and
//!   `forceescape` is defined.
//!
//! Python string methods on a `Markup` run as markupsafe's ([`method`]). Where jinja2's
//! `Markup` still differs: `.format()` on a `Markup` does not escape its arguments (the
//! `format` filter does); safe strings inside a mapping read by `join(attribute=...)` stay
//! safe; inside `{% autoescape false %}` a `+` escapes nothing.
//!
//! Uses minijinja's `unstable_machinery` parser (no semver promise: the version is the one
//! `Cargo.lock` pins).

use minijinja::machinery::ast::{self, BinOpKind, CallArg, Expr, Stmt};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, StringInput, ValueKind};
use minijinja::{AutoEscape, Environment, Error, Output, State, Value};
use std::cmp::Reverse;

/// The name of the filter every print goes through in markup mode.
macro_rules! print_filter {
    () => {
        "__jinja2_print"
    };
}
/// The name of the filter that makes a safe string plain in markup mode.
macro_rules! plain_filter {
    () => {
        "__jinja2_plain"
    };
}
const PRINT: &str = print_filter!();
const PLAIN: &str = plain_filter!();
/// The filters that make a jinja2 `Markup`.
const MARKUP_FILTERS: [&str; 4] = ["safe", "escape", "e", "forceescape"];

/// When a template renders in markup mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// When it applies a filter that makes a `Markup` (the rule).
    Detect,
    /// Always (tests: markup mode changes nothing in a template without `Markup`).
    #[cfg_attr(not(test), allow(dead_code))]
    Always,
}

/// The source to compile in markup mode, or `None` when the template renders as it is: it
/// makes no `Markup` (under [`Mode::Detect`]) or does not parse (compiling it then reports
/// the error).
pub fn rewrite(source: &str, syntax: SyntaxConfig, mode: Mode) -> Option<String> {
    if mode == Mode::Detect && !might_make_markup(source) {
        return None;
    }
    let tree = minijinja::machinery::parse(source, "<template>", syntax).ok()?;
    let mut rewriter = Rewriter::default();
    rewriter.stmt(&tree);
    (rewriter.makes_markup || mode == Mode::Always).then(|| rewriter.apply(source))
}

/// A cheap look at the text before parsing: whether a markup filter's name occurs at all.
fn might_make_markup(source: &str) -> bool {
    source.contains("safe")
        || source.contains("escape")
        || source.split('|').skip(1).any(|rest| {
            let rest = rest.trim_start();
            rest.starts_with('e')
                && !rest[1..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        })
}

/// Sets up `env` for markup mode (see the module documentation).
pub fn install(env: &mut Environment<'_>) {
    env.set_auto_escape_callback(|_| AutoEscape::Custom("markupsafe".into()));
    env.set_formatter(format);
    env.add_filter(PRINT, |v: Value| Value::from_safe_string(v.to_string()));
    env.add_filter(PLAIN, plain);
    env.add_filter("forceescape", |v: Value| {
        Value::from_safe_string(escape(&v.to_string()))
    });
    env.add_filter("join", join);
    env.add_filter("replace", replace);
}

/// markupsafe's `escape` of a text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The formatter of markup mode: safe strings as they are, anything else escaped. Prints
/// reach it safe (`__jinja2_print`); a plain operand of `safe + plain` reaches it as it is.
fn format(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    match value.as_str() {
        Some(text) if value.is_safe() => out.write_str(text),
        _ => out.write_str(&escape(&value.to_string())),
    }
    .map_err(Error::from)
}

/// A safe string as a plain one; any other value as it is.
fn plain(v: Value) -> Value {
    match v.as_str() {
        Some(text) if v.is_safe() => Value::from(text),
        _ => v,
    }
}

/// A Python string method called on a `Markup` (a safe string), as markupsafe runs it: `call`
/// (the environment's string methods) on its text, with the string arguments of the methods
/// markupsafe wraps (`upper`, `lower`, `title`, `capitalize`, `strip`, `lstrip`, `rstrip`,
/// `replace`) escaped and their result markup; `split` / `splitlines` give markup pieces;
/// `join` escapes the plain items. Other methods (`startswith`, `find`, ...) as on the text.
pub fn method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
    call: impl FnOnce(&mut State, &Value, &str, &[Value]) -> Result<Value, Error>,
) -> Result<Value, Error> {
    let text = plain(value.clone());
    match method {
        "upper" | "lower" | "title" | "capitalize" | "strip" | "lstrip" | "rstrip" | "replace" => {
            let args: Vec<Value> = args.iter().map(escape_plain_string).collect();
            call(state, &text, method, &args).map(markup)
        }
        "split" | "splitlines" => call(state, &text, method, args).map(markup),
        "join" => {
            let items = match args {
                [items] => items.try_iter()?.map(escape_item).collect::<Vec<_>>(),
                _ => return call(state, &text, method, args),
            };
            call(state, &text, method, &[Value::from(items)]).map(markup)
        }
        _ => call(state, &text, method, args),
    }
}

/// A plain string argument escaped (markupsafe's `_escape_argspec`); anything else as it is.
fn escape_plain_string(v: &Value) -> Value {
    match v.as_str() {
        Some(text) if !v.is_safe() => Value::from_safe_string(escape(text)),
        _ => v.clone(),
    }
}

/// markupsafe's `escape(x)` of an item: markup as it is, anything else its text escaped.
fn escape_item(v: Value) -> Value {
    if v.is_safe() {
        v
    } else {
        Value::from_safe_string(escape(&v.to_string()))
    }
}

/// A string (or the strings of a list) as markup.
fn markup(v: Value) -> Value {
    match v.kind() {
        ValueKind::String => Value::from_safe_string(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq => match v.try_iter() {
            Ok(items) => Value::from(items.map(markup).collect::<Vec<_>>()),
            Err(_) => v,
        },
        _ => v,
    }
}

/// jinja2's `join` with auto-escaping off: the items' texts, nothing escaped, a plain string
/// (minijinja's `join` on plain items and a plain joiner).
fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<Value>,
    attribute: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let value = match value.kind() {
        ValueKind::String => plain(value.clone()),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            Value::from(value.try_iter()?.map(plain).collect::<Vec<_>>())
        }
        _ => value.clone(),
    };
    let joiner = match joiner {
        Some(joiner) => Some(joiner),
        None => kwargs.get::<Option<Value>>("d")?,
    }
    .map(plain);
    let joiner = joiner
        .as_ref()
        .map(|j| StringInput::new(state, j))
        .transpose()?;
    minijinja::filters::join(state, &value, joiner, attribute.as_deref(), kwargs)
}

/// jinja2's `replace` with auto-escaping off: `str(s).replace(str(old), str(new), count)`.
fn replace(
    value: Value,
    old: Value,
    new: Value,
    count: Option<i64>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let count = match count {
        Some(count) => Some(count),
        None => kwargs.get::<Option<i64>>("count")?,
    };
    kwargs.assert_all_used()?;
    let count = count
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(usize::MAX);
    Ok(Value::from(value.to_string().replacen(
        &old.to_string(),
        &new.to_string(),
        count,
    )))
}

/// Text put around a byte range of the source.
struct Wrap {
    start: usize,
    end: usize,
    open: &'static str,
    close: &'static str,
}

/// Walks the syntax tree, noting the markup filters and the wraps markup mode needs.
#[derive(Default)]
struct Rewriter {
    wraps: Vec<Wrap>,
    makes_markup: bool,
}

/// `((x)|__jinja2_plain)` / `((x)|__jinja2_print)`: a primary expression wherever `x` stood.
const OPEN: &str = "((";
const PLAIN_CLOSE: &str = concat!(")|", plain_filter!(), ")");
const PRINT_CLOSE: &str = concat!(")|", print_filter!(), ")");

impl Rewriter {
    fn wrap(&mut self, (start, end): (usize, usize), open: &'static str, close: &'static str) {
        self.wraps.push(Wrap {
            start,
            end,
            open,
            close,
        });
    }

    /// `source` with the wraps in. They nest (they come from a tree): at one offset, closing
    /// texts go first, inner before outer, then opening ones, outer before inner.
    fn apply(&self, source: &str) -> String {
        let mut inserts: Vec<(usize, bool, Reverse<usize>, isize, &str)> = Vec::new();
        for (seq, w) in self.wraps.iter().enumerate() {
            let seq = seq as isize;
            inserts.push((w.start, true, Reverse(w.end), seq, w.open));
            inserts.push((w.end, false, Reverse(w.start), -seq, w.close));
        }
        inserts.sort_by_key(|&(at, opens, other, seq, _)| (at, opens, other, seq));
        let extra: usize = inserts.iter().map(|i| i.4.len()).sum();
        let mut out = String::with_capacity(source.len() + extra);
        let mut pos = 0;
        for (at, _, _, _, text) in inserts {
            out.push_str(&source[pos..at]);
            out.push_str(text);
            pos = at;
        }
        out.push_str(&source[pos..]);
        out
    }

    fn stmts(&mut self, stmts: &[Stmt<'_>]) {
        stmts.iter().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, stmt: &Stmt<'_>) {
        match stmt {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => {
                self.wrap(span(e.span()), OPEN, PRINT_CLOSE);
                self.expr(&e.expr);
            }
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.iter);
                if let Some(filter) = &f.filter_expr {
                    self.expr(filter);
                }
                self.stmts(&f.body);
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.stmts(&i.true_body);
                self.stmts(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                w.assignments.iter().for_each(|(_, e)| self.expr(e));
                self.stmts(&w.body);
            }
            Stmt::Set(s) => self.expr(&s.expr),
            Stmt::SetBlock(s) => {
                let (start, target_end) = extent(&s.target);
                let end = s.filter.as_ref().map_or(target_end, |f| extent(f).1);
                self.wrap((start, end), "", concat!("|", plain_filter!()));
                if let Some(filter) = &s.filter {
                    self.expr(filter);
                }
                self.stmts(&s.body);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.stmts(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.wrap(
                    span(f.filter_span),
                    concat!(plain_filter!(), "|"),
                    concat!("|", print_filter!()),
                );
                self.expr(&f.filter);
                self.stmts(&f.body);
            }
            Stmt::Block(b) => self.stmts(&b.body),
            Stmt::Import(i) => self.expr(&i.expr),
            Stmt::FromImport(i) => self.expr(&i.expr),
            Stmt::Extends(e) => self.expr(&e.name),
            Stmt::Include(i) => self.expr(&i.name),
            Stmt::Macro(m) => self.macro_decl(m),
            Stmt::CallBlock(c) => {
                self.call_parts(&c.call);
                self.macro_decl(&c.macro_decl);
            }
            Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::Do(d) => self.call_parts(&d.call),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro<'_>) {
        m.defaults.iter().for_each(|e| self.expr(e));
        self.stmts(&m.body);
    }

    /// The callee and arguments of a call that must stay a call (`{% call %}`, `{% do %}`).
    fn call_parts(&mut self, call: &ast::Call<'_>) {
        self.expr(&call.expr);
        call.args.iter().for_each(|a| self.expr(arg_expr(a)));
    }

    fn expr(&mut self, e: &Expr<'_>) {
        match e {
            Expr::Filter(f) if MARKUP_FILTERS.contains(&f.name) => self.makes_markup = true,
            Expr::BinOp(b) if matches!(b.op, BinOpKind::Concat) => {
                self.wrap(extent(&b.left), OPEN, PLAIN_CLOSE);
                self.wrap(extent(&b.right), OPEN, PLAIN_CLOSE);
            }
            Expr::Call(c) if matches!(c.expr, Expr::Var(_)) => {
                self.wrap(extent(e), OPEN, PLAIN_CLOSE)
            }
            _ => {}
        }
        for child in children(e) {
            self.expr(child);
        }
    }
}

fn span(s: minijinja::machinery::Span) -> (usize, usize) {
    (s.start_offset as usize, s.end_offset as usize)
}

fn arg_expr<'a, 'b>(arg: &'a CallArg<'b>) -> &'a Expr<'b> {
    match arg {
        CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => e,
    }
}

/// The direct sub-expressions of `e`.
fn children<'a, 'b>(e: &'a Expr<'b>) -> Vec<&'a Expr<'b>> {
    let args = |args: &'a [CallArg<'b>]| args.iter().map(arg_expr).collect::<Vec<_>>();
    match e {
        Expr::Var(_) | Expr::Const(_) => Vec::new(),
        Expr::Slice(s) => std::iter::once(&s.expr)
            .chain(s.start.as_ref())
            .chain(s.stop.as_ref())
            .chain(s.step.as_ref())
            .collect(),
        Expr::UnaryOp(u) => vec![&u.expr],
        Expr::BinOp(b) => vec![&b.left, &b.right],
        Expr::Compare(c) => std::iter::once(&c.expr)
            .chain(c.ops.iter().map(|op| &op.expr))
            .collect(),
        Expr::IfExpr(i) => [&i.true_expr, &i.test_expr]
            .into_iter()
            .chain(i.false_expr.as_ref())
            .collect(),
        Expr::Filter(f) => f.expr.iter().chain(args(&f.args)).collect(),
        Expr::Test(t) => std::iter::once(&t.expr).chain(args(&t.args)).collect(),
        Expr::GetAttr(g) => vec![&g.expr],
        Expr::GetItem(g) => vec![&g.expr, &g.subscript_expr],
        Expr::Call(c) => std::iter::once(&c.expr).chain(args(&c.args)).collect(),
        Expr::List(l) => l.items.iter().collect(),
        Expr::Tuple(t) => t.items.iter().collect(),
        Expr::Map(m) => m.keys.iter().chain(m.values.iter()).collect(),
    }
}

/// The byte range of `e`'s source text. A node's own span ends where it ends but does not
/// always start where it starts (a filter's or test's starts at its name, a comparison's or
/// an `if` expression's at the token before it), so the start is the earliest of its
/// children's and (except for those two) its own.
fn extent(e: &Expr<'_>) -> (usize, usize) {
    let (own_start, mut end) = span(e.span());
    let mut start = match e {
        Expr::Compare(_) | Expr::IfExpr(_) => usize::MAX,
        _ => own_start,
    };
    for child in children(e) {
        let (s, t) = extent(child);
        start = start.min(s);
        end = end.max(t);
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(source: &str) -> String {
        rewrite(source, SyntaxConfig::default(), Mode::Detect).unwrap_or_else(|| source.to_string())
    }

    #[test]
    fn templates_without_markup_filters_stay_as_they_are() {
        let source = "{{ a ~ b }}{{ f(x) + y|trim }}";
        assert_eq!(rewrite(source, SyntaxConfig::default(), Mode::Detect), None);
        assert!(!might_make_markup("{{ x|ee }}{{ y | upper }}"));
        assert!(might_make_markup("{{ x | e }}"));
    }

    #[test]
    fn rewrites_prints_concats_calls_and_captures() {
        assert_eq!(
            rewritten("{{ 'a'|safe ~ (b.c) }}"),
            "{{ (((('a'|safe)|__jinja2_plain) ~ (((b.c)|__jinja2_plain)))|__jinja2_print) }}"
        );
        assert_eq!(
            rewritten("{% set x | trim %}{{ m(1) }}{% endset %}{{ x|e }}"),
            "{% set x | trim|__jinja2_plain %}{{ ((((m(1))|__jinja2_plain))|__jinja2_print) }}\
             {% endset %}{{ ((x|e)|__jinja2_print) }}"
        );
        assert_eq!(
            rewritten("{% filter upper %}{{ a if b == 1 else c|safe }}{% endfilter %}"),
            "{% filter __jinja2_plain|upper|__jinja2_print %}\
             {{ ((a if b == 1 else c|safe)|__jinja2_print) }}{% endfilter %}"
        );
    }
}
