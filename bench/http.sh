#!/usr/bin/env bash
# Benchmark of the agent's HTTP server: wrk at 64 connections against
# /metrics, /api/v1/now, /gpu-activity.svg and a one-year /api/v1/history,
# on a database holding a generated year for 8 GPUs, while the agent samples
# every second; prometheus-node-exporter's /metrics on the same machine in
# the same run is the baseline. Prints requests/s and p99 latency (medians
# of ROUNDS runs) and the ticks the sampler missed meanwhile.
# See docs/performance.md. Needs wrk and prometheus-node-exporter
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-64}
. bench/setup.sh

echo "== a generated year, 8 GPUs, every 5m, default retention"
./build-bench/gpulse-gen --scenario "$tmp/scenario.json" --database "$tmp/year.db" \
  --from -365d --to -1m --interval 5m --no-processes --prune >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
agent_port=$(port)
./build-bench/gpulse agent --database "$tmp/year.db" --listen "127.0.0.1:$agent_port" \
  >"$tmp/agent.out" 2>"$tmp/agent.err" &
bench_pids+=($!)
node_port=$(port)
# Its default caps concurrent scrapes at 40 (503 past that): lifted, so
# both servers answer every one of the 64 connections.
prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" --web.max-requests=0 >/dev/null 2>&1 &
bench_pids+=($!)
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$agent_port/api/v1/now" >/dev/null &&
    curl -sf "http://127.0.0.1:$node_port/metrics" >/dev/null && break
  sleep 0.2
done

missed() {
  curl -sf "http://127.0.0.1:$agent_port/metrics" |
    awk '$1 == "gpulse_agent_missed_ticks_total" { print $2 }'
}
ticks() {
  curl -sf "http://127.0.0.1:$agent_port/metrics" |
    awk '$1 == "gpulse_agent_ticks_total" { print $2 }'
}

# One wrk run: prints "REQ_PER_S P99_MS".
run_wrk() {
  local url=$1 header=()
  # "URL gzip": ask for gzip, as Prometheus does when it scrapes.
  case "$url" in *" gzip") url=${url% gzip}; header=(-H "Accept-Encoding: gzip") ;; esac
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "${header[@]}" "$url" | awk '
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" { v = $2; ms = v + 0
      if (v ~ /us$/) ms = ms / 1000; else if (v ~ /ms$/) ms = ms; else if (v ~ /s$/) ms = ms * 1000
      p99 = ms }
    /Non-2xx/ { bad = $NF }
    END { if (bad) print "ERROR non-2xx responses: " bad > "/dev/stderr"; printf "%s %s\n", rps, p99 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A urls=(
  [node-exporter /metrics]="http://127.0.0.1:$node_port/metrics"
  [gpulse /metrics]="http://127.0.0.1:$agent_port/metrics"
  [gpulse /metrics, gzip]="http://127.0.0.1:$agent_port/metrics gzip"
  [node-exporter /metrics, gzip]="http://127.0.0.1:$node_port/metrics gzip"
  [gpulse /api/v1/now]="http://127.0.0.1:$agent_port/api/v1/now"
  [gpulse /gpu-activity.svg]="http://127.0.0.1:$agent_port/gpu-activity.svg"
  [gpulse history 1y, 1 GPU]="http://127.0.0.1:$agent_port/api/v1/history?gpu=0&from=-365d&to=now"
  [gpulse history 1y, 8 GPUs]="http://127.0.0.1:$agent_port/api/v1/history?from=-365d&to=now"
)
order=("node-exporter /metrics" "gpulse /metrics" "node-exporter /metrics, gzip"
       "gpulse /metrics, gzip" "gpulse /api/v1/now" "gpulse /gpu-activity.svg"
       "gpulse history 1y, 1 GPU" "gpulse history 1y, 8 GPUs")

# The first request of each is answered cold (nothing cached); later ones
# within a flush interval come from the answers cache where one applies.
echo "== sizes, and the first (cold) request's time"
for name in "${order[@]}"; do
  url=${urls[$name]}
  enc=()
  case "$url" in *" gzip") url=${url% gzip}; enc=(-H "Accept-Encoding: gzip") ;; esac
  curl -sf "${enc[@]}" -o "$tmp/body" -w '%{time_total}' "$url" >"$tmp/time"
  printf '  %-28s %8d bytes %8.1f ms\n' "$name" "$(wc -c <"$tmp/body")" \
    "$(awk '{ print $1 * 1000 }' "$tmp/time")"
done

missed_before=$(missed)
ticks_before=$(ticks)
declare -A rps p99
for name in "${order[@]}"; do
  : >"$tmp/r"
  for _ in $(seq "$ROUNDS"); do
    run_wrk "${urls[$name]}" >>"$tmp/r"
  done
  rps[$name]=$(awk '{ print $1 }' "$tmp/r" | median)
  p99[$name]=$(awk '{ print $2 }' "$tmp/r" | median)
done
missed_after=$(missed)
ticks_after=$(ticks)

echo "== wrk, $CONNECTIONS connections, ${SECONDS_PER_RUN}s x $ROUNDS rounds (medians), $(nproc) CPUs"
printf '  %-28s %12s %10s\n' "endpoint" "requests/s" "p99 ms"
for name in "${order[@]}"; do
  printf '  %-28s %12.0f %10.2f\n' "$name" "${rps[$name]}" "${p99[$name]}"
done
awk -v a="${rps[gpulse /metrics]}" -v b="${rps[node-exporter /metrics]}" \
  -v c="${rps[gpulse /metrics, gzip]}" -v d="${rps[node-exporter /metrics, gzip]}" \
  'BEGIN { printf "  /metrics: %.1fx node-exporter (plain), %.1fx (gzip)\n", a / b, c / d }'
echo "== the sampler under that load"
echo "  ticks: $((${ticks_after%.*} - ${ticks_before%.*})), missed: $((${missed_after%.*} - ${missed_before%.*}))"
