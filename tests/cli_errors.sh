#!/usr/bin/env bash
# cli_errors.sh QDM -- messages for inputs that used to mislead: each bad
# input gives one line on stderr naming the file or flag and what was
# expected (never an internal function name), and a non-zero exit status.
# The data is a tiny IDX set written here (8 images of 16x16, labels 0,1).
set -u
qdm=${1:?usage: cli_errors.sh path/to/qdm}
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
# expect NAME STATUS PATTERN...: the last command's status and its stderr
# ($tmp/e): exactly one line, matching every PATTERN (grep -E), and no
# qdm_* function name
expect() {
  local name=$1 want=$2 got=$st why=""
  shift 2
  [ "$got" = "$want" ] || why="exit status $got, expected $want"
  [ "$(wc -l <"$tmp/e")" = 1 ] || why="$why; $(wc -l <"$tmp/e") lines on stderr"
  for p in "$@"; do grep -Eq -- "$p" "$tmp/e" || why="$why; no '$p'"; done
  if grep -Eq 'qdm_[a-z_]+' "$tmp/e"; then why="$why; names an internal function"; fi
  if [ -z "$why" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: $name: ${why#; } -- stderr: $(head -c 300 "$tmp/e")" >&2
  fi
}

mkdir -p "$tmp/d" "$tmp/adir"
{
  printf '\x00\x00\x08\x03\x00\x00\x00\x08\x00\x00\x00\x10\x00\x00\x00\x10'
  for i in 0 1 2 3 4 5 6 7; do head -c 256 /dev/zero | tr '\0' "\\$((100 + 20 * i))"; done
} >"$tmp/d/train-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x08\x00\x01\x00\x01\x00\x01\x00\x01' >"$tmp/d/train-labels-idx1-ubyte"
small=(--epochs 1 --batch 4 --hidden 4 --T 2 --qubits 2 --ano 2 --quiet)

# --data naming a file: not "No such file or directory"
"$qdm" train --data "$tmp/d/train-images-idx3-ubyte" --out "$tmp/r1" "${small[@]}" 2>"$tmp/e"; st=$?
expect "--data FILE" 1 "$tmp/d/train-images-idx3-ubyte" "not a directory" "train-images-idx3-ubyte\[\.gz\]"
[ ! -e "$tmp/r1" ] || { fail=$((fail + 1)); echo "FAIL: --data FILE left a run directory behind" >&2; }
"$qdm" train --data "$tmp/none" --out "$tmp/r1" "${small[@]}" 2>"$tmp/e"; st=$?
expect "--data missing" 1 "$tmp/none" "No such file or directory" "expected a directory"

# a directory as --checkpoint or --classifier: not "9223372036854775807 bytes"
"$qdm" sample --checkpoint "$tmp/adir" --out "$tmp/x.png" 2>"$tmp/e"; st=$?
expect "--checkpoint DIR" 1 "$tmp/adir is a directory, expected a safetensors file"
[ ! -e "$tmp/x.png" ] || { fail=$((fail + 1)); echo "FAIL: --checkpoint DIR wrote a PNG" >&2; }
"$qdm" classifier test --classifier "$tmp/adir" --data "$tmp/d" 2>"$tmp/e"; st=$?
expect "--classifier DIR" 1 "$tmp/adir is a directory, expected a safetensors file"
# text from a file quoted in a message stays on one line: a classifier
# file whose format is "x<newline>y" (a 40-byte header, spaces to 8-aligned)
h='{"__metadata__":{"format":"x\ny"}}      '
{ printf '\x28\x00\x00\x00\x00\x00\x00\x00'; printf '%s' "$h"; } >"$tmp/nl.safetensors"
"$qdm" classifier test --classifier "$tmp/nl.safetensors" --data "$tmp/d" 2>"$tmp/e"; st=$?
expect "a newline in a file's metadata" 1 "format 'x\?y'"

# an option twice: not "unknown argument"
"$qdm" train --epochs 1 --epochs 2 2>"$tmp/e"; st=$?
expect "--epochs twice" 2 "--epochs given twice" "'--epochs' and '--epochs'"
"$qdm" train --lr=0.1 --lr 0.2 2>"$tmp/e"; st=$?
expect "--lr twice, one inline" 2 "--lr given twice"
"$qdm" train --quiet --quiet 2>"$tmp/e"; st=$?
expect "--quiet twice" 2 "--quiet given twice"
"$qdm" circuit --qubits 2 --qubits 3 2>"$tmp/e"; st=$?
expect "circuit --qubits twice" 2 "--qubits given twice"

# --layers 0: no variational angles. Training works (the ANO and classical
# parts still learn); the natural gradient of the angles has nothing to act on.
"$qdm" train --data "$tmp/d" --out "$tmp/r0" "${small[@]}" --layers 0 2>"$tmp/e"; st=$?
if [ $st = 0 ] && grep -q '"circuit": 0' "$tmp/r0/summary.json"; then pass=$((pass + 1)); else
  fail=$((fail + 1)); echo "FAIL: --layers 0 trains (status $st: $(head -c 300 "$tmp/e"))" >&2
fi
"$qdm" train --data "$tmp/d" --out "$tmp/r0q" "${small[@]}" --layers 0 --optimizer qngd 2>"$tmp/e"; st=$?
expect "--layers 0 --optimizer qngd" 1 "layers 0" "no angles"

# the bottleneck's encoding and ANO layout: bad values, and fixed on --resume
"$qdm" train --ano-layout sliding:x 2>"$tmp/e"; st=$?
expect "--ano-layout sliding:x" 2 "--ano-layout: 'sliding:x', expected global, sliding:K or subsets:K"
"$qdm" train --qubits 2 --ano-layout subsets:3 2>"$tmp/e"; st=$?
expect "--ano-layout k > qubits" 2 "K in 1..--qubits \\(2\\)"
"$qdm" train --encoding bits 2>"$tmp/e"; st=$?
expect "--encoding bits" 2 "'bits': expected one of amplitude, angle, phase, dense, basis"
"$qdm" train --data "$tmp/d" --out "$tmp/renc" "${small[@]}" --encoding dense --ano-layout sliding:1 2>"$tmp/e"; st=$?
if [ $st = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: a dense, 1-local run: $(cat "$tmp/e")" >&2; fi
again=(--data "$tmp/d" --out "$tmp/renc" --batch 4 --hidden 4 --T 2 --qubits 2 --ano 2 --quiet --epochs 2 --resume)
"$qdm" train "${again[@]}" --encoding angle 2>"$tmp/e"; st=$?
expect "--resume with another --encoding" 2 "--encoding: the run .* was trained with 'dense', not 'angle'"
"$qdm" train "${again[@]}" --ano-layout subsets:1 2>"$tmp/e"; st=$?
expect "--resume with another --ano-layout" 2 "--ano-layout: the run .* was trained with 'sliding', not 'subsets'"
"$qdm" train "${again[@]}" 2>"$tmp/e"; st=$?
if [ $st = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: resume with the same settings: $(cat "$tmp/e")" >&2; fi

# complex64 circuits: a bad name; a c64 run, recorded, that resumes in complex128 (may change)
"$qdm" train --circuit-precision c32 2>"$tmp/e"; st=$?
expect "--circuit-precision c32" 2 "--circuit-precision 'c32': expected one of c128, c64"
"$qdm" train --data "$tmp/d" --out "$tmp/rc64" "${small[@]}" --circuit-precision c64 2>"$tmp/e"; st=$?
if [ $st = 0 ] && grep -q '"circuit_precision": "c64"' "$tmp/rc64/config.json"; then pass=$((pass + 1)); else
  fail=$((fail + 1)); echo "FAIL: a c64 run, its config: $(cat "$tmp/e")" >&2; fi
"$qdm" train --data "$tmp/d" --out "$tmp/rc64" --batch 4 --hidden 4 --T 2 --qubits 2 --ano 2 --quiet --epochs 2 --resume \
  --circuit-precision c128 2>"$tmp/e"; st=$?
if [ $st = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: resume a c64 run in c128: $(cat "$tmp/e")" >&2; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
