#!/usr/bin/env python3
"""What large requests cost the server before the first token: message count and JSON-schema
grammars.

Starts `shimmy-host serve` on a loopback port with one model and two slots, then:

* messages: for each N in --messages, a chat of N short messages to
  `POST /v1/chat/completions` (`max_tokens` 1) and `POST /api/template/render`; prints the
  status and the wall time of each;
* enums: for each K in --enums, a chat with `response_format` `json_schema` whose schema is an
  `enum` of K strings, sent while a normal one-token chat is sent 0.3 s later on the same
  model; prints the status and time of both (the normal one should answer promptly whatever K
  is);
* disconnect: the largest message count again, the client hanging up after 0.5 s; prints the
  server's CPU seconds in the 3 s that follow (work that goes on for a client that left) and
  whether every slot is idle afterwards (`/health`).

Only the Python standard library is used. Figures, not assertions: see docs/benchmarks.md.

Usage: scripts/prep_cost.py --binary target/debug/shimmy-host --model M.gguf
       [--messages 1000,10000,20000] [--enums 1000,5000,100000] [--serve-args "..."]
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time


def start(binary, model, extra=()):
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--model", model,
         "--parallel", "2", "--ctx-size", "1024", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "NO_COLOR": "1"})
    deadline = time.time() + 120
    for line in proc.stdout:
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            host, port = m.group(1).rsplit(":", 1)
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, host, int(port)
        if time.time() > deadline:
            break
    proc.kill()
    sys.exit("serve did not start")


def post(host, port, path, body, timeout=900):
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.time()
    conn.request("POST", path, data, {"Content-Type": "application/json"})
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, time.time() - started, text


def chat(n):
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"}
            for i in range(n)]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def health(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/health")
    v = json.loads(conn.getresponse().read())
    conn.close()
    return v["slots"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--messages", default="1000,10000,20000")
    ap.add_argument("--enums", default="1000,5000,100000")
    ap.add_argument("--serve-args", default="",
                    help="extra `serve` flags, e.g. \"--max-messages 50000\" to time the "
                         "pipeline past the default limit")
    args = ap.parse_args()
    proc, host, port = start(args.binary, args.model, args.serve_args.split())
    try:
        post(host, port, "/v1/chat/completions",
             {"messages": chat(1), "max_tokens": 1})
        print("messages: N, route, status, seconds")
        for n in [int(x) for x in args.messages.split(",") if x]:
            msgs = chat(n)
            for path, body in [("/v1/chat/completions", {"messages": msgs, "max_tokens": 1}),
                               ("/api/template/render", {"messages": msgs})]:
                status, secs, text = post(host, port, path, body)
                print(f"  {n:>7} {path:<22} {status} {secs:8.2f} s  {text[:90]!r}")
        print("enum: K, status, seconds | normal request next to it: status, seconds")
        for k in [int(x) for x in args.enums.split(",") if x]:
            schema = {"type": "object", "properties": {
                "v": {"enum": [f"value-{i}" for i in range(k)]}}, "required": ["v"]}
            out = {}

            def big():
                out["big"] = post(host, port, "/v1/chat/completions", {
                    "messages": chat(1), "max_tokens": 8,
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "e", "schema": schema}}})

            t = threading.Thread(target=big)
            t.start()
            time.sleep(0.3)
            normal = post(host, port, "/v1/chat/completions",
                          {"messages": chat(1), "max_tokens": 1})
            t.join()
            b = out["big"]
            print(f"  {k:>7} {b[0]} {b[1]:8.2f} s {b[2][:80]!r} | normal {normal[0]} "
                  f"{normal[1]:6.2f} s")
        n = max(int(x) for x in args.messages.split(",") if x)
        body = json.dumps({"messages": chat(n), "max_tokens": 1}).encode()
        sock = socket.create_connection((host, port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.5)
        sock.close()
        before = cpu_seconds(proc.pid)
        time.sleep(3)
        after = cpu_seconds(proc.pid)
        print(f"disconnect after 0.5 s with {n} messages: server CPU in the next 3 s "
              f"{after - before:.2f} s; slots {health(host, port)}")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
