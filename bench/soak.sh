#!/usr/bin/env bash
# Soak test (not in CI): the agent at a 100 ms interval for 30 minutes on 4
# simulated GPUs whose processes come and go (sleepers that this script
# starts, moving on and off the GPUs, and a new short-lived process every
# 2 s), every documented endpoint scraped once a second (the dashboard, the
# API with history over ranges from 2 minutes to a year, the SVG, /metrics,
# /health), printing the agent's VmRSS and open file descriptors every 10 s
# and, at the end, whether both stayed flat after the warm-up (the last
# fifth against the first fifth: RSS medians within 5 % or 1 MiB, the fewest
# fds equal). Exit status 0 when flat; see bench/soak.py. Figures:
# docs/performance.md.
#   SOAK_S           seconds (1800)
#   SOAK_INTERVAL    the agent's sampling interval (100ms)
#   SOAK_WARMUP_S    left out of the verdict (a tenth of SOAK_S, at least 240:
#                    SQLite's page caches and the answers cache fill first)
#   SOAK_REPORT_S    seconds between printed lines (10)
#   SOAK_GPUS        simulated GPUs (4)
#   SOAK_BIN         a gpulse binary to soak instead of build-bench's (a
#                    ThreadSanitizer or AddressSanitizer build, say)
#   BENCH_CALL_COST  h200: NVML calls cost what an H200's driver spends
#                    (sim/README.md); default none, so the soak measures
#                    gpulse's memory, not the simulated driver's CPU
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target gpulse gp_sim >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GPULSE_SIM_CALL_COST=${BENCH_CALL_COST:-none}
python3 bench/soak.py "${SOAK_BIN:-$PWD/build-bench/gpulse}" \
  "$PWD/build-bench/sim/libnvidia-ml.so.1" "$tmp"
