#!/usr/bin/env bash
# test.sh -- the test suite, twice: the Release build that setup.sh made
# (reused, so CI compiles it once), then a build with AddressSanitizer +
# UndefinedBehaviorSanitizer and assert()s on, where warnings are errors;
# then every reader of outside files fuzzed for a bounded time (fuzz/run.sh;
# QDM_FUZZ_SECONDS per harness, default 30, two at a time on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
run() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
  # The test programs and Python run on the OpenBLAS kernels the qdm command
  # picks (src/core/blas.c: OpenBLAS 0.3.21 takes some CPUs for a Prescott).
  local core; core=$("$dir/qdm" --version | sed -n 's/^OPENBLAS_CORETYPE=//p')
  if [ -n "$core" ]; then export OPENBLAS_CORETYPE=$core; fi
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}
echo "== Release build"
run build -DCMAKE_BUILD_TYPE=Release
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (-Werror)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
  run build-asan -DCMAKE_BUILD_TYPE=Debug -DQDM_SANITIZE=ON -DQDM_WERROR=ON
echo "== libFuzzer on the file readers (ASan + UBSan, ${QDM_FUZZ_SECONDS:-30} s per harness)"
fuzz/run.sh "${QDM_FUZZ_SECONDS:-30}" "$jobs"
