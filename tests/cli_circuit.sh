#!/usr/bin/env bash
# cli_circuit.sh QDM -- checks of `qdm circuit` through the real binary:
# --help, bad arguments (exit 2 with one line on stderr), the --json keys,
# the state printed by --params/--state against a hand-computed state, and
# the PNG files of --bloch/--hist.
set -u
QDM=${1:?usage: cli_circuit.sh path/to/qdm}
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d /tmp/qdm_cli_circuit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --help: exit 0, usage on stdout
if out=$("$QDM" circuit --help) && grep -q '^usage: qdm circuit' <<<"$out"; then ok; else bad "--help"; fi
if "$QDM" circuit --list | grep -q '^sim19 '; then ok; else bad "--list names sim19"; fi

# bad arguments: exit status 2 and exactly one line on stderr naming the problem
expect_usage_error() {
  local want=$1; shift
  "$QDM" circuit "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok
  else bad "circuit $* -> rc $rc, $lines stderr lines: $(cat "$tmp/err")"; fi
}
expect_usage_error "--qubits" --qubits 0
expect_usage_error "--qubits" --qubits four
expect_usage_error "unknown name 'nope'" --ansatz nope
# one bin: every circuit would get KL 0, "perfectly expressive"
expect_usage_error "KL is 0 for every circuit" --ansatz hea --qubits 2 --layers 1 --samples 10 --bins 1
expect_usage_error "unknown argument '--bogus'" --bogus
expect_usage_error "--init" --init ry-pi3
expect_usage_error "power of two" --ansatz mera --qubits 3
expect_usage_error "--samples" --samples -5
expect_usage_error "--sweep-layers" --sweep-layers 3..1
expect_usage_error "takes 2 parameters, got 3" --ansatz hea --qubits 1 --params 1,2,3 --state
expect_usage_error "not a number" --ansatz hea --qubits 1 --params 1,x --state
expect_usage_error "--state needs --params" --state

# --json: one object with the documented keys
if "$QDM" circuit --ansatz sim2 --qubits 3 --layers 2 --samples 300 --json >"$tmp/j" 2>"$tmp/err"; then
  for key in ansatz qubits layers params samples bins expressibility entangling_capability haar_mw seconds; do
    if grep -q "\"$key\": *" "$tmp/j"; then ok; else bad "--json lacks \"$key\""; fi
  done
  if grep -q '"params": *12' "$tmp/j" && grep -q '"haar_mw": *0.66666666666666' "$tmp/j"; then ok
  else bad "--json values: sim2 on 3 qubits x 2 layers has 12 parameters, Haar MW 6/9"; fi
else
  bad "--json run failed: $(cat "$tmp/err")"
fi
# several rows give a JSON array
if "$QDM" circuit --ansatz haar,sim1 --qubits 2 --sweep-layers 1..2 --samples 100 --json | head -c 1 | grep -q '\['; then ok
else bad "sweep --json is an array"; fi

# --params/--state: hea on one qubit is RY(a) then RZ(b):
# (e^{-ib/2} cos(a/2), e^{ib/2} sin(a/2)); a = 1, b = 0.5
if "$QDM" circuit --ansatz hea --qubits 1 --params 1,0.5 --state >"$tmp/s" 2>"$tmp/err"; then
  if awk 'BEGIN { RS = "\"state\": *\\[" } NR == 2 {
        gsub(/[][ \n]/, ""); split($0, v, ",");
        c = cos(0.5); s = sin(0.5); e = 1e-12;
        w[1] = cos(0.25) * c; w[2] = -sin(0.25) * c; w[3] = cos(0.25) * s; w[4] = sin(0.25) * s;
        for (i = 1; i <= 4; i++) if (v[i] - w[i] > e || w[i] - v[i] > e) bad = 1;
        found = 1 }
      END { exit !(found && !bad) }' "$tmp/s"; then ok
  else bad "--state values: $(cat "$tmp/s")"; fi
  if grep -q '"params": *\[1,0.5\]' "$tmp/s"; then ok; else bad "--state echoes params: $(cat "$tmp/s")"; fi
else
  bad "--params/--state failed: $(cat "$tmp/err")"
fi
# parameters from a file
printf '[1.0, 0.5]\n' >"$tmp/p.txt"
if "$QDM" circuit --ansatz hea --qubits 1 --params "$tmp/p.txt" --state | grep -q '"state"'; then ok; else bad "--params FILE"; fi

# pictures
if "$QDM" circuit --ansatz authors --layers 1 --samples 200 --bloch "$tmp/b.png" --hist "$tmp/h.png" >/dev/null 2>"$tmp/err" &&
   [ "$(head -c 4 "$tmp/b.png" | od -An -c | tr -d ' ')" = "211PNG" ] &&
   [ "$(head -c 4 "$tmp/h.png" | od -An -c | tr -d ' ')" = "211PNG" ]; then ok
else bad "--bloch/--hist PNGs: $(cat "$tmp/err")"; fi
# several rows: one picture per row, named after it
if "$QDM" circuit --ansatz sim1,sim2 --samples 50 --hist "$tmp/h.png" >/dev/null &&
   [ -s "$tmp/h-sim1-L1.png" ] && [ -s "$tmp/h-sim2-L1.png" ]; then ok
else bad "per-row picture names"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
