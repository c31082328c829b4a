#!/usr/bin/env bash
# Call 12 (session 21): the release build of main with its default load mode (no --no-mmap).
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call12.log") 2>&1
CALL=12; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
S=()
sh q-16g S $Q --moe-offload auto --vram-budget-mb 16384
ls_ l-16g-fit S $Q $(fit 16384)
sh q-cpumoe S $Q --cpu-moe
grep -h "reading the model\|MoE offload: auto\|MoE offload: [0-9]" $W/logs/q-16g.log $W/logs/q-cpumoe.log
say "== qwen, default load mode"; bench qwen-default.jsonl qwen 64 3 "" "${S[@]}"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
stopall
tar -czf $OUT/logs12.tar.gz -C $W logs
say done
