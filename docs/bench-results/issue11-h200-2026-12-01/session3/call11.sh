#!/usr/bin/env bash
# Call 11 (session 21): decode with host experts mapped vs read into pinned memory (both engines),
# and the Mixtral-8x7B rows not measured before (6, 12 GiB, --cpu-moe), pinned.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call11.log") 2>&1
CALL=11; source "$R/tests/gpu/side-by-side-lib.sh"
# 1. Qwen: decode mapped vs pinned, --cpu-moe and 6 GiB, both engines
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
S1=()
sh q-cpumoe-map S1 $Q --cpu-moe
sh q-cpumoe-pin S1 $Q --cpu-moe --no-mmap
ls_ l-cpumoe-map S1 $Q --cpu-moe
ls_ l-cpumoe-pin S1 $Q --cpu-moe -lm none
sh q-6g-map S1 $Q --moe-offload auto --vram-budget-mb 6144
sh q-6g-pin S1 $Q --moe-offload auto --vram-budget-mb 6144 --no-mmap
ls_ l-6g-fit S1 $Q $(fit 6144)
say "== qwen decode (mapped vs pinned)"; bench qwen-mmap.jsonl qwen 64 3 --skip-prompt "${S1[@]}"
stopall; rm -f $Q
# 2. Mixtral rows not measured: 6, 12 GiB, --cpu-moe; shimmy pinned (the new default) vs llama-server
X=$W/m/mixtral.gguf; $H make-test-model --shape mixtral-8x7b $X --threads 14 >/dev/null 2>&1; say "mixtral written"
for b in 6 12 cpumoe; do
  [ "$(left)" -lt 90 ] && { say "skip mixtral $b"; continue; }
  S=()
  if [ $b = cpumoe ]; then sh x-$b-pin S $X --cpu-moe --no-mmap; ls_ l-$b S $X --cpu-moe
  else sh x-$b-pin S $X --moe-offload auto --vram-budget-mb $((b*1024)) --no-mmap; ls_ l-$b-fit S $X $(fit $((b*1024))); fi
  grep -h "MoE offload: auto\|MoE offload: [0-9]" $W/logs/x-$b-pin.log | head -2
  say "== mixtral $b"; bench mixtral-$b.jsonl mixtral 32 3 "" "${S[@]}"
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
  stopall
done
tar -czf $OUT/logs11.tar.gz -C $W logs
say done
