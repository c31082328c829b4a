#!/usr/bin/env bash
# Call 21 (session 23): decode_loop (tests/gpu/decode_loop.cpp) on llama.cpp libraries of the two
# builds: the sdist's (LB, as llama-bench) and shimmy-host's own (BIN, llama-cpp-sys-2), mixed.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call21.log") 2>&1
CALL=21; source "$R/tests/gpu/side-by-side-lib.sh"
Q=$W/m/qwen.gguf; $H make-test-model --shape qwen3-30b-a3b $Q --threads 14 >/dev/null 2>&1; say "qwen written"
g++ -O2 -std=c++17 $R/tests/gpu/decode_loop.cpp -I $B/inc -L $LB -l:libllama.so.0 -lggml -lggml-base -o $W/decode_loop && say "decode_loop built"
ls -la $BIN $LB | grep -E "libllama|libggml" 
mk() { # dir llama-from ggml-from
  mkdir -p $W/$1; for f in $3/libggml.so* $3/libggml-base.so*; do ln -sf $f $W/$1/; done
  for f in $2/libllama.so*; do ln -sf $f $W/$1/; done
  ln -sf $LB/libggml-cuda.so $W/$1/; for f in $BIN/libggml-cpu-*.so; do ln -sf $f $W/$1/; done; }
mk ll-gl $LB $LB; mk lb-gb $BIN $BIN; mk ll-gb $LB $BIN; mk lb-gl $BIN $LB
for r in 1 2; do for c in ll-gl lb-gb ll-gb lb-gl; do
  say "== $c (libllama from ${c:1:1}, ggml from ${c:4:1}; l = llama.cpp sdist, b = shimmy-host build)"
  (cd $W/$c && LD_LIBRARY_PATH=$W/$c:${LD_LIBRARY_PATH:-} timeout 120 $W/decode_loop $Q 128 2 16 2>&1 | grep -E "^(bench|server|nosamp) |fail|cannot")
done; done
say done
