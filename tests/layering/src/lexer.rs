//! A small Rust lexer: identifiers and punctuation with their line numbers; comments, string
//! and character literals and lifetimes are skipped. Enough to read module declarations and
//! paths, nothing more.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword (raw identifiers lose their `r#`).
    Ident(String),
    /// `::`.
    PathSep,
    /// Any other punctuation character.
    Punct(char),
}

/// A token and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line.
    pub line: usize,
}

/// The tokens of `src`.
pub fn tokens(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(&chars, i + 1, &mut line),
            'r' | 'b' | 'c' if starts_literal(&chars, i) => {
                let raw = c == 'r' || at(i + 1) == 'r';
                let mut j = if c == 'r' {
                    i + 1
                } else if raw {
                    i + 2
                } else {
                    i + 1
                };
                if raw {
                    // r"...", r#"..."#, br##"..."##: no escapes inside.
                    let mut hashes = 0;
                    while at(j) == '#' {
                        hashes += 1;
                        j += 1;
                    }
                    j += 1; // the opening quote
                    while j < chars.len() {
                        if chars[j] == '\n' {
                            line += 1;
                        }
                        if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                            j += 1 + hashes;
                            break;
                        }
                        j += 1;
                    }
                    i = j;
                } else if at(j) == '\'' {
                    i = skip_char(&chars, j + 1);
                } else {
                    i = skip_string(&chars, j + 1, &mut line);
                }
            }
            '\'' => {
                // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
                if at(i + 1) == '\\' || at(i + 2) == '\'' {
                    i = skip_char(&chars, i + 1);
                } else {
                    i += 1;
                    while at(i).is_alphanumeric() || at(i) == '_' {
                        i += 1;
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
                let mut word: String = chars[start..i].iter().collect();
                if word == "r" && at(i) == '#' && (at(i + 1).is_alphabetic() || at(i + 1) == '_') {
                    let s = i + 1;
                    i += 1;
                    while at(i).is_alphanumeric() || at(i) == '_' {
                        i += 1;
                    }
                    word = chars[s..i].iter().collect();
                }
                out.push(Token {
                    tok: Tok::Ident(word),
                    line,
                });
            }
            c if c.is_ascii_digit() => {
                while at(i).is_alphanumeric()
                    || at(i) == '_'
                    || (at(i) == '.' && at(i + 1).is_ascii_digit())
                {
                    i += 1;
                }
            }
            ':' if at(i + 1) == ':' => {
                out.push(Token {
                    tok: Tok::PathSep,
                    line,
                });
                i += 2;
            }
            c => {
                out.push(Token {
                    tok: Tok::Punct(c),
                    line,
                });
                i += 1;
            }
        }
    }
    out
}

/// Whether `chars[i]` (an `r`, `b` or `c`) opens a string or byte literal rather than an
/// identifier.
fn starts_literal(chars: &[char], i: usize) -> bool {
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    if i > 0 && (at(i - 1).is_alphanumeric() || at(i - 1) == '_') {
        return false;
    }
    match (at(i), at(i + 1), at(i + 2)) {
        (_, '"', _) => true,
        ('b', '\'', _) => true,
        ('r', '#', c) => c == '"' || c == '#',
        ('b' | 'c', 'r', '"' | '#') => true,
        _ => false,
    }
}

/// Skips a string body from just after its opening quote; returns the index after the close.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Skips a char literal body from just after its opening quote.
fn skip_char(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '\'' => return i + 1,
            '\n' => return i,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        tokens(src)
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Ident(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_strings_chars_and_lifetimes_are_skipped() {
        let src = "// use crate::a;\n/* use crate::b; /* nested */ */ let st = \"crate::c\"; \
                   let raw = r#\"crate::d\"#; let ch = '\\''; let q = 'x'; fn f<'a>(x: &'a str) {}\n\
                   use crate::e;";
        let words = idents(src);
        assert!(!words.contains(&"a".to_string()), "{words:?}");
        assert!(!words.contains(&"b".to_string()));
        assert!(!words.contains(&"c".to_string()));
        assert!(!words.contains(&"d".to_string()));
        assert!(words.ends_with(&["use".into(), "crate".into(), "e".into()]));
        let last = tokens(src).last().cloned().unwrap();
        assert_eq!(last.line, 3);
    }
}
