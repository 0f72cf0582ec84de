#!/usr/bin/env bash
# cli_figures.sh -- every picture qdm writes, rendered on a tiny run: a valid
# PNG (signature, chunk CRCs, pixel bytes, read by tests/figures_check.py
# from the format itself) of the size its layout implies.
# Usage: bash tests/cli_figures.sh path/to/qdm
set -u
qdm=${1:?usage: cli_figures.sh path/to/qdm}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/qdm_cli_figures.XXXXXX)
[ -n "${QDM_KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
png() { # name file W H
  if out=$("$py" "$here/figures_check.py" "$2" "$3" "$4" 2>&1); then ok "$1: $out"; else bad "$1: $out"; fi
}

# 48 synthetic 28x28 images of two classes, in a directory named like
# Fashion-MNIST (so the pictures use its class names)
d="$tmp/fashion-synth"
mkdir -p "$d"
"$py" "$here/synth_idx.py" "$d" 48

# qdm train: one cell is 16 x 5 = 80 pixels + a 2-pixel gap; a grid is
# 2 + cols * 82 wide beside the row labels, 2 + rows * 82 high under its
# title lines and column captions (at most 11 columns: T = 10 -> t = 0..10)
if "$qdm" train --data "$d" --classes 0,1 --epochs 2 --limit 48 --batch 16 --samples 4 --threads 1 --quiet \
     --out "$tmp/run" 2>"$tmp/err"; then
  ok "tiny training run"
  png "loss.png (infidelity and MSE panels at 2x)" "$tmp/run/loss.png" 3200 1088
  png "samples.png (2 rows x 4)" "$tmp/run/samples.png" $((2 + 4 * 82))+ $((2 + 2 * 82 + 30))-$((2 + 2 * 82 + 120))
  png "forward.png (2 rows x 11 t columns)" "$tmp/run/forward.png" $((2 + 11 * 82))+ $((2 + 2 * 82 + 40))-$((2 + 2 * 82 + 140))
  png "evolution.png (2 rows x 11 t columns)" "$tmp/run/evolution.png" $((2 + 11 * 82))+ $((2 + 2 * 82 + 40))-$((2 + 2 * 82 + 140))
else
  bad "tiny training run: $(cat "$tmp/err")"
fi

# qdm sample: cells of 16 x 6 = 96 pixels
"$qdm" sample --checkpoint "$tmp/run/best.safetensors" --n 3 --out "$tmp/s.png" 2>"$tmp/err" \
  && png "qdm sample grid (2 rows x 3)" "$tmp/s.png" $((2 + 3 * 98))+ $((2 + 2 * 98 + 30))-$((2 + 2 * 98 + 120)) \
  || bad "qdm sample: $(cat "$tmp/err")"

# qdm eval --per-class-plot: grouped bars per class (Fashion-MNIST's names here)
"$qdm" sample --checkpoint "$tmp/run/best.safetensors" --n 10 --idx "$tmp/g-images" --idx-labels "$tmp/g-labels" 2>"$tmp/err" \
  && "$qdm" classifier train --data "$d" --epochs 1 --quiet --out "$tmp/c.safetensors" >/dev/null 2>>"$tmp/err" \
  && "$qdm" eval --images "$tmp/g-images" --labels "$tmp/g-labels" --reference "$d" --train none \
       --classifier "$tmp/c.safetensors" --per-class-plot "$tmp/bars.png" >/dev/null 2>>"$tmp/err" \
  && png "eval --per-class-plot" "$tmp/bars.png" 800+ 500+ || bad "eval --per-class-plot: $(cat "$tmp/err")"

# qdm plot: one 800 x 500 panel at 2x
"$qdm" plot --runs "$tmp/run" --y infidelity --log --out "$tmp/p.png" 2>"$tmp/err" \
  && png "qdm plot" "$tmp/p.png" 1600 1000 || bad "qdm plot: $(cat "$tmp/err")"

# qdm qstate train: curve.png two panels under a figure title, loss.png one panel
"$qdm" qstate train --quick --data synthetic --quiet --out "$tmp/qs" 2>"$tmp/err" >/dev/null \
  && png "qstate curve.png" "$tmp/qs/curve.png" 3200 1088 && png "qstate loss.png" "$tmp/qs/loss.png" 1600 1000 \
  || bad "qdm qstate: $(cat "$tmp/err")"
[ -e "$tmp/qs/samples.png" ] && png "qstate samples.png (3 rows x 8 of 8x8 at 8x)" "$tmp/qs/samples.png" $((2 + 8 * 66))+ \
  $((2 + 3 * 66 + 30))-$((2 + 3 * 66 + 120))

# qdm circuit pictures and qdm qngd plots
"$qdm" circuit --ansatz hea --qubits 2 --samples 50 --bloch "$tmp/b.png" --hist "$tmp/h.png" >/dev/null 2>"$tmp/err" \
  && png "circuit --bloch" "$tmp/b.png" 100+ 100+ && png "circuit --hist" "$tmp/h.png" 100+ 100+ \
  || bad "qdm circuit: $(cat "$tmp/err")"
"$qdm" qngd gradvar --ansatz hea --min-qubits 2 --max-qubits 3 --samples 10 --plot "$tmp/g.png" >/dev/null 2>"$tmp/err" \
  && png "qngd gradvar --plot" "$tmp/g.png" 1600 1000 || bad "qngd gradvar: $(cat "$tmp/err")"
"$qdm" qngd learn --ansatz hea --qubits 2 --layers 1 --steps 4 --trials 1 --plot "$tmp/l.png" >/dev/null 2>"$tmp/err" \
  && png "qngd learn --plot (2 panels in 1 column + title)" "$tmp/l.png" 1600 2088 || bad "qngd learn: $(cat "$tmp/err")"
exit $fail
