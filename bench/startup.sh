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
