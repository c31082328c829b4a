"""The OpenAI Responses API through the official `openai` Python SDK.

Usage: openai_responses.py BASE_URL MODEL KIND
KIND is `testkit` (random weights: only the shapes are checked) or `smollm2` (a real instruct
model: the answers are checked too). Asserts as it goes (exit 1 with a traceback on the first
failure) and prints one JSON line for the Rust test: the forced call's arguments and (test kit)
the structured answer.
"""

import json
import sys

import openai

base, model, kind = sys.argv[1], sys.argv[2], sys.argv[3]
real = kind == "smollm2"
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)

instructions = "You are a helpful assistant. Answer in one short sentence."
question = "What is the capital of France?"

# responses.create: a message item with output_text, usage, stateless.
r = client.responses.create(
    model=model, instructions=instructions, input=question, max_output_tokens=24, temperature=0
)
assert r.object == "response" and r.id.startswith("resp_"), r
assert r.store is False, r.store
assert r.status in ("completed", "incomplete"), r
message = [o for o in r.output if o.type == "message"]
assert len(message) == 1 and message[0].content[0].type == "output_text", r.output
text = r.output_text
assert text == message[0].content[0].text, r
assert 0 < r.usage.output_tokens <= 24, r.usage
assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens, r.usage
if r.status == "incomplete":
    assert r.incomplete_details.reason == "max_output_tokens", r
if real:
    assert r.status == "completed", r
    assert "Paris" in text, text

# The same, streamed: every event numbered, the text rebuilt from the deltas.
events = list(
    client.responses.create(
        model=model,
        instructions=instructions,
        input=question,
        max_output_tokens=24,
        temperature=0,
        stream=True,
    )
)
assert [e.sequence_number for e in events] == list(range(len(events))), events
kinds = [e.type for e in events]
assert kinds[:2] == ["response.created", "response.in_progress"], kinds
assert kinds[-1] == "response." + r.status, kinds
streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
assert streamed == text, (streamed, text)
done = [e for e in events if e.type == "response.output_text.done"][0]
assert done.text == text, done
assert events[-1].response.output_text == text, events[-1]

if real:
    # responses.stream: the SDK's helper assembles the completed response.
    with client.responses.stream(
        model=model, instructions=instructions, input=question, max_output_tokens=48, temperature=0
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text, final
    assert "Paris" in final.output_text, final.output_text

# A function call round trip: a forced call, its function_call_output, an answer.
tools = [
    {
        "type": "function",
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
        "strict": True,
    }
]
ask = [{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}]
c = client.responses.create(
    model=model,
    input=ask,
    tools=tools,
    tool_choice={"type": "function", "name": "get_weather"},
    max_output_tokens=120,
    temperature=0.7,
    top_p=0.95,
)
assert c.status == "completed", c
calls = [o for o in c.output if o.type == "function_call"]
assert len(calls) == 1 and calls[0].name == "get_weather", c.output
call = calls[0]
arguments = json.loads(call.arguments)
assert isinstance(arguments.get("city"), str), arguments
follow = client.responses.create(
    model=model,
    input=ask
    + [o.model_dump(exclude_none=True) for o in c.output]
    + [{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C every day."}],
    tools=tools,
    tool_choice="none",
    max_output_tokens=24,
    temperature=0,
)
assert follow.status in ("completed", "incomplete"), follow
assert not [o for o in follow.output if o.type == "function_call"], follow.output

# The forced call through responses.stream: the SDK's helper sees the arguments events (the
# same on any model: checked on the test kit's, which keeps the real model's run short).
if not real:
    with client.responses.stream(
        model=model,
        input=ask,
        tools=tools,
        tool_choice="required",
        max_output_tokens=120,
        temperature=0.7,
    ) as stream:
        arg_deltas = [e for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    streamed_call = [o for o in final.output if o.type == "function_call"][0]
    assert arg_deltas and arg_deltas[-1].snapshot == streamed_call.arguments, arg_deltas
    assert "city" in json.loads(streamed_call.arguments), streamed_call

if real:
    # The rest (structured output, refusals) is the same on any model: checked on the test kit's.
    print(json.dumps({"arguments": arguments}))
    sys.exit(0)

# Structured output with text.format json_schema.
schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 10},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
s = client.responses.create(
    model=model,
    input="Describe a person as JSON",
    text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
    max_output_tokens=120,
    temperature=0.7,
)
assert s.status == "completed", s
person = json.loads(s.output_text)

# What needs stored state, and hosted tools, are refused clearly.
try:
    client.responses.create(model=model, input=question, previous_response_id=r.id)
    raise AssertionError("previous_response_id must be refused")
except openai.BadRequestError as e:
    assert e.body["param"] == "previous_response_id", e.body
    assert "store" in e.body["message"], e.body
try:
    client.responses.create(model=model, input=question, tools=[{"type": "web_search"}])
    raise AssertionError("a hosted tool must be refused")
except openai.BadRequestError as e:
    assert e.body["param"] == "tools[0].type", e.body
try:
    client.responses.create(model="gpt-no-such-model", input=question)
    raise AssertionError("an unknown model must fail")
except openai.NotFoundError as e:
    assert e.body["param"] == "model", e.body

print(json.dumps({"arguments": arguments, "person": person, "schema": schema}))
