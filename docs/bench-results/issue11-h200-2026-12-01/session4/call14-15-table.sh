#!/usr/bin/env bash
# Session 22, calls 14 (SHAPES=mixtral-8x7b GEN=32) and 15 (SHAPES=qwen3-30b-a3b GEN=64): the placement table (tests/gpu/run-placement-bench.sh).
# Usage: SHAPES=qwen3-30b-a3b [GEN=128] gpu-bundle/diag/call10.sh
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
rm -rf /tmp/d /tmp/d9 /tmp/shimmy-placement
export PREBUILT="$R/gpu-bundle/prebuilt" ROUNDS="${ROUNDS:-3}" DEADLINE_S="${DEADLINE_S:-570}"
export FIT_EXTRA_FREE_MB="${FIT_EXTRA_FREE_MB:-300}"
export BUDGETS="${BUDGETS:-6 8 12 16 24 all cpumoe}"
bash "$R/tests/gpu/run-placement-bench.sh" "$R/gpu-bundle" "$OUT"
grep -h "loaded\|reading the model\|MoE offload: auto\|micro-batch" /tmp/shimmy-placement/logs/shimmy-*.log 2>/dev/null | sort | uniq -c | head -20 > "$OUT/shimmy-load-lines.txt"
