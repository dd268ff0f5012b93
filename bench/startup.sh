#!/usr/bin/env bash
# What a one-shot command costs to start: `gpulse --version` and `gpulse
# now --format json` (8 simulated GPUs, 20 processes), wall, CPU and peak
# RSS. The baseline, in the same run, is this build with libmicrohttpd
# preloaded, which is how every gpulse process started when the binary
# linked it (GnuTLS and its libraries loaded and initialised); set
# GPULSE_BASELINE to an older gpulse binary to compare with it as well.
# Figures in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-101}

. bench/setup.sh

variants=("libmicrohttpd preloaded (as linked before)=$PWD/build-bench/gpulse,LD_PRELOAD=libmicrohttpd.so.12")
if [ -n "${GPULSE_BASELINE:-}" ]; then
  variants+=("GPULSE_BASELINE ($GPULSE_BASELINE)=$GPULSE_BASELINE")
fi
variants+=("this build=$PWD/build-bench/gpulse")

python3 bench/startup.py "$RUNS" "${variants[@]}" -- --version -- now --format json

# Instructions executed in user space (valgrind), which the load of the
# machine does not change: the dynamic loader, constructors and gpulse.
if command -v valgrind >/dev/null 2>&1; then
  for args in "--version" "now --format json"; do
    echo "== gpulse $args: instructions executed in user space (valgrind --tool=callgrind)"
    for v in "${variants[@]}"; do
      label=${v%%=*}
      spec=${v#*=}
      bin=${spec%%,*}
      envs=()
      [ "$bin" != "$spec" ] && IFS=, read -ra envs <<<"${spec#*,}"
      # shellcheck disable=SC2086 # $args is split on purpose
      n=$(env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$bin" $args 2>&1 >/dev/null | sed -n 's/.*Collected : //p')
      printf '  %-44s %10s\n' "$label" "$n"
    done
  done
fi
