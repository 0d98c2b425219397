#!/usr/bin/env bash
# .ci/consumer.sh — build tests/consumer against this tree the three ways a
# user would, and run each build:
#   1. find_package(twill) from a prefix made by `cmake --install`
#      (twill::twill, the shared library, then twill::twill_static);
#   2. pkg-config against the same prefix, with a plain compiler command,
#      shared and static (--static);
#   3. add_subdirectory() of this source tree.
# Environment: CONSUMER_DIR (default build-consumer; emptied first).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/deps.sh
twill_need build-essential cmake pkg-config libhwloc-dev libudev-dev

root=$PWD
work=${CONSUMER_DIR:-build-consumer}
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix
jobs=$(nproc)

echo "--- build twill and install it into $prefix"
cmake -S . -B "$work/twill" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTWILL_BUILD_TESTS=OFF \
      -DTWILL_BUILD_BENCH=OFF -DTWILL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/twill" -j"$jobs"
cmake --install "$work/twill" --prefix "$prefix" >/dev/null

consume() { # consume NAME CMAKE_ARGS...: configure, build and run the consumer
    local name=$1
    shift
    cmake -S tests/consumer -B "$work/$name" "$@" >/dev/null
    cmake --build "$work/$name" -j"$jobs"
    "$work/$name/consumer"
}

echo "=== consumer 1/3: find_package(twill) from the install prefix"
consume package -DCMAKE_PREFIX_PATH="$prefix"
consume package-static -DCMAKE_PREFIX_PATH="$prefix" -DTWILL_TARGET=twill::twill_static

echo "=== consumer 2/3: pkg-config"
pc=$(find "$prefix" -name twill.pc)
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
if [[ $(pkg-config --static --libs twill) != *-lhwloc* ]]; then
    echo "twill.pc: hwloc missing from the static link line" >&2
    exit 1
fi
mkdir -p "$work/pkgconfig"
# shellcheck disable=SC2046
# -O1 and -O2 here (the CMake builds use none): the inline functions in
# twill.h must stay free of warnings whatever the optimiser sees.
cc -std=c11 -O1 -Wall -Wextra -Wpedantic -Werror tests/consumer/main.c -o "$work/pkgconfig/consumer" \
   $(pkg-config --cflags --libs twill)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir twill) "$work/pkgconfig/consumer"
# The static link line brings hwloc's own static dependencies (-ludev on
# Debian 12: libudev-dev), which CI installs; README "Things to know".
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror tests/consumer/main.c -o "$work/pkgconfig/consumer-static" \
   $(pkg-config --cflags twill) "$(pkg-config --variable=libdir twill)/libtwill.a" \
   $(pkg-config --static --libs twill | sed 's/-ltwill\b//')
"$work/pkgconfig/consumer-static"

echo "=== consumer 3/3: add_subdirectory of the source tree"
consume subdirectory -DTWILL_CONSUME=subdirectory -DTWILL_SOURCE_DIR="$root"

echo "=== consumer: all three ways built and ran"
