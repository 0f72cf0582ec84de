#!/usr/bin/env bash
# test.sh -- the test suite, twice: the Release build, then a build with
# AddressSanitizer + UndefinedBehaviorSanitizer. Warnings are errors here.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
run() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DQDM_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}
echo "== Release build"
run build-test -DCMAKE_BUILD_TYPE=Release
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run build-asan -DCMAKE_BUILD_TYPE=Debug -DQDM_SANITIZE=ON
