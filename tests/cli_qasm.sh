#!/usr/bin/env bash
# cli_qasm.sh QDM -- OpenQASM through the real binary: `qdm circuit --qasm`
# writes a file that, given back as --ansatz FILE.qasm, is the same circuit
# as the named ansatz (same parameter count and order, so the same seeded
# expressibility numbers, the same state at given parameters and the same
# Fubini-Study metric from qdm qngd); a bound export has no inputs; bad
# files give exit 2 and one line naming the file and line.
set -u
QDM=${1:?usage: cli_qasm.sh path/to/qdm}
QDM=$(cd "$(dirname "$QDM")" && pwd)/$(basename "$QDM")
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d /tmp/qdm_cli_qasm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# the value of "key": number in a JSON file
num() { grep -o "\"$1\": *[-0-9.e+]*" "$2" | head -1 | sed 's/.*: *//'; }

if "$QDM" circuit --ansatz authors --qubits 4 --layers 2 --qasm "$tmp/a.qasm" >"$tmp/out" 2>"$tmp/err" &&
   grep -q '^OPENQASM 3.0;' "$tmp/a.qasm" && [ "$(grep -c '^input float\[64\] theta_' "$tmp/a.qasm")" -eq 32 ] &&
   grep -q "wrote $tmp/a.qasm: 4 qubits" "$tmp/out"; then ok
else bad "--qasm export: $(cat "$tmp/err")"; fi

# same seed, same parameter count and order: the same numbers to the last digit
"$QDM" circuit --ansatz authors --qubits 4 --layers 2 --samples 400 --seed 7 --json >"$tmp/named.json" 2>"$tmp/err" ||
  bad "named run: $(cat "$tmp/err")"
"$QDM" circuit --ansatz "$tmp/a.qasm" --qubits 4 --samples 400 --seed 7 --json >"$tmp/file.json" 2>"$tmp/err" ||
  bad "file run: $(cat "$tmp/err")"
for key in params expressibility entangling_capability entangling_sd; do
  a=$(num "$key" "$tmp/named.json"); b=$(num "$key" "$tmp/file.json")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then ok; else bad "$key: named $a, from the file $b"; fi
done

# the state at given parameters (the file's inputs are theta[0..31] in order)
P=$(seq -s, 1 32 | sed 's/,/.25,/g').25
"$QDM" circuit --ansatz authors --qubits 4 --layers 2 --params "$P" --state >"$tmp/s1" 2>"$tmp/err" || bad "state 1"
"$QDM" circuit --ansatz "$tmp/a.qasm" --qubits 4 --params "$P" --state >"$tmp/s2" 2>"$tmp/err" || bad "state 2"
state() { sed -n 's/.*"state": *\(\[\[.*\]\]\).*/\1/p' "$1" | tr -d '[] ' | tr ',' '\n'; }
if paste <(state "$tmp/s1") <(state "$tmp/s2") |
   awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-12) bad = 1; n++ } END { exit !(n == 32 && !bad) }'; then ok
else bad "states differ: $(head -c 300 "$tmp/s1") vs $(head -c 300 "$tmp/s2")"; fi

# bound export: no inputs, and as an ansatz it has no parameters
if "$QDM" circuit --ansatz hva --qubits 3 --layers 2 --params 0.1,0.2,0.3,0.4 --qasm "$tmp/b.qasm" >/dev/null &&
   ! grep -q '^input' "$tmp/b.qasm" && grep -q '^gate rzz' "$tmp/b.qasm" &&
   "$QDM" circuit --ansatz "$tmp/b.qasm" --qubits 3 --samples 20 --json >"$tmp/b.json" &&
   [ "$(num params "$tmp/b.json")" = 0 ]; then ok
else bad "bound export"; fi

# qdm qngd takes the file as well: the same metric
"$QDM" qngd metric --ansatz hea --qubits 2 --layers 2 --params 0.3,1,2,3,4,5,6,7 --json >"$tmp/m1" 2>"$tmp/err" &&
"$QDM" circuit --ansatz hea --qubits 2 --layers 2 --qasm "$tmp/h.qasm" >/dev/null &&
"$QDM" qngd metric --ansatz "$tmp/h.qasm" --qubits 2 --params 0.3,1,2,3,4,5,6,7 --json >"$tmp/m2" 2>"$tmp/err"
m() { sed 's/.*"metric": *//' "$1" | tr -d '[] \n' | tr ',' '\n' | head -64; }
if [ -s "$tmp/m2" ] && paste <(m "$tmp/m1") <(m "$tmp/m2") |
   awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-12) bad = 1; n++ } END { exit !(n >= 64 && !bad) }'; then ok
else bad "qngd metric from the file: $(cat "$tmp/err")"; fi

# errors: exit 2, one line on stderr naming the file and line
expect_error() {
  local want=$1; shift
  "$QDM" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$want" "$tmp/err"; then ok
  else bad "$* -> rc $rc, $lines stderr lines: $(cat "$tmp/err")"; fi
}
printf 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\nfoo q[1];\n' >"$tmp/bad.qasm"
expect_error "$tmp/bad.qasm:5: unknown gate 'foo'" circuit --ansatz "$tmp/bad.qasm" --qubits 2
expect_error "$tmp/bad.qasm:5: unknown gate 'foo'" qngd metric --ansatz "$tmp/bad.qasm" --qubits 2
printf 'OPENQASM 3.0;\nqubit[2] q;\nU(0, 0, 0) q[0]\n' >"$tmp/semi.qasm"
expect_error "$tmp/semi.qasm:3: missing ';'" circuit --ansatz "$tmp/semi.qasm" --qubits 2 --samples 10
expect_error "has 4 qubits, the circuit 3" circuit --ansatz "$tmp/a.qasm" --qubits 3
expect_error "--qasm: 'haar' is not a circuit" circuit --ansatz haar --qasm "$tmp/x.qasm"
expect_error "--qasm writes one circuit" circuit --ansatz hea,sim1 --qasm "$tmp/x.qasm"
expect_error "takes 8 parameters, got 2" circuit --ansatz hea --qubits 2 --layers 2 --params 1,2 --qasm "$tmp/x.qasm"
if [ ! -e "$tmp/x.qasm" ]; then ok; else bad "a refused export leaves no file"; fi

# qdm export: a tiny trained run (16 synthetic 28 x 28 images; T = 2 x 10 classes) written as OpenQASM
if "$QDM" export --help | grep -q 'observables.json'; then ok; else bad "export --help"; fi
mkdir -p "$tmp/data"
LC_ALL=C awk 'BEGIN { n = 16; printf "%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c", 0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28;
  for (i = 0; i < n; i++) for (p = 0; p < 784; p++) printf "%c", (p % (7 + i % 3) == 0) ? 255 : 0 }' \
  >"$tmp/data/train-images-idx3-ubyte"
LC_ALL=C awk 'BEGIN { n = 16; printf "%c%c%c%c%c%c%c%c", 0, 0, 8, 1, 0, 0, 0, n; for (i = 0; i < n; i++) printf "%c", i % 2 }' \
  >"$tmp/data/train-labels-idx1-ubyte"
if "$QDM" train --data "$tmp/data" --digits all --hidden 8 --layers 1 --ano 3 --T 2 --epochs 1 --batch 8 \
     --heldout 0 --quiet --out "$tmp/run" 2>"$tmp/err" &&
   "$QDM" export --checkpoint "$tmp/run/checkpoint.safetensors" --qasm "$tmp/q" >"$tmp/out" 2>"$tmp/err" &&
   grep -q "wrote 60 OpenQASM files (20 groups x 3 blocks)" "$tmp/out" &&
   [ "$(ls "$tmp/q"/t0[12]_label[0-9]_block[123].qasm | wc -l)" -eq 60 ] && grep -q '"re"' "$tmp/q/observables.json" &&
   grep -q '^qubit\[5\] q;' "$tmp/q/t02_label1_block2.qasm" && grep -q '^qubit\[4\] q;' "$tmp/q/t02_label1_block3.qasm"; then ok
else bad "train + export: $(cat "$tmp/err")"; fi
# an exported block reads back as a (parameter-free) ansatz
if "$QDM" circuit --ansatz "$tmp/q/t01_label0_block1.qasm" --qubits 4 --samples 10 --json >"$tmp/j" 2>"$tmp/err" &&
   [ "$(num params "$tmp/j")" = 0 ]; then ok; else bad "exported block as an ansatz: $(cat "$tmp/err")"; fi
expect_error "--checkpoint FILE is required" export --qasm "$tmp/q2"
expect_error "--qasm DIR is required" export --checkpoint "$tmp/run/checkpoint.safetensors"
printf 'not a checkpoint' >"$tmp/bad.safetensors"
"$QDM" export --checkpoint "$tmp/bad.safetensors" --qasm "$tmp/q3" >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q bad.safetensors "$tmp/err" && [ ! -e "$tmp/q3" ]; then ok
else bad "corrupt checkpoint: $(cat "$tmp/err")"; fi

# a .qasm file as the model's ansatz: h.qasm is 2 layers of hea, so one
# layer of it trains exactly as --ansatz hea --layers 2 (same gates, same
# parameter order, same seed); the checkpoint carries the text, so the
# model samples after the file is gone
(cd "$tmp" && "$QDM" train --data data --digits all --ansatz hea --layers 2 --qubits 2 --epochs 1 --quiet --out run-hea &&
 "$QDM" train --data data --digits all --ansatz h.qasm --layers 1 --qubits 2 --epochs 1 --quiet --out run-qasm) \
  >/dev/null 2>"$tmp/err"
if [ $? -eq 0 ] && [ "$(wc -l <"$tmp/run-qasm/metrics.csv")" -eq 2 ] &&
   [ "$(cut -d, -f1-4 "$tmp/run-hea/metrics.csv")" = "$(cut -d, -f1-4 "$tmp/run-qasm/metrics.csv")" ]; then ok
else bad "train --ansatz h.qasm trains as hea: $(cat "$tmp/err")"; fi
mv "$tmp/h.qasm" "$tmp/h.moved"
"$QDM" sample --checkpoint "$tmp/run-qasm/best.safetensors" --n 2 --out "$tmp/q.png" >/dev/null 2>"$tmp/err"
if [ $? -eq 0 ] && [ -s "$tmp/q.png" ]; then ok; else bad "sample without the .qasm file: $(cat "$tmp/err")"; fi
(cd "$tmp" && "$QDM" train --data data --ansatz missing.qasm --qubits 2 --epochs 1 --quiet --out run3) >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "missing.qasm" "$tmp/err" && [ ! -e "$tmp/run3" ]; then ok
else bad "train --ansatz missing.qasm: $(cat "$tmp/err")"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
