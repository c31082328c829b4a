//! Stop strings of a rendered prompt: the EOS text, then the turn-end markers of the
//! template's family that occur in the template text.

use shimmy_plugin_sdk::prompt::push_stop;
use shimmy_plugin_sdk::tool_calls::ToolCallFormat;

/// Turn-end markers looked for in the template text; each one found becomes a stop string
/// (gpt-oss's `<|end|>` only ends a message inside an answer, so harmony templates do not
/// stop on it; GLM ends a turn by starting the next one, `<|user|>` or `<|observation|>`).
pub const TURN_END_MARKERS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<｜end▁of▁sentence｜>",
    "<|return|>",
    "<|call|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|observation|>",
    "<|user|>",
];

/// The stop strings for a prompt rendered from `source` (detected as `format`) with `eos`.
pub fn stop_strings(source: &str, format: ToolCallFormat, eos: &str) -> Vec<String> {
    let mut stop = Vec::new();
    push_stop(&mut stop, eos);
    for marker in TURN_END_MARKERS {
        let wanted = match *marker {
            "<|end|>" => format != ToolCallFormat::Harmony,
            "<|user|>" | "<|observation|>" => format == ToolCallFormat::Glm,
            _ => true,
        };
        if wanted && source.contains(marker) {
            push_stop(&mut stop, marker);
        }
    }
    stop
}
