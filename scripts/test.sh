#!/usr/bin/env bash
# Installs the dependencies, builds gpulse with AddressSanitizer and
# UndefinedBehaviorSanitizer and warnings as errors, checks the source, and
# runs every test (unit and end-to-end) through ctest. The agent is also
# built with ThreadSanitizer (gpulse-tsan), and its end-to-end agent and
# HTTP tests run against that binary as well (ctest's tsan.*).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc)
build=build-test
cmake -S . -B "$build" -DGP_SANITIZE=address,undefined -DGP_TSAN_AGENT=ON -DGP_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"

# The same sources must also build cleanly with clang.
cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DGP_WERROR=ON -DGP_BUILD_TESTS=OFF >/dev/null
cmake --build build-clang -j "$jobs" >/dev/null

./scripts/lint.sh

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir "$build" --output-on-failure
