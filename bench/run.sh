#!/usr/bin/env bash
# Benchmarks of `gpulse now` and one full read, against 8 simulated GPUs
# with 20 real processes, beside a Python ctypes NVML loop doing the same
# work in the same run (the baseline). Prints figures; see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

READS=${READS:-200}
INTERVAL_MS=${INTERVAL_MS:-100}
RUNS=${RUNS:-7}

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" >/dev/null

tmp=$(mktemp -d)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# 20 real processes for /proc attribution, spread over 8 GPUs.
for i in $(seq 1 20); do
  sleep 600 &
  pids+=($!)
done
python3 - "$tmp/scenario.json" "${pids[@]}" <<'PY'
import json, sys
path, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
gpus = []
for g in range(8):
    gpus.append({
        "name": "NVIDIA H100 80GB HBM3", "ecc": True, "memory_total_mib": 81559,
        "memory_reserved_mib": 527, "power_limit_w": 700,
        "metrics": {
            "utilization_gpu": {"pattern": "random_walk", "seed": g, "start": 70, "step": 10,
                                "min": 0, "max": 100},
            "power_w": {"pattern": "square", "low": 200, "high": 650, "period_s": 4, "duty": 0.5},
            "temperature_c": 60 + g,
        },
        "processes": [{"pid": p, "memory_mib": 4096, "sm_pct": 30}
                      for k, p in enumerate(pids) if k % 8 == g],
    })
json.dump({"gpus": gpus}, open(path, "w"))
PY
export GPULSE_NVML_LIB=$PWD/build-bench/sim/libnvidia-ml.so.1
export GPULSE_SIM_SCENARIO=$tmp/scenario.json
export GPULSE_SIM_EPOCH=$(( $(date +%s) - 60 ))

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
