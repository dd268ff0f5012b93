#!/usr/bin/env bash
# What `gpulse agent` asks the driver, and what that costs, with 8 simulated
# GPUs at 1 s with HTTP on: (a) each GPU running one process, (b) 20
# processes sharing the 8 GPUs. For this tree and a baseline build
# (BASE, default c2e86ea: before the per-function accounting and cadence),
# built in the same run, it prints CPU per GPU per second and the NVML calls
# per tick by function, counted by a pass-through library (bench/nvml_count.py)
# so both builds are counted alike. Under the simulator's H200 cost profile
# (bench/setup.sh turns it on) the CPU figures include what the driver would
# charge; with BENCH_CALL_COST=none they are gpulse's own. CPU is
# counted after WARMUP_S (default 5) of start-up, for SECONDS_PER_RUN
# (default 30); REPEAT is how many runs per case (default 3, interleaved
# base/new; the CPU figure is their median).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_S=${SECONDS_PER_RUN:-30}
WARMUP_S=${WARMUP_S:-5}
REPEAT=${REPEAT:-3}
BASE=${BASE:-c2e86ea}
. bench/setup.sh

# The baseline, from git, built beside this tree's.
mkdir -p "$tmp/base"
git archive "$BASE" | tar -x -C "$tmp/base"
ln -s "$PWD/web/node_modules" "$tmp/base/web/node_modules"
cmake -S "$tmp/base" -B "$tmp/base/build" -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build "$tmp/base/build" -j "$(nproc)" --target gpulse >/dev/null

# The counting library, in front of the simulator.
SIM=$GPULSE_NVML_LIB
python3 bench/nvml_count.py "$SIM" "$tmp/count.c"
mkdir -p "$tmp/count"
cc -O2 -shared -fPIC -o "$tmp/count/libnvidia-ml.so.1" "$tmp/count.c" -ldl
export GPULSE_COUNT_TARGET=$SIM
export GPULSE_NVML_LIB=$tmp/count/libnvidia-ml.so.1

# One process per GPU: the first 8 of setup.sh's 20.
python3 - "$tmp/scenario.json" "$tmp/one-each.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for g in s["gpus"]:
    g["processes"] = g["processes"][:1]
json.dump(s, open(sys.argv[2], "w"))
PY

run() { # LABEL BINARY SCENARIO: one run; appends its CPU ns to $tmp/LABEL.cpu
  local db=$tmp/$1.db counts=$tmp/$1.counts
  rm -f "$db" "$db-wal" "$db-shm"
  GPULSE_SIM_SCENARIO=$3 GPULSE_COUNT_OUT=$counts \
    "$2" agent --database "$db" --interval 1s --listen 127.0.0.1:0 >/dev/null &
  local pid=$!
  # Steady state: CPU from the end of the warm-up to the end of the run, so
  # start-up (nvmlInit, the first counter and clock reads) is not spread
  # over the ticks.
  sleep "$WARMUP_S"
  local cpu0
  cpu0=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}')
  sleep "$RUN_S"
  cat /proc/"$pid"/task/*/schedstat | awk -v c0="$cpu0" '{s += $1} END {printf "%d\n", s - c0}' >>"$tmp/$1.cpu"
  kill -TERM "$pid"
  wait "$pid"
}

report() { # LABEL: the median CPU, and the calls per tick of the last run
  python3 - "$1" "$RUN_S" "$tmp/$1.db" "$tmp/$1.counts" "$tmp/$1.cpu" <<'PY'
import sqlite3, statistics, sys
label, run_s, db, counts, cpu = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
runs = [int(l) for l in open(cpu)]
con = sqlite3.connect(db)
try:  # schema 4 keeps raw samples in per-minute blocks; the baseline in rows
    rows = con.execute("select sum(samples) from sample_blocks").fetchone()[0]
except sqlite3.OperationalError:
    rows = con.execute("select count(*) from samples").fetchone()[0]
ticks = rows / 8 + 1  # and the first read, which is not stored
calls = dict((l.split()[0], int(l.split()[1])) for l in open(counts))
print("%-16s CPU %.3f ms per GPU per second (median of %d: %s); %d ticks; NVML calls per tick: %.1f"
      % (label, statistics.median(runs) / 1e6 / run_s / 8, len(runs),
         " ".join("%.3f" % (r / 1e6 / run_s / 8) for r in runs), ticks,
         sum(calls.values()) / ticks))
for name, n in sorted(calls.items(), key=lambda kv: -kv[1]):
    print("    %-46s %8.2f" % (name, n / ticks))
PY
}

echo "== gpulse agent at 1 s, HTTP on, 8 simulated GPUs, ${RUN_S} s per run, ${REPEAT} runs" \
     "(call cost: ${GPULSE_SIM_CALL_COST:-simulator default})"
for i in $(seq "$REPEAT"); do
  run base-1-each "$tmp/base/build/gpulse" "$tmp/one-each.json"
  run new-1-each ./build-bench/gpulse "$tmp/one-each.json"
  run base-20-shared "$tmp/base/build/gpulse" "$tmp/scenario.json"
  run new-20-shared ./build-bench/gpulse "$tmp/scenario.json"
done
for label in base-1-each new-1-each base-20-shared new-20-shared; do
  report "$label"
done
