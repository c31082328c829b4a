#!/usr/bin/env bash
# Call 18 (session 22): all on the GPU, the new loader against llama-server, interleaved.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call18.log") 2>&1
CALL=18; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
S=()
sh q-all S $Q
ls_ l-all S $Q
say "== all on the GPU"; bench qwen18.jsonl qwen 128 5 --skip-prompt "${S[@]}"
stopall
say done
