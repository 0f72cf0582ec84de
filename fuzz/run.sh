#!/usr/bin/env bash
# run.sh -- builds the fuzz tree (clang, libFuzzer, ASan + UBSan) and runs
# every harness fuzz/fuzz_NAME.c for a bounded time, starting from its seed
# corpus fuzz/corpus/NAME/ (the regression inputs of fixed bugs included) and
# its dictionary fuzz/dict/NAME.dict if there is one. Fails on any crash,
# leak, UB, timeout or memory-limit breach, printing the reproducer; prints
# the executions each harness reached.
# usage: fuzz/run.sh [SECONDS per harness (60)] [PARALLEL harnesses (nproc)]
# One harness again, by hand:
#   build-fuzz/fuzz/fuzz_NAME -max_total_time=300 build-fuzz/runs/NAME fuzz/corpus/NAME
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
par=${2:-$(nproc)}
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "fuzz: clang-14 not found (scripts/setup.sh --no-data installs it)" >&2; exit 1; }
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQDM_FUZZ=ON -DQDM_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true

# Memory: no single allocation above 1 GiB, no process above 2 GiB (a valid
# small file needs a few MiB; the classifier's activation cap is 512 MiB).
# -timeout: one input taking 10 s is a hang.
flags=(-max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1)
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
sym=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[ -z "$sym" ] || export ASAN_SYMBOLIZER_PATH=$sym
export OMP_NUM_THREADS=1
work=build-fuzz/runs
mkdir -p "$work"

one() { # name: fuzz it; the log keeps libFuzzer's output
  local name=$1 bin=build-fuzz/fuzz/fuzz_$1 dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=(-dict="fuzz/dict/$name.dict")
  rm -rf "$work/$name" "$work/$name-artifacts"
  mkdir -p "$work/$name" "$work/$name-artifacts" "fuzz/corpus/$name"
  # new inputs go to the scratch directory, the committed corpus stays as is
  "$bin" "${flags[@]}" "${dict[@]}" -artifact_prefix="$work/$name-artifacts/" \
    "$work/$name" "fuzz/corpus/$name" >"$work/$name.log" 2>&1
}

names=()
for b in build-fuzz/fuzz/fuzz_*; do names+=("$(basename "$b" | sed 's/^fuzz_//')"); done
echo "fuzz: ${#names[@]} harnesses, ${secs} s each, $par at a time"
t0=$(date +%s)
pids=() status=()
for i in "${!names[@]}"; do
  one "${names[$i]}" &
  pids[$i]=$!
  # keep at most $par running
  while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do sleep 0.5; done
done
fail=0
for i in "${!names[@]}"; do
  if wait "${pids[$i]}"; then status[$i]=ok; else status[$i]=FAIL; fail=1; fi
done
printf '%-14s %12s %9s %7s  %s\n' harness executions exec/s corpus result
for i in "${!names[@]}"; do
  n=${names[$i]} log=$work/${names[$i]}.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(ls "$work/$n" | wc -l)
  printf '%-14s %12s %9s %7s  %s\n' "$n" "${runs:-?}" "${rate:-?}" "$size" "${status[$i]}"
done
echo "fuzz: $(( $(date +%s) - t0 )) s"
if [ "$fail" = 1 ]; then
  for i in "${!names[@]}"; do
    [ "${status[$i]}" = FAIL ] || continue
    n=${names[$i]}
    echo "== fuzz_$n failed; log tail ($work/$n.log):" >&2
    grep -av '^#\|^INFO\|^\s*$' "$work/$n.log" | tail -n 40 >&2
    for a in "$work/$n-artifacts"/*; do
      [ -e "$a" ] && echo "reproducer: $a (run: build-fuzz/fuzz/fuzz_$n $a)" >&2
    done
  done
  exit 1
fi
