#!/usr/bin/env bash
# `cmake --install` into a scratch prefix, then a program outside the tree
# compiled and linked only through the installed pkg-config file.
set -euo pipefail
build=$1 src=$2
prefix=$build/install-test
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(dirname "$(find "$prefix" -name qdm.pc | head -n 1)")
export PKG_CONFIG_PATH=$pc
cc -o "$prefix/hello" "$src" $(pkg-config --cflags --libs qdm)
"$prefix/hello"
