#!/usr/bin/env bash
# Call 9 (session 21): why is shimmy-host's 4096-token TTFT at micro-batch 512 slower than llama-server's?
# Several servers of one model loaded at once, the same requests interleaved (placement_bench.py).
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"; B="$R/gpu-bundle"; OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
exec > >(tee -a "$OUT/call9.log") 2>&1
T0=$(date +%s); say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }; left() { echo $(( 560 - ($(date +%s) - T0) )); }
W=/tmp/d9; rm -rf /tmp/d /tmp/d9 /tmp/shimmy-placement; BIN=$W/bin; LB=$W/lb; mkdir -p $BIN $LB $W/m $W/logs
tar -xJf $B/bin.tar.xz -C $BIN; rm -f $BIN/libggml-cpu-sapphirerapids.so
cat $B/prebuilt/prebuilt.tar.xz.* | tar -xJf - -C $LB
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
ldconfig -p | grep -q libcublas || export LD_LIBRARY_PATH="$(dirname "$(command -v nvcc)")/../lib64:${LD_LIBRARY_PATH:-}"
cp $BIN/libggml-cpu-*.so $LB/; cp $LB/libggml-cuda.so $BIN/
H=$BIN/shimmy-host; LENV=(env LD_LIBRARY_PATH="$LB:${LD_LIBRARY_PATH:-}")
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader); $(nproc) cpus; $(cat $BIN/VERSION)"
free_mib() { nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -n1; }
ready() { # pid port log
  for i in $(seq 600); do
    kill -0 $1 2>/dev/null || { say "server $1 died"; tail -n 8 $3; return 1; }
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" http://127.0.0.1:$2/health >/dev/null 2>&1 && return 0
    sleep 0.3
  done; return 1; }
PIDS=(); SERVERS=()
shimmy() { # name port model budget flags...
  local n=$1 p=$2 m=$3 b=$4; shift 4
  RUST_LOG="info,llama.cpp=debug" $H serve --model $m --bind 127.0.0.1:$p --parallel 1 --ctx-size 4608 \
     --moe-offload auto --vram-budget-mb $b "$@" --preload > $W/logs/$n.log 2>&1 &
  local pid=$!; ready $pid $p $W/logs/$n.log && { PIDS+=($pid); SERVERS+=(--server "$n=http://127.0.0.1:$p"); say "$n ready"; }
}
llama() { # name port model budget flags...
  local n=$1 p=$2 m=$3 b=$4; shift 4; local f; f=$(free_mib)
  "${LENV[@]}" $LB/llama-server -m $m --host 127.0.0.1 --port $p -c 4608 -np 1 -fa on \
     --fit on --fit-target $(( f - b + 300 )) -lv 4 "$@" > $W/logs/$n.log 2>&1 &
  local pid=$!; ready $pid $p $W/logs/$n.log && { PIDS+=($pid); SERVERS+=(--server "$n=http://127.0.0.1:$p"); say "$n ready"; }
}
stopall() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; PIDS=(); SERVERS=(); }
summ() { # name
  local l=$W/logs/$1.log
  echo "--- $1"; grep -E "overridden|buffer size|llama_context:|n_ubatch|n_batch|flash_attn|op_offload|load_mode|threads|MoE offload|planned|graph" $l \
    | sed -E 's/^.*(llama.cpp: |I |W |D )//' | sort | uniq -c | sort -rn | head -40
}
run_shape() { # shape budget_mib rounds
  local s=$1 b=$2 M=$W/m/$1.gguf
  $H make-test-model --shape $s $M --threads 14 >/dev/null 2>&1; say "$s written"
  shimmy sh-auto 18080 $M $b
  shimmy sh-nommap 18082 $M $b --no-mmap
  shimmy sh-nodev 18083 $M $b --device-sampling off
  llama ls-fit 18081 $M $b
  llama ls-nohost 18084 $M $b --no-host
  llama ls-t8 18085 $M $b -t 8 -tb 8
  python3 $R/tests/gpu/placement_bench.py "${SERVERS[@]}" --rounds $3 --gen 32 --prompt-tokens 4096 --model $s --tag $s \
      > $OUT/$s.jsonl 2> $W/logs/bench-$s.err || tail -5 $W/logs/bench-$s.err
  python3 - $OUT/$s.jsonl <<'PY'
import json, statistics, sys, collections
d = collections.defaultdict(lambda: collections.defaultdict(list))
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("kind") == "prompt": d[r["engine"]]["ttft"].append(r["ttft_ms"])
    if r.get("kind") == "decode": d[r["engine"]]["dec"].append(r["decode_tps"])
for e, v in d.items():
    t, dd = v["ttft"], v["dec"]
    print(f"{e:12s} TTFT ms median {statistics.median(t):7.0f} ({min(t):.0f}-{max(t):.0f})   decode {statistics.median(dd):6.1f} ({min(dd):.1f}-{max(dd):.1f})")
PY
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
  for n in sh-auto sh-nommap ls-fit ls-nohost; do summ $n; done > $OUT/summary-$s.txt
  stopall
  # the same placement in llama-bench: shimmy's overrides as -ot, and --n-cpu-moe
  local ot; ot=$(grep -oE "tensor blk\.[0-9]+\.ffn_[a-z]+_exps\.weight" $W/logs/sh-auto.log | sort -u | awk '{print $2}' | sed 's/\./\\./g' | paste -sd'|')
  say "shimmy's host tensors: $ot"
  [ -n "$ot" ] && "${LENV[@]}" $LB/llama-bench -m $M -ngl 99 -fa 1 -p 4096 -n 0 -ub 512 -b 2048 -r 2 -ot "($ot)=CPU" -o md 2>&1 | tail -4
  rm -f $M
}
run_shape qwen3-30b-a3b 16384 3
[ "$(left)" -gt 240 ] && run_shape mixtral-8x7b 24576 2
tar -czf $OUT/logs9.tar.gz -C $W logs
say done
