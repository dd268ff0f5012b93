#!/usr/bin/env bash
# Installs the dependencies, builds and installs gpulse (to /usr/local), and
# runs the agent with its dashboard on four simulated GPUs with a few
# users' processes on them, after seeding 90 days of generated history so
# the charts and the activity graph have something to show. Harmless
# stand-in processes (sleep, renamed) run as the system users nobody and
# daemon, so the attribution shows real users.
#   scripts/demo.sh                the agent and dashboard until Ctrl-C
#                                  (DEMO_LISTEN=ADDR:PORT, default 127.0.0.1:8080)
#   scripts/demo.sh --watch        the terminal view instead
#   scripts/demo.sh --once         print one reading and exit
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
cmake --install build >/dev/null

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' build/CMakeCache.txt)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# start_demo_process VAR USER "COMMAND LINE": starts a sleeping process as
# USER whose argv reads as COMMAND LINE (sleep's own argument, "infinity",
# ends it) and exports its PID as VAR, which demo.json's "pid_env" names.
start_demo_process() {
  setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups -- \
    bash -c "exec -a \"$3\" sleep infinity" </dev/null >/dev/null 2>&1 &
  pids+=($!)
  export "$1=$!"
}
start_demo_process GPULSE_DEMO_PID_TRAIN nobody "python3 train.py --model resnet152 --max-steps"
start_demo_process GPULSE_DEMO_PID_NOTEBOOK daemon "python3 -m ipykernel_launcher --timeout"
start_demo_process GPULSE_DEMO_PID_SERVE nobody "ollama serve --keep-alive"
start_demo_process GPULSE_DEMO_PID_RENDER root "ffmpeg -hwaccel cuda -i talk.mkv -c:v h264_nvenc -t"
sleep 0.2 # let them exec into sleep

export GPULSE_NVML_LIB="$prefix/lib/gpulse/libnvidia-ml.so.1"
export GPULSE_SIM_SCENARIO="$prefix/share/gpulse/scenarios/demo.json"
# The simulated machine has been up for two minutes when the demo starts.
GPULSE_SIM_EPOCH=$(( $(date +%s) - 120 ))
export GPULSE_SIM_EPOCH

if [ "${1:-}" = "--once" ]; then
  "$prefix/bin/gpulse" now
elif [ "${1:-}" = "--watch" ]; then
  echo "gpulse $("$prefix/bin/gpulse" --version | cut -d' ' -f2) on 4 simulated GPUs; Ctrl-C to stop"
  sleep 1
  "$prefix/bin/gpulse" now --watch 1
else
  demo_db=/var/lib/gpulse/demo.db
  mkdir -p /var/lib/gpulse
  if [ ! -f "$demo_db" ]; then
    echo "gpulse demo: generating 90 days of history for the simulated GPUs (a few seconds)"
    ./build/gpulse-gen --scenario "$GPULSE_SIM_SCENARIO" --database "$demo_db" \
      --from -90d --to -2m --interval 5m --no-processes --prune >/dev/null
  fi
  echo "gpulse $("$prefix/bin/gpulse" --version | cut -d' ' -f2) on 4 simulated GPUs; Ctrl-C to stop"
  # The agent prints the address to open; it serves until Ctrl-C.
  "$prefix/bin/gpulse" agent --database "$demo_db" --listen "${DEMO_LISTEN:-127.0.0.1:8080}"
fi
