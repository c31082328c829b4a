"""Drives `shimmy-host serve` with the official `openai` and `ollama` Python clients the way
applications call them: every documented OpenAI chat parameter, the refusals that name a
parameter, Ollama's `context` round trip, `truncate`, `think` and `/api/show` capabilities.

Usage: clients.py BASE_URL MODEL THINKING_MODEL
Asserts as it goes and prints one JSON line with what the Rust test checks further.
"""

import json
import sys

import ollama
import openai

base, model, thinker = sys.argv[1], sys.argv[2], sys.argv[3]
oa = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0, timeout=300)
messages = [{"role": "user", "content": "Say hello"}]

# Every documented parameter OpenAI's SDK sends, none of which changes the answer here.
r = oa.chat.completions.create(
    model=model,
    messages=messages,
    max_completion_tokens=4,
    temperature=0,
    seed=1,
    reasoning_effort="low",
    verbosity="low",
    prompt_cache_key="e2e",
    prompt_cache_retention="24h",
    prediction={"type": "content", "content": "hello"},
    modalities=["text"],
    store=False,
    metadata={"run": "e2e"},
    service_tier="auto",
    safety_identifier="user-1",
    user="user-1",
    logit_bias={},
    n=1,
    frequency_penalty=0,
    presence_penalty=0,
    top_p=1,
    stop=["\n\n\n"],
)
assert r.choices[0].finish_reason == "length", r
assert r.usage.completion_tokens == 4, r.usage

# What would change the answer is refused, naming the parameter.
refused = {}
for name, kwargs in {
    "n": {"n": 2},
    "logit_bias": {"logit_bias": {"42": 5}},
    "modalities": {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
    "reasoning_effort": {"extra_body": {"reasoning_effort": "extreme"}},
}.items():
    try:
        oa.chat.completions.create(model=model, messages=messages, max_completion_tokens=2, **kwargs)
        raise AssertionError(f"{name} accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == name, e.body
        refused[name] = e.body["message"]

# reasoning_effort switches the template's thinking off: the prompt is longer by the empty
# think block the template then writes.
on = oa.chat.completions.create(model=thinker, messages=messages, max_completion_tokens=1)
off = oa.chat.completions.create(
    model=thinker, messages=messages, max_completion_tokens=1, reasoning_effort="none"
)
thinking_tokens = off.usage.prompt_tokens - on.usage.prompt_tokens

ol = ollama.Client(host=base, timeout=300)
options = {"num_predict": 4, "temperature": 0}
# context: the last object carries the tokens of prompt and answer; sent back, the next
# prompt continues from them.
first = ol.generate(model=model, prompt="Once upon a time", options=options)
assert first.context and len(first.context) > first.eval_count, first
second = ol.generate(model=model, prompt="and then", context=first.context, options=options)
assert second.context[: len(first.context)] == first.context, (first.context, second.context)
streamed = list(ol.generate(model=model, prompt="Once upon a time", options=options, stream=True))
assert streamed[-1].context == first.context, streamed[-1]
assert not any(p.context for p in streamed[:-1])

# think=False is the thinking switch on Ollama's side too.
chat_off = ol.chat(model=thinker, messages=messages, think=False, options={"num_predict": 1})
chat_on = ol.chat(model=thinker, messages=messages, think=True, options={"num_predict": 1})

# Capabilities gate features in Open WebUI and the ollama CLI.
caps = {m: list(ol.show(m).capabilities or []) for m in (model, thinker)}

print(
    json.dumps(
        {
            "refused": refused,
            "thinking_tokens": thinking_tokens,
            "context": [len(first.context), len(second.context)],
            "second_prompt_eval": second.prompt_eval_count,
            "think_done": [chat_off.done, chat_on.done],
            "capabilities": caps,
        }
    )
)
