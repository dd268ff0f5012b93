#!/usr/bin/env bash
# Benchmark of `gpulse agent`: CPU per GPU-sample (sampling, /proc, SQLite),
# peak RSS, anonymous RSS, and bytes on disk per GPU-sample, with 8
# simulated GPUs and 20 real processes, at 1 s and at 100 ms. Prints
# figures; see docs/performance.md.
#   SECONDS_PER_RUN  length of each run (30)
#   WARMUP_S         seconds left out of the steady CPU figure (5)
#   RUNS             runs per binary and interval, medians printed (1)
#   INTERVALS        the sampling intervals ("1s 100ms")
#   BASELINE         another gpulse binary (a build of an older commit) run
#                    the same way, interleaved, against the same processes
#                    and simulated library; ratios are printed against it
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_S=${SECONDS_PER_RUN:-30}
RUNS=${RUNS:-1}
INTERVALS=${INTERVALS:-1s 100ms}
BASELINE=${BASELINE:-}
. bench/setup.sh

WARMUP_S=${WARMUP_S:-5}
GPUS=8 # bench/setup.sh's scenario

cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}'; }
ticks() { # URL: the agent's own count of reads, from /metrics
  python3 -c "import sys, urllib.request; print(next(l.split()[1] for l in urllib.request.urlopen(sys.argv[1] + '/metrics').read().decode().splitlines() if l.startswith('gpulse_agent_ticks_total ')))" "$1"
}

# One run: prints "steady_cpu_us_per_sample cpu_us_per_sample_with_startup
# peak_rss_kib peak_anon_kib bytes_per_sample samples". The steady figure
# counts CPU (schedstat, ns, every thread) and reads (the agent's tick
# counter) from WARMUP_S after start to the end, so start-up (loading
# NVML, creating the database) is left out.
run() { # BINARY INTERVAL
  local db=$tmp/agent-$$-$RANDOM.db out=$tmp/agent-$$-$RANDOM.out
  "$1" agent --database "$db" --interval "$2" --listen 127.0.0.1:0 >"$out" &
  local pid=$!
  bench_pids+=("$pid") # stopped on exit if a step below fails
  local url="" i
  for i in $(seq 1 100); do
    url=$(sed -n 's/.*dashboard at \(http[^ ]*[^/]\)\/*$/\1/p' "$out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  # Anonymous memory has no high-water mark in /proc: sample it.
  local anon=0 a cpu0=0 ticks0=0 end=$((SECONDS + RUN_S)) warm=$((SECONDS + WARMUP_S))
  while [ $SECONDS -lt $end ]; do
    sleep 0.5
    a=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
    [ "$a" -gt "$anon" ] && anon=$a
    if [ "$ticks0" = 0 ] && [ $SECONDS -ge $warm ]; then
      cpu0=$(cpu_ns "$pid")
      ticks0=$(ticks "$url")
    fi
  done
  local cpu1 ticks1 rss
  cpu1=$(cpu_ns "$pid")
  ticks1=$(ticks "$url")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid"
  unset 'bench_pids[-1]'
  local samples bytes
  samples=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select sum(samples) from sample_blocks').fetchone()[0])" "$db")
  bytes=$(stat -c %s "$db")
  rm -f "$db" "$db.lock" "$db-wal" "$db-shm" "$out"
  python3 -c "
import sys
c0, c1, t0, t1, gpus, n, rss, anon, size = map(int, sys.argv[1:])
n = max(n, 1)
print('%.1f %.1f %d %d %.0f %d' % ((c1 - c0) / 1e3 / max((t1 - t0) * gpus, 1), c1 / 1e3 / n, rss, anon, size / n, n))" \
    "$cpu0" "$cpu1" "$ticks0" "$ticks1" "$GPUS" "$samples" "$rss" "$anon" "$bytes"
}

report() { # LABEL FILE-OF-RUNS [BASELINE-FILE]
  python3 - "$@" <<'PY'
import statistics, sys
def med(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    return [statistics.median(c) for c in zip(*rows)], len(rows)
(cpu, cpu_all, rss, anon, size, n), runs = med(sys.argv[2])
print("  %-9s CPU %.1f us per GPU-sample after warm-up (%.1f with start-up), peak RSS %.1f MiB, "
      "anonymous RSS (peak) %.1f MiB, %.0f bytes on disk per GPU-sample (%d GPU-samples; "
      "median of %d)" % (sys.argv[1], cpu, cpu_all, rss / 1024, anon / 1024, size, n, runs))
if len(sys.argv) > 3:
    (bcpu, _, brss, banon, _, _), _ = med(sys.argv[3])
    print("  %-9s ratios to baseline: CPU %.2f, peak RSS %.2f, anonymous RSS %.2f"
          % ("", cpu / bcpu, rss / brss, anon / banon))
PY
}

echo "== gpulse agent, 8 simulated GPUs, 20 processes, ${RUN_S} s per run, $RUNS run(s)"
for interval in $INTERVALS; do
  : >"$tmp/this-$interval"
  : >"$tmp/base-$interval"
  for _ in $(seq 1 "$RUNS"); do
    if [ -n "$BASELINE" ]; then
      run "$BASELINE" "$interval" >>"$tmp/base-$interval"
    fi
    run ./build-bench/gpulse "$interval" >>"$tmp/this-$interval"
  done
  echo "interval $interval"
  if [ -n "$BASELINE" ]; then
    report baseline "$tmp/base-$interval"
    report this "$tmp/this-$interval" "$tmp/base-$interval"
  else
    report this "$tmp/this-$interval"
  fi
done
