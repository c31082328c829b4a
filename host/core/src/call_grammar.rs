//! Grammars (GBNF, root rule `root`) that force a tool call written in the model family's own
//! syntax (`<tool_call>…</tool_call>`, `[TOOL_CALLS]name[ARGS]…`, harmony's
//! `<|channel|>commentary to=functions.NAME…`, …) around arguments constrained by the tool's
//! JSON schema, so that a forced call looks like the calls the model was trained on and the
//! template's own parser reads it back.
//!
//! The family is chosen from the template plugin and, for `jinja`, from the model's chat
//! template text, with the markers the plugin SDK's `tool_calls::ToolCallFormat::detect`
//! uses. The JSON schema of an argument object (or of one XML parameter) is turned into GBNF by
//! the caller (llama.cpp's converter); this module renames its rules and embeds it.

use serde_json::Value;
use std::collections::BTreeSet;

/// How a family writes one forced call (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSyntax {
    /// `<tool_call>\n{"name": "NAME", "arguments": {..}}\n</tool_call>` (Hermes, Qwen, Granite 4).
    Hermes,
    /// `<tool_call>\n<function=NAME>\n<parameter=K>\nV\n</parameter>\n</function>\n</tool_call>`.
    Qwen3Coder,
    /// `{"name": "NAME", "parameters": {..}}` (Llama 3.x).
    Llama3,
    /// `[TOOL_CALLS][{"name": "NAME", "arguments": {..}}]` (Mistral v0.3, Nemo).
    MistralJson,
    /// `[TOOL_CALLS]NAME[ARGS]{..}` (Devstral, Mistral Small 3.2, Ministral 3).
    MistralArgs,
    /// `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{..}` (gpt-oss).
    Harmony,
    /// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{..}<｜tool▁call▁end｜><｜tool▁calls▁end｜>`.
    DeepSeekV3,
    /// DeepSeek R1: `…function<｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>…`.
    DeepSeekR1,
    /// `<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{..}<|tool_call_end|><|tool_calls_section_end|>`.
    KimiK2,
    /// `<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n</tool_call>` (GLM 4.x).
    Glm,
    /// `<function=NAME>{..}</function>` (Functionary v3.1).
    FunctionaryV31,
    /// `NAME\n{..}` after the prompt's `>>>` (Functionary v3.2; only when the parser is told
    /// the format, since the output carries no marker).
    FunctionaryV32,
    /// `<|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "NAME", "parameters": {..}}\n]<|END_ACTION|>`.
    CommandR7B,
    /// `<|tool_call|>[{"name": "NAME", "arguments": {..}}]` (Granite 3.3).
    Granite33,
    /// `<minimax:tool_call>\n<invoke name="NAME">\n<parameter name="K">V</parameter>\n</invoke>\n</minimax:tool_call>` (MiniMax M2).
    MiniMaxM2,
    /// `]<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name="NAME">]<]minimax[>[<K>V]<]minimax[>[</K>]<]minimax[>[</invoke>\n]<]minimax[>[</tool_call>` (MiniMax M3).
    MiniMaxM3,
    /// `<｜DSML｜function_calls>\n<｜DSML｜invoke name="NAME">\n<｜DSML｜parameter name="K" string="true|false">V</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>` (DeepSeek V3.2).
    DeepSeekDsml,
    /// [`CallSyntax::DeepSeekDsml`] in a `<｜DSML｜tool_calls>` block (DeepSeek V4).
    DeepSeekDsmlV4,
    /// `<tool_calls>[{"name": "NAME", "arguments": {..}}]</tool_calls>` (Apriel 1.5, 1.6).
    Apriel,
}

impl CallSyntax {
    /// The syntax of the template plugin `plugin` (for `jinja`: of `chat_template`); `None`
    /// when the family writes calls as plain JSON or is not known (the caller then forces
    /// `{"name", "arguments"}` JSON).
    pub fn for_template(plugin: &str, chat_template: Option<&str>) -> Option<CallSyntax> {
        match plugin {
            "chatml" | "phi3" | "gemma" | "deepseek" => Some(CallSyntax::Hermes),
            "llama3" => Some(CallSyntax::Llama3),
            "mistral" => Some(CallSyntax::MistralJson),
            "jinja" => chat_template.and_then(CallSyntax::detect),
            _ => None,
        }
    }

    /// The syntax of a `tool-call-format` setting of the `jinja` plugin (the SDK's format
    /// names): `Some(None)` for `json`, `None` for `auto` or a name it does not know (then the
    /// template decides).
    pub fn for_format_name(name: &str, chat_template: Option<&str>) -> Option<Option<CallSyntax>> {
        let detected = chat_template.and_then(CallSyntax::detect);
        Some(Some(match name.trim().to_ascii_lowercase().as_str() {
            "json" => return Some(None),
            "hermes" | "qwen" | "chatml" => CallSyntax::Hermes,
            "qwen3-coder" => CallSyntax::Qwen3Coder,
            "llama3" | "llama" => CallSyntax::Llama3,
            "mistral" => match detected {
                Some(CallSyntax::MistralJson) => CallSyntax::MistralJson,
                _ => CallSyntax::MistralArgs,
            },
            "harmony" | "gpt-oss" => CallSyntax::Harmony,
            "deepseek" => match detected {
                Some(CallSyntax::DeepSeekR1) => CallSyntax::DeepSeekR1,
                _ => CallSyntax::DeepSeekV3,
            },
            "kimi-k2" | "kimi" => CallSyntax::KimiK2,
            "glm" => CallSyntax::Glm,
            "functionary-v3.1" => CallSyntax::FunctionaryV31,
            "functionary-v3.2" => CallSyntax::FunctionaryV32,
            "command-r7b" => CallSyntax::CommandR7B,
            "granite" => CallSyntax::Granite33,
            "minimax-m2" => CallSyntax::MiniMaxM2,
            "minimax-m3" => CallSyntax::MiniMaxM3,
            "deepseek-dsml" => match detected {
                Some(CallSyntax::DeepSeekDsmlV4) => CallSyntax::DeepSeekDsmlV4,
                _ => CallSyntax::DeepSeekDsml,
            },
            "apriel" => CallSyntax::Apriel,
            _ => return None,
        }))
    }

    /// The syntax a chat template teaches (the order of the SDK's detection).
    pub fn detect(t: &str) -> Option<CallSyntax> {
        let has = |s: &str| t.contains(s);
        Some(if has("<|channel|>") {
            CallSyntax::Harmony
        } else if has(">>>all") {
            return None; // Functionary v3.2: no marker the parser could find without the template
        } else if has("<|tool_calls_section_begin|>") {
            CallSyntax::KimiK2
        } else if has(MINIMAX_NS) && has("<invoke name=") {
            CallSyntax::MiniMaxM3
        } else if has("dsml_token") || has("｜DSML｜") {
            if has("tool_calls>") {
                CallSyntax::DeepSeekDsmlV4
            } else {
                CallSyntax::DeepSeekDsml
            }
        } else if has("<｜tool▁calls▁begin｜>") {
            if has("```json") {
                CallSyntax::DeepSeekR1
            } else {
                CallSyntax::DeepSeekV3
            }
        } else if has("<minimax:tool_call>") || has("<invoke name=") {
            CallSyntax::MiniMaxM2
        } else if has("<tool_calls>")
            && (has("<|begin_assistant|>") || has("[BEGIN FINAL RESPONSE]"))
        {
            CallSyntax::Apriel
        } else if has("<function=") && has("<parameter=") {
            CallSyntax::Qwen3Coder
        } else if has("<arg_key>") {
            CallSyntax::Glm
        } else if has("<|START_ACTION|>") {
            CallSyntax::CommandR7B
        } else if has("<|tool_call|>") {
            CallSyntax::Granite33
        } else if has("<|start_of_role|>") && has("<tool_call>") {
            CallSyntax::Hermes
        } else if has("<function=") {
            CallSyntax::FunctionaryV31
        } else if has("[TOOL_CALLS]") {
            if has("[ARGS]") {
                CallSyntax::MistralArgs
            } else {
                CallSyntax::MistralJson
            }
        } else if has("<tool_call>") {
            CallSyntax::Hermes
        } else if has("<|python_tag|>") || (has("ipython") && has("<|start_header_id|>")) {
            CallSyntax::Llama3
        } else {
            return None;
        })
    }

    /// Whether the arguments are written as XML parameters (else as one JSON object).
    fn xml_parameters(self) -> bool {
        matches!(
            self,
            CallSyntax::Qwen3Coder
                | CallSyntax::Glm
                | CallSyntax::MiniMaxM2
                | CallSyntax::MiniMaxM3
                | CallSyntax::DeepSeekDsml
                | CallSyntax::DeepSeekDsmlV4
        )
    }

    /// `(before the calls, between two calls, after the calls)`; `None` for a syntax that
    /// writes one call per answer.
    fn frame(self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(match self {
            CallSyntax::Hermes | CallSyntax::Qwen3Coder | CallSyntax::Glm => ("", "\n", ""),
            CallSyntax::Llama3 => ("", "; ", ""),
            CallSyntax::MistralJson => ("[TOOL_CALLS][", ", ", "]"),
            CallSyntax::MistralArgs | CallSyntax::FunctionaryV31 => ("", "", ""),
            CallSyntax::FunctionaryV32 => ("", ">>>", ""),
            CallSyntax::Harmony => return None,
            CallSyntax::DeepSeekV3 | CallSyntax::DeepSeekR1 => {
                ("<｜tool▁calls▁begin｜>", "", "<｜tool▁calls▁end｜>")
            }
            CallSyntax::KimiK2 => (
                "<|tool_calls_section_begin|>",
                "",
                "<|tool_calls_section_end|>",
            ),
            CallSyntax::CommandR7B => ("<|START_ACTION|>[\n", ",\n", "\n]<|END_ACTION|>"),
            CallSyntax::Granite33 => ("<|tool_call|>[", ", ", "]"),
            CallSyntax::MiniMaxM2 => ("<minimax:tool_call>\n", "", "</minimax:tool_call>"),
            CallSyntax::MiniMaxM3 => (
                "]<]minimax[>[<tool_call>\n",
                "",
                "]<]minimax[>[</tool_call>",
            ),
            CallSyntax::DeepSeekDsml => (
                "<｜DSML｜function_calls>\n",
                "",
                "</｜DSML｜function_calls>",
            ),
            CallSyntax::DeepSeekDsmlV4 => ("<｜DSML｜tool_calls>\n", "", "</｜DSML｜tool_calls>"),
            CallSyntax::Apriel => ("<tool_calls>[", ", ", "]</tool_calls>"),
        })
    }

    /// `(before the arguments, after them)` of one call of `name` (GBNF, with `index` the
    /// rule that numbers calls where a syntax numbers them).
    fn call_parts(self, name: &str) -> (String, String) {
        let name_json = serde_json::to_string(name).unwrap_or_default();
        match self {
            CallSyntax::Hermes => (
                lit(&format!(
                    "<tool_call>\n{{\"name\": {name_json}, \"arguments\": "
                )),
                lit("}\n</tool_call>"),
            ),
            CallSyntax::Qwen3Coder => (
                lit(&format!("<tool_call>\n<function={name}>\n")),
                lit("</function>\n</tool_call>"),
            ),
            CallSyntax::Llama3 => (
                lit(&format!("{{\"name\": {name_json}, \"parameters\": ")),
                lit("}"),
            ),
            CallSyntax::MistralJson | CallSyntax::Granite33 | CallSyntax::Apriel => (
                lit(&format!("{{\"name\": {name_json}, \"arguments\": ")),
                lit("}"),
            ),
            CallSyntax::MistralArgs => (lit(&format!("[TOOL_CALLS]{name}[ARGS]")), String::new()),
            CallSyntax::Harmony => (
                lit(&format!(
                    "<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"
                )),
                String::new(),
            ),
            CallSyntax::DeepSeekV3 => (
                lit(&format!("<｜tool▁call▁begin｜>{name}<｜tool▁sep｜>")),
                lit("<｜tool▁call▁end｜>"),
            ),
            CallSyntax::DeepSeekR1 => (
                lit(&format!(
                    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n```json\n"
                )),
                lit("\n```<｜tool▁call▁end｜>"),
            ),
            CallSyntax::KimiK2 => (
                format!(
                    "{} [0-9] {}",
                    lit(&format!("<|tool_call_begin|>functions.{name}:")),
                    lit("<|tool_call_argument_begin|>")
                ),
                lit("<|tool_call_end|>"),
            ),
            CallSyntax::Glm => (lit(&format!("<tool_call>{name}\n")), lit("</tool_call>")),
            CallSyntax::FunctionaryV31 => (lit(&format!("<function={name}>")), lit("</function>")),
            CallSyntax::FunctionaryV32 => (lit(&format!("{name}\n")), String::new()),
            CallSyntax::CommandR7B => (
                format!(
                    "{} [0-9] {}",
                    lit("    {\"tool_call_id\": \""),
                    lit(&format!("\", \"tool_name\": {name_json}, \"parameters\": "))
                ),
                lit("}"),
            ),
            CallSyntax::MiniMaxM2 => (
                lit(&format!("<invoke name=\"{name}\">\n")),
                lit("</invoke>\n"),
            ),
            CallSyntax::MiniMaxM3 => (
                lit(&format!("{MINIMAX_NS}<invoke name=\"{name}\">")),
                lit(&format!("{MINIMAX_NS}</invoke>\n")),
            ),
            CallSyntax::DeepSeekDsml | CallSyntax::DeepSeekDsmlV4 => (
                lit(&format!("<｜DSML｜invoke name=\"{name}\">\n")),
                lit("</｜DSML｜invoke>\n"),
            ),
        }
    }

    /// One XML parameter `key` around its value rule `value` (GBNF); `text`: whether the
    /// value is written as plain text (a string), else as JSON.
    fn parameter(self, key: &str, value: &str, text: bool) -> String {
        match self {
            CallSyntax::Qwen3Coder => format!(
                "{} {value} {}",
                lit(&format!("<parameter={key}>\n")),
                lit("\n</parameter>\n")
            ),
            CallSyntax::MiniMaxM2 => format!(
                "{} {value} {}",
                lit(&format!("<parameter name=\"{key}\">")),
                lit("</parameter>\n")
            ),
            CallSyntax::MiniMaxM3 => format!(
                "{} {value} {}",
                lit(&format!("{MINIMAX_NS}<{key}>")),
                lit(&format!("{MINIMAX_NS}</{key}>"))
            ),
            CallSyntax::DeepSeekDsml | CallSyntax::DeepSeekDsmlV4 => format!(
                "{} {value} {}",
                lit(&format!(
                    "<｜DSML｜parameter name=\"{key}\" string=\"{text}\">"
                )),
                lit("</｜DSML｜parameter>\n")
            ),
            _ => format!(
                "{} {value} {}",
                lit(&format!("<arg_key>{key}</arg_key>\n<arg_value>")),
                lit("</arg_value>\n")
            ),
        }
    }
}

/// The namespace token in front of every tag of MiniMax M3's call markup.
const MINIMAX_NS: &str = "]<]minimax[>[";

/// A tool a forced call may call: its name and the JSON schema of its arguments object.
#[derive(Clone, Copy, Debug)]
pub struct ForcedTool<'a> {
    /// Function name.
    pub name: &'a str,
    /// JSON schema of the arguments object.
    pub schema: &'a Value,
}

/// A GBNF string literal for `s`.
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`lit`], or nothing for the empty string.
fn lit_or_nothing(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        lit(s)
    }
}

/// The rules of `gbnf` (one `name ::= body` per line, as llama.cpp's converter writes them)
/// with every rule name prefixed by `prefix`; the renamed root is `{prefix}root`.
pub fn embed(gbnf: &str, prefix: &str) -> String {
    let defined: BTreeSet<&str> = gbnf
        .lines()
        .filter_map(|l| l.split_once("::=").map(|(n, _)| n.trim()))
        .collect();
    let mut out = String::new();
    for line in gbnf.lines() {
        let Some((name, body)) = line.split_once("::=") else {
            continue;
        };
        out.push_str(&format!(
            "{prefix}{} ::= {}\n",
            name.trim(),
            rename(body.trim(), prefix, &defined)
        ));
    }
    out
}

/// `body` with references to `defined` rules prefixed (literals and character classes are
/// copied as they are).
fn rename(body: &str, prefix: &str, defined: &BTreeSet<&str>) -> String {
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '[' => {
                let close = if c == '"' { '"' } else { ']' };
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == close {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '-' || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &body[i..end];
                if defined.contains(word) {
                    out.push_str(prefix);
                }
                out.push_str(word);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text of an XML string parameter without a `maxLength`: anything without `</` (GBNF).
const XML_TEXT: &str = "xml-text ::= ( [^<] | \"<\" [^/] )*\n";

/// The grammar forcing one call (or with `parallel` 1 to `max_calls` calls) of one of `tools`
/// in `syntax`; `schema_grammar` turns a JSON schema into GBNF (root rule `root`).
pub fn forced_call_grammar<E>(
    syntax: CallSyntax,
    tools: &[ForcedTool<'_>],
    parallel: bool,
    max_calls: usize,
    mut schema_grammar: impl FnMut(&Value) -> Result<String, E>,
) -> Result<String, E> {
    let mut rules = String::new();
    let mut alternatives = Vec::new();
    let mut uses_text = false;
    for (i, tool) in tools.iter().enumerate() {
        let (before, after) = syntax.call_parts(tool.name);
        let args = if syntax.xml_parameters() {
            let required: BTreeSet<&str> = tool.schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut params = Vec::new();
            for (j, (key, prop)) in tool.schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let value = if prop["type"] == "string" {
                    match prop["maxLength"].as_u64() {
                        // As many characters as the schema allows.
                        Some(n) => format!("( [^<] ){{0,{n}}}"),
                        None => {
                            uses_text = true;
                            "xml-text".to_string()
                        }
                    }
                } else {
                    let prefix = format!("t{i}-p{j}-");
                    rules.push_str(&embed(&schema_grammar(prop)?, &prefix));
                    format!("{prefix}root")
                };
                let p = syntax.parameter(key, &value, prop["type"] == "string");
                params.push(if required.contains(key.as_str()) {
                    format!("( {p} )")
                } else {
                    format!("( {p} )?")
                });
            }
            params.join(" ")
        } else {
            let prefix = format!("t{i}-");
            rules.push_str(&embed(&schema_grammar(tool.schema)?, &prefix));
            format!("{prefix}root")
        };
        let parts: Vec<&str> = [before.as_str(), args.as_str(), after.as_str()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        rules.push_str(&format!("call-{i} ::= {}\n", parts.join(" ")));
        alternatives.push(format!("call-{i}"));
    }
    if uses_text {
        rules.push_str(XML_TEXT);
    }
    let seq = |parts: &[String]| {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let root = match syntax.frame() {
        Some((open, sep, close)) if parallel && max_calls > 1 => {
            let more = format!(
                "( {} ){{0,{}}}",
                seq(&[lit_or_nothing(sep), "call".into()]),
                max_calls - 1
            );
            seq(&[
                lit_or_nothing(open),
                "call".into(),
                more,
                lit_or_nothing(close),
            ])
        }
        Some((open, _, close)) => {
            seq(&[lit_or_nothing(open), "call".into(), lit_or_nothing(close)])
        }
        None => "call".to_string(),
    };
    let root = format!("root ::= {root}\n");
    Ok(format!(
        "{root}call ::= {}\n{rules}",
        alternatives.join(" | ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What llama.cpp's converter writes for `{"type": "object", "properties": {"city":
    /// {"type": "string"}}, "required": ["city"]}` (trimmed).
    const CITY: &str =
        "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})\n\
        city-kv ::= \"\\\"city\\\"\" space \":\" space string\n\
        root ::= \"{\" space city-kv \"}\" space\n\
        space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n\
        string ::= \"\\\"\" char* \"\\\"\" space\n";

    #[test]
    fn embedded_rules_are_renamed_but_not_literals() {
        let e = embed(CITY, "t0-");
        assert!(
            e.contains("t0-root ::= \"{\" t0-space t0-city-kv \"}\" t0-space"),
            "{e}"
        );
        assert!(
            e.contains("t0-city-kv ::= \"\\\"city\\\"\" t0-space"),
            "{e}"
        );
        assert!(e.contains("t0-char ::= [^\"\\\\\\x7F\\x00-\\x1F]"), "{e}");
        assert!(!e.contains(" root"), "{e}");
    }

    #[test]
    fn detection_follows_the_template() {
        assert_eq!(
            CallSyntax::for_template("chatml", None),
            Some(CallSyntax::Hermes)
        );
        assert_eq!(
            CallSyntax::for_template("jinja", Some("<|channel|>")),
            Some(CallSyntax::Harmony)
        );
        assert_eq!(
            CallSyntax::detect("'<tool_call>\\n<function=' <parameter="),
            Some(CallSyntax::Qwen3Coder)
        );
        assert_eq!(
            CallSyntax::detect("[TOOL_CALLS] [ARGS]"),
            Some(CallSyntax::MistralArgs)
        );
        assert_eq!(
            CallSyntax::detect("<｜tool▁calls▁begin｜> ```json"),
            Some(CallSyntax::DeepSeekR1)
        );
        assert_eq!(CallSyntax::detect("{{ messages }}"), None);
        assert_eq!(CallSyntax::for_template("mine", Some("<tool_call>")), None);
        assert_eq!(
            CallSyntax::for_format_name("deepseek", Some("<｜tool▁calls▁begin｜> ```json")),
            Some(Some(CallSyntax::DeepSeekR1))
        );
        assert_eq!(CallSyntax::for_format_name("json", None), Some(None));
        assert_eq!(CallSyntax::for_format_name("auto", None), None);
    }

    #[test]
    fn grammars_frame_the_calls_in_the_family_syntax() {
        let schema = json!({"type": "object"});
        let tools = [ForcedTool {
            name: "get_weather",
            schema: &schema,
        }];
        let g = forced_call_grammar::<()>(CallSyntax::Hermes, &tools, true, 4, |_| Ok(CITY.into()))
            .unwrap();
        assert!(
            g.starts_with("root ::= call ( \"\\n\" call ){0,3}\ncall ::= call-0\n"),
            "{g}"
        );
        assert!(
            g.contains("call-0 ::= \"<tool_call>\\n{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \" t0-root \"}\\n</tool_call>\""),
            "{g}"
        );
        let g =
            forced_call_grammar::<()>(CallSyntax::Harmony, &tools, true, 4, |_| Ok(CITY.into()))
                .unwrap();
        assert!(g.starts_with("root ::= call\n"), "{g}");
        assert!(
            g.contains("to=functions.get_weather <|constrain|>json<|message|>"),
            "{g}"
        );
    }

    #[test]
    fn minimax_dsml_and_apriel_write_their_own_markup() {
        let d = |t: &str| CallSyntax::detect(t);
        let template = |name: &str| {
            let dir = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../plugins/templates/jinja/fixtures/llama.cpp/"
            );
            std::fs::read_to_string(format!("{dir}{name}.jinja")).unwrap()
        };
        assert_eq!(d(&template("MiniMax-M2")), Some(CallSyntax::MiniMaxM2));
        assert_eq!(d(&template("MiniMax-M3")), Some(CallSyntax::MiniMaxM3));
        assert_eq!(
            d(&template("deepseek-ai-DeepSeek-V3.2")),
            Some(CallSyntax::DeepSeekDsml)
        );
        assert_eq!(
            d(&template("deepseek-ai-DeepSeek-V4")),
            Some(CallSyntax::DeepSeekDsmlV4)
        );
        assert_eq!(
            d(&template("Apriel-1.6-15b-Thinker-fixed")),
            Some(CallSyntax::Apriel)
        );
        assert_eq!(d(&template("unsloth-Apriel-1.5")), Some(CallSyntax::Apriel));
        assert_eq!(
            CallSyntax::for_format_name("minimax-m3", None),
            Some(Some(CallSyntax::MiniMaxM3))
        );

        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]});
        let tools = [ForcedTool {
            name: "get_weather",
            schema: &schema,
        }];
        let grammar = |syntax| {
            forced_call_grammar::<()>(syntax, &tools, false, 1, |_| Ok("root ::= [0-9]+\n".into()))
                .unwrap()
        };
        let g = grammar(CallSyntax::MiniMaxM2);
        assert!(
            g.starts_with("root ::= \"<minimax:tool_call>\\n\" call \"</minimax:tool_call>\"\n"),
            "{g}"
        );
        assert!(
            g.contains("call-0 ::= \"<invoke name=\\\"get_weather\\\">\\n\" ( \"<parameter name=\\\"city\\\">\" xml-text \"</parameter>\\n\" ) ( \"<parameter name=\\\"days\\\">\" t0-p1-root \"</parameter>\\n\" ) \"</invoke>\\n\""),
            "{g}"
        );
        let g = grammar(CallSyntax::MiniMaxM3);
        assert!(
            g.contains("call-0 ::= \"]<]minimax[>[<invoke name=\\\"get_weather\\\">\" ( \"]<]minimax[>[<city>\" xml-text \"]<]minimax[>[</city>\" ) ( \"]<]minimax[>[<days>\" t0-p1-root \"]<]minimax[>[</days>\" ) \"]<]minimax[>[</invoke>\\n\""),
            "{g}"
        );
        let g = grammar(CallSyntax::DeepSeekDsml);
        assert!(
            g.starts_with(
                "root ::= \"<｜DSML｜function_calls>\\n\" call \"</｜DSML｜function_calls>\"\n"
            ),
            "{g}"
        );
        assert!(
            g.contains("( \"<｜DSML｜parameter name=\\\"city\\\" string=\\\"true\\\">\" xml-text \"</｜DSML｜parameter>\\n\" ) ( \"<｜DSML｜parameter name=\\\"days\\\" string=\\\"false\\\">\" t0-p1-root \"</｜DSML｜parameter>\\n\" )"),
            "{g}"
        );
        let g = grammar(CallSyntax::DeepSeekDsmlV4);
        assert!(
            g.starts_with("root ::= \"<｜DSML｜tool_calls>\\n\" call"),
            "{g}"
        );
        let g = grammar(CallSyntax::Apriel);
        assert!(
            g.starts_with("root ::= \"<tool_calls>[\" call \"]</tool_calls>\"\n"),
            "{g}"
        );
        assert!(
            g.contains("call-0 ::= \"{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \" t0-root \"}\""),
            "{g}"
        );
    }

    #[test]
    fn xml_parameters_follow_the_schema() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]});
        let tools = [ForcedTool {
            name: "get_weather",
            schema: &schema,
        }];
        let mut asked = Vec::new();
        let g = forced_call_grammar::<()>(CallSyntax::Qwen3Coder, &tools, false, 1, |s| {
            asked.push(s.clone());
            Ok("root ::= [0-9]+\n".into())
        })
        .unwrap();
        assert_eq!(asked, vec![json!({"type": "integer"})]);
        assert!(
            g.contains("( \"<parameter=city>\\n\" xml-text \"\\n</parameter>\\n\" ) ( \"<parameter=days>\\n\" t0-p1-root \"\\n</parameter>\\n\" )?"),
            "{g}"
        );
        assert!(g.contains("t0-p1-root ::= [0-9]+"), "{g}");
        assert!(g.contains(XML_TEXT), "{g}");
    }
}
