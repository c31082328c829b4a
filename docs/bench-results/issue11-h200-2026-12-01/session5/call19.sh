#!/usr/bin/env bash
# Call 19 (session 23): where single-stream HTTP decode loses to llama-bench tg128 (all on the
# GPU): llama-bench interleaved with HTTP decodes, the scheduler's per-phase step times.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call19.log") 2>&1
CALL=19; source "$R/tests/gpu/side-by-side-lib.sh"
say "nsys: $(command -v nsys || echo none); nproc $(nproc); lscpu: $(lscpu | grep -E '^(Thread|Core|Socket)' | tr -s ' ' | tr '\n' ';')"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
export RUST_LOG=warn,shimmy_backend_llama::scheduler::worker=debug
S=()
sh q-all S $Q
sh q-t8 S $Q --threads 8
ls_ l-all S $Q
unset RUST_LOG
for r in 1 2 3 4 5 6; do
  say "== round $r: llama-bench tg128"
  "${LENV[@]}" $LB/llama-bench -m $Q -p 0 -n 128 -fa 1 -r 3 -o jsonl 2>/dev/null | tee -a $OUT/call19-llama-bench.jsonl | python3 -c "import sys,json; [print('llama-bench tg128', round(json.loads(l)['avg_ts'],1), [round(x,1) for x in json.loads(l)['samples_ts']]) for l in sys.stdin if l.strip()]"
  say "== round $r: HTTP decode, 128 tokens"
  python3 $R/tests/gpu/placement_bench.py "${S[@]}" --rounds 2 --gen 128 --skip-prompt --model qwen --tag r$r >> $OUT/call19-http.jsonl 2>> $W/logs/bench.err || tail -3 $W/logs/bench.err
done
table $OUT/call19-http.jsonl
say "== scheduler step phases (q-all, then q-t8)"
grep -h "reused its graph" $W/logs/q-all.log | tail -8 | sed 's/.*slot/q-all slot/'
grep -h "reused its graph" $W/logs/q-t8.log | tail -4 | sed 's/.*slot/q-t8 slot/'
stopall
say "== CUDA graph debug lines of one decode (-vv)"
S2=(); sh q-dbg S2 $Q -vv
python3 $R/tests/gpu/placement_bench.py "${S2[@]}" --rounds 1 --gen 128 --skip-prompt --model qwen --tag dbg > /dev/null 2>&1
grep -i -E "cuda graph|warmup|reused its graph" $W/logs/q-dbg.log | sort | uniq -c | sort -rn | head -20
stopall
tar -czf $OUT/logs19.tar.gz -C $W logs
say done
