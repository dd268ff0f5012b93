#!/usr/bin/env bash
# Installs what gpulse needs to build, run its demo and run its tests, from
# Debian 12's packages. Run as root. Does nothing when all are present.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config   # the build
  libjansson-dev                     # JSON (CLI output, configuration, simulated NVML scenarios)
  libsqlite3-dev sqlite3             # the history database (sqlite3: tests and operators)
  libmicrohttpd-dev zlib1g-dev       # the HTTP server (dashboard, API, metrics; gzip)
  libmicrohttpd12                    # its library, dlopen()ed by the agent: no link records it
  libunistring-dev                   # display width of host text in tables
  libcmocka-dev                      # unit tests
  chromium                           # browser tests of the dashboard
  prometheus                         # promtool and a real scraper for the metrics tests
  libxml2-utils                      # xmllint for the activity graph tests
  wrk prometheus-node-exporter curl  # HTTP benchmark and its baseline
  python3                            # end-to-end tests and benchmarks
  clang clang-format clang-tidy      # second compiler, format and static checks
  procps time                        # ps, /usr/bin/time for the benchmarks
  openssl                            # a self-signed certificate for the HTTPS tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js and npm for the dashboard's packages (uPlot, playwright-core):
# Debian's, unless the machine already has a node.
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: npm is missing; run this script as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# The dashboard's packages, exactly as locked.
if [ ! -f web/node_modules/.package-lock.json ] ||
   [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
