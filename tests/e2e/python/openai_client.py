"""Drives `shimmy-host serve` with the official `openai` Python SDK.

Usage: openai_client.py BASE_URL MODEL
Asserts as it goes (exit 1 with a traceback on the first failure) and prints one JSON line
with what the Rust test checks further.
"""

import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
messages = [{"role": "user", "content": "Tell me a story about the sea"}]

# Non-streaming chat: usage and finish reason.
r = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0)
assert r.object == "chat.completion", r
choice = r.choices[0]
assert choice.message.role == "assistant", choice
assert choice.finish_reason == "length", choice.finish_reason
assert r.usage.completion_tokens == 16, r.usage
assert r.usage.prompt_tokens > 0, r.usage
assert r.usage.total_tokens == r.usage.prompt_tokens + 16, r.usage
chat_text = choice.message.content
assert chat_text, "empty answer"

# Streaming chat: role first, same text, one finish reason, usage chunk with cache reuse.
stream = client.chat.completions.create(
    model=model,
    messages=messages,
    max_tokens=16,
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
chunks = list(stream)
assert chunks[0].object == "chat.completion.chunk", chunks[0]
assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert streamed == chat_text, (streamed, chat_text)
finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
assert finishes == ["length"], finishes
usage = chunks[-1].usage
assert chunks[-1].choices == [], chunks[-1]
assert usage.completion_tokens == 16, usage
assert usage.prompt_tokens == r.usage.prompt_tokens, usage
cached = usage.prompt_tokens_details.cached_tokens
assert cached > 0, f"the same prompt again should reuse the cache: {usage}"

# Text completions, plain and streamed.
c = client.completions.create(model=model, prompt="Once upon a time", max_tokens=8, temperature=0)
assert c.object == "text_completion", c
assert c.choices[0].finish_reason == "length", c
assert c.usage.completion_tokens == 8, c.usage
parts = list(
    client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=8, temperature=0, stream=True
    )
)
assert "".join(p.choices[0].text for p in parts if p.choices) == c.choices[0].text

# Stop strings (string and list) end the text before them.
full = client.completions.create(model=model, prompt="Once upon a time", max_tokens=24, temperature=0)
text = full.choices[0].text
cut = text[len(text) // 2 :][:3]
if cut.strip():
    stopped = client.completions.create(
        model=model, prompt="Once upon a time", max_tokens=24, temperature=0, stop=[cut]
    )
    assert stopped.choices[0].finish_reason == "stop", stopped
    assert stopped.choices[0].text == text[: text.index(cut)], (stopped.choices[0].text, cut)

# Same seed, same sample.
kw = dict(model=model, messages=messages, max_tokens=12, temperature=1.0, top_p=1.0, seed=11)
a = client.chat.completions.create(**kw).choices[0].message.content
b = client.chat.completions.create(**kw).choices[0].message.content
assert a == b, (a, b)

# Log-probabilities.
lp = client.chat.completions.create(
    model=model, messages=messages, max_tokens=3, temperature=0, logprobs=True, top_logprobs=2
)
content = lp.choices[0].logprobs.content
assert len(content) == 3, content
assert len(content[0].top_logprobs) == 2, content[0]
assert content[0].logprob <= 0.0, content[0]

# Models.
ids = [m.id for m in client.models.list()]
assert model in ids, ids

# Errors surface as the SDK's exception types with the server's message.
def expect(exc, **kw):
    try:
        client.chat.completions.create(**kw)
    except exc as e:
        assert e.body and e.body.get("message"), e.body
        return e
    raise AssertionError(f"expected {exc.__name__} for {kw}")

e = expect(openai.BadRequestError, model=model, messages=messages, n=2)
assert e.body.get("param") == "n", e.body
expect(openai.NotFoundError, model="no-such-model", messages=messages)
expect(openai.BadRequestError, model=model, messages=[])
expect(openai.BadRequestError, model=model, messages=[{"role": "wizard", "content": "hi"}])
e = expect(openai.BadRequestError, model=model, messages=messages, max_tokens=100000)
assert "100000" in e.body["message"], e.body

print(json.dumps({"chat": chat_text, "cached_tokens": cached, "prompt_tokens": r.usage.prompt_tokens}))
