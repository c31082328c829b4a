#!/usr/bin/env bash
# MoE offload check on a real NVIDIA GPU (see docs/gpu.md).
#
# Runs on the GPU machine, from the repository root, with a bundle made on the build machine:
#   BUNDLE/bin/      shimmy-host, lib*.so.0, libggml-cpu-*.so   (from target/release)
#   BUNDLE/ggml.tar.gz  the ggml source of the locked llama-cpp-sys-2 (top folder: ggml/)
# Steps: build libggml-cuda.so with .ci/build-cuda-backend (arch from nvidia-smi), gpu-info,
# make random-weight test models (a >= 3 GB qwen3moe and a dense one), then for each model and
# offload setting run `probe` (placement) and `generate -v` (decode tok/s) while sampling
# nvidia-smi's memory.used. OUT gets run.log, summary.json, summary.md and details.tar.gz (every
# probe/generate log, the CUDA build log, gpu-info); the device tool returns at most 8 files.
#
# Usage: tests/gpu/run-moe-check.sh [BUNDLE] [OUT]   (defaults: gpu-bundle, $OUT or ./gpu-out)
# Env: MOE_LAYERS (20), MAX_TOKENS (128), WORK (/tmp/shimmy-gpu), SKIP_DENSE=1,
#      DEADLINE_S (500: later steps are skipped, and said so, once this many seconds have passed),
#      STEPS ("runs serve bench": which measuring steps run; the build, gpu-info, models and the
#      CPU self-test always do), BENCH_RUNS (3), BENCH_PROMPT (512), BENCH_GEN (128),
#      BENCH_BUDGET_MB (2000), BENCH_BUDGET_MOE ("auto,8,9,10,11,12"), BENCH_PARTS
#      ("moe dense budget"). The bench step writes bench-<part>.json (+ .txt, the table) to OUT.
#
# On the build machine, `tests/gpu/run-moe-check.sh --make-bundle [DIR]` (default gpu-bundle,
# which is meant to be git-ignored, e.g. through .git/info/exclude) fills the bundle from
# ${CARGO_TARGET_DIR:-target}/release and the cargo registry.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${1:-}" = --make-bundle ]; then
    set -e
    DIR="${2:-$ROOT/gpu-bundle}"
    REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
    [ -x "$REL/shimmy-host" ] || { echo "no $REL/shimmy-host; cargo build --release -p shimmy-host first" >&2; exit 1; }
    VERSION="$(awk '/^name = "llama-cpp-sys-2"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
    SRC="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"llama-cpp-sys-2-$VERSION"/llama.cpp/ggml | head -n1)"
    rm -rf "$DIR"; mkdir -p "$DIR/bin"
    cp "$REL/shimmy-host" "$REL"/lib*.so.0 "$REL"/libggml-cpu-*.so "$DIR/bin/"
    strip --strip-unneeded "$DIR/bin"/* 2>/dev/null || true
    tar -czf "$DIR/ggml.tar.gz" -C "$(dirname "$SRC")" ggml
    echo "llama-cpp-sys-2 $VERSION, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" > "$DIR/VERSION"
    du -sh "$DIR" "$DIR"/*
    exit 0
fi
BUNDLE="$(cd "${1:-$ROOT/gpu-bundle}" && pwd)"
OUT="${2:-${OUT:-$ROOT/gpu-out}}"
WORK="${WORK:-/tmp/shimmy-gpu}"
MOE_LAYERS="${MOE_LAYERS:-20}"
MAX_TOKENS="${MAX_TOKENS:-128}"
DEADLINE_S="${DEADLINE_S:-500}"
PROMPT="Write a short story about a robot who learns to paint."
DET="$WORK/details"
rm -rf "$DET"; mkdir -p "$OUT" "$WORK" "$DET"
T0=$(date +%s)
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1

say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
late() { [ $(( $(date +%s) - T0 )) -ge "$DEADLINE_S" ]; }

BIN="$WORK/bin"
rm -rf "$BIN" && cp -a "$BUNDLE/bin" "$BIN"
HOST="$BIN/shimmy-host"

say "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader)"
say "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
nvidia-smi > "$DET/nvidia-smi.txt" 2>&1

# --- 1. build libggml-cuda.so -----------------------------------------------------------------
CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')"
ARCH="$CAP"; [ "$CAP" = 90 ] && ARCH=90a
if [ -f "$WORK/libggml-cuda.so.$ARCH" ]; then
    say "reusing $WORK/libggml-cuda.so.$ARCH"
    cp "$WORK/libggml-cuda.so.$ARCH" "$BIN/libggml-cuda.so"
else
    rm -rf "$WORK/src" && mkdir -p "$WORK/src" && tar -xzf "$BUNDLE/ggml.tar.gz" -C "$WORK/src"
    say "building libggml-cuda.so for arch $ARCH"
    B0=$(date +%s)
    if "$ROOT/.ci/build-cuda-backend" --arch "$ARCH" --ggml-src "$WORK/src/ggml" \
        --build-dir "$WORK/cuda-build" --out "$BIN" --jobs "$(nproc)" > "$DET/cuda-build.log" 2>&1; then
        CUDA_BUILD_S=$(( $(date +%s) - B0 ))
        cp "$BIN/libggml-cuda.so" "$WORK/libggml-cuda.so.$ARCH"
        say "built in ${CUDA_BUILD_S}s: $(du -h "$BIN/libggml-cuda.so" | cut -f1)"
    else
        say "CUDA backend build FAILED; tail of the log:"; tail -n 40 "$DET/cuda-build.log"
    fi
fi
tail -n 5 "$DET/cuda-build.log" 2>/dev/null
# libggml-cuda.so needs libcudart/libcublas at run time; add the toolkit's lib dir if the
# dynamic linker does not know them.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
    NVCC_BIN="$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")"
    export LD_LIBRARY_PATH="$NVCC_BIN/../lib64:$NVCC_BIN/../lib:${LD_LIBRARY_PATH:-}"
    say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
fi
if [ -f "$BIN/libggml-cuda.so" ]; then
    for lib in $(LD_LIBRARY_PATH="$BIN:${LD_LIBRARY_PATH:-}" ldd "$BIN/libggml-cuda.so" | awk '/not found/ { print $1 }'); do
        hit="$(find /usr/local /usr/lib /opt -name "$lib" 2>/dev/null | head -n1)"
        [ -n "$hit" ] && export LD_LIBRARY_PATH="$(dirname "$hit"):${LD_LIBRARY_PATH:-}" && say "found $lib in $(dirname "$hit")"
    done
    LD_LIBRARY_PATH="$BIN:${LD_LIBRARY_PATH:-}" ldd "$BIN/libggml-cuda.so" | grep -E 'cuda|cublas|not found'
fi
echo "CUDA_BUILD_S=${CUDA_BUILD_S:-}" > "$WORK/meta.env"

# --- 2. gpu-info ------------------------------------------------------------------------------
"$HOST" gpu-info > "$DET/gpu-info.txt" 2>&1
say "gpu-info (rc $?):"; cat "$DET/gpu-info.txt"

# --- 3. models --------------------------------------------------------------------------------
# The CLI's make-test-model writes small models only (n_embd 128; --layers changes the depth,
# not the width, so even 512 layers stay far below 1 GB). The inflater below keeps a CLI model's
# metadata and tokenizer (vocabulary, chat template, suppressed-token rows of output.weight) and
# writes the tensors at the testkit's qwen3_moe_large sizes with the same fill rules
# (q8_0 on a grid of +-1/sqrt(ne0); token_embd +-1; norms 1).
cat > "$WORK/inflate.py" <<'PY'
import struct, sys, numpy as np
src, dst, arch = sys.argv[1], sys.argv[2], sys.argv[3]
P = dict(a.split("=") for a in sys.argv[4:]); P = {k: int(v) for k, v in P.items()}
f = open(src, "rb"); buf = f.read(); f.close()
pos = 0
def rd(fmt):
    global pos; v = struct.unpack_from("<" + fmt, buf, pos); pos += struct.calcsize("<" + fmt); return v[0]
def rstr():
    global pos; n = rd("Q"); s = buf[pos:pos + n]; pos += n; return s.decode()
SIZES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
def skipval(t):
    global pos
    if t == 8: rstr()
    elif t == 9:
        et = rd("I"); n = rd("Q")
        for _ in range(n): skipval(et)
    else: pos += struct.calcsize("<" + SIZES[t])
assert buf[:4] == b"GGUF"; pos = 4
ver = rd("I"); n_t = rd("Q"); n_kv = rd("Q")
kvs = []  # (key, raw bytes of key+type+value)
for _ in range(n_kv):
    start = pos; key = rstr(); t = rd("I")
    if key == "general.architecture": prefix = rstr()
    else: skipval(t)
    kvs.append((key, buf[start:pos]))
infos = {}
for _ in range(n_t):
    name = rstr(); nd = rd("I"); dims = [rd("Q") for _ in range(nd)]; ty = rd("I"); off = rd("Q")
    infos[name] = (dims, ty, off)
align = 32
data0 = (pos + align - 1) // align * align
n_vocab = infos["token_embd.weight"][0][1]
# rows of output.weight that the testkit zeroed (control/unknown tokens)
dims, ty, off = infos["output.weight"]
assert ty == 8, "make the source model with --weights q8_0"
ne0 = dims[0]; rb = ne0 // 32 * 34
rows = np.frombuffer(buf, np.uint8, n_vocab * rb, data0 + off).reshape(n_vocab, ne0 // 32, 34)
zero_rows = np.flatnonzero(~rows[:, :, 2:].any(axis=(1, 2)))
del rows, buf
L, E, H, HKV, FF = P["layers"], P["embd"], P["heads"], P["heads_kv"], P["ff"]
NE, NU, FFE = P.get("experts", 0), P.get("experts_used", 0), P.get("ff_exp", 0)
hd = E // H; moe = arch == "qwen3moe"
plan = [("token_embd.weight", [E, n_vocab], 8, "unit")]
for i in range(L):
    b = lambda s: f"blk.{i}.{s}.weight"
    plan += [(b("attn_norm"), [E], 0, "ones"), (b("attn_q"), [E, hd * H], 8, "rand"),
             (b("attn_k"), [E, hd * HKV], 8, "rand"), (b("attn_v"), [E, hd * HKV], 8, "rand"),
             (b("attn_output"), [hd * H, E], 8, "rand")]
    if moe:
        plan += [(b("attn_q_norm"), [hd], 0, "ones"), (b("attn_k_norm"), [hd], 0, "ones")]
    plan += [(b("ffn_norm"), [E], 0, "ones")]
    if moe:
        plan += [(b("ffn_gate_inp"), [E, NE], 0, "rand"), (b("ffn_gate_exps"), [E, FFE, NE], 8, "rand"),
                 (b("ffn_up_exps"), [E, FFE, NE], 8, "rand"), (b("ffn_down_exps"), [FFE, E, NE], 8, "rand")]
    else:
        plan += [(b("ffn_gate"), [E, FF], 8, "rand"), (b("ffn_up"), [E, FF], 8, "rand"), (b("ffn_down"), [FF, E], 8, "rand")]
plan += [("output_norm.weight", [E], 0, "ones"), ("output.weight", [E, n_vocab], 8, "rand_suppress")]
def nbytes(dims, ty):
    n = int(np.prod(dims)); return n * 4 if ty == 0 else n // 32 * 34
a = prefix  # "qwen3moe" or "llama" (the CLI's dense layout)
over = {f"{a}.block_count": L, f"{a}.embedding_length": E, f"{a}.feed_forward_length": FF,
        f"{a}.attention.head_count": H, f"{a}.attention.head_count_kv": HKV, f"{a}.rope.dimension_count": hd}
if moe:
    over.update({f"{a}.expert_count": NE, f"{a}.expert_used_count": NU, f"{a}.expert_feed_forward_length": FFE,
                 f"{a}.attention.key_length": hd, f"{a}.attention.value_length": hd})
def kvu32(k, v):
    kb = k.encode(); return struct.pack("<Q", len(kb)) + kb + struct.pack("<II", 4, v)
out = open(dst, "wb")
out.write(b"GGUF" + struct.pack("<IQQ", ver, len(plan), len(kvs)))
for key, raw in kvs:
    out.write(kvu32(key, over[key]) if key in over else raw)
off = 0
for name, dims, ty, _ in plan:
    nb = name.encode()
    out.write(struct.pack("<Q", len(nb)) + nb + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", ty, off))
    off += (nbytes(dims, ty) + align - 1) // align * align
def pad():
    p = out.tell() % align
    if p: out.write(b"\0" * (align - p))
pad()
rng = np.random.default_rng(P.get("seed", 4))
CH = 1 << 24  # values per chunk
for name, dims, ty, fill in plan:
    n = int(np.prod(dims)); ne0 = dims[0]
    if fill == "ones":
        out.write(np.ones(n, "<f4").tobytes()); pad(); continue
    amp = 1.0 if fill == "unit" else 1.0 / np.sqrt(ne0)
    if ty == 0:
        q = rng.integers(-127, 128, n, dtype=np.int8).astype("<f4") * np.float32(amp / 127)
        out.write(q.tobytes()); pad(); continue
    scale = np.frombuffer(np.float16(amp / 127).tobytes(), np.uint8)
    rows_per = max(1, CH // ne0); nrows = n // ne0; r = 0
    while r < nrows:
        k = min(rows_per, nrows - r)
        blk = np.empty((k * ne0 // 32, 34), np.uint8)
        blk[:, :2] = scale
        blk[:, 2:] = rng.integers(-127, 128, (k * ne0 // 32, 32), dtype=np.int8).view(np.uint8)
        if fill == "rand_suppress":
            z = zero_rows[(zero_rows >= r) & (zero_rows < r + k)] - r
            blk.reshape(k, ne0 // 32, 34)[z, :, 2:] = 0
        out.write(blk.tobytes()); r += k
    pad()
out.close()
print(f"{dst}: {len(plan)} tensors, vocab {n_vocab}, {len(zero_rows)} suppressed rows")
PY

MODELS="$WORK/models"; mkdir -p "$MODELS"
MOE="$MODELS/moe-large.gguf"; DENSE="$MODELS/dense-large.gguf"
make_model() { # name arch inflate-args...
    local path="$1" arch="$2"; shift 2
    [ -f "$path" ] && return 0
    "$HOST" make-test-model "$WORK/small-$arch.gguf" --arch "$arch" --weights q8_0 >/dev/null \
        && python3 "$WORK/inflate.py" "$WORK/small-$arch.gguf" "$path.tmp" "$arch" "$@" \
        && mv "$path.tmp" "$path"
}
say "making models"
make_model "$MOE" qwen3moe layers="$MOE_LAYERS" embd=2048 ff=6144 heads=16 heads_kv=4 experts=32 experts_used=4 ff_exp=768 seed=4 \
    || say "MoE model FAILED"
[ "${SKIP_DENSE:-0}" = 1 ] || make_model "$DENSE" dense layers=16 embd=2048 ff=6144 heads=16 heads_kv=4 seed=1 \
    || say "dense model FAILED"
ls -l "$MODELS" | tee "$DET/models.txt"
say "models done"

# --- 4. CPU variant self-test ----------------------------------------------------------------
# Seen on one H100 VM (2026-11-26): ggml picked libggml-cpu-sapphirerapids.so (AMX), and the first
# CPU computation died with SIGILL (exit 132), perhaps because the guest kernel does not grant the AMX tile
# state. Find the variant that crashes (a few tokens from the small model on the CPU), drop it
# from this run's backends dir, and say so.
for attempt in 1 2 3 4 5 6; do
    "$HOST" -v generate --model "$WORK/small-qwen3moe.gguf" --gpu-layers 0 --prompt hi --max-tokens 4 \
        --temperature 0 > /dev/null 2> "$WORK/selftest.err"
    rc=$?
    [ "$rc" = 132 ] || { say "CPU self-test rc $rc"; break; }
    bad="$(sed -n 's/.*loaded CPU backend from \(\S*\).*/\1/p' "$WORK/selftest.err" | head -n1)"
    if [ -z "$bad" ] && grep -q 'AMX model buffer' "$WORK/selftest.err"; then bad="$BIN/libggml-cpu-sapphirerapids.so"; fi
    if [ -z "$bad" ] || [ ! -f "$bad" ]; then
        for v in sapphirerapids zen4 cooperlake icelake cascadelake cannonlake skylakex alderlake haswell; do
            [ -f "$BIN/libggml-cpu-$v.so" ] && { bad="$BIN/libggml-cpu-$v.so"; break; }
        done
    fi
    say "CPU self-test: SIGILL (rc 132) with $(basename "$bad"); removing it from $BIN for this run"
    echo "$(basename "$bad")" >> "$DET/cpu-variants-removed.txt"
    tail -n 5 "$WORK/selftest.err" >> "$DET/cpu-variants-removed.txt"
    rm -f "$bad"
done

STEPS="${STEPS:-runs serve bench}"
has_step() { case " $STEPS " in *" $1 "*) return 0;; *) return 1;; esac; }

# --- 5. runs ----------------------------------------------------------------------------------
RUNS="$DET/runs.txt"; : > "$RUNS"
mem_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n1 | tr -d ' '; }
run_one() { # tag model flags...
    local tag="$1" model="$2"; shift 2
    if late; then say "SKIPPED $tag (deadline)"; echo "$tag|skipped" >> "$RUNS"; return; fi
    [ -f "$model" ] || { echo "$tag|nomodel" >> "$RUNS"; return; }
    local idle; idle=$(mem_used)
    "$HOST" probe "$model" "$@" > "$DET/probe-$tag.txt" 2>&1
    local prc=$?
    # sample memory.used every 0.1 s while generating
    ( while :; do mem_used; sleep 0.1; done ) > "$WORK/mem-$tag.txt" 2>/dev/null &
    local sampler=$!
    local g0; g0=$(date +%s.%N)
    "$HOST" -v generate --model "$model" "$@" --prompt "$PROMPT" --max-tokens "$MAX_TOKENS" \
        --temperature 0 --seed 1 > "$DET/gen-$tag.out" 2> "$WORK/gen-$tag.err"
    local grc=$? g1; g1=$(date +%s.%N)
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    local after; after=$(mem_used)
    local peak; peak=$(sort -n "$WORK/mem-$tag.txt" | tail -n1)
    # keep llama.cpp's buffer lines, the overrides' count and the summary; the full log is long
    { grep -E 'buffer size|offloaded|MoE offload|prompt: .*tok/s|error|Error' "$WORK/gen-$tag.err";
      echo "overridden tensors: $(grep -c 'buffer type overridden' "$WORK/gen-$tag.err")"; } > "$DET/gen-$tag.err.txt"
    [ "$grc" = 0 ] || tail -n 30 "$WORK/gen-$tag.err" > "$DET/gen-$tag.err.tail.txt"
    local tps; tps=$(sed -n 's/.*generated: \([0-9]*\) tokens, \([0-9.]*\) tok\/s.*/\1 \2/p' "$WORK/gen-$tag.err" | tail -n1)
    echo "$tag|$prc|$grc|$idle|$peak|$after|$tps|$(awk "BEGIN { printf \"%.1f\", $g1 - $g0 }")" >> "$RUNS"
    say "$tag: probe rc $prc, generate rc $grc, memory.used idle ${idle} MiB peak ${peak} MiB; tokens,tok/s: $tps"
    grep -h 'placement' "$DET/probe-$tag.txt"
    grep -h 'CUDA0 model buffer\|CPU_Mapped model buffer\|CPU model buffer' "$WORK/gen-$tag.err" | head -n 3
}
if has_step runs; then
    run_one moe-gpu "$MOE"
    run_one moe-cpu-moe "$MOE" --cpu-moe
    run_one moe-n-cpu-moe-4 "$MOE" --n-cpu-moe 4
    run_one moe-cpu-only "$MOE" --gpu-layers 0
    run_one dense-gpu "$DENSE"
    run_one dense-cpu-moe "$DENSE" --cpu-moe
fi

# --- 5b. the HTTP server on the GPU (continuous batching), when the binary has bench-serve ------
serve_bench() { # tag model flags...
    local tag="$1" model="$2"; shift 2
    if late; then say "SKIPPED serve-$tag (deadline)"; return; fi
    [ -f "$model" ] || return
    "$HOST" bench-serve --model "$model" --clients "${SERVE_CLIENTS:-1,8}" --gen-tokens "$MAX_TOKENS" \
        --parallel 8 --ctx-size 1024 "$@" > "$OUT/serve-$tag.txt" 2> "$WORK/serve-$tag.err"
    say "serve-$tag: rc $?"; cat "$OUT/serve-$tag.txt"
}
if has_step serve && "$HOST" bench-serve --help > /dev/null 2>&1; then
    serve_bench moe-gpu "$MOE"
    serve_bench moe-cpu-moe "$MOE" --cpu-moe
    serve_bench dense-gpu "$DENSE"
fi

# --- 5c. bench: placements A/B against a plain llama-cpp-2 decode loop ---------------------------
# moe: none/all/4/auto on the MoE model; dense: none/all/auto on the dense one; budget: auto
# against fixed --n-cpu-moe N under one --vram-budget-mb (N over the budget fail or are marked).
bench_one() { # part model flags...
    local part="$1" model="$2"; shift 2
    if late; then say "SKIPPED bench-$part (deadline)"; return; fi
    [ -f "$model" ] || { say "bench-$part: no model"; return; }
    local b0; b0=$(date +%s)
    ( while :; do mem_used; sleep 0.2; done ) > "$WORK/mem-bench-$part.txt" 2>/dev/null &
    local sampler=$!
    "$HOST" bench --model "$model" --runs "${BENCH_RUNS:-3}" --prompt-tokens "${BENCH_PROMPT:-512}" \
        --gen-tokens "${BENCH_GEN:-128}" --json "$@" > "$OUT/bench-$part.json" 2> "$WORK/bench-$part.err"
    local rc=$?
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    grep -v '^bench: --moe' "$WORK/bench-$part.err" | grep -v '^\s*$' > "$OUT/bench-$part.txt"
    echo "nvidia-smi memory.used peak during the bench: $(sort -n "$WORK/mem-bench-$part.txt" | tail -n1) MiB" >> "$OUT/bench-$part.txt"
    say "bench-$part: rc $rc in $(( $(date +%s) - b0 ))s"; cat "$OUT/bench-$part.txt"
    [ "$rc" = 0 ] || tail -n 20 "$WORK/bench-$part.err"
}
if has_step bench && "$HOST" bench --help > /dev/null 2>&1; then
    for part in ${BENCH_PARTS:-moe dense budget}; do
        case "$part" in
            moe) bench_one moe "$MOE" --moe none,all,4,auto ;;
            dense) bench_one dense "$DENSE" --moe none,all,auto ;;
            budget) bench_one budget "$MOE" --moe "${BENCH_BUDGET_MOE:-auto,8,9,10,11,12}" \
                --vram-budget-mb "${BENCH_BUDGET_MB:-2000}" ;;
        esac
    done
fi

# --- 6. summary -------------------------------------------------------------------------------
MODEL_SIZES="$(stat -c '%n %s' "$MOE" "$DENSE" 2>/dev/null | sed "s|$MODELS/||")" \
GPU="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)" \
CUDA_BUILD_S="${CUDA_BUILD_S:-}" ARCH="$ARCH" TOTAL_S=$(( $(date +%s) - T0 )) \
python3 - "$RUNS" "$DET" "$OUT" <<'PY'
import json, os, re, sys
runs, det, out = sys.argv[1], sys.argv[2], sys.argv[3]
def buffers(tag):
    p = os.path.join(det, f"gen-{tag}.err.txt"); d = {}
    if os.path.exists(p):
        for line in open(p):
            m = re.search(r"(\S+) (model|KV|compute|output) buffer size = +([0-9.]+) MiB", line)
            if m:
                k = m.group(1) if m.group(2) == "model" else f"{m.group(1)} {m.group(2)}"
                d[k] = round(d.get(k, 0) + float(m.group(3)), 2)
            m = re.search(r"overridden tensors: (\d+)", line)
            if m: d["overridden_tensors"] = int(m.group(1))
    return d
def placement(tag):
    p = os.path.join(det, f"probe-{tag}.txt")
    if os.path.exists(p):
        for line in open(p):
            if line.startswith("placement:"): return line.split(":", 1)[1].strip()
    return None
rows = []
for line in open(runs):
    f = line.strip().split("|")
    r = {"run": f[0]}
    if len(f) >= 7:
        toks = f[6].split()
        r.update(probe_rc=int(f[1]), generate_rc=int(f[2]),
                 vram_idle_mib=int(f[3]) if f[3] else None, vram_peak_mib=int(f[4]) if f[4] else None,
                 vram_after_mib=int(f[5]) if f[5] else None,
                 tokens=int(toks[0]) if toks else None, decode_tok_s=float(toks[1]) if len(toks) > 1 else None,
                 wall_s=float(f[7]) if len(f) > 7 and f[7] else None,
                 placement=placement(f[0]), llama_buffers_mib=buffers(f[0]))
        if r["vram_peak_mib"] is not None and r["vram_idle_mib"] is not None:
            r["vram_used_by_run_mib"] = r["vram_peak_mib"] - r["vram_idle_mib"]
    else:
        r["status"] = f[1] if len(f) > 1 else "?"
    rows.append(r)
by = {r["run"]: r for r in rows}
removed = os.path.join(det, "cpu-variants-removed.txt")
s = {"gpu": os.environ["GPU"],
     "cpu_variants_removed": [l.strip() for l in open(removed) if l.startswith("libggml-cpu")] if os.path.exists(removed) else [], "cuda_arch": os.environ["ARCH"], "cuda_backend_build_s": os.environ["CUDA_BUILD_S"] or None,
     "models": dict(l.split() for l in os.environ["MODEL_SIZES"].splitlines() if l.strip()),
     "total_s": int(os.environ["TOTAL_S"]), "runs": rows}
g, c = by.get("moe-gpu", {}), by.get("moe-cpu-moe", {})
if g.get("vram_used_by_run_mib") and c.get("vram_used_by_run_mib") is not None:
    s["cpu_moe_vram_cut_pct"] = round(100 * (1 - c["vram_used_by_run_mib"] / g["vram_used_by_run_mib"]), 1)
gb, cb = g.get("llama_buffers_mib", {}).get("CUDA0"), c.get("llama_buffers_mib", {}).get("CUDA0")
if gb and cb is not None:
    s["cpu_moe_cuda0_weights_cut_pct"] = round(100 * (1 - cb / gb), 1)
json.dump(s, open(os.path.join(out, "summary.json"), "w"), indent=2)
md = ["| run | decode tok/s | VRAM used by the run (MiB, nvidia-smi peak - idle) | CUDA0 weights / KV / compute (MiB) | host weights (MiB) | overridden tensors |",
      "|---|---|---|---|---|---|"]
for r in rows:
    b = r.get("llama_buffers_mib", {})
    host = sum(v for k, v in b.items() if k.startswith("CPU") and " " not in k)
    md.append(f"| {r['run']} | {r.get('decode_tok_s', r.get('status'))} | {r.get('vram_used_by_run_mib')} | "
              f"{b.get('CUDA0', 0)} / {b.get('CUDA0 KV', 0)} / {b.get('CUDA0 compute', 0)} | {round(host, 1)} | {b.get('overridden_tensors')} |")
open(os.path.join(out, "summary.md"), "w").write("\n".join(md) + "\n")
print(json.dumps({k: v for k, v in s.items() if k != "runs"}, indent=1)); print("\n".join(md))
PY
cp "$OUT/summary.json" "$OUT/summary.md" "$DET/" 2>/dev/null
tar -czf "$OUT/details.tar.gz" -C "$WORK" details
say "done"
