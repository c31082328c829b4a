//! Ollama's chat truncation (`truncate`, on by default on `/api/chat`): a chat whose rendered
//! prompt does not fit the context loses whole messages from the front, never the system
//! messages and never the last message, and never a tool result without the assistant turn
//! that called the tool (as Ollama's `chatPrompt` does). The fewest messages are dropped that
//! make the prompt fit; when even the last message alone does not fit, the scheduler's token
//! cut ([`shimmy_core::prompt::truncate_to_context`]) still applies to what is left.
//!
//! This module holds the choice; [`crate::generation`] renders and counts each candidate.

use std::future::Future;

use shimmy_plugins::ChatMessage;

/// Where the kept tail of `messages` starts: the first of its [`start_points`] (from the
/// second: the whole chat is known not to fit) whose [`kept`] messages `fits`, found by
/// bisection (dropping more never makes the prompt longer); the last one when none fits (the
/// last message is always kept). The dropped messages are those before it, system ones aside.
pub async fn fewest_dropped<F, Fut, E>(messages: &[ChatMessage], mut fits: F) -> Result<usize, E>
where
    F: FnMut(Vec<ChatMessage>) -> Fut,
    Fut: Future<Output = Result<bool, E>>,
{
    let starts = start_points(messages);
    let last = starts[starts.len() - 1];
    let (mut lo, mut hi) = (1, starts.len());
    // Invariant: every start before `lo` is too long, `starts[hi]` (if any) fits.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(kept(messages, starts[mid])).await? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(starts.get(hi).copied().unwrap_or(last))
}

/// The indices where a kept tail of `messages` may start, first to last: any message, except
/// that a tool result starts its tail at the assistant turn that called the tool.
pub fn start_points(messages: &[ChatMessage]) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..messages.len())
        .map(|i| tool_block_start(messages, i))
        .collect();
    starts.dedup();
    starts
}

/// Where the tail starting at `i` must start so that no tool result loses its call.
fn tool_block_start(messages: &[ChatMessage], i: usize) -> usize {
    if i == 0 || messages[i].role != "tool" {
        return i;
    }
    let mut start = i;
    while start > 0 && messages[start - 1].role == "tool" {
        start -= 1;
    }
    match start.checked_sub(1) {
        Some(a) if messages[a].role == "assistant" && !messages[a].tool_calls.is_empty() => a,
        _ => i,
    }
}

/// The system messages before `start`, then every message from `start` on.
pub fn kept(messages: &[ChatMessage], start: usize) -> Vec<ChatMessage> {
    messages[..start]
        .iter()
        .filter(|m| m.role == "system")
        .chain(&messages[start..])
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugins::ToolCall;

    fn chat(roles: &[&str]) -> Vec<ChatMessage> {
        roles
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut m = ChatMessage::new(*r, format!("m{i}"));
                if *r == "assistant" && roles.get(i + 1) == Some(&"tool") {
                    m.tool_calls = vec![ToolCall {
                        id: "c".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }];
                }
                m
            })
            .collect()
    }

    #[test]
    fn tool_results_stay_with_their_call() {
        let m = chat(&["system", "user", "assistant", "tool", "tool", "user"]);
        assert_eq!(start_points(&m), vec![0, 1, 2, 5]);
        let plain = chat(&["user", "tool"]);
        assert_eq!(
            start_points(&plain),
            vec![0, 1],
            "no call before it: as it is"
        );
    }

    #[test]
    fn the_fewest_messages_are_dropped() {
        let m = chat(&["system", "user", "assistant", "user", "assistant", "user"]);
        // A prompt fits with at most 3 messages.
        let fit = |k: Vec<ChatMessage>| async move { Ok::<_, ()>(k.len() <= 3) };
        let start = futures_lite(fewest_dropped(&m, fit));
        assert_eq!(start, 4, "system + the last two");
        let never = |_: Vec<ChatMessage>| async { Ok::<_, ()>(false) };
        assert_eq!(
            futures_lite(fewest_dropped(&m, never)),
            5,
            "the last one anyway"
        );
        let always = |_: Vec<ChatMessage>| async { Ok::<_, ()>(true) };
        assert_eq!(futures_lite(fewest_dropped(&m, always)), 1);
    }

    /// Runs a future that never waits.
    fn futures_lite<T>(f: impl Future<Output = Result<T, ()>>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
            .unwrap()
    }

    #[test]
    fn system_messages_are_kept_with_the_tail() {
        let m = chat(&["system", "user", "system", "assistant", "user"]);
        let contents: Vec<String> = kept(&m, 3).into_iter().map(|m| m.content).collect();
        assert_eq!(contents, ["m0", "m2", "m3", "m4"]);
        assert_eq!(kept(&m, 0), m);
    }
}
