#!/usr/bin/env bash
# cli_blas.sh -- OpenBLAS's kernels. Before 0.3.25 OpenBLAS takes a CPU it
# does not know (Sapphire Rapids under Debian 12's 0.3.21) for a "Prescott"
# and runs its generic kernels; qdm then starts again with the kernels the
# CPU supports (src/core/blas.c). What OpenBLAS picks unaided is read here
# by loading it directly, without qdm; the kernels the CPU supports are read
# from /proc/cpuinfo. A user's own OPENBLAS_CORETYPE is never overridden.
# Usage: bash tests/cli_blas.sh path/to/qdm
set -u
qdm=${1:?usage: cli_blas.sh path/to/qdm}
py=/usr/bin/python3
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do case "$flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
raw=$(env -u OPENBLAS_CORETYPE "$py" -c 'import ctypes
l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p
print(l.openblas_get_corename().decode())')
want=$raw
if [ "$raw" = Prescott ]; then
  if has avx512f avx512cd avx512bw avx512dq avx512vl; then want=SkylakeX
  elif has avx2 fma; then want=Haswell; fi
fi
echo "OpenBLAS unaided: $raw; expected from qdm: $want"

out=$(env -u OPENBLAS_CORETYPE "$qdm" --version)
core=$(printf '%s\n' "$out" | sed -n 's/^BLAS: OpenBLAS .* USE_OPENMP \([A-Za-z0-9]*\) .*/\1/p')
if [ "$core" = "$want" ]; then ok "qdm runs on the $want kernels (${out//$'\n'/; })"
else bad "qdm runs on '$core' kernels, expected $want: $out"; fi
if [ "$want" != "$raw" ]; then
  printf '%s\n' "$out" | grep -qx "OPENBLAS_CORETYPE=$want" && ok "--version names the variable it set" ||
    bad "--version does not name OPENBLAS_CORETYPE=$want: $out"
else
  printf '%s\n' "$out" | grep -q OPENBLAS_CORETYPE && bad "qdm set OPENBLAS_CORETYPE on a CPU OpenBLAS knows: $out" ||
    ok "no OPENBLAS_CORETYPE where OpenBLAS knows the CPU"
fi

# The user's choice stays, and the command still runs (no restart loop).
out=$(OPENBLAS_CORETYPE=Prescott "$qdm" --version)
printf '%s\n' "$out" | grep -q ' USE_OPENMP Prescott ' && ok "a user's OPENBLAS_CORETYPE=Prescott is kept" ||
  bad "OPENBLAS_CORETYPE=Prescott not kept: $out"
# Arguments survive the restart: a bad flag is still reported by name.
err=$(env -u OPENBLAS_CORETYPE "$qdm" bench train --threads x 2>&1 >/dev/null)
case "$err" in *--threads*) ok "arguments reach the restarted command" ;; *) bad "bad --threads after restart: $err" ;; esac
exit $fail
