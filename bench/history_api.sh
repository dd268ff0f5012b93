#!/usr/bin/env bash
# Benchmark of GET /api/v1/history not answered from the answers cache: a
# generated year for 8 GPUs (as bench/http.sh makes it), the agent sampling
# every second, and one client asking for all 8 GPUs over the last 24 h,
# 30 days and year, one request at a time, each with its own `points`
# (800..999: the same resolution, a new cache key each time). Prints the
# median and p99 latency of each range over REQUESTS requests, and the
# agent's CPU time per request (its utime + stime over the run, divided:
# what a loaded machine's scheduling does not change), ROUNDS rounds
# (medians of the rounds). BASELINE=DIR also runs DIR/build-bench/gpulse
# (another checkout built the same way, e.g. an older commit) on a copy of
# the same database in the same run, alternating with this tree's, and
# prints the ratios. Runs in the host's time zone, as an agent does unless
# configured otherwise. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200}
BASELINE=${BASELINE:-}
. bench/setup.sh

echo "== a generated year, 8 GPUs, every 5m, default retention"
./build-bench/gpulse-gen --scenario "$tmp/scenario.json" --database "$tmp/year.db" \
  --from -365d --to -1m --interval 5m --no-processes --prune >/dev/null
cp "$tmp/year.db" "$tmp/base.db"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One round against one binary: starts its agent on db, prints
# "RANGE MEDIAN_MS P99_MS CPU_MS_PER_REQUEST" per range, stops it.
measure() {
  local bin=$1 db=$2 p pid
  p=$(port)
  "$bin" agent --database "$db" --listen "127.0.0.1:$p" >"$tmp/agent.out" 2>"$tmp/agent.err" &
  pid=$!
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$p/api/v1/now" >/dev/null && break
    sleep 0.2
  done
  python3 - "$p" "$REQUESTS" "$pid" <<'PY'
import http.client, os, statistics, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def cpu_ms():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000.0 / tick
c = http.client.HTTPConnection("127.0.0.1", port)
for name, frm in (("24h", "-24h"), ("30d", "-30d"), ("1y", "-365d")):
    ms = []
    cpu0 = cpu_ms()
    for i in range(n):
        t0 = time.perf_counter()
        c.request("GET", "/api/v1/history?from=%s&to=now&points=%d" % (frm, 800 + i % 200))
        r = c.getresponse()
        body = r.read()
        ms.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            sys.exit("history %s: %d %s" % (name, r.status, body[:200]))
    cpu = (cpu_ms() - cpu0) / n
    ms.sort()
    print(name, statistics.median(ms), ms[min(len(ms) - 1, (len(ms) * 99) // 100)], cpu)
PY
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

: >"$tmp/new"
: >"$tmp/base"
for _ in $(seq "$ROUNDS"); do
  if [ -n "$BASELINE" ]; then
    measure "$BASELINE/build-bench/gpulse" "$tmp/base.db" >>"$tmp/base"
  fi
  measure ./build-bench/gpulse "$tmp/year.db" >>"$tmp/new"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "== uncached /api/v1/history, 8 GPUs, 4 metrics, $REQUESTS requests x $ROUNDS rounds" \
  "(medians of rounds), $(nproc) CPUs"
printf '  %-6s %10s %8s %8s' "range" "median ms" "p99 ms" "CPU ms"
[ -n "$BASELINE" ] && printf ' %12s %9s %8s %8s' "base median" "base p99" "base CPU" "CPU x"
echo
for r in 24h 30d 1y; do
  med=$(awk -v r=$r '$1 == r { print $2 }' "$tmp/new" | median)
  p99=$(awk -v r=$r '$1 == r { print $3 }' "$tmp/new" | median)
  cpu=$(awk -v r=$r '$1 == r { print $4 }' "$tmp/new" | median)
  printf '  %-6s %10.2f %8.2f %8.2f' "$r" "$med" "$p99" "$cpu"
  if [ -n "$BASELINE" ]; then
    bmed=$(awk -v r=$r '$1 == r { print $2 }' "$tmp/base" | median)
    bp99=$(awk -v r=$r '$1 == r { print $3 }' "$tmp/base" | median)
    bcpu=$(awk -v r=$r '$1 == r { print $4 }' "$tmp/base" | median)
    printf ' %12.2f %9.2f %8.2f %8.2f' "$bmed" "$bp99" "$bcpu" \
      "$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN { print a / b }')"
  fi
  echo
done
