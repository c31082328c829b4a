//! DeepSeek V3.2 and V4: DSML calls, `<invoke name=…>` blocks whose tags carry the `｜DSML｜`
//! token (see [`invoke`](super::invoke)), in a `function_calls` (V3.2) or `tool_calls` (V4)
//! block; each parameter says whether its value is text (`string="true"`) or JSON. Reasoning
//! is `<think>…</think>`, opened by the prompt in thinking mode.

use super::invoke::{self, Syntax};
use crate::{ToolCall, ToolDefinition};

/// Opening of a V3.2 calls block.
pub const FUNCTION_CALLS_OPEN: &str = "<｜DSML｜function_calls>";
/// Closing of a V3.2 calls block.
pub const FUNCTION_CALLS_CLOSE: &str = "</｜DSML｜function_calls>";
/// Opening of a V4 calls block.
pub const TOOL_CALLS_OPEN: &str = "<｜DSML｜tool_calls>";
/// Closing of a V4 calls block.
pub const TOOL_CALLS_CLOSE: &str = "</｜DSML｜tool_calls>";
/// The token every DSML tag carries.
pub const TOKEN: &str = "｜DSML｜";

const SYNTAX: Syntax = Syntax {
    blocks: &[
        (FUNCTION_CALLS_OPEN, FUNCTION_CALLS_CLOSE),
        (TOOL_CALLS_OPEN, TOOL_CALLS_CLOSE),
    ],
    invoke_open: "<｜DSML｜invoke name=\"",
    invoke_close: "</｜DSML｜invoke>",
    parameter_open: "<｜DSML｜parameter name=\"",
    parameter_close: "</｜DSML｜parameter>",
};

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[FUNCTION_CALLS_OPEN, TOOL_CALLS_OPEN];

/// Text and calls.
pub(crate) fn extract(
    output: &str,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    invoke::extract(output, &SYNTAX, tools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn string_and_json_values() {
        // As DeepSeek-V3.2's template writes an assistant's calls.
        let out = "Let me look.\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">10</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n<｜DSML｜parameter name=\"opts\" string=\"false\">{\"a\": [1]}</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>";
        assert_eq!(
            extract(out, None),
            Some((
                "Let me look.".to_string(),
                vec![c(
                    0,
                    "get_weather",
                    r#"{"city":"10","days":3,"opts":{"a":[1]}}"#
                )]
            ))
        );
    }

    #[test]
    fn v4_block_and_two_calls() {
        let out = "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"a\">\n</｜DSML｜invoke>\n<｜DSML｜invoke name=\"b\">\n<｜DSML｜parameter name=\"x\" string=\"true\">line 1\nline 2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
        assert_eq!(
            extract(out, None),
            Some((
                String::new(),
                vec![c(0, "a", "{}"), c(1, "b", r#"{"x":"line 1\nline 2"}"#)]
            ))
        );
        assert_eq!(
            extract("plain <｜DSML｜function_calls> nothing", None),
            None
        );
    }
}
