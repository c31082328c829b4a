"""Drives `shimmy-host serve` with the official `ollama` Python client.

Usage: ollama_client.py BASE_URL MODEL
Asserts as it goes and prints one JSON line with what the Rust test checks further.
"""

import json
import sys

import ollama

base, model = sys.argv[1], sys.argv[2]
client = ollama.Client(host=base, timeout=60)
options = {"num_predict": 12, "temperature": 0}

# generate, not streamed: the final object's counts and durations.
r = client.generate(model=model, prompt="Tell me a story about the sea", options=options)
assert r.done and r.done_reason == "length", r
assert r.eval_count == 12, r
assert r.prompt_eval_count and r.prompt_eval_count > 0, r
for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
    assert getattr(r, field) is not None, field
assert r.total_duration > 0 and r.eval_duration > 0, r
text = r.response
assert text, r

# generate, streamed: same text; the final part carries done; the prompt is cached now.
parts = list(client.generate(model=model, prompt="Tell me a story about the sea", options=options, stream=True))
assert "".join(p.response for p in parts) == text, parts
assert parts[-1].done and not any(p.done for p in parts[:-1]), parts
assert parts[-1].eval_count == 12, parts[-1]
assert parts[-1].prompt_eval_count < r.prompt_eval_count, (parts[-1].prompt_eval_count, r.prompt_eval_count)

# chat, both ways.
messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
c = client.chat(model=model, messages=messages, options=options)
assert c.message.role == "assistant" and c.message.content, c
assert c.done_reason == "length" and c.eval_count == 12, c
streamed = list(client.chat(model=model, messages=messages, options=options, stream=True))
assert "".join(p.message.content or "" for p in streamed) == c.message.content
assert streamed[-1].done, streamed[-1]

# raw prompt, stop option, JSON options from the top level of shimmy's body are covered in Rust.
raw = client.generate(model=model, prompt="<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", raw=True, options=options)
assert raw.eval_count == 12, raw

# Model information.
names = [m.model for m in client.list().models]
assert model in names, names
show = client.show(model)
assert show.details.format == "gguf", show
assert show.modelinfo["general.architecture"], show
running = [m.model for m in client.ps().models]
assert model in running, running

# Errors.
try:
    client.generate(model="no-such-model", prompt="hi")
    raise AssertionError("unknown model accepted")
except ollama.ResponseError as e:
    assert e.status_code == 404 and "no-such-model" in e.error, (e.status_code, e.error)
try:
    client.chat(model=model, messages=[{"role": "wizard", "content": "hi"}])
    raise AssertionError("bad role accepted")
except ollama.ResponseError as e:
    assert e.status_code == 400 and "wizard" in e.error, (e.status_code, e.error)
try:
    client.generate(model=model, prompt="hi", options={"mirostat": 2})
    raise AssertionError("unsupported option accepted")
except ollama.ResponseError as e:
    assert e.status_code == 400 and "mirostat" in e.error, e.error

# Structured output: `format` as a JSON schema; tools offered to the chat.
schema = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
}
f = client.chat(
    model=model,
    messages=[{"role": "user", "content": "Forecast as JSON"}],
    format=schema,
    options={"num_predict": 120, "seed": 2},
)
forecast = json.loads(f.message.content)
assert isinstance(forecast["city"], str) and len(forecast["city"]) <= 12, forecast
assert 1 <= forecast["days"] <= 7, forecast
weather = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather", "parameters": schema},
}
t = client.chat(
    model=model,
    messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 1}}}]},
        {"role": "tool", "content": '{"forecast": "sunny"}', "tool_name": "get_weather"},
    ],
    tools=[weather],
    options={"num_predict": 4, "temperature": 0},
)
assert t.done and t.message.role == "assistant", t

# keep_alive=0 with an empty prompt unloads the model.
u = client.generate(model=model, prompt="", keep_alive=0)
assert u.done_reason == "unload", u

print(json.dumps({"generate": text, "chat": c.message.content}))
