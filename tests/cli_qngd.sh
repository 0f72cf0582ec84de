#!/usr/bin/env bash
# cli_qngd.sh QDM -- checks of `qdm qngd` through the real binary: --help,
# bad arguments (exit 2 with one line on stderr), the metric printed by
# `metric --json` against hand-derived values, the gradvar JSON keys and a
# hand-computed variance, and the PNG files of --plot.
set -u
QDM=${1:?usage: cli_qngd.sh path/to/qdm}
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d /tmp/qdm_cli_qngd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if out=$("$QDM" qngd --help) && grep -q '^usage: qdm qngd' <<<"$out"; then ok; else bad "--help"; fi
if "$QDM" --help | grep -q '^  qngd '; then ok; else bad "qdm --help lists qngd"; fi

# bad arguments: exit status 2, exactly one line on stderr naming the problem, nothing on stdout
expect_usage_error() {
  local want=$1; shift
  "$QDM" qngd "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok
  else bad "qngd $* -> rc $rc, $lines stderr lines: $(cat "$tmp/err")"; fi
}
expect_usage_error "unknown action 'nope'" nope
expect_usage_error "unknown argument '--bogus'" metric --bogus
expect_usage_error "unknown name 'xyz'" metric --ansatz xyz
expect_usage_error "--qubits" metric --qubits 0
expect_usage_error "takes 2 parameters, got 3" metric --ansatz hea --qubits 1 --params 1,2,3
expect_usage_error "not a number" metric --ansatz hea --qubits 1 --params 1,x
expect_usage_error "--kind 'triangle': expected one of full, block, diag" metric --kind triangle
expect_usage_error "--cost 'nope': expected one of zz, global, local" gradvar --cost nope
expect_usage_error "--max-qubits 3 < --min-qubits 4" gradvar --min-qubits 4 --max-qubits 3
expect_usage_error "--layers" gradvar --layers m
expect_usage_error "--lr-qngd" learn --lr-qngd 0.1,abc
expect_usage_error "--qubits expects integers" learn --qubits 2.5

# metric: hea on one qubit is RY(a) then RZ(b): g = diag(1/4, sin^2(a)/4); a = 1, b = 0.5
if "$QDM" qngd metric --ansatz hea --qubits 1 --params 1,0.5 --json >"$tmp/m" 2>"$tmp/err"; then
  if grep -q '"params": *\[1, *0.5\]' "$tmp/m"; then ok; else bad "metric --json params: $(cat "$tmp/m")"; fi
  if awk 'BEGIN { RS = "\"metric\": *\\[" } NR == 2 {
        gsub(/[][ \n]/, ""); split($0, v, ",");
        w[1] = 0.25; w[2] = 0; w[3] = 0; w[4] = sin(1) * sin(1) / 4;
        for (i = 1; i <= 4; i++) if ((v[i] - w[i]) ^ 2 > 1e-24) exit 1;
        found = 1 } END { exit !found }' "$tmp/m"; then ok
  else bad "metric values: $(cat "$tmp/m")"; fi
else
  bad "metric --json failed: $(cat "$tmp/err")"
fi
# block and diag kinds run and print a P x P matrix (hea, 2 qubits, 2 layers: 8 x 8)
for k in block diag; do
  if [ "$("$QDM" qngd metric --ansatz hea --qubits 2 --layers 2 --kind $k | grep -vc '^#')" -eq 8 ]; then ok
  else bad "metric --kind $k prints 8 rows"; fi
done

# gradvar: hea, 2 qubits, 1 layer, zz cost: Var = (0, 1/2, 0, 0), mean 1/8
if "$QDM" qngd gradvar --ansatz hea --max-qubits 2 --layers 1 --samples 4000 --json --plot "$tmp/gv.png" \
    >"$tmp/g" 2>"$tmp/err"; then
  for key in cost samples layers results ansatz qubits params var_mean var_first seconds; do
    if grep -q "\"$key\": *" "$tmp/g"; then ok; else bad "gradvar --json lacks \"$key\""; fi
  done
  if awk 'BEGIN { RS = "\"var_mean\": *\\[" } NR == 2 { split($0, v, "]"); x = v[1] + 0;
        found = (x > 0.115 && x < 0.135) } END { exit !found }' "$tmp/g"; then ok
  else bad "gradvar hea n=2 L=1: mean variance should be 1/8: $(cat "$tmp/g")"; fi
  if [ "$(head -c 8 "$tmp/gv.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then ok
  else bad "gradvar --plot writes a PNG"; fi
else
  bad "gradvar failed: $(cat "$tmp/err")"
fi

# learn: a tiny run prints the three optimizers and writes the plot
if "$QDM" qngd learn --ansatz hea --qubits 2 --layers 1 --steps 5 --trials 1 --plot "$tmp/l.png" \
    >"$tmp/l" 2>"$tmp/err"; then
  for o in adam qngd qngd+adam; do
    if grep -q "^$o " "$tmp/l"; then ok; else bad "learn prints a summary line for $o"; fi
  done
  if [ "$(head -c 8 "$tmp/l.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then ok
  else bad "learn --plot writes a PNG"; fi
else
  bad "learn failed: $(cat "$tmp/err")"
fi
if "$QDM" qngd learn --ansatz hea --qubits 2 --layers 1 --steps 3 --trials 1 --json | grep -q '"steps_to_tol"'; then ok
else bad "learn --json has steps_to_tol"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
