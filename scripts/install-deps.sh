#!/usr/bin/env bash
# Installs what gpulse needs to build, run its demo and run its tests, from
# Debian 12's packages. Run as root. Does nothing when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config   # the build
  libjansson-dev                     # JSON (CLI output, configuration, simulated NVML scenarios)
  libsqlite3-dev sqlite3             # the history database (sqlite3: tests and operators)
  libcmocka-dev                      # unit tests
  python3                            # end-to-end tests and benchmarks
  clang clang-format clang-tidy      # second compiler, format and static checks
  procps time                        # ps, /usr/bin/time for the benchmarks
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
