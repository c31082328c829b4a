# Shared part of the H200 call scripts in docs/bench-results/issue11-h200-2026-12-01/: unpacks
# gpu-bundle/ (shimmy-host and the prebuilt llama.cpp tools), and defines the helpers that start
# servers of one model side by side and bench them interleaved (tests/gpu/placement_bench.py).
# Source it after setting R (the repository), B (gpu-bundle), OUT and CALL (the call's number);
# it works in /tmp/d$CALL.
# The call scripts ran from gpu-bundle/diag/ (their R is two folders up): copy one there to rerun it.
T0=$(date +%s); say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }; left() { echo $(( 540 - ($(date +%s) - T0) )); }
W=/tmp/d$CALL; rm -rf /tmp/d[0-9]* /tmp/d /tmp/shimmy-placement; BIN=$W/bin; LB=$W/lb; mkdir -p $BIN $LB $W/m $W/logs
tar -xJf $B/bin.tar.xz -C $BIN; rm -f $BIN/libggml-cpu-sapphirerapids.so
cat $B/prebuilt/prebuilt.tar.xz.* | tar -xJf - -C $LB
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
ldconfig -p | grep -q libcublas || export LD_LIBRARY_PATH="$(dirname "$(command -v nvcc)")/../lib64:${LD_LIBRARY_PATH:-}"
cp $BIN/libggml-cpu-*.so $LB/; cp $LB/libggml-cuda.so $BIN/
H=$BIN/shimmy-host; LENV=(env LD_LIBRARY_PATH="$LB:${LD_LIBRARY_PATH:-}")
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader); $(nproc) cpus; $(cat $BIN/VERSION); numa: $(ls -d /sys/devices/system/node/node* | wc -l) nodes"
free_mib() { nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -n1; }
ready() { for i in $(seq 900); do kill -0 $1 2>/dev/null || { say "server $1 died"; tail -n 5 $3; return 1; }
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" http://127.0.0.1:$2/health >/dev/null 2>&1 && return 0; sleep 0.3; done; return 1; }
PIDS=(); PORT=18100
add() { # name list-var cmd...
  local n=$1 lv=$2; shift 2; PORT=$((PORT+1))
  "$@" > $W/logs/$n.log 2>&1 & local pid=$!
  if ready $pid $PORT $W/logs/$n.log; then PIDS+=($pid); eval "$lv+=(--server \"$n=http://127.0.0.1:$PORT\")"; say "$n ready"; fi
}
sh() { local n=$1 lv=$2 m=$3; shift 3; add $n $lv $H serve --model $m --bind 127.0.0.1:$((PORT+1)) --parallel 1 --ctx-size 4608 "$@" --preload; }
ls_() { local n=$1 lv=$2 m=$3; shift 3; add $n $lv "${LENV[@]}" $LB/llama-server -m $m --host 127.0.0.1 --port $((PORT+1)) -c 4608 -np 1 -fa on "$@"; }
fit() { echo --fit on --fit-target $(( $(free_mib) - $1 + 300 )); }
stopall() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; PIDS=(); }
table() { python3 - "$1" <<'PY'
import json, statistics, sys, collections
d = collections.defaultdict(lambda: collections.defaultdict(list))
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("kind") == "prompt": d[r["engine"]]["ttft"].append(r["ttft_ms"])
    if r.get("kind") == "decode": d[r["engine"]]["dec"].append(r["decode_tps"])
f = lambda v, p: f"{statistics.median(v):{p}} ({min(v):{p}}-{max(v):{p}})" if v else "-"
for e, v in d.items(): print(f"{e:16s} decode {f(v['dec'], '.1f'):24s} TTFT ms {f(v['ttft'], '.0f')}")
PY
}
bench() { # jsonl model gen rounds extra servers...
  local j=$1 m=$2 g=$3 r=$4 x=$5; shift 5
  python3 $R/tests/gpu/placement_bench.py "$@" --rounds $r --gen $g --prompt-tokens 4096 --model $m $x >> $OUT/$j 2>> $W/logs/bench.err || tail -3 $W/logs/bench.err
  table $OUT/$j
}
