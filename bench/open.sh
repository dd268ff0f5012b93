#!/usr/bin/env bash
# Benchmark of the page check before writing: a database of 8 simulated GPUs
# at 1 s (DAYS days written by gpulse-gen through the agent's writer, then
# its sample blocks and minute rollups copied COPIES times more under other
# GPU ids, to reach a large file quickly), opened as the read-only queries
# do (the baseline, no check) and as the agent and `db prune`/`db rebuild`
# do (PRAGMA quick_check of every page), medians of ROUNDS in the same run;
# then once more after evicting the file from the page cache. Defaults
# (20 days, 6 copies) make about 1 GiB. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DAYS=${DAYS:-20}
COPIES=${COPIES:-6}
ROUNDS=${ROUNDS:-3}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target gpulse-gen bench_open >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp/scenario.json" <<'PY'
import json, sys
gpus = [{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "power_limit_w": 700,
         "metrics": {"utilization_gpu": {"pattern": "random_walk", "seed": g, "start": 70,
                                         "step": 10, "min": 0, "max": 100},
                     "power_w": {"pattern": "square", "low": 200, "high": 650, "period_s": 4,
                                 "duty": 0.5},
                     "temperature_c": {"pattern": "random_walk", "seed": 100 + g, "start": 60,
                                       "step": 1}}} for g in range(8)]
json.dump({"gpus": gpus}, open(sys.argv[1], "w"))
PY
to=$(( $(date +%s) / 60 * 60 ))
echo "== $DAYS days at 1 s, 8 GPUs"
./build-bench/gpulse-gen --scenario "$tmp/scenario.json" --database "$tmp/big.db" \
  --from $(( to - DAYS * 86400 )) --to "$to" --interval 1s --no-processes --timezone UTC
echo "== $COPIES copies of the blocks and minute rollups"
python3 - "$tmp/big.db" "$COPIES" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
cols = ", ".join(r[1] for r in con.execute("PRAGMA table_info(rollup_minute)").fetchall()[2:])
for k in range(1, int(sys.argv[2]) + 1):
    off = k << 44
    con.execute("INSERT INTO sample_blocks SELECT key + ?, gpu + 8 * ?, t_first, t_last,"
                " samples, data FROM sample_blocks WHERE key < ?", (off, k, 1 << 44))
    con.execute("INSERT INTO rollup_minute SELECT key + ?, gpu + 8 * ?, %s FROM rollup_minute"
                " WHERE key < ?" % cols, (off, k, 1 << 44))
    con.commit()
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
PY
echo "== warm"
./build-bench/bench/bench_open "$tmp/big.db" "$ROUNDS"
echo "== cold (the file evicted from the page cache first)"
dd if="$tmp/big.db" iflag=nocache count=0 status=none
./build-bench/bench/bench_open "$tmp/big.db" 1 | grep first
