"""Reasoning through the official `anthropic` and `openai` SDKs, on a test-kit model whose chat
template opens a `<think>` block in the generation prompt (DeepSeek R1 / Qwen3 style): the
generated tokens are reasoning until `</think>`, so with a small max_tokens the whole answer is
reasoning.

Usage: reasoning_clients.py BASE_URL MODEL
Asserts as it goes (exit 1 with a traceback on the first failure) and prints one JSON line.
"""

import json
import sys

import anthropic
import openai

base, model = sys.argv[1], sys.argv[2]
claude = anthropic.Anthropic(base_url=base, api_key="none", max_retries=0, timeout=120)
oai = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=120)
question = [{"role": "user", "content": "Why is the sea salty?"}]
greedy = {"temperature": 0}

# messages.create: cut at max_tokens inside the block, the answer is one thinking block.
m = claude.messages.create(model=model, max_tokens=8, messages=question, extra_body=greedy)
assert m.stop_reason == "max_tokens", m
assert [b.type for b in m.content] == ["thinking"], m
thought = m.content[0].thinking
assert thought.strip() and "<think>" not in thought, thought
assert m.usage.output_tokens == 8, m.usage

# messages.stream: thinking_delta events assemble the same reasoning.
with claude.messages.stream(
    model=model, max_tokens=8, messages=question, extra_body=greedy
) as stream:
    kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
    final = stream.get_final_message()
assert kinds and set(kinds) == {"thinking_delta"}, kinds
assert [b.type for b in final.content] == ["thinking"], final
assert final.content[0].thinking == thought, (final.content[0].thinking, thought)

# thinking.budget_tokens: after 3 reasoning tokens `</think>` is forced and the answer
# follows. Greedy, so the budgeted reasoning is the start of the unbudgeted one.
budget = {"type": "enabled", "budget_tokens": 3}
b = claude.messages.create(
    model=model, max_tokens=24, messages=question, thinking=budget, extra_body=greedy
)
types = [x.type for x in b.content]
assert types == ["thinking", "text"], b
short = b.content[0].thinking
assert short and thought.startswith(short) and len(short) < len(thought), (short, thought)
assert b.content[1].text.strip(), b
with claude.messages.stream(
    model=model, max_tokens=24, messages=question, thinking=budget, extra_body=greedy
) as stream:
    kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
    streamed = stream.get_final_message()
assert "thinking_delta" in kinds and kinds[-1] == "text_delta", kinds
assert kinds.index("text_delta") > max(i for i, k in enumerate(kinds) if k == "thinking_delta")
assert [x.type for x in streamed.content] == ["thinking", "text"], streamed
assert streamed.content[0].thinking == short, streamed

# responses.create: a reasoning item, and every output token counted as reasoning.
r = oai.responses.create(model=model, input="Why is the sea salty?", max_output_tokens=8,
                         temperature=0)
assert r.status == "incomplete", r
assert r.output[0].type == "reasoning", r.output
assert r.output[0].content[0].text == thought, r.output[0]
assert not any(item.type == "message" and item.content[0].text for item in r.output), r.output
assert r.usage.output_tokens == 8, r.usage
assert r.usage.output_tokens_details.reasoning_tokens == 8, r.usage

# responses.stream: the reasoning streams as reasoning_text deltas; cut at
# max_output_tokens, the stream ends with response.incomplete (the SDK's final response
# needs response.completed).
with oai.responses.stream(model=model, input="Why is the sea salty?", max_output_tokens=8,
                          temperature=0) as stream:
    events = list(stream)
deltas = [e.delta for e in events if e.type == "response.reasoning_text.delta"]
assert "".join(deltas) == thought, (deltas, thought)
assert events[-1].type == "response.incomplete", events[-1]
assert events[-1].response.usage.output_tokens_details.reasoning_tokens == 8, events[-1]

# chat.completions: reasoning_content apart, counted in completion_tokens_details.
c = oai.chat.completions.create(model=model, messages=question, max_tokens=8, temperature=0)
message = c.choices[0].message
assert (message.content or "") == "", message
assert message.model_extra.get("reasoning_content") == thought, message
assert c.usage.completion_tokens == 8, c.usage
assert c.usage.completion_tokens_details.reasoning_tokens == 8, c.usage

print(json.dumps({"thought": thought, "budgeted": short, "answer": b.content[1].text}))
