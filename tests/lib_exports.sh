#!/usr/bin/env bash
# lib_exports.sh -- libqdm.so exports the public API and nothing else: every
# defined dynamic symbol is qdm_ followed by a letter (no qdm__ internals, no
# unprefixed helpers), and the entry points the Python package binds exist.
# usage: lib_exports.sh path/to/libqdm.so
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}')
bad=$(grep -v '^qdm_[a-z]' <<<"$syms" || true)
if [ -n "$bad" ]; then echo "FAIL: $lib exports non-public names:"; echo "$bad"; exit 1; fi
for f in qdm_version qdm_errmsg qdm_run qdm_run_adjoint qdm_run_groups qdm_run_groups_adjoint qdm_ano_forward; do
  grep -qx "$f" <<<"$syms" || { echo "FAIL: $lib does not export $f"; exit 1; }
done
echo "$(wc -l <<<"$syms") public symbols, nothing else"
