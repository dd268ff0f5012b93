#!/usr/bin/env bash
# Benchmark of bytes on disk per metric-sample: a simulated day at 1 s for
# 8 GPUs with their 20 processes, written by gpulse-gen through the agent's
# writer in the agent's 5 s batches, by this tree and by a build of BASE
# (default c2e86ea, raw samples a row each) in the same run; the exact
# values this tree stored (decoded back with `gpulse db raw`) exported as
# OpenMetrics, one series per GPU metric and per process metric, and
# backfilled into a Prometheus TSDB with promtool. A metric-sample is one
# stored value (a NULL is none). Prints bytes per metric-sample for each,
# raw-sample tables alone and with rollups (the whole file), and the
# ratios; the writer's speed at 1 s and at 100 ms, the migration of the
# baseline's file, and the time to read a day of raw samples back. HOURS sets the
# span (default 24). Sizes are deterministic: one
# run. See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-c2e86ea}
HOURS=${HOURS:-24}
. bench/setup.sh

echo "== building $BASE"
mkdir "$tmp/base"
git archive "$BASE" | tar -x -C "$tmp/base"
ln -s "$PWD/web/node_modules" "$tmp/base/web/node_modules" # the dashboard's, for the build
cmake -S "$tmp/base" -B "$tmp/base/build" -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build "$tmp/base/build" -j "$(nproc)" --target gpulse-gen bench_query >/dev/null

to=$(( $(date +%s) / 60 * 60 ))
from=$(( to - HOURS * 3600 ))
for which in base new; do
  gen=./build-bench/gpulse-gen
  [ "$which" = base ] && gen=$tmp/base/build/gpulse-gen
  echo "== $which: $HOURS h at 1 s, 8 GPUs, 20 processes, 5 s batches"
  /usr/bin/time -f "  %e s, %M KiB peak" "$gen" --scenario "$tmp/scenario.json" \
    --database "$tmp/$which.db" --from "$from" --to "$to" --interval 1s --batch 5 --timezone UTC
done
./build-bench/gpulse db raw "$tmp/raw.db" --database "$tmp/new.db" >/dev/null

# The writer at 100 ms: each 5 s flush rewrites the open minute's blocks
# (600 rows at most), where the baseline inserted rows; 20 minutes each,
# twice, interleaved.
for round in 1 2; do
  for which in base new; do
    gen=./build-bench/gpulse-gen
    [ "$which" = base ] && gen=$tmp/base/build/gpulse-gen
    printf "== %s, 100 ms, 5 s batches (round %d): " "$which" "$round"
    "$gen" --scenario "$tmp/scenario.json" --database "$tmp/fast-$which-$round.db" \
      --from "$(( to - 1200 ))" --to "$to" --interval 100ms --batch 50 --timezone UTC \
      | sed 's/^gpulse-gen: //'
  done
done

# The migration: the baseline's file opened by this gpulse (schema 3 -> 4,
# every row into blocks), and the space it gives back.
cp "$tmp/base.db" "$tmp/migrated.db"
echo "== migrating the baseline's file"
/usr/bin/time -f "  %e s, %M KiB peak" ./build-bench/gpulse db prune --database "$tmp/migrated.db" \
  | sed 's/^/  /'
echo "  $(stat -c %s "$tmp/base.db") bytes before, $(stat -c %s "$tmp/migrated.db") after"

# Reading raw samples back: a whole day of one GPU from its raw samples
# (bench_query's raw baseline query), then from rollups, each build on its
# own file; medians of 5.
for which in base new; do
  q=./build-bench/bench/bench_query
  [ "$which" = base ] && q=$tmp/base/build/bench/bench_query
  echo "== $which: history read back"
  "$q" "$tmp/$which.db" 5 | grep -E "raw samples|hour rollups|minute rollups" | sed 's/^/  /'
done

echo "== OpenMetrics export of the values stored, promtool backfill"
python3 - "$tmp" <<'PY'
import os, re, sqlite3, sys
tmp = sys.argv[1]
# /metrics names where /metrics has the value; gpulse_<column> otherwise
names = {}
for field in open("src/gpu/fields.def").read().split("GPU_FIELD(")[1:]:
    key = re.search(r'"(\w+)"', field)
    metric = re.search(r'GPU_METRIC\("(\w+)"', field)
    if key and metric:
        names[key.group(1)] = metric.group(1)
raw = sqlite3.connect(os.path.join(tmp, "raw.db"))
new = sqlite3.connect(os.path.join(tmp, "new.db"))
gpu_idx = dict(new.execute("SELECT id, idx FROM gpus"))
procs = {i: (gpu_idx[g], pid) for i, g, pid in new.execute("SELECT id, gpu, pid FROM processes")}
n = 0
with open(os.path.join(tmp, "data.om"), "w") as out:
    for table, owner, label in (("samples", "gpu", None), ("process_samples", "process", 1)):
        cols = [r[1] for r in raw.execute("PRAGMA table_info(%s)" % table)][2:]
        for col in cols:
            if label:
                name = {"memory_bytes": "gpulse_process_memory_bytes",
                        "sm_pct": "gpulse_process_sm_utilization_pct"}.get(
                            col, "gpulse_process_" + col)
            else:
                name = names.get(col, "gpulse_gpu_" + col)
            out.write("# TYPE %s gauge\n" % name)
            last = None
            for o, t, v in raw.execute("SELECT %s, t, %s FROM %s WHERE %s IS NOT NULL"
                                       " ORDER BY 1, 2" % (owner, col, table, col)):
                if o != last:
                    last = o
                    lab = ('gpu="%d",pid="%d"' % procs[o]) if label else 'gpu="%d"' % gpu_idx[o]
                out.write("%s{%s} %d %d.%03d\n" % (name, lab, v, t // 1000, t % 1000))
                n += 1
    out.write("# EOF\n")
open(os.path.join(tmp, "count"), "w").write(str(n))
PY
promtool tsdb create-blocks-from openmetrics "$tmp/data.om" "$tmp/tsdb" >/dev/null
rm -f "$tmp/data.om"

python3 - "$tmp" <<'PY'
import glob, os, sqlite3, sys
tmp = sys.argv[1]
n = int(open(os.path.join(tmp, "count")).read())

def tables(path):
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    values = 0
    if "samples" in sizes:  # a row per sample: count its values the same way
        cols = [r[1] for r in con.execute("PRAGMA table_info(samples)")][2:]
        values += con.execute("SELECT " + "+".join("count(%s)" % c for c in cols)
                              + " FROM samples").fetchone()[0]
        cols = [r[1] for r in con.execute("PRAGMA table_info(process_samples)")][2:]
        values += con.execute("SELECT " + "+".join("count(%s)" % c for c in cols)
                              + " FROM process_samples").fetchone()[0]
    con.close()
    size = os.path.getsize(path)
    return sizes, size, values

base, base_file, base_n = tables(os.path.join(tmp, "base.db"))
new, new_file, _ = tables(os.path.join(tmp, "new.db"))
prom = 0
for block in glob.glob(os.path.join(tmp, "tsdb", "*")):
    for f in glob.glob(os.path.join(block, "chunks", "*")) + [os.path.join(block, "index")]:
        prom += os.path.getsize(f)

def raw_bytes(sizes):
    return sum(v for k, v in sizes.items()
               if k in ("samples", "process_samples", "sample_blocks", "process_blocks"))

print("  metric-samples: %d (%d in the baseline's rows)" % (n, base_n))
for name, sizes in (("baseline", base), ("this tree", new)):
    print("  %-10s " % name + ", ".join("%s %.1f MiB" % (k, v / 1048576)
                                       for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])
                                       if v >= 65536))
rows = (("baseline raw samples", raw_bytes(base)), ("baseline whole file", base_file),
        ("gpulse raw samples", raw_bytes(new)), ("gpulse whole file", new_file),
        ("Prometheus TSDB", prom))
for label, b in rows:
    print("  %-22s %10.1f MiB  %5.2f bytes per metric-sample  (%.2f x Prometheus)"
          % (label, b / 1048576, b / n, b / prom))
PY
