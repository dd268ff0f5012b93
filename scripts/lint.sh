#!/usr/bin/env bash
# Source checks: banned C functions (style.md) and clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src sim tests bench -name '*.[ch]')
banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|gets|atoi|atol|atof|sscanf)[[:space:]]*\('
if grep -nE "$banned" $files; then
  echo "lint: banned functions above (see shared/style.md); use snprintf, strparse, strtoull" >&2
  exit 1
fi
clang-format --dry-run -Werror $files
echo "lint: ok"
