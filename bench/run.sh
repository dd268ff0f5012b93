#!/usr/bin/env bash
# Benchmarks of `gpulse now` and one full read, against 8 simulated GPUs
# with 20 real processes, beside a Python ctypes NVML loop doing the same
# work in the same run (the baseline). Prints figures; see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

READS=${READS:-200}
INTERVAL_MS=${INTERVAL_MS:-100}
RUNS=${RUNS:-7}

. bench/setup.sh

echo "== one full read: 8 GPUs, 20 processes (every metric, sample buffer, /proc)"
./build-bench/bench/bench_read --reads "$READS" --interval-ms "$INTERVAL_MS"
python3 bench/nvml_loop.py "$READS" "$INTERVAL_MS"

echo "== gpulse now --format json, $RUNS runs (median)"
rss=()
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%M" -o "$tmp/time" ./build-bench/gpulse now --format json >/dev/null
  rss+=("$(cat "$tmp/time")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "  peak RSS: median $(median "${rss[@]}") KiB"
python3 - "$RUNS" <<'PY'
import statistics, subprocess, sys, time
runs = int(sys.argv[1])
def wall(cmd):
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        t.append(time.perf_counter() - t0)
    return statistics.median(t) * 1000
g = wall(["./build-bench/gpulse", "now", "--format", "json"])
p = wall(["python3", "bench/nvml_loop.py", "1", "1"])
print("  wall, start to exit: median %.1f ms (python ctypes loop, one read: %.1f ms, %.0fx)"
      % (g, p, p / g))
PY
prss=()
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%M" -o "$tmp/time" python3 bench/nvml_loop.py 1 1 >/dev/null
  prss+=("$(cat "$tmp/time")")
done
echo "  baseline (python ctypes loop, one read) peak RSS: median $(median "${prss[@]}") KiB"
