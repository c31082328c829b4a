#!/usr/bin/env bash
# Call 16 (session 22): where single-stream decode loses to llama-bench tg128 (all on the GPU).
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call16.log") 2>&1
CALL=16; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
say "== llama-bench tg128"; "${LENV[@]}" $LB/llama-bench -m $Q -p 0 -n 128 -fa 1 -r 3 -o md 2>&1 | grep -E "^\|" 
say "== shimmy-host bench (in-process engine vs plain llama-cpp-2 loop), all on the GPU"
timeout 150 $H bench -m $Q --moe none --runs 3 --prompt-tokens 16 --gen-tokens 128 --ctx-size 4608 2>&1 | tail -12
S=()
sh q-all S $Q
sh q-all-hostsamp S $Q --device-sampling off
ls_ l-all S $Q
say "== HTTP decode, 128 tokens"; bench qwen-all.jsonl qwen 128 3 --skip-prompt "${S[@]}"
stopall
tar -czf $OUT/logs15.tar.gz -C $W logs
say done
