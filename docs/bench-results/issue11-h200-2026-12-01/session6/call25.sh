#!/usr/bin/env bash
# Call 25 (session 24): is the unified KV cache what puts shimmy-host ~10 % behind llama-server at
# 8 concurrent streams (calls 23-24)? llama-server with `-np 8` runs one KV buffer per sequence
# unless `--kv-unified`; shimmy-host always unifies. Builds llama-server on the device (no prebuilt
# tools in this bundle), then 8 non-streamed greedy requests of 128 tokens at once, servers
# interleaved: shimmy-host, llama-server default (per sequence), llama-server --kv-unified; the
# same with 8 different prompts; shimmy-host's step phases at 8 streams.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call25.log") 2>&1
T0=$(date +%s); say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
W=/tmp/d25; rm -rf $W; BIN=$W/bin; LB=$W/build/bin; mkdir -p $BIN $W/m $W/logs $W/src
tar -xJf $B/bin.tar.xz -C $BIN; rm -f $BIN/libggml-cpu-sapphirerapids.so
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
ldconfig -p | grep -q libcublas || export LD_LIBRARY_PATH="$(dirname "$(command -v nvcc)")/../lib64:${LD_LIBRARY_PATH:-}"
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader); $(nproc) cpus; $(cat $BIN/VERSION)"
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')"; [ "$ARCH" = 90 ] && ARCH=90a
( set -e; tar -xJf $B/llama-cpp-src.tar.xz -C $W/src
  cmake -S $W/src/llama.cpp -B $W/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DGGML_NATIVE=OFF -DGGML_CUDA=ON -DGGML_CUDA_NCCL=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  cmake --build $W/build --target ggml-cuda llama-server -j "$(nproc)" ) > $W/logs/build.log 2>&1 &
BP=$!
Q=$W/m/qwen.gguf; $BIN/shimmy-host make-test-model --shape qwen3-30b-a3b $Q --threads 4 >/dev/null 2>&1; say "qwen written"
wait $BP; rc=$?; say "llama.cpp build rc $rc"; [ $rc = 0 ] || { tail -30 $W/logs/build.log; exit 1; }
cp $BIN/libggml-cpu-*.so $LB/; cp $LB/libggml-cuda.so $BIN/
LENV=(env LD_LIBRARY_PATH="$LB:${LD_LIBRARY_PATH:-}")
ready() { for i in $(seq 900); do kill -0 $1 2>/dev/null || { say "server $1 died"; tail -n 5 $3; return 1; }
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" http://127.0.0.1:$2/health >/dev/null 2>&1 && return 0; sleep 0.3; done; return 1; }
A=(); PIDS=(); PORT=18100
add() { local n=$1; shift; PORT=$((PORT+1)); "$@" > $W/logs/$n.log 2>&1 & local pid=$!
  if ready $pid $PORT $W/logs/$n.log; then PIDS+=($pid); A+=("$n=http://127.0.0.1:$PORT"); say "$n ready"; fi; }
export RUST_LOG=warn,shimmy_backend_llama::scheduler::worker=debug
add q-p8 $BIN/shimmy-host serve --model $Q --bind 127.0.0.1:$((PORT+1)) --parallel 8 --ctx-size 36864 --preload
unset RUST_LOG
add l-p8 "${LENV[@]}" $LB/llama-server -m $Q --host 127.0.0.1 --port $((PORT+1)) -c 36864 -np 8 -fa on
add l-p8-kvu "${LENV[@]}" $LB/llama-server -m $Q --host 127.0.0.1 --port $((PORT+1)) -c 36864 -np 8 -fa on --kv-unified
grep -h "kv_unified" $W/logs/l-p8*.log | sed 's/^/  /'
multi() { python3 - "$@" <<'PY'
import json, sys, time, threading, http.client, urllib.parse
mode = sys.argv[1]
def one(url, i, out):
    u = urllib.parse.urlparse(url); c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    p = "Write a story about a robot" if mode == "same" else f"Story {i}: write about robot number {i * 7919}"
    c.request("POST", "/v1/completions", json.dumps({"model": "qwen", "prompt": p, "max_tokens": 128, "temperature": 0, "repeat_penalty": 1.0, "ignore_eos": True}), {"Content-Type": "application/json"})
    out.append(json.loads(c.getresponse().read())["usage"]["completion_tokens"])
for name_url in sys.argv[2:]:
    name, url = name_url.split("=", 1); rates = []; toks = []
    for _ in range(3):
        out = []; ts = [threading.Thread(target=one, args=(url, i, out)) for i in range(8)]
        t0 = time.perf_counter(); [t.start() for t in ts]; [t.join() for t in ts]
        rates.append(sum(out) / (time.perf_counter() - t0)); toks.append(sum(out))
    rates.sort(); print(f"{mode:4s} {name:9s} 8 streams: {rates[1]:.1f} tok/s total ({rates[0]:.1f}-{rates[2]:.1f}), tokens {toks}", flush=True)
PY
}
for r in 1 2 3; do say "== round $r"; multi same "${A[@]}"; multi diff "${A[@]}"; done
say "== shimmy-host step phases at 8 streams (last 6 requests' lines)"
grep -h "steps" $W/logs/q-p8.log | sed "s/.*slot/slot/" | tail -12
for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done
tar -czf $OUT/logs25.tar.gz -C $W logs
say done
