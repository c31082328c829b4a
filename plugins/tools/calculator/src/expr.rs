//! A recursive-descent arithmetic evaluator.
//!
//! ```text
//! expr    := term (("+" | "-") term)*
//! term    := unary (("*" | "/" | "%") unary)*
//! unary   := ("-" | "+") unary | power
//! power   := primary (("^" | "**") unary)?          right-associative: 2^3^2 = 2^9
//! primary := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
//! number  := digits ["." digits] [("e" | "E") ["+" | "-"] digits]   (also ".5")
//! ```
//!
//! `-2^2` is `-(2^2)` = -4. Constants: `pi`, `e` (also `tau`). Functions (angles in radians):
//! `sqrt abs sin cos tan asin acos atan ln exp floor ceil round log10 log2` of one argument,
//! `log(x)` = log10, `log(x, base)`, `min(..)` / `max(..)` of one or more arguments. `%` is the
//! remainder with the sign of the dividend. Division or remainder by zero, unknown names,
//! wrong argument counts, syntax errors and results that are not finite numbers are errors
//! naming the 1-based column (in characters).

use std::fmt;

/// Longest expression accepted, in bytes.
pub const MAX_LEN: usize = 10_000;
/// Deepest nesting of parentheses / unary operators / powers accepted.
pub const MAX_DEPTH: usize = 200;

/// An evaluation error: what went wrong and where.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    /// What is wrong, e.g. `division by zero`.
    pub message: String,
    /// 1-based column (in characters) where it was found.
    pub column: usize,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    Pow,
    LParen,
    RParen,
    Comma,
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Name(n) => write!(f, "`{n}`"),
            Tok::Op(c) => write!(f, "`{c}`"),
            Tok::Pow => f.write_str("`^`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::End => f.write_str("the end of the expression"),
        }
    }
}

fn err<T>(message: impl Into<String>, column: usize) -> Result<T, EvalError> {
    Err(EvalError {
        message: message.into(),
        column,
    })
}

/// Splits `s` into tokens with their 1-based columns (the last one is [`Tok::End`]).
fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, EvalError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(v) => out.push((Tok::Num(v), col)),
                Err(_) => return err(format!("malformed number `{text}`"), col),
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Name(chars[start..i].iter().collect()), col));
            continue;
        }
        let tok = match c {
            '+' | '-' | '/' | '%' => Tok::Op(c),
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Tok::Pow
            }
            '*' | '×' => Tok::Op('*'),
            '÷' => Tok::Op('/'),
            '^' => Tok::Pow,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            other => return err(format!("unexpected character `{other}`"), col),
        };
        out.push((tok, col));
        i += 1;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn col(&self) -> usize {
        self.toks[self.pos].1
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn enter(&mut self) -> Result<(), EvalError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                format!("expression nested deeper than {MAX_DEPTH} levels"),
                self.col(),
            );
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, EvalError> {
        let mut v = self.term()?;
        while let Tok::Op(op @ ('+' | '-')) = *self.peek() {
            self.bump();
            let r = self.term()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, EvalError> {
        let mut v = self.unary()?;
        while let Tok::Op(op @ ('*' | '/' | '%')) = *self.peek() {
            let (_, col) = self.bump();
            let r = self.unary()?;
            v = match op {
                '*' => v * r,
                _ if r == 0.0 => {
                    let what = if op == '/' { "division" } else { "remainder" };
                    return err(format!("{what} by zero"), col);
                }
                '/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, EvalError> {
        if let Tok::Op(op @ ('+' | '-')) = *self.peek() {
            self.bump();
            self.enter()?;
            let v = self.unary()?;
            self.depth -= 1;
            return Ok(if op == '-' { -v } else { v });
        }
        self.power()
    }

    fn power(&mut self) -> Result<f64, EvalError> {
        let base = self.primary()?;
        if *self.peek() == Tok::Pow {
            self.bump();
            self.enter()?;
            let exp = self.unary()?;
            self.depth -= 1;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, EvalError> {
        let (tok, col) = self.bump();
        match tok {
            Tok::Num(v) => Ok(v),
            Tok::LParen => {
                self.enter()?;
                let v = self.expr()?;
                self.depth -= 1;
                self.expect_rparen(col)?;
                Ok(v)
            }
            Tok::Name(name) => {
                if *self.peek() == Tok::LParen {
                    self.bump();
                    self.enter()?;
                    let mut args = vec![self.expr()?];
                    while *self.peek() == Tok::Comma {
                        self.bump();
                        args.push(self.expr()?);
                    }
                    self.depth -= 1;
                    self.expect_rparen(col)?;
                    call(&name, &args, col)
                } else {
                    constant(&name, col)
                }
            }
            other => err(
                format!("expected a number, a name or `(` but found {other}"),
                col,
            ),
        }
    }

    fn expect_rparen(&mut self, open_col: usize) -> Result<(), EvalError> {
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok(());
        }
        let col = self.col();
        err(
            format!(
                "expected `)` (for the `(` at column {open_col}) but found {}",
                self.peek()
            ),
            col,
        )
    }
}

fn constant(name: &str, col: usize) -> Result<f64, EvalError> {
    match name {
        "pi" | "PI" | "π" => Ok(std::f64::consts::PI),
        "e" | "E" => Ok(std::f64::consts::E),
        "tau" => Ok(std::f64::consts::TAU),
        _ if function_arity(name).is_some() => err(
            format!("function `{name}` needs arguments in parentheses"),
            col,
        ),
        _ => err(
            format!("unknown name `{name}` (constants: pi, e, tau)"),
            col,
        ),
    }
}

/// Allowed argument counts of a function: `(min, max)`.
fn function_arity(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "sqrt" | "abs" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan" | "ln" | "log10"
        | "log2" | "exp" | "floor" | "ceil" | "round" => (1, 1),
        "log" => (1, 2),
        "min" | "max" => (1, usize::MAX),
        _ => return None,
    })
}

fn call(name: &str, args: &[f64], col: usize) -> Result<f64, EvalError> {
    let Some((lo, hi)) = function_arity(name) else {
        return err(
            format!(
                "unknown function `{name}` (functions: sqrt abs sin cos tan asin acos atan ln \
                 log log10 log2 exp floor ceil round min max)"
            ),
            col,
        );
    };
    if args.len() < lo || args.len() > hi {
        let want = match (lo, hi) {
            (1, 1) => "1 argument".to_string(),
            (1, 2) => "1 or 2 arguments".to_string(),
            _ => "at least 1 argument".to_string(),
        };
        return err(format!("`{name}` takes {want} but got {}", args.len()), col);
    }
    let x = args[0];
    Ok(match name {
        "sqrt" => x.sqrt(),
        "abs" => x.abs(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        "ln" => x.ln(),
        "log10" => x.log10(),
        "log2" => x.log2(),
        "log" if args.len() == 2 => x.ln() / args[1].ln(),
        "log" => x.log10(),
        "exp" => x.exp(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        "min" => args.iter().copied().fold(f64::INFINITY, f64::min),
        _ => args.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// Evaluates `expression`.
pub fn evaluate(expression: &str) -> Result<f64, EvalError> {
    if expression.len() > MAX_LEN {
        return err(format!("expression longer than {MAX_LEN} bytes"), 1);
    }
    let toks = tokenize(expression)?;
    if toks.len() == 1 {
        return err("the expression is empty", 1);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let v = p.expr()?;
    if *p.peek() != Tok::End {
        let col = p.col();
        return err(
            format!("unexpected {} after a complete expression", p.peek()),
            col,
        );
    }
    if !v.is_finite() {
        let what = if v.is_nan() {
            "not a number"
        } else {
            "infinite"
        };
        return err(format!("the result is {what}"), 1);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> f64 {
        evaluate(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn bad(s: &str) -> String {
        evaluate(s).unwrap_err().to_string()
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ok("1 + 2 * 3"), 7.0);
        assert_eq!(ok("(1 + 2) * 3"), 9.0);
        assert_eq!(ok("10 - 4 - 3"), 3.0);
        assert_eq!(ok("100 / 10 / 5"), 2.0);
        assert_eq!(ok("2 ^ 3 ^ 2"), 512.0);
        assert_eq!(ok("2 ** 10"), 1024.0);
        assert_eq!(ok("-2 ^ 2"), -4.0);
        assert_eq!(ok("2 ^ -1"), 0.5);
        assert_eq!(ok("--3"), 3.0);
        assert_eq!(ok("7 % 3"), 1.0);
        assert_eq!(ok("-7 % 3"), -1.0);
        assert_eq!(ok("2 * -3"), -6.0);
    }

    #[test]
    fn numbers() {
        assert_eq!(ok("1.5e3"), 1500.0);
        assert_eq!(ok("2E-2"), 0.02);
        assert_eq!(ok(".5 + 0.25"), 0.75);
        assert_eq!(ok("3."), 3.0);
    }

    #[test]
    fn constants_and_functions() {
        assert!((ok("pi") - std::f64::consts::PI).abs() < 1e-15);
        assert!((ok("ln(e)") - 1.0).abs() < 1e-15);
        assert_eq!(ok("sqrt(16) + abs(-2)"), 6.0);
        assert_eq!(ok("log(1000)"), 3.0);
        assert_eq!(ok("log10(100)"), 2.0);
        assert_eq!(ok("log2(8)"), 3.0);
        assert!((ok("log(8, 2)") - 3.0).abs() < 1e-12);
        assert_eq!(ok("min(3, 1, 2)"), 1.0);
        assert_eq!(ok("max(3, 1, 2 * 4)"), 8.0);
        assert_eq!(ok("floor(2.7) + ceil(2.1) + round(2.5)"), 8.0);
        assert!((ok("sin(pi / 2) * cos(0) - tan(0) + atan(1) * 4 - pi") - 1.0).abs() < 1e-12);
        assert!((ok("asin(1) + acos(1) - pi / 2")).abs() < 1e-12);
        assert!((ok("exp(1)") - std::f64::consts::E).abs() < 1e-15);
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(bad("1 / 0"), "division by zero at column 3");
        assert_eq!(bad("5 % (2 - 2)"), "remainder by zero at column 3");
        assert_eq!(
            bad("2 + foo"),
            "unknown name `foo` (constants: pi, e, tau) at column 5"
        );
        assert!(
            bad("bar(1)").starts_with("unknown function `bar`"),
            "{}",
            bad("bar(1)")
        );
        assert!(bad("bar(1)").ends_with("at column 1"));
        assert_eq!(
            bad("(1 + 2"),
            "expected `)` (for the `(` at column 1) but found the end of the expression at column 7"
        );
        assert_eq!(
            bad("1 + * 2"),
            "expected a number, a name or `(` but found `*` at column 5"
        );
        assert_eq!(
            bad("1 2"),
            "unexpected number 2 after a complete expression at column 3"
        );
        assert_eq!(bad("2 $ 3"), "unexpected character `$` at column 3");
        assert_eq!(bad(""), "the expression is empty at column 1");
        assert_eq!(
            bad("sqrt(1, 2)"),
            "`sqrt` takes 1 argument but got 2 at column 1"
        );
        assert_eq!(
            bad("sqrt"),
            "function `sqrt` needs arguments in parentheses at column 1"
        );
        assert_eq!(bad("sqrt(-1)"), "the result is not a number at column 1");
        assert_eq!(bad("10 ^ 400"), "the result is infinite at column 1");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(3000), ")".repeat(3000));
        assert!(bad(&deep).contains("nested deeper"), "{}", bad(&deep));
        let minus = "-".repeat(5000) + "1";
        assert!(bad(&minus).contains("nested deeper"));
        assert_eq!(ok(&format!("{}1{}", "(".repeat(100), ")".repeat(100))), 1.0);
    }
}
