#!/usr/bin/env bash
# cli_qstate.sh -- `qdm qstate train`: help, argument errors, and the JSON
# of a tiny quick run. Usage: bash tests/cli_qstate.sh path/to/qdm
set -u
qdm=${1:?usage: cli_qstate.sh path/to/qdm}
tmp=$(mktemp -d /tmp/qdm_cli_qstate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

"$qdm" qstate train --help >"$tmp/help" 2>&1 && grep -q "usage: qdm qstate train" "$tmp/help" \
  && ok "--help" || bad "--help"
"$qdm" qstate --help >/dev/null 2>&1 && ok "qstate --help" || bad "qstate --help"

# bad arguments: exit 2 and exactly one line on stderr
for args in "--steps 0" "--target cats" "--bogus" "--train sideways" "--loss trace --train step" \
            "--qubits 4" "--ancillas x" "--ansatz nosuch"; do
  "$qdm" qstate train $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  lines=$(wc -l <"$tmp/err")
  [ "$rc" = 2 ] && [ "$lines" = 1 ] && ok "bad argument '$args' -> exit 2, one line" \
    || bad "bad argument '$args' -> exit $rc, $lines lines: $(cat "$tmp/err")"
done
"$qdm" qstate fly >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" = 2 ] && ok "unknown subcommand -> exit 2" || bad "unknown subcommand -> exit $rc"

# a tiny run: the required keys, unitary stuck at 1/d (a unitary maps I/d to I/d),
# and the files it promises
for target in digits ghz; do
  if ! "$qdm" qstate train --quick --data synthetic --target "$target" --json --quiet --out "$tmp/$target" >"$tmp/$target.json" 2>"$tmp/err"; then
    bad "quick $target run failed: $(cat "$tmp/err")"
    continue
  fi
  python3 - "$tmp/$target.json" "$target" <<'PY' && ok "quick $target --json" || bad "quick $target --json"
import json, sys
j = json.load(open(sys.argv[1]))
need = ["target", "qubits", "steps", "fidelity_start", "fidelity_unitary", "fidelity_ancilla"]
missing = [k for k in need if k not in j]
assert not missing, f"missing keys {missing}"
assert j["target"] == sys.argv[2]
d = 2 ** j["qubits"]
assert abs(j["fidelity_start"] - 1 / d) < 1e-12, j["fidelity_start"]
assert abs(j["fidelity_unitary"] - 1 / d) < 1e-12, j["fidelity_unitary"]
assert abs(j["purity_unitary"] - 1 / d) < 1e-12, j["purity_unitary"]
assert len(j["curves"]["forward_fidelity"]) == j["steps"] + 1
if sys.argv[2] == "ghz":  # 4 qubits, 3 steps: one ancilla lifts fidelity and purity above 1/d
    assert j["fidelity_ancilla"] > 2 / d and j["purity_ancilla"] > 1.5 / d, (j["fidelity_ancilla"], j["purity_ancilla"])
PY
  [ -s "$tmp/$target/curve.png" ] && ok "$target curve.png" || bad "$target curve.png missing"
done
[ -s "$tmp/digits/samples.png" ] && ok "digits samples.png" || bad "digits samples.png missing"
# without --out the pictures go to runs/qstate under the working directory (runs/ is not tracked)
mkdir -p "$tmp/cwd"
if (cd "$tmp/cwd" && "$qdm" qstate train --quick --target ghz --quiet >/dev/null 2>&1) && [ -s "$tmp/cwd/runs/qstate/curve.png" ]; then
  ok "default --out runs/qstate"
else
  bad "default --out: no runs/qstate/curve.png"
fi
grep -q "runs/qstate" "$tmp/help" && ok "--help names the default runs/qstate" || bad "--help lacks runs/qstate"
exit $fail
