#!/usr/bin/env bash
# Call 23 (session 23): after the scheduler sends a token's events while the next step runs, and
# the host penalties: HTTP decode interleaved with llama-bench tg128, step phases, 8 streams.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call23.log") 2>&1
CALL=23; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
export RUST_LOG=warn,shimmy_backend_llama::scheduler::worker=debug
S=(); P0=$PORT
sh q-all S $Q
ls_ l-all S $Q
unset RUST_LOG
for r in 1 2 3 4 5 6; do
  "${LENV[@]}" $LB/llama-bench -m $Q -p 0 -n 128 -fa 1 -r 3 -o jsonl 2>/dev/null | tee -a $OUT/call23-llama-bench.jsonl | python3 -c "import sys,json; [print('round $r llama-bench tg128', round(json.loads(l)['avg_ts'],1), [round(x,1) for x in json.loads(l)['samples_ts']]) for l in sys.stdin if l.strip()]"
  python3 $R/tests/gpu/placement_bench.py "${S[@]}" --rounds 2 --gen 128 --skip-prompt --model qwen --tag r$r >> $OUT/call23-http.jsonl 2>> $W/logs/bench.err || tail -3 $W/logs/bench.err
done
table $OUT/call23-http.jsonl
say "== q-all step phases of the streamed greedy decodes"; grep -h "reused its graph" $W/logs/q-all.log | grep "128 steps" | sed "s/.*decodes; //" | tail -6
plain() { python3 - "$@" <<'PY'
import json, sys, urllib.request
url, extra = sys.argv[1], json.loads(sys.argv[2])
body = dict({"model": "qwen", "prompt": "Write a story about a robot", "max_tokens": 128, "stream": False}, **extra)
for _ in range(2):
    r = urllib.request.urlopen(urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}), timeout=60)
    json.load(r)
PY
}
U=http://127.0.0.1:$((P0+1))
for case in '{}' '{"temperature": 0}' '{"temperature": 0, "repeat_penalty": 1.1}' '{"repeat_penalty": 1.1}'; do
  plain $U "$case"; say "== not streamed, defaults + $case:"; grep -h "reused its graph" $W/logs/q-all.log | grep "128 steps" | sed "s/.*decodes; //" | tail -2
done
stopall
say "== 8 streams of 128 tokens, --parallel 8"
S8=(); add q-p8 S8 $H serve --model $Q --bind 127.0.0.1:$((PORT+1)) --parallel 8 --ctx-size 36864 --preload
add l-p8 S8 "${LENV[@]}" $LB/llama-server -m $Q --host 127.0.0.1 --port $((PORT+1)) -c 36864 -np 8 -fa on
multi() { python3 - "$@" <<'PY'
import json, sys, time, threading, http.client, urllib.parse
def one(url, out):
    u = urllib.parse.urlparse(url); c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.request("POST", "/v1/completions", json.dumps({"model": "qwen", "prompt": "Write a story about a robot", "max_tokens": 128, "temperature": 0, "repeat_penalty": 1.0, "ignore_eos": True}), {"Content-Type": "application/json"})
    out.append(json.loads(c.getresponse().read())["usage"]["completion_tokens"])
for name_url in sys.argv[1:]:
    name, url = name_url.split("=", 1); rates = []
    for _ in range(3):
        out = []; ts = [threading.Thread(target=one, args=(url, out)) for _ in range(8)]
        t0 = time.perf_counter(); [t.start() for t in ts]; [t.join() for t in ts]
        rates.append(sum(out) / (time.perf_counter() - t0))
    rates.sort(); print(f"{name:8s} 8 streams: {rates[1]:.1f} tok/s total ({rates[0]:.1f}-{rates[2]:.1f})", flush=True)
PY
}
A=(); for s in "${S8[@]}"; do [ "$s" != --server ] && A+=("$s"); done
multi "${A[@]}"; multi "${A[@]}"
stopall
tar -czf $OUT/logs23.tar.gz -C $W logs
say done
