//! Constrained-output grammars (GBNF, root rule `root`) for `response_format: json_object`
//! and Ollama's `format: "json"`.

/// Any JSON object, with bounded runs of whitespace so that a model cannot pad forever.
pub const JSON_GRAMMAR: &str = r#"root   ::= ws object
object ::= "{" ws ( member ( "," ws member )* )? "}" ws
member ::= string ":" ws value
array  ::= "[" ws ( value ( "," ws value )* )? "]" ws
value  ::= object | array | string | number | ( "true" | "false" | "null" ) ws
string ::= "\"" char* "\"" ws
char   ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" hex hex hex hex )
hex    ::= [0-9a-fA-F]
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )? ws
ws     ::= [ \t\n]{0,16}
"#;
