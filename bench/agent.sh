#!/usr/bin/env bash
# Benchmark of `gpulse agent`: CPU per GPU-sample (sampling, /proc, SQLite),
# peak RSS, and bytes on disk per GPU-sample, with 8 simulated GPUs and 20
# real processes, at 1 s and at 100 ms. Prints figures; see
# docs/performance.md. SECONDS_PER_RUN sets the length of each run.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_S=${SECONDS_PER_RUN:-30}
. bench/setup.sh

run() { # INTERVAL
  local db=$tmp/agent-$1.db
  ./build-bench/gpulse agent --database "$db" --interval "$1" &
  local pid=$!
  sleep "$RUN_S"
  # CPU time in ns of every thread (schedstat, not 10 ms clock ticks) and
  # peak RSS, read before stopping it
  local cpu_ns rss
  cpu_ns=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}')
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid"
  local samples bytes
  samples=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select sum(samples) from sample_blocks').fetchone()[0])" "$db")
  bytes=$(stat -c %s "$db")
  python3 - "$1" "$cpu_ns" "$samples" "$rss" "$bytes" <<'PY'
import sys
interval, ns, samples, rss, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu_us = ns / 1e3
print("interval %-6s %6d GPU-samples: CPU %.1f us per GPU-sample, peak RSS %d KiB, %.0f bytes on disk per GPU-sample"
      % (interval, samples, cpu_us / max(samples, 1), rss, size / max(samples, 1)))
PY
}

echo "== gpulse agent, 8 simulated GPUs, 20 processes, ${RUN_S} s per run"
run 1s
run 100ms
