#!/usr/bin/env bash
# Source checks: banned C functions (style.md), clang-format, clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src sim tests bench -name '*.[ch]')
banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|gets|atoi|atol|atof|sscanf)[[:space:]]*\('
if grep -nE "$banned" $files; then
  echo "lint: banned functions above (see shared/style.md); use snprintf, strparse, strtoull" >&2
  exit 1
fi
clang-format --dry-run -Werror $files

# clang-tidy (checks in .clang-tidy) needs a compilation database.
db=build-clang
if [ ! -f "$db/compile_commands.json" ]; then
  cmake -S . -B "$db" -DCMAKE_C_COMPILER=clang -DGP_BUILD_TESTS=OFF >/dev/null
fi
clang-tidy --quiet -p "$db" src/*/*.c src/main.c sim/*.c 2>/dev/null
echo "lint: ok"
