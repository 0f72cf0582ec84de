#!/usr/bin/env bash
# The library exports only qdm_ names: public ones (qdm_x) and internal
# ones shared between its files (qdm__x). Anything else could collide with
# a user's program. OpenMP's named critical sections are named qdm_ too, and
# AddressSanitizer adds an __odr_asan. twin for each global variable.
set -euo pipefail
lib=$1
bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' |
      grep -Ev '^(qdm_|\.gomp_critical_user_qdm_|__odr_asan\.qdm_)' | sort -u || true)
if [ -n "$bad" ]; then
  echo "lib_symbols: $lib exports names without the qdm_ prefix:"
  echo "$bad"
  exit 1
fi
n=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $3 ~ /^qdm_[^_]/' | wc -l)
[ "$n" -gt 100 ] || { echo "lib_symbols: only $n public qdm_ names in $lib (is it the library?)"; exit 1; }
echo "lib_symbols: ok ($n public names, all prefixed)"
