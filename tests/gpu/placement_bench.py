#!/usr/bin/env python3
"""Drives two OpenAI-compatible servers (shimmy-host and llama-server) interleaved.

For each round and each server (the order alternates between rounds) it streams
  * a decode request: a short prompt, GEN greedy tokens; decode tok/s is
    (tokens - 1) / (time of the last token - time of the first token);
  * a prompt request: a fresh PROMPT_TOKENS-token prompt (a different start every time, so no
    prompt cache helps), 4 tokens; TTFT is request sent -> first token received.
Prints one JSON object per measurement on stdout. Standard library only.

Usage: placement_bench.py --server NAME=URL [--server NAME=URL] --rounds 3 --gen 128
                          --prompt-tokens 4096 --model M
"""
import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse

WORDS = ("the and that have for not with you this but his from they say her she will one all "
         "would there their what out about who get which when make can like time just him know "
         "take people into year your good some could them see other than then now look only come "
         "its over think also back after use two how our work first well way even new want "
         "because any these give day most are was were been has had did said made very more many "
         "much here where why yes hello world story word number name water long little great "
         "small large big old young right left high low same different next last early late "
         "house home school family friend city country state life hand part place case week "
         "point fact group problem program code data file line list value result function red "
         "green blue black white cat dog bird fish tree sun moon star").split()


def prompt_of(n_words, seed):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def stream(url, model, prompt, max_tokens, timeout=600):
    """POST /v1/completions with stream: returns (t_sent, [t of each content chunk], n, usage)."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    body = json.dumps({
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "stream": True,
        "temperature": 0, "repeat_penalty": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
        "seed": 1, "stream_options": {"include_usage": True},
    })
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{url}: HTTP {resp.status}: {resp.read()[:300]!r}")
    times, usage, text = [], None, []
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                continue
            obj = json.loads(data)
            now = time.perf_counter()
            if obj.get("usage"):
                usage = obj["usage"]
            for c in obj.get("choices") or []:
                if c.get("text"):
                    times.append(now)
                    text.append(c["text"])
            if obj.get("timings"):
                usage = dict(usage or {}, timings=obj["timings"])
    conn.close()
    return t0, times, usage, "".join(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=4096)
    ap.add_argument("--model", default="m")
    ap.add_argument("--tag", default="")
    ap.add_argument("--skip-prompt", action="store_true")
    ap.add_argument("--check-sampling", action="store_true",
                    help="compare greedy text across the servers, and seeded text of the first twice")
    a = ap.parse_args()
    servers = [s.split("=", 1) for s in a.server]
    # Every word is one token of the test kit's vocabulary (" the": "\u2581the"); the servers
    # report the real count.
    for name, url in servers:  # warm-up
        stream(url, a.model, "Once upon a time", 8)
    if a.check_sampling:
        check_sampling(a, servers)
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for name, url in order:
            t0, times, usage, _ = stream(url, a.model, "Write a story about a robot", a.gen)
            n = len(times)
            tps = (n - 1) / (times[-1] - times[0]) if n > 1 else 0.0
            print(json.dumps({"tag": a.tag, "engine": name, "round": r, "kind": "decode",
                              "chunks": n, "usage": usage, "decode_tps": round(tps, 2)}), flush=True)
        if a.skip_prompt:
            continue
        for name, url in order:
            seed = hash((a.tag, r, name)) & 0xFFFF
            t0, times, usage, _ = stream(url, a.model, prompt_of(a.prompt_tokens - 2, seed), 4)
            ttft = (times[0] - t0) * 1000 if times else None
            print(json.dumps({"tag": a.tag, "engine": name, "round": r, "kind": "prompt",
                              "usage": usage, "ttft_ms": round(ttft, 1) if ttft else None}),
                  flush=True)


def check_sampling(a, servers):
    """Greedy output of every server (same llama.cpp: must be equal), and a seeded
    temperature-0.9 request to the first server twice with another prompt in between (so the
    second is evaluated afresh like the first, not from the prompt cache, whose shorter batch
    gives slightly different logits): must be equal."""
    greedy = {}
    for name, url in servers:
        greedy[name] = stream(url, a.model, "Write a story about a robot", 48)[3]
    def seeded(url, seed, prompt="Once upon a time"):
        u = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        conn.request("POST", "/v1/completions", json.dumps({
            "model": a.model, "prompt": prompt, "max_tokens": 48, "temperature": 0.9,
            "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0, "seed": seed}),
            {"Content-Type": "application/json"})
        out = json.loads(conn.getresponse().read())["choices"][0]["text"]
        conn.close()
        return out
    name, url = servers[0]
    s1 = seeded(url, 7)
    s3 = seeded(url, 8, "A robot who learns to paint")
    s2 = seeded(url, 7)
    names = [n for n, _ in servers]
    print(json.dumps({"tag": a.tag, "kind": "sampling",
                      "greedy_equal": len(set(greedy.values())) == 1,
                      "greedy_chars": {n: len(greedy[n]) for n in names},
                      "seeded_repeatable": s1 == s2, "other_prompt_differs": s1 != s3}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
