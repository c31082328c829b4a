#!/usr/bin/env bash
# Call 22 (session 23): shimmy-host's step phases (all on the GPU, device sampling) by --threads,
# streamed against not streamed, to tell whether the launch phase waits on CPU threads.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call22.log") 2>&1
CALL=22; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
export RUST_LOG=warn,shimmy_backend_llama::scheduler::worker=debug
S=(); P0=$PORT
for t in 1 2 4 16; do sh q-t$t S $Q --threads $t; done
unset RUST_LOG
plain() { python3 - "$1" <<'PY'
import json, sys, urllib.request
body = json.dumps({"model": "qwen", "prompt": "Write a story about a robot", "max_tokens": 128,
                   "temperature": 0, "stream": False}).encode()
for _ in range(3):
    r = urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/v1/completions", body, {"Content-Type": "application/json"}), timeout=60)
    json.load(r)
PY
}
for r in 1 2; do
  say "== round $r streamed"; python3 $R/tests/gpu/placement_bench.py "${S[@]}" --rounds 2 --gen 128 --skip-prompt --model qwen --tag c22 >> $OUT/call22-http.jsonl 2>> $W/logs/bench.err || tail -3 $W/logs/bench.err
  say "== round $r not streamed"; i=0; for t in 1 2 4 16; do i=$((i+1)); plain http://127.0.0.1:$((P0+i)); done
done
table $OUT/call22-http.jsonl
for t in 1 2 4 16; do say "== q-t$t: step phases of each 128-token request (streamed x3 incl. warm-up order, then not streamed x3, per round)"; grep -h "reused its graph" $W/logs/q-t$t.log | grep "128 steps" | sed "s/.*decodes; //"; done
stopall
tar -czf $OUT/logs22.tar.gz -C $W logs
say done
