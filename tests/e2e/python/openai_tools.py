"""Tool calling and structured output through the official `openai` Python SDK.

Usage: openai_tools.py BASE_URL MODEL
Asserts as it goes (exit 1 with a traceback on the first failure) and prints one JSON line:
the arguments of the forced call and the structured answer, for the Rust test to validate.
"""

import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 12},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "days"],
            },
        },
    }
]
messages = [{"role": "user", "content": "Weather in Paris for 3 days?"}]

# A named tool choice: the SDK parses the call.
r = client.chat.completions.create(
    model=model,
    messages=messages,
    tools=tools,
    tool_choice={"type": "function", "function": {"name": "get_weather"}},
    max_tokens=200,
    temperature=0.7,
    seed=3,
)
choice = r.choices[0]
assert choice.finish_reason == "tool_calls", choice
call = choice.message.tool_calls[0]
assert call.type == "function" and call.function.name == "get_weather", call
assert call.id.startswith("call_"), call.id
arguments = json.loads(call.function.arguments)

# The same, streamed: the SDK sees the call in the deltas.
stream = client.chat.completions.create(
    model=model,
    messages=messages,
    tools=tools,
    tool_choice="required",
    max_tokens=200,
    temperature=0.7,
    seed=3,
    stream=True,
)
streamed_calls = []
finish = None
for chunk in stream:
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    if delta.tool_calls:
        streamed_calls.extend(delta.tool_calls)
    if chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
assert finish == "tool_calls", finish
assert streamed_calls and streamed_calls[0].function.name == "get_weather", streamed_calls

# The result goes back as a `tool` message; the model answers.
follow = client.chat.completions.create(
    model=model,
    messages=messages
    + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"forecast": "sunny"}'},
    ],
    tools=tools,
    tool_choice="none",
    max_tokens=8,
    temperature=0,
)
assert follow.choices[0].finish_reason == "length", follow
assert not follow.choices[0].message.tool_calls, follow

# Structured output with a JSON schema.
schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 10},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
s = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Describe a person as JSON"}],
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": True},
    },
    max_tokens=200,
    temperature=0.7,
    seed=5,
)
assert s.choices[0].finish_reason == "stop", s.choices[0]
person = json.loads(s.choices[0].message.content)
print(json.dumps({"arguments": arguments, "person": person, "schema": schema}))
