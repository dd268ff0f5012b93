# Sourced by the benchmarks: a Release build in build-bench, 20 real
# processes (for /proc attribution) spread over 8 simulated GPUs, and the
# environment that points gpulse at them. Sets $tmp; cleans up on exit.

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" >/dev/null

tmp=$(mktemp -d)
bench_pids=()
bench_cleanup() {
  [ ${#bench_pids[@]} -gt 0 ] && kill "${bench_pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}
trap bench_cleanup EXIT

for i in $(seq 1 20); do
  sleep 3600 &
  bench_pids+=($!)
done
python3 - "$tmp/scenario.json" "${bench_pids[@]}" <<'PY'
import json, sys
path, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
gpus = []
for g in range(8):
    gpus.append({
        # An SXM board has no fan: FanSpeed answers NOT_SUPPORTED, as on the
        # H200 the cost profile was measured on.
        "name": "NVIDIA H100 80GB HBM3", "ecc": True, "memory_total_mib": 81559,
        "unsupported": ["fan"],
        "memory_reserved_mib": 527, "power_limit_w": 700,
        "metrics": {
            "utilization_gpu": {"pattern": "random_walk", "seed": g, "start": 70, "step": 10,
                                "min": 0, "max": 100},
            "power_w": {"pattern": "square", "low": 200, "high": 650, "period_s": 4, "duty": 0.5},
            "temperature_c": {"pattern": "random_walk", "seed": 100 + g, "start": 60, "step": 1},
        },
        "processes": [{"pid": p, "memory_mib": 4096, "sm_pct": 30}
                      for k, p in enumerate(pids) if k % 8 == g],
    })
json.dump({"gpus": gpus}, open(path, "w"))
PY
export GPULSE_NVML_LIB=$PWD/build-bench/sim/libnvidia-ml.so.1
export GPULSE_SIM_SCENARIO=$tmp/scenario.json
export GPULSE_SIM_EPOCH=$(( $(date +%s) - 60 ))
# Every NVML call costs the CPU an H200's driver spends on it (sim/README.md),
# unless the benchmark is asked for gpulse's own cost alone
# (BENCH_CALL_COST=none); a GPULSE_SIM_CALL_COST left in the environment by
# a test run does not decide it.
export GPULSE_SIM_CALL_COST=${BENCH_CALL_COST:-h200}
