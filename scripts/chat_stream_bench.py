#!/usr/bin/env python3
"""Streamed chat against the same generation on /v1/completions, per segment of tokens.

Starts `shimmy-host serve` on a loopback port with one model (one slot), renders a chat with
`POST /api/template/render`, then alternates, RUNS times each:

* chat: `POST /v1/chat/completions` with the messages, `stream: true`;
* completion: `POST /v1/completions` with the rendered prompt, `stream: true`;

both greedy (temperature 0, repeat penalty 1) with `max_tokens` = TOKENS, so both decode the
same tokens. Every SSE event is time-stamped on arrival; the text that arrived is mapped back
to token positions through `/tokenize` of the completion's output (with pieces), and the decode
rate of each segment of SEGMENT tokens is (tokens in the segment) / (arrival of its last token
- arrival of the previous segment's last token). The first segment starts at the first token, so
prompt evaluation is not counted. Prints per segment the medians, min-max and the chat/completion
ratio of the medians, and the median (min-max) of the per-pair ratios (chat run i against
completion run i, which ran right before or after it: drifts of the machine's load cancel);
with --json the raw figures. Keep RUNS even so that each kind goes first equally often.

Only the Python standard library is used.

Usage: scripts/chat_stream_bench.py --binary target/release/shimmy-host --model M.gguf
       [--tokens 2000] [--segment 500] [--runs 6] [--threads N] [--json]
"""

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time

MESSAGES = [
    {
        "role": "user",
        "content": "Write a very long story about a lighthouse keeper and the ships she sees, "
        "chapter after chapter. Do not stop.",
    }
]


def post(port, path, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {data[:500]!r}")
    return json.loads(data)


def stream(port, path, body):
    """(list of (t, text) per SSE event, usage) of one streamed request."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {r.read()[:500]!r}")
    events, usage = [], None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        t = time.perf_counter()
        data = line[6:]
        if data == b"[DONE]":
            break
        v = json.loads(data)
        if v.get("usage"):
            usage = v["usage"]
        for choice in v.get("choices", []):
            text = choice.get("text")
            if text is None:
                text = (choice.get("delta") or {}).get("content") or ""
            if text:
                events.append((t, text))
    return events, usage


def arrival_of_offsets(events):
    """For each character offset of the streamed text, when it arrived."""
    times = []
    for t, text in events:
        times.extend([t] * len(text))
    return times


def segment_rates(events, token_ends, segment, shift=0):
    """Decode tok/s of each segment of `segment` tokens (token_ends: char offset after token i
    in the completion's text; `shift`: characters the chat's content lacks at its start, the
    whitespace the template's parse trims)."""
    times = arrival_of_offsets(events)
    text_len = len(times)
    def at(token_index):
        # When the text of token `token_index` (0-based) had arrived; text held back by the chat
        # parser arrives a little later, never earlier.
        end = min(max(token_ends[token_index] - shift, 1), text_len)
        return times[end - 1]
    rates = []
    start_token = 0
    start_time = at(0)
    n = len(token_ends)
    for end_token in range(segment - 1, n, segment):
        t = at(end_token)
        rates.append((end_token - start_token) / (t - start_time))
        start_token, start_time = end_token, t
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--segment", type=int, default=500)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    args = [a.binary, "serve", "--bind", "127.0.0.1:0", "--model", a.model, "--parallel", "1",
            "--ctx-size", str(a.tokens + 512)]
    if a.threads:
        args += ["--threads", str(a.threads)]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    log = []
    for line in server.stdout:
        log.append(line)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        m = re.search(r"listening on (?:http://)?127\.0\.0\.1:(\d+)", plain)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        sys.exit("the server did not start:\n" + "".join(log))
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        rendered = post(port, "/api/template/render", {"messages": MESSAGES})
        sampling = {"temperature": 0, "repeat_penalty": 1.0, "max_tokens": a.tokens,
                    "stream": True}
        chat_body = dict(sampling, messages=MESSAGES)
        completion_body = dict(sampling, prompt=rendered["prompt"])
        # Warm-up (plugin instances, caches).
        post(port, "/v1/chat/completions", dict(chat_body, stream=False, max_tokens=8))

        runs = {"chat": [], "completion": []}
        token_ends = None
        shift = 0
        for i in range(a.runs):
            for kind in (["chat", "completion"] if i % 2 == 0 else ["completion", "chat"]):
                if kind == "chat":
                    events, usage = stream(port, "/v1/chat/completions", chat_body)
                else:
                    events, usage = stream(port, "/v1/completions", completion_body)
                    if token_ends is None:
                        text = "".join(t for _, t in events)
                        shift = len(text) - len(text.lstrip())
                        pieces = post(port, "/tokenize",
                                      {"content": text, "with_pieces": True})["tokens"]
                        token_ends, pos = [], 0
                        for p in pieces:
                            pos += len(p["piece"])
                            token_ends.append(pos)
                runs[kind].append((events, usage))
        n = min(u["completion_tokens"] for r in runs.values() for _, u in r if u) if any(
            u for r in runs.values() for _, u in r) else len(token_ends)
        n = min(n, len(token_ends))
        if n < a.tokens:
            print(f"note: the model stopped after {n} tokens (of {a.tokens})", file=sys.stderr)
        token_ends = token_ends[:n]
        rates = {k: [segment_rates(e, token_ends, a.segment, shift if k == "chat" else 0)
                     for e, _ in r]
                 for k, r in runs.items()}
        result = {"tokens": n, "segment": a.segment, "runs": a.runs, "segments": []}
        print(f"{n} tokens, segments of {a.segment}, {a.runs} interleaved runs each")
        print(f"{'tokens':>11} {'chat tok/s med (min-max)':>28} "
              f"{'completion tok/s med (min-max)':>34} {'chat/completion':>16} "
              f"{'pair ratio med (min-max)':>26}")
        for s in range(len(rates["chat"][0])):
            c = [r[s] for r in rates["chat"]]
            p = [r[s] for r in rates["completion"]]
            mc, mp = statistics.median(c), statistics.median(p)
            pairs = [x / y for x, y in zip(c, p)]
            lo, hi = s * a.segment + 1, min((s + 1) * a.segment, n)
            print(f"{lo:>5}-{hi:<5} {mc:>12.1f} ({min(c):.1f}-{max(c):.1f}){'':>6}"
                  f"{mp:>14.1f} ({min(p):.1f}-{max(p):.1f}){'':>8} {mc / mp:>12.3f} "
                  f"{statistics.median(pairs):>14.3f} ({min(pairs):.3f}-{max(pairs):.3f})")
            result["segments"].append({"tokens": [lo, hi], "chat": c, "completion": p,
                                       "ratio_of_medians": mc / mp,
                                       "pair_ratios": pairs})
        if a.json:
            print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
