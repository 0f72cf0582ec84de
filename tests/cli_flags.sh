#!/usr/bin/env bash
# cli_flags.sh -- the flags every computing command shares: --threads N
# (0 = every core; a bad value is one line naming --threads, exit 2) and
# --json (one JSON document on stdout, parsed here), and --classes with its
# older name --digits. Usage: bash tests/cli_flags.sh path/to/qdm
set -u
qdm=${1:?usage: cli_flags.sh path/to/qdm}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/qdm_cli_flags.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
json() { # what, command...: runs it, stdout must parse as JSON
  local what=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err" && "$py" -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" 2>>"$tmp/err"; then
    ok "$what: --threads 1 --json parses"
  else bad "$what: $(head -c 300 "$tmp/err")"; fi
}
d="$tmp/d"
mkdir -p "$d"
"$py" "$here/synth_idx.py" "$d" 40 train t10k

json "train" "$qdm" train --data "$d" --classes 0,1 --epochs 1 --limit 32 --batch 16 --samples 2 --quiet --out "$tmp/run" --threads 1 --json
json "sample" "$qdm" sample --checkpoint "$tmp/run/best.safetensors" --n 2 --idx "$tmp/g-images-idx3-ubyte" --threads 1 --json
json "classifier train" "$qdm" classifier train --data "$d" --epochs 1 --quiet --out "$tmp/c.safetensors" --threads 1 --json
json "classifier test" "$qdm" classifier test --classifier "$tmp/c.safetensors" --data "$d" --classes 0,1 --threads 1 --json
json "eval (images)" "$qdm" eval --images "$tmp/g-images-idx3-ubyte" --reference "$d" --train none --classes 0,1 \
  --classifier "$tmp/c.safetensors" --threads 1 --json
json "eval (bound)" "$qdm" eval --checkpoint "$tmp/run/best.safetensors" --data "$d" --n 8 --threads 1 --json
json "plot" "$qdm" plot --runs "$tmp/run" --y infidelity --threads 1 --json
json "qngd metric" "$qdm" qngd metric --ansatz hea --qubits 2 --threads 1 --json
json "qngd gradvar" "$qdm" qngd gradvar --ansatz hea --min-qubits 2 --max-qubits 2 --samples 4 --threads 1 --json
json "qstate train" "$qdm" qstate train --quick --data synthetic --quiet --no-png --threads 1 --json
json "circuit" "$qdm" circuit --ansatz hea --qubits 2 --samples 20 --threads 1 --json
"$qdm" plot --runs "$tmp/run" --y infidelity --json | "$py" -c 'import json,sys; j=json.load(sys.stdin); assert j["runs"][0]["x"] == [1], j' \
  && ok "plot --json holds the metrics.csv column" || bad "plot --json content"

# the same bad value is the same one-line error everywhere
for cmd in "train" "sample" "classifier train" "classifier test" "eval" "plot" "qngd metric" "qstate train" "circuit" "experiment"; do
  "$qdm" $cmd --threads many >/dev/null 2>"$tmp/err"; rc=$?
  [ "$rc" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- --threads "$tmp/err" && ok "$cmd --threads many -> exit 2 naming it" \
    || bad "$cmd --threads many -> exit $rc: $(cat "$tmp/err")"
done
# --digits is --classes: the same run settings, and never both
"$qdm" classifier test --classifier "$tmp/c.safetensors" --data "$d" --digits 1 --json >"$tmp/a1" 2>&1
"$qdm" classifier test --classifier "$tmp/c.safetensors" --data "$d" --classes 1 --json >"$tmp/a2" 2>&1
cmp -s "$tmp/a1" "$tmp/a2" && grep -q '"n": 20' "$tmp/a1" && ok "--digits 1 = --classes 1 (20 images)" || bad "--digits vs --classes: $(cat "$tmp/a1" "$tmp/a2")"
"$qdm" train --classes 0,1 --digits 0,1 --out "$tmp/x" 2>"$tmp/err"; rc=$?
[ "$rc" = 2 ] && grep -q -- "--classes and --digits" "$tmp/err" && ok "--classes with --digits refused" || bad "both: exit $rc"
for cmd in "train" "eval" "classifier test"; do
  "$qdm" $cmd --help | grep -q -- "--digits" && "$qdm" $cmd --help | grep -q -- "--classes" \
    && ok "$cmd --help names --classes and its alias --digits" || bad "$cmd --help: --classes/--digits"
done
exit $fail
