"""An earlier assistant turn's reasoning, sent back through the official `anthropic` and
`openai` SDKs in each API's own shape (Anthropic `thinking` blocks, Responses `reasoning`
items, Chat Completions `reasoning_content`), on a test-kit model whose template prints an
assistant message's `reasoning_content`. Prints the prompt token counts the server reports for
the same conversation with and without the reasoning; the test compares them with the
template's render of the conversation.

Usage: earlier_reasoning.py BASE_URL MODEL QUESTION THOUGHT ANSWER FOLLOW_UP
"""

import json
import sys

import anthropic
import openai

base, model, question, thought, answer, follow_up = sys.argv[1:7]
claude = anthropic.Anthropic(base_url=base, api_key="none", max_retries=0, timeout=120)
oai = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=120)
counts = {}


def conversation(assistant):
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": follow_up},
    ]


# Anthropic: the thinking block is the turn's reasoning; the redacted one (no text) is not.
thinking = conversation([
    {"type": "thinking", "thinking": thought, "signature": "c2ln"},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
    {"type": "text", "text": answer},
])
plain = conversation([{"type": "text", "text": answer}])
counts["anthropic_count"] = claude.messages.count_tokens(model=model, messages=thinking).input_tokens
counts["anthropic_count_without"] = claude.messages.count_tokens(
    model=model, messages=plain
).input_tokens
m = claude.messages.create(model=model, max_tokens=1, messages=thinking)
counts["anthropic_messages"] = m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0)


# Responses: the reasoning item before the answer, as a previous response's output holds it;
# OpenAI's own models send only a summary.
def items(reasoning):
    return [
        {"role": "user", "content": question},
        *reasoning,
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": answer, "annotations": []}]},
        {"role": "user", "content": follow_up},
    ]


text_item = {"type": "reasoning", "id": "rs_1", "summary": [],
             "content": [{"type": "reasoning_text", "text": thought}]}
summary_item = {"type": "reasoning", "id": "rs_2", "encrypted_content": "gAAAAB",
                "summary": [{"type": "summary_text", "text": thought}]}
for key, reasoning in [("responses", [text_item]), ("responses_summary", [summary_item]),
                       ("responses_without", [])]:
    r = oai.responses.create(model=model, input=items(reasoning), max_output_tokens=1)
    counts[key] = r.usage.input_tokens

# Chat Completions: `reasoning_content` on the assistant message.
c = oai.chat.completions.create(
    model=model,
    max_tokens=1,
    messages=[
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer, "reasoning_content": thought},
        {"role": "user", "content": follow_up},
    ],
)
counts["chat"] = c.usage.prompt_tokens

print(json.dumps(counts))
