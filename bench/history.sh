#!/usr/bin/env bash
# Benchmark of the history store: a year for 8 simulated GPUs put in place
# by gpulse-gen through the agent's writer, retention applied as the agent
# would, then one-year history queries (bench_query), file size, and bytes
# on disk per GPU-sample after a simulated day at 1 s. Prints figures; see
# docs/performance.md. YEAR_INTERVAL sets the generated year's sampling
# period (default 5m: a real agent's 1 s would take hours to generate; the
# rollups and queries come out the same size).
set -euo pipefail
cd "$(dirname "$0")/.."

YEAR_INTERVAL=${YEAR_INTERVAL:-5m}
. bench/setup.sh
gen=./build-bench/gpulse-gen

echo "== a simulated day, 8 GPUs, 1 s, with processes"
$gen --scenario "$tmp/scenario.json" --database "$tmp/day.db" --from -1d --interval 1s --timezone UTC
python3 - "$tmp/day.db" <<'PY'
import os, sqlite3, sys
db = sys.argv[1]
n = sqlite3.connect(db).execute("select sum(samples) from sample_blocks").fetchone()[0]
size = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)
print("  %d GPU-samples, %.1f MiB on disk: %.0f bytes per GPU-sample (rollups included)"
      % (n, size / 1048576, size / n))
PY

echo "== a generated year, 8 GPUs, every $YEAR_INTERVAL, default retention"
$gen --scenario "$tmp/scenario.json" --database "$tmp/year.db" --from -365d \
  --interval "$YEAR_INTERVAL" --no-processes --prune --timezone UTC
./build-bench/gpulse db info --database "$tmp/year.db" | sed -n '1,16p'
./build-bench/bench/bench_query "$tmp/year.db"
