#!/usr/bin/env bash
# cli_eval.sh QDM -- checks of `qdm classifier`, `qdm eval` and `qdm experiment`
# through the real binary: --help, bad arguments (exit 2, one line on stderr),
# the --json keys, and values known by construction on a tiny synthetic IDX
# data set written here (three classes, a bright square in a different place
# per class, so a classifier must separate them).
set -u
QDM=${1:?usage: cli_eval.sh path/to/qdm}
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d /tmp/qdm_cli_eval.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
export LC_ALL=C

# ---- a synthetic data set: 60 images of 16x16, labels 0,1,2 in turn ----
mkdir -p "$tmp/d"
# bytes via escape strings built with printf -v (no subshell per byte)
be32() {
  local e
  printf -v e '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255))
  printf "$e"
}
n=60
{
  printf '\x00\x00\x08\x03'; be32 $n; be32 16; be32 16
  for ((i = 0; i < n; i++)); do
    c=$((i % 3)); oi=$((2 + 5 * c)); oj=$((3 + 4 * c)); s=""
    for ((r = 0; r < 16; r++)); do
      for ((k = 0; k < 16; k++)); do
        if ((r >= oi && r < oi + 4 && k >= oj && k < oj + 4)); then v=255; else v=$(((i * 7 + r * 13 + k * 5) % 40)); fi
        printf -v b '\\x%02x' $v
        s+=$b
      done
    done
    printf "$s"
  done
} >"$tmp/d/train-images-idx3-ubyte"
{
  printf '\x00\x00\x08\x01'; be32 $n
  for ((i = 0; i < n; i++)); do printf -v b '\\x%02x' $((i % 3)); printf "$b"; done
} >"$tmp/d/train-labels-idx1-ubyte"
if [ "$(wc -c <"$tmp/d/train-images-idx3-ubyte")" -eq $((16 + n * 256)) ]; then ok; else bad "synthetic IDX size"; fi

# ---- --help ----
for cmd in classifier eval experiment; do
  if out=$("$QDM" $cmd --help) && grep -q "^usage: qdm $cmd" <<<"$out"; then ok; else bad "$cmd --help"; fi
done
if "$QDM" experiment --help | grep -q '^  qubits '; then ok; else bad "experiment --help lists the sets"; fi

# ---- bad arguments: status 2, one line on stderr naming the problem ----
expect_usage_error() {
  local want=$1; shift
  "$QDM" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok
  else bad "$* -> rc $rc, $lines stderr lines: $(cat "$tmp/err")"; fi
}
expect_usage_error "--images FILE is required" eval --reference "$tmp/d"
expect_usage_error "--reference" eval --images "$tmp/d/train-images-idx3-ubyte"
expect_usage_error "--k" eval --images a --reference b --k 0
expect_usage_error "--reference-split" eval --images a --reference b --reference-split dev
expect_usage_error "unknown argument '--bogus'" eval --bogus
expect_usage_error "unknown action 'fit'" classifier fit
expect_usage_error "--arch" classifier train --arch rnn --data "$tmp/d"
expect_usage_error "--classifier FILE is required" classifier test --data "$tmp/d"
expect_usage_error "--seeds" experiment --seeds 0
expect_usage_error "unknown set 'nope'" experiment --sets nope --dry-run

# ---- classifier train / test ----
if "$QDM" classifier train --data "$tmp/d" --heldout 0.25 --epochs 12 --batch 8 --lr 0.005 --out "$tmp/c.safetensors" \
  --json --quiet >"$tmp/j" 2>"$tmp/err"; then
  for key in classifier arch params features train_images heldout_accuracy; do
    if grep -q "\"$key\": *" "$tmp/j"; then ok; else bad "classifier train --json lacks \"$key\""; fi
  done
  if grep -q '"train_images": *45' "$tmp/j"; then ok; else bad "45 of 60 images train with --heldout 0.25"; fi
  if awk -F': *' '/"heldout_accuracy"/ { exit !($2 + 0 >= 0.9) }' "$tmp/j"; then ok
  else bad "separable synthetic task: held-out accuracy >= 0.9: $(cat "$tmp/j")"; fi
else
  bad "classifier train failed: $(cat "$tmp/err")"
fi
if "$QDM" classifier test --classifier "$tmp/c.safetensors" --data "$tmp/d" --json >"$tmp/j" 2>"$tmp/err"; then
  if grep -q '"accuracy": *' "$tmp/j" && grep -q '"n": *60' "$tmp/j"; then ok; else bad "classifier test --json: $(cat "$tmp/j")"; fi
else
  bad "classifier test failed: $(cat "$tmp/err")"
fi
if "$QDM" classifier test --classifier "$tmp/c.safetensors" --data "$tmp/d" --digits 1 --json | grep -q '"n": *20'; then ok
else bad "--digits 1 keeps 20 images"; fi

# ---- eval: the training images against themselves ----
if "$QDM" eval --images "$tmp/d/train-images-idx3-ubyte" --reference "$tmp/d" --train "$tmp/d" \
  --classifier "$tmp/c.safetensors" --json >"$tmp/j" 2>"$tmp/err"; then
  for key in fid fid_floor classifier_score class_histogram precision recall nn_distance nn_distance_heldout; do
    if grep -q "\"$key\": *" "$tmp/j"; then ok; else bad "eval --json lacks \"$key\""; fi
  done
  # the images are the training set: each is its own nearest training image
  if grep -q '"nn_distance": *0,' "$tmp/j"; then ok; else bad "nn_distance of training images is 0"; fi
  # two disjoint real halves of 60 images
  if grep -q '"n": *30,' "$tmp/j"; then ok; else bad "sets of 30 images"; fi
else
  bad "eval failed: $(cat "$tmp/err")"
fi
if "$QDM" eval --images "$tmp/d/train-images-idx3-ubyte" --reference "$tmp/d" --train none \
  --classifier "$tmp/c.safetensors" >"$tmp/t" 2>"$tmp/err" && grep -q "^Frechet distance" "$tmp/t"; then ok
else bad "eval table output: $(cat "$tmp/err")"; fi
# --preset: the sets' runs on qdm's default recipe take the preset's classes (and data)
if "$QDM" experiment --sets skip --preset ten --dry-run >"$tmp/dr" 2>"$tmp/err" && grep -q "^base  *ten  *digits all" "$tmp/dr" &&
  grep -q "^skip-off  *ten  *digits all" "$tmp/dr"; then ok
else bad "experiment --preset ten --dry-run: $(cat "$tmp/dr" "$tmp/err")"; fi
if ! "$QDM" experiment --preset nosuch --dry-run 2>"$tmp/err" && grep -q "preset 'nosuch'" "$tmp/err"; then ok
else bad "experiment --preset nosuch: $(cat "$tmp/err")"; fi
# the per-class breakdown and its picture, when the generated images carry labels
if "$QDM" eval --images "$tmp/d/train-images-idx3-ubyte" --labels "$tmp/d/train-labels-idx1-ubyte" --reference "$tmp/d" \
  --train none --classifier "$tmp/c.safetensors" --json --per-class-plot "$tmp/bars.png" >"$tmp/j" 2>"$tmp/err" &&
  grep -q '"per_class"' "$tmp/j" && [ "$(head -c 8 "$tmp/bars.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then ok
else bad "eval --per-class-plot: $(cat "$tmp/err")"; fi
mkdir -p "$tmp/nolab" && cp "$tmp/d/train-images-idx3-ubyte" "$tmp/nolab/gen-images"
if ! "$QDM" eval --images "$tmp/nolab/gen-images" --reference "$tmp/d" --train none \
  --classifier "$tmp/c.safetensors" --per-class-plot "$tmp/b2.png" >/dev/null 2>"$tmp/err" && grep -q "need labels" "$tmp/err"; then ok
else bad "--per-class-plot without labels: $(cat "$tmp/err")"; fi
# a missing classifier file that is not a classifier
printf 'not a classifier' >"$tmp/x.safetensors"
if ! "$QDM" eval --images "$tmp/d/train-images-idx3-ubyte" --reference "$tmp/d" --classifier "$tmp/x.safetensors" 2>"$tmp/err" >/dev/null \
  && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then ok; else bad "a bad classifier file gives one error line"; fi

# ---- experiment --dry-run: the runs of a set, the quick configuration ----
if "$QDM" experiment --quick --sets skip,qubits --dry-run --out "$tmp/e" >"$tmp/o" 2>"$tmp/err"; then
  if [ "$(wc -l <"$tmp/o")" -eq 4 ] && grep -q '^base ' "$tmp/o" && grep -q '^skip-off ' "$tmp/o" && grep -q '^qubits-8 ' "$tmp/o" \
    && grep -q 'epochs   3' "$tmp/o"; then ok
  else bad "dry run lists base, skip-off, qubits-6, qubits-8 once each: $(cat "$tmp/o")"; fi
else
  bad "experiment --dry-run failed: $(cat "$tmp/err")"
fi

# ---- experiment --sets length: base stopped at 1/6, 1/3, 2/3 of its epochs ----
# (the epochs read back from each run's own config.json; length.png drawn)
if "$QDM" experiment --sets length --epochs 6 --limit 12 --n-eval 10 --data "$tmp/d" --classifier "$tmp/c.safetensors" \
  --threads 1 --quiet --out "$tmp/len" 2>"$tmp/err"; then
  got=""
  for r in len-1of6 len-1of3 len-2of3 base; do
    got+="$(sed -n 's/^  "epochs": \([0-9]*\),*$/\1/p' "$tmp/len/runs/$r-s1/config.json") "
  done
  if [ "$got" = "1 2 4 6 " ]; then ok; else bad "length set: epochs $got, expected 1 2 4 6"; fi
  if [ "$(head -c 8 "$tmp/len/length.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] &&
    grep -q '^## length' "$tmp/len/results.md"; then ok
  else bad "length set: no length.png or no table"; fi
else
  bad "experiment --sets length: $(cat "$tmp/err")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
