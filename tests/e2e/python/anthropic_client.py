"""The Anthropic Messages API through the official `anthropic` Python SDK.

Usage: anthropic_client.py BASE_URL MODEL KIND API_KEY
KIND is `testkit` (random weights: only the shapes are checked) or `smollm2` (a real instruct
model: the answers are checked too). Asserts as it goes (exit 1 with a traceback on the first
failure) and prints one JSON line for the Rust test: the forced call's input and token counts.
"""

import json
import sys

import anthropic

base, model, kind, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
real = kind == "smollm2"
client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=120)

system = "You are a helpful assistant. Answer in one short sentence."
question = [{"role": "user", "content": "What is the capital of France?"}]
greedy = {"temperature": 0}

# messages.create: one text block, a stop reason, usage.
m = client.messages.create(
    model=model, max_tokens=24, system=system, messages=question, extra_body=greedy
)
assert m.type == "message" and m.role == "assistant", m
assert m.id.startswith("msg_"), m.id
assert m.content and m.content[0].type == "text", m
assert m.stop_reason in ("end_turn", "max_tokens"), m
assert 0 < m.usage.output_tokens <= 24, m.usage
text = m.content[0].text
if real:
    assert m.stop_reason == "end_turn", m
    assert "Paris" in text, text

# count_tokens counts the prompt that message was answered from.
count = client.messages.count_tokens(model=model, system=system, messages=question)
prompt = m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0)
assert count.input_tokens == prompt, (count, m.usage)

# messages.stream: the SDK assembles the same greedy text from the events.
with client.messages.stream(
    model=model, max_tokens=24, system=system, messages=question, extra_body=greedy
) as stream:
    streamed = "".join(stream.text_stream)
    final = stream.get_final_message()
assert streamed == text, (streamed, text)
assert final.content[0].text == text, final
assert final.stop_reason == m.stop_reason, final
assert final.usage.output_tokens == m.usage.output_tokens, final.usage
cached = final.usage.cache_read_input_tokens or 0
assert cached > 0, final.usage  # the same prompt again reuses the prompt cache
assert final.usage.input_tokens + cached == prompt, final.usage

# stop_sequences: the answer ends before the sequence, and says which one it was.
words = text.split()
if len(words) >= 2 and m.stop_reason == "end_turn":
    stop = words[1]
    s = client.messages.create(
        model=model,
        max_tokens=24,
        system=system,
        messages=question,
        stop_sequences=[stop],
        extra_body=greedy,
    )
    assert s.stop_reason == "stop_sequence" and s.stop_sequence == stop, s
    assert stop not in s.content[0].text, s

# A tool round trip: a forced tool_use block, its tool_result, an answer.
tools = [
    {
        "name": "get_weather",
        "description": "Weather forecast for a city",
        "input_schema": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 12},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "days"],
        },
    }
]
ask = [{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}]
t = client.messages.create(
    model=model,
    max_tokens=120,
    messages=ask,
    tools=tools,
    tool_choice={"type": "tool", "name": "get_weather"},
    extra_body={"temperature": 0.7, "top_k": 40, "top_p": 0.95},
)
assert t.stop_reason == "tool_use", t
use = [b for b in t.content if b.type == "tool_use"]
assert len(use) == 1 and use[0].name == "get_weather", t
call = use[0]
assert isinstance(call.input, dict) and isinstance(call.input.get("city"), str), call
if real:
    assert call.input["city"], call
follow = client.messages.create(
    model=model,
    max_tokens=24,
    messages=ask
    + [
        {"role": "assistant", "content": [b.model_dump() for b in t.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": [{"type": "text", "text": "Sunny, 21 C every day."}],
                }
            ],
        },
    ],
    tools=tools,
    tool_choice={"type": "none"},
    extra_body=greedy,
)
assert follow.stop_reason in ("end_turn", "max_tokens"), follow
assert follow.content and follow.content[0].type == "text", follow
assert not [b for b in follow.content if b.type == "tool_use"], follow

# The forced call streamed: the SDK rebuilds `input` from the input_json_delta events (the
# same on any model: checked on the test kit's, which keeps the real model's run short).
if not real:
    with client.messages.stream(
        model=model,
        max_tokens=120,
        messages=ask,
        tools=tools,
        tool_choice={"type": "any"},
        extra_body={"temperature": 0.7},
    ) as stream:
        kinds = [e.type for e in stream]
        streamed_call = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    assert "input_json" in kinds, kinds  # the SDK's own event for input_json_delta
    assert streamed_call.stop_reason == "tool_use", streamed_call
    block = [b for b in streamed_call.content if b.type == "tool_use"][0]
    assert isinstance(block.input, dict) and "city" in block.input, block

# Errors come back typed, in Anthropic's shape.
try:
    client.messages.create(model="claude-no-such-model", max_tokens=4, messages=question)
    raise AssertionError("an unknown model must fail")
except anthropic.NotFoundError as e:
    assert e.body["type"] == "error", e.body
    assert e.body["error"]["type"] == "not_found_error", e.body
try:
    client.messages.create(
        model=model,
        max_tokens=4,
        messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}],
    )
    raise AssertionError("an image block must be refused")
except anthropic.BadRequestError as e:
    assert e.body["error"]["type"] == "invalid_request_error", e.body
    assert "image" in e.body["error"]["message"], e.body
wrong = anthropic.Anthropic(base_url=base, api_key="sk-wrong", max_retries=0, timeout=30)
try:
    wrong.messages.create(model=model, max_tokens=4, messages=question)
    raise AssertionError("a wrong key must fail")
except anthropic.AuthenticationError as e:
    assert e.body["error"]["type"] == "authentication_error", e.body

print(json.dumps({"input": call.input, "prompt_tokens": prompt, "text": text}))
