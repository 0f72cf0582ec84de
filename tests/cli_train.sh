#!/usr/bin/env bash
# cli_train.sh QDM -- the train/sample/bench command lines: help, one-line
# errors with exit status 2 for bad usage and 1 for bad data, nothing left behind.
set -u
qdm=$1
pass=0 fail=0
ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$qdm" train --help >"$tmp/h" 2>&1; ok "train --help exits 0" "[ $? = 0 ]"
ok "train --help lists presets" "grep -q authors $tmp/h && grep -q -- --resume $tmp/h"
"$qdm" train --epochs zero 2>"$tmp/e"; st=$?
ok "bad --epochs exits 2" "[ $st = 2 ]"
ok "bad --epochs: one line naming the option" "[ \$(wc -l <$tmp/e) = 1 ] && grep -q -- --epochs $tmp/e"
"$qdm" train --no-such-flag 2>"$tmp/e"; st=$?
ok "unknown flag exits 2" "[ $st = 2 ] && grep -q no-such-flag $tmp/e"
"$qdm" train --preset nope 2>"$tmp/e"; st=$?
ok "unknown preset exits 2" "[ $st = 2 ] && grep -q nope $tmp/e"
"$qdm" train --data "$tmp/none" --out "$tmp/run" --quiet 2>"$tmp/e"; st=$?
ok "missing data exits 1 with one line" "[ $st = 1 ] && [ \$(wc -l <$tmp/e) = 1 ] && grep -q $tmp/none $tmp/e"
ok "... and leaves no run directory behind" "[ ! -e $tmp/run ]"
"$qdm" sample --out "$tmp/x.png" 2>"$tmp/e"; st=$?
ok "sample without checkpoint exits 2" "[ $st = 2 ] && grep -q -- --checkpoint $tmp/e"
printf 'not a checkpoint' >"$tmp/bad.safetensors"
"$qdm" sample --checkpoint "$tmp/bad.safetensors" --out "$tmp/x.png" 2>"$tmp/e"; st=$?
ok "corrupt checkpoint exits 1 naming the file" "[ $st = 1 ] && grep -q bad.safetensors $tmp/e"
ok "no PNG written on failure" "[ ! -e $tmp/x.png ]"
mkdir -p "$tmp/r1"; printf 'epoch,loss,infidelity,lr,seconds\n1,0.5,0.4,0.001,1.0\n2,0.25,0.2,0.001,2.0\n' >"$tmp/r1/metrics.csv"
"$qdm" plot --runs "$tmp/r1" --y infidelity --log --out "$tmp/p.png"; ok "plot draws a metrics.csv" "[ $? = 0 ] && [ -s $tmp/p.png ]"
"$qdm" plot --runs "$tmp/r1" --y nosuch --out "$tmp/p2.png" 2>"$tmp/e"; st=$?
ok "plot names a missing column" "[ $st = 1 ] && grep -q nosuch $tmp/e && [ ! -e $tmp/p2.png ]"
"$qdm" train --sampler ddpm --sample-steps 3 --out "$tmp/r2" 2>"$tmp/e"; st=$?
ok "sample steps without ddim refused before any work" "[ $st = 1 ] && grep -q 'only the ddim' $tmp/e && [ ! -e $tmp/r2 ]"
"$qdm" train --sampler nosuch 2>"$tmp/e"; st=$?
ok "unknown sampler named with the choices" "[ $st = 2 ] && grep -q \"'nosuch': expected one of mean, ddpm, ddim, sde, ode\" $tmp/e"
"$qdm" bench --help >/dev/null; ok "bench --help" "[ $? = 0 ]"
"$qdm" bench nosuch 2>/dev/null; ok "unknown bench exits 2" "[ $? = 2 ]"
"$qdm" train --precision f16 2>"$tmp/e"; st=$?
ok "unknown precision named with the choices" "[ $st = 2 ] && grep -q \"'f16': expected one of f64, f32\" $tmp/e"
"$qdm" bench train --threads 0 2>"$tmp/e"; st=$?
ok "bench train --threads 0 exits 2 naming the option" "[ $st = 2 ] && grep -q -- --threads $tmp/e"
"$qdm" bench train --precision f16 2>"$tmp/e"; st=$?
ok "bench train --precision f16 exits 2" "[ $st = 2 ] && grep -q f16 $tmp/e"
"$qdm" bench train --batch 2 --steps 2 --threads 1 --precision f64,f32 --data "$tmp/none" --json >"$tmp/b.json"; st=$?
ok "bench train --json runs (random images without data)" "[ $st = 0 ]"
ok "bench train --json: a run per precision with rows/s, ceiling and split" \
  "grep -q '\"precision\": \"f64\"' $tmp/b.json && grep -q '\"precision\": \"f32\"' $tmp/b.json && \
   grep -q ceiling_rows_per_s $tmp/b.json && grep -q other_s $tmp/b.json && grep -q '\"mnist\": 0' $tmp/b.json"
"$qdm" bench train --batch 2 --steps 1 --threads 1,2 --precision f32 --data "$tmp/none" --json >"$tmp/rt.json"; st=$?
ok "bench train --json: no round trip at 1 thread, a positive one under 1 ms at 2" \
  "[ $st = 0 ] && /usr/bin/python3 -c \"import json,sys; r=json.load(open('$tmp/rt.json'))['runs']; \
   sys.exit(not (r[0]['core_round_trip_ns'] == 0 and 0 < r[1]['core_round_trip_ns'] < 1e6))\""
OPENBLAS_CORETYPE=Prescott "$qdm" bench train --batch 2 --steps 1 --threads 1 --precision f32 --data "$tmp/none" \
  --json >"$tmp/k.json" 2>/dev/null; st=$?
ok "bench train --json names the kernels OPENBLAS_CORETYPE forced (the generic Prescott ones, safe on any x86-64)" \
  "[ $st = 0 ] && grep -q '\"blas_core\": \"Prescott\"' $tmp/k.json && \
   grep -q '\"openblas_coretype\": \"Prescott\"' $tmp/k.json"
"$qdm" bench train --batch 2 --steps 1 --threads 1 --precision f32 --circuit-precision c128,c64 --data "$tmp/none" \
  --json >"$tmp/c.json"; st=$?
ok "bench train --circuit-precision c128,c64: a run of each" \
  "[ $st = 0 ] && grep -q '\"circuit_precision\": \"c64\"' $tmp/c.json && grep -q '\"circuit_precision\": \"c128\"' $tmp/c.json"
"$qdm" bench train --qubits 2,3,4,5,6,7,8,9 --threads 1,2,3,4,5,6,7,8 --precision f64,f32 --circuit-precision c128,c64 \
  2>"$tmp/e"; st=$?
ok "bench train: more lines than a bench holds exits 2 before any run" "[ $st = 2 ] && grep -q '256 lines, at most 128' $tmp/e"
# the ten-class presets: fashion reads Debian's Fashion-MNIST (when installed) with all ten
# classes, and sampling then gives one row per class; --clip off overrides the preset's
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$qdm" train --preset fashion --limit 60 --epochs 1 --batch 10 --hidden 16 --layers 1 --ano 4 --threads 1 --quiet \
    --out "$tmp/fash" 2>"$tmp/e"; st=$?
  ok "train --preset fashion runs: $(head -c 300 $tmp/e)" "[ $st = 0 ]"
  ok "fashion preset: config names the data, all ten classes, clipping and EMA" \
    "grep -q '\"data\": \"fashion\"' $tmp/fash/config.json && grep -q '\"digits\": \"all\"' $tmp/fash/config.json && \
     grep -q '\"clip\": 1' $tmp/fash/config.json && grep -q '\"ema\": 0.999' $tmp/fash/config.json"
  "$qdm" sample --checkpoint "$tmp/fash/best.safetensors" --n 2 --labels all --idx "$tmp/fs-images" --idx-labels "$tmp/fs-labels" \
    --clip off 2>"$tmp/e"; st=$?
  ok "sample --labels all from the fashion model: 2 images of each of its 10 classes" \
    "[ $st = 0 ] && [ \$(od -An -j4 -N4 -tu1 $tmp/fs-labels | awk '{print \$4}') = 20 ]"
fi
"$qdm" bench train --plot "$tmp/split.svg" 2>"$tmp/e"; st=$?
ok "bench train --plot FILE.svg exits 2 naming the option, before any run" "[ $st = 2 ] && grep -q -- --plot $tmp/e"
"$qdm" bench train --batch 2 --steps 1 --threads 1 --precision f64,f32 --data "$tmp/none" --plot "$tmp/split.png" \
  >/dev/null 2>"$tmp/e"; st=$?
ok "bench train --plot writes a PNG of the split" \
  "[ $st = 0 ] && [ \"\$(head -c 8 $tmp/split.png | od -An -tx1 | tr -d ' ')\" = 89504e470d0a1a0a ]"
"$qdm" bench train --qubits 11 2>"$tmp/e"; st=$?
ok "bench train --qubits 11 exits 2 naming the option" "[ $st = 2 ] && grep -q -- --qubits $tmp/e"
"$qdm" bench train --batch 2 --steps 1 --threads 1 --precision f64 --qubits 2,3 --data "$tmp/none" --json >"$tmp/q.json"; st=$?
ok "bench train --qubits 2,3: a run per size, with the ANO's rate beside zgemm's" \
  "[ $st = 0 ] && grep -q '\"qubits\": 2' $tmp/q.json && grep -q '\"qubits\": 3' $tmp/q.json && grep -q ano_zgemm_gflops $tmp/q.json"
ok "bench train --json: the circuits' GFLOP/s (non-zero: the pair path ran) and their GEMM yardstick" \
  "[ \$(grep -Ec '\"circuit_(gemm_)?gflops\": [0-9.]*[1-9]' $tmp/q.json) = 4 ]"
"$qdm" nosuch 2>/dev/null; ok "unknown command exits 2" "[ $? = 2 ]"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
