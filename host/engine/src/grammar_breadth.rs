//! How many parse positions a GBNF grammar can keep alive at once: what a grammar costs
//! llama.cpp per sampled token.
//!
//! llama.cpp's grammar sampler tracks one *stack* per way the output so far can continue, and
//! de-duplicates new stacks against the others one by one, so a step costs about the square
//! of the live stacks, on the model's scheduler thread. An `enum` of 20k strings keeps 20k
//! stacks alive for as long as the strings share a prefix: seconds per token, for every
//! request on that model. [`breadth`] bounds that number from the grammar's text: the most
//! alternatives that can start at one point (an alternation, summed through rule references
//! and optional items that begin it), over every rule and every point inside a rule. Nested
//! alternations multiply, as they do in llama.cpp (`a ::= b | b`, `b ::= c | c`, ...).

use std::collections::HashMap;

/// One element of a sequence: a terminal (literal, character class, `.`, token) or a rule
/// (named, or a parenthesised group), and whether its repetition allows zero times.
#[derive(Debug, Clone, Copy)]
struct Element {
    /// `None`: a terminal; `Some(i)`: rule `i`.
    rule: Option<usize>,
    optional: bool,
}

/// A rule: its alternatives, each a sequence of elements.
type Rule = Vec<Vec<Element>>;

/// The grammar's rules as far as breadth goes.
#[derive(Default)]
struct Parsed {
    rules: Vec<Rule>,
    names: HashMap<String, usize>,
}

impl Parsed {
    fn rule_id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        self.rules.push(Vec::new());
        let id = self.rules.len() - 1;
        self.names.insert(name.to_string(), id);
        id
    }

    fn new_group(&mut self) -> usize {
        self.rules.push(Vec::new());
        self.rules.len() - 1
    }
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// A lenient reader of GBNF: what llama.cpp refuses it reads somehow (llama.cpp then refuses
/// the grammar with its own message); it never fails or loops.
struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.pos += 1;
                }
            } else if c.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Skips a quoted literal or a character class (escapes included), from its opening
    /// character.
    fn skip_delimited(&mut self, close: u8) {
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\\' {
                self.pos += 1;
            } else if c == close {
                return;
            }
        }
    }

    fn name(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default()
    }

    /// Whether a rule definition (`name ::=`) starts here.
    fn at_definition(&self) -> bool {
        let mut p = self.pos;
        if !self.s.get(p).copied().is_some_and(is_name_char) {
            return false;
        }
        while self.s.get(p).copied().is_some_and(is_name_char) {
            p += 1;
        }
        while self.s.get(p).is_some_and(|c| *c == b' ' || *c == b'\t') {
            p += 1;
        }
        self.s[p.min(self.s.len())..].starts_with(b"::=")
    }

    /// Reads alternatives into rule `id` until `)` (nested) or the next definition.
    fn alternatives(&mut self, g: &mut Parsed, id: usize, nested: bool) {
        let mut alts: Vec<Vec<Element>> = vec![Vec::new()];
        loop {
            self.skip_space();
            let Some(c) = self.peek() else { break };
            if nested && c == b')' {
                self.pos += 1;
                break;
            }
            if !nested && self.at_definition() {
                break;
            }
            let element = match c {
                b'|' => {
                    self.pos += 1;
                    alts.push(Vec::new());
                    continue;
                }
                b'"' => {
                    self.skip_delimited(b'"');
                    Element {
                        rule: None,
                        optional: false,
                    }
                }
                b'[' => {
                    self.skip_delimited(b']');
                    Element {
                        rule: None,
                        optional: false,
                    }
                }
                b'<' => {
                    self.skip_delimited(b'>');
                    Element {
                        rule: None,
                        optional: false,
                    }
                }
                b'.' | b'!' => {
                    self.pos += 1;
                    Element {
                        rule: None,
                        optional: false,
                    }
                }
                b'(' => {
                    self.pos += 1;
                    let group = g.new_group();
                    self.alternatives(g, group, true);
                    Element {
                        rule: Some(group),
                        optional: false,
                    }
                }
                b'*' | b'?' | b'+' | b'{' => {
                    let optional = match c {
                        b'{' => {
                            self.pos += 1;
                            self.skip_space();
                            let start = self.pos;
                            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                                self.pos += 1;
                            }
                            let zero = self.s[start..self.pos].iter().all(|&d| d == b'0');
                            while self.peek().is_some_and(|c| c != b'}') {
                                self.pos += 1;
                            }
                            self.pos += 1;
                            zero
                        }
                        b'+' => {
                            self.pos += 1;
                            false
                        }
                        _ => {
                            self.pos += 1;
                            true
                        }
                    };
                    if let Some(last) = alts.last_mut().and_then(|a| a.last_mut()) {
                        last.optional |= optional;
                    }
                    continue;
                }
                c if is_name_char(c) => {
                    let name = self.name().to_string();
                    Element {
                        rule: Some(g.rule_id(&name)),
                        optional: false,
                    }
                }
                _ => {
                    // Not GBNF; llama.cpp will say so.
                    self.pos += 1;
                    continue;
                }
            };
            if let Some(alt) = alts.last_mut() {
                alt.push(element);
            }
        }
        g.rules[id].extend(alts);
    }
}

fn parse(text: &str) -> Parsed {
    let mut g = Parsed::default();
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
    };
    loop {
        r.skip_space();
        if r.peek().is_none() {
            break;
        }
        if !r.at_definition() {
            // Stray text between rules: skip a character (llama.cpp refuses such grammars).
            r.pos += 1;
            continue;
        }
        let name = r.name().to_string();
        let id = g.rule_id(&name);
        r.skip_space();
        r.pos += 3; // `::=`
        r.alternatives(&mut g, id, false);
    }
    g
}

/// Breadth of each rule, and the most over every point of every rule.
struct Breadths<'a> {
    g: &'a Parsed,
    rule: Vec<Option<u64>>,
    nullable: Vec<Option<bool>>,
    visiting: Vec<bool>,
}

impl Breadths<'_> {
    /// Whether rule `id` can match the empty string (a cycle counts as not).
    fn nullable(&mut self, id: usize) -> bool {
        if let Some(n) = self.nullable[id] {
            return n;
        }
        if self.visiting[id] {
            return false;
        }
        self.visiting[id] = true;
        let g = self.g;
        let n = g.rules[id].iter().any(|alt| {
            alt.iter()
                .all(|e| e.optional || e.rule.is_some_and(|r| self.nullable(r)))
        });
        self.visiting[id] = false;
        self.nullable[id] = Some(n);
        n
    }

    /// Stacks alive on entering rule `id` (a left-recursive cycle counts once).
    fn rule(&mut self, id: usize) -> u64 {
        if let Some(b) = self.rule[id] {
            return b;
        }
        if self.visiting[id] {
            return 1;
        }
        self.visiting[id] = true;
        let g = self.g;
        let b = g.rules[id]
            .iter()
            .fold(0u64, |sum, alt| sum.saturating_add(self.suffix(alt, 0)));
        self.visiting[id] = false;
        let b = b.max(1);
        self.rule[id] = Some(b);
        b
    }

    /// Stacks alive at position `i` of a sequence: its element there, and the ones after it
    /// while they may be skipped.
    fn suffix(&mut self, alt: &[Element], i: usize) -> u64 {
        let mut total = 0u64;
        for e in &alt[i..] {
            let here = e.rule.map_or(1, |r| self.rule(r));
            total = total.saturating_add(here);
            let skippable = e.optional || e.rule.is_some_and(|r| self.nullable(r));
            if !skippable {
                return total;
            }
        }
        // The end of the sequence: one stack that goes on in the caller.
        total.saturating_add(1)
    }
}

/// The most parse stacks `grammar` (GBNF) can keep alive at one point (see the module docs);
/// saturates instead of overflowing.
pub fn breadth(grammar: &str) -> u64 {
    let g = parse(grammar);
    let n = g.rules.len();
    let mut b = Breadths {
        g: &g,
        rule: vec![None; n],
        nullable: vec![None; n],
        visiting: vec![false; n],
    };
    let mut most = 0u64;
    for id in 0..n {
        most = most.max(b.rule(id));
        for alt in &g.rules[id] {
            for i in 1..alt.len() {
                most = most.max(b.suffix(alt, i));
            }
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grammars_are_narrow() {
        assert_eq!(breadth(r#"root ::= "a""#), 1);
        assert_eq!(breadth(r#"root ::= "a" | "b" | [c-d]"#), 3);
        // Literals and classes hide no alternatives.
        assert_eq!(breadth(r#"root ::= "a|b|(c" [|(] # | | |"#), 1);
    }

    #[test]
    fn alternatives_add_up_through_references_and_optional_items() {
        let enum_of = |n: usize| {
            let values: Vec<String> = (0..n).map(|i| format!("\"\\\"v{i}\\\"\"")).collect();
            format!(
                "root ::= \"{{\" v \"}}\"\nv ::= ({}) space\nspace ::= \" \"?\n",
                values.join(" | ")
            )
        };
        assert_eq!(breadth(&enum_of(1000)), 1000);
        // Optional items before an alternation keep theirs alive too.
        let g = "root ::= a? b* c\na ::= \"x\" | \"y\"\nb ::= \"z\"\nc ::= \"1\" | \"2\" | \"3\"";
        assert_eq!(breadth(g), 2 + 1 + 3);
        // In the middle of a sequence.
        assert_eq!(breadth("root ::= \"a\" (\"b\" | \"c\" | \"d\")"), 3);
    }

    #[test]
    fn nesting_multiplies_and_cycles_end() {
        let mut g = String::from("root ::= r0\n");
        for i in 0..40 {
            g.push_str(&format!("r{i} ::= r{} | r{}\n", i + 1, i + 1));
        }
        g.push_str("r40 ::= \"x\"\n");
        assert!(breadth(&g) >= 1 << 40, "{}", breadth(&g));
        // Left recursion (llama.cpp refuses it) and self-reference do not loop.
        assert!(breadth("root ::= root \"a\" | \"b\"") <= 3);
        assert!(breadth("root ::= \"(\" root \")\" | \"x\"") <= 3);
        // Garbage is read without panicking.
        for junk in [
            "",
            "::=",
            "root ::= (((",
            "a ::= {",
            "x ::= \"unterminated",
            "[",
            "root ::= a{99999999999999999999}",
        ] {
            breadth(junk);
        }
    }
}
