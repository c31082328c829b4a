#!/usr/bin/env bash
# Call 20 (session 23): what a context setting costs per decoded token (tests/gpu/decode_loop.cpp
# on the prebuilt libllama), against llama-bench tg128; shimmy-host's step phases without
# device sampling.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call20.log") 2>&1
CALL=20; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
g++ -O2 -std=c++17 $R/tests/gpu/decode_loop.cpp -I $B/inc -L $LB -l:libllama.so.0 -lggml -lggml-base -o $W/decode_loop && say "decode_loop built"
say "== llama-bench tg128"; "${LENV[@]}" $LB/llama-bench -m $Q -p 0 -n 128 -fa 1 -r 3 -o md 2>&1 | grep tg128
say "== decode_loop, 128 tokens, 5 rounds"; (cd $LB && "${LENV[@]}" $W/decode_loop $Q 128 5 16)
say "== llama-bench tg128"; "${LENV[@]}" $LB/llama-bench -m $Q -p 0 -n 128 -fa 1 -r 3 -o md 2>&1 | grep tg128
say "== decode_loop, 8 threads"; (cd $LB && "${LENV[@]}" $W/decode_loop $Q 128 3 8)
export RUST_LOG=warn,shimmy_backend_llama::scheduler::worker=debug
S=(); sh q-off S $Q --device-sampling off; sh q-on S $Q
unset RUST_LOG
python3 $R/tests/gpu/placement_bench.py "${S[@]}" --rounds 3 --gen 128 --skip-prompt --model qwen --tag c20 >> $OUT/call20-http.jsonl 2>> $W/logs/bench.err || tail -3 $W/logs/bench.err
table $OUT/call20-http.jsonl
for n in q-off q-on; do grep -h "reused its graph" $W/logs/$n.log | grep "128 steps" | tail -3 | sed "s/.*slot/$n slot/"; done
stopall
tar -czf $OUT/logs20.tar.gz -C $W logs
say done
