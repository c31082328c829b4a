#!/usr/bin/env bash
# Call 17 (session 22): main with its own model-parameter loader (model_params.rs) on one GPU: the same placements, memory and speed as the old loader.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call17.log") 2>&1
CALL=17; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
S=()
sh q-12g S $Q --moe-offload auto --vram-budget-mb 12288
sh q-cpumoe S $Q --cpu-moe -v
sh q-all S $Q
ls_ l-12g-fit S $Q $(fit 12288)
grep -h "MoE offload: auto fit\|MoE offload: all\|reading the model\|MoE offload: off" $W/logs/q-*.log | cut -c1-250
grep -h "CUDA_Host model buffer\|CPU_Mapped model buffer\|CUDA0 model buffer" $W/logs/q-*.log | head -6
say "== qwen, new loader"; bench qwen17.jsonl qwen 64 3 "" "${S[@]}"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
stopall
$H probe $Q --split-mode none --main-gpu 0 --moe-offload auto --vram-budget-mb 8192 2>&1 | grep -E "placement|planned|memory" | cut -c1-200
$H probe $Q --main-gpu 1 2>&1 | tail -1
tar -czf $OUT/logs17.tar.gz -C $W logs
say done
