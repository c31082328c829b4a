"""Drives shimmy-host's embedding routes with the official `openai` and `ollama` clients and
LangChain's `OpenAIEmbeddings` / `OllamaEmbeddings`, for each model named, and checks that every
client gets the same unit vectors for the same texts, batch or single.

Usage: embedding_clients.py BASE_URL MODEL [MODEL...]; prints one JSON summary line per model.
Exits non-zero (with the reason) when a check fails.
"""

import json
import math
import sys

import ollama
import openai
from langchain_ollama import OllamaEmbeddings
from langchain_openai import OpenAIEmbeddings

# Batching changes the shapes llama.cpp computes with (kernel choice, order of float sums),
# so a text embedded alone and in a batch agree to float precision (at most 5e-5 per value
# seen on the test kit's BERT), not bit for bit.
TOLERANCE = 1e-4
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
]


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def max_diff(a, b):
    if len(a) != len(b):
        fail(f"vectors of different lengths: {len(a)} and {len(b)}")
    return max(abs(x - y) for x, y in zip(a, b))


def check_model(base, model):
    oa = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
    ol = ollama.Client(host=base)
    lc_openai = OpenAIEmbeddings(
        model=model,
        base_url=f"{base}/v1",
        api_key="unused",
        check_embedding_ctx_length=False,
    )
    lc_ollama = OllamaEmbeddings(model=model, base_url=base)

    got = {}
    # openai: the SDK asks for base64 unless told otherwise, and decodes it.
    r = oa.embeddings.create(model=model, input=TEXTS)
    got["openai_base64_batch"] = [d.embedding for d in r.data]
    if r.usage.prompt_tokens <= len(TEXTS) or r.usage.total_tokens != r.usage.prompt_tokens:
        fail(f"{model}: usage {r.usage}")
    r = oa.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    got["openai_float_batch"] = [d.embedding for d in r.data]
    got["openai_single"] = [
        oa.embeddings.create(model=model, input=t).data[0].embedding for t in TEXTS
    ]
    # ollama: /api/embed (batch and single) and the older /api/embeddings.
    r = ol.embed(model=model, input=TEXTS)
    got["ollama_embed_batch"] = [list(v) for v in r.embeddings]
    if not r.prompt_eval_count or r.total_duration is None:
        fail(f"{model}: /api/embed counts missing: {r}")
    got["ollama_embed_single"] = [list(ol.embed(model=model, input=t).embeddings[0]) for t in TEXTS]
    got["ollama_embeddings"] = [list(ol.embeddings(model=model, prompt=t).embedding) for t in TEXTS]
    # LangChain, both providers, documents (batch) and queries (single).
    got["langchain_openai_documents"] = lc_openai.embed_documents(TEXTS)
    got["langchain_openai_query"] = [lc_openai.embed_query(t) for t in TEXTS]
    got["langchain_ollama_documents"] = lc_ollama.embed_documents(TEXTS)
    got["langchain_ollama_query"] = [lc_ollama.embed_query(t) for t in TEXTS]

    reference = got["openai_float_batch"]
    dims = len(reference[0])
    worst = 0.0
    for name, vectors in got.items():
        if len(vectors) != len(TEXTS):
            fail(f"{model}: {name} gave {len(vectors)} vectors for {len(TEXTS)} texts")
        for i, v in enumerate(vectors):
            norm = math.sqrt(sum(x * x for x in v))
            if abs(norm - 1.0) > 1e-4:
                fail(f"{model}: {name}[{i}] has length {norm}, not 1")
            d = max_diff(v, reference[i])
            worst = max(worst, d)
            if d > TOLERANCE:
                fail(f"{model}: {name}[{i}] differs from the OpenAI float vector by {d}")
    # The same text gives the same vector; different texts give different ones.
    same = max_diff(reference[0], reference[3])
    if same > TOLERANCE:
        fail(f"{model}: the same text gave vectors {same} apart")
    for i in range(3):
        for j in range(i + 1, 3):
            if max_diff(reference[i], reference[j]) < 1e-3:
                fail(f"{model}: texts {i} and {j} gave the same vector")

    # The SDKs raise the server's 4xx as typed errors.
    try:
        oa.embeddings.create(model=model, input="x", dimensions=dims + 1)
        fail(f"{model}: dimensions {dims + 1} was accepted")
    except openai.BadRequestError as e:
        if "dimensions" not in str(e):
            fail(f"{model}: unexpected error for dimensions: {e}")
    try:
        ol.embed(model=model, input="x", dimensions=dims + 1)
        fail(f"{model}: ollama dimensions {dims + 1} was accepted")
    except ollama.ResponseError as e:
        if e.status_code != 400:
            fail(f"{model}: ollama dimensions gave {e.status_code}: {e}")

    return {
        "model": model,
        "dimensions": dims,
        "clients": len(got),
        "max_difference": worst,
    }


def main():
    base, models = sys.argv[1], sys.argv[2:]
    for model in models:
        print(json.dumps(check_model(base, model)))


if __name__ == "__main__":
    main()
