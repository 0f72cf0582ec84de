#!/usr/bin/env bash
# soak.sh -- qdm under load (tests/soak.c): short training runs, resumes and
# samplings back to back with random valid options and random interruptions
# (SIGKILL, SIGINT), through the qdm binary of the AddressSanitizer +
# UndefinedBehaviorSanitizer build (the one scripts/test.sh makes), with
# leak detection on. Fails on a leak, a crash, UB, a non-zero exit, or an
# interrupted run that does not end bit for bit like its uninterrupted twin.
# usage: scripts/soak.sh [OPERATIONS (200)] [SECONDS (300)] [SEED (time)]
# A few minutes: not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-200}
secs=${2:-300}
seed=${3:-$(date +%s)}
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQDM_SANITIZE=ON -DQDM_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)" --target qdm_cli soak 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export QDM_TEST_DIR=${QDM_TEST_DIR:-$PWD/build-asan/testdata}
echo "soak: up to $ops operations or $secs s, seed $seed (build-asan/soak $ops $secs $seed repeats it)"
build-asan/soak "$ops" "$secs" "$seed"
