#!/usr/bin/env bash
# Call 13 (session 22): auto decodes first (2ccdf71); Mixtral 12 GiB gap, Qwen 6 GiB and --cpu-moe threads.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call13.log") 2>&1
CALL=13; source "$R/tests/gpu/side-by-side-lib.sh"
lscpu | grep -E "^(Thread|Core|Socket|Model name)" 
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
S=()
sh q-6g S $Q --moe-offload auto --vram-budget-mb 6144
ls_ l-6g-fit S $Q $(fit 6144)
sh q-cpumoe S $Q --cpu-moe
sh q-cpumoe-t8 S $Q --cpu-moe --threads 8
ls_ l-cpumoe S $Q --cpu-moe
grep -h "MoE offload: auto\|MoE offload: [0-9]\|threads" $W/logs/q-6g.log | head -3
grep -h "system_info\|n_threads" $W/logs/l-cpumoe.log | head -2
say "== qwen decode"; bench qwen.jsonl qwen 64 5 --skip-prompt "${S[@]}"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
stopall; rm -f $Q
X=$W/m/mixtral.gguf; $H make-test-model --shape mixtral-8x7b $X --threads 14 >/dev/null 2>&1; say "mixtral written"
S=()
sh x-12 S $X --moe-offload auto --vram-budget-mb 12288
ls_ l-12-fit S $X $(fit 12288)
sh x-12-n20 S $X --n-cpu-moe 20
grep -h "MoE offload: auto\|MoE offload: [0-9]" $W/logs/x-12.log $W/logs/x-12-n20.log | head -4
grep -ih "fit" $W/logs/l-12-fit.log | head -20
say "== mixtral 12"; bench mixtral-12.jsonl mixtral 32 3 "" "${S[@]}"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
stopall
if [ "$(left)" -gt 150 ]; then
  S=()
  sh x-24 S $X --moe-offload auto --vram-budget-mb 24576
  ls_ l-24-fit S $X $(fit 24576)
  grep -h "MoE offload: auto" $W/logs/x-24.log | head -2
  say "== mixtral 24"; bench mixtral-24.jsonl mixtral 32 3 --skip-prompt "${S[@]}"
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
  stopall
fi
tar -czf $OUT/logs13.tar.gz -C $W logs
say done
